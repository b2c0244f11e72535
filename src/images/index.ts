// Public entry of the image model: references, media types, manifests/indexes/configs and their
// validation, image and chain IDs, platforms, resolution, and the image metadata store.

export * from "./reference.js";
export * from "./mediatypes.js";
export type * from "./types.js";
export * from "./validate.js";
export * from "./ids.js";
export * from "./platforms.js";
export * from "./resolve.js";
export * from "./store.js";
export {
  ImageService,
  parseUntil,
  LABEL_DIFF_ID,
  LABEL_SIZE,
  LABEL_IMAGE,
  type InUseFn,
  type LoadOptions,
  type LoadProgress,
  type ImageServiceOptions,
} from "./service.js";
export { translatePullError, PULL_CONCURRENCY, type PullOptions, type PullProgress, type PullResult, type DistributionInspect } from "./pull.js";
export { translatePushError, PUSH_CONCURRENCY, type PushOptions, type PushProgress, type PushResult } from "./push.js";
export * as archive from "./archive/index.js";

// Public entry of the builder: typed build steps (the Dockerfile parser's output) run into an
// image on the container and image services, with the build cache and a typed progress stream.

export { Builder, formatEvent, nonZeroError, type BuildEvent, type BuildOptions } from "./executor.js";
export { BuildCache } from "./cache.js";
export { CacheMounts, type CacheMountRecord } from "./cache-mounts.js";
export { BuildJournal, removeBuildLeftovers } from "./leftovers.js";
export { fromText, stepText, type Command, type Stage, type StageBase, type Step } from "./steps.js";
export type * from "./steps.js";
export { dockerfileToSteps, unusedArgsWarning, type Plan, type ToStepsOptions } from "./dockerfile-to-steps.js";

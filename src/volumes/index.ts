// Public entry of the volume service: named and anonymous volumes with Docker's local driver,
// their references and mounts, and copy-up of an image's content into a new volume.

export { VolumeService, volumeUsage, type VolumeServiceOptions } from "./service.js";
export { validateVolumeName, validateLocalOptions, needsMount, VOLUME_NAME } from "./local.js";
export { copyTree, isEmptyDir } from "./copy.js";
export * from "./types.js";

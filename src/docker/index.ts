// Public entry of Docker compatibility shared by the CLI, the client, the daemon and the services:
// the Engine API's JSON shapes (one definition each) and Docker's ways with values: sizes and
// durations (go-units, Go's time), Go's strconv, signal names, detach keys. A bottom layer: it
// imports only src/common, so every other layer can use it.

export type * from "./api/containers.js";
export { BLKIO_STATS_KEYS } from "./api/containers.js";
export type * from "./api/networks.js";
export { endpointSettings } from "./api/networks.js";
export type * from "./api/images.js";
export type * from "./api/volumes.js";
export type * from "./api/system.js";
export { ramInBytes, fromHumanSize, goG, humanSize, humanSizeWithPrecision, bytesSize, parseNanoCpus } from "./units.js";
export { parseGoDuration, humanDuration } from "./durations.js";
export { progressString } from "./progress.js";
export { parseBool, parseGoInt, parseUint, atoi, boolValue } from "./strconv.js";
export { parseSignal } from "./signals.js";
export { DEFAULT_DETACH_KEYS, parseDetachKeys, DetachScanner } from "./detach-keys.js";

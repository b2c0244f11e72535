// Public entry of the snapshots subsystem: layer application (tar + whiteouts), layer diff and
// directory export, the overlay snapshotter, and the one module that mounts.

export { applyLayer, normalizeEntryName, type ApplyOptions, type ApplyResult, type WhiteoutMode } from "./apply.js";
export { decompress, type Compression } from "./compress.js";
export { diffLayer, tarDirectory, type DiffOptions, type DiffResult } from "./diff.js";
export { clearIdmapStaging, IDMAP_UNSUPPORTED, mountAll, mountIdmapped, mountOne, parseOptions, unmountAll, type IdmapText, type Mount } from "./mount.js";
export { MAX_LAYERS, SnapshotStore, type SnapshotInfo, type SnapshotKind, type SnapshotOptions, type SnapshotUsage } from "./store.js";
export { encodeHeader, readTar, type TarEntryType, type TarHeader, type TarItem, type WriteHeader } from "./tar.js";
export { chooseStorage, fuseOverlayArgs, mountSnapshot, parseStorageDriver, probeStorage, setStorageDriver, storageDriver, type ProbeResult, type StorageChoice, type StorageDriver } from "./storage-driver.js";

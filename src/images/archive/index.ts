// Image archives in and out: docker-archive (docker save/load), OCI image layouts, and the
// `--change` instructions of docker import.

export { applyChanges } from "./changes.js";
export { planDockerArchive, planLoad, planOciLayout, sniffLayerType, type LoadPlan, type PlanBlob, type PlanImage } from "./plan.js";
export { archiveName, blobPath, DirSource, StagedArchive, type ArchiveSource, type SourceFile, type StageOptions } from "./source.js";
export { layoutIndex, TarWriter, writeArchive, writeLayoutDir, type BlobOpener, type SaveEntry } from "./write.js";

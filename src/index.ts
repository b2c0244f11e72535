// cove as a library: the same pieces the daemon and the CLI use, typed, in process.

export { CoveError, type ErrorKind } from "./common/errors.js";
export { CoveRuntime, DEFAULT_RUNTIME_ROOT } from "./runtime/cove.js";
export { RuncRuntime } from "./runtime/runc.js";
export type { ContainerRuntime, ContainerState, CreateOptions, ExecOptions, ExecHandle, ProcessExit } from "./runtime/types.js";
export type { Spec, Process, LinuxResources, State } from "./runtime/spec.js";
export { defaultSpec, validateSpec, loadConfig } from "./runtime/config/index.js";
export { defaultSeccompProfile, compileSeccomp } from "./runtime/seccomp/index.js";
export { ImageService } from "./images/service.js";
export { parseNormalizedNamed, familiarString } from "./images/index.js";
export { Engine, type EngineOptions, type EngineEvent, type EventsOptions, type LogOptions, type RunResult, type StatsOptions, type StatsSample, type StatsSource } from "./engine/index.js";
export type { CgroupStats } from "./runtime/cgroups/index.js";
export { EngineClient, EngineError, type EngineClientOptions } from "./client/index.js";
export { ContainerService } from "./containers/index.js";
export { VolumeService, type Volume, type VolumeCreateRequest } from "./volumes/index.js";
export type { CreateBody, ContainerInspect, ContainerSummary, DockerEvent, LogEntry } from "./containers/types.js";

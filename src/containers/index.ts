// Public entry of the container service: the container model and lifecycle (Docker's semantics),
// OCI spec generation from Docker's create body, logs, attach, exec, health and restart policies.

export {
  ContainerService,
  type AttachOptions,
  type AttachSession,
  type ContainerServiceOptions,
  type ContainerHooks,
  type ContainerRecord,
  type CreateResult,
  type ExecSession,
  type ListOptions,
} from "./service.js";
export {
  buildSpec,
  mergeConfig,
  withHostConfigDefaults,
  tweakCapabilities,
  containerEnv,
  commandOf,
  userMounts,
  resourcesOf,
  parseSecurityOpt,
  convertDockerSeccomp,
  hostsFile,
  resolvConfFile,
  normalizeNetworkMode,
  NO_NETWORK_WARNING,
  INIT_PATH_IN_CONTAINER,
  type SpecInput,
  type BuiltSpec,
} from "./spec.js";
export { planMounts, parseBind, parseMountSpec, publicMountPoint, type MountEntry } from "./mounts.js";
export { resolveUser, parsePasswd, parseGroup, type ExecUser } from "./user.js";
export { readLogs, timeNanos } from "./logs.js";
export { generateName } from "./names.js";
export { HEALTH_ON_FAILURE_LABEL } from "./health.js";
export type * from "./types.js";
export { parseRemapSetting, parseUsernsMode, resolveRemapAccount, usernsSettings, DEFAULT_REMAP_USER, type IdMap, type RemapAccount, type UsernsSettings } from "./userns.js";
export { parseNetDev } from "./stats.js";

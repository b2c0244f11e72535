// The container service's vocabulary: the Docker Engine API shapes it takes and returns (defined
// once, in src/docker; re-exported here under the names the service uses), and its own shapes for
// events, logs and attach.

export type {
  ContainerConfig,
  ContainerInspect,
  ContainerState as ContainerStateDoc,
  ContainerStatus,
  ContainerSummary,
  CreateBody,
  DeviceMapping,
  EndpointSettings,
  ExecConfig,
  ExecInspect,
  Health,
  HealthConfig,
  HealthLogEntry,
  HostConfig,
  LogConfig,
  Mount as MountSpec,
  MountPoint,
  NetworkSettings,
  RestartPolicy,
  ThrottleDevice,
  Ulimit,
  WaitCondition,
  WaitResponse,
  WeightDevice,
} from "../docker/index.js";

/** A container event as Docker publishes it (the daemon adds time fields and scope). */
export interface DockerEvent {
  Type: "container" | "image" | "volume";
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  /** Unix seconds. */
  time: number;
  /** Unix nanoseconds. */
  timeNano: bigint;
}

export interface LogEntry {
  stream: "stdout" | "stderr";
  line: Buffer;
  /** RFC 3339 with nanoseconds, as stored in the json-file log. */
  time: string;
}

export interface LogsOptions {
  follow?: boolean;
  /** Unix seconds (fractions allowed); entries before are skipped. */
  since?: number;
  /** Unix seconds; entries after are skipped. */
  until?: number;
  /** Number of lines from the end, or "all". */
  tail?: number | "all";
  timestamps?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  signal?: AbortSignal;
}

export interface AttachChunk {
  stream: "stdout" | "stderr";
  data: Buffer;
}

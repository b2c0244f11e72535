// Shapes of the Docker Engine API (v1.41–v1.47) that cove's client reads and writes. Only the
// fields cove uses are typed; the daemon may send more.

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

export interface MountPoint {
  Type?: string;
  Name?: string;
  Source?: string;
  Destination?: string;
  Driver?: string;
  Mode?: string;
  RW?: boolean;
  Propagation?: string;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: Port[];
  SizeRw?: number;
  SizeRootFs?: number;
  Labels: Record<string, string> | null;
  State: string;
  Status: string;
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: { Networks?: Record<string, unknown> | null };
  Mounts?: MountPoint[];
}

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

export interface ContainerState {
  Status: string;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: { Status: string };
}

export interface ContainerConfig {
  Hostname?: string;
  User?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Image?: string;
  Entrypoint?: string[] | null;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object> | null;
  [key: string]: unknown;
}

export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  Name: string;
  RestartCount: number;
  Config: ContainerConfig;
  HostConfig: { AutoRemove?: boolean; NetworkMode?: string; PortBindings?: Record<string, PortBinding[] | null> | null; [key: string]: unknown };
  NetworkSettings: { Ports?: Record<string, PortBinding[] | null> | null; Networks?: Record<string, unknown> | null; [key: string]: unknown };
  Mounts: MountPoint[];
  [key: string]: unknown;
}

export interface CreateResponse {
  Id: string;
  Warnings: string[] | null;
}

export interface WaitResponse {
  StatusCode: number;
  Error?: { Message: string } | null;
}

export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  ContainerID: string;
  ProcessConfig?: { tty?: boolean };
}

export interface ExecCreateOptions {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
  Env?: string[];
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
  Cmd: string[];
}

export interface TopResponse {
  Titles: string[];
  Processes: string[][];
}

export interface ChangeItem {
  Path: string;
  /** 0 modified, 1 added, 2 deleted */
  Kind: number;
}

export interface PruneResponse {
  ContainersDeleted: string[] | null;
  SpaceReclaimed: number;
}

export interface UpdateResponse {
  Warnings: string[] | null;
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface VersionResponse {
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
  GitCommit: string;
  GoVersion: string;
  Os: string;
  Arch: string;
  KernelVersion?: string;
  BuildTime?: string;
  Experimental?: boolean;
  Platform?: { Name: string };
  Components?: { Name: string; Version: string; Details?: Record<string, string> }[];
}

export interface InfoResponse {
  ID?: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Driver: string;
  DriverStatus?: [string, string][] | null;
  Name: string;
  ServerVersion: string;
  OperatingSystem: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  KernelVersion: string;
  CgroupDriver?: string;
  CgroupVersion?: string;
  LoggingDriver?: string;
  DockerRootDir: string;
  DefaultRuntime?: string;
  Runtimes?: Record<string, unknown>;
  SecurityOptions?: string[];
  Debug?: boolean;
  Plugins?: { Volume?: string[] | null; Network?: string[] | null; Log?: string[] | null };
  Swarm?: { LocalNodeState?: string };
  Labels?: string[] | null;
  ExperimentalBuild?: boolean;
  LiveRestoreEnabled?: boolean;
  Warnings?: string[] | null;
  [key: string]: unknown;
}

export interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope?: string;
  time: number;
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

export interface StatsResponse {
  read: string;
  id?: string;
  name?: string;
  num_procs?: number;
  pids_stats?: { current?: number; limit?: number };
  cpu_stats: { cpu_usage: { total_usage: number; percpu_usage?: number[] | null }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number; percpu_usage?: number[] | null }; system_cpu_usage?: number; online_cpus?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
}

export interface ImageSummaryAPI {
  Id: string;
  ParentId: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  /** Unix seconds. */
  Created: number;
  Size: number;
  /** -1 unless asked for (shared-size=1 or /system/df). */
  SharedSize: number;
  /** API < 1.44 only. */
  VirtualSize?: number;
  Labels: Record<string, string> | null;
  /** -1 unless counted (/system/df). */
  Containers: number;
}

export interface ImageInspectAPI {
  Id: string;
  RepoTags: string[];
  Config?: ContainerConfig | null;
  Os?: string;
  Architecture?: string;
  [key: string]: unknown;
}

export interface ImageHistoryItem {
  Id: string;
  /** Unix seconds. */
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

/** One line of DELETE /images/{name} and of prune's ImagesDeleted. */
export interface ImageDeleteItem {
  Untagged?: string;
  Deleted?: string;
}

export interface ImagePruneResponse {
  ImagesDeleted: ImageDeleteItem[] | null;
  SpaceReclaimed: number;
}

/** GET /system/df. */
export interface DiskUsageResponse {
  LayersSize: number;
  Images: ImageSummaryAPI[] | null;
  Containers: ContainerSummary[] | null;
  Volumes: { Name: string; UsageData?: { Size: number; RefCount: number } | null }[] | null;
  BuildCache: { ID: string; Type: string; Size: number; InUse: boolean; Shared: boolean }[] | null;
}

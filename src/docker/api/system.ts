// The system shapes of the Docker Engine API (v1.47): version, info, events and disk usage, as
// the client reads them (only the fields cove uses are typed; a daemon may send more).

import type { ContainerSummary } from "./containers.js";
import type { ImageSummary } from "./images.js";
import type { VolumeUsage } from "./volumes.js";

/** GET /version. */
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

/** GET /info. */
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

/** One message of GET /events, as sent (timeNano as a JSON number). */
export interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope?: string;
  /** Unix seconds. */
  time: number;
  /** Unix nanoseconds. */
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

/** GET /system/df. */
export interface DiskUsageResponse {
  LayersSize: number;
  Images: ImageSummary[] | null;
  Containers: ContainerSummary[] | null;
  Volumes: { Name: string; UsageData?: VolumeUsage | null }[] | null;
  BuildCache: { ID: string; Type: string; Size: number; InUse: boolean; Shared: boolean }[] | null;
}

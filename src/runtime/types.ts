// The runtime interface the engine uses. Two implementations: cove's own (CoveRuntime) and
// runc driven through its CLI (RuncRuntime), so the same bundles and tests run on both.

import { isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import type { MonitorIO } from "./plan/compile.js";
import type { CgroupStats } from "./cgroups/index.js";
import type { LinuxResources, Process, Spec, State } from "./spec.js";

export interface ContainerState extends State {
  rootfs: string;
  /** RFC 3339 creation time. */
  created: string;
  owner: string;
}

export type StdioSpec = "inherit" | "ignore" | [number | "inherit" | "ignore", number | "inherit" | "ignore", number | "inherit" | "ignore"];

export interface CreateOptions {
  bundle: string;
  /** Unix socket that receives the pty master (runc's --console-socket). */
  consoleSocket?: string;
  pidFile?: string;
  noPivot?: boolean;
  /** Number of extra fds (3, 4, ...) passed into the container. */
  preserveFds?: number;
  /** stdio of the container process; the default is the caller's own. */
  stdio?: StdioSpec;
  /** Relay the terminal through the caller's stdio (run -t without a console socket). */
  consoleProxy?: boolean;
  /** run only: called once the process runs, with its pid and its monitor's pid. */
  onStart?: (pids: { pid: number; shimPid: number }) => void;
  /** run only: keep the stopped container instead of deleting it (runc run --keep). */
  keep?: boolean;
  /** cove only (engine mode): the monitor logs the stdio and serves attach clients. */
  io?: MonitorIO;
  /**
   * cove only, in process: the spec the caller has just written to the bundle's config.json,
   * taken (and validated) as it is instead of read back from the file. runc reads the file.
   */
  spec?: Spec;
}

export interface ExecOptions {
  process: Process;
  /** Return once the process runs and do not follow it (runc exec --detach). */
  detach?: boolean;
  /** cove only (engine mode): the monitor logs the stdio and serves attach clients. */
  io?: MonitorIO;
  consoleSocket?: string;
  pidFile?: string;
  preserveFds?: number;
  stdio?: StdioSpec;
  consoleProxy?: boolean;
}

export interface ProcessExit {
  /** Exit status as a shell reports it: the code, or 128 + signal. */
  code: number;
  /** The terminating signal, 0 when the process exited by itself. */
  signal: number;
  oomKilled?: boolean;
}

export interface ExecHandle {
  pid: number;
  exited: Promise<ProcessExit>;
  /** Signals the exec'd process (a health probe past its timeout); one already gone is no error. */
  kill(signal: NodeJS.Signals | number): void;
}

/** One sample of a container's cgroup counters, the same shape from every runtime. */
export type RuntimeStats = CgroupStats;

/** Signals a process by pid, ignoring one that is gone (what ExecHandle.kill does). */
export function signalPid(pid: number, signal: NodeJS.Signals | number): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    // ESRCH: gone
    if (!isErrno(err, "ESRCH")) ignored(`send ${String(signal)} to process ${pid}`, err);
  }
}

export interface ContainerRuntime {
  readonly name: string;
  /** create takes CreateOptions.spec as the config and never reads the bundle's config.json. */
  readonly takesSpec?: boolean;
  create(id: string, opts: CreateOptions): Promise<ContainerState>;
  start(id: string): Promise<void>;
  /** create + start, waiting for the exit and deleting the container afterwards. */
  run(id: string, opts: CreateOptions): Promise<ProcessExit>;
  state(id: string): Promise<ContainerState>;
  list(): Promise<ContainerState[]>;
  kill(id: string, signal: NodeJS.Signals | number, opts?: { all?: boolean }): Promise<void>;
  delete(id: string, opts?: { force?: boolean }): Promise<void>;
  /** Resolves when the container's init exits. */
  wait(id: string): Promise<ProcessExit>;
  exec(id: string, opts: ExecOptions): Promise<ExecHandle>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  update(id: string, resources: LinuxResources): Promise<void>;
  ps(id: string): Promise<number[]>;
  /** The container's cgroup counters (whichever runtime made the cgroup). */
  stats(id: string): Promise<RuntimeStats>;
  /**
   * Finishes the runtime's background work and releases what it keeps between containers (cove's:
   * state directories being removed, empty shared parent cgroups); containers keep running.
   */
  flush?(): Promise<void>;
}

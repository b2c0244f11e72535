// The engine as a library: `import { Engine } from "cove"` gives the same image and container
// services the daemon serves, in process and without a daemon, with logs, events and stats as
// async iterators. Containers keep running when the engine closes (the monitors own them), and a
// later Engine.open on the same root adopts them again.
//
// Do not open an Engine on a root a running daemon serves: each would keep its own view of the
// state. Use the daemon's API (EngineClient, the docker CLI, dockerode) there instead.

import { readFile } from "node:fs/promises";
import path from "node:path";
import { conflict, CoveError, fromErrno, invalid, isErrno } from "../common/errors.js";
import { instanceLayout, type InstanceLayout } from "../common/instance.js";
import { removeEmptyExecRoot } from "../common/instance-dirs.js";
import { ContainerService, type CreateResult } from "../containers/index.js";
import type { CreateBody, LogEntry, LogsOptions } from "../containers/types.js";
import { EventBus, EventFilter, type EventMessage } from "../events/index.js";
import { ImageService } from "../images/service.js";
import type { CgroupStats } from "../runtime/cgroups/index.js";
import type { VolumeService } from "../volumes/index.js";

export interface EngineOptions {
  /** State root (default /var/lib/cove). */
  root?: string;
  /** Runtime state root on a tmpfs (default /run/cove/runtime for the default root, /run/cove-<tag>/runtime otherwise). */
  runtimeRoot?: string;
  /** Where Engine.stats reads samples (default: the container's cgroup, sampled by the engine). */
  statsSource?: StatsSource;
}

export interface RunResult {
  id: string;
  exitCode: number;
  /** What the container printed, in order, with the stream each line came from. */
  output: LogEntry[];
}

/** An event: Docker's events.Message (container events today: create, start, die, destroy...). */
export type EngineEvent = EventMessage;

export interface EventsOptions {
  /**
   * Docker's event filters: values of one key are ORed, keys are ANDed. Keys: type, event
   * (the action: "start", "die"...), container (ID, ID prefix or name), image, label
   * ("key" or "key=value"), scope, network, volume...
   */
  filters?: Record<string, string[]>;
  /** Replays the events the engine has seen since this time (Date or unix seconds) before live ones. */
  since?: Date | number;
  /** Stops iterating when aborted. */
  signal?: AbortSignal;
}

export interface LogOptions {
  /** Keeps yielding as the container writes, until it stops or `signal` aborts. */
  follow?: boolean;
  /** Only lines written at or after this time (Date or unix seconds). */
  since?: Date | number;
  /** Only lines written before this time. */
  until?: Date | number;
  /** The last n lines only. */
  tail?: number;
  /** Either stream alone (default both). */
  stdout?: boolean;
  stderr?: boolean;
  signal?: AbortSignal;
}

/** One statistics sample of a running container. */
export interface StatsSample {
  id: string;
  /** When the sample was read. */
  read: Date;
  /** The container's cgroup counters (memory, cpu, pids, blkio...), one shape for cgroup v1 and v2. */
  cgroup: CgroupStats;
}

export interface StatsOptions {
  /** Between samples, in ms (default 1000). */
  intervalMs?: number;
  /** One sample, then the iterator ends. */
  once?: boolean;
  signal?: AbortSignal;
}

/** A stream of samples for one container, ending when it stops or `signal` aborts. */
export type StatsSource = (id: string, opts: StatsOptions) => AsyncIterable<StatsSample>;

const seconds = (t: Date | number): number => (t instanceof Date ? t.getTime() / 1000 : t);

/** Resolves after ms, or at once when the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export class Engine {
  private constructor(
    readonly images: ImageService,
    readonly containers: ContainerService,
    private readonly bus: EventBus,
    private readonly statsSource: StatsSource,
    private readonly layout: InstanceLayout,
  ) {}

  /** Named and anonymous volumes (the container service's, so references and mounts agree). */
  get volumes(): VolumeService {
    return this.containers.volumes;
  }

  static async open(opts: EngineOptions = {}): Promise<Engine> {
    const root = opts.root ?? "/var/lib/cove";
    await refuseDaemonRoot(root);
    const images = await ImageService.open({ root });
    // events may fire while the service opens (restoring containers): the bus keeps them
    const bus = new EventBus();
    // the runtime state and cgroups a daemon on this root would use, so either adopts the other's containers
    const layout = instanceLayout(root, { runtimeRoot: opts.runtimeRoot });
    const containers = await ContainerService.open({
      root,
      runtimeRoot: layout.runtimeRoot,
      cgroupParent: layout.cgroupParent,
      images,
      events: (e) => bus.publish({ Type: e.Type, Action: e.Action, Actor: e.Actor, timeNano: e.timeNano }),
    });
    const cgroupStats: StatsSource = (id, o) => sampleCgroup(containers, id, o);
    return new Engine(images, containers, bus, opts.statsSource ?? cgroupStats, layout);
  }

  /**
   * Events as they happen from this call on (after those since `since`), until the consumer
   * stops iterating or `signal` aborts. The subscription starts at once, so events of work done
   * before the first `next()` are not lost: iterate to the end, break, or abort to end it. Bad
   * filters throw here.
   */
  events(opts: EventsOptions = {}): AsyncGenerator<EngineEvent> {
    const filter = new EventFilter(opts.filters ?? {});
    const signal = opts.signal;
    const since = opts.since !== undefined ? BigInt(Math.round(seconds(opts.since) * 1e6)) * 1000n : undefined;
    const queue: EngineEvent[] = since !== undefined ? this.bus.past({ since, filter }) : [];
    let wake: (() => void) | undefined;
    let ended = false;
    const unsubscribe = this.bus.subscribe((e) => {
      if (!filter.matches(e)) return;
      queue.push(e);
      wake?.();
    });
    const end = () => {
      ended = true;
      unsubscribe();
      signal?.removeEventListener("abort", end);
      wake?.();
    };
    if (signal?.aborted) end();
    else signal?.addEventListener("abort", end);
    const stream = (async function* () {
      try {
        for (;;) {
          while (queue.length && !ended) yield queue.shift()!;
          if (ended) return;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      } finally {
        end();
      }
    })();
    // return() before the first next() never enters the body: unsubscribe here too
    const finish = stream.return.bind(stream);
    stream.return = (value) => {
      end();
      return finish(value);
    };
    return stream;
  }

  /** A container's output, line by line with its stream and time; with `follow`, as it is written. */
  logs(ref: string, opts: LogOptions = {}): AsyncIterable<LogEntry> {
    if (opts.tail !== undefined && (!Number.isInteger(opts.tail) || opts.tail < 0)) {
      throw invalid(`tail must be a whole number of lines, not ${opts.tail}`, { code: "logs.invalid", field: "tail" });
    }
    const o: LogsOptions = { stdout: opts.stdout ?? true, stderr: opts.stderr ?? true, follow: opts.follow ?? false };
    if (opts.since !== undefined) o.since = seconds(opts.since);
    if (opts.until !== undefined) o.until = seconds(opts.until);
    if (opts.tail !== undefined) o.tail = opts.tail;
    if (opts.signal) o.signal = opts.signal;
    return this.containers.logs(ref, o);
  }

  /** Resource usage samples of a running container, every intervalMs, until it stops or `signal` aborts. */
  stats(ref: string, opts: StatsOptions = {}): AsyncIterable<StatsSample> {
    if (opts.intervalMs !== undefined && !(opts.intervalMs > 0)) {
      throw invalid(`intervalMs must be positive, not ${opts.intervalMs}`, { code: "stats.invalid", field: "intervalMs" });
    }
    return this.statsSource(this.containers.resolveId(ref), opts);
  }

  /** create + start + wait + logs + remove: `docker run --rm` as one call. */
  async run(image: string, cmd: string[], body: Omit<CreateBody, "Image" | "Cmd"> = {}): Promise<RunResult> {
    const created: CreateResult = await this.containers.create({ ...body, Image: image, Cmd: cmd });
    try {
      await this.containers.start(created.Id);
      const wait = await this.containers.wait(created.Id, "not-running");
      const output: LogEntry[] = [];
      for await (const entry of this.containers.logs(created.Id, { stdout: true, stderr: true })) output.push(entry);
      return { id: created.Id, exitCode: wait.StatusCode, output };
    } finally {
      await this.containers.remove(created.Id, { force: true });
    }
  }

  /** Stops following containers; they keep running. */
  async close(): Promise<void> {
    await this.containers.close();
    // as a daemon's close: its runtime state directories go when no container's state is left in them
    await removeEmptyExecRoot(this.layout);
  }
}

/** Fails when a live cove daemon serves the root (its cove.pid): two owners would each keep their own view. */
async function refuseDaemonRoot(root: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(root, "cove.pid"), "utf8")).trim());
  } catch (err) {
    if (isErrno(err, "ENOENT")) return; // no daemon has served the root, or it stopped cleanly
    throw fromErrno(err, `reading the daemon's pid file in ${root}`);
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return;
  let cmdline: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT", "ESRCH")) return; // not running
    throw err;
  }
  if (!/node|cove/.test(cmdline)) return; // a recycled PID
  throw conflict(`a cove daemon (pid ${pid}) serves the root ${root}`, {
    code: "engine.root-in-use",
    hint: `use the daemon through its API (new EngineClient({ socket: "/run/cove/cove.sock" })), or open the Engine on another root`,
  });
}

/** The default stats source: the container's cgroup counters, read by the runtime every interval. */
async function* sampleCgroup(containers: ContainerService, id: string, opts: StatsOptions): AsyncGenerator<StatsSample> {
  const interval = opts.intervalMs ?? 1000;
  // a container removed meanwhile has stopped too
  const running = async () => {
    try {
      return (await containers.inspect(id)).State.Running;
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return false;
      throw err;
    }
  };
  for (;;) {
    if (opts.signal?.aborted || !(await running())) return;
    let cgroup: CgroupStats;
    try {
      cgroup = await containers.cgroupStats(id);
    } catch (err) {
      // the container stopped between the check and the read
      if (!(await running())) return;
      throw err;
    }
    yield { id, read: new Date(), cgroup };
    if (opts.once) return;
    await sleep(interval, opts.signal);
  }
}

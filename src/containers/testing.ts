// Fakes for the container service's collaborators, so its lifecycle runs in a unit test without
// root: a recording runtime whose processes exit when the test says (it serves the attach socket's
// exit frame as cove's monitor does), a host that only records mounts, and an image service with
// one image. Not part of the package's API.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { conflict, notFound } from "../common/errors.js";
import { FRAME_HEADER_SIZE, Frame } from "../native/protocol.js";
import type { ContainerRuntime, ContainerState, CreateOptions, ExecHandle, ExecOptions, ProcessExit, RuntimeStats } from "../runtime/types.js";
import type { Mount as SnapshotMount } from "../snapshots/index.js";
import type { ContainerImages } from "./core.js";
import type { ContainerHost } from "./host.js";
import type { ContainerConfig } from "./types.js";

interface FakeProcess {
  id: string;
  bundle: string;
  status: "created" | "running" | "paused" | "stopped";
  pid: number;
  exit?: ProcessExit;
  exited: Promise<ProcessExit>;
  resolve: (e: ProcessExit) => void;
  server?: net.Server;
  clients: Set<net.Socket>;
}

/**
 * A runtime that records every call (calls: "create <id>", "kill <id> 9", ...) and runs nothing.
 * A started process runs until exit(id, code), or a kill (which ends it with 128 + signal unless
 * ignoreSignals). Hooks let a test act in the middle of a call (an exit during start).
 */
export class FakeRuntime implements ContainerRuntime {
  readonly name = "cove";
  readonly calls: string[] = [];
  readonly procs = new Map<string, FakeProcess>();
  /** Probe results for exec, by call order; default exit code 0 and output "ok". */
  execResults: { code: number; output?: string }[] = [];
  /** Runs inside start, after the process runs and before start returns. */
  onStart?: (id: string) => void | Promise<void>;
  /** Makes create fail (e.g. a command that is not found). */
  failCreate?: (id: string) => Error | undefined;
  /** Runs at the start of a kill of every process (`kill --all`), before anything else it does. */
  onKillAll?: (id: string) => Promise<void>;
  /** Makes state fail (e.g. a runtime whose state cannot be read). */
  failState?: (id: string) => Error | undefined;
  ignoreSignals = false;
  private nextPid = 1000;

  /** attachSocket(id) must be the path the service uses: <runtimeRoot>/<id>/a.sock. */
  constructor(private readonly runtimeRoot: string) {}

  private get(id: string): FakeProcess {
    const p = this.procs.get(id);
    if (!p) throw notFound(`container ${id} does not exist`, { code: "runtime.not-found" });
    return p;
  }

  async create(id: string, opts: CreateOptions): Promise<ContainerState> {
    this.calls.push(`create ${id}`);
    const err = this.failCreate?.(id);
    if (err) throw err;
    let resolve!: (e: ProcessExit) => void;
    const exited = new Promise<ProcessExit>((r) => (resolve = r));
    const p: FakeProcess = { id, bundle: opts.bundle, status: "created", pid: this.nextPid++, exited, resolve, clients: new Set() };
    this.procs.set(id, p);
    const dir = path.join(this.runtimeRoot, id);
    mkdirSync(dir, { recursive: true });
    const sock = path.join(dir, "a.sock");
    rmSync(sock, { force: true });
    const server = net.createServer((c) => {
      if (p.exit) {
        c.end(exitFrame(p.exit));
        return;
      }
      p.clients.add(c);
      // the client's frames (stdin, QUIET from an exit watcher) are read and dropped, as a
      // monitor with nothing to feed them to would
      c.resume();
      c.on("error", () => undefined);
      c.on("close", () => p.clients.delete(c));
    });
    p.server = server;
    await new Promise<void>((r) => server.listen(sock, r));
    return this.stateOf(p);
  }

  async start(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    const p = this.get(id);
    if (p.status !== "created") throw conflict(`container ${id} is ${p.status}`, { code: "container.not-created" });
    p.status = "running";
    await this.onStart?.(id);
  }

  /** The container's init exits with code (or is killed by signal). */
  exit(id: string, code: number, signal = 0, oomKilled = false): void {
    const p = this.get(id);
    if (p.exit) return;
    p.exit = { code, signal, ...(oomKilled ? { oomKilled } : {}) };
    p.status = "stopped";
    for (const c of p.clients) c.end(exitFrame(p.exit));
    p.clients.clear();
    p.resolve(p.exit);
  }

  run(): Promise<ProcessExit> {
    throw new Error("FakeRuntime.run is not used by the container service");
  }

  private stateOf(p: FakeProcess): ContainerState {
    return { ociVersion: "1.0.2", id: p.id, status: p.status, pid: p.pid, bundle: p.bundle, rootfs: path.join(p.bundle, "rootfs"), created: new Date(0).toISOString(), owner: "" } as ContainerState;
  }

  async state(id: string): Promise<ContainerState> {
    const err = this.failState?.(id);
    if (err) throw err;
    return this.stateOf(this.get(id));
  }

  async list(): Promise<ContainerState[]> {
    // as cove's runtime lists: a state that cannot be read is left out
    return [...this.procs.values()].filter((p) => !this.failState?.(p.id)).map((p) => this.stateOf(p));
  }

  async kill(id: string, signal: NodeJS.Signals | number, opts: { all?: boolean } = {}): Promise<void> {
    const sig = typeof signal === "number" ? signal : signal === "SIGKILL" ? 9 : 15;
    this.calls.push(`kill ${id} ${sig}${opts.all ? " all" : ""}`);
    if (opts.all) await this.onKillAll?.(id);
    const p = this.get(id);
    if (p.status === "stopped") throw conflict(`container ${id} is not running`, { code: "container.not-running" });
    if (!this.ignoreSignals || sig === 9) this.exit(id, 128 + sig, sig);
  }

  async delete(id: string): Promise<void> {
    this.calls.push(`delete ${id}`);
    const p = this.procs.get(id);
    if (!p) return;
    this.procs.delete(id);
    for (const c of p.clients) c.destroy();
    await new Promise<void>((r) => (p.server ? p.server.close(() => r()) : r()));
  }

  async wait(id: string): Promise<ProcessExit> {
    return this.get(id).exited;
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecHandle> {
    this.calls.push(`exec ${id} ${opts.process.args?.join(" ") ?? ""}`);
    const p = this.get(id);
    if (p.status !== "running") throw conflict(`container ${id} is not running`, { code: "container.not-running" });
    const r = this.execResults.shift() ?? { code: 0, output: "ok" };
    const log = opts.io?.log?.path;
    if (log) {
      mkdirSync(path.dirname(log), { recursive: true });
      writeFileSync(log, r.output ? `${JSON.stringify({ log: `${r.output}\n`, stream: "stdout", time: new Date().toISOString() })}\n` : "");
    }
    const pid = this.nextPid++;
    return { pid, exited: Promise.resolve({ code: r.code, signal: 0 }), kill: (sig) => void this.calls.push(`kill exec ${pid} ${String(sig)}`) };
  }

  async pause(id: string): Promise<void> {
    this.calls.push(`pause ${id}`);
    this.get(id).status = "paused";
  }

  async resume(id: string): Promise<void> {
    this.calls.push(`resume ${id}`);
    this.get(id).status = "running";
  }

  async update(id: string): Promise<void> {
    this.calls.push(`update ${id}`);
  }

  async ps(id: string): Promise<number[]> {
    return [this.get(id).pid];
  }

  async stats(id: string): Promise<RuntimeStats> {
    this.get(id);
    return { pids: { current: 1 } };
  }

  /** Closes the attach sockets (the end of a test). */
  async close(): Promise<void> {
    for (const id of [...this.procs.keys()]) await this.delete(id);
  }
}

function exitFrame(e: ProcessExit): Buffer {
  const data = Buffer.from(`${e.code} ${e.signal}`);
  const head = Buffer.alloc(FRAME_HEADER_SIZE);
  head[0] = Frame.EXIT;
  head.writeUInt32LE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** A host that records mounts instead of making them; cgroup v2 unless told. */
export class FakeHost implements ContainerHost {
  readonly mounted = new Map<string, SnapshotMount[]>();
  readonly calls: string[] = [];
  constructor(private readonly version: 1 | 2 = 2) {}
  cgroupVersion(): 1 | 2 {
    return this.version;
  }
  isMountpoint(p: string): Promise<boolean> {
    return Promise.resolve(this.mounted.has(p));
  }
  mount(mounts: SnapshotMount[], target: string): void {
    this.calls.push(`mount ${target}`);
    this.mounted.set(target, mounts);
  }
  unmount(target: string): void {
    if (this.mounted.delete(target)) this.calls.push(`unmount ${target}`);
  }
}

/** An image service with one image whose config is config; rootfs snapshots are recorded. */
export function fakeImages(config: ContainerConfig = { Cmd: ["/bin/app"], Env: ["PATH=/usr/bin:/bin"] }): ContainerImages & { prepared: Set<string>; volatile: Set<string>; removed: string[] } {
  const prepared = new Set<string>();
  /** The keys prepared as volatile snapshots (a --rm container's). */
  const volatile = new Set<string>();
  const removed: string[] = [];
  const imageId = `sha256:${"ab".repeat(32)}`;
  return {
    prepared,
    volatile,
    removed,
    prepareRootfs: (key: string, _ref: string, opts: { volatile?: boolean } = {}) => {
      prepared.add(key);
      if (opts.volatile) volatile.add(key);
      return Promise.resolve({ mounts: [{ type: "overlay", source: "overlay", options: [] }], imageId, config: { architecture: "amd64", os: "linux", config, rootfs: { type: "layers", diff_ids: [] } } });
    },
    removeRootfs: (key: string) => {
      prepared.delete(key);
      removed.push(key);
      return Promise.resolve();
    },
    inspect: () => Promise.reject(notFound("no such image", { code: "image.not-found" })),
    commit: () => Promise.reject(new Error("not in the fake")),
    exportRootfs: () => Promise.reject(new Error("not in the fake")),
  } as ContainerImages & { prepared: Set<string>; volatile: Set<string>; removed: string[] };
}

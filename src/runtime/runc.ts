// RuncRuntime: the ContainerRuntime interface implemented by driving the runc binary, so the
// engine can use runc for the same bundles and the test suite can compare cove against it.
//
// Limits that come from runc's CLI, not from this wrapper:
// - wait(): runc has no wait command, and after `runc create` the container's init is not a
//   child of ours, so its exit status cannot be collected. wait() polls `runc state` until the
//   container is stopped (or gone) and returns { code: -1, signal: 0 }.
// - run() uses `runc run` in the foreground, whose exit status is the process's own, or 128 + n
//   when it was killed by signal n; a process that exits by itself with 129..192 is therefore
//   reported as killed by a signal too.
// - exec() runs `runc exec` in the foreground for the same reason; its pid comes from --pid-file.
//
// runc's own failures are read from its log (--log FILE --log-format json), so the container's
// stdio can be anything; they become CoveErrors carrying the text runc printed.
//
// Engine mode (create/exec with `io`, needs monitorRoot): cove's monitor (build/cove-shim in
// runtime mode) runs `runc create` / `runc exec --detach` itself with the container's stdio as its
// pipes (or receives the pty master on a console socket) and, as a child subreaper, adopts the
// process runc leaves behind. So runc containers get what cove's own do: json-file logs, attach,
// and the real exit status in <monitorRoot>/<id>/exit, kept while no daemon runs. None of the
// limits above apply to them.

import { spawn, type StdioOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { conflict, CoveError, fromErrno, invalid, isErrno, notFound, systemError } from "../common/errors.js";
import { ignored, ignoring } from "../common/ignore.js";
import { parseSignal } from "../docker/index.js";
import { StateFile } from "../native/protocol.js";
import { cgroupManager, removeSharedParent } from "./cgroups/index.js";
import { isInstanceCgroupParent } from "../common/instance.js";
import { findExecutable } from "../common/process.js";
import { compileRuntimeMonitor } from "./plan/compile.js";
import { launchShim } from "./shim.js";
import type { LinuxResources, Spec } from "./spec.js";
import { signalPid, type ContainerRuntime, type ContainerState, type CreateOptions, type ExecHandle, type ExecOptions, type ProcessExit, type RuntimeStats, type StdioSpec } from "./types.js";

export const DEFAULT_RUNC_ROOT = "/run/runc";
export const DEFAULT_RUNC_BINARY = "runc";

/** runc's path: on PATH, else Debian's /usr/sbin/runc; undefined when neither exists. */
export function findRunc(): string | undefined {
  return findExecutable("runc");
}

interface RuncResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** error-level messages runc wrote to its log, oldest first */
  logErrors: string[];
}

interface RunOptions {
  stdio?: StdioSpec;
  preserveFds?: number;
  input?: string;
}

/** Turns runc's error text into a CoveError of the right kind, keeping runc's words. */
export function runcError(command: string, text: string, id?: string): CoveError {
  const msg = text.trim() || `runc ${command} failed`;
  const message = `runc ${command}${id ? ` ${id}` : ""}: ${msg}`;
  const details: { code: string; errno?: string } = { code: `runc.${command}` };
  // what runc's words say of the command it could not run, as cove's own runtime reports it
  if (/exec: .*(executable file not found|no such file or directory)/i.test(msg)) return invalid(message, { code: "exec.not-found", errno: "ENOENT" });
  if (/exec: .*permission denied/i.test(msg)) return invalid(message, { code: "exec.permission-denied", errno: "EACCES" });
  if (/not a directory/i.test(msg)) details.errno = "ENOTDIR";
  if (/does not exist|not found|no such container/i.test(msg) && !/executable file not found|no such file or directory/i.test(msg)) return notFound(message, details);
  if (/already exists|with id exists|already running|is not stopped|not stopped|cannot start|is not running|not running|has stopped|is paused|not paused|container is stopped|in use/i.test(msg)) {
    return conflict(message, details);
  }
  if (/invalid|unknown|must be|is not absolute|not supported|parse|unmarshal|incorrect|cannot be|executable file not found/i.test(msg)) return invalid(message, details);
  return systemError(message, details);
}

/** In a monitored container's directory: the cgroups path of its config, kept from the create. */
const CGROUPS_PATH_FILE = "cgroups-path";

/** The text of `file`, or undefined while it does not exist. */
async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw fromErrno(err, `reading ${file}`);
  }
}

function parseJsonLog(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === "error" || entry.level === "fatal") && entry.msg) out.push(entry.msg);
    } catch {
      out.push(line);
    }
  }
  return out;
}

function stdioArray(stdio: StdioSpec | undefined, preserveFds: number | undefined, stderr: "pipe" | "keep"): StdioOptions {
  const base: (number | "inherit" | "ignore" | "pipe")[] = stdio === undefined ? ["inherit", "inherit", "inherit"] : typeof stdio === "string" ? [stdio, stdio, stdio] : [...stdio];
  if (stderr === "pipe" && stdio === undefined) base[2] = "pipe";
  // runc passes its own fds 3 .. 3+N-1 on: give it ours at the same numbers
  for (let i = 0; i < (preserveFds ?? 0); i++) base.push(3 + i);
  return base;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RuncRuntime implements ContainerRuntime {
  readonly name = "runc";
  readonly root: string;
  readonly binary: string;
  /** Engine mode: where cove's monitors keep each container's state (attach socket, exit status). */
  readonly monitorRoot: string | undefined;

  constructor(opts: { root?: string; binary?: string; monitorRoot?: string } = {}) {
    this.root = opts.root ?? DEFAULT_RUNC_ROOT;
    this.binary = opts.binary ?? DEFAULT_RUNC_BINARY;
    this.monitorRoot = opts.monitorRoot;
  }

  private monitorDir(id: string): string | undefined {
    return this.monitorRoot ? path.join(this.monitorRoot, id) : undefined;
  }

  /** The runc command line the monitor runs; runc's errors go to a JSON log in the monitor's dir. */
  private monitorCommand(dir: string, args: string[]): string[] {
    return [this.binary, "--root", this.root, "--log", path.join(dir, "runc.log"), "--log-format", "json", ...args];
  }

  /** runc's last error in the monitor's log, as a CoveError; or the monitor's own error. */
  private async monitorFailure(command: string, dir: string, id: string, err: unknown): Promise<unknown> {
    const logged = parseJsonLog(await readFile(path.join(dir, "runc.log"), "utf8").catch(() => ""));
    return logged.length ? runcError(command, logged.at(-1)!, id) : err;
  }

  private async createMonitored(id: string, opts: CreateOptions, monitorRoot: string): Promise<ContainerState> {
    const bundle = path.resolve(opts.bundle);
    let spec: Spec;
    try {
      spec = JSON.parse(await readFile(path.join(bundle, "config.json"), "utf8")) as Spec;
    } catch (err) {
      throw invalid(`cannot read ${path.join(bundle, "config.json")}: ${(err as Error).message}`, { code: "runc.bundle" });
    }
    await mkdir(monitorRoot, { recursive: true, mode: 0o700 });
    const dir = path.join(monitorRoot, id);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw conflict(`container with id "${id}" already exists`, { code: "container.exists" });
      throw err;
    }
    // the cgroup is read after the exit (OOM kills), when runc may no longer show the bundle
    if (spec.linux?.cgroupsPath) await writeFile(path.join(dir, CGROUPS_PATH_FILE), spec.linux.cgroupsPath);
    const pidFile = path.join(dir, "runc.pid");
    const consoleSocket = spec.process?.terminal ? path.join(dir, "c.sock") : undefined;
    const command = this.monitorCommand(dir, ["create", "--bundle", bundle, "--pid-file", pidFile, ...(consoleSocket ? ["--console-socket", consoleSocket] : []), id]);
    const ops = compileRuntimeMonitor({ stateDir: dir, command, pidFile, ...(consoleSocket ? { consoleSocket } : {}), ...(opts.io ? { io: opts.io } : {}) });
    try {
      const handle = await launchShim({ planFile: path.join(dir, "plan"), ops, stdio: opts.stdio ?? "ignore" });
      handle.detach();
    } catch (err) {
      const failure = await this.monitorFailure("create", dir, id, err);
      await this.runc(["delete", "--force", id], { captureStdout: true }).catch(ignoring(`delete runc container ${id} after its create failed`));
      await rm(dir, { recursive: true, force: true });
      throw failure;
    }
    return this.state(id);
  }

  private async execMonitored(id: string, opts: ExecOptions, dir: string): Promise<ExecHandle> {
    const tag = randomBytes(4).toString("hex");
    const processFile = path.join(dir, `x${tag}.json`);
    const pidFile = path.join(dir, `x${tag}.pid`);
    const exitFile = `x${tag}.exit`;
    const consoleSocket = opts.process.terminal ? path.join(dir, `x${tag}.cs`) : undefined;
    await writeFile(processFile, JSON.stringify(opts.process), { mode: 0o600 });
    const command = this.monitorCommand(dir, ["exec", "--detach", "--process", processFile, "--pid-file", pidFile, ...(consoleSocket ? ["--console-socket", consoleSocket] : []), id]);
    const ops = compileRuntimeMonitor({ stateDir: dir, exitFile, command, pidFile, started: true, ...(consoleSocket ? { consoleSocket } : {}), ...(opts.io ? { io: opts.io } : {}) });
    const planFile = path.join(dir, `x${tag}.plan`);
    const cleanup = () => Promise.all([processFile, pidFile, planFile, path.join(dir, exitFile)].map((f) => rm(f, { force: true }))).then(() => undefined);
    let handle;
    try {
      handle = await launchShim({ planFile, ops, stdio: opts.stdio ?? "ignore", waitStarted: true });
    } catch (err) {
      const failure = await this.monitorFailure("exec", dir, id, err);
      await cleanup();
      throw failure;
    } finally {
      await rm(processFile, { force: true });
    }
    if (opts.pidFile) await writeFile(path.resolve(opts.pidFile), String(handle.pid));
    const exited = handle.exited.finally(() => {
      handle.detach();
      void cleanup().catch(ignoring(`remove the files of an exec in runc container ${id}`));
    });
    return { pid: handle.pid, exited, kill: (signal) => signalPid(handle.pid, signal) };
  }

  /** The container's exit as its monitor recorded it, with the cgroup's OOM kill count. */
  private async waitMonitored(id: string, dir: string): Promise<ProcessExit> {
    const exitFile = path.join(dir, StateFile.EXIT);
    let code = -1;
    let signal = 0;
    let cgroupsPath: string | undefined;
    for (let i = 0; ; i++) {
      const text = await readIfExists(exitFile);
      if (text !== undefined) {
        const [c, s] = text.trim().split(" ").map(Number);
        code = c ?? 255;
        signal = s ?? 0;
        break;
      }
      // every few rounds: a monitor that was killed leaves no exit file, only a stopped container
      if (i % 5 === 0) {
        const st = await this.stateIfKnown(id);
        if (!st || st.status === "stopped") {
          if (existsSync(exitFile)) continue;
          break;
        }
        if (cgroupsPath === undefined) cgroupsPath = await this.cgroupsPathOf(st.bundle);
      }
      await sleep(50);
    }
    cgroupsPath ??= (await readIfExists(path.join(dir, CGROUPS_PATH_FILE))) ?? (await this.cgroupsPathOf((await this.stateIfKnown(id))?.bundle));
    return { code, signal, oomKilled: await this.oomKilled(id, cgroupsPath, { code, signal }) };
  }

  /** The container's state, or undefined once runc no longer knows it; another failure is logged and reads as gone too. */
  private async stateIfKnown(id: string): Promise<ContainerState | undefined> {
    try {
      return await this.state(id);
    } catch (err) {
      if (!(err instanceof CoveError && err.kind === "not-found")) ignored(`read the runc state of container ${id}`, err);
      return undefined;
    }
  }

  private async cgroupsPathOf(bundle: string | undefined): Promise<string | undefined> {
    if (!bundle) return undefined;
    try {
      return (JSON.parse(await readFile(path.join(bundle, "config.json"), "utf8")) as Spec).linux?.cgroupsPath;
    } catch {
      return undefined;
    }
  }

  /** Whether the kernel's OOM killer acted in the container's cgroup (read before delete removes it). */
  private async oomKilled(id: string, cgroupsPath: string | undefined, exit: { code: number; signal: number }): Promise<boolean> {
    try {
      return await (await cgroupManager({ id, cgroupsPath })).oomKilled(exit);
    } catch (err) {
      ignored(`read the OOM kill count of runc container ${id}`, err);
      return false;
    }
  }

  /** Runs runc with a JSON log in a private temp dir; resolves with its exit and output. */
  private async runc(args: string[], opts: RunOptions & { captureStdout?: boolean } = {}): Promise<RuncResult> {
    const logDir = await mkdtemp(path.join(tmpdir(), "cove-runc-log-"));
    const logFile = path.join(logDir, "log.json");
    try {
      const captureStdout = opts.captureStdout ?? false;
      let stdio: StdioOptions;
      if (captureStdout) stdio = [opts.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"];
      else stdio = stdioArray(opts.stdio, opts.preserveFds, "keep");
      const child = spawn(this.binary, ["--root", this.root, "--log", logFile, "--log-format", "json", ...args], { stdio });
      let stdout = "";
      let stderr = "";
      child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-8000)));
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      // "exit", not "close": after `create` the container keeps runc's stdio open
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
        child.once("error", (err) => reject(new CoveError("unsupported", `cannot run ${this.binary}: ${err.message}`, { code: "runc.missing", cause: err, hint: "install runc (apt-get install runc) or pass its path as binary" })));
        child.once("exit", (c, s) => resolve([c, s]));
      });
      if (captureStdout) {
        // our own pipes: wait until they drain
        await new Promise<void>((resolve) => (child.stdout && !child.stdout.readableEnded ? child.stdout.once("close", () => resolve()) : resolve()));
      }
      let logText = "";
      try {
        logText = await readFile(logFile, "utf8");
      } catch (err) {
        // ENOENT: runc wrote no log; the command's result stands without it
        if (!isErrno(err, "ENOENT")) ignored(`read the log of runc ${args[0] ?? ""}`, err);
      }
      return { code: code ?? 128 + (signal ? parseSignal(signal) : 0), signal, stdout, stderr, logErrors: parseJsonLog(logText) };
    } finally {
      await rm(logDir, { recursive: true, force: true });
    }
  }

  /** Runs a management command whose output is ours; throws on failure. */
  private async command(command: string, args: string[], id?: string, input?: string): Promise<string> {
    const r = await this.runc([command, ...args], { captureStdout: true, input });
    if (r.code !== 0) throw runcError(command, r.logErrors.at(-1) ?? r.stderr, id);
    return r.stdout;
  }

  private createArgs(opts: CreateOptions): string[] {
    const args = ["--bundle", path.resolve(opts.bundle)];
    if (opts.consoleSocket) args.push("--console-socket", path.resolve(opts.consoleSocket));
    if (opts.pidFile) args.push("--pid-file", path.resolve(opts.pidFile));
    if (opts.noPivot) args.push("--no-pivot");
    if (opts.preserveFds) args.push("--preserve-fds", String(opts.preserveFds));
    return args;
  }

  async create(id: string, opts: CreateOptions): Promise<ContainerState> {
    if (opts.io) {
      if (!this.monitorRoot) throw invalid("runc: engine mode (io) needs a monitor root", { code: "runc.no-monitor-root" });
      return this.createMonitored(id, opts, this.monitorRoot);
    }
    const r = await this.runc(["create", ...this.createArgs(opts), id], { stdio: opts.stdio, preserveFds: opts.preserveFds });
    if (r.code !== 0) throw runcError("create", r.logErrors.at(-1) ?? `exit status ${r.code}`, id);
    return this.state(id);
  }

  async start(id: string): Promise<void> {
    await this.command("start", [id], id);
  }

  async run(id: string, opts: CreateOptions): Promise<ProcessExit> {
    const r = await this.runc(["run", ...this.createArgs(opts), id], { stdio: opts.stdio, preserveFds: opts.preserveFds });
    if (r.logErrors.length > 0) {
      // runc itself failed (the process's own failures are not logged); make sure nothing stays
      await this.runc(["delete", "--force", id], { captureStdout: true }).catch(ignoring(`delete runc container ${id} after its run failed`));
      throw runcError("run", r.logErrors.at(-1)!, id);
    }
    const sig = r.code > 128 && r.code <= 128 + 64 ? r.code - 128 : 0;
    return { code: r.code, signal: sig };
  }

  async state(id: string): Promise<ContainerState> {
    return JSON.parse(await this.command("state", [id], id)) as ContainerState;
  }

  async list(): Promise<ContainerState[]> {
    const out = await this.command("list", ["--format", "json"]);
    const parsed = JSON.parse(out.trim() || "null") as ContainerState[] | null;
    return (parsed ?? []).sort((a, b) => a.id.localeCompare(b.id));
  }

  async kill(id: string, signal: NodeJS.Signals | number, opts: { all?: boolean } = {}): Promise<void> {
    await this.command("kill", [...(opts.all ? ["--all"] : []), id, String(parseSignal(signal))], id);
  }

  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const dir = this.monitorDir(id);
    const monitored = dir !== undefined && existsSync(dir);
    let cgroupsPath: string | undefined;
    if (monitored) cgroupsPath = (await readIfExists(path.join(dir, CGROUPS_PATH_FILE))) ?? (await this.cgroupsPathOf((await this.stateIfKnown(id))?.bundle));
    try {
      await this.command("delete", [...(opts.force ? ["--force"] : []), id], id);
    } catch (err) {
      // as for cove's runtime: deleting with force what runc no longer knows succeeds
      if (!(opts.force && err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    if (!monitored) return;
    // let the monitor record the exit of a process runc just killed before its directory goes
    for (let i = 0; i < 40 && !existsSync(path.join(dir, StateFile.EXIT)) && existsSync(path.join(dir, StateFile.INIT_PID)); i++) await sleep(50);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    // the parent a daemon made (/cove, /cove-<tag>) goes with its last container, as with cove's runtime
    try {
      const cg = await cgroupManager({ id, cgroupsPath });
      for (const parent of new Set(Object.values(cg.paths).map((p) => path.dirname(p)))) {
        if (isInstanceCgroupParent(path.basename(parent))) await removeSharedParent(parent);
      }
    } catch (err) {
      // the container is deleted; only the tidying of its parent cgroup failed
      ignored(`find the cgroups of runc container ${id} to tidy their parent`, err);
    }
  }

  /** Polls until the container is stopped; the exit status is not available from runc (-1). */
  async wait(id: string): Promise<ProcessExit> {
    const dir = this.monitorDir(id);
    if (dir !== undefined && existsSync(dir)) return this.waitMonitored(id, dir);
    for (;;) {
      let st: ContainerState;
      try {
        st = await this.state(id);
      } catch (err) {
        if (err instanceof CoveError && err.kind === "not-found") return { code: -1, signal: 0 };
        throw err;
      }
      if (st.status === "stopped") return { code: -1, signal: 0 };
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecHandle> {
    const monitorDir = this.monitorDir(id);
    if (opts.io && monitorDir && existsSync(monitorDir)) return this.execMonitored(id, opts, monitorDir);
    const dir = await mkdtemp(path.join(tmpdir(), "cove-runc-exec-"));
    const processFile = path.join(dir, "process.json");
    const pidFile = opts.pidFile ? path.resolve(opts.pidFile) : path.join(dir, "pid");
    await writeFile(processFile, JSON.stringify(opts.process), { mode: 0o600 });
    const args = ["exec", "--process", processFile, "--pid-file", pidFile];
    if (opts.consoleSocket) args.push("--console-socket", path.resolve(opts.consoleSocket));
    if (opts.preserveFds) args.push("--preserve-fds", String(opts.preserveFds));
    args.push(id);
    let finished = false;
    const result = this.runc(args, { stdio: opts.stdio, preserveFds: opts.preserveFds }).finally(() => {
      finished = true;
    });
    // only marks the rejection handled while the loop below polls: `result` is awaited after it
    result.catch(() => undefined);
    // the pid file appears once the process runs; a failing exec ends runc first
    let pid = 0;
    for (;;) {
      try {
        const text = await readFile(pidFile, "utf8");
        if (text.trim()) {
          pid = Number(text.trim());
          break;
        }
      } catch (err) {
        // ENOENT: not yet; runc ending without a pid file is reported below
        if (!isErrno(err, "ENOENT")) ignored(`read the pid file ${pidFile} of an exec in runc container ${id}`, err);
      }
      if (finished) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!pid) {
      const r = await result.finally(() => rm(dir, { recursive: true, force: true }));
      throw runcError("exec", r.logErrors.at(-1) ?? r.stderr ?? `exit status ${r.code}`, id);
    }
    const exited = result
      .then((r): ProcessExit => {
        if (r.logErrors.length > 0 && r.code !== 0) throw runcError("exec", r.logErrors.at(-1)!, id);
        return { code: r.code, signal: r.code > 128 && r.code <= 128 + 64 ? r.code - 128 : 0 };
      })
      .finally(() => rm(dir, { recursive: true, force: true }));
    return { pid, exited, kill: (signal) => signalPid(pid, signal) };
  }

  async pause(id: string): Promise<void> {
    await this.command("pause", [id], id);
  }

  async resume(id: string): Promise<void> {
    await this.command("resume", [id], id);
  }

  async update(id: string, resources: LinuxResources): Promise<void> {
    await this.command("update", ["--resources", "-", id], id, JSON.stringify(resources));
  }

  async ps(id: string): Promise<number[]> {
    const out = await this.command("ps", ["--format", "json", id], id);
    return ((JSON.parse(out.trim() || "[]") as number[] | null) ?? []).sort((a, b) => a - b);
  }

  /**
   * The container's cgroup counters, read from the cgroup runc made (the bundle's cgroupsPath), so
   * they have the shape cove's runtime gives (`runc events --stats` has another).
   */
  async stats(id: string): Promise<RuntimeStats> {
    const st = await this.state(id);
    return (await cgroupManager({ id, cgroupsPath: await this.cgroupsPathOf(st.bundle) })).stats();
  }
}

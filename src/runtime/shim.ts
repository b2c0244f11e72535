// Starting the native monitor (build/cove-shim) on a plan and following its reports: lines on a
// socket (--report-fd), whose verbs and fields src/native/protocol.ts defines (REPORTS); a sync is
// answered with one of SYNC_ANSWERS.

import { closeSync, existsSync, openSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { constants as osConstants } from "node:os";
import path from "node:path";
import { getSystemErrorMap } from "node:util";
import { fileURLToPath } from "node:url";
import { CoveError, systemError } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { span } from "../common/trace.js";
import { addon } from "../native/addon.js";
import { Report, SYNC_ANSWERS } from "../native/protocol.js";
import { encodePlan, opName, type PlanOp } from "./plan/ops.js";

let shimPathCache: string | undefined;

/** Where the built shim lives: build/cove-shim at the package root (COVE_SHIM overrides). */
export function shimPath(): string {
  if (process.env.COVE_SHIM) return process.env.COVE_SHIM;
  if (shimPathCache) return shimPathCache;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, "build", "cove-shim");
    if (existsSync(path.join(dir, "package.json")) && existsSync(candidate)) return (shimPathCache = candidate);
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new CoveError("unsupported", "the native shim build/cove-shim is missing", {
    code: "shim.missing",
    hint: "run `npm run build` in the cove package (needs gcc)",
  });
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

export interface ShimEvents {
  /** The init exists (pid in the host's pid namespace); setup continues. */
  onPid?(pid: number): void;
  /** The init waits at a sync point; resolve to continue, reject to abort the create. */
  onSync?(name: string, pid: number): Promise<void>;
}

export interface ShimExit {
  code: number;
  signal: number;
}

export interface ShimHandle {
  shimPid: number;
  pid: number;
  /** Resolves when the process has been exec'd (autostart) or at once otherwise. */
  started: Promise<void>;
  /** Resolves when the container process exits, while this handle is still attached. */
  exited: Promise<ShimExit>;
  /** Stops following the shim; it keeps running and records the exit in the state dir. */
  detach(): void;
}

export interface LaunchOptions extends ShimEvents {
  planFile: string;
  ops: readonly PlanOp[];
  /** stdio for the container: "inherit" passes the caller's, "ignore" gives /dev/null. */
  stdio?: "inherit" | "ignore" | [number | "inherit" | "ignore", number | "inherit" | "ignore", number | "inherit" | "ignore"];
  /** Wait for the "started" report before resolving (plans with OP_AUTOSTART). */
  waitStarted?: boolean;
  /** The caller's fds 3..3+n-1 go to the same numbers in the container (runc --preserve-fds). */
  preserveFds?: number;
}

/** Describes a failure the shim reported as (op index, errno, detail). */
export function shimFailure(ops: readonly PlanOp[], index: number, errno: number, detail: string): CoveError {
  const o = index >= 0 ? ops[index] : undefined;
  const name = errnoName(errno);
  const what = o ? o.what : "container setup";
  let hint: string | undefined;
  if (o && opName(o.code) === "RESOLVE") {
    // runc's words: a name looked up in $PATH is "not found", a path that cannot be stat'ed says why
    const cmd = String(o.args[0]);
    const message =
      errno === osConstants.errno.EACCES
        ? `exec: "${cmd}": permission denied`
        : cmd.includes("/")
          ? `exec: "${cmd}": stat ${cmd}: ${getSystemErrorMap().get(-errno)?.[1] ?? name}`
          : `exec: "${cmd}": executable file not found in $PATH`;
    return new CoveError("invalid", message, {
      code: errno === 2 ? "exec.not-found" : "exec.permission-denied",
      errno: name,
      field: "process.args",
    });
  }
  if (name === "EPERM" && o && opName(o.code) === "RLIMIT") hint = "raising a hard limit needs CAP_SYS_RESOURCE, which this host does not grant: lower the limit";
  if (name === "EACCES" && o && opName(o.code) === "OOM_SCORE_ADJ") hint = "lowering oom_score_adj needs CAP_SYS_RESOURCE: use a value at or above the caller's";
  const text = detail && detail !== what ? `${what}: ${detail}: ${name}` : `${what}: ${name}`;
  // a set-up step that fails is the runtime's failure, whatever its errno (a missing mount source is no missing container)
  return new CoveError("system", `container init failed at step ${index} (${o ? opName(o.code).toLowerCase() : "setup"}): ${text}`, {
    code: "runtime.init-failed",
    errno: name,
    ...(hint ? { hint } : {}),
  });
}

/** The sealed copies made, by the shim's path (COVE_SHIM may name another). */
const sealedShims = new Map<string, string>();

/**
 * What monitors are started from: one sealed in-memory copy of the shim for this process, as
 * /proc/self/fd/N. A shim started from the file on disk copies itself into a sealed memfd of its
 * own (so that no container can overwrite it through /proc/PID/exe, CVE-2019-5736): 0.27 MB of
 * shared memory per running container, 2.7 GB at 10,000. Started from this one, they all share
 * its pages. Where it cannot be made, the file is used (each shim then makes its own copy).
 */
function shimExecutable(): string {
  const file = shimPath();
  let exec = sealedShims.get(file);
  if (exec === undefined) {
    try {
      exec = `/proc/self/fd/${addon().sealedCopy(file)}`;
    } catch (err) {
      ignored(`make a sealed copy of ${file} for the monitors to share`, err);
      exec = file;
    }
    sealedShims.set(file, exec);
  }
  return exec;
}

export async function launchShim(opts: LaunchOptions): Promise<ShimHandle> {
  // the state root is normally tmpfs (/run): write the plan synchronously
  writeFileSync(opts.planFile, encodePlan(opts.ops), { mode: 0o600 });
  const stdio = opts.stdio ?? "ignore";
  const base = typeof stdio === "string" ? [stdio, stdio, stdio] : stdio;
  const preserved = Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i);
  const reportFd = 3 + preserved.length;
  // The shim is started (and reaped) by the addon, not child_process: Node forks the whole daemon
  // for every spawn, which blocks the event loop for milliseconds that grow with its memory.
  const [ours, theirs] = addon().socketpair();
  let devNull: number | undefined;
  let shimPid: number;
  try {
    const fds = base.map((s, i) => (s === "inherit" ? i : s === "ignore" ? (devNull ??= openSync("/dev/null", "r+")) : s));
    // the event loop waits here until the shim has been exec'd (a vfork-style clone)
    const endSpawn = span("runtime.spawn");
    shimPid = addon().spawnDetached(shimExecutable(), [shimPath(), "--report-fd", String(reportFd), opts.planFile], [...fds, ...preserved, theirs]);
    endSpawn();
  } catch (err) {
    closeSync(ours);
    throw systemError(`cannot start the shim ${shimPath()}: ${(err as Error).message}`, { cause: err });
  } finally {
    closeSync(theirs);
    if (devNull !== undefined) closeSync(devNull);
  }
  const report = new Socket({ fd: ours, readable: true, writable: true });
  let buffered = "";
  let pid = 0;
  let resolveCreated!: (v: void) => void;
  let rejectCreated!: (e: unknown) => void;
  const created = new Promise<void>((res, rej) => ((resolveCreated = res), (rejectCreated = rej)));
  let resolveStarted!: () => void;
  let rejectStarted!: (e: unknown) => void;
  const started = new Promise<void>((res, rej) => ((resolveStarted = res), (rejectStarted = rej)));
  let resolveExit!: (e: ShimExit) => void;
  let rejectExit!: (e: unknown) => void;
  const exited = new Promise<ShimExit>((res, rej) => ((resolveExit = res), (rejectExit = rej)));
  // a caller that awaits these sees their failure; the handlers only keep one not awaited (an
  // exec without waitStarted, a detached monitor) from being an unhandled rejection
  started.catch(() => undefined);
  exited.catch(() => undefined);
  let isCreated = false;
  let failed: CoveError | undefined;

  const handleLine = (line: string) => {
    const [kind, ...rest] = line.split(" ");
    if (kind === Report.PID) {
      pid = Number(rest[0]);
      opts.onPid?.(pid);
    } else if (kind === Report.SYNC) {
      const name = rest.join(" ");
      const answer = opts.onSync ? opts.onSync(name, pid) : Promise.resolve();
      answer.then(
        () => report.write(`${SYNC_ANSWERS.OK}\n`),
        (err) => {
          failed = err instanceof CoveError ? err : systemError(`${name} hooks failed: ${(err as Error).message}`, { cause: err });
          report.write(`${SYNC_ANSWERS.ABORT}\n`);
        },
      );
    } else if (kind === Report.CREATED) {
      pid = Number(rest[0]);
      isCreated = true;
      resolveCreated();
      if (!opts.waitStarted) resolveStarted();
    } else if (kind === Report.STARTED) {
      resolveStarted();
    } else if (kind === Report.ERROR) {
      const index = Number(rest[0]);
      const errno = Number(rest[1]);
      const err = failed ?? shimFailure(opts.ops, index, errno, rest.slice(2).join(" "));
      if (!isCreated) rejectCreated(err);
      rejectStarted(err);
    } else if (kind === Report.EXIT) {
      resolveStarted(); // a process that exits has started, whatever order the reports came in
      resolveExit({ code: Number(rest[0]), signal: Number(rest[1]) });
    }
  };
  report.setEncoding("utf8");
  report.on("data", (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      handleLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
  report.on("error", () => undefined);
  // The socket closes only when the shim exits, after every line it wrote has been read.
  report.once("close", () => {
    const err = failed ?? new CoveError("system", "the shim exited before the container was created", { code: "shim.died" });
    if (!isCreated) rejectCreated(err);
    rejectStarted(err);
    rejectExit(new CoveError("system", "the shim exited without reporting the container's exit status", { code: "shim.died" }));
  });
  await created;
  if (opts.waitStarted) await started;
  return {
    shimPid,
    pid,
    started,
    exited,
    detach() {
      report.removeAllListeners("data");
      report.destroy();
    },
  };
}

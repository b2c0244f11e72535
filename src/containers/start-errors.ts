// A failed start or exec launch in Docker's words, and the exit code Docker records for it.

import { CoveError } from "../common/errors.js";

/** A start that failed because the command is missing or cannot be run (the runtime says so in its code). */
function isExecFailure(err: CoveError): boolean {
  return err.code === "exec.not-found" || err.code === "exec.permission-denied";
}

/**
 * A runtime's create/start failure in Docker's words ("OCI runtime create failed: ..."), which the
 * docker CLI reads to pick its exit code (127 for a missing command, 126 for one it cannot run);
 * with phase "exec", an exec's launch failure as dockerd words it ("OCI runtime exec failed: exec
 * failed: unable to start container process: ...").
 * The kind comes from what the runtime knew (its error code and errno), as moby's
 * translateContainerdStartErr decides: the caller's fault (400) for a command that is missing or
 * cannot run, or a mount of a directory onto a file; the engine's (500) otherwise, never "not found".
 */
export function ociStartError(err: unknown, runtime: string, phase: "create" | "exec" = "create"): unknown {
  if (!(err instanceof CoveError) || err.message.startsWith("OCI runtime")) return err;
  let detail = err.message;
  if (runtime === "runc") detail = detail.replace(phase === "exec" ? /^runc exec [^:]*: / : /^runc (create|start) [^:]*: /, "");
  else if (isExecFailure(err)) detail = `${phase === "exec" ? "exec failed: " : ""}unable to start container process: ${detail}`;
  let kind = err.kind === "not-found" ? "system" : err.kind;
  if (isExecFailure(err)) kind = "invalid";
  else if (err.errno === "ENOTDIR") {
    kind = "invalid";
    detail += ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type";
  }
  // containerd's gRPC status ends an exec's failure with its code, and clients show it so
  if (phase === "exec") detail += ": unknown";
  return new CoveError(kind, `OCI runtime ${phase} failed: ${detail}`, { code: err.code, cause: err, ...(err.errno ? { errno: err.errno } : {}), ...(err.hint ? { hint: err.hint } : {}) });
}

/** The exit code Docker records for a start that failed: 127 not found, 126 cannot be run, 128 otherwise. */
export function exitCodeOfStartError(err: unknown): number {
  if (!(err instanceof CoveError)) return 128;
  if (err.code === "exec.not-found" || err.errno === "ENOTDIR") return 127;
  if (err.code === "exec.permission-denied" || err.errno === "EACCES") return 126;
  return 128;
}

/**
 * The exit code an exec that could not be launched reports (moby's setExitCodeFromError): 127 for
 * a command not found, else 126, the default for any failed launch.
 */
export function exitCodeOfExecError(err: unknown): number {
  return exitCodeOfStartError(err) === 127 ? 127 : 126;
}

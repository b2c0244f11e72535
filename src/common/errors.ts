// The closed set of error kinds cove raises. Every layer throws CoveError with one of these kinds;
// the daemon maps kinds to HTTP statuses and the CLI to exit codes in one place (httpStatus,
// below), so a handler never picks a status code itself.

export type ErrorKind =
  | "invalid" // the caller's input is wrong: bad config, bad flag, bad reference (400)
  | "not-found" // the named object does not exist (404)
  | "conflict" // the object exists, is in use or in the wrong state (409)
  | "unauthorized" // credentials are missing or wrong, e.g. a registry login (401)
  | "forbidden" // the operation is refused by policy (403)
  | "too-large" // a request is larger than the daemon accepts, e.g. a JSON body of many MB (413)
  | "timeout" // a client took too long to send its request (408)
  | "unsupported" // the host or build lacks a feature (501)
  | "unavailable" // a dependency (daemon, registry) cannot be reached (503)
  | "upstream" // a registry or its token server refused the request (wrong credentials): Docker answers these with a 500
  | "system"; // the kernel or the filesystem refused (500)

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  "not-found": 404,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  "too-large": 413,
  timeout: 408,
  unsupported: 501,
  unavailable: 503,
  upstream: 500,
  system: 500,
};

export interface ErrorDetails {
  /** A stable machine-readable code, e.g. "config.invalid" or "cgroup.controller-missing". */
  code?: string;
  /** What the user can do about it. Printed after the message. */
  hint?: string;
  /** The underlying error (an errno error from the kernel, a parse error). */
  cause?: unknown;
  /** Field or path the error is about, e.g. "linux.namespaces[2].type". */
  field?: string;
  /** errno name when the kernel refused, e.g. "EPERM". */
  errno?: string;
}

export class CoveError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly hint?: string;
  readonly field?: string;
  readonly errno?: string;

  constructor(kind: ErrorKind, message: string, details: ErrorDetails = {}) {
    super(message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = "CoveError";
    this.kind = kind;
    this.code = details.code ?? kind;
    if (details.hint !== undefined) this.hint = details.hint;
    if (details.field !== undefined) this.field = details.field;
    if (details.errno !== undefined) this.errno = details.errno;
  }

  /** Message plus hint, as printed to a person. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }
}

export function httpStatus(err: unknown): number {
  return err instanceof CoveError ? STATUS[err.kind] : 500;
}

export const invalid = (message: string, details?: ErrorDetails) => new CoveError("invalid", message, details);
export const notFound = (message: string, details?: ErrorDetails) => new CoveError("not-found", message, details);
export const conflict = (message: string, details?: ErrorDetails) => new CoveError("conflict", message, details);
export const unsupported = (message: string, details?: ErrorDetails) => new CoveError("unsupported", message, details);
export const unavailable = (message: string, details?: ErrorDetails) => new CoveError("unavailable", message, details);
export const systemError = (message: string, details?: ErrorDetails) => new CoveError("system", message, details);

/** Wraps a Node errno error (ENOENT, EPERM, ...) with what cove was doing when it happened. */
export function fromErrno(err: unknown, doing: string, hint?: string): CoveError {
  if (err instanceof CoveError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const kind: ErrorKind = code === "ENOENT" ? "not-found" : code === "EEXIST" || code === "EBUSY" ? "conflict" : "system";
  const reason = code ? `${code}: ${e.message.replace(/^[A-Z]+: /, "")}` : String(e?.message ?? err);
  return new CoveError(kind, `${doing}: ${reason}`, { cause: err, errno: code, hint });
}

/**
 * A full disk (ENOSPC, raw or already wrapped without a hint), as a person can act on it: what
 * was being done, and where room must be made. Other errors come back as they were.
 */
export function diskFull(err: unknown, doing: string, stateRoot?: string): unknown {
  const errno = err instanceof CoveError ? err.errno : (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno !== "ENOSPC" || (err instanceof CoveError && err.hint)) return err;
  const message = err instanceof CoveError ? err.message : `${doing}: no space left on device`;
  return new CoveError("system", message, {
    cause: err,
    errno,
    code: "disk.full",
    hint: `free space on the file system of ${stateRoot ?? "cove's state root"} (cove system prune, or remove unused images, containers, volumes and logs), then try again`,
  });
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && codes.includes(code);
}

// Best-effort work: a cleanup, a rollback step or an optional probe whose failure must not stop
// the caller. What it ignored is never silent: it goes to one process-wide log, which the daemon
// points at its own log (setIgnoredLog) and which otherwise prints only with COVE_DEBUG set, so a
// CLI command or a library user sees no noise unless asked.

export type LogLine = (line: string) => void;

const debugLog: LogLine = (line) => {
  if (process.env.COVE_DEBUG) process.stderr.write(`cove: ${line}\n`);
};

let sink: LogLine = debugLog;

/** Sends what best-effort work ignored to `log` (the daemon's log); undefined restores the default. */
export function setIgnoredLog(log: LogLine | undefined): void {
  sink = log ?? debugLog;
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Logs something a best-effort cleanup did (a leftover it removed) to the same log. */
export function notice(line: string, log: LogLine = sink): void {
  log(line);
}

/** Records that `err` was ignored while doing `what` ("remove the bundle of c1"). */
export function ignored(what: string, err: unknown, log: LogLine = sink): void {
  log(`${what}: ${message(err)} (ignored)`);
}

/** Awaits `work`, logging and swallowing its failure. */
export async function bestEffort(what: string, work: Promise<unknown> | (() => unknown) | undefined, log: LogLine = sink): Promise<void> {
  try {
    await (typeof work === "function" ? work() : work);
  } catch (err) {
    ignored(what, err, log);
  }
}

/** Runs `work` synchronously, logging and swallowing its failure. */
export function bestEffortSync(what: string, work: () => unknown, log: LogLine = sink): void {
  try {
    work();
  } catch (err) {
    ignored(what, err, log);
  }
}

/**
 * A `.catch` handler for a promise that may fail without harm: `p.catch(ignoring("close the log"))`.
 * Resolves to undefined after logging.
 */
export function ignoring(what: string, log?: LogLine): (err: unknown) => undefined {
  return (err) => {
    ignored(what, err, log ?? sink);
    return undefined;
  };
}

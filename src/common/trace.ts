// Phase timings: where a container's create, start, exit and removal spend their time, so that a
// slower `docker run` points at its phase (bench/engine.ts prints them). Off unless COVE_TRACE
// names a file; then every finished phase appends one JSON line to it:
//
//   {"phase":"runtime.clone","id":"<container id>","start":<epoch ms>,"ms":<duration>}
//
// The file is opened for appending, so a daemon and the runtime processes it starts may share one
// (each line is one write(2), whole). When tracing is off, span() hands back one shared no-op, so
// the phases cost a call and a branch.

import { closeSync, openSync, writeSync } from "node:fs";

export interface TraceRecord {
  phase: string;
  /** The container (or runtime container) the phase belongs to; "" when it is not known yet. */
  id: string;
  /** When the phase began, in milliseconds since the epoch (fractional). */
  start: number;
  ms: number;
}

const NOOP = (): void => undefined;

let file: string | undefined = process.env.COVE_TRACE || undefined;
let fd: number | undefined;

/** Whether phases are being recorded. */
export function tracing(): boolean {
  return file !== undefined;
}

/** Records phases to `path` from now on (undefined stops); COVE_TRACE sets it at start-up. */
export function setTraceFile(path: string | undefined): void {
  if (fd !== undefined) closeSync(fd);
  fd = undefined;
  file = path || undefined;
}

const now = (): number => performance.timeOrigin + performance.now();

function write(rec: TraceRecord): void {
  try {
    fd ??= openSync(file!, "a", 0o600);
    writeSync(fd, JSON.stringify(rec) + "\n");
  } catch (err) {
    // a trace that cannot be written must not fail the work it measures: say so once, stop tracing
    process.emitWarning(`cove: COVE_TRACE ${file}: ${(err as Error).message}; phase timings are off`);
    file = undefined;
  }
}

/**
 * Starts timing `phase` of container `id`; call the result when the phase ends (with the id, when
 * the phase is what made it).
 */
export function span(phase: string, id = ""): (madeId?: string) => void {
  if (file === undefined) return NOOP;
  const start = now();
  return (madeId?: string) => {
    if (file !== undefined) write({ phase, id: madeId ?? id, start, ms: now() - start });
  };
}

/** Records a phase that began at `startMs` (epoch ms) and ends now. */
export function spanSince(phase: string, id: string, startMs: number): void {
  if (file !== undefined) write({ phase, id, start: startMs, ms: now() - startMs });
}

/** Times `work` as `phase` of container `id`, whether it succeeds or fails. */
export async function traced<T>(phase: string, id: string, work: () => Promise<T>): Promise<T> {
  if (file === undefined) return work();
  const end = span(phase, id);
  try {
    return await work();
  } finally {
    end();
  }
}

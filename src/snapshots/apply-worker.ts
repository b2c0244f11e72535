// A worker thread of the ApplyPool (apply-pool.ts): applies one layer blob at a time into a
// staging directory, off the daemon's main thread. Unpacking a layer is mostly the kernel's work
// (creating and writing files), done in synchronous calls; on the main thread two layers could
// only take turns. The layers below are asked of the main thread only when an entry needs them.

import { createReadStream } from "node:fs";
import { parentPort } from "node:worker_threads";
import { CoveError } from "../common/errors.js";
import { addon } from "../native/addon.js";
import { applyLayer } from "./apply.js";
import { READ_REPORT_BYTES, type ApplyJob, type FromWorker, type ToWorker, type WorkerError } from "./apply-pool.js";

const port = parentPort;
if (!port) throw new Error("apply-worker.js runs as a worker thread of the ApplyPool");

let lowersAnswer: ((m: Extract<ToWorker, { type: "lowers" }>) => void) | undefined;

function post(m: FromWorker): void {
  port!.postMessage(m);
}

function asWorkerError(err: unknown): WorkerError {
  if (err instanceof CoveError) {
    return { message: err.message, kind: err.kind, code: err.code, ...(err.hint !== undefined ? { hint: err.hint } : {}), ...(err.field !== undefined ? { field: err.field } : {}), ...(err.errno !== undefined ? { errno: err.errno } : {}) };
  }
  const e = err as NodeJS.ErrnoException;
  return { message: String(e?.message ?? err), ...(typeof e?.code === "string" ? { errno: e.code } : {}) };
}

/** The blob's bytes from its file, reported as read for the pull's "Extracting" progress. */
async function* fromFile(file: string): AsyncGenerator<Buffer> {
  const stream = createReadStream(file);
  let read = 0;
  let reported = 0;
  try {
    for await (const c of stream) {
      read += (c as Buffer).length;
      if (read - reported >= READ_REPORT_BYTES) {
        reported = read;
        post({ type: "read", bytes: read });
      }
      yield c as Buffer;
    }
    post({ type: "read", bytes: read });
  } finally {
    stream.destroy();
  }
}

/** Bytes the main thread sends as they come: chunks, then an end or an abort. */
interface Feed {
  chunks: Buffer[];
  ended: boolean;
  aborted?: string;
  wake?: () => void;
}
let fed: Feed | undefined;

/** The fed bytes; the feed is set up at once, since the chunks follow the job's message. */
function fromMessages(): AsyncGenerator<Buffer> {
  const q: Feed = { chunks: [], ended: false };
  fed = q;
  return drain(q);
}

async function* drain(q: Feed): AsyncGenerator<Buffer> {
  try {
    for (;;) {
      const c = q.chunks.shift();
      if (c) {
        // taken: the sender may send more
        post({ type: "consumed", bytes: c.length });
        yield c;
        continue;
      }
      if (q.aborted !== undefined) throw new Error(q.aborted);
      if (q.ended) return;
      await new Promise<void>((r) => (q.wake = r));
      q.wake = undefined;
    }
  } finally {
    if (fed === q) fed = undefined;
  }
}

async function apply(job: ApplyJob): Promise<void> {
  try {
    const blob = job.blob !== undefined ? fromFile(job.blob) : fromMessages();
    const result = await applyLayer(blob, job.dest, {
      compression: job.compression,
      ...(job.expectedDiffId !== undefined ? { expectedDiffId: job.expectedDiffId } : {}),
      lowerDirs: () =>
        new Promise<string[]>((resolve, reject) => {
          lowersAnswer = (m) => (m.error !== undefined ? reject(new CoveError("unavailable", m.error, { code: "layer.lowers-unavailable" })) : resolve(m.dirs ?? []));
          post({ type: "lowers" });
        }),
    });
    // measured here, off the main thread: the directory is renamed into its snapshot as it is
    const diskBytes = addon().diskUsage(job.dest);
    post({ type: "done", result: { ...result, diskBytes } });
  } catch (err) {
    post({ type: "failed", error: asWorkerError(err) });
  }
}

port.on("message", (m: ToWorker) => {
  if (m.type === "apply") void apply(m.job);
  else if (m.type === "chunk" || m.type === "end" || m.type === "abort") {
    const q = fed;
    if (!q) return; // the unpack failed already and stopped reading
    if (m.type === "chunk") q.chunks.push(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    else if (m.type === "end") q.ended = true;
    else q.aborted = m.message;
    q.wake?.();
  }
  else if (m.type === "lowers") {
    const answer = lowersAnswer;
    lowersAnswer = undefined;
    answer?.(m);
  }
});

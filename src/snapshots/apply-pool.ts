// Layers unpacked side by side on worker threads. A multi-layer pull downloads its layers in
// parallel and then unpacks them; unpacking is mostly the kernel creating and writing files from
// synchronous calls, so on one thread the layers can only take turns while the other cores wait.
// Each layer of an overlay stack is a directory of its own, so two can be unpacked at once into
// staging directories; only their commits are ordered, and a layer that needs the ones below it
// (a parent directory it does not list, a hardlink to a file below) asks for them and waits until
// they are committed.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { CoveError, fromErrno, type ErrorKind } from "../common/errors.js";
import type { ApplyResult } from "./apply.js";
import type { Compression } from "./compress.js";

/** One layer to unpack: its blob's file (or, without one, bytes sent as they come), and a directory (absent) to build it in. */
export interface ApplyJob {
  blob?: string;
  dest: string;
  compression: Compression;
  expectedDiffId?: string;
}

export interface StagedLayer extends ApplyResult {
  /** Disk bytes of the unpacked files (hard links once), measured as SnapshotStore.usage does. */
  diskBytes: number;
}

/** An error as it crosses from the worker: a CoveError's fields, or an errno error's. */
export interface WorkerError {
  message: string;
  kind?: ErrorKind;
  code?: string;
  hint?: string;
  field?: string;
  errno?: string;
}

export type ToWorker =
  | { type: "apply"; job: ApplyJob }
  | { type: "lowers"; dirs?: string[]; error?: string }
  | { type: "chunk"; data: Uint8Array }
  | { type: "end" }
  | { type: "abort"; message: string };
export type FromWorker = { type: "lowers" } | { type: "read"; bytes: number } | { type: "consumed"; bytes: number } | { type: "done"; result: StagedLayer } | { type: "failed"; error: WorkerError };

/** How often a worker reports the bytes it has read of a blob. */
export const READ_REPORT_BYTES = 512 * 1024;

/** Bytes of a streamed layer sent to its worker and not yet taken by its unpack: the sender waits beyond. */
const STREAM_AHEAD_BYTES = 8 * 1024 * 1024;

export interface ApplyRun {
  /** Reports how many bytes of the blob the worker has read (about every READ_REPORT_BYTES). */
  onRead?: (bytes: number) => void;
  /**
   * The blob's bytes as they come (a layer unpacked while it downloads), for a job without a blob
   * file. Such a job gets a worker at once, never waiting behind others: the layers above it may be
   * waiting for it.
   */
  source?: AsyncIterable<Buffer>;
}

/** How long an idle worker stays for the next layer before it ends. */
const IDLE_MS = 10_000;

function toError(e: WorkerError): Error {
  if (e.kind !== undefined) {
    return new CoveError(e.kind, e.message, { ...(e.code !== undefined ? { code: e.code } : {}), ...(e.hint !== undefined ? { hint: e.hint } : {}), ...(e.field !== undefined ? { field: e.field } : {}), ...(e.errno !== undefined ? { errno: e.errno } : {}) });
  }
  return fromErrno(Object.assign(new Error(e.message), e.errno !== undefined ? { code: e.errno } : {}), "applying layer");
}

export class ApplyPool {
  private idle: { worker: Worker; timer: NodeJS.Timeout }[] = [];
  private running = 0;
  private waiting: (() => void)[] = [];

  constructor(readonly size = Math.max(1, Math.min(4, availableParallelism()))) {}

  /**
   * Unpacks a layer into job.dest on a worker thread. lowerDirs is called only if the layer needs
   * the layers below (nearest first); until it settles the worker waits.
   */
  async apply(job: ApplyJob, lowerDirs: () => Promise<string[]>, opts: ApplyRun = {}): Promise<StagedLayer> {
    // first come, first served: a layer waits (for the layers below) only on layers that started
    // before it, so a pull never waits on itself (see the pull's unpack)
    const queued = opts.source === undefined;
    if (queued) {
      if (this.running >= this.size) await new Promise<void>((r) => this.waiting.push(r));
      else this.running++;
    }
    let worker: Worker | undefined;
    let healthy = false;
    try {
      worker = this.take();
      const result = await this.run(worker, job, lowerDirs, opts);
      healthy = true;
      return result;
    } catch (err) {
      // a CoveError came from the layer; anything else may have left the worker unusable
      healthy = err instanceof CoveError;
      throw err;
    } finally {
      if (worker) this.give(worker, healthy);
      if (queued) {
        // the slot goes straight to the next in line
        const next = this.waiting.shift();
        if (next) next();
        else this.running--;
      }
    }
  }

  /** Ends the idle workers (busy ones end when their layer is done). */
  close(): void {
    for (const { worker, timer } of this.idle.splice(0)) {
      clearTimeout(timer);
      void worker.terminate();
    }
  }

  private take(): Worker {
    const spare = this.idle.pop();
    if (spare) {
      clearTimeout(spare.timer);
      return spare.worker;
    }
    const worker = new Worker(new URL("./apply-worker.js", import.meta.url));
    worker.unref();
    return worker;
  }

  private give(worker: Worker, healthy: boolean): void {
    worker.removeAllListeners("message").removeAllListeners("error").removeAllListeners("exit");
    if (!healthy) {
      void worker.terminate();
      return;
    }
    const entry = { worker, timer: setTimeout(() => this.retire(worker), IDLE_MS) };
    entry.timer.unref();
    this.idle.push(entry);
  }

  private retire(worker: Worker): void {
    this.idle = this.idle.filter((e) => e.worker !== worker);
    void worker.terminate();
  }

  private run(worker: Worker, job: ApplyJob, lowerDirs: () => Promise<string[]>, opts: ApplyRun): Promise<StagedLayer> {
    let ahead = 0;
    let taken: (() => void) | undefined;
    let settled = false;
    const result = new Promise<StagedLayer>((resolve, reject) => {
      const end = (err?: Error, r?: StagedLayer) => {
        settled = true;
        taken?.();
        if (err) reject(err);
        else resolve(r!);
      };
      worker.on("message", (m: FromWorker) => {
        if (m.type === "read") opts.onRead?.(m.bytes);
        else if (m.type === "consumed") {
          ahead -= m.bytes;
          if (ahead < STREAM_AHEAD_BYTES) taken?.();
        } else if (m.type === "done") end(undefined, m.result);
        else if (m.type === "failed") end(toError(m.error));
        else
          lowerDirs().then(
            (dirs) => worker.postMessage({ type: "lowers", dirs } satisfies ToWorker),
            (err: unknown) => worker.postMessage({ type: "lowers", error: (err as Error).message } satisfies ToWorker),
          );
      });
      worker.on("error", (err) => end(new Error(`the layer unpack worker failed on ${job.blob ?? job.dest}: ${err.message}`)));
      worker.on("exit", (code) => end(new Error(`the layer unpack worker ended (exit code ${code}) while unpacking ${job.blob ?? job.dest}`)));
      worker.postMessage({ type: "apply", job } satisfies ToWorker);
    });
    const source = opts.source;
    if (source) {
      // the bytes as they come, never more than STREAM_AHEAD_BYTES ahead of the unpack
      void (async () => {
        try {
          for await (const chunk of source) {
            if (settled) return;
            worker.postMessage({ type: "chunk", data: chunk } satisfies ToWorker);
            ahead += chunk.length;
            while (ahead >= STREAM_AHEAD_BYTES && !settled) await new Promise<void>((r) => (taken = r));
            taken = undefined;
          }
          if (!settled) worker.postMessage({ type: "end" } satisfies ToWorker);
        } catch (err) {
          if (!settled) worker.postMessage({ type: "abort", message: (err as Error).message } satisfies ToWorker);
        }
      })();
    }
    return result;
  }
}

let shared: ApplyPool | undefined;

/** The process's pool (workers start on first use and end when idle). */
export function applyPool(): ApplyPool {
  shared ??= new ApplyPool();
  return shared;
}

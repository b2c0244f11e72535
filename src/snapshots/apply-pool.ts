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

/** One layer to unpack: its blob's file, and a directory (absent) to build it in. */
export interface ApplyJob {
  blob: string;
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

export type ToWorker = { type: "apply"; job: ApplyJob } | { type: "lowers"; dirs?: string[]; error?: string };
export type FromWorker = { type: "lowers" } | { type: "read"; bytes: number } | { type: "done"; result: StagedLayer } | { type: "failed"; error: WorkerError };

/** How often a worker reports the bytes it has read of a blob. */
export const READ_REPORT_BYTES = 512 * 1024;

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
   * Unpacks job.blob into job.dest on a worker thread. lowerDirs is called only if the layer needs
   * the layers below (nearest first); until it settles the worker waits. onRead reports how many
   * bytes of the blob it has read (about every READ_REPORT_BYTES).
   */
  async apply(job: ApplyJob, lowerDirs: () => Promise<string[]>, onRead?: (bytes: number) => void): Promise<StagedLayer> {
    // first come, first served: a layer waits (for the layers below) only on layers that started
    // before it, so a pull never waits on itself (see the pull's unpack)
    if (this.running >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    let worker: Worker | undefined;
    let healthy = false;
    try {
      worker = this.take();
      const result = await this.run(worker, job, lowerDirs, onRead);
      healthy = true;
      return result;
    } catch (err) {
      // a CoveError came from the layer; anything else may have left the worker unusable
      healthy = err instanceof CoveError;
      throw err;
    } finally {
      if (worker) this.give(worker, healthy);
      // the slot goes straight to the next in line
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
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

  private run(worker: Worker, job: ApplyJob, lowerDirs: () => Promise<string[]>, onRead?: (bytes: number) => void): Promise<StagedLayer> {
    return new Promise<StagedLayer>((resolve, reject) => {
      worker.on("message", (m: FromWorker) => {
        if (m.type === "read") onRead?.(m.bytes);
        else if (m.type === "done") resolve(m.result);
        else if (m.type === "failed") reject(toError(m.error));
        else
          lowerDirs().then(
            (dirs) => worker.postMessage({ type: "lowers", dirs } satisfies ToWorker),
            (err: unknown) => worker.postMessage({ type: "lowers", error: (err as Error).message } satisfies ToWorker),
          );
      });
      worker.on("error", (err) => reject(new Error(`the layer unpack worker failed on ${job.blob}: ${err.message}`)));
      worker.on("exit", (code) => reject(new Error(`the layer unpack worker ended (exit code ${code}) while unpacking ${job.blob}`)));
      worker.postMessage({ type: "apply", job } satisfies ToWorker);
    });
  }
}

let shared: ApplyPool | undefined;

/** The process's pool (workers start on first use and end when idle). */
export function applyPool(): ApplyPool {
  shared ??= new ApplyPool();
  return shared;
}

// Runs a build's stages side by side while showing their progress one stage after the other.
//
// Each task (a stage) starts once the tasks it needs have finished and one of `parallelism`
// slots is free; its events are kept until every earlier task's events have been passed on, so
// the stream reads as a sequential build does ("Step 3/9" after "Step 2/9") while the work
// overlaps. The first failure aborts the others through the signal they were given (their
// running containers are killed and removed by their own cleanup), the failed task's events not
// yet shown are passed on so that its output is seen, and once every task has settled the
// failure is thrown. A consumer that stops early aborts the tasks and waits for them too.

/** A unit of work that yields events and returns its result once the tasks it needs are done. */
export interface Task<E, R> {
  /** Positions of earlier tasks that must finish first. */
  deps: number[];
  /** The work; `signal` aborts when another task fails or the caller's signal aborts. */
  run(signal: AbortSignal): AsyncGenerator<E, R>;
}

/** At most `n` holders at a time; waiters are served in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(n: number) {
    this.free = Math.max(1, Math.floor(n));
  }

  acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener("abort", abort);
        resolve();
      };
      const abort = () => {
        const at = this.waiting.indexOf(grant);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason as Error);
      };
      this.waiting.push(grant);
      signal.addEventListener("abort", abort, { once: true });
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** Runs the tasks (each task's deps come before it); yields their events in task order; returns their results. */
export async function* runInOrder<E, R>(tasks: readonly Task<E, R>[], opts: { parallelism: number; signal?: AbortSignal }): AsyncGenerator<E, R[]> {
  for (const [i, t] of tasks.entries()) {
    for (const d of t.deps) if (!(d >= 0 && d < i)) throw new RangeError(`task ${i} depends on task ${d}, which does not come before it`);
  }
  const ctl = new AbortController();
  const forward = () => ctl.abort(opts.signal!.reason);
  if (opts.signal?.aborted) ctl.abort(opts.signal.reason);
  else opts.signal?.addEventListener("abort", forward, { once: true });

  const queues = tasks.map(() => ({ events: [] as E[], finished: false }));
  let wake = () => undefined as void;
  let changed = new Promise<void>((r) => (wake = r));
  const notify = () => {
    const w = wake;
    changed = new Promise<void>((r) => (wake = r));
    w();
  };
  let failure: { at: number; error: unknown } | undefined;
  const slots = new Slots(opts.parallelism);
  const results: Promise<R>[] = [];
  for (const [i, task] of tasks.entries()) {
    const q = queues[i]!;
    results[i] = (async () => {
      await Promise.all(task.deps.map((d) => results[d]!));
      await slots.acquire(ctl.signal);
      try {
        const gen = task.run(ctl.signal);
        for (;;) {
          const r = await gen.next();
          if (r.done) return r.value;
          q.events.push(r.value);
          notify();
        }
      } finally {
        slots.release();
      }
    })();
    // a dependency's rejection handler was attached first: the first failure recorded is the
    // task where it happened, not one that only waited for it
    results[i]!.then(
      () => {
        q.finished = true;
        notify();
      },
      (error: unknown) => {
        if (!failure) {
          failure = { at: i, error };
          ctl.abort(error);
        }
        q.finished = true;
        notify();
      },
    );
  }

  let settled = false;
  try {
    let shown = 0;
    for (const q of queues) {
      for (;;) {
        while (q.events.length > 0) yield q.events.shift()!;
        if (failure || q.finished) break;
        await changed;
      }
      if (failure) break;
      shown++;
    }
    if (failure) {
      // the failed task's lines still held (its step and output), then its error
      const f = failure as { at: number; error: unknown };
      if (f.at >= shown) for (const e of queues[f.at]!.events.splice(0)) yield e;
      await Promise.allSettled(results);
      settled = true;
      throw f.error;
    }
    const out = await Promise.all(results);
    settled = true;
    return out;
  } finally {
    opts.signal?.removeEventListener("abort", forward);
    if (!settled) {
      ctl.abort(new Error("the build stopped"));
      await Promise.allSettled(results);
    }
  }
}

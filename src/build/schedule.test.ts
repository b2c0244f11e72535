import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runInOrder, type Task } from "./schedule.js";
import { neededStages, stageDependencies } from "./stage-graph.js";
import type { Stage } from "./steps.js";

/** A promise and its resolve, to order tasks by hand instead of by time. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

/** Settles when the signal aborts (at once when it has). */
const abortOf = (signal: AbortSignal) => new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener("abort", () => r(), { once: true })));

async function collect<E, R>(gen: AsyncGenerator<E, R>): Promise<{ events: E[]; result: R }> {
  const events: E[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { events, result: r.value };
    events.push(r.value);
  }
}

describe("runInOrder", () => {
  it("runs independent tasks at once and shows their events task after task", async () => {
    // each task waits until the other has started: serialized, neither could finish
    const aStarted = gate();
    const bStarted = gate();
    const tasks: Task<string, string>[] = [
      {
        deps: [],
        async *run() {
          yield "a1";
          aStarted.open();
          await bStarted.promise;
          yield "a2";
          return "A";
        },
      },
      {
        deps: [],
        async *run() {
          yield "b1";
          bStarted.open();
          await aStarted.promise;
          yield "b2";
          return "B";
        },
      },
    ];
    const { events, result } = await collect(runInOrder(tasks, { parallelism: 2 }));
    assert.deepEqual(events, ["a1", "a2", "b1", "b2"]);
    assert.deepEqual(result, ["A", "B"]);
  });

  it("starts a task only when the tasks it needs are done, and at most `parallelism` at a time", async () => {
    let running = 0;
    let most = 0;
    const order: string[] = [];
    const task = (name: string, deps: number[]): Task<string, string> => ({
      deps,
      async *run() {
        running++;
        most = Math.max(most, running);
        order.push(`start ${name}`);
        await Promise.resolve();
        yield name;
        order.push(`end ${name}`);
        running--;
        return name;
      },
    });
    const { events } = await collect(runInOrder([task("a", []), task("b", []), task("c", [0, 1]), task("d", [])], { parallelism: 2 }));
    assert.deepEqual(events, ["a", "b", "c", "d"]);
    assert.equal(most, 2);
    assert.ok(order.indexOf("start c") > order.indexOf("end a") && order.indexOf("start c") > order.indexOf("end b"), order.join(", "));
  });

  it("a failure aborts the other tasks, shows the failed task's held events, waits for every task, and throws the failure", async () => {
    const bStarted = gate();
    let aCleaned = false;
    const tasks: Task<string, string>[] = [
      {
        deps: [],
        async *run(signal) {
          yield "a1";
          try {
            await abortOf(signal);
            throw new Error("aborted");
          } finally {
            await Promise.resolve();
            aCleaned = true;
          }
          return "A";
        },
      },
      {
        deps: [],
        async *run() {
          bStarted.open();
          yield "b1";
          throw new Error("b failed");
        },
      },
      { deps: [1], async *run() { yield "never"; return "C"; } },
    ];
    const events: string[] = [];
    await assert.rejects(async () => {
      for await (const e of runInOrder(tasks, { parallelism: 3 })) events.push(e);
    }, /b failed/);
    assert.deepEqual(events, ["a1", "b1"]);
    assert.equal(aCleaned, true, "the aborted task finished its cleanup before the failure was thrown");
  });

  it("the caller's abort stops every task", async () => {
    const ctl = new AbortController();
    const tasks: Task<string, string>[] = [
      {
        deps: [],
        async *run(signal) {
          yield "a";
          ctl.abort(new Error("Ctrl-C"));
          signal.throwIfAborted();
          return "A";
        },
      },
      {
        deps: [],
        async *run(signal) {
          yield "b";
          await abortOf(signal);
          signal.throwIfAborted();
          return "B";
        },
      },
    ];
    await assert.rejects(collect(runInOrder(tasks, { parallelism: 2, signal: ctl.signal })), /Ctrl-C/);
  });
});

describe("stage graph", () => {
  const st = (name: string, base: Stage["base"], from: string[] = []): Stage => ({ name, base, steps: from.map((f) => ({ kind: "copy", sources: ["/x"], dest: "/x", from: f })) });
  it("finds FROM and COPY --from of earlier stages by name or index; image names are no dependency", () => {
    const stages = [st("a", { image: "busybox" }), st("b", { image: "busybox" }), st("c", { stage: "a" }, ["B", "busybox"]), st("d", { image: "busybox" }, ["0"])];
    const deps = stageDependencies(stages);
    assert.deepEqual(deps, [[], [], [0, 1], [0]]);
    assert.deepEqual(neededStages(deps, 2), [0, 1, 2]);
    assert.deepEqual(neededStages(deps, 3), [0, 3]);
  });
});

// `run` in the foreground (exit status and stdio pass through), --detach, --keep, --pid-file
// (create and run), --no-pivot, and --preserve-fds.

import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ProbeReport } from "../fixtures/bundle.js";
import { differential, isAlive, QUICK, setArgs } from "./harness.js";

differential("runtime CLI: run in the foreground, --detach, --keep, --pid-file, --no-pivot", async (s) => {
  const b = await s.bundle();
  await setArgs(b, ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
  const fg = await s.cli(["run", "--bundle", b.dir, s.id("fg")]);
  assert.equal(fg.code, 3, `the container's exit status is run's: ${fg.stderr}`);
  assert.equal(fg.stdout, "to-stdout\n");
  assert.match(fg.stderr, /to-stderr/);
  assert.equal(await s.ok(["list", "-q"]), "", "a foreground run without --keep leaves nothing behind");

  // --keep: the stopped container stays listed until deleted
  await setArgs(b, ["true"]);
  const kept = s.id("keep");
  const keep = await s.cli(["run", "--keep", "--bundle", b.dir, kept]);
  assert.equal(keep.code, 0, keep.stderr);
  const listed = JSON.parse(await s.ok(["list", "--format", "json"])) as { id: string; status: string }[];
  assert.deepEqual(listed.map((c) => [c.id, c.status]), [[kept, "stopped"]]);
  await s.ok(["delete", kept]);

  // --detach with --pid-file: returns at once, the container runs, the file holds the init's pid
  await setArgs(b, ["sleep", "600"]);
  const d = s.id("det");
  const pidFile = path.join(s.base, "run.pid");
  const started = Date.now();
  const det = await s.cli(["run", "--detach", "--pid-file", pidFile, "--bundle", b.dir, d], { timeoutMs: QUICK });
  assert.equal(det.timedOut, false, `\`${det.line}\` must return once the container runs (killed after ${QUICK} ms)`);
  assert.equal(det.code, 0, det.stderr);
  assert.ok(Date.now() - started < QUICK);
  const st = await s.state(d);
  assert.equal(st.status, "running");
  assert.equal(readFileSync(pidFile, "utf8").trim(), String(st.pid), "--pid-file holds the init's host pid");
  assert.ok(isAlive(st.pid as number));
  await s.ok(["delete", "--force", d]);
  assert.ok(!isAlive(st.pid as number), "delete --force kills the init");

  // create --pid-file
  const c = s.id("cpf");
  const cPidFile = path.join(s.base, "create.pid");
  const cr = await s.cli(["create", "--pid-file", cPidFile, "--bundle", b.dir, c], { timeoutMs: QUICK });
  assert.equal(cr.timedOut, false, `\`${cr.line}\` must return once the container is created`);
  assert.equal(cr.code, 0, cr.stderr);
  assert.equal(readFileSync(cPidFile, "utf8").trim(), String((await s.state(c)).pid));
  await s.ok(["delete", "--force", c]);

  // --no-pivot: the process still runs in the bundle's rootfs
  await setArgs(b, ["sh", "-c", "test -x /probe && test ! -e /work && echo in-rootfs"]);
  const np = await s.cli(["run", "--no-pivot", "--bundle", b.dir, s.id("np")]);
  assert.equal(np.code, 0, np.stderr);
  assert.equal(np.stdout, "in-rootfs\n");
  return { fg: fg.code, keep: keep.code, noPivot: np.stdout };
});

differential("runtime CLI: --preserve-fds passes the caller's extra fds", async (s) => {
  const b = await s.bundle();
  await setArgs(b, ["/probe"]);
  const extra = [path.join(s.base, "fd3"), path.join(s.base, "fd4")];
  const fds = extra.map((f) => openSync(f, "w"));
  try {
    const probeFds = async (preserve: string[]) => {
      const r = await s.cli(["run", ...preserve, "--bundle", b.dir, s.id("pf")], { extraFds: fds });
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout.split("\n").find((l) => l.startsWith("{"))!) as ProbeReport;
      return report.fds;
    };
    const without = await probeFds([]);
    assert.deepEqual(without, [0, 1, 2], "without --preserve-fds the process has only 0, 1, 2");
    const with2 = await probeFds(["--preserve-fds", "2"]);
    assert.deepEqual(with2, [0, 1, 2, 3, 4], "--preserve-fds 2 adds 3 and 4");
    const with1 = await probeFds(["--preserve-fds", "1"]);
    assert.deepEqual(with1, [0, 1, 2, 3]);
    // they are the caller's files, not copies
    await setArgs(b, ["sh", "-c", "echo three >&3; echo four >&4"]);
    const w = await s.cli(["run", "--preserve-fds", "2", "--bundle", b.dir, s.id("pw")], { extraFds: fds });
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual(extra.map((f) => readFileSync(f, "utf8")), ["three\n", "four\n"]);
    return { without, with2, with1 };
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});

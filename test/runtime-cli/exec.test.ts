// `exec` through the command line: exit status, --env, --cwd, --user, --additional-gids, --cap,
// --detach with --pid-file, --process, and a missing command.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { differential, isAlive, QUICK, setArgs, waitFor } from "./harness.js";

/** A capability line of /proc/self/status, as hex. */
const capLine = (status: string, name: string) => new RegExp(`^${name}:\\s+(\\w+)$`, "m").exec(status)?.[1] ?? "";

differential("runtime CLI: exec", async (s) => {
  const b = await s.bundle();
  b.spec.process!.env = [...(b.spec.process!.env ?? []), "FROM_CONFIG=config"];
  await setArgs(b, ["sleep", "600"]);
  const id = s.id("ex");
  await s.ok(["run", "--detach", "--bundle", b.dir, id], { timeoutMs: QUICK });
  await s.waitStatus(id, "running");

  const status = await s.cli(["exec", id, "sh", "-c", "echo out; echo err >&2; exit 5"]);
  assert.equal(status.code, 5, `exec's status is the process's: ${status.stderr}`);
  assert.equal(status.stdout, "out\n");
  assert.match(status.stderr, /err/);

  const env = await s.ok(["exec", "--env", "FOO=bar", "--env", "FROM_CONFIG=overridden", id, "sh", "-c", 'echo "$FOO $FROM_CONFIG $PATH"']);
  assert.equal(env, `bar overridden ${b.spec.process!.env!.find((e) => e.startsWith("PATH="))!.slice(5)}\n`, "--env adds and overrides, the config's env stays");

  assert.equal(await s.ok(["exec", "--cwd", "/tmp", id, "pwd"]), "/tmp\n");

  const user = await s.ok(["exec", "--user", "1000:1000", id, "sh", "-c", "id -u; id -g; id -G"]);
  assert.equal(user, "1000\n1000\n1000\n", "--user sets uid and gid, with no other groups");
  const gids = await s.ok(["exec", "--user", "1000:1000", "--additional-gids", "5", "--additional-gids", "7", id, "id", "-G"]);
  assert.deepEqual(gids.trim().split(/\s+/).map(Number).sort((x, y) => x - y), [5, 7, 1000]);

  const plainStatus = await s.ok(["exec", id, "cat", "/proc/self/status"]);
  const capStatus = await s.ok(["exec", "--cap", "CAP_SYS_ADMIN", id, "cat", "/proc/self/status"]);
  const sysAdmin = 1n << 21n;
  const caps: Record<string, string> = {};
  for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) caps[set] = `${capLine(plainStatus, set)} -> ${capLine(capStatus, set)}`;
  for (const set of ["CapPrm", "CapEff", "CapBnd"]) {
    assert.equal(BigInt(`0x${capLine(plainStatus, set)}`) & sysAdmin, 0n, `${set} has no CAP_SYS_ADMIN without --cap`);
    assert.equal(BigInt(`0x${capLine(capStatus, set)}`) & sysAdmin, sysAdmin, `--cap CAP_SYS_ADMIN adds it to ${set}`);
  }

  // --detach --pid-file: returns at once, the process runs in the container
  const pidFile = path.join(s.base, "exec.pid");
  const det = await s.cli(["exec", "--detach", "--pid-file", pidFile, id, "sleep", "300"], { timeoutMs: QUICK });
  assert.equal(det.timedOut, false, `\`${det.line}\` must return once the process runs (killed after ${QUICK} ms)`);
  assert.equal(det.code, 0, det.stderr);
  const execPid = Number(readFileSync(pidFile, "utf8").trim());
  assert.ok(execPid > 0 && isAlive(execPid), "the pid file holds a live pid");
  assert.equal(readFileSync(`/proc/${execPid}/cmdline`, "utf8"), "sleep\u0000300\u0000");
  const ps = JSON.parse(await s.ok(["ps", "--format", "json", id])) as number[];
  assert.ok(ps.includes(execPid), "ps lists the exec'd process");

  // --process: the whole process from a file
  const procFile = path.join(s.base, "process.json");
  await writeFile(procFile, JSON.stringify({ terminal: false, user: { uid: 1000, gid: 1000 }, args: ["sh", "-c", 'echo "$X $(pwd) $(id -u)"'], env: ["PATH=/bin", "X=from-file"], cwd: "/tmp" }));
  assert.equal(await s.ok(["exec", "--process", procFile, id]), "from-file /tmp 1000\n");

  // a missing command: non-zero and an error naming it
  const missing = await s.cli(["exec", id, "no-such-command-here"]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no-such-command-here/);

  // exec into a stopped container fails
  await s.ok(["kill", id, "KILL"]);
  await waitFor("stopped", async () => (await s.status(id)) === "stopped");
  const stopped = await s.cli(["exec", id, "true"]);
  assert.notEqual(stopped.code, 0);
  return { status: status.code, caps, missingCode: missing.code !== 0, stoppedFails: stopped.code !== 0 };
});

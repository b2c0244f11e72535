// The console socket protocol: `create --console-socket` with process.terminal and
// `exec --tty --console-socket`. console_socket.py receives the pty master over SCM_RIGHTS,
// types commands into it and reads the answers back.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { PACKAGE_ROOT } from "../fixtures/bundle.js";
import { differential, QUICK, setArgs, waitFor, type Side } from "./harness.js";

const HELPER = path.join(PACKAGE_ROOT, "test", "runtime-cli", "console_socket.py");

interface ConsoleResult {
  fds: number;
  name: string;
  output: string;
  found: boolean;
  error?: string;
}

/**
 * Starts the helper on a fresh socket; resolves with its report when it is done. It waits up to
 * timeoutS for the connection and again for the marker: a minute unless nothing is required.
 */
async function consoleHelper(s: Side, input: string, marker: string, timeoutS = 60): Promise<{ socket: string; done: Promise<ConsoleResult> }> {
  const socket = path.join(s.base, `console-${Math.random().toString(16).slice(2, 8)}.sock`);
  const child = spawn("python3", [HELPER, socket, input, marker, String(timeoutS)], { stdio: ["ignore", "pipe", "pipe"] });
  s.defer(() => child.exitCode === null && child.kill("SIGKILL"));
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<ConsoleResult>((resolve, reject) => {
    child.once("exit", () => {
      try {
        resolve(JSON.parse(out) as ConsoleResult);
      } catch {
        reject(new Error(`console_socket.py printed no report: ${out} ${err}`));
      }
    });
  });
  done.catch(() => undefined);
  await waitFor("the console socket", () => existsSync(socket));
  return { socket, done };
}

// `echo END$((6*7))` is echoed by the terminal as typed; only the shell's output has END42
const SCRIPT = "tty; stty size; echo END$((6*7))\n";

differential("runtime CLI: console socket (create and exec --tty)", async (s, t) => {
  const b = await s.bundle();
  b.spec.process!.terminal = true;
  b.spec.process!.consoleSize = { height: 33, width: 101 };
  await setArgs(b, ["sh"]);
  const id = s.id("tty");
  const helper = await consoleHelper(s, SCRIPT, "END42");
  const create = await s.cli(["create", "--console-socket", helper.socket, "--bundle", b.dir, id], { timeoutMs: QUICK });
  assert.equal(create.timedOut, false, `\`${create.line}\` must return once the container is created`);
  assert.equal(create.code, 0, create.stderr);
  await s.ok(["start", id]);
  const got = await helper.done;
  assert.equal(got.fds, 1, "one fd, the pty master, comes over the socket");
  assert.ok(got.found, `the shell answered through the pty: ${JSON.stringify(got.output)}`);
  const lines = got.output.split(/\r?\n/);
  assert.ok(lines.some((l) => /^\/dev\/pts\/\d+$/.test(l.trim())), `tty prints a /dev/pts name: ${JSON.stringify(got.output)}`);
  assert.ok(lines.some((l) => l.trim() === "33 101"), `stty size reflects process.consoleSize: ${JSON.stringify(got.output)}`);
  // "exit" typed last ends the init
  await s.waitStatus(id, "stopped");

  // exec --tty --detach --console-socket in a running container (runc refuses a console socket
  // without --detach: "cannot use console socket if runc will not detach or allocate tty")
  const b2 = await s.bundle();
  await setArgs(b2, ["sleep", "600"]);
  const id2 = s.id("ex");
  await s.ok(["run", "-d", "--bundle", b2.dir, id2], { timeoutMs: QUICK });
  const h2 = await consoleHelper(s, "tty; echo $TERM; echo END$((6*7))\n", "END42");
  const ex = await s.cli(["exec", "--tty", "--detach", "--console-socket", h2.socket, id2, "sh"], { timeoutMs: QUICK });
  const got2 = await h2.done;
  assert.equal(ex.timedOut, false);
  assert.equal(ex.code, 0, ex.stderr);
  assert.equal(got2.fds, 1);
  assert.ok(got2.found, `the exec'd shell answered through the pty: ${JSON.stringify(got2.output)}`);
  assert.ok(got2.output.split(/\r?\n/).some((l) => /^\/dev\/pts\/\d+$/.test(l.trim())), JSON.stringify(got2.output));

  // --tty and --detach without a console socket is refused
  const refused = await s.cli(["exec", "--tty", "--detach", id2, "sh"], { timeoutMs: QUICK });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /console socket/);
  // a console socket without --detach: runc refuses it; recorded, not required
  const h3 = await consoleHelper(s, "exit\n", "never", 10);
  const foreground = await s.cli(["exec", "--tty", "--console-socket", h3.socket, id2, "true"], { timeoutMs: QUICK });
  t.diagnostic(`${s.kind}: exec --tty --console-socket without --detach → exit ${String(foreground.code)} ${foreground.stderr.trim()}`);
  return { fds: got.fds, execFds: got2.fds, refused: refused.code !== 0 };
});

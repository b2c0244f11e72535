import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { CoveError, invalid } from "../common/errors.js";
import { EngineClient, EngineError } from "../client/engine.js";
import { CliError, command, errorLine, failure, forEach, makeRun, StatusError } from "./command.js";
import { UsageError } from "./flags.js";

describe("the rule for errors and exit statuses", () => {
  it("prints the daemon's errors with docker's prefix, cove's own as they are, the rest as Error:", () => {
    assert.equal(errorLine(new EngineError(404, "No such container: x")), "Error response from daemon: No such container: x");
    assert.equal(errorLine(new CliError("you cannot start and attach multiple containers at once")), "you cannot start and attach multiple containers at once");
    assert.equal(errorLine(invalid("template parsing error: x", { code: "template.parse" })), "template parsing error: x");
    assert.equal(errorLine(new CoveError("unavailable", "Cannot connect to the Docker daemon", { code: "engine.unreachable" })), "Cannot connect to the Docker daemon");
    assert.equal(errorLine(new CoveError("conflict", "another root", { code: "cli.root-mismatch", hint: "stop it" })), "another root\n  hint: stop it");
    assert.equal(errorLine(invalid("invalid reference format", { code: "reference.invalid" })), "Error: invalid reference format");
    assert.equal(errorLine(new Error("boom")), "Error: boom");
    assert.equal(errorLine(new StatusError(new EngineError(400, "bad"), 127)), "Error response from daemon: bad");
  });

  it("gives usage errors docker's text and status", () => {
    const flag = new UsageError("unknown flag: --x", "ps");
    const args = new UsageError('"cove ps" accepts no arguments.', "ps", 1);
    assert.deepEqual(failure(flag, "ps"), { text: "unknown flag: --x\nSee 'cove ps --help'.", status: 125 });
    assert.deepEqual(failure(args, "ps"), { text: "\"cove ps\" accepts no arguments.\nSee 'cove ps --help'.", status: 1 });
    assert.deepEqual(failure(flag, "create", "create"), { text: "cove: unknown flag: --x\n\nRun 'cove create --help' for more information", status: 125 });
    assert.deepEqual(failure(args, "run", "run"), { text: "cove: \"cove ps\" accepts no arguments.\n\nRun 'cove run --help' for more information", status: 1 });
  });

  it("exits 1 for command errors, 125 when run's engine fails, and with a StatusError's or CliError's status", () => {
    const daemon = new EngineError(409, "conflict");
    assert.deepEqual(failure(daemon, "rm"), { text: "Error response from daemon: conflict", status: 1 });
    assert.deepEqual(failure(daemon, "create", "create"), { text: "Error response from daemon: conflict", status: 1 });
    assert.deepEqual(failure(daemon, "run", "run"), { text: "cove: Error response from daemon: conflict\n\nRun 'cove run --help' for more information", status: 125 });
    assert.equal(failure(new StatusError(daemon, 126), "run", "run").status, 126);
    assert.equal(failure(new CliError("update needs flags", 1), "update").status, 1);
    assert.equal(failure(new CliError("cidfile exists", 125), "create", "create").status, 125);
  });
});

describe("command and forEach", () => {
  const io = () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const text = (s: PassThrough) => (s.read() as Buffer | null)?.toString() ?? "";
    return { io: { stdout: out, stderr: err, stdin: new PassThrough() }, out: () => text(out), err: () => text(err) };
  };
  const client = new EngineClient({ socket: "/nonexistent" });

  it("prints help, runs the body, and reports a failure by the rule", async () => {
    const spec = { name: "demo", usage: "cove demo", summary: "A demo", flags: { all: { type: "bool", short: "a" } }, args: { max: 0 } } as const;
    const cmd = command(spec, async ({ flags }) => {
      if (flags.all) throw new EngineError(500, "broken");
      return 0;
    });
    const h = io();
    assert.equal(await cmd(["--help"], { client, io: h.io }), 0);
    assert.match(h.out(), /^Usage: {2}cove demo\n\nA demo\n/);
    const e = io();
    assert.equal(await cmd(["-a"], { client, io: e.io }), 1);
    assert.equal(e.err(), "Error response from daemon: broken\n");
    const u = io();
    assert.equal(await cmd(["extra"], { client, io: u.io }), 1);
    assert.equal(u.err(), "\"cove demo\" accepts no arguments.\nSee 'cove demo --help'.\n");
  });

  it("runs every argument, then prints the failures and exits 1", async () => {
    const h = io();
    const run = makeRun({ client, io: h.io });
    const status = await forEach(run, ["a", "b", "c"], async (a) => {
      if (a === "b") throw new EngineError(404, `No such container: ${a}`);
      run.out(a + "\n");
    });
    assert.equal(status, 1);
    assert.equal(h.out(), "a\nc\n");
    assert.equal(h.err(), "Error response from daemon: No such container: b\n");
  });
});

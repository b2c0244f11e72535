import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { StepView } from "./build.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "main.js");

/** Runs `cove ARGS` with the given standard input (no daemon involved). */
function cove(args: string[], input = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, COVE_ROOT: "/nonexistent/cove-build-test" } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(input);
  });
}

describe("cove build", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "cove-build-cli-"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("--print-ast prints the parse of a file", async () => {
    const file = path.join(dir, "Dockerfile");
    await writeFile(file, "FROM busybox AS base\nCOPY --chown=1:1 a /b\nRUN <<EOF\necho hi\nEOF\nCMD [\"sh\"]\n");
    const r = await cove(["build", "--print-ast", file]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '(from "busybox" "AS" "base")\n(copy ["--chown=1:1"] "a" "/b")\n(run "<<EOF")\n(cmd "sh")\n');
  });

  it("--print-ast - reads standard input", async () => {
    const r = await cove(["build", "--print-ast", "-"], "from a\n");
    assert.deepEqual([r.code, r.stdout], [0, '(from "a")\n']);
  });

  it("reports a syntax error with its position and line, exit status 1", async () => {
    const file = path.join(dir, "Dockerfile.bad");
    await writeFile(file, "FROM a\nRUN <<EOF\necho never ends\n");
    const r = await cove(["build", "--print-ast", file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `${file}:2:1: unterminated heredoc EOF: no line reads "EOF" before the end of the file\n   2 | RUN <<EOF\n     | ^\n`);
  });

  it("refuses bad build flags and a missing context before it reaches a daemon, exit status 125", async () => {
    const noContext = await cove(["build", "-t", "app"]);
    assert.equal(noContext.code, 125);
    assert.match(noContext.stderr, /requires exactly 1 argument: the build context/);
    const unknown = await cove(["build", "--no-such-flag", "."]);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /unknown flag: --no-such-flag/);
    const progress = await cove(["build", "--progress", "fancy", "."]);
    assert.equal(progress.code, 125);
    assert.match(progress.stderr, /invalid --progress "fancy"/);
    const two = await cove(["build", ".", "other"]);
    assert.equal(two.code, 125);
    const output = await cove(["build", "-o", "type=registry", "."]);
    assert.equal(output.code, 125);
    assert.match(output.stderr, /--output type=registry is not supported by cove build/);
    const twoOutputs = await cove(["build", "-o", "a", "-o", "b", "."]);
    assert.equal(twoOutputs.code, 125);
    assert.match(twoOutputs.stderr, /only one --output is supported/);
    assert.equal(unknown.stdout + noContext.stdout + progress.stdout, "");
  });

  it("refuses a missing file and a missing argument clearly", async () => {
    const missing = await cove(["build", "--print-ast", path.join(dir, "nope")]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /cannot read .*nope: ENOENT/);
    const noArg = await cove(["build", "--print-ast"]);
    assert.equal(noArg.code, 125);
    assert.match(noArg.stderr, /--print-ast needs a file/);
  });
});

describe("StepView (--progress=tty)", () => {
  const render = (terminal: boolean, chunks: string[], times: number[]) => {
    const out: string[] = [];
    let t = 0;
    const clock = () => times[Math.min(t++, times.length - 1)]!;
    const view = new StepView((s) => out.push(s), terminal, clock);
    for (const c of chunks) view.text(c);
    view.stop();
    return out.join("");
  };
  const STREAM = ["Step 1/3 : FROM busybox\n", " ---> 0123456789ab\n", "Step 2/3 : ENV A=b\n", " ---> Using cache\n", " ---> 0123456789ac\n", "Step 3/3 : RUN echo hi\n", " ---> Running in abc\n", "hi\n", "Removing intermediate container abc\n", " ---> 0123456789ad\n", "Successfully built 0123456789ad\n"];

  it("off a terminal: one line per step with CACHED or its time, output indented under its step", () => {
    assert.equal(
      render(false, STREAM, [0, 500, 1000, 1000, 3500]),
      "[1/3] FROM busybox DONE 0.5s\n[2/3] ENV A=b CACHED\n[3/3] RUN echo hi\n  hi\n => [3/3] RUN echo hi DONE 2.5s\nSuccessfully built 0123456789ad\n",
    );
  });

  it("on a terminal: the running step's line is rewritten in place when it ends", () => {
    const out = render(true, STREAM.slice(0, 5), [0, 1200, 1200, 1200]);
    assert.equal(out, "[1/3] FROM busybox 0.0s\r\x1b[2K[1/3] FROM busybox DONE 1.2s\n[2/3] ENV A=b 0.0s\r\x1b[2K[2/3] ENV A=b CACHED\n");
  });
});

// Multi-stage builds and --output on a private cove daemon, through cove's CLI: --target builds
// only the stages the target needs (a failing stage nothing reaches never runs), independent
// stages run side by side (proved by two RUNs that each wait for the other's marker in a shared
// cache mount: serialized, the first would give up after its bound), a failing stage stops its
// running siblings and leaves no container or mount behind, and -o writes the final stage's
// files as a directory, a tar file or a tar on standard output.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { lstat, mkdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/index.js";
import { startBuildTestDaemon } from "./daemon.js";
import { readTar } from "../../src/snapshots/index.js";
import { run, dockerCliSkip, type Result } from "../support/docker-api.js";

const COVE_MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const skip = process.getuid?.() !== 0 ? "needs root" : await dockerCliSkip();

/** A stage that fails, a target that does not need it, and a later stage that does. */
const UNNEEDED = `FROM busybox AS broken
RUN echo must-not-run && exit 3
FROM busybox AS base
RUN echo base > /base
FROM base AS target
COPY --from=base /base /copied
FROM broken AS later
`;

/**
 * Two independent stages whose RUNs each leave a marker in a shared cache mount and wait (up to
 * 120 s) for the other's: only when both run at once do both finish.
 */
const rendezvous = (id: string) => `FROM busybox AS left
RUN --mount=type=cache,target=/meet,id=${id} touch /meet/left && i=0; until [ -e /meet/right ]; do i=$((i+1)); [ $i -le 1200 ] || exit 9; sleep 0.1; done; echo left > /side
FROM busybox AS right
RUN --mount=type=cache,target=/meet,id=${id} touch /meet/right && i=0; until [ -e /meet/left ]; do i=$((i+1)); [ $i -le 1200 ] || exit 9; sleep 0.1; done; echo right > /side
FROM busybox
COPY --from=left /side /left
COPY --from=right /side /right
`;

/** One stage fails once the other is running (it waits for its marker); the other would run for 10 minutes. */
const failing = (id: string) => `FROM busybox AS slow
RUN --mount=type=cache,target=/meet,id=${id} touch /meet/slow && sleep 600
FROM busybox AS fails
RUN --mount=type=cache,target=/meet,id=${id} until [ -e /meet/slow ]; do sleep 0.1; done; exit 7
FROM busybox
COPY --from=slow /etc/hostname /a
COPY --from=fails /etc/hostname /b
`;

const OUTPUT = `FROM busybox AS build
RUN mkdir -p /out/sub && echo made > /out/sub/file && ln -s sub/file /out/link && chmod 0640 /out/sub/file
FROM scratch
COPY --from=build /out /
COPY note.txt /note.txt
`;

describe("cove build: multi-stage graphs and --output", { skip }, () => {
  let dir: string;
  let ctx: string;
  let daemon: Daemon;
  let socket: string;
  let runtimeRoot: string;
  let root: string;
  let dockerEnv: NodeJS.ProcessEnv;
  const docker = (args: string[]) => run(dockerEnv, args);
  const ok = (r: Result, what: string) => {
    assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const cove = (args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [COVE_MAIN, ...args], { encoding: "buffer", env: { PATH: process.env.PATH, HOME: dir, COVE_HOST: `unix://${socket}` }, timeout: 300_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr: stderr.toString("utf8") });
      });
    });
  const build = async (file: string, args: string[]) => {
    await writeFile(path.join(ctx, "Dockerfile"), file);
    return cove(["build", "--progress", "plain", ...args, ctx]);
  };
  const cat = async (ref: string, cmd: string) => ok(await docker(["run", "--rm", "--network", "none", "--entrypoint", "sh", ref, "-c", cmd]), `run ${cmd}`);
  /** What the daemon has mounted under its state roots (nothing once a build is over). */
  const mountsLeft = async () => (await readFile("/proc/self/mountinfo", "utf8")).split("\n").filter((l) => l.includes(root) || l.includes(runtimeRoot));

  before(async () => {
    ({ dir, socket, root, runtimeRoot, daemon, dockerEnv } = await startBuildTestDaemon("multistage"));
    ctx = path.join(dir, "ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, "note.txt"), "from the context\n");
  });

  after(async () => {
    if (daemon) {
      const ids = (await docker(["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
      if (ids.length) await docker(["rm", "-f", ...ids]);
      await docker(["builder", "prune", "-f"]);
      await daemon.close();
    }
    await rm(runtimeRoot, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("--target builds the target and the stages it needs; a failing stage nothing reaches never runs", async () => {
    const r = await build(UNNEEDED, ["-t", "targeted", "--target", "target"]);
    const out = r.stdout.toString("utf8");
    assert.equal(r.code, 0, `${r.stderr}\n${out}`);
    assert.doesNotMatch(out, /must-not-run|exit 3/);
    // the steps shown are those of the stages built, numbered as one sequence
    assert.deepEqual(
      out.split("\n").filter((l) => l.startsWith("Step ")),
      ["Step 1/4 : FROM busybox AS base", "Step 2/4 : RUN echo base > /base", "Step 3/4 : FROM base AS target", "Step 4/4 : COPY --from=base /base /copied"],
    );
    assert.equal(await cat("targeted", "cat /base /copied"), "base\nbase\n");
    // without --target every stage is built, as dockerd's legacy builder does: the broken one fails
    const all = await build(UNNEEDED, ["-t", "everything"]);
    assert.equal(all.code, 1);
    assert.match(all.stderr, /The command '\/bin\/sh -c echo must-not-run && exit 3' returned a non-zero code: 3/);
    assert.equal((await docker(["images", "-q", "everything"])).stdout.trim(), "");
  });

  it("a stage that uses a later stage or itself is refused before anything runs", async () => {
    const r = await build("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nRUN echo ran\n", ["-t", "cyclic"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /stage a uses stage b, which comes after it: a stage can use only the stages before it \(circular dependency\)/);
    assert.doesNotMatch(r.stdout.toString("utf8"), /Step /);
  });

  it("runs independent stages at once and shows them stage after stage", async () => {
    const id = `meet-${randomBytes(6).toString("hex")}`;
    const r = await build(rendezvous(id), ["-t", "parallel", "--no-cache"]);
    const out = r.stdout.toString("utf8");
    assert.equal(r.code, 0, `the two stages did not run at once: ${r.stderr}\n${out}`);
    assert.equal(await cat("parallel", "cat /left /right"), "left\nright\n");
    const steps = out.split("\n").filter((l) => l.startsWith("Step "));
    assert.equal(steps.length, 7);
    assert.match(steps[0]!, /^Step 1\/7 : FROM busybox AS left$/);
    assert.match(steps[2]!, /^Step 3\/7 : FROM busybox AS right$/);
    // the left stage's lines all come before the right stage's
    assert.ok(out.indexOf("Step 2/7") < out.indexOf("Step 3/7") && out.indexOf(" ---> Running in", out.indexOf("Step 2/7")) < out.indexOf("Step 3/7"), out);
  });

  it("a failing stage stops the stage running beside it: the failure is reported, no container or mount is left", async () => {
    const id = `fail-${randomBytes(6).toString("hex")}`;
    const r = await build(failing(id), ["-t", "failed", "--no-cache"]);
    assert.equal(r.code, 1, r.stdout.toString("utf8"));
    assert.match(r.stderr, /returned a non-zero code: 7/);
    assert.equal((await docker(["ps", "-aq"])).stdout.trim(), "", "a build container is left");
    assert.deepEqual(await mountsLeft(), []);
    assert.equal((await docker(["images", "-q", "failed"])).stdout.trim(), "");
  });

  it("-o DIR, type=local, type=tar,dest=FILE and -o - write the final stage's files", async () => {
    const local = path.join(dir, "out-local");
    const r1 = await build(OUTPUT, ["-o", local]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(await readFile(path.join(local, "sub/file"), "utf8"), "made\n");
    assert.equal((await lstat(path.join(local, "sub/file"))).mode & 0o777, 0o640);
    assert.equal(await readlink(path.join(local, "link")), "sub/file");
    assert.equal(await readFile(path.join(local, "note.txt"), "utf8"), "from the context\n");

    const local2 = path.join(dir, "out-local2");
    assert.equal((await build(OUTPUT, ["--output", `type=local,dest=${local2}`])).code, 0);
    assert.equal(await readFile(path.join(local2, "note.txt"), "utf8"), "from the context\n");

    const names = async (tar: Buffer) => {
      const out: string[] = [];
      for await (const { header, body } of readTar(Readable.from([tar]))) {
        out.push(`${header.type} ${header.name.replace(/^\.\//, "").replace(/\/$/, "")}`);
        for await (const _ of body) void _;
      }
      return out.filter((n) => !n.endsWith(" ") && !n.endsWith(" .")).sort();
    };
    const want = ["dir sub", "file note.txt", "file sub/file", "symlink link"];
    const file = path.join(dir, "out.tar");
    const r2 = await build(OUTPUT, ["-o", `type=tar,dest=${file}`]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(await names(await readFile(file)), want);

    // on standard output: the tar alone; the progress on standard error
    const r3 = await build(OUTPUT, ["-o", "-"]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.match(r3.stderr, /Step 1\/5 : FROM busybox AS build/);
    assert.deepEqual(await names(r3.stdout), want);
  });

  it("refuses an --output it cannot write, before building", async () => {
    for (const [arg, msg] of [
      ["type=registry", /--output type=registry is not supported by cove build: use type=local \(a directory\) or type=tar/],
      ["type=local", /dest=DIR is required for type=local/],
      ["type=tar,dest=x,compression=gzip", /does not know the attribute "compression"/],
    ] as const) {
      const r = await build(OUTPUT, ["-o", arg]);
      assert.equal(r.code, 125, arg);
      assert.match(r.stderr, msg);
      assert.doesNotMatch(r.stdout.toString("utf8"), /Step /);
    }
  });
});

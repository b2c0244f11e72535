// The cove CLI's image commands go through the daemon: a running daemon sees at once what they
// import, load, tag and remove (the containers it runs use those images), and the docker CLI v28
// pointed at the same daemon prints the same thing for the same command.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { unmountAll } from "../../src/snapshots/index.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";

const DOCKER = "/usr/local/bin/docker";
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const busybox = await findBusybox();
const skip = process.getuid?.() !== 0 ? "needs root (containers)" : !busybox ? "busybox-static is not installed" : !existsSync(DOCKER) ? `${DOCKER} is missing` : false;

describe("image commands through the daemon", { skip }, () => {
  let dir = "";
  let socket = "";
  let rootfs = "";
  let daemon: Daemon | undefined;

  const exec = (bin: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Result> =>
    new Promise((resolve) => {
      const child = spawn(bin, args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, ...env }, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1), stdout, stderr });
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(input);
    });
  const cove = (args: string[], input?: string) => exec(process.execPath, [MAIN, ...args], { COVE_HOST: `unix://${socket}` }, input);
  const docker = (args: string[], input?: string) => exec(DOCKER, args, { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, "docker-config") }, input);
  /** Runs the same command with both CLIs and asserts they agree; returns cove's result. */
  const same = async (args: string[]): Promise<Result> => {
    const c = await cove(args);
    const d = await docker(args);
    assert.equal(c.stdout, d.stdout, `stdout of ${args.join(" ")}`);
    assert.equal(c.stderr, d.stderr, `stderr of ${args.join(" ")}`);
    assert.equal(c.code, d.code, `status of ${args.join(" ")}`);
    return c;
  };
  const ok = async (r: Promise<Result>): Promise<string> => {
    const res = await r;
    assert.equal(res.code, 0, res.stderr);
    return res.stdout;
  };

  before(async () => {
    dir = await tempDir();
    socket = path.join(dir, "api.sock");
    rootfs = await busyboxRootfsTar(dir);
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot: path.join(dir, "r"), log: () => undefined });
  });

  after(async () => {
    if (daemon) {
      for (const c of await daemon.containers.list({ all: true })) await daemon.containers.remove(c.Id, { force: true }).catch(() => undefined);
      await daemon.close();
    }
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => dir && m.startsWith(dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) unmountAll(m, 2);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("cove import is seen by the running daemon, which runs the image", async () => {
    const id = (await ok(cove(["import", "-c", 'CMD ["sh"]', "-m", "offline busybox", rootfs, "busybox:latest"]))).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(
      (await daemon!.images.list()).map((i) => i.Id),
      [id],
    );
    const run = await cove(["run", "--rm", "--network", "none", "busybox", "echo", "hello from the imported image"]);
    assert.equal(run.stderr, "");
    assert.equal(run.stdout, "hello from the imported image\n");
    assert.equal(run.code, 0);
  });

  it("lists, inspects and shows history as the docker CLI does", async () => {
    await same(["images", "--format", "{{.Repository}}|{{.Tag}}|{{.ID}}|{{.Size}}|{{.Digest}}"]);
    await same(["images", "-q", "--no-trunc"]);
    await same(["image", "inspect", "busybox"]);
    await same(["image", "inspect", "-f", "{{.Id}} {{.Config.Cmd}} {{.Comment}}", "busybox"]);
    await same(["history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}", "busybox"]);
    const missing = await same(["image", "inspect", "nosuch"]);
    assert.equal(missing.code, 1);
  });

  it("tag and rmi change what the daemon serves; messages match docker's", async () => {
    assert.equal((await cove(["tag", "busybox", "cove-test/bb:1"])).code, 0);
    assert.deepEqual((await daemon!.images.inspect("cove-test/bb:1")).RepoTags.sort(), ["busybox:latest", "cove-test/bb:1"]);
    const rmi = await cove(["rmi", "cove-test/bb:1"]);
    assert.equal(rmi.stdout, "Untagged: cove-test/bb:1\n");
    await assert.rejects(daemon!.images.inspect("cove-test/bb:1"), /No such image/);
    await same(["rmi", "cove-test/nosuch:1"]);
    const bad = await cove(["tag", "busybox", "Bad:Name"]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error parsing reference: "Bad:Name" is not a valid repository/tag: invalid reference format: repository name (library/Bad) must be lowercase\n');
  });

  it("system df agrees with the docker CLI, counting the daemon's containers", async () => {
    const { Id } = await daemon!.containers.create({ Image: "busybox", Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
    try {
      const df = await same(["system", "df"]);
      assert.match(df.stdout, /^Images {10}1 {9}1 /m);
      assert.match(df.stdout, /^Containers {6}1 {9}0 /m);
      await same(["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}"]);
    } finally {
      await daemon!.containers.remove(Id, { force: true });
    }
  });

  it("save, rmi and load round-trip through the daemon", async () => {
    const archive = path.join(dir, "busybox-save.tar");
    assert.equal((await cove(["save", "-o", archive, "busybox"])).code, 0);
    assert.ok((await stat(archive)).size > 100_000);
    const id = (await daemon!.images.inspect("busybox")).Id;
    const rmi = await cove(["rmi", "busybox"]);
    assert.equal(rmi.stdout, `Untagged: busybox:latest\nDeleted: ${id}\n`);
    assert.deepEqual(await daemon!.images.list(), []);
    const load = await cove(["load", "-i", archive]);
    assert.equal(load.stderr, "");
    assert.equal(load.stdout, "Loaded image: busybox:latest\n");
    assert.equal((await daemon!.images.inspect("busybox")).Id, id);
    // a save to an unknown image makes no file
    const none = path.join(dir, "none.tar");
    await same(["save", "-o", none, "nosuch"]);
    assert.equal(existsSync(none), false);
  });

  it("a broken archive is refused as docker refuses it, and changes nothing", async () => {
    const junk = path.join(dir, "junk.tar");
    await writeFile(junk, "this is not a tar archive\n".repeat(100));
    const before = (await daemon!.images.list()).map((i) => i.Id);
    const c = await cove(["load", "-i", junk]);
    const d = await docker(["load", "-i", junk]);
    assert.equal(c.code, 1);
    assert.equal(c.code, d.code);
    assert.equal(c.stderr, d.stderr);
    assert.deepEqual(
      (await daemon!.images.list()).map((i) => i.Id),
      before,
    );
  });

  it("image prune -f prints what docker prints", async () => {
    const dangling = (await ok(cove(["import", rootfs]))).trim();
    const c = await cove(["image", "prune", "-f"]);
    assert.equal(c.code, 0);
    assert.match(c.stdout, new RegExp(`^Deleted Images:\ndeleted: ${dangling}\n\nTotal reclaimed space: \\S+B\n$`));
    // nothing left to prune: both CLIs print the same
    await same(["image", "prune", "-f"]);
  });
});

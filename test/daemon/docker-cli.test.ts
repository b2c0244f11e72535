// Conformance: the real docker CLI (v28, /usr/local/bin/docker) against cove's daemon, started in
// process on a temp socket and a temp root. Each test asserts on what the docker CLI prints.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { finished } from "node:stream/promises";
import { tarDirectory } from "../../src/snapshots/diff.js";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";

const DOCKER = "/usr/local/bin/docker";
const skip = !existsSync(DOCKER) ? `${DOCKER} is missing` : process.getuid?.() !== 0 ? "needs root (the image service unpacks layers with their owners)" : false;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A small rootfs tar made of a few files (no busybox needed). */
async function rootfsTar(dir: string, name: string, marker: string): Promise<string> {
  const tree = path.join(dir, `${name}-tree`);
  await mkdir(path.join(tree, "etc"), { recursive: true });
  await mkdir(path.join(tree, "bin"), { recursive: true });
  await writeFile(path.join(tree, "etc/hello"), `hello from ${marker}\n`);
  await writeFile(path.join(tree, "bin/true"), "#!/bin/sh\nexit 0\n");
  await chmod(path.join(tree, "bin/true"), 0o755);
  const tar = path.join(dir, `${name}.tar`);
  const out = createWriteStream(tar);
  await tarDirectory(tree, out);
  if (!out.writableFinished) await finished(out);
  return tar;
}

describe("docker CLI against cove's daemon", { skip }, () => {
  let dir: string;
  let daemon: Daemon;
  let socket: string;
  let rootfs: string;
  let imageId = "";
  const started = Math.floor(Date.now() / 1000) - 1;
  const logs: string[] = [];

  const docker = (args: string[], env: Record<string, string> = {}): Promise<Result> =>
    new Promise((resolve) => {
      execFile(
        DOCKER,
        args,
        { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}`, ...env }, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  const ok = async (args: string[]): Promise<string> => {
    const r = await docker(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    socket = path.join(dir, "run", "cove.sock");
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, log: (l) => logs.push(l) });
    rootfs = await rootfsTar(dir, "rootfs", "app");
  });

  after(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("creates the socket 0660 and a PID file in the root", async () => {
    const st = await stat(socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.ok(existsSync(path.join(dir, "root", "cove.pid")));
  });

  it("docker version prints the client and the server", async () => {
    const out = await ok(["version"]);
    assert.match(out, /^Client:/m);
    assert.match(out, /^Server: cove$/m);
    assert.match(out, /^ Engine:\n {2}Version:\s+0\.1\.0$/m);
    assert.match(out, /API version:\s+1\.47 \(minimum version 1\.24\)/);
    assert.match(out, /API version:\s+1\.47 \(downgraded from 1\.\d+\)/, "the client negotiated down to 1.47");
    assert.match(out, /OS\/Arch:\s+linux\/(amd64|arm64)/);
  });

  it("docker import makes an image from a rootfs tar", async () => {
    const out = await ok(["import", "-c", 'CMD ["/bin/true"]', "-c", "LABEL tier=test", "-m", "imported by the suite", rootfs, "cove-test/app:1"]);
    imageId = out.trim();
    assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
  });

  it("docker info shows the server section", async () => {
    const out = await ok(["info"]);
    assert.match(out, /^ Server Version: 0\.1\.0$/m);
    assert.match(out, /^ Storage Driver: overlay2$/m);
    assert.match(out, /^ Images: 1$/m);
    assert.match(out, /^ Containers: 0$/m);
    assert.match(out, /^ Cgroup Driver: cgroupfs$/m);
    assert.match(out, /^ Default Runtime: cove$/m);
    assert.match(out, new RegExp(`^ Docker Root Dir: ${path.join(dir, "root").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
    assert.match(out, /^ Live Restore Enabled: true$/m);
    const id = (await ok(["info", "--format", "{{.ID}}"])).trim();
    assert.equal(id, daemon.id);
  });

  it("docker images lists it (table, JSON, -q)", async () => {
    const short = imageId.slice(7, 19);
    const table = await ok(["images"]);
    assert.match(table, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/m);
    assert.match(table, new RegExp(`^cove-test/app\\s+1\\s+${short}\\s`, "m"));
    const json = (await ok(["images", "--format", "{{json .}}"])).trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    assert.equal(json.length, 1);
    assert.equal(json[0]?.Repository, "cove-test/app");
    assert.equal(json[0]?.Tag, "1");
    assert.equal(json[0]?.ID, short);
    assert.equal((await ok(["images", "-q"])).trim(), short);
    assert.equal((await ok(["images", "-q", "--filter", "label=tier=test"])).trim(), short);
    assert.equal((await ok(["images", "-q", "--filter", "label=tier=prod"])).trim(), "");
  });

  it("docker image inspect shows Docker's JSON", async () => {
    const [img] = JSON.parse(await ok(["image", "inspect", "cove-test/app:1"])) as Record<string, unknown>[];
    assert.equal(img?.Id, imageId);
    assert.deepEqual(img?.RepoTags, ["cove-test/app:1"]);
    assert.equal(img?.Comment, "imported by the suite");
    const config = img?.Config as { Cmd: string[]; Labels: Record<string, string> };
    assert.deepEqual(config.Cmd, ["/bin/true"]);
    assert.deepEqual(config.Labels, { tier: "test" });
    assert.equal((await ok(["image", "inspect", "--format", "{{.Os}}/{{.GraphDriver.Name}}", imageId.slice(7, 19)])).trim(), "linux/overlay2");
  });

  it("docker history shows the layer", async () => {
    const out = await ok(["history", "cove-test/app:1"]);
    assert.match(out, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/m);
    assert.match(out, new RegExp(`^${imageId.slice(7, 19)}\\s.*imported by the suite$`, "m"));
  });

  it("docker tag and docker rmi, with a registry name that has slashes and a port", async () => {
    await ok(["tag", "cove-test/app:1", "localhost:5000/a/b:tag"]);
    assert.equal((await ok(["image", "inspect", "--format", "{{.Id}}", "localhost:5000/a/b:tag"])).trim(), imageId);
    assert.match(await ok(["images"]), /^localhost:5000\/a\/b\s+tag\s/m);
    const out = await ok(["rmi", "localhost:5000/a/b:tag"]);
    assert.equal(out.trim(), "Untagged: localhost:5000/a/b:tag");
    assert.doesNotMatch(await ok(["images"]), /localhost:5000/);
  });

  it("errors come back with Docker's wording and exit codes", async () => {
    const r = await docker(["image", "inspect", "nope:1"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such image: nope:1/);
    const rmi = await docker(["rmi", "nope:1"]);
    assert.equal(rmi.code, 1);
    assert.match(rmi.stderr, /Error response from daemon: No such image: nope:1/);
    const missing = await docker(["inspect", "nosuch"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such object: nosuch/);
    // a registry nothing listens for (tests never reach the internet)
    const pull = await docker(["pull", "127.0.0.1:2/busybox:latest"]);
    assert.equal(pull.code, 1);
    assert.match(pull.stderr, /Error response from daemon: cannot reach the registry 127\.0\.0\.1:2 at http:\/\/127\.0\.0\.1:2: .*ECONNREFUSED/);
  });

  it("docker save, rmi, load gives back the same image", async () => {
    const tar = path.join(dir, "saved.tar");
    await ok(["save", "cove-test/app:1", "-o", tar]);
    assert.ok((await stat(tar)).size > 1024);
    const rmi = await ok(["rmi", "cove-test/app:1"]);
    assert.match(rmi, /^Untagged: cove-test\/app:1$/m);
    assert.match(rmi, new RegExp(`^Deleted: ${imageId}$`, "m"));
    assert.equal((await ok(["images", "-q"])).trim(), "");
    const load = await ok(["load", "-i", tar]);
    assert.match(load, /^Loaded image: cove-test\/app:1$/m);
    assert.equal((await ok(["image", "inspect", "--format", "{{.Id}}", "cove-test/app:1"])).trim(), imageId);
  });

  it("docker system df counts the images", async () => {
    const out = await ok(["system", "df"]);
    assert.match(out, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
    assert.match(out, /^Images\s+1\s+0\s+\d/m);
    assert.match(out, /^Containers\s+0\s+0\s+0B/m);
  });

  it("docker image prune -f removes dangling images only", async () => {
    const other = await rootfsTar(dir, "other", "dangling");
    const dangling = (await ok(["import", other])).trim();
    assert.match(await ok(["images", "-q", "--filter", "dangling=true"]), new RegExp(dangling.slice(7, 19)));
    const out = await ok(["image", "prune", "-f"]);
    assert.match(out, /^Deleted Images:$/m);
    assert.match(out, new RegExp(`^deleted: ${dangling}$`, "m"));
    assert.match(out, /^Total reclaimed space: \d/m);
    assert.equal((await ok(["images", "-q"])).trim(), imageId.slice(7, 19));
  });

  it("docker events --since --until shows the image events", async () => {
    const until = Math.ceil(Date.now() / 1000) + 1;
    const out = await ok(["events", "--since", String(started), "--until", String(until), "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"]);
    const lines = out.trim().split("\n");
    for (const want of [
      "image import",
      "image tag cove-test/app:1",
      "image tag localhost:5000/a/b:tag",
      "image untag localhost:5000/a/b:tag",
      "image save cove-test/app:1",
      "image untag cove-test/app:1",
      `image delete ${imageId}`,
      "image load cove-test/app:1",
    ]) {
      assert.ok(lines.some((l) => l.startsWith(want)), `missing "${want}" in:\n${out}`);
    }
    const untags = await ok(["events", "--since", String(started), "--until", String(until), "--filter", "event=untag", "--format", "{{.Action}}"]);
    assert.deepEqual([...new Set(untags.trim().split("\n"))], ["untag"]);
    const human = await ok(["events", "--since", String(started), "--until", String(until), "--filter", "image=localhost:5000/a/b"]);
    assert.match(human, /image tag sha256:[0-9a-f]{64} \(.*name=localhost:5000\/a\/b:tag.*\)/);
  });

  it("refuses a second daemon on the same socket, and replaces a stale socket file", async () => {
    await assert.rejects(startDaemon({ root: path.join(dir, "root2"), socket, log: () => undefined }), { message: `another cove daemon is running on ${socket}` });
    // a socket file nobody listens on, as a killed daemon leaves it (process.exit skips the unlink)
    const stale = path.join(dir, "stale.sock");
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`], (err) => (err ? reject(err) : resolve())),
    );
    assert.ok((await stat(stale)).isSocket());
    const d2 = await startDaemon({ root: path.join(dir, "root3"), socket: stale, log: () => undefined });
    try {
      const r = await docker(["version", "--format", "{{.Server.Version}}"], { DOCKER_HOST: `unix://${stale}` });
      assert.equal(r.stdout.trim(), "0.1.0");
    } finally {
      await d2.close();
    }
    assert.equal(existsSync(stale), false, "close removes the socket");
  });
});

// Real peers read what cove writes and cove reads what they write: skopeo (docker-archive and OCI
// layout, both ways) and umoci (unpack of cove's layout gives the tree cove's snapshot holds).
// Each suite is skipped with the reason when its peer is missing (apt-get install -y skopeo umoci).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { ImageService } from "../../src/images/service.js";
import { cleanup, listTree } from "../../src/snapshots/testing.js";
import { findBusybox, importBusybox, tempDir } from "./fixtures.js";

const run = promisify(execFile);

async function has(tool: string): Promise<boolean> {
  try {
    await run("which", [tool]);
    return true;
  } catch {
    return false;
  }
}

const isRoot = process.getuid?.() === 0;
const skopeoSkip = !isRoot ? "needs root (overlay snapshots)" : !(await has("skopeo")) ? "skopeo is not installed (apt-get install -y skopeo)" : !(await findBusybox()) ? "busybox-static is not installed" : undefined;
const umociSkip = !isRoot ? "needs root (overlay snapshots)" : !(await has("umoci")) ? "umoci is not installed (apt-get install -y umoci)" : !(await findBusybox()) ? "busybox-static is not installed" : undefined;

async function skopeoJson(args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run("skopeo", args, { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** Image ID and diff IDs as skopeo sees them: sha256 of the raw config, and its rootfs.diff_ids. */
async function skopeoIds(ref: string): Promise<{ id: string; diffIds: string[] }> {
  const { stdout } = await run("skopeo", ["inspect", "--config", "--raw", ref], { maxBuffer: 16 * 1024 * 1024, encoding: "buffer" });
  const raw = stdout as unknown as Buffer;
  const cfg = JSON.parse(raw.toString("utf8")) as { rootfs: { diff_ids: string[] } };
  return { id: `sha256:${createHash("sha256").update(raw).digest("hex")}`, diffIds: cfg.rootfs.diff_ids };
}

describe("skopeo", { skip: skopeoSkip }, () => {
  let dir: string;
  let svc: ImageService;
  let id: string;
  let diffIds: string[];

  before(async () => {
    dir = await tempDir();
    svc = await ImageService.open({ root: path.join(dir, "root") });
    id = await importBusybox(svc);
    diffIds = (await svc.inspect(id)).RootFS.Layers;
  });
  after(async () => {
    await cleanup(dir);
  });

  it("inspects cove's OCI layout and copies it to a docker-archive", async () => {
    const layout = path.join(dir, "layout");
    await svc.exportOciLayout(["busybox:latest"], { dir: layout });
    const info = await skopeoJson(["inspect", `oci:${layout}:latest`]);
    assert.equal(info.Os, "linux");
    assert.deepEqual(await skopeoIds(`oci:${layout}:latest`), { id, diffIds });
    const out = path.join(dir, "from-skopeo.tar");
    await run("skopeo", ["copy", `oci:${layout}:latest`, `docker-archive:${out}:busybox:latest`]);
    // cove loads skopeo's docker-archive (legacy layout with symlinked layer dirs) with the same IDs
    const svc2 = await ImageService.open({ root: path.join(dir, "root2") });
    const res = await svc2.load(createReadStream(out));
    assert.deepEqual(res.loaded, ["busybox:latest"]);
    const ins = await svc2.inspect("busybox");
    assert.equal(ins.Id, id);
    assert.deepEqual(ins.RootFS.Layers, diffIds);
  });

  it("reads cove's docker-archive", async () => {
    const file = path.join(dir, "cove-save.tar");
    await svc.save(["busybox:latest"], createWriteStream(file));
    const info = await skopeoJson(["inspect", `docker-archive:${file}:busybox:latest`]);
    assert.equal(info.Architecture, (await svc.inspect(id)).Architecture);
    assert.deepEqual(await skopeoIds(`docker-archive:${file}:busybox:latest`), { id, diffIds });
  });

  it("writes an OCI layout (directory and tar) that cove imports with the same IDs", async () => {
    const file = path.join(dir, "cove-save2.tar");
    await svc.save(["busybox:latest"], createWriteStream(file));
    const ociDir = path.join(dir, "skopeo-oci");
    await run("skopeo", ["copy", `docker-archive:${file}:busybox:latest`, `oci:${ociDir}:busybox`]);
    const expected = await skopeoIds(`oci:${ociDir}:busybox`);
    const svc3 = await ImageService.open({ root: path.join(dir, "root3") });
    const res = await svc3.importOciLayout({ dir: ociDir });
    assert.deepEqual(res.loaded, [expected.id], "a bare ref.name names no repository: loaded by ID");
    // skopeo rewrites the config when it converts to OCI (a new image ID): cove must agree with skopeo
    assert.deepEqual((await svc3.inspect(expected.id)).RootFS.Layers, expected.diffIds);
    assert.deepEqual(expected.diffIds, diffIds, "the layers themselves are unchanged");
    // oci-archive: the same layout as a tar, through load
    const tarFile = path.join(dir, "skopeo-oci.tar");
    await run("skopeo", ["copy", `docker-archive:${file}:busybox:latest`, `oci-archive:${tarFile}:docker.io/library/busybox:latest`]);
    const svc4 = await ImageService.open({ root: path.join(dir, "root4") });
    const res4 = await svc4.load(createReadStream(tarFile));
    assert.deepEqual(res4.loaded, ["busybox:latest"]);
    assert.equal((await svc4.inspect("busybox")).Id, (await skopeoIds(`oci-archive:${tarFile}`)).id);
  });
});

describe("umoci", { skip: umociSkip }, () => {
  let dir: string;
  let svc: ImageService;

  before(async () => {
    dir = await tempDir();
    svc = await ImageService.open({ root: path.join(dir, "root") });
    await importBusybox(svc);
  });
  after(async () => {
    await svc.removeRootfs("umoci-cmp").catch(() => undefined);
    await cleanup(dir);
  });

  it("unpacks cove's layout into the same tree as cove's snapshot", async () => {
    const layout = path.join(dir, "layout");
    await svc.exportOciLayout(["busybox:latest"], { dir: layout });
    const bundle = path.join(dir, "bundle");
    await run("umoci", ["unpack", "--image", `${layout}:latest`, bundle]);
    await svc.prepareRootfs("umoci-cmp", "busybox");
    const [layerDir] = svc.snapshots.lowerDirs("umoci-cmp");
    assert.ok(layerDir);
    const strip = (lines: string[]) => lines.map((l) => l.replace(/ \d+$/, ""));
    const theirs = strip(await listTree(path.join(bundle, "rootfs"), { dirTimes: false }));
    const ours = strip(await listTree(layerDir, { dirTimes: false }));
    assert.ok(ours.length > 100, "busybox has its applets as symlinks");
    assert.deepEqual(ours, theirs);
  });
});

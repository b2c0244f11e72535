import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CoveError } from "../common/errors.js";
import { VolumeService, volumeUsage } from "./service.js";
import type { VolumeEvent } from "./types.js";

describe("VolumeService (local driver, no mounts)", () => {
  let root: string;
  let svc: VolumeService;
  const events: VolumeEvent[] = [];
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "cove-vol-"));
    svc = await VolumeService.open({ root, events: (e) => events.push(e) });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("creates volumes with Docker's JSON and writes their metadata", async () => {
    const v = await svc.create({ Name: "data", Labels: { a: "b" } });
    assert.deepEqual({ ...v, CreatedAt: "" }, { CreatedAt: "", Driver: "local", Labels: { a: "b" }, Mountpoint: path.join(root, "volumes/data/_data"), Name: "data", Options: null, Scope: "local" });
    assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(JSON.parse(await readFile(path.join(root, "volumes/data/volume.json"), "utf8")).Name, "data");
    assert.deepEqual(await svc.create({ Name: "data" }), v, "creating it again returns it");
    const anon = await svc.create({});
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    assert.deepEqual(anon.Labels, { "com.docker.volume.anonymous": "" });
    assert.deepEqual(
      events.map((e) => [e.Action, e.Actor.ID]),
      [
        ["create", "data"],
        ["create", anon.Name],
      ],
    );
    await svc.remove(anon.Name);
  });

  it("refuses bad names, options and drivers with Docker's messages, creating nothing", async () => {
    const cases: [Parameters<VolumeService["create"]>[0], string][] = [
      [{ Name: "x" }, "create x: volume name is too short, names should be at least two alphanumeric characters"],
      [{ Name: "-x" }, `create -x: "-x" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`],
      [{ Name: "ok1", DriverOpts: { foo: "bar" } }, `create ok1: invalid option: "foo"`],
      [{ Name: "ok2", DriverOpts: { type: "tmpfs" } }, `create ok2: missing required option: "device"`],
      [{ Name: "ok3", DriverOpts: { o: "size=1m", device: "tmpfs" } }, `create ok3: missing required option: "type"`],
      [{ Name: "ok4", Driver: "nfs-plugin" }, `create ok4: error looking up volume plugin nfs-plugin: plugin "nfs-plugin" not found`],
    ];
    for (const [req, message] of cases) await assert.rejects(svc.create(req), (e: unknown) => e instanceof CoveError && e.message === message);
    for (const n of ["ok1", "ok2", "ok3", "ok4"]) assert.ok(!existsSync(path.join(root, "volumes", n)));
  });

  it("keeps referenced volumes: rm refuses with Docker's 409 text, prune and dangling skip them", async () => {
    const { created } = await svc.createFor("c1", { Name: "used" });
    assert.equal(created, true);
    assert.equal((await svc.createFor("c2", { Name: "used" })).created, false);
    await assert.rejects(svc.remove("used"), (e: unknown) => e instanceof CoveError && e.kind === "conflict" && e.message === "remove used: volume is in use - [c1, c2]");
    await assert.rejects(svc.remove("used", { force: true }), /volume is in use/);
    assert.deepEqual(svc.list({ dangling: ["true"] }).Volumes.map((v) => v.Name), ["data"]);
    assert.deepEqual(svc.list({ dangling: ["0"] }).Volumes.map((v) => v.Name), ["used"]);
    assert.throws(() => svc.list({ dangling: ["maybe"] }), /Invalid filter 'dangling=\[maybe\]'/);
    assert.deepEqual(svc.list({ name: ["^us"] }).Volumes.map((v) => v.Name), ["used"]);
    assert.deepEqual(svc.list({ label: ["a=b"], driver: ["local"] }).Volumes.map((v) => v.Name), ["data"]);
    assert.deepEqual((await svc.prune({}, { all: true })).VolumesDeleted, ["data"]);
    svc.dereference("used", "c1");
    svc.dereference("used", "c2");
    await svc.remove("used");
    await assert.rejects(svc.remove("used"), (e: unknown) => e instanceof CoveError && e.kind === "not-found" && e.message === "get used: no such volume");
    await svc.remove("used", { force: true });
  });

  it("reports usage, and on open clears a volume whose create died before its metadata", async () => {
    await svc.create({ Name: "sized" });
    await writeFile(path.join(svc.mountpoint("sized"), "f"), "12345");
    assert.deepEqual((await svc.df()).find((v) => v.Name === "sized")?.UsageData, { Size: 5, RefCount: 0 });
    assert.deepEqual((await volumeUsage(root, new Map([["sized", 2]]))).map((v) => [v.Name, v.UsageData]), [["sized", { Size: 5, RefCount: 2 }]]);
    await mkdir(path.join(root, "volumes", "half", "_data"), { recursive: true });
    const again = await VolumeService.open({ root });
    assert.ok(!existsSync(path.join(root, "volumes", "half")));
    assert.deepEqual(again.list().Volumes.map((v) => v.Name), ["sized"]);
  });
});

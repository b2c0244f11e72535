// Volumes and mounts with real containers (root, real kernel): named and anonymous volumes, data
// shared between containers and kept across removal and restarts, read-only mounts, copy-up and
// nocopy, tmpfs volumes mounted on use, propagation of host mounts into a container, in-use
// refusals, prune, and bad input that changes nothing. Each test starts without containers or
// volumes, whatever the test before it left behind.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import type { CreateBody } from "../../src/containers/types.js";
import { collect, setup, until, type Harness } from "../containers/harness.js";

const IS_ROOT = process.getuid?.() === 0;

function mountedAt(target: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === target);
}

describe("volumes", { skip: !IS_ROOT && "needs root" }, () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(async () => {
    await h?.cleanup();
  });
  // a failed test leaves what it made: the next one must not see it (prune would, for one)
  afterEach(async () => {
    if (!h) return;
    for (const c of await h.svc.list({ all: true }).catch(() => [])) await h.svc.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
    for (const v of h.svc.volumes.list().Volumes) await h.svc.volumes.remove(v.Name).catch(() => undefined);
  });

  /** create + start + wait; returns the exit code and the output lines. */
  const run = async (body: Omit<CreateBody, "Image">, name?: string): Promise<{ id: string; code: number; out: string }> => {
    const { Id } = await h.svc.create({ Image: "busybox", ...body }, name ? { name } : {});
    const waiter = h.svc.wait(Id, "next-exit");
    await h.svc.start(Id);
    const { StatusCode } = await waiter;
    const out = (await collect(h.svc.logs(Id))).map((l) => l.replace(/^std(out|err):/, "")).join("");
    return { id: Id, code: StatusCode, out };
  };
  const volumeNames = () => h.svc.volumes.list().Volumes.map((v) => v.Name);

  it("shares a named volume's data between containers, and keeps it after they are removed", async () => {
    const w = await run({ Cmd: ["sh", "-c", "echo shared-data > /data/f"], HostConfig: { Binds: ["shared:/data"] } });
    assert.equal(w.code, 0);
    const info = await h.svc.inspect(w.id);
    assert.deepEqual(info.Mounts, [
      { Type: "volume", Name: "shared", Source: path.join(h.root, "volumes", "shared", "_data"), Destination: "/data", Driver: "local", Mode: "z", RW: true, Propagation: "" },
    ]);
    await h.svc.remove(w.id, { volumes: true });
    assert.ok(volumeNames().includes("shared"), "rm -v keeps named volumes");
    const r = await run({ Cmd: ["cat", "/v/f"], HostConfig: { Mounts: [{ Type: "volume", Source: "shared", Target: "/v" }] } });
    assert.equal(r.code, 0);
    assert.equal(r.out, "shared-data\n");
    const actions = h.events.filter((e) => e.Type === "volume" && e.Actor.ID === "shared").map((e) => e.Action);
    assert.deepEqual(actions.slice(0, 3), ["create", "mount", "unmount"]);
    const mount = h.events.find((e) => e.Type === "volume" && e.Action === "mount" && e.Actor.ID === "shared");
    assert.equal(mount?.Actor.Attributes.container, w.id);
    assert.equal(mount?.Actor.Attributes.destination, "/data");
    await h.svc.remove(r.id);
  });

  it("enforces read-only volumes and binds", async () => {
    const hostDir = path.join(h.base, "ro-bind");
    await mkdir(hostDir);
    const r = await run({
      Cmd: ["sh", "-c", "touch /v/x 2>/dev/null && echo vol-writable; touch /b/x 2>/dev/null && echo bind-writable; touch /m/x 2>/dev/null && echo mount-writable; echo done"],
      HostConfig: { Binds: ["rovol:/v:ro", `${hostDir}:/b:ro`], Mounts: [{ Type: "volume", Source: "rovol", Target: "/m", ReadOnly: true }] },
    });
    assert.equal(r.out, "done\n");
    const info = await h.svc.inspect(r.id);
    const byDest = Object.fromEntries((info.Mounts ?? []).map((m) => [m.Destination, m]));
    assert.equal(byDest["/v"]?.RW, false);
    assert.equal(byDest["/v"]?.Mode, "ro");
    assert.deepEqual(byDest["/b"], { Type: "bind", Source: hostDir, Destination: "/b", Mode: "ro", RW: false, Propagation: "rprivate" });
    assert.equal(readdirSync(hostDir).length, 0);
    await h.svc.remove(r.id);
  });

  it("copies the image's content into a new volume, keeping owners and modes, and skips it with nocopy", async () => {
    const r = await run({ Cmd: ["sh", "-c", "ls /sbin | wc -l"], HostConfig: { Binds: ["copied:/etc", "tmpcopy:/tmp", "nocopied:/sbin:nocopy"] } });
    assert.equal(r.code, 0);
    assert.equal(r.out.trim(), "0", "the nocopy volume hides the image's /sbin");
    const copied = path.join(h.root, "volumes", "copied", "_data");
    assert.equal(readFileSync(path.join(copied, "passwd"), "utf8").split("\n")[0], "root:x:0:0:root:/root:/bin/sh");
    assert.equal(statSync(path.join(h.root, "volumes", "tmpcopy", "_data")).mode & 0o7777, 0o1777, "the volume's root takes the image directory's mode");
    assert.deepEqual(readdirSync(path.join(h.root, "volumes", "nocopied", "_data")), []);
    // a volume that already has data is not overwritten
    await writeFile(path.join(copied, "mine"), "kept\n");
    const again = await run({ Cmd: ["cat", "/etc/mine"], HostConfig: { Binds: ["copied:/etc"] } });
    assert.equal(again.out, "kept\n");
    await h.svc.remove(r.id);
    await h.svc.remove(again.id);
    for (const v of ["copied", "tmpcopy", "nocopied"]) await h.svc.volumes.remove(v);
  });

  it("makes anonymous volumes from -v /path and the image's VOLUME, and removes them with rm -v and --rm", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["true"], Volumes: { "/anon": {} } });
    const [m] = (await h.svc.inspect(Id)).Mounts ?? [];
    assert.match(m?.Name ?? "", /^[0-9a-f]{64}$/);
    assert.equal(m?.Mode, "");
    const vol = h.svc.volumes.inspect(m!.Name!);
    assert.deepEqual(vol.Labels, { "com.docker.volume.anonymous": "" });
    await assert.rejects(h.svc.volumes.remove(m!.Name!), (e: unknown) => e instanceof CoveError && e.kind === "conflict" && e.message === `remove ${m!.Name}: volume is in use - [${Id}]`);
    await h.svc.remove(Id, { volumes: true });
    assert.ok(!volumeNames().includes(m!.Name!), "rm -v removed the anonymous volume");

    const kept = await h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { Binds: ["/kept"] } });
    const keptName = (await h.svc.inspect(kept.Id)).Mounts?.[0]?.Name ?? "";
    await h.svc.remove(kept.Id);
    assert.ok(volumeNames().includes(keptName), "rm without -v keeps it");
    await h.svc.volumes.remove(keptName);

    const auto = await h.svc.create({ Image: "busybox", Cmd: ["true"], Volumes: { "/auto": {} }, HostConfig: { AutoRemove: true } });
    const autoName = (await h.svc.inspect(auto.Id)).Mounts?.[0]?.Name ?? "";
    const gone = h.svc.wait(auto.Id, "removed");
    await h.svc.start(auto.Id);
    await gone;
    assert.ok(!volumeNames().includes(autoName), "--rm removed the anonymous volume");
  });

  it("mounts a tmpfs volume when a container uses it and unmounts it when the last one stops", async () => {
    await h.svc.volumes.create({ Name: "tmpv", DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m,uid=1000,mode=0700" } });
    const data = path.join(h.root, "volumes", "tmpv", "_data");
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "stat -c '%a %u' /t; grep ' /t ' /proc/mounts; sleep 600"], HostConfig: { Binds: ["tmpv:/t"] } });
    await h.svc.start(Id);
    assert.ok(mountedAt(data), "mounted while the container runs");
    // the stop must not come before the container has looked (a busy machine starts it late)
    await until("the container's stat and mount line", async () => / \/t tmpfs /.test((await collect(h.svc.logs(Id))).join("")));
    await h.svc.stop(Id, { timeout: 0 });
    const out = (await collect(h.svc.logs(Id))).join("");
    assert.match(out, /700 1000/);
    assert.match(out, /tmpfs \/t tmpfs rw,.*size=1024k/);
    assert.ok(!mountedAt(data), "unmounted after the stop");
    await h.svc.remove(Id);
    await h.svc.volumes.remove("tmpv");
    assert.ok(!existsSync(path.dirname(data)));
  });

  it("shows a host mount made after the start inside an rshared bind, and the host one made inside it, and refuses rshared on a private mount", async () => {
    const shared = path.join(h.base, "shared-src");
    await mkdir(shared);
    const privateDir = path.join(h.base, "private-src");
    await mkdir(privateDir);
    execFileSync("mount", ["--bind", shared, shared]);
    try {
      execFileSync("mount", ["--make-shared", shared]);
      execFileSync("mount", ["--bind", privateDir, privateDir]);
      execFileSync("mount", ["--make-private", privateDir]);
      const script = "for i in $(seq 1200); do [ -f /h/sub/marker ] && echo seen && exit 0; sleep 0.1; done; echo missing; exit 1";
      const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", script], HostConfig: { Binds: [`${shared}:/h:rshared`] } });
      const waiter = h.svc.wait(Id, "next-exit");
      await h.svc.start(Id);
      const sub = path.join(shared, "sub");
      await mkdir(sub);
      execFileSync("mount", ["-t", "tmpfs", "tmpfs", sub]);
      await writeFile(path.join(sub, "marker"), "x");
      const { StatusCode } = await waiter;
      assert.equal(StatusCode, 0, (await collect(h.svc.logs(Id))).join(""));
      await h.svc.remove(Id);
      execFileSync("umount", [sub]);

      // and back: a mount made inside a container on its rshared bind reaches the host, as with runc
      const back = path.join(shared, "back");
      await mkdir(back);
      const maker = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "mount -t tmpfs tmpfs /h/back && echo made > /h/back/marker"], HostConfig: { Privileged: true, Binds: [`${shared}:/h:rshared`] } });
      const made = h.svc.wait(maker.Id, "next-exit");
      await h.svc.start(maker.Id);
      assert.equal((await made).StatusCode, 0, (await collect(h.svc.logs(maker.Id))).join(""));
      assert.equal(readFileSync(path.join(back, "marker"), "utf8"), "made\n");
      await h.svc.remove(maker.Id);
      execFileSync("umount", [back]);

      const refused = await h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { Binds: [`${privateDir}:/p:rslave`] } });
      await assert.rejects(h.svc.start(refused.Id), (e: unknown) => e instanceof CoveError && e.message === `path ${privateDir} is mounted on ${privateDir} but it is not a shared or slave mount`);
      await h.svc.remove(refused.Id);
    } finally {
      for (const p of [path.join(shared, "sub"), path.join(shared, "back"), shared, privateDir]) {
        try {
          execFileSync("umount", ["-l", p], { stdio: "ignore" });
        } catch {
          // not mounted
        }
      }
    }
  });

  it("mounts a volume's subpath, and mounts from another container with --volumes-from :ro", async () => {
    await mkdir(path.join(h.root, "volumes"), { recursive: true });
    await h.svc.volumes.create({ Name: "withsub" });
    await mkdir(path.join(h.root, "volumes", "withsub", "_data", "inner"));
    await writeFile(path.join(h.root, "volumes", "withsub", "_data", "inner", "f"), "inner\n");
    const src = await h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { Mounts: [{ Type: "volume", Source: "withsub", Target: "/s", VolumeOptions: { Subpath: "inner" } }] } }, { name: "vf-source" });
    const r = await run({ Cmd: ["sh", "-c", "cat /s/f; touch /s/g 2>/dev/null || echo read-only"], HostConfig: { VolumesFrom: ["vf-source:ro"] } });
    assert.equal(r.out, "inner\nread-only\n");
    const m = (await h.svc.inspect(r.id)).Mounts?.[0];
    assert.equal(m?.Name, "withsub");
    assert.equal(m?.RW, false);
    await assert.rejects(
      h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { Mounts: [{ Type: "volume", Source: "withsub", Target: "/s", VolumeOptions: { Subpath: "../up" } }] } }),
      /subpath must be a relative path within the volume/,
    );
    await h.svc.remove(r.id);
    await h.svc.remove(src.Id);
    await h.svc.volumes.remove("withsub");
  });

  it("refuses bad mounts with Docker's messages and changes nothing", async () => {
    const before = { volumes: volumeNames().sort(), containers: (await h.svc.list({ all: true })).length };
    const cases: [CreateBody["HostConfig"], string | RegExp][] = [
      [{ Binds: ["bad$name:/x"] }, `create bad$name: "bad$name" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`],
      [{ Binds: ["a:/x"] }, "create a: volume name is too short, names should be at least two alphanumeric characters"],
      [{ Binds: ["/tmp:rel"] }, `invalid volume specification: '/tmp:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
      [{ Binds: ["/tmp:/x:bogus"] }, "invalid mode: bogus"],
      [{ Binds: ["/tmp:/x:ro,rw"] }, "invalid mode: ro,rw"],
      [{ Binds: ["a:b:c:d"] }, "invalid volume specification: 'a:b:c:d'"],
      [{ Binds: ["/tmp:/"] }, `invalid volume specification: '/tmp:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
      [{ Binds: ["/tmp:/x:nocopy"] }, `invalid volume specification: '/tmp:/x:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified`],
      [{ Binds: ["nv:/x:rshared"] }, `invalid volume specification: 'nv:/x:rshared': invalid mount config for type "volume": field BindOptions must not be specified`],
      [{ Binds: ["/tmp:/x", "/var:/x"] }, "Duplicate mount point: /x"],
      [{ Binds: ["/tmp:/x"], Tmpfs: { "/x": "" } }, "Duplicate mount point: /x"],
      [{ Binds: ["fresh1:/a", "/tmp:/x"], Mounts: [{ Type: "tmpfs", Target: "/x" }] }, "Duplicate mount point: /x"],
      [{ Mounts: [{ Type: "bind", Source: path.join(h.base, "missing"), Target: "/x" }] }, `invalid mount config for type "bind": bind source path does not exist: ${path.join(h.base, "missing")}`],
      [{ Mounts: [{ Type: "bind", Source: "rel", Target: "/x" }] }, `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
      [{ Mounts: [{ Type: "bind", Target: "/x" }] }, `invalid mount config for type "bind": field Source must not be empty`],
      [{ Mounts: [{ Type: "bind", Source: "/tmp", Target: "/x", BindOptions: { Propagation: "bogus" } }] }, `invalid mount config for type "bind": invalid propagation mode: bogus`],
      [{ Mounts: [{ Type: "tmpfs", Source: "foo", Target: "/x" }] }, `invalid mount config for type "tmpfs": field Source must not be specified`],
      [{ Mounts: [{ Type: "bogus" as "bind", Target: "/x" }] }, `invalid mount config for type "bogus": mount type unknown`],
      [{ Mounts: [{ Type: "volume", Source: "fresh2", Target: "/x", VolumeOptions: { DriverConfig: { Options: { foo: "bar" } } } }] }, `create fresh2: invalid option: "foo"`],
      [{ VolumesFrom: ["no-such-container"] }, "No such container: no-such-container"],
    ];
    for (const [hc, message] of cases) {
      await assert.rejects(h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: hc! }), (e: unknown) => {
        assert.ok(e instanceof CoveError, String(e));
        if (typeof message === "string") assert.equal(e.message, message);
        else assert.match(e.message, message);
        return true;
      });
    }
    assert.deepEqual(volumeNames().sort(), before.volumes, "no volume was left behind");
    assert.equal((await h.svc.list({ all: true })).length, before.containers);
    assert.ok(!existsSync(path.join(h.root, "volumes", "fresh1")));
  });

  it("prunes only unused anonymous volumes unless all, and keeps them across a restart of the service", async () => {
    await h.svc.volumes.create({ Name: "named-unused", Labels: { keep: "no" } });
    const anon = await h.svc.volumes.create({});
    const used = await h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { Binds: ["named-used:/u", "/anon-used"] } });
    const anonUsed = (await h.svc.inspect(used.Id)).Mounts?.find((m) => m.Destination === "/anon-used")?.Name ?? "";
    await h.svc.close();
    await h.reopen();
    // references come back from the containers: in-use volumes stay protected
    await assert.rejects(h.svc.volumes.remove("named-used"), /volume is in use/);
    assert.deepEqual(h.svc.volumes.list({ dangling: ["false"] }).Volumes.map((v) => v.Name).sort(), [anonUsed, "named-used"].sort());
    assert.deepEqual(h.svc.volumes.list({ label: ["keep=no"] }).Volumes.map((v) => v.Name), ["named-unused"]);
    const pruned = await h.svc.volumes.prune();
    assert.deepEqual(pruned.VolumesDeleted, [anon.Name]);
    const all = await h.svc.volumes.prune({ label: ["keep"] }, { all: true });
    assert.deepEqual(all.VolumesDeleted, ["named-unused"]);
    assert.ok(volumeNames().includes("named-used"));
    await assert.rejects(async () => h.svc.volumes.list({ bogus: ["1"] }), /Invalid filter 'bogus'/);
    await h.svc.remove(used.Id, { volumes: true });
    assert.ok(!volumeNames().includes(anonUsed));
    await h.svc.volumes.remove("named-used");
  });
});

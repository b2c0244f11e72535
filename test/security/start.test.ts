// A container start never reaches the host through the container's own symlinks (root, real
// kernel, both runtimes): images built here whose working directory or /etc is a symlink to a
// host directory, containers that swap their working directory or the parent of a bind target for
// such a symlink and are restarted, a container that keeps swapping a volume's directory with a
// symlink to a host directory while others mount it as their subpath, and the subpath staging
// mounts, which must be gone after a start (also a failed one), a stop, a removal and a daemon
// that died half way through a start. The host canary directory must stay exactly as it was.

import assert from "node:assert/strict";
import { createReadStream, createWriteStream, existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import { findRunc } from "../../src/runtime/runc.js";
import type { CreateBody } from "../../src/containers/types.js";
import { addon } from "../../src/native/addon.js";
import { tarDirectory } from "../../src/snapshots/diff.js";
import { collect, setup, type Harness } from "../containers/harness.js";
import { busyboxRootfsTar } from "../images/fixtures.js";

const IS_ROOT = process.getuid?.() === 0;
const RUNC = findRunc();
/** The runtimes every case runs with: cove's own, and runc when it is installed. */
const RUNTIMES: ("cove" | "runc")[] = RUNC ? ["cove", "runc"] : ["cove"];

/** Every entry below dir with its type, size and mode: what "untouched" is compared on. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const n of readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, n);
      const st = lstatSync(path.join(dir, r));
      out[r] = `${st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "f"} ${st.size} ${(st.mode & 0o7777).toString(8)} ${st.mtimeMs}`;
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

/** Mount points of the state root's subpath staging (there must never be one after a start). */
function stagingMounts(root: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(path.join(root, "containers") + "/") && m.includes("/subpaths"));
}

describe("container start: symlinks of the container stay inside it", { skip: !IS_ROOT && "needs root" }, () => {
  let h: Harness;
  let canary: string;
  let umask: number;
  let untouched: Record<string, string>;
  before(async () => {
    // the modes asserted below are the ones Docker gets under the usual umask
    umask = process.umask(0o022);
    h = await setup();
    canary = path.join(h.base, "canary");
    await mkdir(path.join(canary, "etcdir"), { recursive: true });
    // host files the container must never read as its own
    await writeFile(path.join(canary, "etcdir", "passwd"), "hostonly:x:4242:4242:host:/:/bin/sh\n");
    await writeFile(path.join(canary, "etcdir", "group"), "hostgroup:x:4242:\n");
    // the links' targets exist on the host: a daemon following a link would write into them
    for (const d of ["wd", "wd2-cove", "wd2-runc", "bindparent-cove", "bindparent-runc"]) await mkdir(path.join(canary, d));
    await mkdir(path.join(canary, "hostsecret"));
    await writeFile(path.join(canary, "hostsecret", "secret"), "HOST-SECRET\n");
    untouched = tree(canary);
  });
  after(async () => {
    try {
      await h?.cleanup();
    } finally {
      process.umask(umask);
    }
  });

  /** busybox with edit applied to its tree, imported as ref with the given changes (Dockerfile lines). */
  const image = async (ref: string, edit: (rootfs: string) => Promise<void>, changes: string[] = []): Promise<void> => {
    const dir = await mkdtemp(path.join(h.base, "image-"));
    try {
      await busyboxRootfsTar(dir);
      const rootfs = path.join(dir, "rootfs");
      await edit(rootfs);
      const tar = path.join(dir, "edited.tar");
      await tarDirectory(rootfs, createWriteStream(tar));
      await h.images.importRootfs(createReadStream(tar), { reference: ref, changes: ['CMD ["sh"]', ...changes] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  const withRuntime = (body: CreateBody, runtime: "cove" | "runc"): CreateBody => (runtime === "runc" ? { ...body, HostConfig: { ...body.HostConfig, Runtime: "runc" } } : body);

  /** Starts an existing container and waits for its exit; the code and the output. */
  const startToExit = async (id: string, how: "start" | "restart" = "start"): Promise<{ code: number; out: string }> => {
    const exited = h.svc.wait(id, "next-exit");
    if (how === "start") await h.svc.start(id);
    else await h.svc.restart(id);
    const { StatusCode } = await exited;
    const out = (await collect(h.svc.logs(id))).map((l) => l.replace(/^std(out|err):/, "")).join("");
    return { code: StatusCode, out };
  };

  const run = async (body: CreateBody): Promise<{ id: string; code: number; out: string }> => {
    const { Id } = await h.svc.create(body);
    try {
      return { id: Id, ...(await startToExit(Id)) };
    } catch (err) {
      await h.svc.remove(Id, { force: true }).catch(() => undefined);
      throw err;
    }
  };

  const assertCanaryUntouched = () => assert.deepEqual(tree(canary), untouched, "nothing changed in the host's canary directory");

  it("an image's WorkingDir through a symlink to the host is made inside the root, root-owned, 0755", async () => {
    await image("hostile-workdir", (rootfs) => symlink(path.join(canary, "wd"), path.join(rootfs, "w")), ["WORKDIR /w/sub/dir"]);
    for (const runtime of RUNTIMES) {
      const r = await run(withRuntime({ Image: "hostile-workdir", User: "nobody", Cmd: ["sh", "-c", `pwd; stat -c '%u:%g %a' .; ls -d ${canary}/wd/sub/dir`] }, runtime));
      try {
        assert.equal(r.code, 0, `${runtime}: ${r.out}`);
        const lines = r.out.trim().split("\n");
        // moby's SetupWorkingDirectory: mkdir -p in the root, 0755, owned by the daemon's root identity
        assert.equal(lines[1], "0:0 755", runtime);
        assert.equal(lines[2], `${canary}/wd/sub/dir`, `${runtime}: the link's target exists inside the root`);
      } finally {
        await h.svc.remove(r.id, { force: true });
      }
      assertCanaryUntouched();
    }
  });

  it("a container that swaps its working directory for a symlink to the host gets it made inside its root at restart", async () => {
    for (const runtime of RUNTIMES) {
      const script = `if [ -L /work ]; then echo second; ls -d ${canary}/wd2-${runtime}; else cd / && rmdir /work && ln -s ${canary}/wd2-${runtime} /work && echo swapped; fi`;
      const r = await run(withRuntime({ Image: "busybox", WorkingDir: "/work", Cmd: ["sh", "-c", script] }, runtime));
      try {
        assert.equal(r.code, 0, `${runtime}: ${r.out}`);
        assert.equal(r.out, "swapped\n");
        const again = await startToExit(r.id, "restart");
        assert.equal(again.code, 0, `${runtime}: ${again.out}`);
        assert.equal(again.out, `swapped\nsecond\n${canary}/wd2-${runtime}\n`);
      } finally {
        await h.svc.remove(r.id, { force: true });
      }
      assertCanaryUntouched();
    }
  });

  it("an image whose /etc links to a host directory: the container's files and its user are resolved inside the root", async () => {
    await image("hostile-etc", async (rootfs) => {
      await rm(path.join(rootfs, "etc"), { recursive: true });
      await symlink(path.join(canary, "etcdir"), path.join(rootfs, "etc"));
    });
    for (const runtime of RUNTIMES) {
      // as with Docker, the mount targets and the init layer's /etc/mtab link are created where the link leads inside the root
      const r = await run(withRuntime({ Image: "hostile-etc", Hostname: "inside", Cmd: ["sh", "-c", "cat /etc/hostname; ls /etc/"] }, runtime));
      try {
        assert.equal(r.code, 0, `${runtime}: ${r.out}`);
        assert.equal(r.out, "inside\nhostname\nhosts\nmtab\nresolv.conf\n", runtime);
      } finally {
        await h.svc.remove(r.id, { force: true });
      }
      // the host's passwd behind the link is not the container's
      const { Id } = await h.svc.create(withRuntime({ Image: "hostile-etc", User: "hostonly", Cmd: ["true"] }, runtime));
      try {
        await assert.rejects(h.svc.start(Id), /unable to find user hostonly: no matching entries in passwd file/);
      } finally {
        await h.svc.remove(Id, { force: true });
      }
      assertCanaryUntouched();
    }
  });

  it("a container that replaces the parent of a bind target with a symlink to the host gets the target made inside its root at restart", async () => {
    const source = path.join(h.base, "bind-source.txt");
    await writeFile(source, "bound\n");
    try {
      for (const runtime of RUNTIMES) {
        const link = path.join(canary, `bindparent-${runtime}`);
        const script = `if [ -L /data/conf ]; then cat /data/conf/file.txt; ls -d ${link}; else mv /data/conf /data/old && ln -s ${link} /data/conf && echo swapped; fi`;
        const r = await run(withRuntime({ Image: "busybox", Cmd: ["sh", "-c", script], HostConfig: { Binds: [`${source}:/data/conf/file.txt:ro`] } }, runtime));
        try {
          assert.equal(r.code, 0, `${runtime}: ${r.out}`);
          assert.equal(r.out, "swapped\n");
          const again = await startToExit(r.id, "restart");
          assert.equal(again.code, 0, `${runtime}: ${again.out}`);
          assert.equal(again.out, `swapped\nbound\n${link}\n`);
        } finally {
          await h.svc.remove(r.id, { force: true });
        }
        assertCanaryUntouched();
      }
    } finally {
      await rm(source, { force: true });
    }
  });

  describe("volume subpaths", () => {
    const data = () => path.join(h.root, "volumes", "subs", "_data");
    before(async () => {
      await h.svc.volumes.create({ Name: "subs" });
      await mkdir(path.join(data(), "d"));
      await writeFile(path.join(data(), "d", "f"), "in d\n");
      await writeFile(path.join(data(), "file.txt"), "a file\n");
      await symlink("/d", path.join(data(), "abs-link")); // resolves inside the volume
      await symlink(path.join(canary, "hostsecret"), path.join(data(), "host-link"));
    });
    after(async () => {
      await h.svc.volumes.remove("subs", { force: true }).catch(() => undefined);
    });
    const sub = (subpath: string, target = "/s"): CreateBody["HostConfig"] => ({ Mounts: [{ Type: "volume", Source: "subs", Target: target, VolumeOptions: { Subpath: subpath } }] });

    it("mounts a directory, a file, and a link resolved inside the volume; the staging mounts are gone once the container runs", async () => {
      for (const runtime of RUNTIMES) {
        const dir = await run(withRuntime({ Image: "busybox", Cmd: ["cat", "/s/f"], HostConfig: sub("d") }, runtime));
        const file = await run(withRuntime({ Image: "busybox", Cmd: ["cat", "/f"], HostConfig: sub("file.txt", "/f") }, runtime));
        const link = await run(withRuntime({ Image: "busybox", Cmd: ["cat", "/s/f"], HostConfig: sub("abs-link") }, runtime));
        try {
          assert.deepEqual([dir.code, dir.out], [0, "in d\n"], runtime);
          assert.deepEqual([file.code, file.out], [0, "a file\n"], runtime);
          assert.deepEqual([link.code, link.out], [0, "in d\n"], runtime);
        } finally {
          for (const r of [dir, file, link]) await h.svc.remove(r.id, { force: true });
        }
        // a running container keeps its mount without the staging one
        const { Id } = await h.svc.create(withRuntime({ Image: "busybox", Cmd: ["sh", "-c", "cat /s/f; exec sleep 600"], HostConfig: sub("d") }, runtime));
        try {
          await h.svc.start(Id);
          assert.deepEqual(stagingMounts(h.root), [], `${runtime}: no staging mount while the container runs`);
          assert.ok(!existsSync(path.join(h.root, "containers", Id, "subpaths")), runtime);
          const pid = (await h.svc.inspect(Id)).State.Pid;
          assert.equal(readFileSync(`/proc/${pid}/root/s/f`, "utf8"), "in d\n", runtime);
          await h.svc.stop(Id, { timeout: 0 });
          assert.deepEqual(stagingMounts(h.root), [], `${runtime}: none after the stop`);
        } finally {
          await h.svc.remove(Id, { force: true });
        }
        assert.deepEqual(stagingMounts(h.root), [], `${runtime}: none after the removal`);
      }
      assertCanaryUntouched();
    });

    it("refuses a missing subpath, and a link to the host (it resolves inside the volume), leaving no staging mount", async () => {
      for (const subpath of ["missing", "host-link", "file.txt/below"]) {
        const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["ls", "/s"], HostConfig: sub(subpath) });
        try {
          await assert.rejects(h.svc.start(Id), (err: unknown) => {
            assert.ok(err instanceof CoveError);
            assert.equal(err.kind, "not-found");
            assert.equal(err.message, `cannot mount volume subs at /s: its subpath ${subpath} does not exist`);
            return true;
          });
          assert.deepEqual(stagingMounts(h.root), []);
          assert.ok(!existsSync(path.join(h.root, "containers", Id, "subpaths")));
        } finally {
          await h.svc.remove(Id, { force: true });
        }
      }
      assertCanaryUntouched();
    });

    it("leaves no staging mount after a start that fails in the runtime", async () => {
      for (const runtime of RUNTIMES) {
        const { Id } = await h.svc.create(withRuntime({ Image: "busybox", Cmd: ["/no/such/program"], HostConfig: { Mounts: [...(sub("d")?.Mounts ?? []), ...(sub("file.txt", "/f")?.Mounts ?? [])] } }, runtime));
        try {
          await assert.rejects(h.svc.start(Id), /no such file or directory|not found/i);
          assert.deepEqual(stagingMounts(h.root), [], runtime);
          assert.ok(!existsSync(path.join(h.root, "containers", Id, "subpaths")), runtime);
        } finally {
          await h.svc.remove(Id, { force: true });
        }
      }
    });

    it("removes the staging mounts a daemon that died during a start left behind", async () => {
      const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["cat", "/s/f"], HostConfig: sub("d") });
      try {
        // what a start leaves between staging and the runtime's create
        const staging = path.join(h.root, "containers", Id, "subpaths", "0");
        await mkdir(staging, { recursive: true, mode: 0o700 });
        addon().mount(path.join(data(), "d"), staging, null, addon().constants.MS_BIND, null);
        assert.equal(stagingMounts(h.root).length, 1);
        await h.svc.close();
        await h.reopen();
        assert.deepEqual(stagingMounts(h.root), [], "the new daemon removed it");
        assert.ok(!existsSync(path.dirname(staging)));
        assert.equal(readFileSync(path.join(data(), "d", "f"), "utf8"), "in d\n", "the volume's data is intact");
        const again = await startToExit(Id);
        assert.deepEqual([again.code, again.out], [0, "in d\n"]);
      } finally {
        await h.svc.remove(Id, { force: true });
      }
      assert.deepEqual(stagingMounts(h.root), []);
    });

    it("a container swapping the subpath's directory with a symlink to a host directory never gets another container the host's files", async () => {
      await h.svc.volumes.create({ Name: "race" });
      const raceData = path.join(h.root, "volumes", "race", "_data");
      await mkdir(path.join(raceData, "d"));
      await writeFile(path.join(raceData, "d", "inside"), "inside\n");
      const target = path.join(canary, "hostsecret");
      // the directory and the link each stay a moment, so that a start resolving the one and
      // mounting the other is likely (a daemon that mounts a path string mounts the host's directory)
      const swapper = `while true; do sleep 0.01; mv /v/d /v/real; ln -s ${target} /v/d; sleep 0.01; rm -f /v/d; mv /v/real /v/d; done`;
      const attacker = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", swapper], HostConfig: { Binds: ["race:/v"] } });
      const victims: string[] = [];
      try {
        await h.svc.start(attacker.Id);
        const deadline = Date.now() + 60_000;
        let started = 0;
        let refused = 0;
        for (let i = 0; i < 30 && Date.now() < deadline; i++) {
          const runtime = RUNTIMES[i % RUNTIMES.length]!;
          const victim: CreateBody = { Image: "busybox", Cmd: ["sh", "-c", "cat /s/secret 2>/dev/null; ls /s"], HostConfig: { Mounts: [{ Type: "volume", Source: "race", Target: "/s", VolumeOptions: { Subpath: "d" } }] } };
          const { Id } = await h.svc.create(withRuntime(victim, runtime));
          victims.push(Id);
          let out: string | undefined;
          try {
            out = (await startToExit(Id)).out;
          } catch (err) {
            // the start met the directory missing or as the link (resolved inside the volume): refused
            assert.ok(err instanceof CoveError && err.code === "volume.subpath", String(err));
          }
          if (out === undefined) refused++;
          else {
            started++;
            assert.doesNotMatch(out, /HOST-SECRET|secret/, `start ${i} (${runtime}): the host directory was mounted`);
          }
          assert.deepEqual(stagingMounts(h.root), [], `start ${i} (${runtime}): no staging mount left`);
          await h.svc.remove(Id, { force: true });
          victims.pop();
        }
        assert.ok(started + refused > 0);
        assert.equal((await h.svc.inspect(attacker.Id)).State.Status, "running", "the swapping went on all along");
      } finally {
        for (const id of [...victims, attacker.Id]) await h.svc.remove(id, { force: true }).catch(() => undefined);
        await h.svc.volumes.remove("race", { force: true }).catch(() => undefined);
      }
      assertCanaryUntouched();
    });
  });
});

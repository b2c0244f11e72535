// User namespaces under a root daemon, through the docker CLI against cove's socket (and the API
// for --userns=auto, which the docker CLI does not offer): a daemon started with
// --userns-remap=default (own root, socket and runtime root) runs every container as nobody on
// the host. Root inside is uid 0 with the image's files its own (idmapped layers), what it makes in
// a bind mount belongs to the mapped uid on the host, and a host root's file there stays out of
// its reach; --userns=host opts out, --userns=auto gives each container ids of its own;
// commit, export and cp record the container's view of owners; Docker's refusals for privileged,
// host network and host PID namespaces hold; a refused create leaves nothing behind; and the
// escape probes (test/fixtures/escape-probe.c) are denied in a remapped container. Debian's
// dockerd with --userns-remap=default (own data root, exec root, socket, no bridge) runs beside it
// for the uid_map's shape, the bind mount's ownership and the refusal messages.
//
// --userns-remap=default makes the cove-remap account and its /etc/subuid and /etc/subgid ranges
// (dockerd makes dockremap): whichever of the two the test made is removed again in `after`.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { closeSync, createWriteStream, existsSync, openSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { tarDirectory } from "../../src/snapshots/diff.js";
import { PACKAGE_ROOT } from "../fixtures/bundle.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { api, dockerCliSkip, run, type Result } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";

const skip = (await dockerCliSkip()) || false;
if (skip) console.warn(`test/security/userns.test: ${skip}: the user namespace tests did NOT run`);
const noDockerd = dockerdAvailable();

const IMAGE = "userns-probe:latest";
const PROBE = "/escape-probe";

function sh(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(file, args, (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))));
}

const hasUser = (name: string) => readFileSync("/etc/passwd", "utf8").split("\n").some((l) => l.startsWith(`${name}:`));

/** An account's first subordinate range in /etc/subuid (or subgid). */
function firstRange(file: string, name: string): { start: number; size: number } {
  const line = readFileSync(file, "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `${file} has no range for ${name}`);
  const [, start, size] = line.split(":");
  return { start: Number(start), size: Number(size) };
}

/** uid_map text as rows of numbers. */
const mapRows = (text: string) =>
  text
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number));

/** The first block device the host itself can open (the escape probe's "host disk"). */
function hostBlockDevice(): { major: number; minor: number } {
  for (const name of readdirSync("/sys/block").sort((a, b) => Number(a.startsWith("loop")) - Number(b.startsWith("loop")) || a.localeCompare(b))) {
    const [major, minor] = readFileSync(`/sys/block/${name}/dev`, "utf8").trim().split(":").map(Number);
    try {
      closeSync(openSync(`/dev/${name}`, "r"));
      return { major: major!, minor: minor! };
    } catch {
      // the host cannot open it either
    }
  }
  throw new Error("no block device under /sys/block can be opened on the host");
}

/** The user namespace fds this process holds (the in-process daemon's). */
function usernsFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      if (link.startsWith("user:[")) out.push(`${fd} -> ${link}`);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

describe("user namespaces: a daemon with --userns-remap=default", { skip }, () => {
  let dir: string;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  let env: NodeJS.ProcessEnv;
  let socket: string;
  let runtimeRoot: string;
  let hostData: string;
  const madeAccounts: string[] = [];
  const logs: string[] = [];
  const docker = (args: string[], input?: string | Buffer): Promise<Result> => run(env, args, input, 120_000);
  const ok = (r: Result, what: string): string => {
    assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const create = async (body: Record<string, unknown>, name?: string) => api(socket, "POST", `/containers/create${name ? `?name=${name}` : ""}`, JSON.stringify(body));

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-userns-"));
    await chmod(dir, 0o755);
    hostData = path.join(dir, "host-data");
    runtimeRoot = `/run/cove-userns-${process.pid}`;
    socket = path.join(dir, "cove.sock");
    if (!hasUser("cove-remap")) madeAccounts.push("cove-remap");
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, usernsRemap: "default", log: (l) => logs.push(l) });
    env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    await busyboxRootfsTar(path.join(dir, "bb"));
    const rootfs = path.join(dir, "bb", "rootfs");
    await sh("gcc", ["-static", "-O2", "-Wall", "-o", path.join(rootfs, PROBE), path.join(PACKAGE_ROOT, "test", "fixtures", "escape-probe.c")]);
    await chmod(path.join(rootfs, PROBE), 0o755);
    // a file of uid 1000 in the image: an owner other than root goes through the mapping too
    await mkdir(path.join(rootfs, "owned"));
    await writeFile(path.join(rootfs, "owned", "by1000"), "x");
    await chown(path.join(rootfs, "owned", "by1000"), 1000, 1000);
    const tar = path.join(dir, "probe.tar");
    await tarDirectory(rootfs, createWriteStream(tar));
    ok(await docker(["import", "--change", 'CMD ["sh"]', tar, IMAGE]), "import");
    if (!noDockerd) {
      if (!hasUser("dockremap")) madeAccounts.push("dockremap");
      // dockerd's remapped root must reach its data root: every directory above it lets others through
      await mkdir(path.join(dir, "d", "data"), { recursive: true });
      await chmod(path.join(dir, "d"), 0o711);
      await chmod(path.join(dir, "d", "data"), 0o711);
      try {
        dockerd = await startDockerd({ dir: path.join(dir, "d"), daemonJson: { "userns-remap": "default" } });
        ok(await dockerd.docker(["import", "--change", 'CMD ["sh"]', tar, IMAGE]), "dockerd: import");
      } catch (err) {
        console.warn(`test/security/userns.test: dockerd with --userns-remap=default did not start, the side-by-side checks are skipped: ${(err as Error).message}`);
        await dockerd?.stop();
        dockerd = undefined;
      }
    }
  });

  after(async () => {
    try {
      if (dockerd) {
        const ids = (await dockerd.docker(["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
        if (ids.length) await dockerd.docker(["rm", "-f", ...ids]);
        await dockerd.stop();
      }
    } finally {
      await tearDownDaemon(daemon, dir);
      await rm(runtimeRoot, { recursive: true, force: true }).catch(() => undefined);
      // the accounts this test made, with their subordinate ranges (userdel drops those)
      for (const name of madeAccounts) if (hasUser(name)) await sh("userdel", [name]).catch((err: unknown) => console.warn(`could not remove the account ${name}: ${(err as Error).message}`));
    }
  });

  it("made cove-remap with subordinate ranges, and /info lists name=userns", async () => {
    const uids = firstRange("/etc/subuid", "cove-remap");
    const gids = firstRange("/etc/subgid", "cove-remap");
    assert.ok(uids.start >= 100000 && uids.size >= 65536, `cove-remap's uids: ${JSON.stringify(uids)}`);
    assert.ok(gids.start >= 100000 && gids.size >= 65536, `cove-remap's gids: ${JSON.stringify(gids)}`);
    const info = JSON.parse(ok(await docker(["info", "--format", "{{json .SecurityOptions}}"]), "info")) as string[];
    assert.ok(info.includes("name=userns"), `SecurityOptions: ${info.join(", ")}`);
  });

  it("root in the container is uid 0 mapped onto the subordinate range, and sees the image's files as its own", async () => {
    const uids = firstRange("/etc/subuid", "cove-remap");
    const gids = firstRange("/etc/subgid", "cove-remap");
    const out = ok(await docker(["run", "--rm", "--network", "none", IMAGE, "sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; echo --; stat -c '%u:%g %n' /bin/busybox /etc/passwd /owned/by1000"]), "run");
    const [uidMap, gidMap, id, owners] = out.split("--\n");
    assert.deepEqual(mapRows(uidMap!), [[0, uids.start, 65536]]);
    assert.deepEqual(mapRows(gidMap!), [[0, gids.start, 65536]]);
    assert.equal(id!.trim(), "0");
    assert.deepEqual(owners!.trim().split("\n"), ["0:0 /bin/busybox", "0:0 /etc/passwd", "1000:1000 /owned/by1000"]);
    // root may change its own files in the image, and its /etc/hosts
    ok(await docker(["run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo changed > /etc/passwd && echo '10.1.2.3 x' >> /etc/hosts && mkdir /newdir && touch /owned/by1000"]), "root writes its files");
  });

  it("what root makes in a bind mount belongs to the mapped uid on the host, and a host root's file stays out of reach", async () => {
    const uids = firstRange("/etc/subuid", "cove-remap");
    await mkdir(hostData, { recursive: true });
    await chmod(hostData, 0o777);
    await writeFile(path.join(hostData, "host-root-file"), "host\n", { mode: 0o644 });
    const r = await docker(["run", "--rm", "--network", "none", "-v", `${hostData}:/data`, IMAGE, "sh", "-c", "touch /data/made-inside; echo pwned >> /data/host-root-file && echo WROTE || echo DENIED; chmod 666 /data/host-root-file && echo CHMOD || echo NOCHMOD"]);
    ok(r, "run with a bind mount");
    assert.match(r.stdout, /DENIED/);
    assert.match(r.stdout, /NOCHMOD/);
    const made = statSync(path.join(hostData, "made-inside"));
    assert.equal(made.uid, uids.start, "the file made by root inside belongs to the mapped uid");
    assert.notEqual(made.uid, 0);
    assert.equal(await readFile(path.join(hostData, "host-root-file"), "utf8"), "host\n");
    assert.equal(statSync(path.join(hostData, "host-root-file")).mode & 0o777, 0o644);
  });

  it("a volume made for a remapped container is its root's, and its copy-up keeps the image's owners as the container sees them", async () => {
    const uids = firstRange("/etc/subuid", "cove-remap");
    const vol = `userns-vol-${process.pid}`;
    try {
      const out = ok(await docker(["run", "--rm", "--network", "none", "-v", `${vol}:/owned`, "-v", "/fresh", IMAGE, "sh", "-c", "stat -c '%u:%g' /owned/by1000 /owned /fresh && touch /owned/new /fresh/new && echo WROTE"]), "run with volumes");
      assert.deepEqual(out.trim().split("\n"), ["1000:1000", "0:0", "0:0", "WROTE"]);
      const mountpoint = ok(await docker(["volume", "inspect", "-f", "{{.Mountpoint}}", vol]), "volume inspect").trim();
      assert.equal(statSync(path.join(mountpoint, "new")).uid, uids.start);
      assert.equal(statSync(path.join(mountpoint, "by1000")).uid, uids.start + 1000);
    } finally {
      await docker(["volume", "rm", "-f", vol]);
    }
  });

  it("--userns=host runs in the host's user namespace, and may be privileged", async () => {
    const out = ok(await docker(["run", "--rm", "--network", "none", "--userns=host", IMAGE, "cat", "/proc/self/uid_map"]), "run --userns=host");
    assert.deepEqual(mapRows(out), [[0, 0, 4294967295]]);
    ok(await docker(["run", "--rm", "--network", "none", "--userns=host", "--privileged", IMAGE, "true"]), "run --userns=host --privileged");
  });

  it("refuses privileged, host network and host PID namespaces in a user namespace, as dockerd does", async () => {
    const cases: [string, string[], RegExp][] = [
      ["--privileged", ["--privileged"], /privileged mode is incompatible with user namespaces/i],
      ["--network host", ["--network", "host"], /cannot share the host's network namespace when user namespaces are enabled/i],
      ["--pid host", ["--pid", "host", "--network", "none"], /cannot share the host PID namespace when user namespaces are enabled/i],
    ];
    const before = (await docker(["ps", "-aq"])).stdout;
    for (const [what, flags, re] of cases) {
      const r = await docker(["run", "--rm", ...flags, IMAGE, "true"]);
      assert.equal(r.code, 125, `${what}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, what);
      if (dockerd) {
        const d = await dockerd.docker(["run", "--rm", ...flags, IMAGE, "true"]);
        assert.equal(d.code, 125, `dockerd ${what}: ${d.stdout}${d.stderr}`);
        assert.match(d.stderr, re, `dockerd ${what}`);
        const first = (s: string) => s.replace(/^docker: Error response from daemon: /, "").split("\n")[0]!.trim();
        assert.equal(first(r.stderr), first(d.stderr), `${what}: the same words as dockerd`);
      }
    }
    assert.equal((await docker(["ps", "-aq"])).stdout, before, "a refused create leaves no container");
  });

  it("--userns=auto gives each container a range of its own, freed at rm; refusals leave nothing allocated", async () => {
    const pool = firstRange("/etc/subuid", "cove-remap");
    const a = await create({ Image: IMAGE, Cmd: ["sleep", "1000"], HostConfig: { UsernsMode: "auto", NetworkMode: "none" } }, `userns-auto-a-${process.pid}`);
    assert.equal(a.status, 201, a.body);
    const b = await create({ Image: IMAGE, Cmd: ["sleep", "1000"], HostConfig: { UsernsMode: "auto:size=2000", NetworkMode: "none" } }, `userns-auto-b-${process.pid}`);
    assert.equal(b.status, 201, b.body);
    const ids = [JSON.parse(a.body).Id as string, JSON.parse(b.body).Id as string];
    try {
      for (const id of ids) ok(await docker(["start", id]), "start");
      const maps = await Promise.all(ids.map(async (id) => mapRows(ok(await docker(["exec", id, "cat", "/proc/self/uid_map"]), "exec"))[0]!));
      const [ma, mb] = maps as [number[], number[]];
      assert.equal(ma[0], 0);
      assert.equal(ma[2], 65536);
      assert.equal(mb[2], 2000);
      // inside the account's ranges, past the 65536 ids every remapped container shares, and apart
      for (const m of maps) assert.ok(m[1]! >= pool.start + 65536 && m[1]! + m[2]! <= pool.start + pool.size, `range ${m.join(" ")} in ${JSON.stringify(pool)}`);
      assert.ok(ma[1]! + ma[2]! <= mb[1]! || mb[1]! + mb[2]! <= ma[1]!, `overlapping ranges: ${ma.join(" ")} and ${mb.join(" ")}`);
      assert.equal(ok(await docker(["exec", ids[1]!, "stat", "-c", "%u", "/bin/busybox"]), "stat").trim(), "0", "the image is root's in an auto range too");
      assert.equal(ok(await docker(["inspect", "-f", "{{.HostConfig.UsernsMode}}", ids[0]!]), "inspect").trim(), "auto");

      // refusals: nothing taken, nothing mounted, no user namespace fd left in the daemon
      const fdsBefore = usernsFds();
      const refused = [
        await create({ Image: IMAGE, HostConfig: { UsernsMode: "auto", Privileged: true } }),
        await create({ Image: IMAGE, HostConfig: { UsernsMode: "auto:size=999999999", NetworkMode: "none" } }),
        await create({ Image: IMAGE, HostConfig: { UsernsMode: "private" } }),
        await create({ Image: IMAGE, HostConfig: { UsernsMode: "auto:size=0" } }),
      ];
      assert.deepEqual(
        refused.map((r) => r.status),
        [400, 501, 400, 400],
        refused.map((r) => r.body).join("\n"),
      );
      assert.match(refused[1]!.body, /no 999999999 free subordinate uids/);
      assert.match(refused[2]!.body, /user namespace mode \\"private\\" is not supported: cove supports \\"host\\", \\"auto\\" and \\"auto:size=N\\"/);
      const idmapMounts = readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .filter((l) => l.includes("/idmap/"));
      assert.deepEqual(idmapMounts, [], "no idmapped layer stays attached");
      assert.deepEqual(usernsFds(), fdsBefore, "no user namespace fd stays open");
      assert.ok(!existsSync(path.join(dir, "root", "containers", ids[0]!, "idmap")), "the staging directory is gone");

      // removed: its range is free for the next one (the first fit is a's again)
      ok(await docker(["rm", "-f", ids[0]!]), "rm");
      const c = await create({ Image: IMAGE, Cmd: ["cat", "/proc/self/uid_map"], HostConfig: { UsernsMode: "auto", NetworkMode: "none" } });
      assert.equal(c.status, 201, c.body);
      const cid = JSON.parse(c.body).Id as string;
      ids[0] = cid;
      const out = ok(await docker(["start", "-a", cid]), "start -a");
      assert.deepEqual(mapRows(out)[0], ma, "the removed container's range is given again");
    } finally {
      for (const id of ids) await docker(["rm", "-f", id]);
    }
  });

  it("commit, export and cp record the container's owners, not the host's", async () => {
    const name = `userns-commit-${process.pid}`;
    ok(await docker(["run", "--name", name, "--network", "none", IMAGE, "sh", "-c", "mkdir /made && touch /made/byroot && touch /made/by1000 && chown 1000:1000 /made/by1000"]), "run");
    try {
      // the directories copied up to hold the container's files are no change, whatever their host owner
      const diff = ok(await docker(["diff", name]), "diff").trim().split("\n").sort();
      assert.deepEqual(diff, ["A /made", "A /made/by1000", "A /made/byroot"]);
      const image = `userns-committed:${process.pid}`;
      ok(await docker(["commit", name, image]), "commit");
      try {
        const saved = path.join(dir, "saved");
        await mkdir(saved, { recursive: true });
        ok(await docker(["save", "-o", path.join(saved, "image.tar"), image]), "save");
        await sh("tar", ["-C", saved, "-xf", path.join(saved, "image.tar")]);
        const manifest = JSON.parse(await readFile(path.join(saved, "manifest.json"), "utf8")) as { Layers: string[] }[];
        const top = path.join(saved, manifest[0]!.Layers.at(-1)!);
        const listing = await sh("tar", ["-tvf", top, "--numeric-owner"]);
        const owner = (entry: string) => new RegExp(`^\\S+ (\\d+/\\d+) .* ${entry.replace(/\./g, "\\.")}$`, "m").exec(listing)?.[1];
        assert.equal(owner("made/byroot"), "0/0", listing);
        assert.equal(owner("made/by1000"), "1000/1000", listing);
        assert.doesNotMatch(listing, /\b(1[0-9]{5,}|[2-9][0-9]{5,})\//, `no host id in the layer:\n${listing}`);
        // the image runs as it was: root's file is root's
        assert.equal(ok(await docker(["run", "--rm", "--network", "none", image, "stat", "-c", "%u:%g", "/made/byroot", "/made/by1000"]), "run the commit").trim(), "0:0\n1000:1000");
      } finally {
        await docker(["rmi", "-f", image]);
      }
      const exported = await run(env, ["export", name]);
      assert.equal(exported.code, 0, exported.stderr);
      const exportTar = path.join(dir, "export.tar");
      await writeFile(exportTar, Buffer.from(exported.stdout, "latin1"));
      const exportList = await sh("tar", ["-tvf", exportTar, "--numeric-owner"]);
      assert.match(exportList, /^\S+ 0\/0 .* made\/byroot$/m);
      assert.match(exportList, /^\S+ 1000\/1000 .* made\/by1000$/m);
      assert.match(exportList, /^\S+ 0\/0 .* bin\/busybox$/m);
      // cp out: the container's owners; cp in: the tar's owners as the container sees them
      const cpOut = await run(env, ["cp", `${name}:/made`, "-"]);
      const cpTar = path.join(dir, "cp.tar");
      await writeFile(cpTar, Buffer.from(cpOut.stdout, "latin1"));
      assert.match(await sh("tar", ["-tvf", cpTar, "--numeric-owner"]), /^\S+ 1000\/1000 .* made\/by1000$/m);
      const src = path.join(dir, "cp-in");
      await writeFile(src, "in\n");
      ok(await docker(["cp", src, `${name}:/cp-in`]), "cp in");
      ok(await docker(["commit", name, `${image}-2`]), "commit again");
      assert.equal(ok(await docker(["run", "--rm", "--network", "none", `${image}-2`, "stat", "-c", "%u:%g", "/cp-in"]), "cp-in's owner").trim(), "0:0");
      await docker(["rmi", "-f", `${image}-2`]);
    } finally {
      await docker(["rm", "-f", name]);
    }
  });

  it("the escape probes are denied in a remapped container", async () => {
    const disk = hostBlockDevice();
    const r = await docker(["run", "--rm", "--network", "none", IMAGE, PROBE, "battery", String(process.pid), "node", String(disk.major), String(disk.minor)]);
    const out = ok(r, "run the battery");
    const results = [...out.matchAll(/^RESULT (\S+) (allowed|denied) (.*)$/gm)].map((m) => ({ item: m[1]!, allowed: m[2] === "allowed", detail: m[3]! }));
    assert.ok(results.length >= 15, `too few results:\n${out}`);
    // as in a default container without a user namespace, every item is denied (unshare of a
    // nested user namespace included: the default seccomp profile refuses it without CAP_SYS_ADMIN)
    for (const res of results) assert.equal(res.allowed, false, `${res.item}: allowed in a remapped container (${res.detail})`);
  });

  it("where idmapped layers are not used, a chowned copy of the image's layers gives the same view", async () => {
    const uids = firstRange("/etc/subuid", "cove-remap");
    const copyDir = path.join(dir, "copy-daemon");
    await mkdir(copyDir, { mode: 0o755 });
    const copySocket = path.join(copyDir, "cove.sock");
    const copyRuntime = `/run/cove-userns-copy-${process.pid}`;
    const other = await startDaemon({ root: path.join(copyDir, "root"), socket: copySocket, runtimeRoot: copyRuntime, usernsRemap: "default", usernsLayers: "copy", log: (l) => logs.push(l) });
    try {
      const env2 = { ...env, DOCKER_HOST: `unix://${copySocket}` };
      const d2 = (args: string[]) => run(env2, args, undefined, 120_000);
      ok(await d2(["import", "--change", 'CMD ["sh"]', path.join(dir, "probe.tar"), IMAGE]), "import");
      const name = `userns-copy-${process.pid}`;
      const out = ok(await d2(["run", "--name", name, "--network", "none", IMAGE, "sh", "-c", "id -u; stat -c '%u:%g' /bin/busybox /owned/by1000; touch /made-here && echo WROTE"]), "run");
      assert.deepEqual(out.trim().split("\n"), ["0", "0:0", "1000:1000", "WROTE"]);
      const id = ok(await d2(["inspect", "-f", "{{.Id}}", name]), "inspect").trim();
      const copy = path.join(copyDir, "root", "containers", id, "layers");
      assert.equal(statSync(path.join(copy, "bin", "busybox")).uid, uids.start, "the copy is owned by the mapped root");
      assert.equal(statSync(path.join(copy, "owned", "by1000")).uid, uids.start + 1000);
      const image = `userns-copy-commit:${process.pid}`;
      ok(await d2(["commit", name, image]), "commit");
      assert.equal(ok(await d2(["run", "--rm", "--network", "none", "--userns=host", image, "stat", "-c", "%u:%g", "/made-here"]), "run the commit").trim(), "0:0");
      ok(await d2(["rm", "-f", name]), "rm");
      // the removal may finish after the API answered: waited for, with a generous bound
      for (let i = 0; i < 600 && existsSync(copy); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(!existsSync(copy), "the copy goes with the container");
    } finally {
      await tearDownDaemon(other, undefined);
      await rm(copyRuntime, { recursive: true, force: true }).catch(() => undefined);
    }
  });

  it("a restarted daemon keeps each container's user namespace: running ones go on, stopped ones start with it again", async () => {
    const remapped = `userns-restart-${process.pid}`;
    ok(await docker(["run", "-d", "--name", remapped, "--network", "none", IMAGE, "sleep", "100000"]), "run -d");
    const auto = await create({ Image: IMAGE, Cmd: ["sleep", "100000"], HostConfig: { UsernsMode: "auto:size=4096", NetworkMode: "none" } }, `userns-restart-auto-${process.pid}`);
    assert.equal(auto.status, 201, auto.body);
    const autoId = JSON.parse(auto.body).Id as string;
    try {
      ok(await docker(["start", autoId]), "start auto");
      const mapOf = async (ref: string) => ok(await docker(["exec", ref, "cat", "/proc/self/uid_map"]), `uid_map of ${ref}`);
      const before = [await mapOf(remapped), await mapOf(autoId)];
      await daemon!.close();
      daemon = undefined;
      daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, usernsRemap: "default", log: (l) => logs.push(l) });
      assert.deepEqual([await mapOf(remapped), await mapOf(autoId)], before, "the running containers kept their namespaces");
      ok(await docker(["restart", "-t", "1", remapped, autoId]), "restart");
      assert.deepEqual([await mapOf(remapped), await mapOf(autoId)], before, "a new start has the same mappings");
      // the restored auto range is taken: a new auto container gets another
      const other = await create({ Image: IMAGE, Cmd: ["cat", "/proc/self/uid_map"], HostConfig: { UsernsMode: "auto:size=4096", NetworkMode: "none" } });
      assert.equal(other.status, 201, other.body);
      const otherId = JSON.parse(other.body).Id as string;
      try {
        const otherMap = mapRows(ok(await docker(["start", "-a", otherId]), "start -a"))[0]!;
        const autoMap = mapRows(before[1]!)[0]!;
        assert.ok(otherMap[1]! + otherMap[2]! <= autoMap[1]! || autoMap[1]! + autoMap[2]! <= otherMap[1]!, `overlapping after the restart: ${otherMap.join(" ")} and ${autoMap.join(" ")}`);
      } finally {
        await docker(["rm", "-f", otherId]);
      }
    } finally {
      await docker(["rm", "-f", remapped, autoId]);
    }
  });

  it("dockerd --userns-remap=default: the same uid_map shape and bind mount ownership", { skip: noDockerd ?? false }, async (t) => {
    if (!dockerd) return t.skip("dockerd with --userns-remap did not start here");
    const peerDir = path.join(dir, "peer-data");
    await mkdir(peerDir, { recursive: true });
    await chmod(peerDir, 0o777);
    const coveDir = path.join(dir, "cove-data");
    await mkdir(coveDir, { recursive: true });
    await chmod(coveDir, 0o777);
    const cmd = ["sh", "-c", "cat /proc/self/uid_map; touch /data/f"];
    const d = await dockerd.docker(["run", "--rm", "--network", "none", "-v", `${peerDir}:/data`, IMAGE, ...cmd]);
    assert.equal(d.code, 0, d.stderr);
    const c = ok(await docker(["run", "--rm", "--network", "none", "-v", `${coveDir}:/data`, IMAGE, ...cmd]), "cove run");
    const dr = mapRows(d.stdout);
    const cr = mapRows(c);
    console.log(`uid_map: dockerd ${JSON.stringify(dr)}, cove ${JSON.stringify(cr)}`);
    assert.equal(cr.length, dr.length, "as many mapping lines");
    assert.equal(cr[0]![0], dr[0]![0], "container id 0 first");
    assert.equal(cr[0]![2], dr[0]![2], "the same size");
    assert.equal(dr[0]![1], firstRange("/etc/subuid", "dockremap").start);
    assert.equal(cr[0]![1], firstRange("/etc/subuid", "cove-remap").start);
    // each daemon's file belongs to its own account's first subordinate uid
    assert.equal(statSync(path.join(peerDir, "f")).uid, dr[0]![1]);
    assert.equal(statSync(path.join(coveDir, "f")).uid, cr[0]![1]);
  });
});

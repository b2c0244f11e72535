// Container operations through the real docker CLI (/usr/local/bin/docker): top, stats, diff,
// export, cp, update, commit, container prune and attach over a WebSocket, against a private cove
// daemon and, where Debian's dockerd is installed, the same scenario against a private dockerd to
// prove the results agree. Containers run with --network none; everything is removed afterwards.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { sharesToWeight } from "../../src/runtime/cgroups/index.js";
import { encodeFrame, FrameDecoder, Opcode } from "../../src/daemon/websocket.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { cove as coveCli, ENTRY } from "../cli/harness.js";
import { until } from "../containers/harness.js";
import { api, DOCKER, run, type Result, dockerCliSkip } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const skip = await dockerCliSkip();
const peerSkip = dockerdAvailable();

/** The first n JSON lines of a streaming GET. */
function apiLines(socket: string, p: string, n: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: p }, (res) => {
      let buf = "";
      const out: unknown[] = [];
      res.on("data", (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf("\n")) >= 0 && out.length < n) {
          out.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
        if (out.length >= n) {
          req.destroy();
          resolve(out);
        }
      });
    });
    req.on("error", (e) => (e.message.includes("socket hang up") ? undefined : reject(e)));
    req.end();
  });
}

/**
 * Runs a command that redraws until killed (stats without --no-stream) and returns its output
 * once enough holds of it, or what it printed within the bound (then the caller's assertion fails).
 */
function readUntil(file: string, args: string[], env: NodeJS.ProcessEnv, enough: (out: string) => boolean, boundMs = 60_000): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    const finish = () => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      resolve(out);
    };
    const timer = setTimeout(finish, boundMs);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (enough(out)) finish();
    });
    child.on("close", finish);
  });
}

/** The shape of a JSON value: objects as sorted key → shape, arrays by their first element. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return v === null ? null : typeof v;
}

/** One line per entry of a host tree: path, type, mode, owner, size, link target, content digest. */
async function listing(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const abs = path.join(root, rel);
    const st = await lstat(abs);
    const kind = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "f";
    const extra = st.isSymbolicLink() ? `-> ${await readlink(abs)}` : st.isFile() ? createHash("sha256").update(await readFile(abs)).digest("hex").slice(0, 12) : "";
    out.push(`${rel || "."} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? "" : st.size} ${extra}`);
    if (st.isDirectory()) for (const n of (await readdir(abs)).sort()) await walk(path.join(rel, n));
  };
  await walk("");
  return out;
}

const SCRIPT = "mkdir -p /newdir/sub; echo x > /newdir/f; echo deep > /newdir/sub/g; ln -s f /newdir/lnk; rm /bin/ls; echo y >> /etc/passwd; mkfifo /tmp/p; rm -rf /root; mkdir /root; touch /root/only; sleep 1000";

describe("container operations through the docker CLI", { skip }, () => {
  let dir: string;
  let daemon: Daemon;
  let socket: string;
  let runtimeRoot: string;
  let peer: Dockerd | undefined;
  const logs: string[] = [];
  const started = Math.floor(Date.now() / 1000) - 1;
  let coveEnv: NodeJS.ProcessEnv;
  let n = 0;
  const unique = (tag: string) => `ops-${tag}-${process.pid}-${n++}`;
  const cove = (args: string[], input?: Buffer | string) => run(coveEnv, args, input);
  const ok = async (args: string[], input?: Buffer | string): Promise<string> => {
    const r = await cove(args, input);
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const dockerd = (args: string[], input?: Buffer | string) => {
    if (!peer) throw new Error("no dockerd");
    return run(peer.env, args, input);
  };
  const peerOk = async (args: string[], input?: Buffer | string): Promise<string> => {
    const r = await dockerd(args, input);
    assert.equal(r.code, 0, `dockerd: docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  /** Where a test compares with dockerd and none could run, it says so: skipped, with the reason. */
  const notCompared = (t: TestContext) => {
    if (!peer) t.skip(`not compared with dockerd: ${peerSkip ?? "it did not start"}`);
  };
  /** Runs the same docker command against both daemons (dockerd only when present). */
  const both = async (args: string[], input?: Buffer | string): Promise<[Result, Result | undefined]> => [await cove(args, input), peer ? await dockerd(args, input) : undefined];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-ops-"));
    socket = path.join(dir, "cove.sock");
    runtimeRoot = `/run/cove-ops-${process.pid}`;
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: (l) => logs.push(l) });
    coveEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    await ok(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    if (!peerSkip) {
      peer = await startDockerd({ dir: path.join(dir, "dockerd") });
      await peerOk(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    }
  });

  after(async () => {
    if (daemon) {
      const ids = (await cove(["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
      if (ids.length) await cove(["rm", "-f", ...ids]);
      await daemon.close();
    }
    await peer?.stop();
    await rm(runtimeRoot, { recursive: true, force: true }).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Starts the scenario container on both daemons: same name, same changes. */
  const scenario = async (tag: string): Promise<string> => {
    const name = unique(tag);
    const args = ["run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c", SCRIPT];
    await ok(args);
    if (peer) await peerOk(args);
    // the script's changes are done once sleep runs
    await until(`${name}'s script to reach its sleep`, async () => (await ok(["top", name])).includes("sleep 1000") && (!peer || (await peerOk(["top", name])).includes("sleep 1000")));
    return name;
  };

  it("docker top lists the container's processes with ps's columns, as dockerd does", async (t) => {
    const name = await scenario("top");
    const [c, d] = await both(["top", name]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/m);
    assert.match(c.stdout, /^root\s+\d+\s+\d+\s+.*sleep 1000$/m);
    assert.equal(c.stdout.trim().split("\n").length, 2, "only the container's process");
    if (d) assert.equal(c.stdout.split("\n")[0], d.stdout.split("\n")[0]);
    const aux = await ok(["top", name, "aux"]);
    assert.match(aux, /^USER\s+PID\s+%CPU\s+%MEM\s+VSZ\s+RSS\s+TTY\s+STAT\s+START\s+TIME\s+COMMAND$/m);
    const stopped = unique("top-stopped");
    await ok(["create", "--name", stopped, "--network", "none", "busybox", "true"]);
    const r = await cove(["top", stopped]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: Container [0-9a-f]{64} is not running/);
    const bad = await cove(["top", name, "--no-such-ps-flag"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Error running ps/);
    notCompared(t);
  });

  it("stats: --no-stream rows, the API JSON has dockerd's shape (running, stopped, streamed)", async (t) => {
    const name = await scenario("stats");
    const row = JSON.parse(await ok(["stats", "--no-stream", "--format", "{{json .}}", name])) as Record<string, string>;
    assert.deepEqual(Object.keys(row).sort(), ["BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"]);
    assert.equal(row.Name, name);
    assert.equal(row.PIDs, "1");
    assert.match(row.MemUsage ?? "", /^[\d.]+(B|KiB|MiB) \/ [\d.]+GiB$/);
    assert.match(row.CPUPerc ?? "", /^\d+\.\d\d%$/);
    // without --no-stream the docker CLI follows the stream and redraws until killed
    const redraws = (out: string) => (out.match(new RegExp(`${name}\\s+\\d+\\.\\d\\d%`, "g")) ?? []).length;
    const streamed = await readUntil(DOCKER, ["stats", name], coveEnv, (out) => redraws(out) >= 2);
    assert.ok(redraws(streamed) >= 2, `two redraws at least:\n${streamed}`);
    const table = await ok(["stats", "--no-stream", name]);
    assert.match(table, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/m);
    const stopped = unique("stats-stopped");
    await ok(["create", "--name", stopped, "--network", "none", "busybox", "true"]);
    const one = JSON.parse((await api(socket, "GET", `/containers/${name}/stats?stream=false&one-shot=true`)).body) as Record<string, unknown>;
    const zero = JSON.parse((await api(socket, "GET", `/containers/${stopped}/stats?stream=false`)).body) as Record<string, unknown>;
    assert.equal(zero.read, "0001-01-01T00:00:00Z");
    assert.equal(zero.name, `/${stopped}`);
    // stream: the second frame carries the first as precpu
    const [f1, f2] = (await apiLines(socket, `/containers/${name}/stats`, 2)) as { read: string; preread: string; precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number } }[];
    assert.equal(f2?.preread, f1?.read);
    assert.ok((f2?.precpu_stats.system_cpu_usage ?? 0) > 0);
    // stream=false without one-shot waits for a second sample so a CPU % can be computed
    const two = JSON.parse((await api(socket, "GET", `/containers/${name}/stats?stream=false`)).body) as { preread: string };
    assert.notEqual(two.preread, "0001-01-01T00:00:00Z");
    const both1 = await api(socket, "GET", `/containers/${name}/stats?stream=true&one-shot=true`);
    assert.equal(both1.status, 400);
    for (const q of ["stream=true", "stream=false"]) {
      const missing = await api(socket, "GET", `/containers/nosuch/stats?${q}`);
      assert.equal(missing.status, 404);
      assert.equal(JSON.parse(missing.body).message, "No such container: nosuch");
    }
    if (!peer) return notCompared(t);
    await peerOk(["create", "--name", stopped, "--network", "none", "busybox", "true"]);
    const peerSocket = String(peer.env.DOCKER_HOST).replace("unix://", "");
    const pOne = JSON.parse((await api(peerSocket, "GET", `/containers/${name}/stats?stream=false&one-shot=true`)).body) as Record<string, unknown>;
    const pZero = JSON.parse((await api(peerSocket, "GET", `/containers/${stopped}/stats?stream=false`)).body) as Record<string, unknown>;
    assert.deepEqual({ ...zero, id: "" }, { ...pZero, id: "" }, "a stopped container's stats are dockerd's zero document");
    const strip = (s: Record<string, unknown>) => {
      const m = { ...(s.memory_stats as Record<string, unknown>) };
      delete m.stats; // memory.stat keys are the kernel's; compared below as a subset
      return shape({ ...s, memory_stats: m });
    };
    assert.deepEqual(strip(one), strip(pOne));
    const cKeys = Object.keys((one.memory_stats as { stats: object }).stats);
    for (const k of ["cache", "rss", "total_inactive_file", "hierarchical_memory_limit"]) assert.ok(cKeys.includes(k), `memory_stats.stats has ${k}`);
    const pRow = JSON.parse(await peerOk(["stats", "--no-stream", "--format", "{{json .}}", name])) as Record<string, string>;
    assert.deepEqual(Object.keys(row).sort(), Object.keys(pRow).sort());
    assert.equal(row.NetIO, pRow.NetIO);
    const [cStopped, pStopped] = await both(["stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}", stopped]);
    assert.equal(cStopped.stdout, pStopped?.stdout);
  });

  it("docker diff reports what dockerd reports (modified, added, deleted, opaque dirs)", async (t) => {
    const name = await scenario("diff");
    const [c, d] = await both(["diff", name]);
    assert.equal(c.code, 0, c.stderr);
    const lines = c.stdout.trim().split("\n").sort();
    for (const want of ["C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "A /newdir", "A /newdir/f", "A /newdir/lnk", "A /tmp/p", "A /root/only"]) assert.ok(lines.includes(want), `missing "${want}" in:\n${c.stdout}`);
    assert.ok(!lines.some((l) => / \/etc\/(hosts|hostname|resolv\.conf)$/.test(l)), `mount points are not changes:\n${c.stdout}`);
    if (d) assert.deepEqual(lines, d.stdout.trim().split("\n").sort());
    const fresh = unique("diff-fresh");
    await ok(["create", "--name", fresh, "--network", "none", "busybox", "true"]);
    assert.equal(await ok(["diff", fresh]), "");
    notCompared(t);
  });

  it("docker export writes the filesystem of running and stopped containers", async () => {
    const name = await scenario("export");
    const entries = (await ok(["export", name])).length;
    assert.ok(entries > 10000);
    const file = path.join(dir, `${name}.tar`);
    await ok(["export", "-o", file, name]);
    const list = await new Promise<string[]>((resolve, reject) =>
      execFile("tar", ["-tf", file], { maxBuffer: 16 << 20 }, (err, out) => (err ? reject(err) : resolve(out.trim().split("\n")))),
    );
    for (const want of ["newdir/f", "newdir/sub/g", "etc/passwd", "root/only"]) assert.ok(list.includes(want) || list.includes(`./${want}`), `export has ${want}`);
    assert.ok(!list.some((l) => /(^|\/)bin\/ls$/.test(l)), "a deleted file is not exported");
    await ok(["stop", "-t", "0", name]);
    const stoppedFile = path.join(dir, `${name}-stopped.tar`);
    await ok(["export", "-o", stoppedFile, name]);
    const again = await new Promise<string[]>((resolve, reject) =>
      execFile("tar", ["-tf", stoppedFile], { maxBuffer: 16 << 20 }, (err, out) => (err ? reject(err) : resolve(out.trim().split("\n")))),
    );
    assert.ok(again.some((l) => /newdir\/f$/.test(l)));
    const missing = await cove(["export", "-o", path.join(dir, "x.tar"), "nosuch"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such container: nosuch/);
  });

  it("docker cp out of a container agrees with dockerd: files, directories, symlinks, -L, dir/. and -", async (t) => {
    const name = await scenario("cp-out");
    const cases: [string, string][] = [
      [`${name}:/newdir`, "dirdest/"],
      [`${name}:/newdir/.`, "contents/"],
      [`${name}:/etc/passwd`, "pw"],
      [`${name}:/bin/sh`, "shlink"],
      [`${name}:/newdir/lnk`, "lnk"],
    ];
    for (const who of peer ? (["cove", "dockerd"] as const) : (["cove"] as const)) {
      const out = path.join(dir, `cp-out-${who}`);
      await mkdir(path.join(out, "dirdest"), { recursive: true });
      await mkdir(path.join(out, "contents"), { recursive: true });
      for (const [src, dst] of cases) {
        const r = await (who === "cove" ? cove : dockerd)(["cp", src, path.join(out, dst)]);
        assert.equal(r.code, 0, `${who}: docker cp ${src} ${dst}: ${r.stderr}`);
      }
      const follow = await (who === "cove" ? cove : dockerd)(["cp", "-L", `${name}:/bin/sh`, path.join(out, "shfollow")]);
      assert.equal(follow.code, 0, follow.stderr);
    }
    const mine = await listing(path.join(dir, "cp-out-cove"));
    assert.ok(mine.some((l) => /^dirdest\/newdir\/sub\/g f 644 0:0 5 /.test(l)), mine.join("\n"));
    assert.ok(mine.some((l) => /^contents\/f f /.test(l)));
    assert.ok(mine.some((l) => /^shlink l .* -> \/bin\/busybox$/.test(l)));
    assert.ok(mine.some((l) => /^shfollow f 755 /.test(l)));
    if (peer) assert.deepEqual(mine, await listing(path.join(dir, "cp-out-dockerd")));
    // "-" writes the tar itself
    const tar = await ok(["cp", `${name}:/newdir`, "-"]);
    assert.ok(tar.includes("newdir/sub/g"));
    // the whole root of a running container: /proc, /sys and /dev are there, their contents are not
    const whole = path.join(dir, "whole.tar");
    await writeFile(whole, Buffer.from(await ok(["cp", `${name}:/`, "-"]), "latin1"));
    const names = await new Promise<string[]>((resolve, reject) => execFile("tar", ["-tf", whole], { maxBuffer: 16 << 20 }, (err, o) => (err ? reject(err) : resolve(o.split("\n")))));
    for (const want of ["/proc/", "/sys/", "/dev/", "/newdir/sub/g", "/bin/busybox"]) assert.ok(names.includes(want), `the root's tar has ${want}`);
    assert.ok(!names.some((l) => /^\/(proc|sys|dev)\/./.test(l)), "no kernel filesystem contents");
    const missing = await both(["cp", `${name}:/nope`, path.join(dir, "nope")]);
    assert.equal(missing[0].code, 1);
    assert.match(missing[0].stderr, new RegExp(`Error response from daemon: Could not find the file /nope in container ${name}`));
    if (missing[1]) assert.equal(missing[0].stderr, missing[1].stderr);
    notCompared(t);
  });

  it("docker cp into a container agrees with dockerd: directories, symlinks, owners, -a, - and stopped containers", async (t) => {
    const name = await scenario("cp-in");
    const src = path.join(dir, "cp-src");
    await mkdir(path.join(src, "sub"), { recursive: true });
    await writeFile(path.join(src, "a"), "hello\n");
    await writeFile(path.join(src, "sub", "b"), "deep\n");
    await symlink("a", path.join(src, "lnk"));
    for (const p of ["", "a", "sub", "sub/b"]) await chown(path.join(src, p), 1234, 5678);
    const tarOfSrc = await new Promise<Buffer>((resolve, reject) => execFile("tar", ["-c", "-C", src, "."], { encoding: "buffer" }, (err, out) => (err ? reject(err) : resolve(out))));
    const steps: { args: string[]; input?: Buffer }[] = [
      { args: ["cp", src, `${name}:/tmp/`] },
      { args: ["cp", "-a", src, `${name}:/tmp/archived`] },
      { args: ["cp", path.join(src, "a"), `${name}:/tmp/cp-src/a-copy`] },
      { args: ["cp", path.join(src, "a"), `${name}:/etc/passwd`] },
      { args: ["cp", "-", `${name}:/newdir`], input: tarOfSrc },
    ];
    const inspectCmd = ["exec", name, "sh", "-c", "cd /tmp && find cp-src archived /newdir /etc/passwd | sort | while read f; do stat -c '%n %F %a %u %g %s %N' \"$f\"; done"];
    const results: string[] = [];
    for (const who of peer ? (["cove", "dockerd"] as const) : (["cove"] as const)) {
      const exec = who === "cove" ? cove : dockerd;
      for (const s of steps) {
        const r = await exec(s.args, s.input);
        assert.equal(r.code, 0, `${who}: docker ${s.args.join(" ")}: ${r.stderr}`);
      }
      const r = await exec(inspectCmd);
      assert.equal(r.code, 0, r.stderr);
      results.push(r.stdout);
    }
    const mine = results[0] ?? "";
    assert.match(mine, /^cp-src\/sub\/b regular file 644 1234 5678 5 /m);
    assert.match(mine, /^cp-src\/lnk symbolic link 777 \d+ \d+ 1 'cp-src\/lnk' -> 'a'$/m);
    assert.match(mine, /^cp-src\/a-copy regular file 644 1234 5678 6 /m);
    assert.match(mine, /^\/etc\/passwd regular file 644 1234 5678 6 /m);
    assert.match(mine, /^\/newdir directory 755 0 0 /m, "the archive's ./ entry leaves the destination's owner alone");
    if (results[1] !== undefined) assert.equal(mine, results[1]);
    // a stopped container: its rootfs is mounted for the copy and unmounted after
    const stopped = unique("cp-stopped");
    await ok(["create", "--name", stopped, "--network", "none", "busybox", "true"]);
    await ok(["cp", path.join(src, "a"), `${stopped}:/etc/`]);
    assert.equal(await ok(["cp", `${stopped}:/etc/a`, "-"]).then((t) => t.includes("hello")), true);
    assert.match(await ok(["diff", stopped]), /^A \/etc\/a$/m);
    const stoppedId = (await ok(["inspect", "-f", "{{.Id}}", stopped])).trim();
    const mounts = await readFile("/proc/self/mountinfo", "utf8");
    assert.ok(!mounts.includes(path.join(dir, "root", "containers", stoppedId)), "the stopped container's rootfs is not left mounted");
    notCompared(t);
  });

  it("docker cp reaches bind mounts of running and stopped containers", async () => {
    const vol = path.join(dir, "bind-src");
    await mkdir(vol, { recursive: true });
    await writeFile(path.join(vol, "host-file"), "from the host\n");
    const f = path.join(dir, "to-bind");
    await writeFile(f, "into the bind\n");
    const stopped = unique("cp-bind-stopped");
    await ok(["create", "--name", stopped, "-v", `${vol}:/data`, "--network", "none", "busybox", "true"]);
    await ok(["cp", f, `${stopped}:/data/`]);
    assert.equal(await readFile(path.join(vol, "to-bind"), "utf8"), "into the bind\n", "the copy went to the bind's source");
    assert.ok((await ok(["cp", `${stopped}:/data/host-file`, "-"])).includes("from the host"));
    assert.doesNotMatch(await ok(["diff", stopped]), /to-bind/, "nothing was written to the container's layer");
    const mounts = await readFile("/proc/self/mountinfo", "utf8");
    const stoppedId = (await ok(["inspect", "-f", "{{.Id}}", stopped])).trim();
    assert.ok(!mounts.includes(stoppedId), "the rootfs and the bind are unmounted after the copy");
    const running = unique("cp-bind-running");
    await ok(["run", "-d", "--name", running, "-v", `${vol}:/data:ro`, "--network", "none", "busybox", "sleep", "1000"]);
    assert.ok((await ok(["cp", `${running}:/data/to-bind`, "-"])).includes("into the bind"));
    const ro = await cove(["cp", f, `${running}:/data/again`]);
    assert.equal(ro.code, 1, "a read-only bind refuses the copy");
    assert.match(ro.stderr, /mounted volume is marked read-only/);
    assert.equal(existsSync(path.join(vol, "again")), false);
  });

  it("docker cp refuses bad input and changes nothing: missing destination, escaping symlinks and tar entries", async () => {
    const name = unique("cp-bad");
    await ok(["run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c", "ln -s / /rootlink; ln -s ../../../../../../etc /up; sleep 1000"]);
    await until("the container's symlinks", async () => (await cove(["exec", name, "test", "-L", "/up"])).code === 0);
    const marker = path.join(dir, "host-marker");
    await writeFile(marker, "host\n");
    const f = path.join(dir, "f1");
    await writeFile(f, "inside\n");
    // an absolute symlink and one with .. both resolve inside the container
    await ok(["cp", f, `${name}:/up/`]);
    assert.equal(await ok(["exec", name, "cat", "/etc/f1"]), "inside\n");
    assert.equal(existsSync("/etc/f1"), false);
    const out = await cove(["cp", `${name}:/rootlink${marker}`, "-"]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /Could not find the file/);
    // tar entries that climb out or pass through a symlink
    const hostile = (entry: string) =>
      new Promise<Buffer>((resolve, reject) =>
        execFile("python3", ["-c", `import tarfile,io,sys\nb=io.BytesIO()\nt=tarfile.open(fileobj=b,mode='w')\ni=tarfile.TarInfo(${JSON.stringify(entry)});i.size=1\nt.addfile(i,io.BytesIO(b'x'))\nt.close()\nsys.stdout.buffer.write(b.getvalue())`], { encoding: "buffer" }, (err, o) =>
          err ? reject(err) : resolve(o),
        ),
      );
    // a parent that is a symlink is followed inside the container, as dockerd's chrooted untar does
    const through = await cove(["cp", "-", `${name}:/`], await hostile(`rootlink${dir}/pwned`));
    assert.equal(through.code, 0, through.stderr);
    assert.equal(await ok(["exec", name, "cat", `${dir}/pwned`]), "x");
    const climb = await cove(["cp", "-", `${name}:/tmp`], await hostile(`../../..${dir}/pwned2`));
    assert.equal(climb.code, 1);
    assert.match(climb.stderr, /escapes/);
    assert.equal(existsSync(path.join(dir, "pwned")) || existsSync(path.join(dir, "pwned2")), false, "nothing lands on the host");
    // a file where a directory is expected, and a missing parent
    // (the docker CLI checks this one itself; the daemon refuses it too)
    const notDir = await api(socket, "PUT", `/containers/${name}/archive?path=/etc/passwd`, await hostile("x"));
    assert.equal(notDir.status, 400);
    assert.match(notDir.body, /extraction point is not a directory/);
    const dirByFile = await api(socket, "PUT", `/containers/${name}/archive?path=/&noOverwriteDirNonDir=true`, await hostile("etc"));
    assert.equal(dirByFile.status, 400);
    assert.equal((JSON.parse(dirByFile.body) as { message: string }).message, 'cannot overwrite directory "/etc" with non-directory "etc"');
    assert.equal((await ok(["exec", name, "test", "-d", "/etc"])).trim(), "", "/etc is still a directory");
    const noPath = await api(socket, "PUT", `/containers/${name}/archive`, await hostile("x"));
    assert.equal(noPath.status, 400);
    assert.match(noPath.body, /bad parameter: path cannot be empty/);
    const noParent = await cove(["cp", f, `${name}:/nodir/x`]);
    assert.equal(noParent.code, 1);
    assert.match(noParent.stderr, new RegExp(`Could not find the file /nodir in container ${name}`));
    // nothing was left behind by the refused copies
    const left = await ok(["exec", name, "sh", "-c", "ls -a / /tmp | grep -c -e cove-cp-undo -e pwned || true"]);
    assert.equal(left.trim(), "0");
  });

  it("docker update changes the live cgroup and hostconfig.json; dockerd's errors", async (t) => {
    const name = unique("update");
    const id = (await ok(["run", "-d", "--name", name, "--network", "none", "--memory", "64m", "--memory-swap", "128m", "busybox", "sleep", "1000"])).trim();
    assert.equal((await ok(["update", "--memory", "96m", "--cpu-shares", "512", "--pids-limit", "50", "--restart", "on-failure:3", name])).trim(), name);
    const pid = (await ok(["inspect", "-f", "{{.State.Pid}}", name])).trim();
    const cgroups = await readFile(`/proc/${pid}/cgroup`, "utf8");
    if (existsSync("/sys/fs/cgroup/cgroup.controllers")) {
      // cgroup v2: one hierarchy ("0::/path"), the shares as a weight
      const unified = path.join("/sys/fs/cgroup", cgroups.split("\n").find((l) => l.startsWith("0::"))?.slice(3) ?? "?");
      assert.equal((await readFile(path.join(unified, "memory.max"), "utf8")).trim(), String(96 * 1024 * 1024));
      assert.equal((await readFile(path.join(unified, "cpu.weight"), "utf8")).trim(), String(sharesToWeight(512)));
      assert.equal((await readFile(path.join(unified, "pids.max"), "utf8")).trim(), "50");
    } else {
      const cg = (controller: string) => {
        const line = cgroups.split("\n").find((l) => l.split(":")[1]?.split(",").includes(controller));
        return path.join("/sys/fs/cgroup", controller, line?.split(":")[2] ?? "?");
      };
      assert.equal((await readFile(path.join(cg("memory"), "memory.limit_in_bytes"), "utf8")).trim(), String(96 * 1024 * 1024));
      assert.equal((await readFile(path.join(cg("cpu"), "cpu.shares"), "utf8")).trim(), "512");
      assert.equal((await readFile(path.join(cg("pids"), "pids.max"), "utf8")).trim(), "50");
    }
    const hc = JSON.parse(await readFile(path.join(dir, "root", "containers", id, "hostconfig.json"), "utf8")) as { Memory: number; CpuShares: number; RestartPolicy: { Name: string; MaximumRetryCount: number } };
    assert.equal(hc.Memory, 96 * 1024 * 1024);
    assert.equal(hc.CpuShares, 512);
    assert.deepEqual(hc.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 3 });
    assert.equal((await ok(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", name])).trim(), `${96 * 1024 * 1024} 50`);
    // errors, as dockerd words them, and nothing changed
    const errs = [
      ["update", "--memory", "1m", name],
      ["update", "--memory", "512m", name],
      ["update", "--memory-reservation", "100m", "--memory", "80m", name],
      ["update", "--cpu-shares", "2", "nosuch"],
    ];
    if (peer) await peerOk(["run", "-d", "--name", name, "--network", "none", "--memory", "64m", "--memory-swap", "128m", "busybox", "sleep", "1000"]);
    for (const args of errs) {
      const [c, d] = await both(args);
      assert.equal(c.code, 1, `docker ${args.join(" ")} should fail`);
      if (d) assert.equal(c.stderr.replace(/[0-9a-f]{64}/g, "<id>"), d.stderr.replace(/[0-9a-f]{64}/g, "<id>"), `docker ${args.join(" ")}`);
    }
    assert.equal((await ok(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}}", name])).trim(), `${96 * 1024 * 1024} 0`);
    const warn = await cove(["update", "--kernel-memory", "10m", name]);
    assert.equal(warn.code, 0, warn.stderr);
    // a stopped container: only hostconfig.json changes, applied at its next start
    const stopped = unique("update-stopped");
    await ok(["create", "--name", stopped, "--network", "none", "busybox", "true"]);
    await ok(["update", "--restart", "always", "--memory", "32m", stopped]);
    assert.equal((await ok(["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Memory}}", stopped])).trim(), `always ${32 * 1024 * 1024}`);
    const auto = unique("update-rm");
    await ok(["create", "--rm", "--name", auto, "--network", "none", "busybox", "true"]);
    const r = await cove(["update", "--restart", "always", auto]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Restart policy cannot be updated because AutoRemove is enabled for the container/);
    notCompared(t);
  });

  it("docker commit makes a runnable image with the changes; history shows the layer; bad changes are refused", async () => {
    const name = await scenario("commit");
    const imagesBefore = (await ok(["images", "-q"])).trim().split("\n").length;
    const bad = await cove(["commit", "-c", "RUN true", name, "ops/bad:1"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /RUN is not a valid change command/i);
    assert.equal((await ok(["images", "-q"])).trim().split("\n").length, imagesBefore, "a refused commit adds no image");
    const id = (await ok(["commit", "-c", "ENV FOO=bar", "-c", 'CMD ["cat", "/newdir/f"]', "-c", "LABEL tier=ops", "-m", "the message", "-a", "me <me@example.com>", name, "ops/committed:1"])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await ok(["inspect", "-f", "{{.State.Status}}", name])).trim(), "running", "the pause of the commit is undone");
    assert.equal(await ok(["run", "--rm", "--network", "none", "ops/committed:1"]), "x\n");
    const seen = await ok(["run", "--rm", "--network", "none", "ops/committed:1", "sh", "-c", "echo $FOO; cat /newdir/sub/g; test -e /bin/ls || echo ls-gone; ls /root"]);
    assert.equal(seen, "bar\ndeep\nls-gone\nonly\n");
    const info = JSON.parse(await ok(["image", "inspect", "ops/committed:1"])) as { Author: string; Comment: string; Config: { Env: string[]; Cmd: string[]; Labels: Record<string, string> }; RootFS: { Layers: string[] } }[];
    assert.equal(info[0]?.Author, "me <me@example.com>");
    assert.equal(info[0]?.Comment, "the message");
    assert.deepEqual(info[0]?.Config.Cmd, ["cat", "/newdir/f"]);
    assert.ok(info[0]?.Config.Env.includes("FOO=bar"));
    assert.equal(info[0]?.Config.Labels.tier, "ops");
    assert.equal(info[0]?.RootFS.Layers.length, 2);
    const history = await ok(["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "ops/committed:1"]);
    assert.match(history.split("\n")[0] ?? "", /^sh -c mkdir -p \/newdir\/sub.*\|the message$/);
    // the layer holds the changes only: the mount points cove made are not in it
    const layerTar = await ok(["save", "ops/committed:1"]);
    assert.ok(layerTar.length > 0);
    const diff = await ok(["diff", name]);
    assert.ok(!/etc\/hosts/.test(diff));
    // commit without pausing, and to an untagged image
    const untagged = (await ok(["commit", "--pause=false", name])).trim();
    assert.match(untagged, /^sha256:/);
  });

  it("docker container prune removes stopped containers matching label filters", async () => {
    const keep = unique("prune-keep");
    const drop = unique("prune-drop");
    const other = unique("prune-other");
    const running = unique("prune-running");
    await ok(["create", "--name", keep, "--label", "ops=keep", "--network", "none", "busybox", "true"]);
    await ok(["create", "--name", drop, "--label", "ops=drop", "--network", "none", "busybox", "true"]);
    await ok(["create", "--name", other, "--network", "none", "busybox", "true"]);
    await ok(["run", "-d", "--name", running, "--label", "ops=drop", "--network", "none", "busybox", "sleep", "1000"]);
    const dropId = (await ok(["inspect", "-f", "{{.Id}}", drop])).trim();
    const out = await ok(["container", "prune", "-f", "--filter", "label=ops=drop"]);
    assert.match(out, /^Deleted Containers:$/m);
    assert.match(out, new RegExp(`^${dropId}$`, "m"));
    assert.match(out, /^Total reclaimed space: /m);
    const names = await ok(["ps", "-a", "--format", "{{.Names}}"]);
    assert.ok(names.includes(keep) && names.includes(other) && names.includes(running) && !names.includes(drop));
    await ok(["container", "prune", "-f", "--filter", "label!=ops=keep", "--filter", "until=1h"]);
    assert.ok((await ok(["ps", "-a", "--format", "{{.Names}}"])).includes(other), "until=1h keeps containers created in the last hour");
    await ok(["container", "prune", "-f", "--filter", "label!=ops=keep"]);
    const after = await ok(["ps", "-a", "--format", "{{.Names}}"]);
    assert.ok(after.includes(keep) && after.includes(running) && !after.includes(other));
    const bad = await cove(["container", "prune", "-f", "--filter", "color=red"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid filter 'color'/);
  });

  it("attach over a WebSocket carries stdin in and the output out", async () => {
    const name = unique("ws");
    await ok(["run", "-d", "-i", "--name", name, "--network", "none", "busybox", "sh", "-c", 'while read l; do echo "got $l"; echo "err $l" >&2; done']);
    const sock = net.connect(socket);
    const key = Buffer.alloc(16, 7).toString("base64");
    const got: string[] = [];
    let head = "";
    const done = new Promise<void>((resolve) => {
      const dec = new FrameDecoder(false);
      let upgraded = false;
      let buf = Buffer.alloc(0);
      sock.on("data", (chunk: Buffer) => {
        if (!upgraded) {
          buf = Buffer.concat([buf, chunk]);
          const i = buf.indexOf("\r\n\r\n");
          if (i < 0) return;
          head = buf.subarray(0, i).toString();
          upgraded = true;
          chunk = buf.subarray(i + 4);
          sock.write(encodeFrame(Opcode.binary, Buffer.from("hello\n"), Buffer.from([1, 2, 3, 4])));
        }
        for (const m of dec.push(chunk)) {
          if (m.opcode === Opcode.binary) got.push(m.data.toString());
          if (got.join("").includes("err hello")) resolve();
        }
      });
    });
    sock.write(`GET /v1.47/containers/${name}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: cove\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await done;
    sock.write(encodeFrame(Opcode.close, Buffer.from([3, 232]), Buffer.from([1, 2, 3, 4])));
    sock.end();
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols/);
    assert.ok(head.includes("Sec-WebSocket-Accept: CdXSYUsvsaMthlEXWDNURGWA/1o="), head);
    assert.equal(got.join(""), "got hello\nerr hello\n");
    const plain = await api(socket, "GET", `/containers/${name}/attach/ws?stream=1`);
    assert.equal(plain.status, 400);
  });

  it("the cove CLI's stats (live and --no-stream), top, diff, cp, update, commit and prune work against the daemon", async () => {
    const name = await scenario("cli");
    const cli = async (args: string[], opts: Parameters<typeof coveCli>[2] = {}) => {
      const r = await coveCli(socket, args, opts);
      assert.equal(r.code, 0, `cove ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    };
    const row = JSON.parse(await cli(["stats", "--no-stream", "--format", "{{json .}}", name])) as Record<string, string>;
    assert.equal(row.Name, name);
    assert.equal(row.PIDs, "1");
    // the live view redraws every second until interrupted
    const headers = (out: string) => (out.match(/^CONTAINER ID\s+NAME\s+CPU %/gm) ?? []).length;
    const live = await readUntil(process.execPath, [ENTRY, "--socket", socket, "stats", name], process.env, (out) => headers(out) >= 2);
    assert.ok(headers(live) >= 2, live);
    assert.match(await cli(["top", name]), /sleep 1000$/m);
    assert.match(await cli(["diff", name]), /^A \/newdir\/f$/m);
    const out = path.join(dir, "cli-cp");
    await mkdir(out, { recursive: true });
    await cli(["cp", `${name}:/newdir`, out]);
    assert.equal(await readFile(path.join(out, "newdir", "sub", "g"), "utf8"), "deep\n");
    await cli(["cp", path.join(out, "newdir"), `${name}:/tmp/back`]);
    assert.equal(await ok(["exec", name, "cat", "/tmp/back/sub/g"]), "deep\n");
    await cli(["update", "--cpu-shares", "256", name]);
    assert.equal((await ok(["inspect", "-f", "{{.HostConfig.CpuShares}}", name])).trim(), "256");
    const id = (await cli(["commit", "-c", "CMD [\"cat\", \"/tmp/back/sub/g\"]", name, "ops/cli:1"])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(["run", "--rm", "--network", "none", "ops/cli:1"]), "deep\n");
    const gone = unique("cli-prune");
    await ok(["create", "--name", gone, "--label", "cli-prune=1", "--network", "none", "busybox", "true"]);
    assert.match(await cli(["container", "prune", "-f", "--filter", "label=cli-prune=1"]), /^Deleted Containers:$/m);
  });

  it("emits Docker's events for these operations", async () => {
    const until = Math.ceil(Date.now() / 1000) + 1;
    const out = await ok(["events", "--since", String(started), "--until", String(until), "--format", "{{.Type}} {{.Action}}"]);
    const lines = new Set(out.trim().split("\n"));
    for (const want of ["container export", "container archive-path", "container extract-to-dir", "container update", "container pause", "container unpause", "container commit", "container prune", "image tag"]) {
      assert.ok(lines.has(want), `missing "${want}" in:\n${[...lines].join("\n")}`);
    }
    assert.ok(!lines.has("container top"), "top emits no event");
  });
});

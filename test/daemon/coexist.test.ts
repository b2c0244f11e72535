// Two cove daemons on one host at once, each with its own root, exec root, default bridge and
// address pool, as a user's daemon and a test's would run beside each other. Each runs a web
// server with a published port on a user-defined network (same names on both: "app", "web");
// neither sees the other's containers, networks, volumes or images; killing, stopping and
// restarting one, or pruning on it, leaves the other's containers running and reachable; a third
// daemon that would share an exec root or a bridge is refused and changes nothing; after both
// are gone, nothing of either is left on the host (mounts, namespaces, bridges, chains, cgroups).

import assert from "node:assert/strict";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { instanceTag } from "../../src/common/instance.js";
import { pingSocket } from "../../src/daemon/index.js";
import { NetworkService } from "../../src/network/index.js";
import { Netlink } from "../../src/network/netlink.js";
import { addon } from "../../src/native/addon.js";
import { busyboxRootfsTar, tempDir } from "../images/fixtures.js";
import { freeSubnets, runDocker, skipReason, type CliResult } from "../network/harness.js";
import { httpGetWhenUp } from "../support/http.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

interface TestDaemon {
  name: string;
  root: string;
  execRoot: string;
  socket: string;
  bridge: string;
  /** The default bridge's address, e.g. 10.241.3.1/24. */
  bip: string;
  /** Where its networks without --subnet take theirs: a /24 in /26s. */
  pool: string;
  tag: string;
  logFile: string;
  proc?: ChildProcess;
}

function iptablesSave(): Promise<string> {
  const one = (cmd: string) => new Promise<string>((resolve) => execFile(cmd, [], (_err, stdout) => resolve(stdout ?? "")));
  return Promise.all([one("iptables-save"), one("ip6tables-save")]).then((parts) => parts.join("\n"));
}


/** The cgroup directories named after a daemon's parent, in every hierarchy. */
function cgroupParents(tag: string): string[] {
  const out: string[] = [];
  for (const h of readdirSync("/sys/fs/cgroup")) {
    for (const dir of [path.join("/sys/fs/cgroup", h, `cove-${tag}`), path.join("/sys/fs/cgroup", `cove-${tag}`)]) if (existsSync(dir) && !out.includes(dir)) out.push(dir);
  }
  return out;
}

function mountsUnder(prefixes: string[]): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`)));
}

describe("two daemons on one host", { skip: skipReason }, () => {
  let base: string;
  let a: TestDaemon;
  let b: TestDaemon;
  let configFile: string;
  /** Exec roots of refused daemons, cleaned with the rest. */
  const extraExecRoots: string[] = [];

  const docker = (d: TestDaemon, args: string[]): Promise<CliResult> => runDocker(d.socket, base, args, { timeoutMs: 60_000 });
  const ok = async (d: TestDaemon, args: string[]): Promise<string> => {
    const r = await docker(d, args);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")} on daemon ${d.name} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  };

  const daemonArgs = (d: TestDaemon) => ["--root", d.root, "daemon", "--socket", d.socket, "--exec-root", d.execRoot, "--bridge", d.bridge, "--bip", d.bip, "--default-address-pool", `base=${d.pool},size=26`, "--config-file", configFile];

  /** Starts the daemon in its own process and waits until it answers (bounded). */
  const start = async (d: TestDaemon): Promise<void> => {
    const log = openSync(d.logFile, "a");
    d.proc = spawn(process.execPath, [MAIN, ...daemonArgs(d)], { stdio: ["ignore", log, log] });
    closeSync(log);
    const proc = d.proc;
    for (let i = 0; i < 300; i++) {
      if (proc.exitCode !== null) throw new Error(`daemon ${d.name} exited with ${proc.exitCode}: ${readFileSync(d.logFile, "utf8")}`);
      if ((await pingSocket(d.socket, 500)) === "answers" && (await docker(d, ["ps"])).code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`daemon ${d.name} did not answer on ${d.socket}: ${readFileSync(d.logFile, "utf8")}`);
  };

  const stop = async (d: TestDaemon, signal: NodeJS.Signals): Promise<void> => {
    const proc = d.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(signal);
    await exited;
  };

  /** A daemon that must be refused at start: its exit status and what it said. */
  const refusedStart = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });

  const webPort = async (d: TestDaemon): Promise<number> => Number(/:(\d+)$/.exec((await ok(d, ["port", "web", "8080/tcp"])).split("\n")[0]!)?.[1]);

  /** The web server answers on its published port from the host, and by name from a new container on its network. */
  const reachable = async (d: TestDaemon): Promise<void> => {
    assert.equal(await httpGetWhenUp(await webPort(d)), `hello from ${d.name}\n`, `daemon ${d.name}'s web through its published port`);
    // (no -T: busybox's static wget crashes with it)
    assert.equal(await ok(d, ["run", "--rm", "--network", "app", "busybox", "wget", "-qO-", "http://web:8080/"]), `hello from ${d.name}`, `daemon ${d.name}'s web by name`);
  };

  before(async () => {
    base = await tempDir();
    const nets = freeSubnets(4);
    const unique = path.basename(base).replace(/[^a-zA-Z0-9]/g, "").slice(-6);
    const make = (name: string, i: number): TestDaemon => {
      const root = path.join(base, name, "root");
      return {
        name,
        root,
        // short: exec's sockets live under <exec root>/runtime/<id>/
        execRoot: `/run/cvx-${unique}${name}`,
        socket: path.join(base, name, "cove.sock"),
        bridge: `cvx${unique}${name}`.slice(0, 15),
        bip: nets[i * 2]!.replace(/0\/24$/, "1/24"),
        pool: nets[i * 2 + 1]!,
        tag: instanceTag(root),
        logFile: path.join(base, `${name}.log`),
      };
    };
    a = make("a", 0);
    b = make("b", 1);
    configFile = path.join(base, "daemon.json");
    await writeFile(configFile, "{}\n");
    await mkdir(path.join(base, "docker-config"), { recursive: true });
    for (const d of [a, b]) await mkdir(path.dirname(d.root), { recursive: true });
    await Promise.all([start(a), start(b)]);
    const tar = await busyboxRootfsTar(base);
    for (const d of [a, b]) await ok(d, ["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
  });

  after(async () => {
    // each daemon's containers and networks go through its own API, then the daemon stops and
    // what outlives a daemon by design (its default bridge, chains, namespace mount) goes with
    // the network service's uninstall on its root
    const failures: unknown[] = [];
    for (const d of [a, b]) {
      if (!d) continue;
      try {
        // a daemon a failed test left stopped comes back to remove its containers
        if (d.proc && (d.proc.exitCode !== null || d.proc.signalCode !== null)) await start(d).catch(() => undefined);
        if (d.proc && d.proc.exitCode === null && d.proc.signalCode === null) {
          const ids = (await docker(d, ["ps", "-aq"])).stdout.split("\n").filter(Boolean);
          if (ids.length) await docker(d, ["rm", "-f", ...ids]);
          await docker(d, ["network", "prune", "-f"]);
        }
      } finally {
        await stop(d, "SIGTERM");
      }
      // each daemon's on its own: one that fails must not keep the other's bridge and chains
      try {
        const net = await NetworkService.open({ root: d.root, netnsDir: path.join(d.execRoot, "netns"), defaultBridge: { name: d.bridge, subnet: d.bip }, log: () => undefined });
        await net.uninstall().finally(() => net.close());
      } catch (err) {
        failures.push(err);
      }
    }
    for (const dir of [...[a, b].filter(Boolean).map((d) => d.execRoot), ...extraExecRoots]) {
      for (const m of mountsUnder([dir]).sort((x, y) => y.length - x.length)) {
        try {
          addon().umount2(m, addon().constants.MNT_DETACH);
        } catch {
          // already gone
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
    await rm(base, { recursive: true, force: true, maxRetries: 3 });
    if (failures.length) throw new AggregateError(failures, `the daemons' networks were not uninstalled: ${failures.map(String).join("; ")}`);
  });

  it("each runs a published web server on its own user-defined network, on its own bridge, chains, cgroups and namespaces", async () => {
    for (const d of [a, b]) {
      await ok(d, ["network", "create", "app"]);
      await ok(d, ["run", "-d", "--name", "web", "--network", "app", "-p", "127.0.0.1::8080", "busybox", "sh", "-c", `mkdir -p /www && echo hello from ${d.name} > /www/index.html && exec httpd -f -p 8080 -h /www`]);
    }
    for (const d of [a, b]) await reachable(d);
    // exec's sockets fit under the exec root too
    for (const d of [a, b]) assert.equal(await ok(d, ["exec", "web", "cat", "/www/index.html"]), `hello from ${d.name}`);

    const nl = Netlink.open();
    try {
      for (const d of [a, b]) {
        // the default bridge: the name and address the daemon was given
        assert.equal(await ok(d, ["network", "inspect", "bridge", "-f", '{{index .Options "com.docker.network.bridge.name"}} {{(index .IPAM.Config 0).Gateway}}']), `${d.bridge} ${d.bip.split("/")[0]}`);
        const link = nl.link(d.bridge);
        assert.ok(link, `bridge ${d.bridge}`);
        assert.equal(link.alias, `cove ${d.root}`);
        // "app" took its subnet from the daemon's pool
        const subnet = await ok(d, ["network", "inspect", "app", "-f", "{{(index .IPAM.Config 0).Subnet}}"]);
        assert.equal(subnet, `${d.pool.replace(/\.0\/24$/, ".0")}/26`, `daemon ${d.name}'s app network from its pool ${d.pool}`);
        const appBridge = `br-${(await ok(d, ["network", "inspect", "app", "-f", "{{.Id}}"])).slice(0, 12)}`;
        assert.equal(nl.link(appBridge)?.alias, `cove ${d.root}`, `daemon ${d.name}'s app bridge is marked as its own`);
        const id = await ok(d, ["inspect", "-f", "{{.Id}}", "web"]);
        assert.ok(existsSync(path.join(d.execRoot, "netns", id)), `daemon ${d.name}'s namespaces are under its exec root`);
        assert.ok(existsSync(path.join(d.execRoot, "runtime", id)), `daemon ${d.name}'s runtime state is under its exec root`);
        assert.equal(readFileSync(path.join(d.execRoot, "cove.pid"), "utf8").trim(), String(d.proc!.pid));
        assert.ok(cgroupParents(d.tag).some((dir) => existsSync(path.join(dir, id))), `daemon ${d.name}'s container under /cove-${d.tag}`);
      }
    } finally {
      nl.close();
    }
    const rules = await iptablesSave();
    for (const d of [a, b]) {
      assert.match(rules, new RegExp(`:COVE-FORWARD-${d.tag} `), `daemon ${d.name}'s chains`);
      assert.match(rules, new RegExp(`-A COVE-DNAT-${d.tag} .*--dport ${await webPort(d)} .*DNAT`), `daemon ${d.name}'s published port in its own chain`);
    }
  });

  it("neither sees the other's containers, networks, volumes or images", async () => {
    await ok(a, ["volume", "create", "data-a"]);
    await ok(b, ["volume", "create", "data-b"]);
    await ok(a, ["tag", "busybox:latest", "only-a:1"]);
    const ids = async (d: TestDaemon, args: string[]) => new Set((await ok(d, args)).split("\n").filter(Boolean));
    const [ca, cb] = [await ids(a, ["ps", "-aq", "--no-trunc"]), await ids(b, ["ps", "-aq", "--no-trunc"])];
    assert.equal(ca.size, 1);
    assert.equal(cb.size, 1);
    assert.notDeepEqual(ca, cb);
    const bWeb = [...cb][0]!;
    const seen = await docker(a, ["inspect", bWeb]);
    assert.notEqual(seen.code, 0);
    assert.match(seen.stderr, /No such object/);
    const [na, nb] = [await ids(a, ["network", "ls", "-q", "--no-trunc"]), await ids(b, ["network", "ls", "-q", "--no-trunc"])];
    for (const id of nb) assert.equal(na.has(id), false, `network ${id} of b listed by a`);
    assert.deepEqual(await ids(a, ["volume", "ls", "-q"]), new Set(["data-a"]));
    assert.deepEqual(await ids(b, ["volume", "ls", "-q"]), new Set(["data-b"]));
    assert.equal(await ok(b, ["images", "-q", "only-a:1"]), "");
    assert.notEqual(await ok(a, ["images", "-q", "only-a:1"]), "");
  });

  it("a daemon that would share an exec root or a bridge is refused and changes nothing", async () => {
    const root = path.join(base, "c", "root");
    const shareExec = await refusedStart(["--root", root, "daemon", "--socket", path.join(base, "c.sock"), "--exec-root", a.execRoot, "--config-file", configFile]);
    assert.notEqual(shareExec.code, 0);
    assert.match(shareExec.stderr, new RegExp(`another cove daemon \\(pid ${a.proc!.pid}\\) is using the exec root ${a.execRoot}`));
    assert.match(shareExec.stderr, /its own --exec-root/);
    const tooLong = `/run/cvx-${"x".repeat(40)}`;
    const longRoot = path.join(base, "d", "root");
    const long = await refusedStart(["--root", longRoot, "daemon", "--socket", path.join(base, "c.sock"), "--exec-root", tooLong, "--config-file", configFile]);
    assert.notEqual(long.code, 0);
    assert.match(long.stderr, new RegExp(`--exec-root ${tooLong} is too long: the containers' sockets under ${tooLong}/runtime would exceed the 107 bytes`));
    assert.equal(existsSync(tooLong), false);
    assert.equal(existsSync(longRoot), false, "nothing made");
    const execC = `/run/cvx-${path.basename(base).replace(/[^a-zA-Z0-9]/g, "").slice(-6)}c`;
    extraExecRoots.push(execC);
    const shareBridge = await refusedStart(["--root", root, "daemon", "--socket", path.join(base, "c.sock"), "--exec-root", execC, "--bridge", a.bridge, "--bip", a.bip, "--config-file", configFile]);
    assert.notEqual(shareBridge.code, 0);
    assert.match(shareBridge.stderr, new RegExp(`bridge ${a.bridge} belongs to another cove daemon \\(the one on ${a.root}\\)`));
    assert.match(shareBridge.stderr, /--bridge NAME --bip CIDR/);
    const nl = Netlink.open();
    try {
      assert.equal(nl.link(a.bridge)?.alias, `cove ${a.root}`, "a's bridge keeps its owner");
    } finally {
      nl.close();
    }
    assert.deepEqual(mountsUnder([execC]), [], "the refused daemon left no mount");
    assert.equal(existsSync(execC), false, "the refused daemon left no exec root");
    await reachable(a);
  });

  it("killing one and starting it again leaves the other's containers running and reachable; it adopts its own", async () => {
    const aWeb = await ok(a, ["inspect", "-f", "{{.Id}}", "web"]);
    const bWeb = await ok(b, ["inspect", "-f", "{{.Id}}", "web"]);
    const aPort = await webPort(a);
    await stop(a, "SIGKILL");
    await reachable(b);
    // a's container outlives its daemon, and its published port keeps working through the firewall
    assert.equal(await httpGetWhenUp(aPort), "hello from a\n");
    await start(a);
    assert.equal(await ok(a, ["ps", "-q", "--no-trunc", "--filter", "status=running"]), aWeb);
    await reachable(a);
    await reachable(b);

    await stop(b, "SIGTERM");
    await reachable(a);
    await start(b);
    assert.equal(await ok(b, ["ps", "-q", "--no-trunc", "--filter", "status=running"]), bWeb);
    await reachable(b);
  });

  it("pruning on one leaves the other's networks, volumes, images and containers alone", async () => {
    for (const d of [a, b]) {
      await ok(d, ["network", "create", "spare"]);
      await ok(d, ["volume", "create", "loose"]);
    }
    const bSpareBridge = `br-${(await ok(b, ["network", "inspect", "-f", "{{.Id}}", "spare"])).slice(0, 12)}`;
    const bImages = await ok(b, ["images", "-q", "--no-trunc"]);
    assert.match(await ok(a, ["network", "prune", "-f"]), /spare/);
    await ok(a, ["volume", "prune", "-af"]);
    await ok(a, ["system", "prune", "-af"]);
    assert.equal((await docker(a, ["network", "inspect", "spare"])).code, 1);
    assert.equal((await docker(a, ["volume", "inspect", "loose"])).code, 1);

    assert.equal(await ok(b, ["network", "inspect", "-f", "{{.Name}}", "spare"]), "spare");
    const nl = Netlink.open();
    try {
      assert.ok(nl.link(bSpareBridge), `b's spare bridge ${bSpareBridge} survives a's prune`);
    } finally {
      nl.close();
    }
    assert.deepEqual(new Set((await ok(b, ["volume", "ls", "-q"])).split("\n")), new Set(["data-b", "loose"]));
    assert.equal(await ok(b, ["images", "-q", "--no-trunc"]), bImages);
    await reachable(b);
    await reachable(a);
  });

  it("a daemon started with another default bridge moves it while no container runs on it, and refuses to while one does", async () => {
    const bridgeId = await ok(a, ["network", "inspect", "-f", "{{.Id}}", "bridge"]);
    await ok(a, ["run", "-d", "--name", "sleeper", "busybox", "sleep", "1000"]);
    const old = { bridge: a.bridge, bip: a.bip };
    const moved = { bridge: `${a.bridge.slice(0, 13)}m`, bip: freeSubnets(1, [a.bip, a.pool, b.bip, b.pool])[0]!.replace(/0\/24$/, "1/24") };
    await stop(a, "SIGTERM");
    const busy = await refusedStart(daemonArgs({ ...a, ...moved }));
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, new RegExp(`the default bridge is ${old.bridge} \\(${old.bip.replace(/\./g, "\\.")}\\) and containers still run on it: it cannot become ${moved.bridge}`));
    assert.match(busy.stderr, /stop sleeper first/);
    const nl = Netlink.open();
    try {
      assert.equal(nl.link(moved.bridge), undefined, "the refused start made no bridge");
      await start(a);
      assert.equal(await ok(a, ["inspect", "-f", "{{.State.Running}}", "sleeper"]), "true");
      await ok(a, ["rm", "-f", "sleeper"]);
      await stop(a, "SIGTERM");
      Object.assign(a, moved);
      await start(a);
      assert.equal(await ok(a, ["network", "inspect", "-f", '{{.Id}} {{index .Options "com.docker.network.bridge.name"}} {{(index .IPAM.Config 0).Gateway}}', "bridge"]), `${bridgeId} ${moved.bridge} ${moved.bip.split("/")[0]}`);
      assert.equal(nl.link(old.bridge), undefined, `the old bridge ${old.bridge} went`);
      assert.equal(nl.link(moved.bridge)?.alias, `cove ${a.root}`);
      const addr = await ok(a, ["run", "--rm", "busybox", "ip", "-4", "-o", "addr", "show", "eth0"]);
      assert.match(addr, new RegExp(` ${moved.bip.replace(/\.1\/24$/, "").replace(/\./g, "\\.")}\\.\\d+/24 `));
    } finally {
      nl.close();
    }
    await reachable(a);
    await reachable(b);
  });

  it("after both are gone, nothing of either is left on the host", async () => {
    // what after() does, done here so that it is checked
    for (const d of [a, b]) {
      const ids = (await ok(d, ["ps", "-aq"])).split("\n").filter(Boolean);
      await ok(d, ["rm", "-f", ...ids]);
      await ok(d, ["network", "prune", "-f"]);
      await stop(d, "SIGTERM");
      const net = await NetworkService.open({ root: d.root, netnsDir: path.join(d.execRoot, "netns"), defaultBridge: { name: d.bridge, subnet: d.bip }, log: () => undefined });
      await net.uninstall();
      net.close();
    }
    const nl = Netlink.open();
    try {
      const left = nl.links().filter((l) => l.alias === `cove ${a.root}` || l.alias === `cove ${b.root}` || l.name === a.bridge || l.name === b.bridge);
      assert.deepEqual(left.map((l) => l.name), [], "bridges left");
    } finally {
      nl.close();
    }
    const rules = await iptablesSave();
    for (const d of [a, b]) {
      assert.doesNotMatch(rules, new RegExp(`-${d.tag}\\b`), `daemon ${d.name}'s chains left`);
      assert.deepEqual(cgroupParents(d.tag), [], `daemon ${d.name}'s cgroup parent left`);
      assert.deepEqual(mountsUnder([d.execRoot, d.root]), [], `daemon ${d.name}'s mounts left`);
      // with no container's namespace kept, the netns directory's mount goes with the daemon
      assert.equal(existsSync(path.join(d.execRoot, "netns")), false, `daemon ${d.name}'s netns directory left`);
      assert.equal(existsSync(path.join(d.execRoot, "cove.pid")), false, `daemon ${d.name}'s pid file left`);
    }
  });
});

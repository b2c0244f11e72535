// Networking end to end: the docker CLI against a cove daemon with networking (its own default
// bridge, subnets chosen clear of the host's routes), busybox containers exchanging traffic.
// Traffic stays on loopback, the host's own address and the networks the test made; no test
// container resolves names through the host's resolver (user networks point at the embedded DNS
// address, the default bridge containers here make no lookups). Servers in containers are polled
// until they answer, with generous bounds: a busy machine starts them late.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { startDaemon } from "../../src/daemon/index.js";
import { Netlink } from "../../src/network/netlink.js";
import { exited, until } from "../containers/harness.js";
import { freeSubnets, runDocker, setupNetwork, skipReason, type NetHarness } from "./harness.js";
import { freePort } from "../support/ports.js";

function hostAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return undefined;
}

function iptablesSave(): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn("iptables-save", [], { stdio: ["ignore", "pipe", "ignore"] });
    const out: Buffer[] = [];
    c.stdout.on("data", (b: Buffer) => out.push(b));
    c.on("close", () => resolve(Buffer.concat(out).toString()));
  });
}

async function httpGet(host: string, port: number, p: string): Promise<string> {
  const r = await fetch(`http://${host}:${port}${p}`, { signal: AbortSignal.timeout(30_000) });
  return r.text();
}

/** GET that retries until the server (in a container just started) answers, for up to a minute. */
async function httpGetWhenUp(host: string, port: number, p: string): Promise<string> {
  let body: string | undefined;
  let last: unknown;
  await until(`http://${host}:${port}${p} to answer`, async () => {
    try {
      body = await httpGet(host, port, p);
      return true;
    } catch (err) {
      last = err;
      return false;
    }
  }).catch((err: Error) => {
    throw new Error(`${err.message}: ${String(last)}`);
  });
  return body!;
}

/** A shell loop that runs cmd until it succeeds, for up to two minutes (a server still starting). */
const retrying = (cmd: string) => `for i in $(seq 600); do ${cmd} && exit 0; sleep 0.2; done; exit 1`;

describe("cove networking through the docker CLI", { skip: skipReason }, () => {
  let h: NetHarness;
  let subA: string;
  let subB: string;
  const ip = (subnet: string, last: number) => subnet.replace(/\.0\/24$/, `.${last}`);

  before(async () => {
    h = await setupNetwork();
    [subA, subB] = freeSubnets(2, [h.bridgeSubnet]) as [string, string];
  });
  after(async () => {
    await h?.cleanup();
  });
  // what a failed test left (containers, networks) must not trip the next one
  afterEach(async () => {
    await h?.reset();
  });

  it("containers on a user network exchange traffic (nc, wget, httpd); names resolve by name, alias and short id", async () => {
    await h.ok(["network", "create", "--subnet", subA, "--label", "suite=net", "na"]);
    const srv = (await h.ok(["run", "-d", "--name", "web", "--network", "na", "--network-alias", "www", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])).trim();
    const inspect = JSON.parse(await h.ok(["inspect", "web"]))[0];
    const addr = inspect.NetworkSettings.Networks.na.IPAddress as string;
    assert.equal(addr, ip(subA, 2));
    assert.deepEqual(inspect.NetworkSettings.Networks.na.DNSNames, ["web", "www", srv.slice(0, 12)]);
    assert.equal(inspect.NetworkSettings.Networks.na.Gateway, ip(subA, 1));
    const got = await h.ok(["run", "--rm", "--network", "na", "busybox", "sh", "-c", retrying(`wget -qO- http://${addr}/hostname`)]);
    assert.equal(got.trim(), srv.slice(0, 12));
    // nc both ways: a listener in one container, a client in another. The listener's stdin stays
    // open (a pipe from sleep): busybox nc ends at its stdin's end, and with /dev/null it could
    // end before the client's bytes arrived on a busy machine
    await h.ok(["run", "-d", "--name", "listener", "--network", "na", "busybox", "sh", "-c", "sleep 600 | nc -l -p 7000 > /tmp/got"]);
    const lip = JSON.parse(await h.ok(["inspect", "listener"]))[0].NetworkSettings.Networks.na.IPAddress as string;
    await h.ok(["run", "--rm", "--network", "na", "busybox", "sh", "-c", retrying(`echo over-the-bridge | nc ${lip} 7000`)]);
    // the client is done once it has sent; the listener writes the file on its own time
    let received = "";
    let why = "";
    await until("the listener to write what it received", async () => (received = (await h.ok(["exec", "listener", "cat", "/tmp/got"])).trim()) !== "").catch((e: Error) => (why = e.message));
    assert.equal(received, "over-the-bridge", `the listener's file: ${why}`);
    // resolv.conf points at the network's embedded DNS address; the lookups it will answer from
    const resolv = await h.ok(["run", "--rm", "--network", "na", "busybox", "cat", "/etc/resolv.conf"]);
    assert.match(resolv, new RegExp(`^nameserver ${ip(subA, 1).replace(/\./g, "\\.")}$`, "m"));
    const nid = JSON.parse(await h.ok(["network", "inspect", "na"]))[0].Id as string;
    const svc = h.daemon.network!;
    assert.deepEqual(svc.resolve(nid, "web", 4), [addr]);
    assert.deepEqual(svc.resolve(nid, "www", 4), [addr]);
    assert.deepEqual(svc.resolve(nid, srv.slice(0, 12), 4), [addr]);
    assert.deepEqual(svc.resolve(nid, "web.na.", 4), [addr]);
    assert.deepEqual(svc.resolve(nid, "nobody", 4), []);
    assert.equal(svc.reverse(addr), "web.na");
    assert.ok(svc.dnsNetworks().some((d) => d.networkId === nid && d.address === ip(subA, 1)));
    await h.ok(["rm", "-f", "web", "listener"]);
    await h.ok(["network", "rm", "na"]);
  });

  it("published ports are reached from the host on 127.0.0.1 and on the host's address; port, ps and inspect show them", async (t) => {
    const port = await freePort();
    await h.ok(["run", "-d", "--name", "pub", "-p", `${port}:80`, "-p", "127.0.0.1::81", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal((await httpGetWhenUp("127.0.0.1", port, "/hostname")).trim().length, 12);
    const other = hostAddress();
    if (other) assert.equal((await httpGet(other, port, "/hostname")).trim().length, 12);
    const ports = JSON.parse(await h.ok(["inspect", "-f", "{{json .NetworkSettings.Ports}}", "pub"]));
    assert.deepEqual(ports[`80/tcp`], [{ HostIp: "0.0.0.0", HostPort: String(port) }]);
    assert.equal(ports["81/tcp"][0].HostIp, "127.0.0.1");
    assert.match(ports["81/tcp"][0].HostPort, /^\d+$/);
    assert.equal((await h.ok(["port", "pub", "80"])).trim(), `0.0.0.0:${port}`);
    assert.match(await h.ok(["ps", "--format", "{{.Ports}}", "-f", "name=pub"]), new RegExp(`0\\.0\\.0\\.0:${port}->80/tcp`));
    // a port in use: Docker's error, and the failed container holds nothing
    const busy = await h.docker(["run", "--name", "second", "-p", `${port}:80`, "busybox", "true"]);
    assert.equal(busy.code, 125);
    assert.match(busy.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated`));
    const held = net.createServer();
    const hostPort = await freePort();
    await new Promise<void>((r) => held.listen(hostPort, "0.0.0.0", r));
    const inUse = await h.docker(["run", "--rm", "-p", `${hostPort}:80`, "busybox", "true"]);
    held.close();
    assert.equal(inUse.code, 125);
    assert.match(inUse.stderr, new RegExp(`failed to bind host port for 0\\.0\\.0\\.0:${hostPort}:.*: address already in use`));
    await h.ok(["rm", "-f", "pub", "second"]);
    // nothing outlives the container: the port is free and no DNAT rule names it
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => again.once("error", reject).listen(port, "0.0.0.0", resolve));
    again.close();
    assert.doesNotMatch(await iptablesSave(), new RegExp(`--dport ${port} `));
    // the rest passed; the host's own address could not be tried: say so
    if (!other) t.skip("not reached on the host's address: this host has no IPv4 address besides loopback");
  });

  it("isolates two networks from each other; --internal has no egress", async () => {
    await h.ok(["network", "create", "--subnet", subA, "na"]);
    await h.ok(["network", "create", "--subnet", subB, "nb"]);
    await h.ok(["run", "-d", "--name", "iso", "--network", "na", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    const target = JSON.parse(await h.ok(["inspect", "iso"]))[0].NetworkSettings.Networks.na.IPAddress as string;
    // the same probe that must fail across networks succeeds within one
    const same = await h.docker(["run", "--rm", "--network", "na", "busybox", "sh", "-c", retrying(`echo | nc -w 2 ${target} 80`)]);
    assert.equal(same.code, 0, same.stderr);
    // dropped packets: nc gives up after 2 s instead of TCP's two-minute connect timeout
    const cross = await h.docker(["run", "--rm", "--network", "nb", "busybox", "sh", "-c", `echo | nc -w 2 ${target} 80`]);
    assert.notEqual(cross.code, 0, "a container on nb reached one on na");
    // connect puts a running container on the second network too
    await h.ok(["network", "connect", "--alias", "bridge-b", "nb", "iso"]);
    const both = JSON.parse(await h.ok(["inspect", "iso"]))[0].NetworkSettings.Networks;
    assert.ok(both.nb.IPAddress, "no address on nb after connect");
    assert.deepEqual(both.nb.Aliases, ["bridge-b"]);
    const viaB = await h.docker(["run", "--rm", "--network", "nb", "busybox", "timeout", "30", "wget", "-qO-", `http://${both.nb.IPAddress}/hostname`]);
    assert.equal(viaB.code, 0, viaB.stderr);
    await h.ok(["network", "disconnect", "nb", "iso"]);
    const rmBusy = await h.docker(["network", "rm", "na"]);
    assert.notEqual(rmBusy.code, 0);
    assert.match(rmBusy.stderr, /has active endpoints/);
    await h.ok(["rm", "-f", "iso"]);
    // internal: the gateway answers nothing beyond the bridge
    const [subC] = freeSubnets(1, [h.bridgeSubnet, subA, subB]);
    await h.ok(["network", "create", "--internal", "--subnet", subC!, "nint"]);
    const route = await h.ok(["run", "--rm", "--network", "nint", "busybox", "ip", "route"]);
    assert.doesNotMatch(route, /default/);
    await h.ok(["network", "rm", "nint", "nb", "na"]);
  });

  it("the default bridge: own hostname and --link names in /etc/hosts, --add-host with host-gateway, --dns", async () => {
    await h.ok(["run", "-d", "--name", "db", "busybox", "sleep", "600"]);
    const dbIp = JSON.parse(await h.ok(["inspect", "db"]))[0].NetworkSettings.IPAddress as string;
    assert.ok(dbIp.startsWith(h.bridgeSubnet.replace(/\.0\/24$/, ".")), `${dbIp} not in ${h.bridgeSubnet}`);
    const hosts = await h.ok(["run", "--rm", "--hostname", "app", "--link", "db:database", "--add-host", "gw:host-gateway", "--dns", "127.0.0.1", "busybox", "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; ping -c1 -W10 database >/dev/null && echo pinged"]);
    const [hostsPart = "", resolvPart = "", ping = ""] = hosts.split("---\n");
    assert.match(hostsPart, new RegExp(`^${dbIp.replace(/\./g, "\\.")}\\tdatabase [0-9a-f]{12} db$`, "m"));
    assert.match(hostsPart, new RegExp(`^${h.bridgeSubnet.replace(/\.0\/24$/, ".1").replace(/\./g, "\\.")}\\tgw$`, "m"));
    assert.match(hostsPart, /\tapp$/m);
    assert.equal(resolvPart.trim(), "nameserver 127.0.0.1");
    assert.equal(ping.trim(), "pinged");
    await h.ok(["rm", "-f", "db"]);
  });

  it("cove network create/ls/inspect/connect/disconnect/rm/prune agree with the API", async () => {
    const main = path.join(path.dirname(new URL(import.meta.url).pathname), "../../src/cli/main.js");
    const cove = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [main, ...args], { env: { ...process.env, DOCKER_HOST: `unix://${h.socket}` }, stdio: ["ignore", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        c.stdout.on("data", (b: Buffer) => out.push(b));
        c.stderr.on("data", (b: Buffer) => err.push(b));
        c.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
      });
    const [sub] = freeSubnets(1, [h.bridgeSubnet, subA, subB]);
    const created = await cove(["network", "create", "--subnet", sub!, "--label", "k=v", "clinet"]);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ls = await cove(["network", "ls", "-f", "label=k=v"]);
    assert.match(ls.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/m);
    assert.match(ls.stdout, new RegExp(`^${id.slice(0, 12)}\\s+clinet\\s+bridge\\s+local$`, "m"));
    const doc = JSON.parse((await cove(["network", "inspect", "clinet"])).stdout)[0];
    assert.deepEqual(doc, JSON.parse(await h.ok(["network", "inspect", "clinet"]))[0]);
    await h.ok(["run", "-d", "--name", "cli-c", "busybox", "sleep", "600"]);
    assert.equal((await cove(["network", "connect", "--alias", "x", "clinet", "cli-c"])).code, 0);
    assert.deepEqual(JSON.parse(await h.ok(["inspect", "cli-c"]))[0].NetworkSettings.Networks.clinet.Aliases, ["x"]);
    assert.equal((await cove(["network", "disconnect", "clinet", "cli-c"])).code, 0);
    const missing = await cove(["network", "rm", "no-such-net"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /network no-such-net not found/);
    await h.ok(["rm", "-f", "cli-c"]);
    const pruned = await cove(["network", "prune", "-f"]);
    assert.match(pruned.stdout, /^Deleted Networks:\n(.*\n)*clinet$/m);
  });

  it("a bridge with the kernel's 1,023 ports refuses one more container clearly, and leaves nothing of it", async () => {
    const bridge = `cvf${path.basename(h.base).replace(/[^a-zA-Z0-9]/g, "").slice(-6)}`;
    await h.ok(["network", "create", "--subnet", subA, "-o", `com.docker.network.bridge.name=${bridge}`, "nfull"]);
    // one container makes the bridge and takes a port; the host ends of 1,022 veth pairs take the rest
    await h.ok(["run", "-d", "--name", "first", "--network", "nfull", "busybox", "sleep", "600"]);
    const ports = Array.from({ length: 1022 }, (_, i) => `${bridge.slice(0, 9)}p${i}`);
    const batch = (lines: string[]) => {
      const r = spawnSync("ip", ["-force", "-batch", "-"], { input: lines.join("\n") + "\n", encoding: "utf8" });
      return r.status === 0 ? "" : r.stderr;
    };
    try {
      assert.equal(batch(ports.flatMap((p) => [`link add ${p} type veth peer name ${p}x`, `link set ${p} master ${bridge}`])), "", "the bridge takes 1,022 more ports");
      const veths = () => spawnSync("ip", ["-o", "link", "show", "master", bridge], { encoding: "utf8" }).stdout.split("\n").filter((l) => /^\d+: veth/.test(l)).length;
      assert.equal(veths(), 1);
      const r = await h.docker(["run", "--name", "one-more", "--network", "nfull", "busybox", "true"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /network nfull is full: its bridge \S+ has 1,023 ports, the most the kernel allows on one bridge/);
      assert.match(r.stderr, /spread the containers over more networks/);
      assert.equal(veths(), 1, "no veth of the refused container is left on the bridge");
      assert.equal((await h.ok(["inspect", "-f", "{{.State.Status}}", "one-more"])).trim(), "created", "the container stays, as after any failed start");
      // a port freed is a port to take
      assert.equal(batch([`link del ${ports[0]}`]), "");
      await h.ok(["start", "one-more"]);
    } finally {
      batch(ports.map((p) => `link del ${p}`));
    }
  });

  it("keeps networking across a daemon restart (live restore)", async () => {
    const port = await freePort();
    await h.ok(["network", "create", "--subnet", subB, "nr"]);
    await h.ok(["run", "-d", "--name", "keep", "--network", "nr", "-p", `${port}:80`, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    const before = JSON.parse(await h.ok(["inspect", "keep"]))[0].NetworkSettings;
    await h.restart();
    const after = JSON.parse(await h.ok(["inspect", "keep"]))[0].NetworkSettings;
    assert.deepEqual(after.Networks.nr.IPAddress, before.Networks.nr.IPAddress);
    assert.deepEqual(after.Ports, before.Ports);
    assert.equal((await httpGetWhenUp("127.0.0.1", port, "/hostname")).trim().length, 12);
    const peer = await h.docker(["run", "--rm", "--network", "nr", "busybox", "sh", "-c", retrying(`timeout 30 wget -qO- http://${before.Networks.nr.IPAddress}/hostname`)]);
    assert.equal(peer.code, 0, peer.stderr);
    // a new container gets a different address: the lease survived the restart (it runs until
    // removed: one that had exited would have no address to compare)
    const next = JSON.parse(await h.ok(["inspect", (await h.ok(["run", "-d", "--name", "next", "--network", "nr", "busybox", "sleep", "600"])).trim()]))[0].NetworkSettings.Networks.nr.IPAddress;
    assert.match(next, /^\d+\.\d+\.\d+\.\d+$/);
    assert.notEqual(next, before.Networks.nr.IPAddress);
    await h.ok(["rm", "-f", "keep", "next"]);
    await h.ok(["network", "rm", "nr"]);
  });
});

describe("cleanup after a daemon SIGKILL", { skip: skipReason }, () => {
  it("a container that died while no daemon ran leaves no veth, netns, rule or port behind", async () => {
    const h = await setupNetwork();
    const port = await freePort();
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const [sub] = freeSubnets(1, [h.bridgeSubnet]);
      await h.ok(["network", "create", "--subnet", sub!, "ncrash"]);
      // hand the root to a daemon in a child process, then kill it hard
      await h.daemon.close();
      const socket = path.join(h.base, "crash.sock");
      const main = path.join(path.dirname(new URL(import.meta.url).pathname), "crash-daemon.js");
      child = spawn(process.execPath, [main, h.root, socket, path.join(h.base, "r"), h.netnsDir, h.bridge, h.bridgeSubnet, path.basename(h.base).replace(/[^a-zA-Z0-9]/g, "").slice(-6)], { stdio: "ignore" });
      await until("the crash daemon's socket", () => existsSync(socket) || child!.exitCode !== null);
      assert.ok(existsSync(socket), `the crash daemon exited (${child.exitCode})`);
      const run = await runDocker(socket, h.base, ["run", "-d", "--name", "doomed", "--network", "ncrash", "-p", `${port}:80`, "busybox", "httpd", "-f", "-p", "80"]);
      assert.equal(run.code, 0, run.stderr);
      const info = JSON.parse((await runDocker(socket, h.base, ["inspect", "doomed"])).stdout)[0];
      const netns = info.NetworkSettings.SandboxKey as string;
      assert.ok(existsSync(netns));
      child.kill("SIGKILL");
      await new Promise((r) => child!.once("exit", r));
      process.kill(info.State.Pid, "SIGKILL");
      await until("the container's exit", () => exited(info.State.Pid as number));
      // the veth and the namespace are still there: nobody cleaned up
      const sandboxFile = path.join(h.root, "network", "sandboxes", `${info.Id}.json`);
      const veth = JSON.parse(readFileSync(sandboxFile, "utf8")).endpoints[0].hostVeth as string;
      const nl = Netlink.open();
      assert.ok(nl.link(veth), "the veth should exist before the restart");
      // a new daemon on the root reconciles
      const d = await startDaemon({ root: h.root, socket: path.join(h.base, "again.sock"), execRoot: path.dirname(h.netnsDir), runtimeRoot: path.join(h.base, "r"), log: () => undefined, network: { defaultBridge: { name: h.bridge, subnet: h.bridgeSubnet }, netnsDir: h.netnsDir, tag: path.basename(h.base).replace(/[^a-zA-Z0-9]/g, "").slice(-6) } });
      try {
        // the daemon restores its containers in the background: the cleanup is part of that
        await d.reconciled;
        assert.equal(nl.link(veth), undefined, "the veth outlived its container");
        assert.equal(existsSync(netns), false, "the netns file outlived its container");
        assert.equal(existsSync(sandboxFile), false);
        assert.doesNotMatch(await iptablesSave(), new RegExp(`--dport ${port} `));
        const s = net.createServer();
        await new Promise<void>((resolve, reject) => s.once("error", reject).listen(port, "0.0.0.0", resolve));
        s.close();
        const state = (await d.containers.inspect("doomed")).State;
        assert.equal(state.Running, false);
      } finally {
        nl.close();
        await d.close();
      }
      // the harness cleans up with a fresh daemon
      await h.restart();
    } finally {
      if (child && child.exitCode === null) child.kill("SIGKILL");
      await h.cleanup();
    }
  });
});

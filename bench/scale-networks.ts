// Benchmark: density on networks. A private `cove daemon` WITH networking (the real command; a
// root, exec root, cgroup parent, default bridge, --bip and address pool of its own, all in
// 10.213.0.0/16), busybox containers started through the Engine API by BENCH_SCALE_CLIENTS
// concurrent clients, each POST /containers/create then /start, each named and each listening on
// TCP 8080 (busybox `nc -ll -p 8080 -e echo NAME`: every connection is answered with the
// container's name) with that port published on 127.0.0.1 (a host port the daemon picks).
//
//   Phase A: one user-defined bridge network (a /21), BENCH_NET_ONE containers on it.
//   Phase B: BENCH_NET_MANY containers over BENCH_NET_NETWORKS networks (a /21 each), round robin.
//
// Reported for each: the time to start them and the rate, the create+start latency of the first
// and the last tenth, memory per container (the daemon's RSS growth, the monitors' PSS, the
// kernel's share from /proc/meminfo), GET /containers/json, the veths on each bridge and the
// daemon's iptables rules; then the checks:
//
//   - names: from one container of a network (an exec of busybox `nslookup NAME` through the API),
//     BENCH_NET_SAMPLE names of other containers on its network resolve through the embedded DNS
//     to their addresses, and their port 8080 answers by name (`nc NAME 8080`); with several
//     networks, names of the other networks do NOT resolve and their addresses do not answer
//     (isolation). The lookup's time is the exec's round trip, beside an exec of `true`.
//   - published ports: every container's port answers on 127.0.0.1 from the host, with its name
//   - with BENCH_NET_ONE ≥ 1,000: containers are added to the one network until its bridge holds
//     the kernel's 1,023 ports, then ONE more start, whose refusal (the API's status and message)
//     is shown, and that it left no veth behind
//   - rm -f of all through the API with the same clients, the networks removed, and what is left
//     (test/support/leaks.ts: records, runtime state, mounts, namespaces, cgroups, DNAT rules,
//     held ports)
//
// At the end the daemon stops and the network service's uninstall (what tests use:
// NetworkService.uninstall on the daemon's root) removes its default bridge and chains; then no
// bridge, veth, namespace, mount, cgroup, chain or process of this daemon may be left.
//
// Nothing leaves the machine: the networks are 10.213.0.0/16 (checked clear of the host's routes),
// the ports are published on 127.0.0.1 only, and each container's --dns is 127.0.0.1 so that a
// name the embedded DNS does not know (the isolation check) is forwarded to the host's loopback,
// where nothing answers, never to the host's resolvers.
//
// Knobs: BENCH_NET_ONE (100; the issue's figure is 1000), BENCH_NET_MANY (300; the issue's 3000),
// BENCH_NET_NETWORKS (4), BENCH_SCALE_CLIENTS (16), BENCH_NET_SAMPLE (20: names looked up per
// check), BENCH_NET_ROUNDS (5, for the medians), BENCH_NET_PREFILL (0: that many bare veth pairs
// are put on phase A's bridge before it is filled, and the fill runs once BENCH_NET_ONE plus
// them reach 1,000: a quick look at the refusal without 1,000 containers). Defaults keep `npm run
// bench` within a CI budget.
// Not a test: nothing asserts on time, but a failed check is printed as FAILED and the exit code
// is 1. Everything is removed at the end, also on failure or Ctrl-C.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { instanceLayout, type InstanceLayout } from "../src/common/instance.js";
import { NetworkService } from "../src/network/service.js";
import { mountsUnder } from "../test/support/dockerd.js";
import { describeLeaks, findLeaks } from "../test/support/leaks.js";
import { client, fanOut, ok, type Client } from "./support/api.js";
import { busyboxArchive } from "./support/busybox.js";
import { daemonFiles } from "./support/daemon-files.js";
import { cleanUpOnSignal, removeUnlessMounted } from "./support/cleanup.js";
import { median, quantile } from "./support/stats.js";
import { ping } from "./support/ping.js";
import { cgroupHierarchies, KERNEL_SHARE, meminfo, type MemInfo, type Memory, processes, removeCgroup, totalMemory } from "./support/proc.js";

const N1 = Number(process.env.BENCH_NET_ONE ?? 100);
const N2 = Number(process.env.BENCH_NET_MANY ?? 300);
const M = Number(process.env.BENCH_NET_NETWORKS ?? 4);
const CLIENTS = Number(process.env.BENCH_SCALE_CLIENTS ?? 16);
const K = Number(process.env.BENCH_NET_SAMPLE ?? 20);
const ROUNDS = Number(process.env.BENCH_NET_ROUNDS ?? 5);
const PREFILL = Number(process.env.BENCH_NET_PREFILL ?? 0);
const DOCKER = "/usr/local/bin/docker";
const IMAGE = "busybox:latest";
const PORT = 8080;
/** The kernel numbers a bridge's ports in 10 bits, port 0 being the bridge's own. */
const BRIDGE_PORTS = 1023;
/** Everything of the benchmark's daemon: its default bridge, its pool, its networks. */
const SPACE = "10.213.0.0/16";
const BIP = "10.213.0.1/24";
const POOL = "base=10.213.2.0/23,size=24";
/** Phase A's network, and phase B's j-th (a /21 each: 2,045 addresses, more than a bridge's ports). */
const subnetA = "10.213.8.0/21";
const subnetB = (j: number) => `10.213.${16 + 8 * j}.0/21`;
const MAX_NETWORKS = 30;
const here = path.dirname(fileURLToPath(import.meta.url));
const COVE_CLI = path.resolve(here, "../src/cli/main.js");

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const pad = (i: number) => String(i).padStart(4, "0");
/** A deterministic sample of k distinct items (a fixed-seed shuffle: runs pick alike). */
function sample<T>(xs: T[], k: number, seed = 1): T[] {
  const a = [...xs];
  let s = seed >>> 0 || 1;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, Math.min(k, a.length));
}

// ---- the Engine API over the unix socket -------------------------------------------------------

/** Set on Ctrl-C: the clients stop taking new work, so the cleanup has the daemon to itself. */
let interrupted = false;


/** Runs work on every item, CLIENTS at a time (host-side work: port checks). */
async function parallel<T>(items: T[], work: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(CLIENTS, items.length) }, async () => {
    while (next < items.length && !interrupted) await work(items[next++]!);
  }));
}

/** The container's body: named, answering on PORT with its name, the port published on 127.0.0.1. */
function createBody(name: string, network: string, publish = true): unknown {
  return {
    Image: IMAGE,
    Cmd: ["nc", "-ll", "-p", String(PORT), "-e", "echo", name],
    ExposedPorts: { [`${PORT}/tcp`]: {} },
    HostConfig: {
      NetworkMode: network,
      // names the embedded DNS does not know go to the host's loopback, never to its resolvers
      Dns: ["127.0.0.1"],
      ...(publish ? { PortBindings: { [`${PORT}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: "" }] } } : {}),
    },
  };
}

async function createAndStart(c: Client, name: string, network: string, publish = true): Promise<string> {
  const id = (JSON.parse((await ok(c, "POST", `/containers/create?name=${name}`, createBody(name, network, publish))).body) as { Id: string }).Id;
  await ok(c, "POST", `/containers/${id}/start`);
  return id;
}

/** A request whose answer is a stream (exec start): its own connection, the whole body read. */
function streamCall(socket: string, method: string, p: string, body: unknown, timeoutMs: number): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath: socket, method, path: p, agent: false, timeout: timeoutMs, headers: { "Content-Type": "application/json", "Content-Length": payload.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${p}: no end within ${timeoutMs / 1000} s`)));
    req.on("error", (err) => reject(new Error(`${method} ${p}: ${err.message}`)));
    req.end(payload);
  });
}

/** stdout and stderr of a multiplexed stream (8-byte frame headers), as one text. */
function demux(b: Buffer): string {
  let out = "";
  let i = 0;
  while (i + 8 <= b.length && b[i]! <= 2 && b[i + 1] === 0 && b[i + 2] === 0 && b[i + 3] === 0) {
    const n = b.readUInt32BE(i + 4);
    out += b.subarray(i + 8, i + 8 + n).toString("utf8");
    i += 8 + n;
  }
  return i === 0 ? b.toString("utf8") : out;
}

interface ExecResult {
  code: number;
  out: string;
  /** exec create to the end of its output. */
  ms: number;
}

/** Runs cmd in a container through the API (exec create, start attached, inspect). */
async function execIn(socket: string, c: Client, id: string, cmd: string[]): Promise<ExecResult> {
  const t0 = performance.now();
  const made = await ok(c, "POST", `/containers/${id}/exec`, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const execId = (JSON.parse(made.body) as { Id: string }).Id;
  const started = await streamCall(socket, "POST", `/exec/${execId}/start`, { Detach: false, Tty: false }, 60_000);
  const ms = performance.now() - t0;
  if (started.status !== 200) throw new Error(`exec start in ${id}: ${started.status} ${started.body.toString()}`);
  let code: number | null = null;
  for (let i = 0; i < 50 && code === null; i++) {
    const info = JSON.parse((await ok(c, "GET", `/exec/${execId}/json`)).body) as { ExitCode: number | null; Running: boolean };
    if (!info.Running) code = info.ExitCode;
    else await sleep(20);
  }
  return { code: code ?? -1, out: demux(started.body), ms };
}

/** The addresses busybox nslookup printed for the name (after its "Name:" line). */
function nslookupAddresses(out: string): string[] {
  const at = out.indexOf("Name:");
  if (at < 0) return [];
  return [...out.slice(at).matchAll(/^Address:\s*([0-9a-f.:]+)\s*$/gim)].map((m) => m[1]!).filter((a) => !a.endsWith(":53"));
}

/** Connects to 127.0.0.1:port and reads what the container answers (until it closes). */
function answerOn(port: number, timeoutMs = 5_000): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect({ host: "127.0.0.1", port });
    let text = "";
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`127.0.0.1:${port}: no answer within ${timeoutMs / 1000} s`)));
    s.on("data", (b: Buffer) => (text += b.toString("utf8")));
    s.on("error", reject);
    s.on("close", (hadError) => hadError || resolve({ text: text.trim(), ms: performance.now() - t0 }));
    s.end();
  });
}

// ---- what the host holds -----------------------------------------------------------------------


const readNum = (p: string): string => {
  try {
    return readFileSync(p, "utf8").trim().replace(/\s+/g, " ");
  } catch {
    return "n/a";
  }
};

const lines = (cmd: string, args: string[]): string[] => {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  return r.status === 0 ? r.stdout.split("\n").filter(Boolean) : [];
};

/** Links on the host whose name starts with prefix, or that are veths (kind "veth"). */
const linkNames = (args: string[]) => lines("ip", ["-o", "link", "show", ...args]).map((l) => l.split(": ")[1]?.split("@")[0] ?? l);
const vethsOn = (bridge: string) => linkNames(["master", bridge]).length;
/** `ip -force -batch -`: the lines' failures are thrown. */
function ipBatch(cmds: string[]): void {
  const r = spawnSync("ip", ["-force", "-batch", "-"], { input: cmds.join("\n") + "\n", encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip -batch: ${r.stderr.trim().split("\n").slice(0, 3).join("; ")}`);
}
const hostVeths = () => linkNames(["type", "veth"]);

/** The daemon's iptables and ip6tables rules (lines of its chains, by tag), per table. */
function firewallLines(tag: string): { filter: number; nat: number; v6: number; all: string[] } {
  const mine = (l: string) => l.includes(`-${tag} `) || l.endsWith(`-${tag}`);
  const v4 = lines("iptables-save", []);
  const v6 = lines("ip6tables-save", []);
  let table = "";
  let filter = 0;
  let nat = 0;
  for (const l of v4) {
    if (l.startsWith("*")) table = l.slice(1);
    else if (l.startsWith("-A") && mine(l)) {
      if (table === "filter") filter++;
      else if (table === "nat") nat++;
    }
  }
  return { filter, nat, v6: v6.filter((l) => l.startsWith("-A") && mine(l)).length, all: [...v4, ...v6].filter(mine) };
}

/**
 * The time of one rewrite of the daemon's IPv4 chains as they are now (cove rewrites them whole,
 * under its network lock, at every start and removal of a container with a published port):
 * the same iptables-restore input replayed in a network namespace of its own (the host's
 * firewall untouched), median of 3 after a first one that makes the chains.
 */
function rewriteMs(tag: string, dir: string): number {
  const mine = (l: string) => l.includes(`-${tag} `) || l.endsWith(`-${tag}`);
  const out: string[] = [];
  let table: string[] = [];
  for (const l of lines("iptables-save", [])) {
    if (l.startsWith("*")) table = [l];
    else if (l.startsWith(":") && mine(l.split(" ")[0]!)) table.push(`${l.split(" ")[0]} - [0:0]`);
    else if (l.startsWith(`-A COVE-`) && mine(l)) table.push(l);
    else if (l === "COMMIT" && table.length > 1) out.push(...table, "COMMIT");
  }
  const file = path.join(dir, "rules.v4");
  writeFileSync(file, `${out.join("\n")}\n`);
  const script = `for i in 1 2 3 4; do s=$(date +%s%N); iptables-restore -w --noflush < '${file}' || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done`;
  const r = spawnSync("unshare", ["--net", "sh", "-c", script], { encoding: "utf8" });
  if (r.status !== 0) return NaN;
  return median(r.stdout.split("\n").filter(Boolean).slice(1).map(Number)) / 1000;
}

/** The host's ARP table's counters: times it was full (a new neighbour refused) and forced collections. */
function arpCounters(): { fulls: number; forcedGc: number } {
  const text = lines("ip", ["-s", "ntable", "show", "name", "arp_cache"]).join("\n");
  return { fulls: Number(/table_fulls (\d+)/.exec(text)?.[1] ?? NaN), forcedGc: Number(/forced_gc_runs (\d+)/.exec(text)?.[1] ?? NaN) };
}

/** Whether a CIDR overlaps a route of the host (the benchmark's space must be free). */
function routesIn(space: string): string[] {
  const [base, prefix] = space.split("/");
  const toInt = (ip: string) => ip.split(".").reduce((s, o) => s * 256 + Number(o), 0);
  const lo = toInt(base!);
  const size = 2 ** (32 - Number(prefix));
  return lines("ip", ["-4", "route", "show", "table", "all"]).filter((l) => {
    const m = /^(?:\S+\s+)?(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/.exec(l.replace(/^(local|broadcast|unicast)\s+/, ""));
    if (!m) return false;
    const a = toInt(m[1]!);
    const asize = 2 ** (32 - Number(m[2] ?? 32));
    return a < lo + size && lo < a + asize;
  });
}

interface Memories {
  daemon: Memory;
  monitors: Memory;
  monitorCount: number;
  kernel: MemInfo;
}

// ---- the daemon --------------------------------------------------------------------------------

interface Cove {
  socket: string;
  env: NodeJS.ProcessEnv;
  layout: InstanceLayout;
  root: string;
  logFile: string;
  pid(): number | undefined;
  memories(): Promise<Memories>;
  /** Removes its containers and networks through the API, stops it, sweeps; never throws. Returns the uninstall's ms. */
  stop(): Promise<{ uninstallMs: number; errors: string[] }>;
}

/** Starts `cove daemon` (the command users run) on dir/cove with networking of its own. */
async function startCove(dir: string): Promise<Cove> {
  const { root, socket, logFile, config, layout, env } = await daemonFiles(dir);
  const log = openSync(logFile, "a");
  const args = [COVE_CLI, "--root", root, "daemon", "--socket", socket, "--config-file", config, "--cri-socket", "none", "--bridge", layout.bridge, "--bip", BIP, "--default-address-pool", POOL];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", log, log], env: { PATH: process.env.PATH, HOME: dir } });
  closeSync(log);
  const alive = () => child.exitCode === null && child.signalCode === null;
  const ownedBy = (argv: string[]) => argv.some((a) => a.startsWith(layout.execRoot + "/"));
  const memories = async (): Promise<Memories> => {
    const monitors = (await processes()).filter((p) => p.pid !== child.pid && ownedBy(p.argv)).map((p) => p.pid);
    return { daemon: await totalMemory(alive() ? [child.pid!] : []), monitors: await totalMemory(monitors), monitorCount: monitors.length, kernel: meminfo() };
  };
  let stopped: Promise<{ uninstallMs: number; errors: string[] }> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      const errors: string[] = [];
      try {
        if (alive() && (await ping(socket))) {
          await removeAll(socket);
          const c = client(socket);
          try {
            const nets = JSON.parse((await ok(c, "GET", "/networks")).body) as { Name: string; Id: string }[];
            for (const n of nets) if (!["bridge", "host", "none"].includes(n.Name)) await ok(c, "DELETE", `/networks/${n.Id}`);
          } finally {
            c.close();
          }
        }
      } catch (err) {
        errors.push(`removing the containers and networks through the API: ${(err as Error).message}`);
      }
      if (alive()) {
        child.kill("SIGTERM");
        for (let i = 0; i < 300 && alive(); i++) await sleep(100);
        if (alive()) child.kill("SIGKILL");
      }
      // whatever a failure left: monitors, container cgroups (their processes killed), mounts
      for (const p of await processes()) if (ownedBy(p.argv)) process.kill(p.pid, "SIGKILL");
      for (const h of await cgroupHierarchies()) await removeCgroup(path.join(h, layout.cgroupParent));
      // the network service's uninstall: sandboxes, bridges (the default one too) and chains
      const t0 = performance.now();
      try {
        const svc = await NetworkService.open({ root, netnsDir: layout.netnsDir, defaultBridge: { name: layout.bridge, subnet: BIP }, log: (l) => errors.push(`uninstall: ${l}`) });
        await svc.uninstall();
        svc.close();
      } catch (err) {
        errors.push(`the network service's uninstall: ${(err as Error).message}`);
      }
      const uninstallMs = performance.now() - t0;
      for (let round = 0; round < 5; round++) {
        const points = [...(await mountsUnder(dir)), ...(await mountsUnder(layout.execRoot))];
        if (points.length === 0) break;
        for (const p of points) await new Promise<void>((r) => spawn("umount", ["-l", p]).on("close", () => r()));
      }
      await rm(layout.execRoot, { recursive: true, force: true });
      return { uninstallMs, errors };
    })());
  const end = Date.now() + 60_000;
  while (!(await ping(socket))) {
    if (!alive() || Date.now() > end) {
      await stop();
      throw new Error(`the cove daemon did not answer: ${(await readFile(logFile, "utf8").catch(() => "")).trim().split("\n").slice(-5).join("\n")}`);
    }
    await sleep(20);
  }
  return { socket, env, layout, root, logFile, pid: () => (alive() ? child.pid : undefined), memories, stop };
}

/** rm -f of every container the daemon lists, CLIENTS at a time; returns the ms of each. */
async function removeAll(socket: string): Promise<number[]> {
  const c = client(socket);
  const ids = (JSON.parse((await ok(c, "GET", "/containers/json?all=1")).body) as { Id: string }[]).map((x) => x.Id);
  c.close();
  return fanOut(socket, 0, ids.length, async (i, cl) => void (await ok(cl, "DELETE", `/containers/${ids[i]}?force=1`)), { clients: CLIENTS });
}

/** docker CLI, for the image load (the same tar the other benchmarks load). */
function dockerCli(env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`docker ${args.join(" ")} exited ${code}: ${err.trim()}`))));
  });
}

// ---- the phases --------------------------------------------------------------------------------

interface Box {
  name: string;
  id: string;
  network: string;
  ip: string;
  hostPort?: number;
}

interface Check {
  label: string;
  passed: number;
  total: number;
  /** What "passed" means for the reader, e.g. "resolved to its address". */
  expect: string;
  ms: number[];
  failures: string[];
}

const failures: string[] = [];
function record(c: Check): Check {
  if (c.passed !== c.total) failures.push(`${c.label}: ${c.passed}/${c.total} ${c.expect}; ${c.failures.slice(0, 3).join("; ")}`);
  return c;
}

interface PhaseResult {
  title: string;
  count: number;
  networks: string[];
  bridges: string[];
  startMs: number;
  latency: number[];
  before: Memories;
  after: Memories;
  psMs: number;
  infoMs: number;
  veths: number[];
  fw: { filter: number; nat: number; v6: number; rewriteMs: number };
  neigh: number;
  /** The host's ARP table's counters over the ramp and the checks. */
  arp: { fulls: number; forcedGc: number };
  checks: Check[];
  bridgeFull?: { filledTo: number; fillMs: number; status: number; message: string; vethsAfter: number; state: string } | { error: string };
  rmMs: number;
  rmEach: number[];
  leaks: string;
  bridgesLeft: string[];
}

async function createNetwork(c: Client, name: string, subnet: string, bridge: string): Promise<string> {
  const body = { Name: name, Driver: "bridge", CheckDuplicate: true, IPAM: { Driver: "default", Config: [{ Subnet: subnet }] }, Options: { "com.docker.network.bridge.name": bridge } };
  return (JSON.parse((await ok(c, "POST", "/networks/create", body)).body) as { Id: string }).Id;
}

/** Every container as GET /containers/json lists it: name, network, address, published port. */
async function listBoxes(c: Client): Promise<{ boxes: Box[]; ms: number }> {
  const r = await ok(c, "GET", "/containers/json");
  type Row = { Id: string; Names: string[]; Ports: { PrivatePort: number; PublicPort?: number; IP?: string }[]; NetworkSettings: { Networks: Record<string, { IPAddress: string }> } };
  const boxes = (JSON.parse(r.body) as Row[]).map((x) => {
    const [network, ep] = Object.entries(x.NetworkSettings.Networks)[0] ?? ["", { IPAddress: "" }];
    const port = x.Ports.find((p) => p.PrivatePort === PORT && p.PublicPort && (p.IP === "127.0.0.1" || !p.IP))?.PublicPort;
    return { name: x.Names[0]!.replace(/^\//, ""), id: x.Id, network, ip: ep.IPAddress, ...(port ? { hostPort: port } : {}) };
  });
  return { boxes, ms: r.ms };
}

async function timedGet(c: Client, p: string): Promise<number> {
  await ok(c, "GET", p);
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) ms.push((await ok(c, "GET", p)).ms);
  return median(ms);
}

/** From `from`, looks each target's name up (nslookup) and compares with its address; or expects no answer. */
async function lookups(socket: string, c: Client, from: Box, targets: Box[], resolvable: boolean, label: string): Promise<Check> {
  const check: Check = { label, passed: 0, total: targets.length, expect: resolvable ? "resolved to its address" : "not resolved (another network's name)", ms: [], failures: [] };
  for (const t of targets) {
    const r = await execIn(socket, c, from.id, ["nslookup", t.name]);
    check.ms.push(r.ms);
    const got = nslookupAddresses(r.out);
    const good = resolvable ? r.code === 0 && got.includes(t.ip) && got.length === 1 : got.length === 0;
    if (good) check.passed++;
    else check.failures.push(`${from.name} -> ${t.name}: exit ${r.code}, addresses [${got.join(", ")}], expected ${resolvable ? t.ip : "none"}: ${r.out.trim().split("\n").slice(-2).join(" | ")}`);
  }
  return check;
}

/** From `from`, connects to each target's port 8080 by name (or by address) with nc; expects its name back, or nothing. */
async function connects(socket: string, c: Client, from: Box, targets: Box[], how: "name" | "address", reachable: boolean, label: string): Promise<Check> {
  const check: Check = { label, passed: 0, total: targets.length, expect: reachable ? "answered with its name" : "did not answer (isolated)", ms: [], failures: [] };
  for (const t of targets) {
    const r = await execIn(socket, c, from.id, ["nc", "-w", "2", how === "name" ? t.name : t.ip, String(PORT)]);
    check.ms.push(r.ms);
    const good = reachable ? r.out.trim() === t.name : !r.out.includes(t.name);
    if (good) check.passed++;
    else check.failures.push(`${from.name} -> ${t.name} (${how === "name" ? t.name : t.ip}):${PORT}: exit ${r.code}, ${JSON.stringify(r.out.trim().slice(0, 200))}`);
  }
  return check;
}

/** Every published port, from the host on 127.0.0.1: the container answers with its name. */
async function publishedPorts(boxes: Box[]): Promise<Check> {
  const check: Check = { label: `published ports on 127.0.0.1 from the host (all ${boxes.length})`, passed: 0, total: boxes.length, expect: "answered with the container's name", ms: [], failures: [] };
  await parallel(boxes, async (b) => {
    if (!b.hostPort) return void check.failures.push(`${b.name}: no published port listed`);
    try {
      const r = await answerOn(b.hostPort);
      check.ms.push(r.ms);
      if (r.text === b.name) check.passed++;
      else check.failures.push(`${b.name} on 127.0.0.1:${b.hostPort}: answered ${JSON.stringify(r.text.slice(0, 100))}`);
    } catch (err) {
      check.failures.push(`${b.name}: ${(err as Error).message}`);
    }
  });
  return check;
}

/** The exec of `true` in a container: what each lookup's time includes besides the lookup. */
async function execFloor(socket: string, c: Client, from: Box): Promise<Check> {
  const check: Check = { label: "exec of `true` (the floor of the exec-based checks)", passed: 0, total: ROUNDS, expect: "exited 0", ms: [], failures: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const r = await execIn(socket, c, from.id, ["true"]);
    check.ms.push(r.ms);
    if (r.code === 0) check.passed++;
    else check.failures.push(`exit ${r.code}`);
  }
  return check;
}

/**
 * Starts `count` containers over `networks` (round robin), then measures and checks; with one
 * network of 1,000 or more, fills its bridge and tries one more.
 */
async function phase(cove: Cove, title: string, prefix: string, count: number, networks: { name: string; subnet: string; bridge: string }[]): Promise<PhaseResult> {
  const c = client(cove.socket);
  let step = "creating the networks";
  try {
    for (const n of networks) await createNetwork(c, n.name, n.subnet, n.bridge);
    step = "starting the containers";
    const multi = networks.length > 1;
    const nameOf = (i: number) => (multi ? `${prefix}${(i % networks.length) + 1}-${pad(Math.floor(i / networks.length) + 1)}` : `${prefix}${pad(i + 1)}`);
    const before = await cove.memories();
    const arpBefore = arpCounters();
    const t0 = performance.now();
    let shown = 0;
    const latency = await fanOut(cove.socket, 0, count, async (i, cl) => {
      await createAndStart(cl, nameOf(i), networks[i % networks.length]!.name);
      const done = i + 1;
      if (done >= shown + Math.max(50, Math.floor(count / 10))) {
        shown = done;
        process.stderr.write(`  ${title}: ${done} started after ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      }
    }, { clients: CLIENTS, stop: () => interrupted });
    const startMs = performance.now() - t0;
    process.stderr.write(`  ${title}: ${count} running after ${(startMs / 1000).toFixed(1)} s\n`);
    await sleep(1000); // the daemon settles after the burst
    step = "measuring";
    const after = await cove.memories();
    const { boxes } = await listBoxes(c);
    const psMs = await timedGet(c, "/containers/json");
    const infoMs = await timedGet(c, "/info");
    const veths = networks.map((n) => vethsOn(n.bridge));
    const fw = { ...firewallLines(cove.layout.tag), rewriteMs: rewriteMs(cove.layout.tag, path.dirname(cove.root)) };
    const neighBefore = lines("ip", ["-4", "neigh", "show"]).length;

    // ---- the checks
    step = "checking names and ports";
    const checks: Check[] = [];
    const byNet = new Map<string, Box[]>();
    for (const b of boxes) byNet.set(b.network, [...(byNet.get(b.network) ?? []), b]);
    const per = multi ? Math.max(2, Math.ceil(K / networks.length)) : K;
    const sameNames: Check[] = [];
    const sameConnects: Check[] = [];
    const otherNames: Check[] = [];
    const otherConnects: Check[] = [];
    let floor: Check | undefined;
    for (const [j, n] of networks.entries()) {
      const mine = (byNet.get(n.name) ?? []).sort((a, b) => a.name.localeCompare(b.name));
      const from = mine[0];
      if (!from) continue;
      floor ??= await execFloor(cove.socket, c, from);
      const peers = sample(mine.slice(1), per, 7 + j);
      sameNames.push(await lookups(cove.socket, c, from, peers, true, ""));
      sameConnects.push(await connects(cove.socket, c, from, peers.slice(0, Math.max(1, Math.ceil(per / 4))), "name", true, ""));
      if (multi) {
        const others = boxes.filter((b) => b.network !== n.name);
        const strangers = sample(others, per, 11 + j);
        otherNames.push(await lookups(cove.socket, c, from, strangers, false, ""));
        otherConnects.push(await connects(cove.socket, c, from, strangers.slice(0, 1), "address", false, ""));
      }
    }
    const merge = (parts: Check[], label: string): Check => ({
      label,
      passed: parts.reduce((s, x) => s + x.passed, 0),
      total: parts.reduce((s, x) => s + x.total, 0),
      expect: parts[0]?.expect ?? "",
      ms: parts.flatMap((x) => x.ms),
      failures: parts.flatMap((x) => x.failures),
    });
    if (floor) checks.push(record(floor));
    const where = multi ? `from the first container of each of the ${networks.length} networks` : "from one container";
    checks.push(record(merge(sameNames, `names on its own network, ${where} (nslookup)`)));
    checks.push(record(merge(sameConnects, `port ${PORT} of some of them by name (nc)`)));
    if (multi) {
      checks.push(record(merge(otherNames, `names of the other networks, ${where} (nslookup)`)));
      checks.push(record(merge(otherConnects, `port ${PORT} of another network's container by address (nc -w 2)`)));
    }
    checks.push(record(await publishedPorts(boxes)));
    const neigh = Math.max(neighBefore, lines("ip", ["-4", "neigh", "show"]).length);
    const arpAfter = arpCounters();
    const arp = { fulls: arpAfter.fulls - arpBefore.fulls, forcedGc: arpAfter.forcedGc - arpBefore.forcedGc };

    // ---- a full bridge (one network of 1,000 or more): fill it to the kernel's limit, then one more
    step = "filling the bridge";
    let bridgeFull: PhaseResult["bridgeFull"];
    const bare = Array.from({ length: multi ? 0 : Math.min(PREFILL, BRIDGE_PORTS - count) }, (_, i) => `${networks[0]!.bridge.slice(0, 9)}p${i}`);
    if (!multi && count + bare.length >= 1000 && !interrupted) {
      const n = networks[0]!;
      let filled = vethsOn(n.bridge);
      try {
        if (bare.length) ipBatch(bare.flatMap((v) => [`link add ${v} type veth peer name ${v}x`, `link set ${v} master ${n.bridge}`]));
        const have = vethsOn(n.bridge);
        filled = have;
        const f0 = performance.now();
        // no published port: these only take the bridge's ports
        await fanOut(cove.socket, count, count + Math.max(0, BRIDGE_PORTS - have), async (i, cl) => void (await createAndStart(cl, nameOf(i), n.name, false), filled++), { clients: CLIENTS, stop: () => interrupted });
        const fillMs = performance.now() - f0;
        const filledTo = vethsOn(n.bridge);
        const last = nameOf(count + Math.max(0, BRIDGE_PORTS - have));
        const id = (JSON.parse((await ok(c, "POST", `/containers/create?name=${last}`, createBody(last, n.name, false))).body) as { Id: string }).Id;
        const r = await c.call("POST", `/containers/${id}/start`);
        let message = r.body.trim();
        try {
          message = (JSON.parse(r.body) as { message: string }).message;
        } catch {
          // not JSON: the raw body
        }
        const state = (JSON.parse((await ok(c, "GET", `/containers/${id}/json`)).body) as { State: { Status: string } }).State.Status;
        bridgeFull = { filledTo, fillMs, status: r.status, message, vethsAfter: vethsOn(n.bridge), state };
        if (r.status < 400 || !/full/.test(message)) failures.push(`one more container on a bridge with ${bridgeFull.filledTo} ports: expected a refusal that names the limit, got ${r.status} ${message}`);
      } catch (err) {
        bridgeFull = { error: `after ${filled} ports on ${n.bridge}: ${(err as Error).message}` };
        failures.push(`filling the bridge: ${bridgeFull.error}`);
      } finally {
        if (bare.length) {
          try {
            ipBatch(bare.map((v) => `link del ${v}`));
          } catch (err) {
            failures.push(`removing the bare veths: ${(err as Error).message}`);
          }
        }
      }
    }

    // ---- rm -f of all, the networks removed, what is left
    step = "removing the containers and networks";
    const all = JSON.parse((await ok(c, "GET", "/containers/json?all=1")).body) as { Id: string }[];
    const r0 = performance.now();
    const rmEach = await removeAll(cove.socket);
    const rmMs = performance.now() - r0;
    for (const n of networks) await ok(c, "DELETE", `/networks/${n.name}`);
    // rm -f answers once a container is gone from the API; its directories go after
    const drain0 = performance.now();
    const stateEntries = async () => [...(await readdir(path.join(cove.root, "containers")).catch(() => [] as string[])), ...(await readdir(cove.layout.runtimeRoot).catch(() => [] as string[])), ...(await readdir(cove.layout.netnsDir).catch(() => [] as string[]))];
    while ((await stateEntries()).length > 0 && performance.now() - drain0 < 120_000) await sleep(50);
    const leaks = describeLeaks(findLeaks({ root: cove.root, execRoot: cove.layout.execRoot, pid: cove.pid(), ids: all.map((x) => x.Id) }, new Set(), new Set(), new Set()));
    const bridgesLeft = networks.map((n) => n.bridge).filter((b) => linkNames(["dev", b]).length > 0);
    if (leaks) failures.push(`${title}, left after rm -f: ${leaks}`);
    if (bridgesLeft.length) failures.push(`${title}, bridges left after the networks' removal: ${bridgesLeft.join(", ")}`);
    return { title, count, networks: networks.map((n) => n.name), bridges: networks.map((n) => n.bridge), startMs, latency, before, after, psMs, infoMs, veths, fw, neigh, arp, checks, ...(bridgeFull ? { bridgeFull } : {}), rmMs, rmEach, leaks, bridgesLeft };
  } catch (err) {
    throw new Error(`${title}, ${step}: ${(err as Error).message}`, { cause: err });
  } finally {
    c.close();
  }
}

// ---- the report --------------------------------------------------------------------------------

const fmt = (x: number) => (Number.isNaN(x) ? "n/a" : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));
const mb = (kb: number) => kb / 1024;

function row(label: string, cols: (number | string)[], note = ""): void {
  console.log(`  ${label.padEnd(62)}${cols.map((c) => (typeof c === "number" ? fmt(c) : c).padStart(12)).join("")}${note ? `  ${note}` : ""}`);
}

function perContainer(p: PhaseResult) {
  const daemon = Math.max(0, p.after.daemon.rssKb - p.before.daemon.rssKb) / p.count;
  const monitors = p.after.monitors.pssKb / Math.max(1, p.after.monitorCount);
  const kernel = KERNEL_SHARE.reduce((s, f) => s + (p.after.kernel[f] - p.before.kernel[f]), 0) / p.count;
  const available = (p.before.kernel.MemAvailable - p.after.kernel.MemAvailable) / p.count;
  return { daemon, monitors, kernel, available };
}

function printDetails(p: PhaseResult): void {
  console.log(`\n${p.title}: ${p.count} containers on ${p.networks.length === 1 ? `network ${p.networks[0]} (bridge ${p.bridges[0]})` : `networks ${p.networks.join(", ")}`}`);
  const tenth = Math.max(1, Math.floor(p.latency.length / 10));
  console.log(`  create+start medians by tenth of the ramp (ms): ${Array.from({ length: 10 }, (_, i) => median(p.latency.slice(i * tenth, (i + 1) * tenth))).map((x) => fmt(x)).join(" ")}`);
  const m = perContainer(p);
  console.log(`  memory: daemon RSS ${fmt(mb(p.before.daemon.rssKb))} -> ${fmt(mb(p.after.daemon.rssKb))} MB; ${p.after.monitorCount} monitors; kernel deltas per container (KB): ${KERNEL_SHARE.map((f) => `${f} ${fmt((p.after.kernel[f] - p.before.kernel[f]) / p.count)}`).join(", ")}; MemAvailable drop ${fmt(m.available)} KB per container (all work on the machine)`);
  console.log(`  veths on the bridges: ${p.veths.join(", ")}; the daemon's rules: iptables filter ${p.fw.filter}, nat ${p.fw.nat}, ip6tables ${p.fw.v6}, one rewrite of its IPv4 chains ${fmt(p.fw.rewriteMs)} ms; the host's IPv4 neighbour entries ${p.neigh} (net.ipv4.neigh.default.gc_thresh3 ${readNum("/proc/sys/net/ipv4/neigh/default/gc_thresh3")}; while it ran, the ARP table was full ${p.arp.fulls} times, forced collections ${p.arp.forcedGc})`);
  for (const c of p.checks) {
    console.log(`  ${c.passed === c.total ? "ok    " : "FAILED"} ${c.label}: ${c.passed}/${c.total} ${c.expect}${c.ms.length ? `; ${fmt(median(c.ms))} ms median, p90 ${fmt(quantile(c.ms, 0.9))} ms` : ""}`);
    for (const f of c.failures.slice(0, 5)) console.log(`           ${f}`);
    if (c.failures.length > 5) console.log(`           ... and ${c.failures.length - 5} more`);
  }
  if (p.bridgeFull) {
    if ("error" in p.bridgeFull) console.log(`  FAILED filling the bridge: ${p.bridgeFull.error}`);
    else {
      const bare = Math.min(PREFILL, BRIDGE_PORTS - p.count);
      console.log(`  the bridge filled to ${p.bridgeFull.filledTo} ports (${p.bridgeFull.filledTo - p.count - bare} more containers, without published ports, in ${fmt(p.bridgeFull.fillMs / 1000)} s${bare ? `, and ${bare} bare veth pairs: BENCH_NET_PREFILL` : ""}); one more start answered:`);
      console.log(`    ${p.bridgeFull.status} ${p.bridgeFull.message.replace(/\n\s*/g, "\n    ")}`);
      console.log(`    after it: ${p.bridgeFull.vethsAfter} veths on the bridge, the refused container ${p.bridgeFull.state}`);
    }
  }
  console.log(`  rm -f of all through the API: ${fmt(p.rmMs / 1000)} s (${fmt(median(p.rmEach))} ms each, median; p90 ${fmt(quantile(p.rmEach, 0.9))} ms)`);
  console.log(`  left after rm -f and the networks' removal: ${p.leaks || p.bridgesLeft.length ? `${p.leaks} ${p.bridgesLeft.join(", ")}` : "nothing (records, runtime state, overlay mounts, namespaces, cgroups, veths, DNAT rules, held ports, bridges)"}`);
}

function summary(ps: PhaseResult[]): void {
  console.log(`\nsummary (${CLIENTS} clients; busybox \`nc -ll -p ${PORT}\`, port published on 127.0.0.1)`);
  row("", ps.map((p) => (p.networks.length === 1 ? "one network" : `${p.networks.length} networks`)));
  row("containers running", ps.map((p) => p.count));
  row("time to start them all (s)", ps.map((p) => p.startMs / 1000));
  row("start rate (containers/s)", ps.map((p) => p.count / (p.startMs / 1000)));
  const tenth = (p: PhaseResult, last: boolean) => {
    const t = Math.max(1, Math.floor(p.latency.length / 10));
    return last ? p.latency.slice(-t) : p.latency.slice(0, t);
  };
  row("create+start, first tenth: median / p90 (ms)", ps.map((p) => `${fmt(median(tenth(p, false)))}/${fmt(quantile(tenth(p, false), 0.9))}`));
  row("create+start, last tenth: median / p90 (ms)", ps.map((p) => `${fmt(median(tenth(p, true)))}/${fmt(quantile(tenth(p, true), 0.9))}`));
  row("daemon RSS growth per container (MB)", ps.map((p) => mb(perContainer(p).daemon)));
  row("monitor's PSS per container (MB)", ps.map((p) => mb(perContainer(p).monitors)));
  row("kernel per container: Slab+PageTables+KernelStack+Shmem (MB)", ps.map((p) => mb(perContainer(p).kernel)));
  row(`GET /containers/json, median of ${ROUNDS} (ms)`, ps.map((p) => p.psMs));
  row(`GET /info, median of ${ROUNDS} (ms)`, ps.map((p) => p.infoMs));
  row("veths on the bridges", ps.map((p) => p.veths.reduce((s, x) => s + x, 0)));
  row("the daemon's iptables rules: filter / nat", ps.map((p) => `${p.fw.filter}/${p.fw.nat}`));
  row("  one rewrite of them, as at each start and rm -f (ms)", ps.map((p) => p.fw.rewriteMs), "(iptables-restore in a namespace of its own)");
  const check = (p: PhaseResult, re: RegExp) => {
    const c = p.checks.find((x) => re.test(x.label));
    return c ? `${c.passed}/${c.total}` : "-";
  };
  const checkMs = (p: PhaseResult, re: RegExp) => {
    const c = p.checks.find((x) => re.test(x.label));
    return c?.ms.length ? median(c.ms) : NaN;
  };
  row("names resolved on their own network", ps.map((p) => check(p, /^names on its own/)));
  row("  lookup by exec of nslookup, median (ms)", ps.map((p) => checkMs(p, /^names on its own/)));
  row("  exec of `true`, median (ms)", ps.map((p) => checkMs(p, /^exec of/)));
  row("ports reached by name from a container (nc)", ps.map((p) => check(p, /by name/)));
  row("other networks' names NOT resolved", ps.map((p) => check(p, /^names of the other/)));
  row("other networks' addresses NOT reached", ps.map((p) => check(p, /another network/)));
  row("published ports answering on 127.0.0.1", ps.map((p) => check(p, /^published/)));
  row("  the host's ARP table full (times), gc_thresh3 " + readNum("/proc/sys/net/ipv4/neigh/default/gc_thresh3"), ps.map((p) => p.arp.fulls));
  row("  connect+answer, median (ms)", ps.map((p) => checkMs(p, /^published/)));
  row("one more on a full bridge refused", ps.map((p) => (!p.bridgeFull ? "-" : "error" in p.bridgeFull ? "FAILED" : `${p.bridgeFull.status} at ${p.bridgeFull.filledTo}`)));
  row(`rm -f of all, ${CLIENTS} clients (s)`, ps.map((p) => p.rmMs / 1000));
  row("left after rm -f", ps.map((p) => (p.leaks || p.bridgesLeft.length ? "LEAKS" : "nothing")));
}

// ---- the run -----------------------------------------------------------------------------------

async function main(): Promise<number> {
  const skip = (why: string) => (console.log(`scale-networks benchmark skipped: ${why}`), 0);
  if (process.getuid?.() !== 0) return skip("needs root");
  if (!existsSync(DOCKER)) return skip(`${DOCKER} is missing`);
  for (const [name, v] of Object.entries({ BENCH_NET_PREFILL: PREFILL, BENCH_NET_ONE: N1, BENCH_NET_MANY: N2, BENCH_NET_NETWORKS: M, BENCH_SCALE_CLIENTS: CLIENTS, BENCH_NET_SAMPLE: K, BENCH_NET_ROUNDS: ROUNDS })) {
    const min = ["BENCH_NET_ONE", "BENCH_NET_MANY", "BENCH_NET_PREFILL"].includes(name) ? 0 : 1;
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${process.env[name]}`);
  }
  if (M > MAX_NETWORKS) throw new Error(`BENCH_NET_NETWORKS must be at most ${MAX_NETWORKS} (a /21 each in ${SPACE}), got ${M}`);
  if (N1 > BRIDGE_PORTS) throw new Error(`BENCH_NET_ONE must be at most ${BRIDGE_PORTS}: the kernel allows ${BRIDGE_PORTS} ports on one bridge (the benchmark shows the refusal of one more with 1,000 or more)`);
  if (Math.ceil(N2 / M) > BRIDGE_PORTS) throw new Error(`BENCH_NET_MANY / BENCH_NET_NETWORKS must be at most ${BRIDGE_PORTS} (the ports of one bridge): give more networks`);
  const clash = routesIn(SPACE);
  if (clash.length) return skip(`the host has routes in ${SPACE}, the benchmark's address space: ${clash.join("; ")}`);
  const loadAtStart = loadavg();
  const vethsAtStart = new Set(hostVeths());
  const dir = await mkdtemp(path.join(tmpdir(), "cove-netscale-"));
  let cove: Cove | undefined;
  let stopping: Promise<void> | undefined;
  let uninstall: { uninstallMs: number; errors: string[] } | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      if (cove) uninstall = await cove.stop();
      await removeUnlessMounted(dir);
    })());
  const offSignals = cleanUpOnSignal(() => (interrupted = true), stopAll);
  const results: PhaseResult[] = [];
  let limitLines: string[] = [];
  try {
    const tar = await busyboxArchive(dir, IMAGE);
    cove = await startCove(dir);
    await dockerCli(cove.env, ["load", "-q", "-i", tar]);
    const tag6 = cove.layout.tag.slice(0, 6);
    if (N1 > 0) results.push(await phase(cove, "phase A", "a", N1, [{ name: "netscale-a", subnet: subnetA, bridge: `cns${tag6}a` }]));
    if (N2 > 0 && !interrupted) {
      const nets = Array.from({ length: M }, (_, j) => ({ name: `netscale-b${j + 1}`, subnet: subnetB(j), bridge: `cns${tag6}b${j + 1}` }));
      results.push(await phase(cove, "phase B", "b", N2, nets));
    }
    const pid = cove.pid();
    const nofile = pid ? (/^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8")) ?? []).slice(1).join(" / ") : "n/a";
    limitLines = [
      "the host's limits that bound networks' density:",
      `  one bridge's ports: ${BRIDGE_PORTS} (the kernel's BR_MAX_PORTS, 10 bits, less port 0): more containers on a network need another network`,
      `  net.ipv4.neigh.default.gc_thresh1/2/3 ${["gc_thresh1", "gc_thresh2", "gc_thresh3"].map((k) => readNum(`/proc/sys/net/ipv4/neigh/default/${k}`)).join(" / ")} (the host's ARP entries, one per container it talks to: published ports, DNS replies)`,
      `  net.netfilter.nf_conntrack_max ${readNum("/proc/sys/net/netfilter/nf_conntrack_max")} (in use ${readNum("/proc/sys/net/netfilter/nf_conntrack_count")}); net.ipv4.ip_local_port_range ${readNum("/proc/sys/net/ipv4/ip_local_port_range")} (where the daemon picks published ports)`,
      `  the daemon's RLIMIT_NOFILE soft / hard ${nofile} (one fd per running container, one per published port held); kernel.pid_max ${readNum("/proc/sys/kernel/pid_max")}`,
    ];
  } catch (err) {
    const cause = (err as Error).cause as Error | undefined;
    failures.push(`the run stopped: ${(err as Error).message}${cause?.stack ? ` (${cause.stack.split("\n").slice(1, 3).map((l) => l.trim()).join(" ")})` : ""}`);
    const tail = cove ? (await readFile(cove.logFile, "utf8").catch(() => "")).trim().split("\n").slice(-15) : [];
    if (tail.length) failures.push(`the daemon's log ended with:\n      ${tail.join("\n      ")}`);
  } finally {
    offSignals();
    await stopAll();
  }

  // ---- after the uninstall: nothing of this daemon may be left on the host
  const layout = instanceLayout(path.join(dir, "cove"));
  const tag6 = layout.tag.slice(0, 6);
  const left: string[] = [];
  const links = linkNames([]).filter((l) => l === layout.bridge || l.startsWith(`cns${tag6}`));
  if (links.length) left.push(`links ${links.join(", ")}`);
  const veths = hostVeths().filter((v) => !vethsAtStart.has(v));
  if (veths.length) left.push(`${veths.length} veths (${veths.slice(0, 5).join(", ")})`);
  if (existsSync(layout.netnsDir)) left.push(`${layout.netnsDir} (${readdirSync(layout.netnsDir).length} entries)`);
  if (existsSync(layout.execRoot)) left.push(`the exec root ${layout.execRoot}`);
  const mounts = [...(await mountsUnder(dir)), ...(await mountsUnder(layout.execRoot))];
  if (mounts.length) left.push(`${mounts.length} mounts (${mounts.slice(0, 3).join(", ")})`);
  for (const h of await cgroupHierarchies()) if (existsSync(path.join(h, layout.cgroupParent))) left.push(`cgroup ${path.join(h, layout.cgroupParent)}`);
  const rules = firewallLines(layout.tag).all;
  if (rules.length) left.push(`${rules.length} iptables lines (${rules.slice(0, 3).join(" | ")})`);
  const procs = (await processes()).filter((p) => p.argv.some((a) => a.startsWith(layout.execRoot + "/") || a.startsWith(dir + "/")));
  if (procs.length) left.push(`processes ${procs.map((p) => p.pid).join(", ")}`);
  if (left.length) failures.push(`left on the host after the daemon stopped and its network was uninstalled: ${left.join("; ")}`);

  // ---- print
  console.log(`scale-networks: busybox containers, each named and answering on TCP ${PORT} (published on 127.0.0.1), started through the Engine API by ${CLIENTS} clients on a private \`cove daemon\` with networking (default bridge ${layout.bridge} ${BIP}, pool ${POOL}; networks in ${SPACE}; containers' --dns 127.0.0.1)`);
  for (const p of results) printDetails(p);
  if (results.length) summary(results);
  console.log(`\nthe daemon stopped, then its network uninstalled (NetworkService.uninstall on its root: default bridge, chains) in ${uninstall ? fmt(uninstall.uninstallMs) : "n/a"} ms`);
  for (const e of uninstall?.errors ?? []) console.log(`  ${e}`);
  console.log(`  left on the host: ${left.length ? left.join("; ") : "nothing (no bridge, veth, namespace, exec root, mount, cgroup, iptables/ip6tables rule or process of this daemon)"}`);
  for (const l of limitLines) console.log(l);
  console.log(`load average (1, 5, 15 min): ${loadAtStart.map((x) => x.toFixed(2)).join(" ")} at the start, ${loadavg().map((x) => x.toFixed(2)).join(" ")} at the end`);
  if (failures.length) {
    console.log(`\n${failures.length} FAILED:`);
    for (const f of failures) console.log(`  ${f}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();

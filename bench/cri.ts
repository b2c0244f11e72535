// Benchmark: the Kubernetes CRI (runtime.v1), cove's daemon against containerd 1.6's CRI plugin in
// one run, both driven by the same gRPC client made from src/cri/api.proto (no crictl needed):
//
//   node dist/bench/cri.js          (or scripts/bench.sh, which runs every benchmark)
//
// Each engine runs privately under one temp directory: cove's daemon (`cove daemon --cri-socket`)
// with its own root, exec root, default bridge and subnet; Debian's containerd with its own root,
// state, socket and config file (the CRI plugin with the overlayfs snapshotter,
// restrict_oom_score_adj, netns mounts under its state dir, and a CNI conflist of bridge +
// host-local + portmap from /usr/lib/cni on a bridge and subnet of its own). Both get the same two
// images, made offline and saved by cove's image service into one docker-archive: busybox (the
// static busybox-static binary) and cove's pause image (build/cove-pause), containerd's
// sandbox_image, imported with `ctr -n k8s.io images import`. Per run, the engine that goes first
// alternating, after a warm-up, as a kubelet drives a pod (log directory, cgroup parent, the
// container's log path given):
//
//   version       Version, an empty call: the floor of any call through this client and the
//                 engine's gRPC server
//   runp          RunPodSandbox (the pause container, its network namespace on the bridge)
//   create+start  CreateContainer + StartContainer of busybox `sleep 3600` in it
//   whole         runp + create + start, end to end
//   exec          ExecSync of `true` in the running container
//   stopp+rmp     StopPodSandbox + RemovePodSandbox (the container still running, as crictl rmp -f)
//
// median and p90 of the runs, and the ratio cove/containerd; then, on each engine in turn, PODS
// pods each with a running container: ListPodSandbox and ListContainers with them (what a kubelet
// asks every second), and the daemons' memory: cove's daemon (one node process)
// against containerd, then the per-container monitors (cove's shims; containerd's runc v2 shims,
// one per pod), RSS and PSS. Last, where cove's time goes, per step, from the phase timings its
// daemon records with COVE_TRACE (bench/support/phases.ts).
//
// Everything is removed at the end, also on failure: sandboxes through each CRI, then the daemons,
// any process, mount and cgroup left, both bridges, the temp directory. Not a test: nothing asserts
// on time. Knobs: BENCH_CRI_RUNS (20), BENCH_CRI_PODS (10), BENCH_CRI_ONLY=cove (no containerd),
// BENCH_CRI_CPU_PROF=DIR (cove's daemon runs under node --cpu-prof and writes its profile there),
// BENCH_CRI_TRACE=FILE (the daemon's phase timings are appended there and kept).
//
// Figures on the 2-core VM, shared with other work, two runs back to back (load average 5.6-7.5;
// earlier runs at 10-12 gave the same ratios with twice the spread), median of 20, ms:
//
//   step                                     cove          containerd      ratio
//   Version (the gRPC floor)                 1.84 / 1.90   1.07 / 1.04     1.73 / 1.84
//   RunPodSandbox                            46.5 / 56.6    110 / 111      0.42 / 0.51
//   CreateContainer + StartContainer         37.1 / 38.9   96.7 / 76.8     0.38 / 0.51
//   runp + create + start                    97.0 / 99.4    210 / 203      0.46 / 0.49
//   ExecSync `true`                          14.4 / 12.0   37.1 / 34.2     0.39 / 0.35
//   StopPodSandbox + RemovePodSandbox        53.5 / 45.4    173 / 170      0.31 / 0.27
//   ListPodSandbox, 10 pods                  4.67 / 2.55   0.94 / 1.14     4.95 / 2.25
//   ListContainers, 10 pods                  3.66 / 1.95   1.03 / 1.26     3.53 / 1.55
//   daemon RSS with 10 pods (MB)              125 / 119    49.3 / 49.4     2.53 / 2.41
//   daemon + monitors RSS, 10 pods (MB)       129 / 123     180 / 181      0.71 / 0.68
//
// p90s swing with the machine's load (cove's ExecSync p90 was 175 ms in one run, 23 in the other).
// Where cove's time goes (COVE_TRACE): the CRI and pod layers add 1-2 ms a call (the "api CRI"
// span less the container phases in it); RunPodSandbox is the infra container's create (snapshot,
// record: ~10 ms) and start (~32: its netns and veth ~6, the runtime's create ~16 of which the
// shim's clone ~12); StartContainer is the runtime's create again (~12); StopPodSandbox is the two
// teardowns (runtime delete ~13, rootfs unmount ~9, network ~4). Each call pays the gRPC round
// trip, about 0.8 ms more through cove's server (grpc-js) than containerd's, which is most of the
// gap on the list calls (the handlers take ~0.5 ms). The daemon's RSS is node's: about 88 MB
// fresh (74 with --cri-socket none: grpc-js, protobufjs and the loaded api.proto are ~14 MB of
// it), 115 after the runs; cove's monitors are small C processes (~0.2 MB each, two per pod)
// where containerd's runc shims take ~13 MB RSS, ~3.6 MB PSS, one per pod.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, createReadStream, createWriteStream, existsSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import http from "node:http";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { processExists } from "../src/common/process.js";
import { criServices } from "../src/cri/proto.js";
import { ImageService } from "../src/images/service.js";
import { NetworkService } from "../src/network/index.js";
import { Netlink } from "../src/network/netlink.js";
import { defaultPausePath, ensurePauseImage } from "../src/pods/pause.js";
import { cleanup as cleanupImageRoot } from "../src/snapshots/testing.js";
import { importBusybox } from "../test/images/fixtures.js";
import { freeSubnets } from "../test/network/harness.js";
import { mountsUnder } from "../test/support/dockerd.js";
import { breakdown, median, printBreakdown, readTrace, type RunWindow } from "./support/phases.js";
import { cgroupHierarchies, processes, removeCgroup, totalMemory, type Memory, type ProcInfo } from "./support/proc.js";

const RUNS = Number(process.env.BENCH_CRI_RUNS ?? 20);
const PODS = Number(process.env.BENCH_CRI_PODS ?? 10);
const WARMUP = 3;
const BUSYBOX = "busybox:latest";
const CNI_BIN = "/usr/lib/cni";
const SHIM = "containerd-shim-runc-v2";
const here = path.dirname(fileURLToPath(import.meta.url));
const COVE_MAIN = path.join(here, "../src/cli/main.js");
/** The directories containerd 1.6's runc shims put their sockets in, whatever its state dir. */
const SHIM_SOCKET_DIRS = ["/run/containerd", "/run/containerd/s"];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Unary = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;
type Client = grpc.Client & Record<string, Unary>;

function clients(socket: string): { runtime: Client; images: Client } {
  const s = criServices();
  const Runtime = grpc.makeGenericClientConstructor(s.RuntimeService, "RuntimeService");
  const Images = grpc.makeGenericClientConstructor(s.ImageService, "ImageService");
  return {
    runtime: new Runtime(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as Client,
    images: new Images(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as Client,
  };
}

/** One unary CRI call, with a deadline. */
function call(client: Client, method: string, req: object, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    client[method]!(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(new Error(`${method}: ${err.details || err.message}`)) : resolve(res))),
  );
}

async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 10; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) spawnSync("umount", ["-l", p]);
  }
}

async function terminate(child: ChildProcess, ms: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null || !processExists(pid)) return;
  child.kill("SIGTERM");
  for (let i = 0; i < ms / 100 && child.exitCode === null && child.signalCode === null; i++) await sleep(100);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

async function logTail(file: string): Promise<string> {
  return (await readFile(file, "utf8").catch(() => "(no log)")).trimEnd().split("\n").slice(-15).join("\n");
}

/** An engine as the benchmark drives it. */
interface CriEngine {
  name: string;
  runtime: Client;
  images: Client;
  /** The cgroup parent of its sandboxes (one per engine, removed at the end). */
  cgroupParent: string;
  logDir: string;
  daemonPids(): Promise<number[]>;
  monitorPids(): Promise<number[]>;
  stop(): Promise<void>;
}

/** Removes every sandbox the engine lists (its containers go with it); what fails is reported, not thrown. */
async function removeSandboxes(e: CriEngine): Promise<void> {
  const items = ((await call(e.runtime, "ListPodSandbox", {}, 30_000).catch(() => ({ items: [] }))).items ?? []) as { id: string }[];
  for (const p of items) {
    await call(e.runtime, "StopPodSandbox", { pod_sandbox_id: p.id }, 60_000).catch((err: unknown) => console.error(`${e.name}: stopping sandbox ${p.id}: ${(err as Error).message}`));
    await call(e.runtime, "RemovePodSandbox", { pod_sandbox_id: p.id }, 60_000).catch((err: unknown) => console.error(`${e.name}: removing sandbox ${p.id}: ${(err as Error).message}`));
  }
}

/** Waits until the engine's CRI answers and has both images. */
async function ready(e: CriEngine, refs: string[], alive: () => string | undefined): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    const dead = alive();
    if (dead) throw new Error(`${e.name} ${dead}`);
    try {
      await call(e.runtime, "Version", {}, 2_000);
      const present = await Promise.all(refs.map(async (image) => (await call(e.images, "ImageStatus", { image: { image } }, 5_000)).image != null));
      if (present.every(Boolean)) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`${e.name}: the CRI did not answer with the images ${refs.join(", ")} present within 60 s`);
    await sleep(100);
  }
}

/** Where cove's daemon writes its phase timings: BENCH_CRI_TRACE (kept), or under the temp dir. */
const traceFile = (dir: string) => (process.env.BENCH_CRI_TRACE ? path.resolve(process.env.BENCH_CRI_TRACE) : path.join(dir, "cove-trace.jsonl"));

/** POSTs the docker-archive to cove's /images/load. */
function loadIntoCove(socket: string, tar: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method: "POST", path: "/images/load?quiet=1", headers: { "content-type": "application/x-tar" } }, (res) => {
      const body: Buffer[] = [];
      res.on("data", (c: Buffer) => body.push(c));
      res.on("end", () => {
        const text = Buffer.concat(body).toString("utf8");
        if (res.statusCode !== 200 || /"error"/.test(text)) reject(new Error(`cove: POST /images/load answered ${res.statusCode}: ${text.trim()}`));
        else resolve();
      });
    });
    req.on("error", reject);
    createReadStream(tar).on("error", reject).pipe(req);
  });
}

/** cove's daemon, as a user runs it: `cove daemon` in its own process, with its own bridge and CRI socket. */
async function startCove(dir: string, tag: string, subnet: string, tar: string, refs: string[]): Promise<CriEngine> {
  const base = path.join(dir, "cove");
  await mkdir(base, { recursive: true });
  const socket = path.join(base, "cove.sock");
  const criSocket = path.join(base, "cri.sock");
  const root = path.join(base, "root");
  const execRoot = `/run/cvcri-${tag}`;
  const bridge = `cvcri${tag}`;
  const bip = subnet.replace(/0\/24$/, "1/24");
  const logFile = path.join(dir, "cove-daemon.log");
  await writeFile(path.join(base, "daemon.json"), "{}\n");
  const nodeArgs: string[] = [];
  if (process.env.BENCH_CRI_CPU_PROF) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${path.resolve(process.env.BENCH_CRI_CPU_PROF)}`);
  const log = openSync(logFile, "a");
  const child = spawn(process.execPath, [...nodeArgs, COVE_MAIN, "--root", root, "daemon", "--socket", socket, "--exec-root", execRoot, "--bridge", bridge, "--bip", bip, "--config-file", path.join(base, "daemon.json"), "--cri-socket", criSocket, "--cni-conf-dir", "none"], {
    stdio: ["ignore", log, log],
    // the daemon records its phases (src/common/trace.ts) for the breakdown at the end
    env: { ...process.env, COVE_TRACE: traceFile(dir) },
  });
  closeSync(log);
  const { runtime, images } = clients(criSocket);
  const cgroupParent = `/cvcri${tag}-cove`;
  let stopped = false;
  const engine: CriEngine = {
    name: "cove",
    runtime,
    images,
    cgroupParent,
    logDir: path.join(dir, "logs-cove"),
    daemonPids: async () => (processExists(child.pid!) ? [child.pid!] : []),
    monitorPids: async () => (await processes()).filter((p) => p.pid !== child.pid && p.argv.some((a) => a.startsWith(execRoot + "/"))).map((p) => p.pid),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) await removeSandboxes(engine);
      runtime.close();
      images.close();
      await terminate(child, 20_000);
      // whatever is left after a failure: monitors and containers, mounts, cgroups, the bridge
      for (const p of await processes()) if (p.argv.some((a) => a.startsWith(execRoot + "/") || a.startsWith(base + "/"))) process.kill(p.pid, "SIGKILL");
      for (const h of await cgroupHierarchies()) await removeCgroup(path.join(h, cgroupParent));
      await unmountUnder(execRoot);
      await unmountUnder(base);
      try {
        const netsvc = await NetworkService.open({ root, netnsDir: path.join(execRoot, "netns"), defaultBridge: { name: bridge, subnet: bip }, log: () => undefined });
        await netsvc.uninstall();
        netsvc.close();
      } catch (err) {
        console.error(`cove: removing the bridge ${bridge}: ${(err as Error).message}`);
      }
      await rm(execRoot, { recursive: true, force: true });
    },
  };
  try {
    const end = Date.now() + 60_000;
    while (!existsSync(socket) || !existsSync(criSocket)) {
      if (child.exitCode !== null) throw new Error(`cove's daemon exited: ${await logTail(logFile)}`);
      if (Date.now() > end) throw new Error(`cove's daemon did not start: ${await logTail(logFile)}`);
      await sleep(50);
    }
    await ready(engine, [], () => (child.exitCode !== null ? "exited" : undefined));
    await loadIntoCove(socket, tar);
    await ready(engine, refs, () => (child.exitCode !== null ? "exited" : undefined));
  } catch (err) {
    await engine.stop();
    throw err;
  }
  return engine;
}

const CNI_RESULTS = "/var/lib/cni/results";

/** Removes libcni's cached results of the network (<network>-<sandbox>-<ifname>) and the loopback's of the same sandboxes. */
async function removeCniResults(network: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(CNI_RESULTS);
  } catch {
    return;
  }
  for (const n of names) {
    const m = new RegExp(`^${network}-([0-9a-f]{64})-`).exec(n);
    if (!m) continue;
    await rm(path.join(CNI_RESULTS, n), { force: true });
    await rm(path.join(CNI_RESULTS, `cni-loopback-${m[1]}-lo`), { force: true });
  }
}

/** Debian's containerd with the CRI plugin, on a private root, state, socket, config and CNI network. */
async function startContainerd(dir: string, tag: string, subnet: string, tar: string, refs: string[], pauseRef: string): Promise<CriEngine> {
  const base = path.join(dir, "ctd");
  const cniConf = path.join(base, "net.d");
  await mkdir(cniConf, { recursive: true });
  const socket = path.join(base, "containerd.sock");
  const config = path.join(base, "config.toml");
  const logFile = path.join(dir, "containerd.log");
  const bridge = `cvctd${tag}`;
  await writeFile(
    path.join(cniConf, "10-bench.conflist"),
    JSON.stringify({
      cniVersion: "0.4.0",
      name: `cvctd${tag}`,
      plugins: [
        { type: "bridge", bridge, isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: "host-local", ranges: [[{ subnet }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: path.join(base, "ipam") } },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }) + "\n",
  );
  const q = (s: string) => JSON.stringify(s);
  await writeFile(
    config,
    [
      "version = 2",
      `root = ${q(path.join(base, "root"))}`,
      `state = ${q(path.join(base, "state"))}`,
      "oom_score = 0",
      "[grpc]",
      `  address = ${q(socket)}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${q(path.join(base, "opt"))}`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = ${q(pauseRef)}`,
      // this machine lacks CAP_SYS_RESOURCE: the pause container's -998 would fail
      "  restrict_oom_score_adj = true",
      "  netns_mounts_under_state_dir = true",
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      // runc's state under the temp dir too, not in /run/containerd/runc
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      `        Root = ${q(path.join(base, "runc"))}`,
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    bin_dir = ${q(CNI_BIN)}`,
      `    conf_dir = ${q(cniConf)}`,
      "",
    ].join("\n"),
  );
  const preexisting = new Set(SHIM_SOCKET_DIRS.filter((d) => existsSync(d)));
  const log = openSync(logFile, "a");
  const child = spawn("containerd", ["--config", config], { stdio: ["ignore", log, log] });
  closeSync(log);
  const { runtime, images } = clients(socket);
  const cgroupParent = `/cvcri${tag}-ctd`;
  const mine = (p: ProcInfo) => p.argv.some((a) => a === socket || a.startsWith(base + "/"));
  let stopped = false;
  const engine: CriEngine = {
    name: "containerd",
    runtime,
    images,
    cgroupParent,
    logDir: path.join(dir, "logs-ctd"),
    daemonPids: async () => (child.pid !== undefined && processExists(child.pid) ? [child.pid] : []),
    monitorPids: async () => (await processes()).filter((p) => path.basename(p.argv[0] ?? "") === SHIM && mine(p)).map((p) => p.pid),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) await removeSandboxes(engine);
      runtime.close();
      images.close();
      await terminate(child, 20_000);
      for (const p of await processes()) {
        if (!mine(p)) continue;
        process.kill(p.pid, "SIGKILL");
        // a killed shim leaves its socket: /run/containerd/s/sha256(<address>/<namespace>/<id>)
        const ns = p.argv[p.argv.indexOf("-namespace") + 1];
        const id = p.argv[p.argv.indexOf("-id") + 1];
        if (path.basename(p.argv[0] ?? "") === SHIM && ns && id) await rm(path.join("/run/containerd/s", createHash("sha256").update(`${socket}/${ns}/${id}`).digest("hex")), { force: true });
      }
      // libcni's result cache is the host's (/var/lib/cni/results): what a DEL that never came left
      await removeCniResults(`cvctd${tag}`);
      for (const h of await cgroupHierarchies()) await removeCgroup(path.join(h, cgroupParent));
      await unmountUnder(base);
      const nl = Netlink.open();
      try {
        if (nl.link(bridge)) nl.deleteLink(bridge);
      } finally {
        nl.close();
      }
      // shared with other containerds: only when empty
      for (const d of [...SHIM_SOCKET_DIRS].reverse()) if (!preexisting.has(d)) await rmdir(d).catch(() => undefined);
    },
  };
  try {
    const end = Date.now() + 60_000;
    while (!existsSync(socket)) {
      if (child.exitCode !== null) throw new Error(`containerd exited: ${await logTail(logFile)}`);
      if (Date.now() > end) throw new Error(`containerd did not start: ${await logTail(logFile)}`);
      await sleep(50);
    }
    const imp = spawnSync("ctr", ["--address", socket, "-n", "k8s.io", "images", "import", tar], { encoding: "utf8", timeout: 300_000 });
    if (imp.status !== 0) throw new Error(`ctr images import failed (${imp.status}): ${imp.stderr.trim()}`);
    await ready(engine, refs, () => (child.exitCode !== null ? "exited" : undefined));
    const status = await call(runtime, "Status", {});
    const conds = ((status.status as { conditions?: { type: string; status: boolean; message: string }[] } | null)?.conditions ?? []);
    const net = conds.find((c) => c.type === "NetworkReady");
    if (!net?.status) throw new Error(`containerd's CRI network is not ready: ${net?.message ?? "no NetworkReady condition"}`);
  } catch (err) {
    await engine.stop();
    throw err;
  }
  return engine;
}

/** A docker-archive of busybox and cove's pause image, made offline by cove's image service. */
async function imagesArchive(dir: string): Promise<{ tar: string; pauseRef: string; ids: string[] }> {
  const root = path.join(dir, "img");
  const tar = path.join(dir, "images.docker.tar");
  try {
    const svc = await ImageService.open({ root });
    await importBusybox(svc, BUSYBOX);
    const pauseRef = await ensurePauseImage(svc, defaultPausePath());
    const out = createWriteStream(tar);
    await svc.save([BUSYBOX, pauseRef], out);
    if (!out.writableFinished) await finished(out);
    const ids = [(await svc.inspect(BUSYBOX)).Id, (await svc.inspect(pauseRef)).Id];
    return { tar, pauseRef, ids };
  } finally {
    await cleanupImageRoot(root);
  }
}

const STEPS = ["version", "runp", "create+start", "whole", "exec", "stopp+rmp"] as const;
type Step = (typeof STEPS)[number];
const STEP_LABEL: Record<Step, string> = {
  version: "Version (the gRPC round trip's floor)",
  runp: "RunPodSandbox",
  "create+start": "CreateContainer + StartContainer",
  whole: "runp + create + start",
  exec: "ExecSync `true`",
  "stopp+rmp": "StopPodSandbox + RemovePodSandbox",
};

function sandboxConfig(e: CriEngine, name: string): object {
  return {
    metadata: { name, namespace: "bench", uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    log_directory: path.join(e.logDir, name),
    labels: { app: "bench" },
    linux: { cgroup_parent: e.cgroupParent },
  };
}

const containerConfig = { metadata: { name: "sleeper", attempt: 0 }, image: { image: BUSYBOX }, command: ["sleep", "3600"], log_path: "sleeper/0.log", linux: {} };

/** A running pod: RunPodSandbox, then CreateContainer + StartContainer; the times of each part. */
async function runPod(e: CriEngine, name: string): Promise<{ pod: string; ctr: string; runpMs: number; createStartMs: number; windows: Partial<Record<Step, RunWindow>> }> {
  const now = () => performance.timeOrigin + performance.now();
  const config = sandboxConfig(e, name);
  const t0 = now();
  const pod = (await call(e.runtime, "RunPodSandbox", { config })).pod_sandbox_id as string;
  const t1 = now();
  const ctr = (await call(e.runtime, "CreateContainer", { pod_sandbox_id: pod, config: containerConfig, sandbox_config: config })).container_id as string;
  await call(e.runtime, "StartContainer", { container_id: ctr });
  const t2 = now();
  return { pod, ctr, runpMs: t1 - t0, createStartMs: t2 - t1, windows: { runp: { start: t0, end: t1 }, "create+start": { start: t1, end: t2 }, whole: { start: t0, end: t2 } } };
}

async function removePod(e: CriEngine, pod: string): Promise<void> {
  await call(e.runtime, "StopPodSandbox", { pod_sandbox_id: pod });
  await call(e.runtime, "RemovePodSandbox", { pod_sandbox_id: pod });
}

/** One run on one engine: every step, timed. */
async function lifecycle(e: CriEngine, name: string): Promise<{ ms: Record<Step, number>; windows: Record<Step, RunWindow> }> {
  const now = () => performance.timeOrigin + performance.now();
  // an empty call first: what any call costs through this client and the engine's gRPC server
  const v0 = now();
  await call(e.runtime, "Version", {});
  const v1 = now();
  const p = await runPod(e, name);
  const t0 = now();
  const r = await call(e.runtime, "ExecSync", { container_id: p.ctr, cmd: ["true"], timeout: 30 });
  const t1 = now();
  if (r.exit_code !== 0) throw new Error(`${e.name}: ExecSync true exited ${String(r.exit_code)}: ${String(r.stderr)}`);
  const st = (await call(e.runtime, "ContainerStatus", { container_id: p.ctr })).status as { state: string };
  if (st.state !== "CONTAINER_RUNNING") throw new Error(`${e.name}: the container is ${st.state} after ExecSync`);
  const t2 = now();
  await removePod(e, p.pod);
  const t3 = now();
  return {
    ms: { version: v1 - v0, runp: p.runpMs, "create+start": p.createStartMs, whole: p.runpMs + p.createStartMs, exec: t1 - t0, "stopp+rmp": t3 - t2 },
    windows: { version: { start: v0, end: v1 }, runp: p.windows.runp!, "create+start": p.windows["create+start"]!, whole: p.windows.whole!, exec: { start: t0, end: t1 }, "stopp+rmp": { start: t2, end: t3 } },
  };
}

interface Density {
  idle: Memory;
  loaded: Memory;
  monitors: Memory;
  monitorCount: number;
  /** ListPodSandbox and ListContainers with the pods running (the kubelet's relist, every second), ms per round. */
  listPodsMs: number[];
  listContainersMs: number[];
}

const LIST_ROUNDS = 9;

/** PODS running pods on the engine: the daemons' and monitors' memory with them; then they go. */
async function density(e: CriEngine): Promise<Density> {
  const idle = await totalMemory(await e.daemonPids());
  const pods: string[] = [];
  try {
    for (let i = 0; i < PODS; i++) pods.push((await runPod(e, `dense-${i}`)).pod);
    const listed = ((await call(e.runtime, "ListContainers", { filter: { state: { state: "CONTAINER_RUNNING" } } })).containers as unknown[]).length;
    if (listed !== PODS) throw new Error(`${e.name}: ${listed} containers running, expected ${PODS}`);
    await sleep(1000); // let the daemons settle after the burst
    const loaded = await totalMemory(await e.daemonPids());
    const monitorPids = await e.monitorPids();
    const monitors = await totalMemory(monitorPids);
    const listPodsMs: number[] = [];
    const listContainersMs: number[] = [];
    for (let i = 0; i < LIST_ROUNDS; i++) {
      const t0 = performance.now();
      const items = (await call(e.runtime, "ListPodSandbox", {})).items as unknown[];
      const t1 = performance.now();
      const ctrs = (await call(e.runtime, "ListContainers", {})).containers as unknown[];
      const t2 = performance.now();
      if (items.length !== PODS || ctrs.length !== PODS) throw new Error(`${e.name}: ${items.length} sandboxes and ${ctrs.length} containers listed, expected ${PODS} of each`);
      listPodsMs.push(t1 - t0);
      listContainersMs.push(t2 - t1);
    }
    return { idle, loaded, monitors, monitorCount: monitorPids.length, listPodsMs, listContainersMs };
  } finally {
    for (const pod of pods) await removePod(e, pod);
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function missing(): string | undefined {
  for (const cmd of ["containerd", "ctr", SHIM, "runc"]) if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) return `${cmd} is not installed (apt-get install containerd runc)`;
  for (const p of ["bridge", "host-local", "portmap", "loopback"]) if (!existsSync(path.join(CNI_BIN, p))) return `the CNI plugin ${CNI_BIN}/${p} is missing (apt-get install containernetworking-plugins)`;
  return undefined;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("cri benchmark skipped: needs root");
    return;
  }
  const loadAtStart = loadavg();
  const skipContainerd = process.env.BENCH_CRI_ONLY === "cove" ? "BENCH_CRI_ONLY=cove" : missing();
  // short: containerd's socket path under it must fit in 108 bytes
  const dir = await mkdtemp(path.join(tmpdir(), "cvcri-"));
  const tag = path.basename(dir).replace(/[^a-zA-Z0-9]/g, "").slice(-6).toLowerCase();
  const engines: CriEngine[] = [];
  // one clean-up, whether a signal or the end of main asks first: the other waits for it
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const e of engines.splice(0).reverse()) await e.stop().catch((err: unknown) => console.error(`stopping ${e.name}: ${(err as Error).message}`));
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })());
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const { tar, pauseRef, ids } = await imagesArchive(dir);
    const refs = [BUSYBOX, pauseRef];
    const [coveSubnet, ctdSubnet] = freeSubnets(2);
    engines.push(await startCove(dir, tag, coveSubnet!, tar, refs));
    if (!skipContainerd) engines.push(await startContainerd(dir, tag, ctdSubnet!, tar, refs, pauseRef));
    const imageIds = await Promise.all(engines.map(async (e) => ((await call(e.images, "ImageStatus", { image: { image: BUSYBOX } })).image as { id: string }).id));
    const versions = await Promise.all(engines.map(async (e) => {
      const v = await call(e.runtime, "Version", {});
      return `${String(v.runtime_name)} ${String(v.runtime_version)}`;
    }));
    const fresh = await Promise.all(engines.map(async (e) => totalMemory(await e.daemonPids())));

    const ms = engines.map(() => Object.fromEntries(STEPS.map((s) => [s, [] as number[]])) as Record<Step, number[]>);
    const coveWindows = Object.fromEntries(STEPS.map((s) => [s, [] as RunWindow[]])) as Record<Step, RunWindow[]>;
    for (let i = 0; i < WARMUP + RUNS; i++) {
      // the engine that goes first alternates, so neither always meets the other's leftovers
      const order = i % 2 === 0 ? [...engines.keys()] : [...engines.keys()].reverse();
      for (const k of order) {
        const e = engines[k]!;
        const r = await lifecycle(e, `run-${i}`);
        if (i < WARMUP) continue;
        for (const s of STEPS) {
          ms[k]![s].push(r.ms[s]);
          if (e.name === "cove") coveWindows[s].push(r.windows[s]);
        }
      }
    }
    const loadAfterRuns = loadavg();
    const dense: Density[] = [];
    for (const e of engines) dense.push(await density(e));
    // a container's "exit" phase is its whole life: the pods' outlive the step that starts them
    const trace = (await readTrace(traceFile(dir))).filter((r) => r.phase !== "exit");

    const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
    const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
    console.log(`the CRI (runtime.v1) through one gRPC client: ${versions.join(" against ")}${skipContainerd ? ` (containerd skipped: ${skipContainerd})` : ""}; ${RUNS} runs each after ${WARMUP} warm-up, interleaved`);
    console.log(`  images from one docker-archive: ${BUSYBOX} ${imageIds.every((x) => x === imageIds[0]) ? "same ID" : `IDs differ (${imageIds.join(", ")})`} ${ids[0]!.slice(0, 19)}; pause ${pauseRef}`);
    console.log(`  ${"".padEnd(48)} ${"cove".padStart(9)} ${"containerd".padStart(10)} ${"ratio".padStart(7)}`);
    const row = (label: string, c: number, d: number | undefined) =>
      console.log(`  ${label.padEnd(48)} ${fmt(c).padStart(9)} ${d !== undefined ? fmt(d).padStart(10) : "".padStart(10)} ${(d !== undefined && d > 0 ? (c / d).toFixed(2) : "").padStart(7)}`);
    for (const s of STEPS) {
      row(`${STEP_LABEL[s]}, median (ms)`, median(ms[0]![s]), engines[1] ? median(ms[1]![s]) : undefined);
      row(`  p90 (ms)`, quantile(ms[0]![s], 0.9), engines[1] ? quantile(ms[1]![s], 0.9) : undefined);
    }
    const mem = (f: (k: number) => number) => [f(0), engines[1] ? f(1) : undefined] as const;
    row(`ListPodSandbox with ${PODS} pods, median of ${LIST_ROUNDS} (ms)`, ...mem((k) => median(dense[k]!.listPodsMs)));
    row(`ListContainers with ${PODS} pods, median of ${LIST_ROUNDS} (ms)`, ...mem((k) => median(dense[k]!.listContainersMs)));
    row(`daemon RSS fresh (MB)`, ...mem((k) => fresh[k]!.rssKb / 1024));
    row(`daemon RSS idle, after the runs (MB)`, ...mem((k) => dense[k]!.idle.rssKb / 1024));
    row(`daemon RSS with ${PODS} pods running (MB)`, ...mem((k) => dense[k]!.loaded.rssKb / 1024));
    row(`monitors' RSS with ${PODS} pods, summed (MB)`, ...mem((k) => dense[k]!.monitors.rssKb / 1024));
    row(`monitors' PSS with ${PODS} pods, summed (MB)`, ...mem((k) => dense[k]!.monitors.pssKb / 1024));
    row(`daemon + monitors RSS with ${PODS} pods (MB)`, ...mem((k) => (dense[k]!.loaded.rssKb + dense[k]!.monitors.rssKb) / 1024));
    console.log(`  monitors counted with ${PODS} pods: ${dense.map((x, k) => `${engines[k]!.name} ${x.monitorCount}`).join(", ")} (cove: one shim per container, the pause's included; containerd: runc v2 shims, one per pod)`);
    console.log(`  load average (1, 5, 15 min): ${load(loadAtStart)} at the start, ${load(loadAfterRuns)} after the timed runs, ${load(loadavg())} at the end`);
    for (const s of ["runp", "create+start", "exec", "stopp+rmp"] as const) {
      const b = breakdown(trace, coveWindows[s]);
      console.log(`  where cove's ${STEP_LABEL[s]} goes, median of ${coveWindows[s].length} runs (ms; "begins": from the client's call):`);
      console.log(`    the client's calls, first sent to last answer  ${median(ms[0]![s]).toFixed(2).padStart(8)} ms`);
      console.log(`    the daemon's window (first call in, last out)  ${b.daemonWindowMs.toFixed(2).padStart(8)} ms  (gRPC round trips and the client: ${b.outsideMs.toFixed(2)} ms)`);
      printBreakdown(b, coveWindows[s].length, "    ");
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await stopAll();
  }
}

await main();

// System routes: /_ping, /version, /info, /events, /system/df, /build/prune. Host facts (kernel, OS, cgroup
// features) are read once and cached; counts come from the services on every call.

import { registryConfigInfo } from "../registry/config.js";
import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile, statfs } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CoveError, invalid, isErrno } from "../common/errors.js";
import { buildInfo } from "../common/build-info.js";
import { ignored } from "../common/ignore.js";
import { detectCgroupHost } from "../runtime/cgroups/mountinfo.js";
import { findRunc } from "../runtime/runc.js";
import { storageDriver } from "../snapshots/index.js";
import { inUserNamespace } from "../common/userns.js";
import { parseUntil, type ImageService } from "../images/service.js";
import type { ContainerSummary } from "../containers/types.js";
import { eventJSON, EventFilter, nowNano, parseEventTime, type EventBus, type EventMessage } from "../events/index.js";
import { API_VERSION, ENGINE_VERSION, MIN_API_VERSION, sendJSON, versionAtLeast, type RouteContext, type Router } from "./router.js";

/** Container counts for /info; the container engine provides them (zeros until it exists). */
export interface ContainerCounts {
  total: number;
  running: number;
  paused: number;
  stopped: number;
}

export type ContainerCountsProvider = () => ContainerCounts | Promise<ContainerCounts>;

export interface SystemContext {
  root: string;
  id: string;
  images: ImageService;
  events: EventBus;
  containers: ContainerCountsProvider;
  /** Every container (with sizes when asked), for /system/df; none when absent. */
  listContainers?: (opts: { size: boolean }) => Promise<ContainerSummary[]>;
  /** Every volume with its UsageData, for /system/df; none when absent. */
  volumes?: () => Promise<unknown[]>;
  /** The build cache records (RUN --mount=type=cache directories), for /system/df; none when absent. */
  buildCache?: () => Promise<unknown[]>;
  /** While the containers are being restored after a start: how many are reloaded so far; undefined once done. */
  restoring?: () => number | undefined;
  /** daemon.json's labels, debug and default runtime, read on every /info (a reload changes them). */
  settings?: () => { labels: string[]; debug: boolean; defaultRuntime: string };
  /** Whether containers run in user namespaces by default (--userns-remap): /info lists name=userns. */
  usernsRemap?: boolean;
  /** Why containers run without cgroups (a rootless daemon without a delegated subtree): /info says no limit is supported. */
  cgroupless?: string;
}

/** The runtimes a container may name (HostConfig.Runtime); runc when it is installed. */
function runtimes(): Record<string, { path: string; runtimeArgs?: string[] }> {
  const out: Record<string, { path: string; runtimeArgs?: string[] }> = {
    cove: { path: fileURLToPath(new URL("../cli/main.js", import.meta.url)), runtimeArgs: ["runtime"] },
  };
  const runc = findRunc();
  if (runc) out.runc = { path: runc };
  return out;
}

/** /info counts from a container list. */
export function countContainers(list: { State: string }[]): ContainerCounts {
  // moby's state counter: "restarting" and every other state count as stopped
  const running = list.filter((c) => c.State === "running").length;
  const paused = list.filter((c) => c.State === "paused").length;
  return { total: list.length, running, paused, stopped: list.length - running - paused };
}

/** Go's GOARCH for Node's os.arch(). */
export function goArch(arch = os.arch()): string {
  return ({ x64: "amd64", ia32: "386", arm: "arm", arm64: "arm64", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" } as Record<string, string>)[arch] ?? arch;
}

/** PRETTY_NAME and VERSION_ID from an os-release file. */
export function parseOsRelease(text: string): { prettyName: string; versionId: string } {
  const get = (k: string) => {
    const m = new RegExp(`^${k}=(.*)$`, "m").exec(text);
    return m ? (m[1] as string).trim().replace(/^["']|["']$/g, "") : "";
  };
  return { prettyName: get("PRETTY_NAME") || "Linux", versionId: get("VERSION_ID") };
}

/** A host file /info reports from; undefined when it is missing (logged when it cannot be read: /info still answers). */
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if (!isErrno(err, "ENOENT", "ENOTDIR")) ignored(`read ${file} for the system info`, err);
    return undefined;
  }
}

export interface CgroupFeatures {
  version: "1" | "2";
  memory: boolean;
  swap: boolean;
  kernelMemoryTCP: boolean;
  cfsPeriod: boolean;
  cfsQuota: boolean;
  shares: boolean;
  cpuset: boolean;
  pids: boolean;
  oomKillDisable: boolean;
}

/** What the host's cgroups can limit, as dockerd's pkg/sysinfo reports it (v1 side on hybrid hosts). */
export async function cgroupFeatures(mountRoot?: string): Promise<CgroupFeatures> {
  const none: CgroupFeatures = { version: "1", memory: false, swap: false, kernelMemoryTCP: false, cfsPeriod: false, cfsQuota: false, shares: false, cpuset: false, pids: false, oomKillDisable: false };
  let host;
  try {
    host = await detectCgroupHost(mountRoot);
  } catch (err) {
    // no cgroups found: /info says that nothing can be limited, and still answers
    ignored("detect the host's cgroups for the system info", err);
    return none;
  }
  if (host.version === 2) {
    const controllers = (readText(path.join(host.unified?.mountPoint ?? "/sys/fs/cgroup", "cgroup.controllers")) ?? "").trim().split(/\s+/);
    const has = (c: string) => controllers.includes(c);
    return {
      version: "2",
      memory: has("memory"),
      swap: has("memory"),
      kernelMemoryTCP: false,
      cfsPeriod: has("cpu"),
      cfsQuota: has("cpu"),
      shares: has("cpu"),
      cpuset: has("cpuset"),
      pids: has("pids"),
      oomKillDisable: false,
    };
  }
  const dir = (controller: string) => host.v1.find((m) => m.controllers.includes(controller))?.mountPoint;
  const file = (controller: string, name: string) => {
    const d = dir(controller);
    return d !== undefined && existsSync(path.join(d, name));
  };
  return {
    version: "1",
    memory: file("memory", "memory.limit_in_bytes"),
    swap: file("memory", "memory.memsw.limit_in_bytes"),
    kernelMemoryTCP: file("memory", "memory.kmem.tcp.limit_in_bytes"),
    cfsPeriod: file("cpu", "cpu.cfs_period_us"),
    cfsQuota: file("cpu", "cpu.cfs_quota_us"),
    shares: file("cpu", "cpu.shares"),
    cpuset: dir("cpuset") !== undefined,
    pids: dir("pids") !== undefined,
    oomKillDisable: file("memory", "memory.oom_control"),
  };
}

const FS_MAGIC: Record<number, string> = {
  0xef53: "extfs",
  0x58465342: "xfs",
  0x9123683e: "btrfs",
  0x01021994: "tmpfs",
  0x794c7630: "overlayfs",
  0x2fc12fc1: "zfs",
  0x65735546: "fuse",
  0x6969: "nfs",
  0xf2f52010: "f2fs",
};

async function backingFs(dir: string): Promise<string> {
  try {
    const s = await statfs(dir);
    return FS_MAGIC[Number(s.type) >>> 0] ?? `<unknown>`;
  } catch (err) {
    ignored(`read the file system type of ${dir} for the system info`, err);
    return "<unknown>";
  }
}

interface HostFacts {
  kernel: string;
  osName: string;
  osVersion: string;
  cgroups: CgroupFeatures;
  gitCommit: string;
  buildTime: string;
  backingFs: string;
}

function procFlag(file: string): boolean {
  return (readText(file) ?? "").trim() === "1";
}

function proxyEnv(...names: string[]): string {
  for (const n of names) {
    const v = process.env[n];
    if (v) return v.replace(/\/\/[^@/]*@/, "//xxxxx:xxxxx@"); // never show credentials, as dockerd masks them
  }
  return "";
}

/** Registers the system routes. */
export function systemRoutes(router: Router, ctx: SystemContext): void {
  let facts: Promise<HostFacts> | undefined;
  const host = (): Promise<HostFacts> => {
    facts ??= (async () => {
      const rel = parseOsRelease(readText("/etc/os-release") ?? readText("/usr/lib/os-release") ?? "");
      return {
        kernel: os.release(),
        osName: rel.prettyName,
        osVersion: rel.versionId,
        cgroups: await cgroupFeatures(),
        gitCommit: buildInfo().commit,
        buildTime: buildInfo().built,
        backingFs: await backingFs(ctx.root),
      };
    })();
    return facts;
  };

  const ping = (c: RouteContext) => {
    c.res.setHeader("Builder-Version", "1");
    c.res.setHeader("Swarm", "inactive");
    c.res.setHeader("Cache-Control", "no-cache, no-store, must-revalidate");
    c.res.setHeader("Pragma", "no-cache");
    c.res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": c.req.method === "HEAD" ? 0 : 2 });
    c.res.end(c.req.method === "HEAD" ? undefined : "OK");
  };
  router.get("/_ping", ping);
  router.head("/_ping", ping);

  router.get("/version", async (c) => {
    const h = await host();
    const details = {
      ApiVersion: API_VERSION,
      Arch: goArch(),
      BuildTime: h.buildTime,
      Experimental: "false",
      GitCommit: h.gitCommit,
      GoVersion: "n/a",
      KernelVersion: h.kernel,
      MinAPIVersion: MIN_API_VERSION,
      Os: "linux",
    };
    sendJSON(c.res, 200, {
      Platform: { Name: "cove" },
      Components: [
        { Name: "Engine", Version: ENGINE_VERSION, Details: details },
        { Name: "Node.js", Version: process.versions.node, Details: {} },
      ],
      Version: ENGINE_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: h.gitCommit,
      GoVersion: "n/a",
      Os: "linux",
      Arch: goArch(),
      KernelVersion: h.kernel,
      BuildTime: h.buildTime,
    });
  });

  router.get("/info", async (c) => {
    const h = await host();
    const [counts, images, nfd] = await Promise.all([ctx.containers(), ctx.images.images.list(), readdir("/proc/self/fd").then((l) => l.length, () => 0)]);
    // a rootless daemon without a delegated cgroup subtree supports no limit at all (as dockerd's
    // rootless mode on such hosts reports)
    const cg = ctx.cgroupless !== undefined ? { ...h.cgroups, memory: false, swap: false, kernelMemoryTCP: false, cfsPeriod: false, cfsQuota: false, shares: false, cpuset: false, pids: false, oomKillDisable: false } : h.cgroups;
    const storage = storageDriver();
    const ipv4Forwarding = procFlag("/proc/sys/net/ipv4/ip_forward");
    const nfIptables = procFlag("/proc/sys/net/bridge/bridge-nf-call-iptables");
    const nfIp6tables = procFlag("/proc/sys/net/bridge/bridge-nf-call-ip6tables");
    const warnings: string[] = [];
    if (!cg.memory) warnings.push("WARNING: No memory limit support");
    if (cg.memory && !cg.swap) warnings.push("WARNING: No swap limit support");
    if (!cg.cfsQuota) warnings.push("WARNING: No cpu cfs quota support");
    if (!cg.cfsPeriod) warnings.push("WARNING: No cpu cfs period support");
    if (!cg.shares) warnings.push("WARNING: No cpu shares support");
    if (!cg.cpuset) warnings.push("WARNING: No cpuset support");
    if (!ipv4Forwarding) warnings.push("WARNING: IPv4 forwarding is disabled");
    if (!nfIptables) warnings.push("WARNING: bridge-nf-call-iptables is disabled");
    if (!nfIp6tables) warnings.push("WARNING: bridge-nf-call-ip6tables is disabled");
    if (ctx.cgroupless !== undefined) warnings.push(`WARNING: Running in rootless mode without cgroups: ${ctx.cgroupless}. Resource limits are ignored.`);
    const restoring = ctx.restoring?.();
    if (restoring !== undefined) warnings.push(`WARNING: cove is restoring its containers after a restart (${restoring} reloaded so far): the container counts are not final`);
    const securityOptions = ["name=seccomp,profile=builtin"];
    if (ctx.usernsRemap) securityOptions.push("name=userns");
    if (inUserNamespace()) securityOptions.push("name=rootless");
    if (cg.version === "2") securityOptions.push("name=cgroupns");
    const info: Record<string, unknown> = {
      ID: ctx.id,
      Containers: counts.total,
      ContainersRunning: counts.running,
      ContainersPaused: counts.paused,
      ContainersStopped: counts.stopped,
      Images: images.length,
      Driver: storage.driver,
      DriverStatus:
        storage.status.length > 0
          ? [["Backing Filesystem", h.backingFs], ...storage.status]
          : [
              ["Backing Filesystem", h.backingFs],
              ["Supports d_type", "true"],
              ["Using metacopy", "false"],
              ["Native Overlay Diff", "true"],
              ["userxattr", "false"],
            ],
      Plugins: { Volume: ["local"], Network: ["bridge", "host", "none"], Authorization: null, Log: ["json-file", "none"] },
      MemoryLimit: cg.memory,
      SwapLimit: cg.swap,
      KernelMemoryTCP: cg.kernelMemoryTCP,
      CpuCfsPeriod: cg.cfsPeriod,
      CpuCfsQuota: cg.cfsQuota,
      CPUShares: cg.shares,
      CPUSet: cg.cpuset,
      PidsLimit: cg.pids,
      IPv4Forwarding: ipv4Forwarding,
      BridgeNfIptables: nfIptables,
      BridgeNfIp6tables: nfIp6tables,
      Debug: ctx.settings?.().debug ?? false,
      NFd: nfd,
      OomKillDisable: cg.oomKillDisable,
      NGoroutines: process.getActiveResourcesInfo().length,
      SystemTime: new Date().toISOString(),
      LoggingDriver: "json-file",
      CgroupDriver: ctx.cgroupless !== undefined ? "none" : "cgroupfs",
      CgroupVersion: cg.version,
      NEventsListener: ctx.events.subscribers,
      KernelVersion: h.kernel,
      OperatingSystem: h.osName,
      OSVersion: h.osVersion,
      OSType: "linux",
      Architecture: os.machine(),
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: registryConfigInfo(ctx.images.registryOptions),
      NCPU: os.availableParallelism(),
      MemTotal: os.totalmem(),
      GenericResources: null,
      DockerRootDir: ctx.root,
      HttpProxy: proxyEnv("HTTP_PROXY", "http_proxy"),
      HttpsProxy: proxyEnv("HTTPS_PROXY", "https_proxy"),
      NoProxy: proxyEnv("NO_PROXY", "no_proxy"),
      Name: os.hostname(),
      Labels: ctx.settings?.().labels ?? [],
      ExperimentalBuild: false,
      ServerVersion: ENGINE_VERSION,
      Runtimes: runtimes(),
      DefaultRuntime: ctx.settings?.().defaultRuntime ?? "cove",
      Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: "",
      InitBinary: "",
      ContainerdCommit: { ID: "" },
      RuncCommit: { ID: "" },
      InitCommit: { ID: "" },
      SecurityOptions: securityOptions,
      DefaultAddressPools: [],
      CDISpecDirs: [],
      Warnings: warnings,
    };
    sendJSON(c.res, 200, info);
  });

  router.get("/events", (c) => streamEvents(c, ctx.events));

  router.get("/system/df", async (c) => {
    const types = c.query.all("type");
    for (const t of types) {
      if (!["container", "image", "volume", "build-cache"].includes(t)) throw invalid(`unknown object type: ${t}`, { code: "query.invalid", field: "type" });
    }
    const want = (t: string) => types.length === 0 || types.includes(t);
    const out: Record<string, unknown> = {};
    const containers = want("container") || want("image") ? ((await ctx.listContainers?.({ size: want("container") })) ?? []) : [];
    if (want("image")) {
      const df = await ctx.images.df();
      out.LayersSize = df.LayersSize;
      out.Images = df.Images.map((i) => {
        const item: Record<string, unknown> = { ...i, Containers: containers.filter((c) => c.ImageID === i.Id).length };
        if (!versionAtLeast(c.version, "1.44")) item.VirtualSize = i.Size;
        return item;
      });
    } else {
      out.LayersSize = 0;
      out.Images = null;
    }
    out.Containers = want("container") ? containers : null;
    out.Volumes = want("volume") ? ((await ctx.volumes?.()) ?? []) : null;
    out.BuildCache = want("build-cache") ? ((await ctx.buildCache?.()) ?? []) : null;
    sendJSON(c.res, 200, out);
  });

}

/** The filters dockerd's build cache prune accepts: its age and label filters and the cache record's fields. */
const BUILD_PRUNE_FILTERS = new Set(["until", "unused-for", "label", "label!", "id", "parent", "type", "description", "inuse", "shared", "private"]);

/** Rejects what dockerd rejects on POST /build/prune: unknown filters, a bad until, non-integer sizes. */
export function checkBuildPruneQuery(filters: Record<string, string[]>, get: (key: string) => string | undefined): void {
  for (const k of Object.keys(filters)) {
    if (!BUILD_PRUNE_FILTERS.has(k)) throw invalid(`failed to prune build cache: Invalid filter '${k}'`, { code: "filter.invalid", field: "filters" });
  }
  if (filters.until?.length && filters["unused-for"]?.length) {
    throw invalid(`failed to prune build cache: conflicting filters: "until" and "unused-for"`, { code: "filter.invalid", field: "filters" });
  }
  const key = filters["unused-for"]?.length ? "unused-for" : "until";
  const until = filters[key] ?? [];
  if (until.length > 1) throw invalid("failed to prune build cache: filters expect only one value", { code: "filter.invalid", field: `filters.${key}` });
  if (until.length === 1) {
    try {
      parseUntil(until[0]!);
    } catch (err) {
      if (!(err instanceof CoveError)) throw err;
      throw invalid(`failed to prune build cache: "${key}" filter expects a duration (e.g., '24h') or a timestamp, got ${JSON.stringify(until[0])}`, { code: "filter.invalid", field: `filters.${key}` });
    }
  }
  for (const k of ["keep-storage", "reserved-space", "max-used-space", "min-free-space"]) {
    const v = get(k);
    if (v !== undefined && v !== "" && !/^[+-]?\d+$/.test(v)) {
      throw invalid(`${k} is in bytes and expects an integer, got ${v}`, { code: "query.invalid", field: k });
    }
  }
}

/** GET /events: past events per since/until from the bus's history, then live ones until `until` or the client leaves. */
export function streamEvents(c: RouteContext, bus: EventBus): Promise<void> {
  const since = parseEventTime(c.query.get("since"), "since");
  const until = parseEventTime(c.query.get("until"), "until");
  if (since !== undefined && until !== undefined && until < since) {
    throw invalid(`\`since\` time (${c.query.get("since")}) cannot be after \`until\` time (${c.query.get("until")})`, { code: "query.invalid", field: "since" });
  }
  const filter = new EventFilter(c.query.filters());
  const res = c.res;
  res.writeHead(200, { "Content-Type": "application/json" });
  res.flushHeaders();

  const queued: EventMessage[] = [];
  let replaying = true;
  let lastSent = -1n;
  const send = (ev: EventMessage) => {
    if (ev.timeNano <= lastSent) return;
    if (until !== undefined && ev.timeNano > until) return;
    lastSent = ev.timeNano;
    res.write(eventJSON(ev));
  };
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const unsubscribe = bus.subscribe((ev) => {
      if (!filter.matches(ev)) return;
      if (replaying) queued.push(ev);
      else send(ev);
    });
    const finish = () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      c.signal.removeEventListener("abort", finish);
      if (!res.writableEnded) res.end();
      resolve();
    };
    c.signal.addEventListener("abort", finish);
    if (since !== undefined || until !== undefined) for (const ev of bus.past({ since, until, filter })) send(ev);
    replaying = false;
    for (const ev of queued.splice(0)) send(ev);
    if (until !== undefined) {
      const wait = until - nowNano();
      if (wait <= 0n) return finish();
      timer = setTimeout(finish, Number(wait / 1_000_000n) + 1);
    }
  });
}

/** Reads the daemon ID from <root>/engine-id (created by the server at first start). */
export async function readDaemonId(file: string): Promise<string | undefined> {
  try {
    const id = (await readFile(file, "utf8")).trim();
    return id === "" ? undefined : id;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined; // not created yet
    throw err;
  }
}

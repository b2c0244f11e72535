// Public entry of the daemon: startDaemon (the HTTP server with the Docker Engine API), its
// building blocks (router, streaming helpers, event bus), and `cove daemon` (daemonMain).

import { CoveError, invalid } from "../common/errors.js";
import path from "node:path";
import { checkCgroupParent, DEFAULT_CONFIG_FILE, loadDaemonConfig, parseDashboardAddress, type DaemonFileConfig, type DashboardSettings } from "./config-file.js";
import { startDaemon, type Daemon, type DaemonOptions, type TcpOptions } from "./server.js";
import { DEFAULT_BRIDGE, DEFAULT_CGROUP_PARENT, DEFAULT_EXEC_ROOT, instanceLayout } from "../common/instance.js";
import { checkBridgeName, defaultBridgePool, NetworkService, parseAddressPool, type AddressPool } from "../network/index.js";
import { rootlessDaemonFromEnv, type RootlessDaemon } from "../rootless/index.js";
import { parseRemapSetting } from "../containers/index.js";
import { parseStorageDriver, type StorageDriver } from "../snapshots/index.js";

export { startDaemon, resolveGroup, pingSocket, type Daemon, type DaemonOptions, type TcpOptions } from "./server.js";
export { type RequestLimits } from "./limits.js";
export { Router, API_VERSION, MIN_API_VERSION, ENGINE_VERSION, compareVersions, versionAtLeast, checkVersion, sendJSON, sendError, sendEmpty, readJSON, readBody, type RouteContext, type Handler } from "./router.js";
export { Query, parseFilters, type Filters } from "./query.js";
export * from "./stream.js";
export { EventBus, EventFilter, eventJSON, parseEventTime, nowNano, type EventMessage, type EventActor, type EventType, type PublishInput } from "../events/index.js";
export type { ContainerCounts, ContainerCountsProvider } from "./system.js";
export { checkCgroupParent, DEFAULT_CONFIG_FILE, DEFAULT_DASHBOARD_ADDR, loadDaemonConfig, parseDaemonConfig, parseDashboardAddress, isLoopbackHost, type DaemonFileConfig, type DashboardSettings } from "./config-file.js";
export { acceptWebSocket, isWebSocketRequest, type WebSocketConn } from "./websocket.js";

export const DEFAULT_ROOT = "/var/lib/cove";
export const DEFAULT_SOCKET = `${DEFAULT_EXEC_ROOT}/cove.sock`;

const USAGE = `usage: cove daemon [OPTIONS]

Runs the cove daemon: the Docker Engine API on a unix socket (DOCKER_HOST=unix:///run/cove/cove.sock).

Options:
  --root DIR               state directory (default ${DEFAULT_ROOT})
  --exec-root DIR          what the daemon owns at run time, on a tmpfs: the containers' runtime state,
                           network namespaces, pid file (default ${DEFAULT_EXEC_ROOT} for the default root,
                           ${DEFAULT_EXEC_ROOT}-<tag> for another, tag = 8 hex digits of a hash of the root)
  --config-file FILE       daemon.json (default ${DEFAULT_CONFIG_FILE}): insecure-registries, registry-mirrors,
                           data-root, exec-root, bridge, bip, default-address-pools, cgroup-parent, storage-driver, labels,
                           debug, live-restore, default-runtime, log-driver, dashboard, userns-remap;
                           SIGHUP (systemctl reload cove) re-reads it
  --socket PATH            unix socket (default ${DEFAULT_SOCKET})
  -H, --host ADDR          unix:///path/to.sock, tcp://HOST:PORT (TCP needs the three --tls flags), or
                           fd:// for the socket systemd passes (socket activation: cove.socket)
  --group NAME             group owning the socket (mode 0660)
  --tlscert FILE           server certificate (PEM)
  --tlskey FILE            server key (PEM)
  --tlscacert FILE         CA that signs client certificates (required: TCP always verifies clients)
  --dashboard ADDR         serve the web dashboard on HOST:PORT (e.g. 127.0.0.1:9123; another host needs the
                           three --tls flags); \`cove dashboard\` prints its address
  -b, --bridge NAME        the default bridge's interface (default ${DEFAULT_BRIDGE}, cove-<tag> for another root);
                           "none": no default bridge
  --bip ADDR/PREFIX        the default bridge's address and subnet, e.g. 172.18.0.1/16 (default 172.17.0.1/16,
                           or the first free subnet of the address pools)
  --default-address-pool base=CIDR,size=PREFIX
                           where networks without --subnet take theirs (repeatable; default 172.17-31.0.0/16,
                           then 192.168.0.0/16 in /20s)
  --storage-driver NAME    how image layers are mounted: overlay2 (the kernel's overlayfs) or fuse-overlayfs; a
                           rootless daemon probes and falls back to fuse-overlayfs by itself ($COVE_ROOTLESS_STORAGE
                           chooses for the daemon the CLI starts); a root daemon has overlay2 only
  --cgroup-parent PATH     the parent of the containers' cgroups (default ${DEFAULT_CGROUP_PARENT}, ${DEFAULT_CGROUP_PARENT}-<tag> for
                           another root); a container's own --cgroup-parent wins
  --no-network             no networking at all: containers get a loopback interface only
  --userns-remap USER      run containers in user namespaces mapped onto USER's ranges in /etc/subuid and
                           /etc/subgid: "default" (makes the cove-remap account), user, user:group, uid, uid:gid;
                           --userns=host opts a container out, --userns=auto gives it ids of its own
  --cri-socket PATH        the Kubernetes CRI (runtime.v1 over gRPC) for kubelets and crictl (default
                           <exec root>/cri.sock, e.g. ${DEFAULT_EXEC_ROOT}/cri.sock); "none": no CRI server
  --cni-conf-dir DIR       where the CRI's pod sandboxes find the node's CNI network (default /etc/cni/net.d: the
                           first .conflist, .conf or .json there); without one, or with "none", they go on the
                           default bridge
  --cni-bin-dir DIRS       where CNI plugins are looked for, colon-separated (default /opt/cni/bin:/usr/lib/cni)`;

/** Which of the settings daemon.json may also give were given as flags (a setting given twice is refused, as dockerd refuses it). */
export interface FlagsGiven {
  root?: boolean;
  execRoot?: boolean;
  bridge?: boolean;
  bip?: boolean;
  addressPools?: boolean;
  cgroupParent?: boolean;
  dashboard?: boolean;
  usernsRemap?: boolean;
  storageDriver?: boolean;
}

/** `cove daemon`'s options: the daemon's, the configuration file to read, and which settings came as flags. */
export type DaemonArgs = DaemonOptions & { configFile: string; configFileGiven: boolean; given: FlagsGiven; dashboard?: DashboardSettings; criSocket?: string | "none"; cni?: CniSettings };

/** Where the CRI server finds the node's CNI network and plugins (absent: the defaults). */
export interface CniSettings {
  confDir?: string;
  binDirs?: string[];
}

/** Parses `cove daemon` flags into DaemonOptions. */
export function parseDaemonArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DaemonArgs | "help" {
  let configFile = DEFAULT_CONFIG_FILE;
  let configFileGiven = false;
  const given: FlagsGiven = env.COVE_ROOT !== undefined ? { root: true } : {};
  const opts: { root: string; socket: string; group?: string; listenFd?: number; execRoot?: string; cgroupParent?: string; usernsRemap?: string; storageDriver?: StorageDriver } = { root: env.COVE_ROOT ?? DEFAULT_ROOT, socket: DEFAULT_SOCKET };
  // a rootless user's way of choosing the storage driver for the daemon the CLI starts for them
  if (env.COVE_ROOTLESS_STORAGE) {
    opts.storageDriver = parseStorageDriver(env.COVE_ROOTLESS_STORAGE, "$COVE_ROOTLESS_STORAGE");
    given.storageDriver = true;
  }
  let tcpAddr: string | undefined;
  let dashboardAddr: string | undefined;
  let criSocket: string | undefined;
  const cni: CniSettings = {};
  const tls: { cert?: string; key?: string; ca?: string } = {};
  const bridge: { name?: string; bip?: string; none?: boolean; off?: boolean; pools?: AddressPool[] } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-h" || arg === "--help") return "help";
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw invalid(`flag needs an argument: ${name}`, { code: "flag.invalid", hint: "see cove daemon --help" });
      return v;
    };
    switch (name) {
      case "--root":
        opts.root = value();
        given.root = true;
        break;
      case "--exec-root": {
        const v = value();
        if (!v.startsWith("/")) throw invalid(`--exec-root ${v}: give an absolute path`, { code: "flag.invalid", field: "exec-root" });
        opts.execRoot = v;
        given.execRoot = true;
        break;
      }
      case "--config-file":
        configFile = value();
        configFileGiven = true;
        break;
      case "--socket":
        opts.socket = value();
        break;
      case "-H":
      case "--host": {
        const v = value();
        if (v.startsWith("unix://")) opts.socket = v.slice("unix://".length);
        else if (v.startsWith("tcp://")) tcpAddr = v.slice("tcp://".length);
        else if (v.startsWith("/")) opts.socket = v;
        else if (v.startsWith("fd://")) opts.listenFd = activatedFd(v, env);
        else throw invalid(`unsupported host ${v}: give unix:///path, tcp://HOST:PORT or fd://`, { code: "flag.invalid", field: "host" });
        break;
      }
      case "--group":
        opts.group = value();
        break;
      case "--tlscert":
        tls.cert = value();
        break;
      case "--tlskey":
        tls.key = value();
        break;
      case "--tlscacert":
        tls.ca = value();
        break;
      case "--tlsverify":
      case "--tls":
        break; // TCP always verifies client certificates
      case "--dashboard":
        dashboardAddr = value();
        break;
      case "--cri-socket": {
        const v = value();
        if (v !== "none" && !v.startsWith("/")) throw invalid(`--cri-socket ${v}: give an absolute path, or "none"`, { code: "flag.invalid", field: "cri-socket" });
        criSocket = v;
        break;
      }
      case "--cni-conf-dir": {
        const v = value();
        if (v !== "none" && !v.startsWith("/")) throw invalid(`--cni-conf-dir ${v}: give an absolute path, or "none"`, { code: "flag.invalid", field: "cni-conf-dir" });
        cni.confDir = v;
        break;
      }
      case "--cni-bin-dir": {
        const dirs = value().split(":").filter(Boolean);
        if (!dirs.length || dirs.some((d) => !d.startsWith("/"))) throw invalid("--cni-bin-dir: give absolute paths, separated by colons", { code: "flag.invalid", field: "cni-bin-dir" });
        cni.binDirs = dirs;
        break;
      }
      case "-b":
      case "--bridge": {
        const v = value();
        if (v === "none") bridge.none = true;
        else {
          checkBridgeName(v, "bridge");
          bridge.name = v;
        }
        given.bridge = true;
        break;
      }
      case "--bip": {
        const v = value();
        defaultBridgePool(v);
        bridge.bip = v;
        given.bip = true;
        break;
      }
      case "--default-address-pool":
        (bridge.pools ??= []).push(parseAddressPool(value()));
        given.addressPools = true;
        break;
      case "--storage-driver":
        opts.storageDriver = parseStorageDriver(value(), "--storage-driver");
        given.storageDriver = true;
        break;
      case "--cgroup-parent":
        opts.cgroupParent = checkCgroupParent(value());
        given.cgroupParent = true;
        break;
      case "--no-network":
        bridge.off = true;
        break;
      case "--userns-remap": {
        const v = value();
        parseRemapSetting(v);
        opts.usernsRemap = v;
        given.usernsRemap = true;
        break;
      }
      default:
        throw invalid(`unknown flag: ${arg}`, { code: "flag.invalid", hint: "see cove daemon --help" });
    }
  }
  if (bridge.none && bridge.bip !== undefined) throw invalid("--bip sets the default bridge's address: it cannot go with --bridge none", { code: "flag.invalid", field: "bip" });
  const out: DaemonArgs = { ...opts, configFile, configFileGiven, given };
  if (!bridge.off) {
    out.network = {
      defaultBridge: bridge.none ? false : { ...(bridge.name ? { name: bridge.name } : {}), ...(bridge.bip ? { subnet: bridge.bip } : {}) },
      ...(bridge.pools ? { addressPools: bridge.pools } : {}),
    };
  }
  if (tcpAddr !== undefined) {
    const m = /^(\[[^\]]+\]|[^:]*):(\d+)$/.exec(tcpAddr);
    if (!m) throw invalid(`invalid TCP address ${tcpAddr}: give tcp://HOST:PORT`, { code: "flag.invalid", field: "host" });
    if (!tls.cert || !tls.key || !tls.ca) {
      throw invalid("listening on TCP needs --tlscert, --tlskey and --tlscacert", {
        code: "daemon.tls-required",
        hint: "cove never serves the API on TCP without TLS client certificates: anyone reaching the port would be root on this host",
      });
    }
    const tcp: TcpOptions = { host: (m[1] as string).replace(/^\[|\]$/g, "") || "0.0.0.0", port: Number(m[2]), tlsCert: tls.cert, tlsKey: tls.key, tlsCa: tls.ca };
    out.tcp = tcp;
  } else if ((tls.cert || tls.key || tls.ca) && dashboardAddr === undefined) {
    throw invalid("--tlscert, --tlskey and --tlscacert are for TCP: add -H tcp://HOST:PORT (or --dashboard HOST:PORT)", { code: "flag.invalid" });
  }
  if (dashboardAddr !== undefined) {
    // the dashboard shares the API's TLS files: the same CA signs the clients of both
    const dashTls = tls.cert && tls.key && tls.ca ? { cert: tls.cert, key: tls.key, ca: tls.ca } : undefined;
    if (!dashTls && (tls.cert || tls.key || tls.ca)) throw invalid("the dashboard over TLS needs all of --tlscert, --tlskey and --tlscacert", { code: "flag.invalid", field: "dashboard" });
    out.dashboard = parseDashboardAddress(dashboardAddr, dashTls);
    given.dashboard = true;
  }
  if (criSocket !== undefined) out.criSocket = criSocket;
  if (cni.confDir !== undefined || cni.binDirs !== undefined) out.cni = cni;
  return out;
}

/** The first fd systemd passes (socket activation). */
const SD_LISTEN_FDS_START = 3;

/**
 * The listening socket `-H fd://` (or fd://N) names, from systemd's socket-activation protocol:
 * LISTEN_PID is this process and LISTEN_FDS counts the fds passed from fd 3 on. cove serves one
 * unix socket, so fd:// takes the first.
 */
export function activatedFd(host: string, env: NodeJS.ProcessEnv, pid = process.pid): number {
  const fail = (why: string) =>
    invalid(`-H ${host}: ${why}`, { code: "flag.invalid", field: "host", hint: "fd:// is for a daemon started by systemd through cove.socket (cove system install); otherwise give --socket PATH or -H unix:///PATH" });
  const count = Number(env.LISTEN_FDS ?? "");
  if (env.LISTEN_FDS === undefined || !Number.isInteger(count) || count < 1) throw fail("no socket was passed (LISTEN_FDS is not set)");
  if (env.LISTEN_PID !== undefined && env.LISTEN_PID !== String(pid)) throw fail(`the sockets passed are for process ${env.LISTEN_PID}, not this one (${pid})`);
  const rest = host.slice("fd://".length);
  if (rest === "") return SD_LISTEN_FDS_START;
  if (!/^\d+$/.test(rest)) throw fail("give fd:// or fd://N with N a passed fd");
  const fd = Number(rest);
  if (fd < SD_LISTEN_FDS_START || fd >= SD_LISTEN_FDS_START + count) throw fail(`fd ${fd} was not passed (systemd passed ${count} from fd ${SD_LISTEN_FDS_START})`);
  return fd;
}

/** daemon.json's settings into the daemon's options; a directive given both as a flag and in the file is refused, as dockerd refuses it. */
export function applyConfig(opts: DaemonArgs, cfg: DaemonFileConfig): void {
  const both: string[] = [];
  const g = opts.given;
  const net = opts.network && !(opts.network instanceof NetworkService) ? opts.network : undefined;
  const flagBridge = net?.defaultBridge === false ? "none" : net?.defaultBridge?.name;
  if (cfg.dataRoot !== undefined && g.root) both.push(`data-root: (from flag: ${opts.root}, from file: ${cfg.dataRoot})`);
  if (cfg.dashboard !== undefined && g.dashboard) both.push(`dashboard: (from flag: ${opts.dashboard?.host}:${opts.dashboard?.port}, from file: ${cfg.dashboard.host}:${cfg.dashboard.port})`);
  if (cfg.execRoot !== undefined && g.execRoot) both.push(`exec-root: (from flag: ${opts.execRoot}, from file: ${cfg.execRoot})`);
  if (cfg.bridge !== undefined && g.bridge) both.push(`bridge: (from flag: ${flagBridge}, from file: ${cfg.bridge})`);
  if (cfg.bip !== undefined && g.bip) both.push(`bip: (from flag: ${net?.defaultBridge ? net.defaultBridge.subnet : ""}, from file: ${cfg.bip})`);
  if (cfg.addressPools !== undefined && g.addressPools) both.push("default-address-pools: (from flags and from the file)");
  if (cfg.cgroupParent !== undefined && g.cgroupParent) both.push(`cgroup-parent: (from flag: ${opts.cgroupParent}, from file: ${cfg.cgroupParent})`);
  if (cfg.storageDriver !== undefined && g.storageDriver) both.push(`storage-driver: (from flag: ${opts.storageDriver}, from file: ${cfg.storageDriver})`);
  if (cfg.usernsRemap !== undefined && g.usernsRemap) both.push(`userns-remap: (from flag: ${opts.usernsRemap}, from file: ${cfg.usernsRemap})`);
  if (both.length > 0) {
    throw invalid(`the following directives are specified both as a flag and in the configuration file: ${both.join(", ")}`, { code: "config.conflict", hint: `remove one of them (the file is ${opts.configFile})` });
  }
  if (net) {
    const bip = cfg.bip ?? (net.defaultBridge ? net.defaultBridge.subnet : undefined);
    if ((cfg.bridge === "none" || net.defaultBridge === false) && bip !== undefined) {
      throw invalid(`"bip" sets the default bridge's address, but "bridge" is "none": there is no default bridge`, { code: "config.conflict", field: "bip", hint: `remove one of them (flags, or the file ${opts.configFile})` });
    }
    if (cfg.bridge === "none") net.defaultBridge = false;
    else if (net.defaultBridge !== false) net.defaultBridge = { ...net.defaultBridge, ...(cfg.bridge !== undefined ? { name: cfg.bridge } : {}), ...(cfg.bip !== undefined ? { subnet: cfg.bip } : {}) };
    if (cfg.addressPools !== undefined) net.addressPools = cfg.addressPools;
  }
  if (cfg.dataRoot !== undefined) opts.root = cfg.dataRoot;
  if (cfg.execRoot !== undefined) opts.execRoot = cfg.execRoot;
  if (cfg.cgroupParent !== undefined) opts.cgroupParent = cfg.cgroupParent;
  if (cfg.usernsRemap !== undefined) opts.usernsRemap = cfg.usernsRemap;
  if (cfg.storageDriver !== undefined) opts.storageDriver = cfg.storageDriver;
  opts.registry = cfg.registry;
  if (cfg.labels) opts.labels = cfg.labels;
  if (cfg.debug !== undefined) opts.debug = cfg.debug;
  if (cfg.defaultRuntime !== undefined) opts.defaultRuntime = cfg.defaultRuntime;
  if (cfg.dashboard !== undefined) opts.dashboard = cfg.dashboard;
}

/** A running dashboard, as the layer above the daemon starts it (src/dashboard). */
export interface DashboardHandle {
  /** Its address, without the token (for the log). */
  address: string;
  close(): Promise<void>;
}

/** A running CRI server, as the layer above the daemon starts it (src/cri). */
export interface CriHandle {
  socket: string;
  close(): Promise<void>;
}

/** What the command line gives daemonMain: the dashboard and the CRI server live above the daemon and are started through this. */
export interface DaemonMainHooks {
  startDashboard?: (daemon: Daemon, settings: DashboardSettings, log: (line: string) => void) => Promise<DashboardHandle>;
  startCri?: (daemon: Daemon, socket: string, cni: CniSettings) => Promise<CriHandle>;
}

/** `cove daemon`: runs until SIGINT or SIGTERM, re-reading its configuration file on SIGHUP; returns the exit code. */
export async function daemonMain(argv: string[], hooks: DaemonMainHooks = {}): Promise<number> {
  let opts: DaemonArgs | "help";
  let rootless: RootlessDaemon | undefined;
  try {
    opts = parseDaemonArgs(argv);
    // the activation variables are for this process only: no child (monitor, runc, plugin) sees them
    for (const v of ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]) delete process.env[v];
    // started by the rootless launcher: the user's daemon.json, and ports published through its port driver
    rootless = rootlessDaemonFromEnv();
    if (opts !== "help" && rootless && !opts.configFileGiven) opts.configFile = rootless.configFile;
    if (opts !== "help") applyConfig(opts, await loadDaemonConfig(opts.configFile, opts.configFileGiven));
    // a rootless daemon's containers: in the user's delegated cgroup v2 subtree, or without cgroups
    if (opts !== "help" && rootless) {
      if ("parent" in rootless.cgroups) opts.cgroupParent ??= rootless.cgroups.parent;
      else opts.cgroupless = rootless.cgroups.reason;
    }
    if (opts !== "help" && rootless && opts.network && !(opts.network instanceof NetworkService)) {
      await rootless.ports.start();
      opts.network.hostPorts = rootless.ports;
    }
  } catch (err) {
    process.stderr.write(`cove daemon: ${err instanceof CoveError ? err.describe() : String(err)}\n`);
    return 125;
  }
  if (opts === "help") {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  let daemon;
  try {
    daemon = await startDaemon(opts);
  } catch (err) {
    process.stderr.write(`cove daemon: ${err instanceof CoveError ? err.describe() : ((err as Error).stack ?? String(err))}\n`);
    return 1;
  }
  const d = daemon;
  const started = opts;
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} cove daemon: ${line}\n`);
  let dashboard: DashboardHandle | undefined;
  let cri: CriHandle | undefined;
  // the signals are handled from here on: a SIGHUP or SIGTERM while the servers beside the API
  // socket start must neither kill the daemon (Node's default) nor be lost
  const onHup = () => {
    loadDaemonConfig(started.configFile, started.configFileGiven).then(
      (cfg) => {
        const changed = d.reload(cfg);
        const later: string[] = (["data-root", "exec-root"] as const).filter((k) => (k === "data-root" ? cfg.dataRoot !== undefined && path.resolve(cfg.dataRoot) !== d.root : cfg.execRoot !== undefined && cfg.execRoot !== started.execRoot));
        if (!started.given.dashboard && JSON.stringify(cfg.dashboard) !== JSON.stringify(started.dashboard)) later.push("dashboard");
        log(`SIGHUP: reloaded ${started.configFile}: ${changed.length ? `changed ${changed.join(", ")}` : "nothing changed"}${later.length ? `; ${later.join(", ")} take effect at the next start` : ""}`);
      },
      (err: unknown) => log(`SIGHUP: ${started.configFile} not reloaded, the settings stay as they were: ${err instanceof CoveError ? err.describe() : String(err)}`),
    );
  };
  let stopping = false;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const closeBeside = () =>
    Promise.all([
      dashboard?.close().catch((err: unknown) => log(`closing the dashboard: ${String(err)}`)),
      cri?.close().catch((err: unknown) => log(`closing the CRI server: ${String(err)}`)),
    ]);
  const unlisten = () => {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    process.off("SIGHUP", onHup);
  };
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: shutting down`);
    unlisten();
    closeBeside()
      .then(() => d.close())
      .then(stopped, stopped);
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  process.on("SIGHUP", onHup);
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const failBeside = async (what: string, err: unknown): Promise<number> => {
    process.stderr.write(`cove daemon: ${what}${err instanceof CoveError ? err.describe() : ((err as Error).stack ?? String(err))}\n`);
    unlisten();
    await closeBeside();
    await d.close();
    return 1;
  };
  if (opts.dashboard) {
    try {
      if (!hooks.startDashboard) throw invalid("this cove daemon was started without its dashboard", { code: "dashboard.unavailable", hint: "start it as `cove daemon --dashboard ADDR`" });
      const handle = await hooks.startDashboard(d, opts.dashboard, log);
      // a stop while it started has closed the rest already
      if (stopping) await handle.close();
      else dashboard = handle;
      log(`dashboard on ${handle.address}: \`cove dashboard\` prints the address to open (it carries the dashboard's token)`);
    } catch (err) {
      if (!stopping) return failBeside("", err);
    }
  }
  const criSocket = opts.criSocket ?? path.join(instanceLayout(d.root, { execRoot: opts.execRoot }).execRoot, "cri.sock");
  if (criSocket !== "none" && hooks.startCri && !stopping) {
    try {
      const handle = await hooks.startCri(d, criSocket, opts.cni ?? {});
      if (stopping) await handle.close();
      else cri = handle;
      log(`CRI (runtime.v1) on unix://${handle.socket}`);
    } catch (err) {
      if (!stopping) return failBeside("the CRI server: ", err);
    }
  }
  await done;
  rootless?.ports.close();
  return 0;
}

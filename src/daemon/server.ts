// The daemon: the Docker Engine API over a unix socket (and over TCP only with TLS client
// certificates), backed by the services under one state root.
//
//   <root>/cove.pid       the running daemon's PID (refuses a second daemon on the same root)
//   <root>/engine-id      the daemon's persistent ID (/info ID), a UUID made at first start
//   <exec root>/cove.pid  the same PID (refuses a second daemon on the same exec root)
//
// Everything else the daemon owns on the host follows from its root and exec root
// (src/common/instance.ts): runtime state and network namespaces under the exec root, its
// default bridge, firewall chains and cgroup parent named after the root, so two daemons on one
// host never share them. The container service is opened on the same root; closing the daemon stops watching the containers but leaves them running (live
// restore): the next daemon on the same root adopts them.
//
// The socket is created mode 0660, owned root:<group> when a group is given. A socket file left by a
// dead daemon is removed at start; one that answers /_ping belongs to a live daemon, and start fails.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, chown, lstat, mkdir, readFile, rmdir, unlink } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Duplex } from "node:stream";
import { conflict, fromErrno, invalid, isErrno, systemError } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { instanceLayout } from "../common/instance.js";
import { removeEmptyExecRoot } from "../common/instance-dirs.js";
import { ignored, setIgnoredLog } from "../common/ignore.js";
import { CacheMounts, removeBuildLeftovers } from "../build/index.js";
import { buildRoutes } from "./build.js";
import { ContainerService, resolveRemapAccount, usernsSettings } from "../containers/index.js";
import { addon } from "../native/addon.js";
import { EventBus } from "../events/index.js";
import { ImageService } from "../images/service.js";
import { NetworkService, serveNetworkDns, type NetworkDns, type NetworkServiceOptions } from "../network/index.js";
import { containerRoutes } from "./containers.js";
import { PodService } from "../pods/index.js";
import { podRoutes } from "./pods.js";
import { imageRoutes } from "./images.js";
import type { RegistryOptions } from "../registry/client.js";
import { networkRoutes } from "./networks.js";
import { applyLimits, serverOptions, type RequestLimits } from "./limits.js";
import { Router, sendJSON } from "./router.js";
import { absentRoutes } from "./absent.js";
import { swarmRoutes } from "./swarm.js";
import { countContainers, systemRoutes, type ContainerCountsProvider } from "./system.js";
import { volumeRoutes } from "./volumes.js";
import { VolumeService } from "../volumes/index.js";
import { processExists } from "../common/process.js";
import { inUserNamespace } from "../common/userns.js";
import { probeStorage, setStorageDriver, type StorageDriver } from "../snapshots/index.js";

export interface TcpOptions {
  host: string;
  port: number;
  /** PEM files: the server's certificate and key, and the CA that signs client certificates. */
  tlsCert: string;
  tlsKey: string;
  tlsCa: string;
}

export interface DaemonOptions {
  /** State root, e.g. /var/lib/cove. */
  root: string;
  /** Unix socket path, e.g. /run/cove/cove.sock. */
  socket: string;
  /**
   * A listening unix socket to serve instead of creating `socket` (systemd's socket activation
   * passes it as fd 3): the daemon neither creates, chmods nor removes it; the service manager
   * owns it, and `socket` is only what the daemon reports when the fd has no path.
   */
  listenFd?: number;
  /** Group (name or GID) that owns the socket; without it the socket is root:root. */
  group?: string;
  /** Also listen on TCP, with TLS and client certificates required. */
  tcp?: TcpOptions;
  /** Container counts for /info instead of the container service's. */
  containers?: ContainerCountsProvider;
  /**
   * What the daemon owns at run time, as dockerd's --exec-root: the runtime's state (runtime/),
   * runc's (runc/), the network namespaces (netns/) and the pid file (cove.pid). Default /run/cove
   * for the default root, /run/cove-<tag> for any other (src/common/instance.ts).
   */
  execRoot?: string;
  /** The container runtime's state root (default <execRoot>/runtime; keep it short: attach sockets live there). */
  runtimeRoot?: string;
  /** The parent of the containers' cgroups (default /cove for the default root, /cove-<tag> otherwise). */
  cgroupParent?: string;
  /**
   * How image layers are mounted. A daemon in a user namespace (rootless) probes at start and
   * falls back to fuse-overlayfs where the kernel refuses overlayfs; a root daemon has overlay2 only.
   */
  storageDriver?: StorageDriver;
  /** Why containers run without cgroups (a rootless daemon without a delegated cgroup v2 subtree): limits are ignored with a warning. */
  cgroupless?: string;
  /** A container service to use instead of opening one on root (the caller closes it). */
  containerService?: ContainerService;
  /** Where the daemon logs (default: stderr with a timestamp). */
  log?: (line: string) => void;
  /** An image service to use instead of opening one on root (tests, embedding). */
  images?: ImageService;
  /** An event bus to use instead of a new one. */
  events?: EventBus;
  /**
   * Networking: options for the network service opened on root (the default bridge, netns
   * directory, firewall tag), or a service to use. Without it containers get a loopback only and
   * the /networks routes answer 501 (test daemons that must not touch the host's network).
   */
  network?: Omit<NetworkServiceOptions, "root"> | NetworkService;
  /** The embedded DNS's port on each user-defined network's gateway (default 53). */
  dnsPort?: number;
  /** Awaited before the containers are reconciled (tests hold the reconcile with it to see the daemon answer meanwhile). */
  beforeReconcile?: () => Promise<void>;
  /** How the image service opened on root reaches registries (daemon.json's insecure-registries and registry-mirrors). */
  registry?: RegistryOptions;
  /** daemon.json's labels and debug (/info), and the runtime containers get when they name none. */
  labels?: string[];
  debug?: boolean;
  defaultRuntime?: string;
  /**
   * `--userns-remap`: containers run in user namespaces mapped onto this account's subordinate
   * ids ("default": cove-remap, made when missing). Ignored with a containerService given.
   */
  usernsRemap?: string;
  /** How remapped containers' image layers get their mapping (see UsernsSettings.layers; default idmapped mounts). */
  usernsLayers?: "idmap" | "copy";
  /** Bounds on slow and idle clients (limits.ts); the defaults suit a daemon in service. */
  limits?: RequestLimits;
}

/** What a reload (SIGHUP) may change in a running daemon: daemon.json's reloadable keys. */
export interface ReloadableSettings {
  registry: Pick<RegistryOptions, "insecureRegistries" | "mirrors">;
  labels?: string[];
  debug?: boolean;
  defaultRuntime?: string;
}

export interface Daemon {
  root: string;
  socket: string;
  /** The TCP address actually bound (port 0 picks one). */
  tcp?: { host: string; port: number };
  id: string;
  router: Router;
  events: EventBus;
  images: ImageService;
  containers: ContainerService;
  /** Pods of containers sharing namespaces (cove's /cove/pods routes). */
  pods: PodService;
  network?: NetworkService;
  /**
   * Settles once the containers are restored (reloaded, adopted or cleaned up); until then the
   * daemon answers /_ping, /version, /info and /events, and holds every other request.
   */
  reconciled: Promise<void>;
  /** Applies daemon.json's reloadable settings (absent ones return to their defaults); returns what changed, for the log. */
  reload(settings: ReloadableSettings): string[];
  /** Stops serving; the containers keep running. */
  close(): Promise<void>;
}

/** A GID from a group name (via /etc/group) or a number. */
export function resolveGroup(group: string, groupFile = "/etc/group"): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = "";
  try {
    text = readFileSync(groupFile, "utf8");
  } catch (err) {
    throw fromErrno(err, `reading ${groupFile} to find group ${group}`);
  }
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw invalid(`group ${group} does not exist`, { code: "daemon.group", field: "group", hint: `create it (groupadd ${group}) or start the daemon without --group` });
}

/** Whether something answers GET /_ping on the socket (within timeoutMs). */
export function pingSocket(socket: string, timeoutMs = 1500): Promise<"answers" | "dead" | "silent"> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: socket, path: "/_ping", method: "GET", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve("answers");
    });
    req.on("timeout", () => {
      req.destroy();
      resolve("silent");
    });
    req.on("error", () => resolve("dead"));
    req.end();
  });
}

function pidAlive(pid: number): boolean {
  if (!processExists(pid)) return false;
  // a recycled PID running something else is not a daemon
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return /node|cove/.test(cmd);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ESRCH")) return false; // exited meanwhile
    throw err;
  }
}

/** The longest socket path a container has under the runtime root: <root>/<64 hex id>/a.sock (the kernel takes 107 bytes). */
const CONTAINER_SOCKET_TAIL = "/".length + 64 + "/a.sock".length;
const SUN_PATH_MAX = 107;

/** Fails when the containers' attach sockets would not fit in a unix socket address under this runtime root. */
function checkSocketRoom(runtimeRoot: string, given: { flag: string; value: string }): void {
  const over = Buffer.byteLength(runtimeRoot) + CONTAINER_SOCKET_TAIL - SUN_PATH_MAX;
  if (over <= 0) return;
  throw invalid(`${given.flag} ${given.value} is too long: the containers' sockets under ${runtimeRoot} would exceed the ${SUN_PATH_MAX} bytes of a unix socket address`, {
    code: "daemon.exec-root-long",
    field: given.flag.replace(/^--/, ""),
    hint: `give a ${given.flag} at least ${over} ${over === 1 ? "byte" : "bytes"} shorter (e.g. /run/cove-NAME)`,
  });
}

/** Fails when the pid file names a live daemon other than this process (message holds %d for its pid). */
async function refuseLiveDaemon(pidFile: string, message: string, hint: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, "utf8")).trim());
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw fromErrno(err, `reading ${pidFile}`);
  }
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) throw conflict(message.replace("%d", String(pid)), { code: "daemon.running", hint });
}

async function prepareSocket(socket: string): Promise<void> {
  await mkdir(path.dirname(socket), { recursive: true, mode: 0o755 });
  let st;
  try {
    st = await lstat(socket);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw fromErrno(err, `checking ${socket}`);
  }
  if (!st.isSocket()) throw conflict(`${socket} exists and is not a socket`, { code: "daemon.socket", hint: "remove it or choose another path with --socket" });
  const state = await pingSocket(socket);
  if (state === "answers") throw conflict(`another cove daemon is running on ${socket}`, { code: "daemon.running", hint: "stop it first, or start this one with another --socket and --root" });
  if (state === "silent") throw conflict(`a process is listening on ${socket} but does not answer /_ping`, { code: "daemon.socket", hint: "stop that process, or choose another --socket" });
  await unlink(socket).catch((err: unknown) => {
    if (!isErrno(err, "ENOENT")) throw fromErrno(err, `removing the stale socket ${socket}`);
  });
}

async function daemonId(root: string): Promise<string> {
  const file = path.join(root, "engine-id");
  try {
    const id = (await readFile(file, "utf8")).trim();
    if (id !== "") return id;
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw fromErrno(err, `reading ${file}`);
  }
  const id = randomUUID();
  await writeFileAtomic(file, id + "\n", 0o600);
  return id;
}

/** Connections the kernel queues before the daemon accepts them (capped by net.core.somaxconn): a burst of clients is queued, not refused with EAGAIN. */
const LISTEN_BACKLOG = 4096;

function listen(server: http.Server, arg: { path: string } | { fd: number } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen({ ...arg, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Every connection a server has open, hijacked ones included (Node's closeAllConnections knows only HTTP ones). */
const openSockets = new WeakMap<http.Server, Set<Duplex>>();

function trackSockets(server: http.Server): void {
  const sockets = new Set<Duplex>();
  openSockets.set(server, sockets);
  server.on("connection", (s: Duplex) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
    // a hijacked connection (attach, exec) whose stream did not end with the daemon's streams
    // would keep close waiting for its client: the daemon is stopping, so it ends too
    for (const s of openSockets.get(server) ?? []) s.destroy();
  });
}

/** Starts the daemon; resolves once it listens. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const root = path.resolve(options.root);
  const log = options.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} cove daemon: ${line}\n`));
  const gid = options.group !== undefined ? resolveGroup(options.group) : undefined;
  // what best-effort cleanups anywhere in the daemon ignored goes to the daemon's log
  setIgnoredLog(log);
  const layout = instanceLayout(root, {
    execRoot: options.execRoot,
    runtimeRoot: options.runtimeRoot,
    cgroupParent: options.cgroupParent,
    netnsDir: options.network && !(options.network instanceof NetworkService) ? options.network.netnsDir : undefined,
  });
  checkSocketRoom(layout.runtimeRoot, options.runtimeRoot === undefined ? { flag: "--exec-root", value: layout.execRoot } : { flag: "runtimeRoot", value: layout.runtimeRoot });
  await mkdir(root, { recursive: true, mode: 0o711 });

  const pidFile = path.join(root, "cove.pid");
  await refuseLiveDaemon(pidFile, `another cove daemon (pid %d) is using the root ${root}`, "stop it first, or give this daemon another --root");
  // two daemons on one exec root would share namespaces and runtime state
  await refuseLiveDaemon(layout.pidFile, `another cove daemon (pid %d) is using the exec root ${layout.execRoot}`, "stop it first, or give this daemon its own --exec-root");
  // a socket passed by the service manager: adopted (checked, close-on-exec) before anything else
  let socket = path.resolve(options.socket);
  if (options.listenFd !== undefined) {
    try {
      socket = addon().adoptListener(options.listenFd) || socket;
    } catch (err) {
      throw invalid(`fd ${options.listenFd} is not a listening unix socket (${(err as Error).message})`, {
        code: "daemon.listen-fd",
        cause: err,
        hint: "start cove daemon -H fd:// from cove.socket (cove system install), or give it --socket PATH",
      });
    }
  } else await prepareSocket(socket);

  if (inUserNamespace()) {
    const choice = await probeStorage(root, options.storageDriver);
    setStorageDriver(choice);
    log(
      choice.driver === "fuse-overlayfs"
        ? `storage driver fuse-overlayfs (${choice.program ?? "fuse-overlayfs"}): ${choice.fallbackReason ? `the kernel refuses overlayfs in this user namespace: ${choice.fallbackReason}` : "as asked"}`
        : "storage driver overlay2: overlayfs mounted in the user namespace (userxattr)",
    );
  } else if (options.storageDriver === "fuse-overlayfs") {
    throw invalid("the fuse-overlayfs storage driver is for rootless daemons: a root daemon mounts overlayfs itself", { code: "storage.fuse-root", hint: "remove --storage-driver (or \"storage-driver\" in daemon.json)" });
  }
  // the account is resolved (and cove-remap made) before anything else is opened: a bad setting changes nothing
  const userns = options.usernsRemap && !options.containerService ? { ...usernsSettings(await resolveRemapAccount(options.usernsRemap), true), ...(options.usernsLayers ? { layers: options.usernsLayers } : {}) } : undefined;
  if (userns) log(`containers run in user namespaces: root is ${userns.remap!.uidMappings[0]!.hostID}:${userns.remap!.gidMappings[0]!.hostID} on the host (${userns.account}'s subordinate ids)`);
  const images = options.images ?? (await ImageService.open({ root, ...(options.registry ? { registry: options.registry } : {}) }));
  const events = options.events ?? new EventBus();
  const id = await daemonId(root);
  const volumes = options.containerService?.volumes ?? (await VolumeService.open({ root, events: (e) => events.publish({ Type: e.Type, Action: e.Action, Actor: e.Actor }) }));
  let network: NetworkService | undefined;
  if (options.network instanceof NetworkService) network = options.network;
  else if (options.network) {
    try {
      network = await NetworkService.open({
        ...options.network,
        root,
        netnsDir: layout.netnsDir,
        tag: options.network.tag ?? layout.tag,
        log: options.network.log ?? log,
        events: (e) => events.publish({ Type: e.Type, Action: e.Action, Actor: e.Actor, timeNano: BigInt(Date.now()) * 1_000_000n }),
      });
    } catch (err) {
      // a daemon refused at start leaves its exec root as it found it (an empty one goes)
      for (const dir of [layout.netnsDir, layout.execRoot]) await rmdir(dir).catch(() => undefined);
      throw err;
    }
  }
  const ownNetwork = network !== undefined && !(options.network instanceof NetworkService);
  const containers =
    options.containerService ??
    (await ContainerService.openInBackground({
      root,
      images,
      volumes,
      runtimeRoot: layout.runtimeRoot,
      cgroupParent: layout.cgroupParent,
      ...(options.cgroupless !== undefined ? { cgroupless: options.cgroupless } : {}),
      ...(network ? { network } : {}),
      ...(userns ? { userns } : {}),
      log,
      events: (e) => events.publish({ Type: e.Type, Action: e.Action, Actor: e.Actor, timeNano: e.timeNano }),
      ...(options.beforeReconcile ? { beforeReconcile: options.beforeReconcile } : {}),
    }));
  const ownContainers = options.containerService === undefined;
  // pods hook into the containers' starts and removals before the restore can start any
  const pods = new PodService({ root, containers, images, log, events: (e) => events.publish({ Type: e.Type, Action: e.Action, Actor: e.Actor }) });
  const router = new Router({ log, stateRoot: root });
  // The containers are restored in the background (thousands take seconds): meanwhile the daemon
  // answers what needs no container, and every other request waits for the restore, so no list or
  // inspect ever shows a half-restored state.
  const reconcileStart = Date.now();
  const reconciled = containers.reconciled;
  const usable = reconciled.catch((err: unknown) => {
    throw systemError(`cove could not restore its containers at start: ${err instanceof Error ? err.message : String(err)}`, { code: "daemon.restore", cause: err, hint: "see the daemon's log, and restart the daemon once the cause is fixed" });
  });
  void router.hold(usable, ["/_ping", "/version", "/info", "/events"]).then((waited) => {
    reconciled.then(
      () => log(`restored ${containers.size} containers in ${Date.now() - reconcileStart} ms${waited > 0 ? `; ${waited} requests waited for them` : ""}`),
      (err: unknown) => log(`restoring the containers failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
    );
  });
  // build containers a killed daemon left behind (their builds died with it) go once the
  // containers are restored (a /build route must wait for this before its first build)
  const leftoversRemoved = reconciled
    .then(async () => {
      const removed = await removeBuildLeftovers(containers);
      if (removed.length > 0) log(`removed ${removed.length} build containers a stopped daemon left: ${removed.join(", ")}`);
    })
    .catch((err: unknown) => log(`removing the build containers a stopped daemon left failed: ${err instanceof Error ? err.message : String(err)}`));
  let restoring = true;
  void reconciled.then(
    () => (restoring = false),
    () => (restoring = false),
  );
  const settings = { labels: options.labels ?? [], debug: options.debug ?? false, defaultRuntime: options.defaultRuntime ?? "cove" };
  if (ownContainers) containers.defaultRuntime = settings.defaultRuntime;
  systemRoutes(router, {
    settings: () => settings,
    root,
    id,
    images,
    events,
    containers: options.containers ?? (async () => countContainers(containers.statuses().map((State) => ({ State })))),
    restoring: () => (restoring ? containers.size : undefined),
    listContainers: ({ size }) => containers.list({ all: true, size }),
    volumes: () => volumes.df(),
    buildCache: () => CacheMounts.forRoot(containers.root).records(),
    usernsRemap: userns !== undefined,
    ...(options.cgroupless !== undefined ? { cgroupless: options.cgroupless } : {}),
  });
  volumeRoutes(router, { volumes });
  swarmRoutes(router);
  imageRoutes(router, { images, events, inUse: (imageId) => containers.imageInUse(imageId), log });
  const streams = containerRoutes(router, { containers, pods });
  podRoutes(router, { pods, containers });
  buildRoutes(router, { containers, images, leftoversRemoved, log });
  if (network) networkRoutes(router, { networks: network, containers });
  // without networking there are no custom networks, so a prune (docker system prune calls it) deletes none
  else router.post("/networks/prune", (c) => sendJSON(c.res, 200, { NetworksDeleted: null }));
  absentRoutes(router);
  const dns: NetworkDns | undefined = network ? await serveNetworkDns(network, { port: options.dnsPort ?? 53, log }) : undefined;

  const serve = (server: http.Server) => {
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => void router.handle(req, res));
    server.on("upgrade", (req: http.IncomingMessage, sock, head: Buffer) => void router.handleUpgrade(req, sock, head));
    applyLimits(server, options.limits);
    trackSockets(server);
    return server;
  };
  // No request timeout: loads and imports stream large bodies; event streams stay open. Slow
  // and idle clients are bounded by limits.ts.
  const unixServer = serve(http.createServer(serverOptions(options.limits)));
  const servers: http.Server[] = [unixServer];
  const cleanup = async () => {
    streams.close();
    for (const s of servers) await closeServer(s);
    // an activated socket stays: systemd keeps listening on it and starts the next daemon
    if (options.listenFd === undefined) {
      await unlink(socket).catch((err: unknown) => {
        if (!isErrno(err, "ENOENT")) ignored(`remove the API socket ${socket}`, err);
      });
    }
    if (ownContainers) await containers.close();
    await dns?.close();
    if (ownNetwork) network?.close();
  };
  try {
    if (options.listenFd !== undefined) {
      await listen(unixServer, { fd: options.listenFd });
    } else {
      await listen(unixServer, { path: socket });
      await chmod(socket, 0o660);
      await chown(socket, 0, gid ?? 0);
    }
  } catch (err) {
    await cleanup();
    throw fromErrno(err, `listening on ${socket}`);
  }

  let tcp: { host: string; port: number } | undefined;
  if (options.tcp) {
    const t = options.tcp;
    try {
      const [cert, key, ca] = await Promise.all([readFile(t.tlsCert), readFile(t.tlsKey), readFile(t.tlsCa)]);
      const server = serve(https.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, ...serverOptions(options.limits) }));
      servers.push(server);
      await listen(server, { host: t.host, port: t.port });
      const addr = server.address() as AddressInfo;
      tcp = { host: t.host, port: addr.port };
    } catch (err) {
      await cleanup();
      throw fromErrno(err, `listening on tcp://${t.host}:${t.port} with TLS`);
    }
  }

  await writeFileAtomic(pidFile, `${process.pid}\n`);
  await mkdir(layout.execRoot, { recursive: true, mode: 0o711 });
  await writeFileAtomic(layout.pidFile, `${process.pid}\n`);
  log(`listening on unix://${socket}${options.listenFd !== undefined ? ` (fd ${options.listenFd}, from the service manager)` : ""}${tcp ? ` and tcp://${tcp.host}:${tcp.port} (TLS, client certificates required)` : ""}, root ${root}, exec root ${layout.execRoot}`);

  let closing: Promise<void> | undefined;
  const daemon: Daemon = {
    root,
    socket,
    id,
    router,
    events,
    images,
    containers,
    pods,
    ...(network ? { network } : {}),
    reconciled,
    reload: (next) => {
      const changed: string[] = [];
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
      const registry = images.registryOptions;
      if (!same(registry.insecureRegistries ?? [], next.registry.insecureRegistries ?? [])) changed.push("insecure-registries");
      if (!same(registry.mirrors ?? [], next.registry.mirrors ?? [])) changed.push("registry-mirrors");
      images.setRegistryOptions(next.registry);
      const wanted = { labels: next.labels ?? [], debug: next.debug ?? false, defaultRuntime: next.defaultRuntime ?? "cove" };
      if (!same(settings.labels, wanted.labels)) changed.push("labels");
      if (settings.debug !== wanted.debug) changed.push("debug");
      if (settings.defaultRuntime !== wanted.defaultRuntime) changed.push("default-runtime");
      Object.assign(settings, wanted);
      containers.defaultRuntime = wanted.defaultRuntime;
      return changed;
    },
    close: () => {
      closing ??= (async () => {
        await cleanup();
        for (const file of [pidFile, layout.pidFile]) {
          try {
            if ((await readFile(file, "utf8")).trim() === String(process.pid)) await unlink(file);
          } catch (err) {
            if (!isErrno(err, "ENOENT")) ignored(`remove the pid file ${file}`, err); // else: already gone
          }
        }
        await removeEmptyExecRoot(layout);
      })();
      return closing;
    },
  };
  if (tcp) daemon.tcp = tcp;
  return daemon;
}

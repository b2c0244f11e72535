// The CRI server: runtime.v1's RuntimeService and ImageService over gRPC on a unix socket
// (/run/cove/cri.sock for the default daemon), so a kubelet or crictl uses the same images and
// containers as the Docker API.

import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { fromErrno, isErrno, unavailable } from "../common/errors.js";
import type { CniSettings, Daemon } from "../daemon/index.js";
import { ignored } from "../common/ignore.js";
import { span } from "../common/trace.js";
import { CriContainers } from "./containers.js";
import { ExecAndStats } from "./exec-stats.js";
import { imageHandlers } from "./images.js";
import { CriLogs } from "./logs.js";
import { DEFAULT_CNI_BIN_DIRS, DEFAULT_CNI_CONF_DIR, PodNetworks } from "./pod-network.js";
import { criServices } from "./proto.js";
import { runtimeHandlers, type RuntimeConfigState } from "./runtime.js";
import { Sandboxes } from "./sandboxes.js";
import { startCriStreaming, streamingHandlers } from "./streaming/index.js";

export interface CriSettings {
  socket: string;
  version: string;
  /** Where the server reports what it had to ignore; default stderr. */
  log?: (line: string) => void;
  /** The node's CNI network for pod sandboxes (default /etc/cni/net.d and /opt/cni/bin:/usr/lib/cni). */
  cni?: CniSettings;
}

export interface CriServer {
  socket: string;
  close(): Promise<void>;
}

/** Whether something answers on the unix socket at p. */
function answers(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Removes a socket a stopped daemon left; refuses one another process still serves. */
async function clearStaleSocket(p: string): Promise<void> {
  try {
    const st = await lstat(p);
    if (!st.isSocket()) throw unavailable(`${p} exists and is not a socket`, { code: "cri.socket", hint: "remove it, or give the CRI server another socket with --cri-socket" });
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  if (await answers(p)) throw unavailable(`another process serves the CRI socket ${p}`, { code: "cri.socket", hint: "stop it, or give this daemon another socket with --cri-socket" });
  await unlink(p);
}

/**
 * The handlers with each unary call timed as the phase "api CRI <method>" (COVE_TRACE, as the
 * Docker API's requests are), so a CRI call's container phases sit inside their request's window.
 */
export function timedCalls(service: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const def = service[name];
    if (!def || def.requestStream || def.responseStream) {
      out[name] = handler;
      continue;
    }
    const unaryHandler = handler as grpc.handleUnaryCall<unknown, unknown>;
    out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const end = span(`api CRI ${name}`);
      unaryHandler(call, (err, value, trailer, flags) => {
        end();
        callback(err, value, trailer, flags);
      });
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return out;
}

export async function startCriServer(daemon: Pick<Daemon, "images" | "containers" | "network" | "root" | "pods">, settings: CriSettings): Promise<CriServer> {
  const services = criServices();
  const server = new grpc.Server();
  const state: RuntimeConfigState = { podCidr: "" };
  const log = settings.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { containers, pods, images } = daemon;
  const logs = new CriLogs(containers, log);
  const network = daemon.network;
  const cni = new PodNetworks({ confDir: settings.cni?.confDir ?? DEFAULT_CNI_CONF_DIR, binDirs: settings.cni?.binDirs ?? DEFAULT_CNI_BIN_DIRS, stateDir: path.join(daemon.root, "cri", "cni"), log });
  // cove pins the namespaces the plugins join; a daemon without networking pins none
  const sandboxes = new Sandboxes({ pods, containers, cni, ...(network ? { netnsOf: (id: string) => network.sandbox(id)?.netns } : {}) });
  const criContainers = new CriContainers({ containers, pods, images, sandboxes, logs });
  const execStats = new ExecAndStats({ containers, criContainers, sandboxes, root: daemon.root, log });
  // exec, attach and port-forward: URLs of the streaming server (127.0.0.1, a free port, as containerd's)
  const streaming = await startCriStreaming(daemon, {
    log,
    resolveContainer: async (id) => (await criContainers.get(id)).inspect.Id,
    resolveSandbox: async (id) => (await sandboxes.get(id)).pod.Id,
  });
  server.addService(
    services.RuntimeService,
    timedCalls(services.RuntimeService, {
      ...runtimeHandlers({ version: settings.version, networkReady: () => daemon.network !== undefined, streamingUrl: () => streaming.url, podNetwork: () => cni.describe() }, state),
      ...sandboxes.handlers(),
      ...criContainers.handlers(),
      ...execStats.handlers(),
      ...streamingHandlers(streaming),
    }),
  );
  server.addService(
    services.ImageService,
    timedCalls(
      services.ImageService,
      imageHandlers({ images: daemon.images, root: daemon.root, inUse: (id) => {
          const user = daemon.containers.imageInUse(id);
          return user?.running ? user.id : undefined;
        },
      }),
    ),
  );
  const socket = path.resolve(settings.socket);
  try {
    await mkdir(path.dirname(socket), { recursive: true, mode: 0o711 });
    await clearStaleSocket(socket);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(fromErrno(err, `listening on the CRI socket ${socket}`)) : resolve())),
    );
    await chmod(socket, 0o660);
  } catch (err) {
    await streaming.close();
    throw err;
  }
  // the CRI logs of the containers a previous daemon ran go on from where their files end
  await pods.ready;
  await criContainers.resumeLogs().catch((err: unknown) => ignored("resume the CRI log writers", err, log));
  return {
    socket,
    close: async () => {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await streaming.close();
      await logs.closeAll();
      await unlink(socket).catch((err: unknown) => {
        if (!isErrno(err, "ENOENT")) throw err;
      });
    },
  };
}

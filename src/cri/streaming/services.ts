// What the streaming server needs of the engine (StreamingRuntime), and that interface over cove's
// container and pod services. The CRI layer passes the daemon's services in; tests may pass a
// recording fake.
//
// Port-forward connects inside the pod's network namespace, as containerd does: a socket is made
// in the namespace of the pod's infra process (the addon's netnsStreamSocket: setns on the calling
// thread, socket(), setns back; a socket keeps the namespace it was made in) and connected to
// 127.0.0.1:port (then [::1]:port) there. So a server that listens on the pod's loopback only is
// reached, and so is a pod without a bridge address (a daemon run with --no-network).

import net from "node:net";
import { conflict, fromErrno } from "../../common/errors.js";
import type { AttachSession, ContainerService, ExecSession } from "../../containers/index.js";
import { addon } from "../../native/addon.js";
import type { PodService } from "../../pods/index.js";

export interface StreamOptions {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** [rows, columns] the terminal starts with (a TTY exec whose client said its size in time). */
  consoleSize?: [number, number];
}

export interface StreamingRuntime {
  /** Throws NOT_FOUND (a CoveError of kind not-found) for a container the runtime does not know. */
  checkContainer(containerId: string): Promise<void>;
  /** Throws NOT_FOUND for a pod sandbox the runtime does not know. */
  checkSandbox(sandboxId: string): Promise<void>;
  /** Starts cmd in the running container; the session's exitCode says how it ended. */
  exec(containerId: string, cmd: string[], opts: StreamOptions): Promise<ExecSession>;
  /**
   * Attaches to the running container's main process; closeStdinAtEnd: the client's end of input
   * closes the process's stdin (a container made with StdinOnce), else it leaves it open.
   */
  attach(containerId: string, opts: StreamOptions): Promise<AttachSession & { closeStdinAtEnd?: boolean }>;
  /**
   * A connection to port on the pod's own network (its loopback included), made with
   * allowHalfOpen: each direction ends on its own.
   */
  portForward(sandboxId: string, port: number): Promise<net.Socket>;
}

export interface ContainerStreamingDeps {
  containers: ContainerService;
  pods: PodService;
  /**
   * The cove container a CRI container ID names (throwing NOT_FOUND for one the CRI does not
   * own); default: any container cove has, by ID, name or unique prefix.
   */
  resolveContainer?: (containerId: string) => Promise<string>;
  /** The cove pod a CRI sandbox ID names (NOT_FOUND for one the CRI does not own); default: any pod. */
  resolveSandbox?: (sandboxId: string) => Promise<string>;
}

const AF_INET = 2;
const AF_INET6 = 10;

/** Connects a socket made in the network namespace at nsPath to host:port. */
export function connectInNetns(nsPath: string, family: 4 | 6, port: number): Promise<net.Socket> {
  let fd: number;
  try {
    fd = addon().netnsStreamSocket(nsPath, family === 4 ? AF_INET : AF_INET6);
  } catch (err) {
    return Promise.reject(fromErrno(err, `making a socket in the network namespace ${nsPath}`));
  }
  const socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  return new Promise<net.Socket>((resolve, reject) => {
    const onError = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once("error", onError);
    socket.connect({ port, host: family === 4 ? "127.0.0.1" : "::1" }, () => {
      socket.off("error", onError);
      resolve(socket);
    });
  });
}

/** The streaming runtime over cove's container service (exec, attach) and pod service (port-forward). */
export function containerStreamingRuntime(deps: ContainerStreamingDeps): StreamingRuntime {
  const { containers, pods } = deps;
  const containerOf = deps.resolveContainer ?? (async (id: string) => (await containers.inspect(id)).Id);
  const podOf =
    deps.resolveSandbox ??
    (async (id: string) => {
      await pods.ready;
      return pods.find(id).Id;
    });
  const running = async (ref: string) => {
    const i = await containers.inspect(await containerOf(ref));
    if (!i.State.Running) throw conflict(`container ${i.Id} is not running (${i.State.Status})`, { code: "container.not-running", hint: "start it first" });
    return i;
  };
  const infraPid = async (sandboxId: string): Promise<number> => {
    const pod = pods.find(await podOf(sandboxId));
    const infra = await containers.inspect(pod.InfraContainerID);
    if (!infra.State.Running || !infra.State.Pid) throw conflict(`pod sandbox ${pod.Id} is not ready: its infra container is not running`, { code: "pod.not-running" });
    return infra.State.Pid;
  };
  return {
    checkContainer: async (id) => {
      await containerOf(id);
    },
    checkSandbox: async (id) => {
      await podOf(id);
    },
    exec: async (ref, cmd, o) => {
      const id = (await running(ref)).Id;
      const { Id } = await containers.execCreate(id, { Cmd: cmd, Tty: o.tty, AttachStdin: o.stdin, AttachStdout: o.stdout, AttachStderr: o.stderr, ...(o.consoleSize ? { ConsoleSize: o.consoleSize } : {}) });
      return containers.execStart(Id, {});
    },
    attach: async (ref, o) => {
      const i = await running(ref);
      const session = await containers.attach(i.Id, { stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, stream: true });
      return { ...session, closeStdinAtEnd: !!i.Config.StdinOnce };
    },
    portForward: async (sandboxId, port) => {
      const pid = await infraPid(sandboxId);
      const ns = `/proc/${pid}/ns/net`;
      try {
        return await connectInNetns(ns, 4, port);
      } catch (err4) {
        try {
          return await connectInNetns(ns, 6, port);
        } catch {
          // the IPv4 error says it best (a pod without IPv6 refuses the second try for its own reason)
          throw err4;
        }
      }
    },
  };
}

// The CRI's Exec, Attach and PortForward calls (RuntimeService): each checks its request as the
// kubelet's streaming server does (INVALID_ARGUMENT) and that the container or sandbox exists
// (NOT_FOUND), then answers with a single-use URL of the streaming server.

import * as grpc from "@grpc/grpc-js";
import { StatusError, unary } from "../status.js";
import type { StreamingServer } from "./server.js";

interface ExecRequestMsg {
  container_id?: string;
  cmd?: string[];
  tty?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

interface AttachRequestMsg {
  container_id?: string;
  tty?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

interface PortForwardRequestMsg {
  pod_sandbox_id?: string;
  port?: number[];
}

const bad = (message: string) => new StatusError(grpc.status.INVALID_ARGUMENT, message);

function checkStreams(r: ExecRequestMsg | AttachRequestMsg, conj: "or" | "and"): void {
  if (!r.container_id) throw bad("missing required container_id");
  if (r.tty && r.stderr) throw bad("tty and stderr cannot both be true");
  if (!r.stdin && !r.stdout && !r.stderr) throw bad(`one of stdin, stdout, ${conj} stderr must be set`);
}

/** The RuntimeService's Exec, Attach and PortForward handlers over a started streaming server. */
export function streamingHandlers(server: StreamingServer): grpc.UntypedServiceImplementation {
  const runtime = server.runtime;
  return {
    Exec: unary(async (r: ExecRequestMsg) => {
      checkStreams(r, "or");
      const cmd = r.cmd ?? [];
      if (cmd.length === 0) throw bad("cmd is empty: give the command to run");
      await runtime.checkContainer(r.container_id!);
      const opts = { tty: !!r.tty, stdin: !!r.stdin, stdout: !!r.stdout, stderr: !!r.stderr };
      return { url: server.urlFor({ kind: "exec", containerId: r.container_id!, cmd, opts }) };
    }),

    Attach: unary(async (r: AttachRequestMsg) => {
      checkStreams(r, "and");
      await runtime.checkContainer(r.container_id!);
      const opts = { tty: !!r.tty, stdin: !!r.stdin, stdout: !!r.stdout, stderr: !!r.stderr };
      return { url: server.urlFor({ kind: "attach", containerId: r.container_id!, opts }) };
    }),

    PortForward: unary(async (r: PortForwardRequestMsg) => {
      if (!r.pod_sandbox_id) throw bad("missing required pod_sandbox_id");
      const ports = r.port ?? [];
      const wrong = ports.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
      if (wrong !== undefined) throw bad(`port ${wrong} is not a port number (1 to 65535)`);
      await runtime.checkSandbox(r.pod_sandbox_id);
      return { url: server.urlFor({ kind: "portforward", sandboxId: r.pod_sandbox_id, ports }) };
    }),
  };
}

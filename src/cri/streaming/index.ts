// Public entry of the CRI streaming server: exec, attach and port-forward for kubelets and crictl
// over SPDY/3.1 (server.ts), the gRPC handlers that hand out its URLs (handlers.ts), and what it
// needs of the engine (services.ts).

import type { Daemon } from "../../daemon/index.js";
import { StreamingServer, type StreamingServerOptions } from "./server.js";
import { containerStreamingRuntime, type ContainerStreamingDeps } from "./services.js";

export { StreamingServer, STREAM_CREATION_TIMEOUT_MS, STREAM_IDLE_TIMEOUT_MS, type StreamingServerOptions, type StreamRequest } from "./server.js";
export { streamingHandlers } from "./handlers.js";
export { containerStreamingRuntime, connectInNetns, type StreamingRuntime, type StreamOptions, type ContainerStreamingDeps } from "./services.js";
export { SpdySession, SpdyStream, type SpdySessionOptions } from "./spdy.js";
export { HeaderCodec, headerValue, type SpdyHeaders } from "./frames.js";
export { REMOTE_COMMAND_PROTOCOLS, type K8sStatus } from "./remotecommand.js";
export { PORT_FORWARD_PROTOCOL } from "./portforward.js";

/**
 * Starts the streaming server over the daemon's containers and pods (127.0.0.1 and a free port
 * unless opts say otherwise). The CRI server serves streamingHandlers(server) in its
 * RuntimeService and closes the server when it closes.
 */
export function startCriStreaming(
  daemon: Pick<Daemon, "containers" | "pods">,
  opts: StreamingServerOptions & Pick<ContainerStreamingDeps, "resolveContainer" | "resolveSandbox"> = {},
): Promise<StreamingServer> {
  const { resolveContainer, resolveSandbox, ...serverOpts } = opts;
  const runtime = containerStreamingRuntime({ containers: daemon.containers, pods: daemon.pods, ...(resolveContainer ? { resolveContainer } : {}), ...(resolveSandbox ? { resolveSandbox } : {}) });
  return StreamingServer.start(runtime, serverOpts);
}

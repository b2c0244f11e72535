// Public entry of the CRI streaming server: exec, attach and port-forward for kubelets and crictl
// over SPDY/3.1 (server.ts), the gRPC handlers that hand out its URLs (handlers.ts), and what it
// needs of the engine (services.ts).

export { StreamingServer, STREAM_CREATION_TIMEOUT_MS, STREAM_IDLE_TIMEOUT_MS, type StreamingServerOptions, type StreamRequest } from "./server.js";
export { streamingHandlers } from "./handlers.js";
export { containerStreamingRuntime, connectInNetns, type StreamingRuntime, type StreamOptions, type ContainerStreamingDeps } from "./services.js";
export { SpdySession, SpdyStream, type SpdySessionOptions } from "./spdy.js";
export { HeaderCodec, headerValue, type SpdyHeaders } from "./frames.js";
export { REMOTE_COMMAND_PROTOCOLS, type K8sStatus } from "./remotecommand.js";
export { PORT_FORWARD_PROTOCOL } from "./portforward.js";

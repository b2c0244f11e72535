// The CRI's RuntimeService calls that concern the runtime as a whole: Version, Status and
// UpdateRuntimeConfig. Pod sandboxes (sandboxes.ts), containers (containers.ts), ExecSync and stats
// (exec-stats.ts) have their own modules; server.ts puts them together.

import type * as grpc from "@grpc/grpc-js";
import { unary } from "./status.js";

export const CRI_API_VERSION = "v1";

export interface RuntimeHandlerDeps {
  version: string;
  /** Whether containers get networking (a daemon started with --no-network gives them loopback only). */
  networkReady: () => boolean;
  /** The streaming server's base URL (Status's verbose config names it, as containerd's names its address and port). */
  streamingUrl?: () => string;
  /** What sandboxes join now (Status's verbose "cniconfig", as containerd's): the CNI network and where it was read, or cove's bridge. */
  podNetwork?: () => Promise<Record<string, unknown>>;
}

export interface RuntimeConfigState {
  /** The pod CIDR the kubelet last gave (UpdateRuntimeConfig), "" until then. */
  podCidr: string;
}

export function runtimeHandlers(deps: RuntimeHandlerDeps, state: RuntimeConfigState): grpc.UntypedServiceImplementation {
  return {
    Version: unary(async () => ({ version: "0.1.0", runtime_name: "cove", runtime_version: deps.version, runtime_api_version: CRI_API_VERSION })),

    Status: unary(async (req: { verbose?: boolean }) => {
      const net = deps.networkReady();
      const conditions = [
        { type: "RuntimeReady", status: true, reason: "", message: "" },
        net
          ? { type: "NetworkReady", status: true, reason: "", message: "" }
          : { type: "NetworkReady", status: false, reason: "NetworkDisabled", message: "the cove daemon runs with --no-network: pods get a loopback interface only" },
      ];
      const stream = deps.streamingUrl ? new URL(deps.streamingUrl()) : undefined;
      const config = { podCidr: state.podCidr, apiVersion: CRI_API_VERSION, ...(stream ? { streamServerAddress: stream.hostname, streamServerPort: stream.port } : {}) };
      const info: Record<string, string> = req.verbose ? { config: JSON.stringify(config), ...(deps.podNetwork ? { cniconfig: JSON.stringify(await deps.podNetwork()) } : {}) } : {};
      return { status: { conditions }, info };
    }),

    // cove writes its containers' cgroups through cgroupfs (as `docker info` says: CgroupDriver
    // cgroupfs): a kubelet must use the cgroupfs driver for the pod cgroups it makes
    RuntimeConfig: unary(async () => ({ linux: { cgroup_driver: "CGROUPFS" } })),

    UpdateRuntimeConfig: unary(async (req: { runtime_config?: { network_config?: { pod_cidr?: string } | null } | null }) => {
      const cidr = req.runtime_config?.network_config?.pod_cidr;
      if (cidr) state.podCidr = cidr;
      return {};
    }),
  };
}

// The CRI's pod sandboxes over cove's pods (src/pods): RunPodSandbox makes a pod (its infra
// container holds the network, IPC and UTS namespaces, joined to the node's CNI network when one
// is configured (pod-network.ts), else on the daemon's default bridge) and starts it, StopPodSandbox and RemovePodSandbox stop and remove it with its containers, and
// PodSandboxStatus and ListPodSandbox read it back. PodSandboxConfig maps onto the pod's spec as
// src/pods/types.ts documents it; the CRI's own facts (metadata, log directory, namespace modes)
// ride in one annotation of the pod (meta.ts).

import os from "node:os";
import * as grpc from "@grpc/grpc-js";
import { CoveError } from "../common/errors.js";
import type { ContainerService } from "../containers/index.js";
import type { PodRecord, PodService, PodSpec } from "../pods/index.js";
import type { PodNetworks, PodRuntimeConfig } from "./pod-network.js";
import { invalidArgument, matchesSelector, nanos, notFoundStatus, parseMeta, SANDBOX_ANNOTATION, userKeys, type NamespaceMode, type SandboxMeta } from "./meta.js";
import { StatusError, unary } from "./status.js";

export interface SandboxDeps {
  pods: PodService;
  containers: ContainerService;
  /** The node's CNI networks; absent: sandboxes go on cove's default bridge. */
  cni?: PodNetworks;
  /** The pinned network namespace of a running container, if cove made it. */
  netnsOf?: (containerId: string) => string | undefined;
}

interface PodSandboxMetadataMsg {
  name?: string;
  uid?: string;
  namespace?: string;
  attempt?: number;
}

interface NamespaceOptionMsg {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  target_id?: string;
}

export interface PodSandboxConfigMsg {
  metadata?: PodSandboxMetadataMsg | null;
  hostname?: string;
  log_directory?: string;
  dns_config?: { servers?: string[]; searches?: string[]; options?: string[] } | null;
  port_mappings?: { protocol?: string; container_port?: number; host_port?: number; host_ip?: string }[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroup_parent?: string;
    security_context?: { namespace_options?: NamespaceOptionMsg | null } | null;
    sysctls?: Record<string, string>;
  } | null;
}

/** A sandbox as the CRI server sees it: the pod's record and its CRI facts. */
export interface Sandbox {
  pod: PodRecord;
  meta: SandboxMeta;
}

/** The sandbox's pod name, as cri-dockerd names its sandbox container: k8s_POD_<name>_<namespace>_<uid>_<attempt>. */
export function sandboxName(m: { name: string; namespace: string; uid: string; attempt: number }): string {
  return `k8s_POD_${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

function nsMode(v: string | undefined): NamespaceMode {
  return v === "NODE" || v === "CONTAINER" || v === "TARGET" ? v : "POD";
}

/** The CRI's namespace modes of a sandbox: network and IPC default to the pod's, PID to each container's own. */
function namespaceModes(o: NamespaceOptionMsg | null | undefined): SandboxMeta["namespaces"] {
  return { network: nsMode(o?.network), pid: o?.pid === undefined ? "CONTAINER" : nsMode(o.pid), ipc: nsMode(o?.ipc) };
}

export class Sandboxes {
  constructor(private readonly deps: SandboxDeps) {}

  /** The sandbox by ID (or unique prefix), or undefined: a pod that is not the CRI's is none. */
  async lookup(ref: string): Promise<Sandbox | undefined> {
    if (!ref) throw invalidArgument("pod_sandbox_id is empty: give the sandbox's ID");
    let pod: PodRecord;
    try {
      await this.deps.pods.ready;
      pod = this.deps.pods.find(ref);
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return undefined;
      throw err;
    }
    if (pod.Id !== ref && !pod.Id.startsWith(ref)) return undefined; // found by name: the CRI speaks IDs only
    const meta = parseMeta<SandboxMeta>(pod.Annotations[SANDBOX_ANNOTATION]);
    return meta ? { pod, meta } : undefined;
  }

  async get(ref: string): Promise<Sandbox> {
    const s = await this.lookup(ref);
    if (!s) throw notFoundStatus(`an error occurred when try to find sandbox "${ref}": not found`);
    return s;
  }

  /** Every CRI sandbox. */
  async all(): Promise<Sandbox[]> {
    const out: Sandbox[] = [];
    for (const summary of await this.deps.pods.list()) {
      let pod: PodRecord;
      try {
        pod = this.deps.pods.find(summary.Id);
      } catch (err) {
        if (err instanceof CoveError && err.kind === "not-found") continue; // removed meanwhile
        throw err;
      }
      const m = parseMeta<SandboxMeta>(pod.Annotations[SANDBOX_ANNOTATION]);
      if (m) out.push({ pod, meta: m });
    }
    return out;
  }

  private async infraState(pod: PodRecord): Promise<{ running: boolean; pid: number; ip: string }> {
    try {
      const i = await this.deps.containers.inspect(pod.InfraContainerID);
      const ip = i.NetworkSettings?.IPAddress || Object.values(i.NetworkSettings?.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress || "";
      return { running: i.State.Running, pid: i.State.Pid, ip };
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return { running: false, pid: 0, ip: "" };
      throw err;
    }
  }

  async run(req: { config?: PodSandboxConfigMsg | null; runtime_handler?: string }): Promise<{ pod_sandbox_id: string }> {
    const config = req.config;
    if (!config) throw invalidArgument("RunPodSandbox: config is missing");
    const md = config.metadata;
    if (!md) throw invalidArgument("sandbox config must include metadata");
    if (!md.name) throw invalidArgument("sandbox config must include metadata.name");
    const handler = req.runtime_handler ?? "";
    const runtimes = this.deps.containers.runtimes;
    // NOT_FOUND (containerd 1.6 answers UNKNOWN, "no runtime for ... is configured"); "" is the default runtime
    if (handler !== "" && !runtimes.has(handler)) {
      throw new StatusError(grpc.status.NOT_FOUND, `no runtime for "${handler}" is configured: cove's runtime handlers are "" (the default)${[...runtimes.keys()].map((r) => `, "${r}"`).join("")}`);
    }
    const metadata = { name: md.name, uid: md.uid ?? "", namespace: md.namespace ?? "", attempt: md.attempt ?? 0 };
    const name = sandboxName(metadata);
    // ALREADY_EXISTS (containerd 1.6 answers UNKNOWN, "failed to reserve sandbox name")
    if (await this.deps.pods.exists(name)) {
      throw new StatusError(grpc.status.ALREADY_EXISTS, `failed to reserve sandbox name "${name}": a sandbox with the same name, namespace, uid and attempt exists (${this.deps.pods.find(name).Id})`);
    }
    const namespaces = namespaceModes(config.linux?.security_context?.namespace_options);
    if (namespaces.network === "TARGET" || namespaces.ipc === "TARGET" || namespaces.pid === "TARGET") throw invalidArgument("a sandbox's namespaces cannot target a container: TARGET is for containers only");
    // a pod network of its own joins the node's CNI network if one is configured (and cove
    // pins namespaces: not with --no-network)
    const cniNetwork = namespaces.network === "POD" && this.deps.netnsOf ? await this.deps.cni?.current() : undefined;
    const meta: SandboxMeta = {
      metadata,
      logDirectory: config.log_directory ?? "",
      runtimeHandler: handler,
      runtime: handler,
      namespaces,
      createdNs: String(BigInt(Date.now()) * 1_000_000n),
      ...(cniNetwork ? { cniNetwork: cniNetwork.name } : {}),
    };
    const annotations = userKeys(config.annotations);
    // a host port 0 publishes nothing (the CNI portmap plugin skips it)
    const ports = (config.port_mappings ?? []).filter((p) => (p.host_port ?? 0) > 0);
    const spec: PodSpec = {
      name,
      infra_name: name,
      // the kubelet sets the pod's hostname; without one, the node's (as containerd does)
      hostname: config.hostname || os.hostname(),
      labels: userKeys(config.labels),
      annotations: { ...annotations, [SANDBOX_ANNOTATION]: JSON.stringify(meta) },
      shared_namespaces: ["net", "ipc", "uts", ...(namespaces.pid === "POD" ? ["pid"] : [])],
      // on a CNI network the infra's namespace starts with loopback only, and the plugins do the rest
      ...(namespaces.network === "NODE" ? { netns: { nsmode: "host" } } : cniNetwork ? { netns: { nsmode: "none" } } : {}),
      ...(namespaces.pid === "NODE" ? { pidns: { nsmode: "host" } } : {}),
      ...(namespaces.ipc === "NODE" ? { ipcns: { nsmode: "host" } } : {}),
      // published by cove on its bridge; on a CNI network, by the plugins that take portMappings
      portmappings: cniNetwork ? [] : ports.map((p) => ({ container_port: p.container_port ?? 0, host_port: p.host_port ?? 0, host_ip: p.host_ip ?? "", protocol: (p.protocol ?? "TCP").toLowerCase() })),
      dns_server: config.dns_config?.servers ?? [],
      dns_search: config.dns_config?.searches ?? [],
      dns_option: config.dns_config?.options ?? [],
      ...(config.linux?.cgroup_parent ? { cgroup_parent: config.linux.cgroup_parent } : {}),
      ...(Object.keys(config.linux?.sysctls ?? {}).length ? { sysctl: { ...config.linux!.sysctls } } : {}),
    };
    const { Id } = await this.deps.pods.create(spec);
    try {
      await this.deps.pods.start(Id);
      if (cniNetwork) {
        const infraId = this.deps.pods.find(Id).InfraContainerID;
        const netns = this.deps.netnsOf?.(infraId);
        if (!netns) throw new CoveError("system", `RunPodSandbox: the sandbox's network namespace was not made (infra container ${infraId})`, { code: "cri.cni" });
        const runtimeConfig: PodRuntimeConfig = {
          portMappings: ports.map((p) => ({ hostPort: p.host_port ?? 0, containerPort: p.container_port ?? 0, protocol: (p.protocol ?? "TCP").toLowerCase(), hostIP: p.host_ip ?? "" })),
          ...(config.dns_config ? { dns: { servers: config.dns_config.servers ?? [], searches: config.dns_config.searches ?? [], options: config.dns_config.options ?? [] } } : {}),
        };
        await this.deps.cni!.add(Id, cniNetwork, netns, metadata, runtimeConfig);
      }
    } catch (err) {
      // a sandbox whose infra did not start, or whose network set-up failed, leaves nothing behind
      await this.deps.pods.remove(Id, { force: true }).catch((e: unknown) => {
        if (!(e instanceof CoveError && e.kind === "not-found")) throw new CoveError("system", `RunPodSandbox: the sandbox ${Id} did not start (${(err as Error).message}) and removing it failed too: ${(e as Error).message}`, { cause: e });
      });
      throw err;
    }
    return { pod_sandbox_id: Id };
  }

  /** Stops the sandbox's containers (at once, as containerd does: the kubelet stopped them with their grace period already) and its infra. */
  async stop(req: { pod_sandbox_id?: string }): Promise<object> {
    const s = await this.lookup(req.pod_sandbox_id ?? "");
    // stopping a sandbox that is gone is done: the kubelet retries stops
    if (!s) return {};
    // off the network while its namespace still exists (the kubelet has stopped the containers)
    await this.deps.cni?.remove(s.pod.Id);
    try {
      await this.deps.pods.stop(s.pod.Id, { timeout: 0 });
    } catch (err) {
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    return {};
  }

  async remove(req: { pod_sandbox_id?: string }): Promise<object> {
    const s = await this.lookup(req.pod_sandbox_id ?? "");
    if (!s) return {};
    await this.deps.cni?.remove(s.pod.Id);
    try {
      await this.deps.pods.remove(s.pod.Id, { force: true });
    } catch (err) {
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    return {};
  }

  /** runtime.v1.PodSandboxStatus of a sandbox. */
  async statusOf(s: Sandbox): Promise<{ status: Record<string, unknown>; pid: number }> {
    const infra = await this.infraState(s.pod);
    const m = s.meta;
    const [ip = "", ...more] = !infra.running || m.namespaces.network === "NODE" ? [] : m.cniNetwork && this.deps.cni ? await this.deps.cni.addresses(s.pod.Id) : [infra.ip];
    return {
      pid: infra.pid,
      status: {
        id: s.pod.Id,
        metadata: m.metadata,
        state: infra.running ? "SANDBOX_READY" : "SANDBOX_NOTREADY",
        created_at: m.createdNs || nanos(s.pod.Created),
        network: { ip, additional_ips: more.map((a) => ({ ip: a })) },
        linux: { namespaces: { options: { network: m.namespaces.network, pid: m.namespaces.pid, ipc: m.namespaces.ipc, target_id: "" } } },
        labels: userKeys(s.pod.Labels),
        annotations: userKeys(s.pod.Annotations),
        runtime_handler: m.runtimeHandler,
      },
    };
  }

  handlers(): grpc.UntypedServiceImplementation {
    return {
      RunPodSandbox: unary((req: { config?: PodSandboxConfigMsg | null; runtime_handler?: string }) => this.run(req)),
      StopPodSandbox: unary((req: { pod_sandbox_id?: string }) => this.stop(req)),
      RemovePodSandbox: unary((req: { pod_sandbox_id?: string }) => this.remove(req)),
      PodSandboxStatus: unary(async (req: { pod_sandbox_id?: string; verbose?: boolean }) => {
        const s = await this.get(req.pod_sandbox_id ?? "");
        const { status, pid } = await this.statusOf(s);
        const info: Record<string, string> = req.verbose
          ? { info: JSON.stringify({ pid, image: s.pod.InfraImage, infraContainerID: s.pod.InfraContainerID, podName: s.pod.Name, runtimeHandler: s.meta.runtimeHandler, config: { hostname: s.pod.Hostname, logDirectory: s.meta.logDirectory, cgroupParent: s.pod.CgroupParent, sysctls: s.pod.Sysctls, dns: { servers: s.pod.DNSServer, searches: s.pod.DNSSearch, options: s.pod.DNSOption }, portMappings: s.pod.PortMappings } }) }
          : {};
        return { status, info, containers_statuses: [], timestamp: "0" };
      }),
      ListPodSandbox: unary(async (req: { filter?: { id?: string; state?: { state?: string } | null; label_selector?: Record<string, string> } | null }) => {
        const f = req.filter;
        const out: Record<string, unknown>[] = [];
        for (const s of await this.all()) {
          if (f?.id && !s.pod.Id.startsWith(f.id)) continue;
          if (!matchesSelector(s.pod.Labels, f?.label_selector)) continue;
          const { status } = await this.statusOf(s);
          if (f?.state && status.state !== (f.state.state ?? "SANDBOX_READY")) continue;
          out.push({ id: status.id, metadata: status.metadata, state: status.state, created_at: status.created_at, labels: status.labels, annotations: status.annotations, runtime_handler: status.runtime_handler });
        }
        return { items: out };
      }),
    };
  }
}

// The pod's shapes: the create request (podman's PodSpecGenerator, the body of POST
// /libpod/pods/create, in the subset cove serves), the record kept in the state root, and what
// inspect and list answer (podman's InspectPodData and ListPodsReport), so clients that know
// podman's pod API read cove's the same way.

/** The namespaces a pod's members may share with its infra container. */
export const SHAREABLE_NAMESPACES = ["net", "ipc", "uts", "pid"] as const;
export type SharedNamespace = (typeof SHAREABLE_NAMESPACES)[number];
/** podman's default --share (cove's pods have no pod cgroup: see PodRecord.CgroupParent). */
export const DEFAULT_SHARE: SharedNamespace[] = ["net", "ipc", "uts"];

/** A published port of the pod (podman's types.PortMapping; the CRI's PortMapping maps onto it). */
export interface PodPortMapping {
  container_port: number;
  /** 0 or absent: a free port the daemon picks. */
  host_port?: number;
  host_ip?: string;
  /** tcp (default), udp or sctp. */
  protocol?: string;
  /** How many consecutive ports from container_port and host_port (default 1). */
  range?: number;
}

/** A namespace choice as podman's specgen.Namespace: nsmode host, private, bridge or none. */
export interface NamespaceChoice {
  nsmode: string;
  value?: string;
}

/**
 * POST /cove/pods/create's body: podman's PodSpecGenerator fields that cove serves. The CRI's
 * PodSandboxConfig maps onto it field by field: metadata.name → name, hostname → hostname,
 * dns_config → dns_server/dns_search/dns_option, port_mappings → portmappings, labels and
 * annotations → labels and annotations, linux.cgroup_parent → cgroup_parent, linux.sysctls →
 * sysctl; the security context's namespace options: network NODE → netns host, pid NODE →
 * pidns host, ipc NODE → ipcns host, pid POD (shareProcessNamespace) → "pid" in
 * shared_namespaces, CONTAINER → the member keeps its own (the pod shares net, ipc and uts).
 */
export interface PodSpec {
  name?: string;
  /** Default: the pod's name. Members share it through the UTS namespace. */
  hostname?: string;
  labels?: Record<string, string>;
  /** Free-form metadata kept with the pod (the CRI's sandbox annotations). */
  annotations?: Record<string, string>;
  /** cove's pods always have an infra container: true is refused. */
  no_infra?: boolean;
  /** Default: cove's own pause image, made from build/cove-pause on first use. */
  infra_image?: string;
  infra_command?: string[];
  /** Default: the first 12 hex digits of the pod's ID followed by "-infra". */
  infra_name?: string;
  /** What members share with the infra: net, ipc, uts, pid (default net, ipc, uts). */
  shared_namespaces?: string[];
  /** The pod's network namespace: bridge (default; the networks of `Networks`), host or none. */
  netns?: NamespaceChoice;
  /** The networks the pod joins (its infra container's endpoints), by name. */
  Networks?: Record<string, { aliases?: string[] } | null>;
  portmappings?: PodPortMapping[];
  dns_server?: string[];
  dns_search?: string[];
  dns_option?: string[];
  /** Extra /etc/hosts lines, "name:ip". */
  hostadd?: string[];
  /** The cgroup parent of the infra and every member (the CRI's cgroup_parent, the kubelet's pod cgroup). */
  cgroup_parent?: string;
  /** Namespaced sysctls set in the pod's namespaces (net.*, kernel.shm*...). */
  sysctl?: Record<string, string>;
  /** The PID and IPC namespaces of the pod: private (default) or host (the CRI's NODE mode). */
  pidns?: NamespaceChoice;
  ipcns?: NamespaceChoice;
  pod_create_command?: string[];
}

/** What <root>/pods/<id>/pod.json holds. */
export interface PodRecord {
  Id: string;
  Name: string;
  Created: string;
  Hostname: string;
  Labels: Record<string, string>;
  Annotations: Record<string, string>;
  SharedNamespaces: SharedNamespace[];
  /** "" for the daemon's; else every container of the pod is under it. */
  CgroupParent: string;
  InfraContainerID: string;
  InfraImage: string;
  InfraCommand: string[];
  /** The infra's network mode: bridge, a network's name, host or none. */
  NetworkMode: string;
  Networks: string[];
  /** The infra's network-scoped aliases (names other containers of a network reach the pod by), by network. */
  NetworkAliases?: Record<string, string[]>;
  PortMappings: PodPortMapping[];
  DNSServer: string[];
  DNSSearch: string[];
  DNSOption: string[];
  HostAdd: string[];
  Sysctls: Record<string, string>;
  PidNS: "private" | "host";
  IpcNS: "private" | "host";
  CreateCommand: string[];
}

/** podman's pod states (libpod/define/podstate.go). */
export type PodState = "Created" | "Running" | "Degraded" | "Paused" | "Stopped" | "Exited" | "Error";

/** podman's InspectPodContainerInfo. */
export interface PodContainerInfo {
  Id: string;
  Name: string;
  State: string;
}

/** podman's InspectHostPort. */
export interface PodHostPort {
  HostIp: string;
  HostPort: string;
}

/** GET /cove/pods/{name}/json: podman's InspectPodData. */
export interface PodInspect {
  Id: string;
  Name: string;
  Created: string;
  CreateCommand?: string[];
  State: PodState;
  Hostname: string;
  Labels: Record<string, string>;
  Annotations: Record<string, string>;
  CreateCgroup: boolean;
  CgroupParent?: string;
  CreateInfra: boolean;
  InfraContainerID: string;
  InfraConfig: {
    PortBindings: Record<string, PodHostPort[]>;
    HostNetwork: boolean;
    DNSServer: string[];
    DNSSearch: string[];
    DNSOption: string[];
    HostAdd: string[];
    Networks: string[];
    pid_ns: string;
    ipc_ns: string;
    InfraImage: string;
    InfraCommand: string[];
    Sysctls: Record<string, string>;
  };
  SharedNamespaces: SharedNamespace[];
  NumContainers: number;
  Containers: PodContainerInfo[];
}

/** GET /cove/pods/json: podman's ListPodsReport. */
export interface PodSummary {
  Cgroup: string;
  Containers: { Id: string; Names: string; Status: string; RestartCount: number }[];
  Created: string;
  Id: string;
  InfraId: string;
  Name: string;
  Namespace: string;
  Networks: string[];
  Status: PodState;
  Labels: Record<string, string>;
}

/** What a pod operation on many containers reports (podman's PodStartReport and the like). */
export interface PodActionReport {
  Id: string;
  /** One line per container the action failed on. */
  Errs: string[];
}

/** One line of `pod logs`: the container it came from, its stream, time and text. */
export interface PodLogEntry {
  container: string;
  containerId: string;
  stream: "stdout" | "stderr";
  time: string;
  line: Buffer;
}

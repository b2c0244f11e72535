// The shapes of kube play's plan: what the planner (play.ts) gives the CLI (src/cli/kube.ts) to
// carry out, and the labels that mark what a play made.

import type { CreateBody } from "../docker/index.js";
import type { PodSpec } from "../pods/index.js";

export type Json = Record<string, unknown>;

/** The labels kube play puts on what it makes: how a re-play and kube down find it. */
export const KUBE_LABEL = {
  /** The object's namespace ("default" when the file gives none). */
  namespace: "io.cove.kube.namespace",
  /** The workload that owns a pod: Kind/name (Pod/web, Deployment/web...). */
  owner: "io.cove.kube.owner",
  /** The hash of the pod's configuration: a re-play keeps the pods whose hash is unchanged. */
  hash: "io.cove.kube.hash",
  /** The replica's index within its workload. */
  replica: "io.cove.kube.replica",
  /** The pod a container or per-pod volume belongs to. */
  pod: "io.cove.kube.pod",
  /** A container's name in the YAML. */
  container: "io.cove.kube.container",
  /** "true" on init containers. */
  init: "io.cove.kube.init",
  /** A container's readiness probe, as JSON (the command run by `kube play --wait`). */
  readiness: "io.cove.kube.readiness",
  /** On a volume: pvc (a claim's, kept unless kube down --force) or pod (a pod's own: emptyDir, configMap, secret). */
  volume: "io.cove.kube.volume",
  /** On the network kube play created. */
  network: "io.cove.kube.network",
} as const;

/** The network kube play puts pods on unless told otherwise (podman's podman-default-kube-network). */
export const DEFAULT_KUBE_NETWORK = "cove-kube";

export interface PlayOptions {
  /** The network the pods join (default cove-kube). */
  network?: string;
}

/** A file put into a configMap or secret volume. */
export interface PlannedFile {
  path: string;
  mode: number;
  data: Buffer;
}

export interface PlannedVolume {
  name: string;
  /** pvc: a claim's named volume (shared, kept by kube down without --force); pod: one pod's own. */
  scope: "pvc" | "pod";
  labels: Record<string, string>;
  driverOpts?: Record<string, string>;
  /** What a configMap or secret volume holds, written before the pod's containers start. */
  files?: PlannedFile[];
}

/** A hostPath volume's path and type, checked (or created) on the host before anything is made. */
export interface HostPathCheck {
  path: string;
  type: string;
  field: string;
}

export interface PlannedContainer {
  /** The container's name in cove: <pod>-<name>. */
  name: string;
  /** Its name in the YAML. */
  kubeName: string;
  init: boolean;
  body: CreateBody;
  /** The readiness probe's test (Docker's healthcheck Test form), run by kube play --wait. */
  readiness?: { test: string[]; periodMs: number };
  /** Env values (NAME=) waiting for the pod's IP (fieldRef status.podIP), set once the pod's network is up. */
  podIpEnv: string[];
}

export interface PlannedPod {
  name: string;
  namespace: string;
  /** Kind/name of the workload. */
  owner: string;
  replica: number;
  hash: string;
  spec: PodSpec;
  init: PlannedContainer[];
  containers: PlannedContainer[];
  /** Volumes of this pod alone (emptyDir, configMap, secret), made with it and removed with it. */
  volumes: PlannedVolume[];
  /** Named volumes of claims the pod mounts. */
  claims: string[];
  hostPaths: HostPathCheck[];
  images: string[];
  /** Whether the pod publishes fixed host ports (its replacement cannot start beside it). */
  fixedPorts: boolean;
}

export interface JobSettings {
  completions: number;
  parallelism: number;
  backoffLimit: number;
  /** The pod's restartPolicy: OnFailure retries in the pod (the container's restart policy), Never with new pods. */
  restartPolicy: "OnFailure" | "Never";
}

export interface PlannedWorkload {
  kind: string;
  name: string;
  namespace: string;
  /** Kind/name, the owner label's value. */
  owner: string;
  /** The pods wanted, in replica order (a Job's: one template, run as its settings say). */
  pods: PlannedPod[];
  /** rolling: new pod up before an old goes (Deployment, ReplicaSet, DaemonSet); ordered: replaced in place, highest first (StatefulSet, Pod). */
  update: "rolling" | "ordered" | "job";
  job?: JobSettings;
}

export interface Plan {
  network: string;
  workloads: PlannedWorkload[];
  /** Named volumes of PersistentVolumeClaims (those of the file and those pods claim without one). */
  volumes: PlannedVolume[];
  /** CronJobs recorded, not scheduled. */
  cronJobs: string[];
  namespaces: string[];
  warnings: string[];
}

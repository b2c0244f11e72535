// What the CRI server records on cove's pods and containers to serve them again as sandboxes and
// CRI containers: one annotation on the pod and one label on each container hold the CRI's own
// facts (metadata, log paths, namespace options), so the pod service and the container service
// stay the only state, a daemon restart finds everything back, and `docker ps` / `cove pod ls`
// show the same objects. Objects without the mark (made through the Docker API or `cove pod`)
// are not the kubelet's: the CRI lists none of them, as containerd lists only its own.

import * as grpc from "@grpc/grpc-js";
import { timeNanos } from "../containers/index.js";
import { StatusError } from "./status.js";

/** The pod annotation holding a sandbox's CRI facts (JSON of SandboxMeta). */
export const SANDBOX_ANNOTATION = "io.cove.cri.sandbox";
/** The container label holding a CRI container's facts (JSON of ContainerMeta). */
export const CONTAINER_LABEL = "io.cove.cri.container";

export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";

export interface CriMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface SandboxMeta {
  metadata: CriMetadata;
  logDirectory: string;
  runtimeHandler: string;
  /** The runtime its containers run on ("" for the daemon's default): the handler's name, cove's runtimes being its handlers. */
  runtime: string;
  namespaces: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode };
  /** Creation time in ns (the pod record keeps milliseconds only). */
  createdNs: string;
  /** The CNI network the sandbox joined (pod-network.ts), absent for one on cove's bridge. */
  cniNetwork?: string;
}

export interface ContainerMeta {
  metadata: { name: string; attempt: number };
  sandboxId: string;
  /** The image as the caller named it. */
  image: string;
  /** The CRI log file (the sandbox's log directory joined with the config's log_path), "" for none. */
  logPath: string;
}

export function parseMeta<T>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined; // not written by this server: not a CRI object
    throw err;
  }
}

/** The labels or annotations without cove's own keys (io.cove.*), as the caller gave them. */
export function userKeys(map: Record<string, string> | undefined | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map ?? {})) if (!k.startsWith("io.cove.")) out[k] = v;
  return out;
}

/** An RFC 3339 time as unix nanoseconds in a string (proto-loader's int64); "0" for Docker's zero time. */
export function nanos(iso: string | undefined): string {
  if (!iso || iso.startsWith("0001-01-01")) return "0";
  return String(timeNanos(iso));
}

export function nowNanos(): string {
  return String(BigInt(Date.now()) * 1_000_000n);
}

/** Whether every key=value of the selector is in the labels (the CRI's label_selector). */
export function matchesSelector(labels: Record<string, string>, selector: Record<string, string> | undefined | null): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}

export function notFoundStatus(message: string): StatusError {
  return new StatusError(grpc.status.NOT_FOUND, message);
}

export function invalidArgument(message: string): StatusError {
  return new StatusError(grpc.status.INVALID_ARGUMENT, message);
}

/** The CRI's int64 fields as numbers (proto-loader gives strings); 0 when absent. */
export function int(v: string | number | undefined | null): number {
  if (v === undefined || v === null || v === "") return 0;
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalidArgument(`invalid number ${String(v)}`);
  return n;
}

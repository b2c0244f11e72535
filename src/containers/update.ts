// `docker update`: the resources and restart policy of a container changed after create, with
// dockerd's rules. A field is changed only when the request gives it a non-zero value (as moby's
// container.UpdateContainer); the result is checked with the same rules as create, plus the
// update-only ones (memory against the swap already set, reservation against the limit), before
// anything is applied or written.

import { conflict, invalid } from "../common/errors.js";
import { resourcesOf } from "./spec.js";
import type { HostConfig } from "./types.js";

/** The resource fields of HostConfig that update may change (moby's container.Resources). */
const RESOURCE_FIELDS = [
  "CpuShares",
  "Memory",
  "NanoCpus",
  "CgroupParent",
  "BlkioWeight",
  "BlkioWeightDevice",
  "BlkioDeviceReadBps",
  "BlkioDeviceWriteBps",
  "BlkioDeviceReadIOps",
  "BlkioDeviceWriteIOps",
  "CpuPeriod",
  "CpuQuota",
  "CpuRealtimePeriod",
  "CpuRealtimeRuntime",
  "CpusetCpus",
  "CpusetMems",
  "Devices",
  "DeviceCgroupRules",
  "DeviceRequests",
  "KernelMemory",
  "KernelMemoryTCP",
  "MemoryReservation",
  "MemorySwap",
  "MemorySwappiness",
  "OomKillDisable",
  "PidsLimit",
  "Ulimits",
  "CpuCount",
  "CpuPercent",
  "IOMaximumIOps",
  "IOMaximumBandwidth",
] as const;

/** Fields dockerd refuses to change on a live container (they only take effect at create). */
const NOT_UPDATABLE = ["CgroupParent", "Devices", "DeviceCgroupRules", "DeviceRequests", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth"] as const;

export interface UpdateBody {
  RestartPolicy?: { Name?: string; MaximumRetryCount?: number };
  [field: string]: unknown;
}

export interface UpdatePlan {
  hostConfig: HostConfig;
  warnings: string[];
  /** Whether any resource changed (the cgroup must be written). */
  resourcesChanged: boolean;
}

function nonZero(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === "" || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

/** Computes the new HostConfig for an update, or throws dockerd's error; changes nothing itself. */
export function planUpdate(current: HostConfig, body: UpdateBody, id: string): UpdatePlan {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw invalid("update body must be a JSON object", { code: "container.update" });
  const hc: HostConfig = structuredClone(current);
  const cur = current as Record<string, unknown>;
  const next = hc as Record<string, unknown>;
  const warnings: string[] = [];
  let resourcesChanged = false;
  for (const f of NOT_UPDATABLE) {
    if (nonZero(body[f]) && JSON.stringify(body[f]) !== JSON.stringify(cur[f] ?? null)) {
      throw invalid(`Cannot update container ${id}: ${f} cannot be updated`, { code: "container.update", field: f });
    }
  }
  for (const f of RESOURCE_FIELDS) {
    if (NOT_UPDATABLE.includes(f as (typeof NOT_UPDATABLE)[number])) continue;
    const v = body[f];
    if (f === "MemorySwappiness" ? v === undefined || v === null || v === -1 : !nonZero(v)) continue;
    if (f === "KernelMemory" || f === "KernelMemoryTCP") {
      warnings.push("Specifying a kernel memory limit is deprecated and will be removed in a future release.");
      continue; // not applied: kernel memory accounting has no separate limit on current kernels
    }
    next[f] = v;
    resourcesChanged = true;
  }
  const mem = (body.Memory as number | undefined) ?? 0;
  const swap = (body.MemorySwap as number | undefined) ?? 0;
  if (mem > 0 && swap === 0 && (current.MemorySwap ?? 0) > 0 && mem > (current.MemorySwap ?? 0)) {
    throw invalid(`Cannot update container ${id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time`, {
      code: "container.update",
      field: "Memory",
    });
  }
  if (nonZero(body.NanoCpus) && (nonZero(current.CpuQuota) || nonZero(current.CpuPeriod)) && !nonZero(body.CpuQuota) && !nonZero(body.CpuPeriod)) {
    throw invalid("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set", { code: "container.update", field: "NanoCpus" });
  }
  if ((nonZero(body.CpuQuota) || nonZero(body.CpuPeriod)) && nonZero(current.NanoCpus) && !nonZero(body.NanoCpus)) {
    throw invalid("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set", { code: "container.update", field: "CpuQuota" });
  }
  if (nonZero(body.NanoCpus)) {
    // NanoCpus replaces a quota/period set before (and the reverse)
    if (!nonZero(body.CpuQuota)) next.CpuQuota = 0;
    if (!nonZero(body.CpuPeriod)) next.CpuPeriod = 0;
  }
  if (hc.Memory && hc.MemoryReservation && hc.Memory < hc.MemoryReservation) {
    throw invalid("Minimum memory limit can not be less than memory reservation limit, see usage", { code: "container.update", field: "MemoryReservation" });
  }
  if (nonZero(body.MemorySwap) && !hc.Memory && (body.MemorySwap as number) > 0) {
    throw invalid("You should always set the Memory limit when using Memoryswap limit", { code: "container.update", field: "MemorySwap" });
  }
  // the create-time rules (6MB minimum, swap ≥ memory, swappiness range, block devices)
  resourcesOf(hc);
  const rp = body.RestartPolicy;
  if (rp && (rp.Name !== undefined || rp.MaximumRetryCount !== undefined)) {
    const name = rp.Name || "no";
    if (!["no", "always", "unless-stopped", "on-failure"].includes(name)) throw invalid(`invalid restart policy '${name}'`, { code: "container.restart-policy" });
    const count = rp.MaximumRetryCount ?? 0;
    if (count < 0) throw invalid("invalid restart policy: maximum retry count cannot be negative", { code: "container.restart-policy" });
    if (count > 0 && name !== "on-failure") throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`, { code: "container.restart-policy" });
    // dockerd: a conflict with the container's own settings (409), named after the container
    if (current.AutoRemove && name !== "no") {
      throw conflict(`Cannot update container ${id}: Restart policy cannot be updated because AutoRemove is enabled for the container`, { code: "container.restart-policy" });
    }
    hc.RestartPolicy = { Name: name as NonNullable<HostConfig["RestartPolicy"]>["Name"], MaximumRetryCount: count };
  }
  return { hostConfig: hc, warnings, resourcesChanged };
}

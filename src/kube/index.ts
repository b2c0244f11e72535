// Public entry of cove's Kubernetes layer, on top of pods: kube generate (generate.ts) and kube
// play's planner (play.ts, with pod.ts, fields.ts and plan-types.ts); the CRI server builds on the same pods.

export { generateKube, kubePod, dnsLabel, dnsSubdomain } from "./generate.js";
export { planKube } from "./play.js";
export { selectorMatches, expandVars, type LabelSelector } from "./fields.js";
export {
  KUBE_LABEL,
  DEFAULT_KUBE_NETWORK,
  type Plan,
  type PlannedPod,
  type PlannedContainer,
  type PlannedVolume,
  type PlannedWorkload,
  type PlannedFile,
  type HostPathCheck,
  type JobSettings,
  type PlayOptions,
} from "./plan-types.js";
export { parseQuantity, milliCpu, milliCpuToShares } from "./quantity.js";

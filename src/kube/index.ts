// Public entry of cove's Kubernetes layer, on top of pods: kube generate (generate.ts) and kube
// play's planner (play.ts); the CRI server builds on the same pods.

export { generateKube, kubePod, dnsLabel, dnsSubdomain } from "./generate.js";
export {
  planKube,
  selectorMatches,
  expandVars,
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
  type LabelSelector,
} from "./play.js";
export { parseQuantity, milliCpu, milliCpuToShares } from "./quantity.js";

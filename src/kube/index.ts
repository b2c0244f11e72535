// Public entry of cove's Kubernetes layer, on top of pods: kube generate (generate.ts) for now;
// kube play and the CRI server build on the same pods.

export { generateKube, kubePod, dnsLabel, dnsSubdomain } from "./generate.js";

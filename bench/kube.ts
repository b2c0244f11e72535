// Benchmark: `kube play --wait` of a Deployment of 10 replicas (busybox httpd with an httpGet
// readiness probe) until every pod is ready, a second play that has nothing to change, a rolling
// update of all ten (a changed environment: each new pod ready before an old one goes), and
// `kube down`, against a private cove daemon with networking. The reference would be `podman
// kube play`: when podman is installed it is timed on the same file (podman plays one replica of
// a Deployment, so its figure is for what it does); when it is not, cove's figures are printed
// alone. Each figure is the median of BENCH_KUBE_ROUNDS (3) rounds. Not a test: nothing asserts
// on time.

import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freeSubnets, setupNetwork } from "../test/network/harness.js";
import { timed } from "./support/timed.js";

const ROUNDS = Number(process.env.BENCH_KUBE_ROUNDS ?? 3);
const REPLICAS = Number(process.env.BENCH_KUBE_REPLICAS ?? 10);
const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/cli/main.js");
const PODMAN = ["/usr/bin/podman", "/usr/local/bin/podman"].find((p) => existsSync(p));

const deployment = (mode: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench
spec:
  replicas: ${REPLICAS}
  selector:
    matchLabels: {app: bench}
  template:
    metadata:
      labels: {app: bench}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
        env: [{name: MODE, value: "${mode}"}]
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /index.html, port: 8080}
          periodSeconds: 1
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const h = await setupNetwork();
  try {
    const network = "benchkube";
    await h.ok(["network", "create", "--subnet", freeSubnets(1, [h.bridgeSubnet])[0]!, network]);
    const v1 = path.join(h.base, "v1.yaml");
    const v2 = path.join(h.base, "v2.yaml");
    await writeFile(v1, deployment("v1"));
    await writeFile(v2, deployment("v2"));
    const env = { PATH: process.env.PATH, HOME: h.base, COVE_HOST: `unix://${h.socket}` };
    const cove = (args: string[]) => timed(process.execPath, [MAIN, "kube", ...args], env);
    const figures = { play: [] as number[], again: [] as number[], roll: [] as number[], down: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      figures.play.push(await cove(["play", "--wait", "--network", network, v1]));
      figures.again.push(await cove(["play", "--wait", "--network", network, v1]));
      figures.roll.push(await cove(["play", "--wait", "--network", network, v2]));
      figures.down.push(await cove(["down", "--network", network, v2]));
    }
    console.log(`kube play of a ${REPLICAS}-replica Deployment with readiness probes (ms, median of ${ROUNDS})`);
    console.log(`  play --wait until all ready     ${median(figures.play).toFixed(0).padStart(8)}   (${(median(figures.play) / REPLICAS).toFixed(0)} per pod)`);
    console.log(`  play again (nothing to change)  ${median(figures.again).toFixed(0).padStart(8)}`);
    console.log(`  rolling update of all pods      ${median(figures.roll).toFixed(0).padStart(8)}`);
    console.log(`  down                            ${median(figures.down).toFixed(0).padStart(8)}`);
    if (!PODMAN) console.log("podman is not installed: cove's figures alone");
    else {
      const penv = { PATH: process.env.PATH, HOME: h.base };
      const times: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        times.push(await timed(PODMAN, ["kube", "play", v1], penv).catch(() => NaN));
        await timed(PODMAN, ["kube", "down", v1], penv).catch(() => NaN);
      }
      console.log(`  podman kube play (one replica: podman's limit)  ${median(times).toFixed(0)}`);
    }
  } finally {
    for (const p of await h.daemon.pods.list().catch(() => [])) await h.daemon.pods.remove(p.Id, { force: true }).catch(() => undefined);
    await h.cleanup();
  }
}

await main();

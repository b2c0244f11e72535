// kubectl's client-side dry run (`kubectl apply --dry-run=client -f FILE`) needs an API server to
// map each kind to its resource: a stand-in on loopback that answers discovery for the kinds kube
// play takes, and 404 for every object (so apply would create it). Used to prove that a test's
// YAML is real Kubernetes.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import path from "node:path";

export const KUBECTL = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].find((p) => existsSync(p));

const GROUPS: Record<string, [string, string, string][]> = {
  "/api/v1": [
    ["pods", "pod", "Pod"],
    ["services", "service", "Service"],
    ["configmaps", "configmap", "ConfigMap"],
    ["secrets", "secret", "Secret"],
    ["persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim"],
    ["namespaces", "namespace", "Namespace"],
  ],
  "/apis/apps/v1": [
    ["deployments", "deployment", "Deployment"],
    ["replicasets", "replicaset", "ReplicaSet"],
    ["daemonsets", "daemonset", "DaemonSet"],
    ["statefulsets", "statefulset", "StatefulSet"],
  ],
  "/apis/batch/v1": [
    ["jobs", "job", "Job"],
    ["cronjobs", "cronjob", "CronJob"],
  ],
};

/** Runs kubectl apply --dry-run=client on a YAML text against the stub: its status and output. */
export async function kubectlDryRun(dir: string, yaml: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const server = http.createServer((req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = (req.url ?? "").split("?")[0]!;
    if (url === "/api") send(200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }] });
    else if (url === "/apis")
      send(200, {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: ["apps", "batch"].map((g) => ({ name: g, versions: [{ groupVersion: `${g}/v1`, version: "v1" }], preferredVersion: { groupVersion: `${g}/v1`, version: "v1" } })),
      });
    else if (GROUPS[url])
      send(200, {
        kind: "APIResourceList",
        groupVersion: url.replace(/^\/apis?\//, ""),
        resources: GROUPS[url].map(([name, singularName, kind]) => ({ name, singularName, namespaced: kind !== "Namespace", kind, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] })),
      });
    else send(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: "not found" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const kubeconfig = path.join(dir, "kubeconfig");
    await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: stub, cluster: {server: "http://127.0.0.1:${port}"}}]\ncontexts: [{name: stub, context: {cluster: stub, user: stub}}]\nusers: [{name: stub, user: {}}]\ncurrent-context: stub\n`);
    return await new Promise((resolve) => {
      const child = execFile(KUBECTL!, ["apply", "--dry-run=client", "--validate=false", "-f", "-", "-o", "name"], { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0, stdout, stderr });
      });
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(yaml);
    });
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

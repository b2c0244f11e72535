import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoveError } from "../common/errors.js";
import { HEALTH_ON_FAILURE_LABEL } from "../containers/index.js";
import { expandVars, KUBE_LABEL, planKube, selectorMatches } from "./index.js";
import { milliCpu, milliCpuToShares, parseQuantity } from "./quantity.js";

/** The error planKube throws for a text, as its message. */
function refusal(text: string): string {
  try {
    planKube(text);
  } catch (err) {
    assert.ok(err instanceof CoveError, String(err));
    assert.equal(err.kind, "invalid");
    return err.message;
  }
  assert.fail("the file was accepted");
}

const pod = (spec: string, meta = "") => `apiVersion: v1
kind: Pod
metadata:
  name: p${meta}
spec:
${spec}`;

const deployment = (kind: string, extra: string, selector = "matchLabels: {app: web}", labels = "{app: web}") => `apiVersion: apps/v1
kind: ${kind}
metadata:
  name: web
spec:
${extra}
  selector:
    ${selector}
  template:
    metadata:
      labels: ${labels}
    spec:
      containers:
      - name: c
        image: busybox
`;

describe("kube play's planner", () => {
  it("parses Kubernetes quantities and turns CPU requests into shares as the kubelet does", () => {
    assert.equal(parseQuantity("128Mi"), 128 * 1024 * 1024);
    assert.equal(parseQuantity("1G"), 1e9);
    assert.equal(parseQuantity("1e3"), 1000);
    assert.equal(parseQuantity("129M"), 129e6);
    assert.equal(parseQuantity("lots"), undefined);
    assert.equal(milliCpu("500m"), 500);
    assert.equal(milliCpu("0.25"), 250);
    assert.equal(milliCpu(2), 2000);
    assert.equal(milliCpuToShares(250), 256);
    assert.equal(milliCpuToShares(1), 2);
  });

  it("expands $(VAR) references as Kubernetes does: $$ escapes, unknown names stay", () => {
    const vars = new Map([["A", "x"]]);
    assert.equal(expandVars("$(A)-$(B)-$$(A)", vars), "x-$(B)-$(A)");
  });

  it("matches selectors as Kubernetes: matchLabels AND every expression", () => {
    const labels = { app: "web", tier: "front" };
    assert.ok(selectorMatches({ matchLabels: { app: "web" } }, labels));
    assert.ok(!selectorMatches({ matchLabels: { app: "db" } }, labels));
    assert.ok(selectorMatches({ matchExpressions: [{ key: "tier", operator: "In", values: ["front", "back"] }] }, labels));
    assert.ok(!selectorMatches({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }, labels));
    assert.ok(selectorMatches({ matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }, labels), "NotIn holds for a missing key");
    assert.ok(selectorMatches({ matchExpressions: [{ key: "app", operator: "Exists" }] }, labels));
    assert.ok(!selectorMatches({ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, labels));
    assert.ok(!selectorMatches({ matchLabels: { app: "web" }, matchExpressions: [{ key: "x", operator: "Exists" }] }, labels), "terms are ANDed");
  });

  it("maps a Pod's containers: command → entrypoint, args → cmd, env, ports, resources, security, restart policy, probes", () => {
    const plan = planKube(`apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {GREETING: hi, conf: "x=1"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data: {token: c2VjcmV0}
---
${pod(`  restartPolicy: OnFailure
  hostname: box
  dnsConfig: {nameservers: [10.0.0.2], searches: [example.org], options: [{name: ndots, value: "2"}]}
  hostAliases: [{ip: 10.0.0.9, hostnames: [db]}]
  containers:
  - name: app
    image: busybox
    command: [sh, -c]
    args: ["echo $(GREETING)"]
    workingDir: /srv
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: GREETING}}}
    - {name: TOKEN, valueFrom: {secretKeyRef: {name: sec, key: token}}}
    - {name: ME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    envFrom: [{secretRef: {name: sec}, prefix: S_}]
    ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}, {containerPort: 81, name: admin}]
    resources: {limits: {cpu: "1", memory: 128Mi}, requests: {cpu: 100m, memory: 64Mi}}
    securityContext: {runAsUser: 1000, runAsGroup: 100, privileged: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {add: [NET_ADMIN], drop: [ALL]}}
    livenessProbe: {httpGet: {path: /health, port: admin}, periodSeconds: 5, failureThreshold: 4, initialDelaySeconds: 2}
    startupProbe: {exec: {command: ["true"]}, periodSeconds: 2, failureThreshold: 10}
    readinessProbe: {tcpSocket: {port: 80}}`)}`);
    assert.equal(plan.workloads.length, 1);
    const p = plan.workloads[0]!.pods[0]!;
    assert.equal(p.name, "p");
    assert.equal(p.spec.hostname, "box");
    assert.deepEqual(p.spec.dns_server, ["10.0.0.2"]);
    assert.deepEqual(p.spec.dns_search, ["example.org"]);
    assert.deepEqual(p.spec.dns_option, ["ndots:2"]);
    assert.deepEqual(p.spec.hostadd, ["db:10.0.0.9"]);
    assert.deepEqual(p.spec.portmappings, [{ container_port: 80, host_port: 8080, protocol: "tcp", host_ip: "127.0.0.1" }]);
    assert.equal(p.spec.labels?.[KUBE_LABEL.owner], "Pod/p");
    assert.equal(p.spec.labels?.[KUBE_LABEL.hash], p.hash);
    const c = p.containers[0]!;
    assert.equal(c.name, "p-app");
    assert.deepEqual([c.body.Entrypoint, c.body.Cmd, c.body.WorkingDir, c.body.User], [["sh", "-c"], ["echo hi"], "/srv", "1000:100"]);
    assert.deepEqual(c.body.Env, ["S_token=secret", "GREETING=hi", "TOKEN=secret", "ME=p", "NS=default", "IP="]);
    assert.deepEqual(c.podIpEnv, ["IP"]);
    const hc = c.body.HostConfig!;
    assert.deepEqual([hc.NanoCpus, hc.Memory, hc.CpuShares, hc.MemoryReservation], [1e9, 128 * 2 ** 20, 102, 64 * 2 ** 20]);
    assert.deepEqual([hc.Privileged, hc.ReadonlyRootfs, hc.SecurityOpt, hc.CapAdd, hc.CapDrop], [true, true, ["no-new-privileges"], ["NET_ADMIN"], ["ALL"]]);
    assert.deepEqual(hc.RestartPolicy, { Name: "on-failure" });
    // liveness (gated by the startup probe's budget) is the healthcheck; its failure restarts the container
    assert.deepEqual(c.body.Healthcheck?.Test, ["CMD-SHELL", "wget -q -O /dev/null 'http://127.0.0.1:81/health' || curl -fsS -o /dev/null 'http://127.0.0.1:81/health'"]);
    assert.equal(c.body.Healthcheck?.Interval, 5e9);
    assert.equal(c.body.Healthcheck?.Retries, 4);
    assert.equal(c.body.Healthcheck?.StartPeriod, (2 + 2 * 10) * 1e9);
    assert.equal(c.body.Labels?.[HEALTH_ON_FAILURE_LABEL], "restart");
    assert.match(c.readiness!.test[1]!, /nc .*127\.0\.0\.1 80/);
  });

  it("command alone drops the image's cmd; args alone keep its entrypoint", () => {
    const plan = planKube(pod(`  containers:
  - {name: a, image: busybox, command: [sleep]}
  - {name: b, image: busybox, args: ["10"]}`));
    const [a, b] = plan.workloads[0]!.pods[0]!.containers;
    assert.deepEqual([a!.body.Entrypoint, a!.body.Cmd], [["sleep"], []]);
    assert.deepEqual([b!.body.Entrypoint, b!.body.Cmd], [undefined, ["10"]]);
  });

  it("maps volumes: hostPath, emptyDir (tmpfs for Memory), configMap and secret files, claims (from the file or on first use)", () => {
    const plan = planKube(`apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a.conf: "a", b.conf: "b"}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, labels: {tier: db}}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
${pod(`  initContainers:
  - name: init
    image: busybox
    volumeMounts: [{name: scratch, mountPath: /s}]
  containers:
  - name: c
    image: busybox
    volumeMounts:
    - {name: host, mountPath: /h, readOnly: true}
    - {name: scratch, mountPath: /s}
    - {name: mem, mountPath: /m}
    - {name: cfg, mountPath: /etc/cfg}
    - {name: data, mountPath: /data}
    - {name: other, mountPath: /other}
  volumes:
  - {name: host, hostPath: {path: /srv, type: DirectoryOrCreate}}
  - {name: scratch, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
  - {name: cfg, configMap: {name: cfg, items: [{key: b.conf, path: sub/b.conf, mode: 0600}], defaultMode: 0444}}
  - {name: data, persistentVolumeClaim: {claimName: data}}
  - {name: other, persistentVolumeClaim: {claimName: other, readOnly: true}}`)}`);
    const p = plan.workloads[0]!.pods[0]!;
    assert.deepEqual(p.init[0]!.body.HostConfig?.Mounts, [{ Type: "volume", Source: "p-scratch", Target: "/s", ReadOnly: false }]);
    assert.deepEqual(p.init[0]!.body.HostConfig?.RestartPolicy, { Name: "no" });
    assert.deepEqual(p.containers[0]!.body.HostConfig?.Mounts, [
      { Type: "bind", Source: "/srv", Target: "/h", ReadOnly: true },
      { Type: "volume", Source: "p-scratch", Target: "/s", ReadOnly: false },
      { Type: "volume", Source: "p-mem", Target: "/m", ReadOnly: false },
      { Type: "volume", Source: "p-cfg", Target: "/etc/cfg", ReadOnly: true },
      { Type: "volume", Source: "data", Target: "/data", ReadOnly: false },
      { Type: "volume", Source: "other", Target: "/other", ReadOnly: true },
    ]);
    assert.deepEqual(p.hostPaths, [{ path: "/srv", type: "DirectoryOrCreate", field: "spec.volumes[0].hostPath" }]);
    const own = new Map(p.volumes.map((v) => [v.name, v]));
    assert.deepEqual([...own.keys()].sort(), ["p-cfg", "p-mem", "p-scratch"]);
    assert.deepEqual(own.get("p-mem")!.driverOpts, { type: "tmpfs", device: "tmpfs", o: `size=${64 * 2 ** 20}` });
    assert.deepEqual(
      own.get("p-cfg")!.files!.map((f) => [f.path, f.mode, f.data.toString()]),
      [["sub/b.conf", 0o600, "b"]],
    );
    assert.deepEqual(p.claims.sort(), ["data", "other"]);
    assert.deepEqual(plan.volumes.map((v) => [v.name, v.labels.tier, v.labels["io.cove.kube.storage"]]), [["data", "db", "1Gi"], ["other", undefined, undefined]]);
  });

  it("plans replicas: Deployment pods named by their template's hash, StatefulSet pods and claims by ordinal, a DaemonSet's one pod, a Job", () => {
    const d = planKube(deployment("Deployment", "  replicas: 3"));
    const names = d.workloads[0]!.pods.map((p) => p.name);
    assert.equal(names.length, 3);
    assert.match(names[0]!, /^web-[0-9a-f]{10}-0$/);
    assert.deepEqual(names.map((n) => n.slice(-2)), ["-0", "-1", "-2"]);
    assert.equal(d.workloads[0]!.update, "rolling");
    // a changed template: new names; an unchanged one: the same
    const again = planKube(deployment("Deployment", "  replicas: 3")).workloads[0]!.pods.map((p) => p.name);
    assert.deepEqual(again, names);
    const changed = planKube(deployment("Deployment", "  replicas: 3").replace("image: busybox", "image: busybox:1")).workloads[0]!.pods.map((p) => p.name);
    assert.notEqual(changed[0], names[0]);
    const s = planKube(`${deployment("StatefulSet", "  replicas: 2\n  serviceName: web").replace("        image: busybox\n", "        image: busybox\n        volumeMounts: [{name: data, mountPath: /data}]\n")}  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`);
    const sw = s.workloads[0]!;
    assert.deepEqual(sw.pods.map((p) => p.name), ["web-0", "web-1"]);
    assert.deepEqual(sw.pods.map((p) => p.claims), [["data-web-0"], ["data-web-1"]]);
    assert.equal(sw.update, "ordered");
    const ds = planKube(deployment("DaemonSet", ""));
    assert.equal(ds.workloads[0]!.pods.length, 1);
    const job = planKube(`apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completions: 3
  parallelism: 5
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
`);
    assert.deepEqual(job.workloads[0]!.job, { completions: 3, parallelism: 3, backoffLimit: 6, restartPolicy: "Never" });
    const cron = planKube(`apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}
`);
    assert.deepEqual(cron.cronJobs, ["default/nightly"]);
    assert.match(cron.warnings.join("\n"), /recorded but not scheduled/);
  });

  it("gives the pods a Service selects its names on the network, and publishes NodePort and LoadBalancer ports", () => {
    const plan = planKube(`${deployment("Deployment", "  replicas: 2")}---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: prod}
spec:
  selector: {app: web}
  ports: [{port: 80}]
`);
    const [a, b] = plan.workloads[0]!.pods;
    assert.deepEqual(a!.spec.Networks?.["cove-kube"]?.aliases, [a!.name, "web", "web.default", "web.default.svc", "web.default.svc.cluster.local"]);
    assert.deepEqual(a!.spec.portmappings, [{ container_port: 8080, host_port: 30080, protocol: "tcp" }]);
    assert.equal(b!.spec.portmappings, undefined, "one host port reaches one pod");
    assert.match(plan.warnings.join("\n"), /published by web-[0-9a-f]+-0 only/);
    assert.ok(!(a!.spec.Networks?.["cove-kube"]?.aliases ?? []).includes("other"), "a service of another namespace selects nothing here");
  });

  it("keeps namespaces apart: the same names in two namespaces do not clash", () => {
    const plan = planKube(`${pod("  containers: [{name: c, image: busybox}]")}
---
${pod("  containers: [{name: c, image: busybox}]", "\n  namespace: prod")}`);
    assert.deepEqual(plan.workloads.map((w) => [w.pods[0]!.name, w.namespace, w.pods[0]!.containers[0]!.name]), [
      ["p", "default", "p-c"],
      ["prod-p", "prod", "prod-p-c"],
    ]);
  });

  it("refuses selectors that do not match the template, with Kubernetes' texts", () => {
    assert.match(refusal(deployment("Deployment", "  replicas: 1", "matchLabels: {app: db}")), /Deployment web: spec\.template\.metadata\.labels: Invalid value: map\[string\]string\{"app":"web"\}: `selector` does not match template `labels`/);
    assert.match(refusal(deployment("Deployment", "  replicas: 1", "matchExpressions: [{key: app, operator: NotIn, values: [web]}]")), /does not match template/);
    assert.match(refusal(deployment("Deployment", "  replicas: 1", "matchExpressions: [{key: app, operator: In}]")), /spec\.selector\.matchExpressions\[0\]\.values: Required value: must be specified when `operator` is 'In' or 'NotIn'/);
    assert.match(refusal(deployment("Deployment", "  replicas: 1", "matchExpressions: [{key: app, operator: Exists, values: [x]}]")), /Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'/);
    assert.match(refusal(deployment("Deployment", "  replicas: 1", "matchExpressions: [{key: app, operator: Near, values: [x]}]")), /operator: Invalid value: "Near": not a valid selector operator/);
    assert.match(refusal(deployment("ReplicaSet", "  replicas: 1", "matchLabels: {}")), /spec\.selector: Invalid value: .*empty selector is invalid for replicaset/);
    // matchLabels AND expressions that hold: accepted
    planKube(deployment("Deployment", "  replicas: 1", "matchLabels: {app: web}\n    matchExpressions: [{key: tier, operator: DoesNotExist}]"));
  });

  it("names every error by object and field path, all at once", () => {
    const msg = refusal(`apiVersion: v1
kind: Pod
metadata: {name: Bad_Name}
spec:
  restartPolicy: Sometimes
  containers:
  - name: c
    env: [{name: "1X", value: a}, {name: Y, valueFrom: {configMapKeyRef: {name: nope, key: k}}}]
    ports: [{hostPort: 80}]
    volumeMounts: [{name: missing, mountPath: rel}]
    resources: {limits: {cpu: 100m}, requests: {cpu: 200m}}
    livenessProbe: {grpc: {port: 1}}
  volumes: [{name: v, nfs: {server: x, path: /}}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}
---
apiVersion: v1
kind: Gadget
metadata: {name: g}
---
apiVersion: apps/v2
kind: Deployment
metadata: {name: d}
`);
    for (const want of [
      /Pod Bad_Name: metadata\.name: Invalid value: "Bad_Name"/,
      /Pod Bad_Name: spec\.restartPolicy: Unsupported value: "Sometimes"/,
      /spec\.containers\[0\]\.image: Required value/,
      /spec\.containers\[0\]\.env\[0\]\.name: Invalid value: "1X"/,
      /spec\.containers\[0\]\.env\[1\]\.valueFrom\.configMapKeyRef: Not found: ConfigMap "nope"/,
      /spec\.containers\[0\]\.ports\[0\]\.containerPort: Required value/,
      /spec\.containers\[0\]\.volumeMounts\[0\]\.mountPath: Invalid value: "rel": must be an absolute path/,
      /spec\.containers\[0\]\.volumeMounts\[0\]\.name: Not found: "missing"/,
      /spec\.containers\[0\]\.resources\.requests: Invalid value: "200m": must be less than or equal to cpu limit/,
      /spec\.containers\[0\]\.livenessProbe\.grpc: Unsupported value/,
      /spec\.volumes\[0\]\.nfs: Unsupported value: volumes of type nfs/,
      /Job j: spec\.template\.spec\.restartPolicy: Required value: valid values: "OnFailure", "Never"/,
      /Gadget g: kind: Unsupported value: "Gadget"/,
      /Deployment d: apiVersion: Unsupported value: "apps\/v2"/,
      /nothing was created/,
    ])
      assert.match(msg, want);
  });

  it("refuses a Deployment whose pods would not restart, duplicates, and YAML that does not parse", () => {
    assert.match(refusal(deployment("Deployment", "  replicas: 1").replace("      containers:", "      restartPolicy: Never\n      containers:")), /spec\.template\.spec\.restartPolicy: Unsupported value: "Never": supported values: "Always"/);
    assert.match(refusal(`${pod("  containers: [{name: c, image: busybox}]")}\n---\n${pod("  containers: [{name: c, image: busybox}]")}`), /metadata\.name: Duplicate value: "p"/);
    assert.match(refusal("kind: Pod\n  bad: [indent"), /document 1: invalid YAML/);
    assert.match(refusal(deployment("Deployment", "  replicas: 1").replace("        image: busybox\n", "        image: busybox\n        volumeMounts: [{name: d, mountPath: /d, subPath: x}]\n")), /volumeMounts\[0\]\.subPath: Unsupported value/);
  });

  it("warns about what it does not act on instead of dropping it silently", () => {
    const plan = planKube(pod(`  nodeSelector: {disk: ssd}
  containers:
  - name: c
    image: busybox
    lifecycle: {preStop: {exec: {command: ["true"]}}}
    resources: {limits: {nvidia.com/gpu: 1}}`));
    const w = plan.warnings.join("\n");
    assert.match(w, /Pod p: spec\.nodeSelector: not supported by cove kube play: ignored/);
    assert.match(w, /Pod p: spec\.containers\[0\]\.lifecycle: not supported/);
    assert.match(w, /spec\.containers\[0\]\.resources\.limits\.nvidia\.com\/gpu: only cpu and memory are enforced/);
  });

  it("changes a pod's hash when what it takes from a ConfigMap changes", () => {
    const text = (v: string) => `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {K: "${v}"}
---
${pod("  containers: [{name: c, image: busybox, envFrom: [{configMapRef: {name: cfg}}]}]")}`;
    const a = planKube(text("1")).workloads[0]!.pods[0]!.hash;
    assert.equal(planKube(text("1")).workloads[0]!.pods[0]!.hash, a);
    assert.notEqual(planKube(text("2")).workloads[0]!.pods[0]!.hash, a);
  });
});

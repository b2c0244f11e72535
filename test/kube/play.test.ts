// kube play and kube down end to end: a cove daemon with networking (its own bridge, subnet, exec
// root and chains: test/network/harness.ts), the cove CLI against it, busybox pods. A Pod with a
// ConfigMap and a Secret as environment and as files, a PersistentVolumeClaim, an init container
// and a liveness probe that restarts its container; a Job run to completion; a Deployment of
// three replicas behind a Service reached by name from another pod, a hostPort reached from the
// host; a re-play with a changed environment that replaces the Deployment's pods one at a time and
// keeps the rest; a scale down; bad input refused with every error named and nothing made; kube
// generate's output of a played pod played back; kube down leaving nothing behind. Every YAML
// here is first given to kubectl's client-side dry run, so it is real Kubernetes.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { until } from "../containers/harness.js";
import { freeSubnets, setupNetwork, skipReason, type NetHarness } from "../network/harness.js";
import { describeLeaks, findLeaks } from "../support/leaks.js";
import { KUBECTL, kubectlDryRun } from "./kubectl-stub.js";
import { freePort } from "../support/ports.js";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const APP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  GREETING: hello
  app.conf: |
    port=8080
---
apiVersion: v1
kind: Secret
metadata:
  name: sec
type: Opaque
data:
  password: czNjcjN0
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: v1
kind: Pod
metadata:
  name: single
  labels:
    app: single
  annotations:
    team: storage
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: setup
    image: busybox
    command: ["sh", "-c", "echo from-init > /work/init.txt"]
    volumeMounts:
    - {name: work, mountPath: /work}
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c"]
    args: ["echo $(GREETING) && exec sleep 600"]
    workingDir: /work
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef: {name: cfg, key: GREETING}
    - name: PASSWORD
      valueFrom:
        secretKeyRef: {name: sec, key: password}
    - name: POD_NAME
      valueFrom:
        fieldRef: {fieldPath: metadata.name}
    - name: POD_IP
      valueFrom:
        fieldRef: {fieldPath: status.podIP}
    envFrom:
    - configMapRef: {name: cfg}
      prefix: CFG_
    resources:
      limits: {cpu: 500m, memory: 64Mi}
      requests: {cpu: 250m}
    securityContext:
      runAsUser: 1000
      runAsGroup: 1000
      allowPrivilegeEscalation: false
      capabilities: {drop: [NET_RAW]}
    volumeMounts:
    - {name: config, mountPath: /etc/app}
    - {name: secret, mountPath: /etc/secret}
    - {name: data, mountPath: /data}
    - {name: work, mountPath: /work}
  volumes:
  - name: config
    configMap:
      name: cfg
      items: [{key: app.conf, path: conf/app.conf}]
  - name: secret
    secret: {secretName: sec, defaultMode: 0400}
  - name: data
    persistentVolumeClaim: {claimName: data}
  - name: work
    emptyDir: {}
---
apiVersion: v1
kind: Pod
metadata:
  name: flaky
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    # unhealthy at the first run (no /tmp/alive), healthy once restarted (the marker survives a restart)
    command: ["sh", "-c", "test -f /marker && touch /tmp/alive; touch /marker; exec sleep 600"]
    livenessProbe:
      exec: {command: ["test", "-f", "/tmp/alive"]}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: store
        image: busybox
        command: ["sh", "-c", "hostname > /var/lib/db/owner; exec sleep 600"]
        volumeMounts: [{name: state, mountPath: /var/lib/db}]
  volumeClaimTemplates:
  - metadata: {name: state}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Mi}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  completions: 2
  parallelism: 2
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: ["sh", "-c", "echo done"]
`;

const web = (mode: string, replicas: number, hostPort: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
    matchExpressions:
    - {key: tier, operator: In, values: [front, edge]}
    - {key: legacy, operator: DoesNotExist}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && echo $MODE > /www/mode && exec httpd -f -p 8080 -h /www"]
        env:
        - {name: MODE, value: "${mode}"}
        ports:
        - {containerPort: 8080, name: http}
        readinessProbe:
          httpGet: {path: /index.html, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 8080, targetPort: http}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: shell
    image: busybox
    command: ["sleep", "600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: edge
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo edge > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports:
    - {containerPort: 8080, hostPort: ${hostPort}}
`;

const BAD = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: 2
  selector:
    matchLabels: {app: other}
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
      - name: main
        command: ["true"]
        resources:
          limits: {memory: lots}
      - name: main
        image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: fine
spec:
  containers:
  - name: ok
    image: busybox
    command: ["sleep", "600"]
    lifecycle:
      preStop:
        exec: {command: ["true"]}
`;

describe("kube play", { skip: skipReason }, () => {
  let h: NetHarness;
  let network = "";
  const ids = new Set<string>();
  const cove = (args: string[], input?: string): Promise<Result> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: h.base, COVE_HOST: `unix://${h.socket}` }, timeout: 180_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(input ?? "");
    });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await cove(args, input);
    if (r.code !== 0) throw new Error(`cove ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const file = async (name: string, text: string) => {
    const p = path.join(h.base, name);
    await writeFile(p, text);
    return p;
  };
  const remember = async () => {
    for (const c of await h.daemon.containers.list({ all: true })) ids.add(c.Id);
  };
  /** A URL fetched from the client pod, asked until it answers (the pods behind the name may still be starting). */
  const viaService = async (url: string): Promise<string> => {
    let body = "";
    await until(`${url} to answer from the client pod`, async () => {
      const r = await cove(["exec", "client-shell", "wget", "-qO-", url]);
      body = r.stdout.trim();
      return r.code === 0;
    });
    return body;
  };
  const podNames = async () => (await h.daemon.pods.list()).map((p) => p.Name).sort();
  const volumeNames = async () => (await h.ok(["volume", "ls", "-q"])).split("\n").filter(Boolean).sort();

  before(async () => {
    h = await setupNetwork();
    // the play's network on a subnet no route of the host covers
    network = `kt${path.basename(h.base).replace(/[^a-z0-9]/gi, "").slice(-6).toLowerCase()}`;
    await h.ok(["network", "create", "--subnet", freeSubnets(1, [h.bridgeSubnet])[0]!, network]);
  });
  after(async () => {
    if (!h) return;
    for (const p of await h.daemon.pods.list().catch(() => [])) await h.daemon.pods.remove(p.Id, { force: true }).catch(() => undefined);
    for (const v of await volumeNames().catch(() => [])) await h.docker(["volume", "rm", "-f", v]);
    await h.cleanup();
  });

  it("the test files are real Kubernetes (kubectl apply --dry-run=client takes them)", { skip: !KUBECTL && "kubectl is missing" }, async () => {
    for (const [text, count] of [
      [APP, 7],
      [web("v1", 3, 30080), 4],
    ] as const) {
      const r = await kubectlDryRun(h.base, text);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split("\n").length, count, r.stdout);
    }
    // and kubectl refuses the bad file's selector too (its client-side check is the server's: not run here)
  });

  it("plays a Pod with a ConfigMap and a Secret as environment and files, a claim, an init container, a liveness probe; a StatefulSet with its claims; a Job", async () => {
    const app = await file("app.yaml", APP);
    const out = await ok(["kube", "play", "--network", network, app]);
    assert.match(out, /Volume data: created/);
    assert.match(out, /Pod single: created/);
    assert.match(out, /Job once: complete \(2\/2\)/);
    const env = (await ok(["exec", "single-main", "env"])).split("\n");
    for (const e of ["GREETING=hello", "PASSWORD=s3cr3t", "POD_NAME=single", "CFG_GREETING=hello"]) assert.ok(env.includes(e), `${e} in ${env.join(" ")}`);
    const ip = env.find((e) => e.startsWith("POD_IP="))?.slice(7) ?? "";
    assert.match(ip, /^10\.\d+\.\d+\.\d+$/, "status.podIP is the pod's address on the play's network");
    assert.equal((await ok(["exec", "single-main", "cat", "/etc/app/conf/app.conf"])).trim(), "port=8080");
    assert.equal((await ok(["exec", "single-main", "stat", "-c", "%a %s", "/etc/secret/password"])).trim(), "400 6");
    assert.equal((await ok(["exec", "single-main", "cat", "/work/init.txt"])).trim(), "from-init", "the init container ran first, on the shared emptyDir");
    assert.equal((await ok(["exec", "single-main", "id", "-u"])).trim(), "1000");
    assert.equal((await ok(["exec", "single-main", "pwd"])).trim(), "/work");
    // a configMap volume is read-only
    const write = await cove(["exec", "single-main", "sh", "-c", "echo x > /etc/app/x"]);
    assert.notEqual(write.code, 0);
    const ins = JSON.parse(await ok(["inspect", "single-main"])) as { Config: { Labels: Record<string, string>; Entrypoint: string[]; Cmd: string[] }; HostConfig: { NanoCpus: number; Memory: number; CpuShares: number; SecurityOpt: string[]; CapDrop: string[]; RestartPolicy: { Name: string } } }[];
    const c = ins[0]!;
    assert.deepEqual([c.HostConfig.NanoCpus, c.HostConfig.Memory, c.HostConfig.CpuShares], [5e8, 64 * 1024 * 1024, 256]);
    assert.deepEqual(c.HostConfig.SecurityOpt, ["no-new-privileges"]);
    assert.deepEqual(c.HostConfig.CapDrop, ["NET_RAW"]);
    assert.equal(c.HostConfig.RestartPolicy.Name, "always");
    assert.deepEqual([c.Config.Entrypoint, c.Config.Cmd], [["sh", "-c"], ["echo hello && exec sleep 600"]]);
    assert.equal(c.Config.Labels.team, "storage", "annotations are kept as labels");
    const pod = JSON.parse(await ok(["pod", "inspect", "single"])) as { Labels: Record<string, string>; State: string }[];
    assert.equal(pod[0]!.Labels.app, "single");
    assert.equal(pod[0]!.Labels["io.cove.kube.owner"], "Pod/single");
    // the claim's volume, made from the PersistentVolumeClaim
    const vol = JSON.parse(await ok(["volume", "inspect", "data"])) as { Labels: Record<string, string> }[];
    assert.equal(vol[0]!.Labels["io.cove.kube.storage"], "1Gi");
    // the liveness probe fails (no /tmp/alive): the container is restarted, as the kubelet does
    await until(
      "the unhealthy container to be restarted",
      async () => ((JSON.parse(await ok(["inspect", "flaky-main"])) as { RestartCount: number }[])[0]!.RestartCount ?? 0) >= 1,
      90_000,
    );
    await until("the restarted container to be healthy", async () => (await ok(["inspect", "--format", "{{.State.Health.Status}}", "flaky-main"])).trim() === "healthy", 90_000);
    // the Job's pods ran to completion
    const jobs = (await podNames()).filter((n) => n.startsWith("once-"));
    assert.equal(jobs.length, 2, jobs.join(" "));
    for (const j of jobs) assert.equal((await ok(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", `${j}-work`])).trim(), "exited 0");
    // a StatefulSet: stable names, a claim per replica
    assert.deepEqual((await podNames()).filter((n) => n.startsWith("db-")), ["db-0", "db-1"]);
    await until("the StatefulSet's pods to write their claims", async () => (await cove(["exec", "db-1-store", "cat", "/var/lib/db/owner"])).stdout.trim() === "db-1");
    assert.deepEqual((await volumeNames()).filter((n) => n.startsWith("state-")), ["state-db-0", "state-db-1"]);
    // played again unchanged: everything kept
    const again = await ok(["kube", "play", "--network", network, app]);
    assert.match(again, /Pod single: unchanged/);
    assert.match(again, /Job once: unchanged/);
    await remember();
  });

  it("runs a Deployment behind a Service reached by name, a hostPort reached from the host; a changed file rolls the pods, a scale down removes some", async () => {
    const port = await freePort();
    const v1 = await file("web.yaml", web("v1", 3, port));
    const out = await ok(["kube", "play", "--wait", "--network", network, v1]);
    const webPods = async () => (await podNames()).filter((n) => /^web-[0-9a-f]{10}-\d$/.test(n));
    const first = await webPods();
    assert.equal(first.length, 3, out);
    assert.equal(new Set(first.map((n) => n.slice(0, -2))).size, 1, "one template hash");
    // the docker CLI sees the played containers by their labels
    const listed = (await h.ok(["ps", "--filter", "label=io.cove.kube.owner=Deployment/web", "--filter", "label=io.cove.kube.container=httpd", "--format", "{{.Names}}"])).trim().split("\n").sort();
    assert.deepEqual(listed, first.map((n) => `${n}-httpd`));
    // the service's name reaches the pods from another pod of the play (and its cluster name too)
    const answer = await viaService("http://web:8080/index.html");
    assert.ok(first.includes(answer), `answered by a web pod: ${answer}`);
    assert.equal(await viaService("http://web.default.svc.cluster.local:8080/mode"), "v1");
    // the hostPort from the host
    let body = "";
    await until("the hostPort to answer", async () => {
      body = await fetch(`http://127.0.0.1:${port}/index.html`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => r.text(),
        () => "",
      );
      return body.trim() === "edge";
    });
    const idOf = async (name: string) => (await ok(["pod", "inspect", "--format", "{{.Id}}", name])).trim();
    const kept = [await idOf("client"), await idOf("edge")];

    // a changed environment: new pods (a new template hash), one at a time, each up before an old one goes
    const since = (Date.now() / 1000).toFixed(3);
    const v2 = await file("web.yaml", web("v2", 3, port));
    const rolled = await ok(["kube", "play", "--network", network, v2]);
    const until_ = (Date.now() / 1000 + 1).toFixed(3);
    const second = await webPods();
    assert.equal(second.length, 3, rolled);
    assert.equal(second.filter((n) => first.includes(n)).length, 0, "every pod replaced");
    assert.deepEqual([await idOf("client"), await idOf("edge")], kept, "unchanged pods kept");
    assert.match(rolled, /Pod client: unchanged/);
    const events = (await ok(["events", "--since", since, "--until", until_, "--filter", "type=pod", "--format", "{{.Action}} {{.Actor.Attributes.name}}"]))
      .trim()
      .split("\n")
      .filter((l) => /^(create|remove) web-/.test(l))
      .map((l) => l.split(" ")[0]);
    assert.deepEqual(events, ["create", "remove", "create", "remove", "create", "remove"], "a rolling update: a new pod, then an old one goes");
    assert.equal(await viaService("http://web:8080/mode"), "v2", "the name reaches the new pods");

    // scaled down to one
    await ok(["kube", "play", "--network", network, await file("web.yaml", web("v2", 1, port))]);
    assert.deepEqual(await webPods(), [second.sort()[0]!]);

    // kube generate of a played pod plays back to an equivalent pod
    const generated = await ok(["kube", "generate", "edge"]);
    await remember();
    await ok(["pod", "rm", "-f", "edge"]);
    const back = await ok(["kube", "play", "--network", network, "-"], generated);
    assert.match(back, /Pod edge: created/);
    const played = JSON.parse(await ok(["inspect", "edge-edge-httpd"])) as { Config: { Image: string; Entrypoint: string[]; Cmd: string[] } }[];
    assert.deepEqual([played[0]!.Config.Image, played[0]!.Config.Entrypoint, played[0]!.Config.Cmd], ["busybox", ["sh", "-c", "mkdir -p /www && echo edge > /www/index.html && exec httpd -f -p 8080 -h /www"], []]);
    await until("the played-back pod's hostPort to answer", async () => (await fetch(`http://127.0.0.1:${port}/index.html`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text(), () => "")).trim() === "edge");
    await remember();
    // generate writes no grace period (the default 10 s would only slow this test down): removed at once
    await ok(["pod", "rm", "-f", "edge"]);
  });

  it("refuses an invalid file with every error named, and makes nothing", async () => {
    const before = JSON.stringify([await podNames(), await volumeNames(), (await h.daemon.containers.list({ all: true })).length]);
    const r = await cove(["kube", "play", "--network", network, await file("bad.yaml", BAD)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Deployment broken: spec\.template\.metadata\.labels: Invalid value: map\[string\]string\{"app":"broken"\}: `selector` does not match template `labels`/);
    assert.match(r.stderr, /Deployment broken: spec\.template\.spec\.containers\[0\]\.image: Required value/);
    assert.match(r.stderr, /Deployment broken: spec\.template\.spec\.containers\[0\]\.resources\.limits\.memory: Invalid value: "lots"/);
    assert.match(r.stderr, /Deployment broken: spec\.template\.spec\.containers\[1\]\.name: Duplicate value: "main"/);
    assert.match(r.stderr, /Pod fine: spec\.containers\[0\]\.lifecycle: not supported by cove kube play: ignored/, "unsupported fields are warned about");
    assert.match(r.stderr, /nothing was created/);
    assert.equal(JSON.stringify([await podNames(), await volumeNames(), (await h.daemon.containers.list({ all: true })).length]), before);
    // an image that is not there (and cannot be pulled) fails before anything is made
    const missing = await cove(["kube", "play", "--network", network, "-"], `apiVersion: v1\nkind: Pod\nmetadata: {name: lost}\nspec:\n  containers:\n  - {name: a, image: busybox, command: [sleep, "60"]}\n  - {name: b, image: "127.0.0.1:1/no/such:image"}\n`);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /127\.0\.0\.1:1\/no\/such:image/);
    assert.equal(JSON.stringify([await podNames(), await volumeNames(), (await h.daemon.containers.list({ all: true })).length]), before);
    // a failure part way (an init container that fails, after a claim's volume and a first pod were made) takes back what the play made
    const halfway = await cove(
      ["kube", "play", "--network", network, "-"],
      `apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: scratch}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: first}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: a, image: busybox, command: [sleep, "60"], volumeMounts: [{name: s, mountPath: /s}]}]\n  volumes: [{name: s, persistentVolumeClaim: {claimName: scratch}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: second}\nspec:\n  initContainers: [{name: fail, image: busybox, command: [sh, -c, "exit 3"]}]\n  containers: [{name: a, image: busybox}]\n`,
    );
    assert.notEqual(halfway.code, 0);
    assert.match(halfway.stderr, /pod second: init container fail exited with 3/);
    assert.match(halfway.stdout, /removing what it made/);
    assert.equal(JSON.stringify([await podNames(), await volumeNames(), (await h.daemon.containers.list({ all: true })).length]), before);
  });

  it("kube down removes what the files made, the claims' volumes with --force, and leaves nothing held", async () => {
    await remember();
    const down1 = await ok(["kube", "down", path.join(h.base, "web.yaml")]);
    assert.match(down1, /Pod client: removed/);
    assert.match(down1, /Pod web-[0-9a-f]{10}-0: removed/);
    assert.ok((await podNames()).every((n) => !/^(web-|client|edge)/.test(n)));
    await ok(["kube", "down", path.join(h.base, "app.yaml")]);
    assert.deepEqual(await podNames(), []);
    assert.deepEqual(await volumeNames(), ["data", "state-db-0", "state-db-1"], "the claims' volumes are kept without --force");
    await ok(["kube", "down", "--force", path.join(h.base, "app.yaml")]);
    assert.deepEqual(await volumeNames(), []);
    assert.deepEqual((await h.daemon.containers.list({ all: true })).map((c) => c.Names[0]), []);
    const leaks = findLeaks({ root: h.root, runtimeRoot: path.join(h.base, "r"), execRoot: path.dirname(h.netnsDir), ids }, new Set(), new Set(), new Set());
    assert.equal(describeLeaks({ ...leaks, veths: [], dnatRules: [] }), "");
    assert.equal(readdirSync(path.join(h.root, "pods")).length, 0);
  });
});

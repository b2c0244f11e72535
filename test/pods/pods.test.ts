// Pods end to end: a cove daemon with networking (its own bridge, subnet, exec root and chains,
// test/network/harness.ts), the cove CLI's pod commands and run --pod against it, busybox
// members. Members of a pod share localhost, the hostname and the IPC namespace, and their PID
// namespaces only with --share pid; a port published on the pod reaches a member's listener from
// the host; the pod's lifecycle, events, a daemon restart, and the refusals of bad input, each
// checked to change nothing. Servers are polled until they answer, with generous bounds.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { until } from "../containers/harness.js";
import { setupNetwork, skipReason, type NetHarness } from "../network/harness.js";
import { describeLeaks, findLeaks } from "../support/leaks.js";
import { freePort } from "../support/ports.js";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** GET over the daemon's socket (the /events stream with since and until ends by itself). */
function apiGet(socket: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: p, method: "GET", timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** GET that retries until the server (in a container just started) answers, for up to a minute. */
async function httpGetWhenUp(port: number, p: string): Promise<string> {
  let body = "";
  let last: unknown;
  await until(`http://127.0.0.1:${port}${p} to answer`, async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(10_000) });
      body = await r.text();
      return r.ok;
    } catch (err) {
      last = err;
      return false;
    }
  }).catch((err: Error) => {
    throw new Error(`${err.message}: ${String(last)}`);
  });
  return body;
}

/** A command's output lines ([] when it fails). */
function lines(cmd: string, args: string[]): Promise<string[]> {
  return new Promise((resolve) => execFile(cmd, args, (err, stdout) => resolve(err ? [] : stdout.split("\n").filter(Boolean))));
}

const KUBECTL = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].find((p) => existsSync(p));

/** Runs a program with input on its stdin. */
function run(cmd: string, args: string[], env: Record<string, string>, input: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(input);
  });
}

/** A stand-in Kubernetes API server on loopback answering discovery of v1 pods, and 404 otherwise. */
async function kubeDiscoveryStub(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = (req.url ?? "").split("?")[0];
    if (url === "/api") send(200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }] });
    else if (url === "/apis") send(200, { kind: "APIGroupList", apiVersion: "v1", groups: [] });
    else if (url === "/api/v1") send(200, { kind: "APIResourceList", groupVersion: "v1", resources: [{ name: "pods", singularName: "pod", namespaced: true, kind: "Pod", verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] }] });
    else send(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: "not found" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A shell loop that runs cmd until it succeeds, for up to two minutes (a server still starting). */
const retrying = (cmd: string) => `for i in $(seq 600); do ${cmd} && exit 0; sleep 0.2; done; exit 1`;

describe("pods", { skip: skipReason }, () => {
  let h: NetHarness;
  const cove = (args: string[], timeoutMs = 120_000): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: h.base, COVE_HOST: `unix://${h.socket}` }, timeout: timeoutMs }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  const ok = async (args: string[]): Promise<string> => {
    const r = await cove(args);
    if (r.code !== 0) throw new Error(`cove ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  /** What a refused command leaves: the pods and containers as they were. */
  const snapshot = async () => JSON.stringify({ pods: (await h.daemon.pods.list()).map((p) => p.Id).sort(), containers: (await h.daemon.containers.list({ all: true })).map((c) => c.Id).sort() });
  const ids = new Set<string>();
  const remember = async () => {
    for (const c of await h.daemon.containers.list({ all: true })) ids.add(c.Id);
  };

  before(async () => {
    h = await setupNetwork();
  });
  after(async () => {
    if (!h) return;
    // pods first: their infra containers go only with them
    for (const p of await h.daemon.pods.list().catch(() => [])) await h.daemon.pods.remove(p.Id, { force: true }).catch(() => undefined);
    await h.cleanup();
  });

  it("members share localhost, the hostname and the IPC namespace, not the PID namespace; a published port reaches them", async () => {
    const port = await freePort();
    const podId = (await ok(["pod", "create", "--name", "shared", "--hostname", "podhost", "-p", `${port}:8080`, "--label", "tier=web"])).trim();
    assert.match(podId, /^[0-9a-f]{64}$/);
    // created, not started: the pod's state is its infra container's
    assert.equal((await ok(["pod", "inspect", "--format", "{{.State}} {{.Hostname}} {{.NumContainers}}", "shared"])).trim(), "Created podhost 1");
    await ok(["run", "-d", "--pod", "shared", "--name", "web", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]);
    // the client reaches the server on 127.0.0.1: one network namespace
    const client = await cove(["run", "--pod", "shared", "--name", "client", "busybox", "sh", "-c", retrying("wget -qO- http://127.0.0.1:8080/hostname")]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim().split("\n").pop(), "podhost");
    await ok(["start", "client"]);
    const ns = async (name: string, kind: string) => (await ok(["exec", name, "readlink", `/proc/self/ns/${kind}`])).trim();
    await ok(["run", "-d", "--pod", "shared", "--name", "idle", "busybox", "sleep", "600"]);
    for (const kind of ["net", "ipc", "uts"]) assert.equal(await ns("web", kind), await ns("idle", kind), `${kind} namespace shared`);
    assert.notEqual(await ns("web", "pid"), await ns("idle", "pid"), "PID namespaces apart without --share pid");
    assert.equal((await ok(["exec", "idle", "hostname"])).trim(), "podhost");
    // from the host, through the pod's published port
    assert.equal((await httpGetWhenUp(port, "/hostname")).trim(), "podhost");

    // ls, inspect, ps --pod, ps --filter pod=, top and logs
    const ls = await ok(["pod", "ls", "--ctr-names"]);
    const row = ls.split("\n").find((l) => l.includes("shared"));
    assert.ok(row, ls);
    assert.match(row, /^[0-9a-f]{12}\s+shared\s+Degraded\s/, "one member (client) exited");
    assert.match(row, /web/);
    assert.match(ls.split("\n")[0]!, /^POD ID\s+NAME\s+STATUS\s+CREATED\s+INFRA ID\s+# OF CONTAINERS\s+NAMES/);
    const doc = JSON.parse(await ok(["pod", "inspect", "shared"])) as Array<{ Id: string; InfraContainerID: string; Labels: Record<string, string>; SharedNamespaces: string[]; Containers: { Name: string; State: string }[]; InfraConfig: { PortBindings: Record<string, { HostPort: string }[]> } }>;
    assert.equal(doc[0]!.Id, podId);
    assert.deepEqual(doc[0]!.SharedNamespaces, ["net", "ipc", "uts"]);
    assert.equal(doc[0]!.Labels.tier, "web");
    assert.equal(doc[0]!.InfraConfig.PortBindings["8080/tcp"]![0]!.HostPort, String(port));
    assert.deepEqual(doc[0]!.Containers.map((c) => c.Name).slice(1).sort(), ["client", "idle", "web"]);
    const ps = await ok(["ps", "-a", "--pod", "--filter", "pod=shared", "--format", "{{.Names}} {{.PodName}}"]);
    assert.deepEqual(ps.trim().split("\n").sort(), [`${podId.slice(0, 12)}-infra shared`, "client shared", "idle shared", "web shared"].sort());
    const top = await ok(["pod", "top", "shared"]);
    assert.match(top, /\/pause/);
    assert.match(top, /httpd -f -p 8080/);
    assert.match(top, /sleep 600/);
    const logs = await ok(["pod", "logs", "shared"]);
    assert.match(logs, /^client podhost$/m, "each line prefixed with its container's name");

    // --share pid: the pause program is PID 1 of every member, and each sees the others
    await ok(["pod", "create", "--name", "pidpod", "--share", "net,ipc,uts,pid"]);
    await ok(["run", "-d", "--pod", "pidpod", "--name", "pid-a", "busybox", "sleep", "700"]);
    await ok(["run", "-d", "--pod", "pidpod", "--name", "pid-b", "busybox", "sleep", "701"]);
    const seen = await ok(["exec", "pid-b", "ps", "-o", "pid,args"]);
    assert.match(seen, /^\s*1\s+\/pause$/m);
    assert.match(seen, /sleep 700/);
    assert.match(seen, /sleep 701/);
    assert.equal(await ns("pid-a", "pid"), await ns("pid-b", "pid"));
    // an orphan is reparented to the pause program, which reaps it when it exits: no zombie stays
    await ok(["exec", "pid-a", "sh", "-c", "sh -c 'sleep 0.5 &'"]);
    await until("the orphan to be reaped", async () => !/sleep 0\.5/.test(await ok(["exec", "pid-b", "ps", "-o", "pid,stat,args"])));
    assert.doesNotMatch(await ok(["exec", "pid-b", "ps", "-o", "stat"]), /^Z/m);
    await remember();
  });

  it("stop, start, restart and kill move the whole pod; a member's start starts its infra first", async () => {
    await ok(["pod", "create", "--name", "life"]);
    // --init: the members end at the stop's SIGTERM too
    await ok(["run", "-d", "--pod", "life", "--init", "--name", "life-a", "busybox", "sleep", "600"]);
    await ok(["run", "-d", "--pod", "life", "--init", "--name", "life-b", "busybox", "sleep", "600"]);
    const state = async () => (await ok(["pod", "inspect", "--format", "{{.State}}", "life"])).trim();
    const states = async () => (await ok(["ps", "-a", "--filter", "pod=life", "--format", "{{.Names}}={{.State}}"])).trim().split("\n").sort();
    assert.equal(await state(), "Running");
    assert.equal((await ok(["pod", "stop", "-t", "10", "life"])).trim(), "life");
    assert.equal(await state(), "Exited");
    // the pause program ends at SIGTERM with status 0 (a SIGKILL after the timeout would be 137)
    const infraId = (await ok(["pod", "inspect", "--format", "{{.InfraContainerID}}", "life"])).trim();
    assert.equal((await ok(["inspect", "--format", "{{.State.ExitCode}}", infraId])).trim(), "0");
    assert.ok((await states()).every((s) => s.endsWith("=exited")), String(await states()));
    await ok(["pod", "start", "life"]);
    assert.equal(await state(), "Running");
    await ok(["pod", "restart", "-t", "1", "life"]);
    assert.equal(await state(), "Running");
    await ok(["pod", "kill", "life"]);
    await until("the pod's containers to exit", async () => (await state()) === "Exited");
    // one member started alone: the infra comes up with it, the other stays down
    await ok(["start", "life-a"]);
    assert.equal(await state(), "Degraded");
    const infra = (await ok(["pod", "inspect", "--format", "{{.InfraContainerID}}", "life"])).trim();
    assert.equal((await ok(["inspect", "--format", "{{.State.Status}}", infra])).trim(), "running");
    await ok(["pod", "stop", "-t", "1", "life"]);
    await remember();
  });

  it("pod events on /events, filtered by type=pod", async () => {
    const since = Date.now() / 1000;
    await ok(["pod", "create", "--name", "evpod"]);
    await ok(["pod", "start", "evpod"]);
    await ok(["pod", "stop", "-t", "1", "evpod"]);
    await ok(["pod", "start", "evpod"]);
    await ok(["pod", "kill", "evpod"]);
    await ok(["pod", "rm", "evpod"]);
    const until_ = Date.now() / 1000 + 1;
    const filters = encodeURIComponent(JSON.stringify({ type: ["pod"] }));
    const r = await apiGet(h.socket, `/v1.47/events?since=${since.toFixed(3)}&until=${until_.toFixed(3)}&filters=${filters}`);
    assert.equal(r.status, 200);
    const events = r.body.trim().split("\n").map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { Attributes: { name: string } } });
    assert.ok(events.every((e) => e.Type === "pod"));
    assert.deepEqual(events.filter((e) => e.Actor.Attributes.name === "evpod").map((e) => e.Action), ["create", "start", "stop", "start", "kill", "remove"]);
    // the CLI reads the same stream
    const cli = await ok(["events", "--since", since.toFixed(3), "--until", until_.toFixed(3), "--filter", "type=pod", "--filter", "event=remove", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"]);
    assert.match(cli, /^pod remove evpod$/m);
  });

  it("kube generate prints a pod (or a container) as a Kubernetes Pod that kubectl takes", async () => {
    const port = await freePort();
    await ok(["pod", "create", "--name", "kgen", "--hostname", "kgen-host", "-p", `${port}:8080`, "--add-host", "db:10.0.0.9", "--share", "net,ipc,uts,pid"]);
    await ok(["create", "--pod", "kgen", "--name", "kgen-web", "-e", "MODE=prod", "-w", "/srv", "busybox", "httpd", "-f", "-p", "8080"]);
    await ok(["create", "--name", "kgen-solo", "-p", `${port + 1}:80`, "busybox", "sleep", "60"]);
    const text = await ok(["kube", "generate", "kgen"]);
    const obj = parse(text) as { kind: string; metadata: { name: string }; spec: { hostname: string; shareProcessNamespace: boolean; hostAliases: unknown; containers: { name: string; image: string; args: string[]; env: unknown; workingDir: string; ports: unknown }[] } };
    assert.equal(obj.kind, "Pod");
    assert.equal(obj.metadata.name, "kgen");
    assert.equal(obj.spec.hostname, "kgen-host");
    assert.equal(obj.spec.shareProcessNamespace, true);
    assert.deepEqual(obj.spec.hostAliases, [{ ip: "10.0.0.9", hostnames: ["db"] }]);
    assert.equal(obj.spec.containers.length, 1, "the infra container is not a Kubernetes container");
    const web = obj.spec.containers[0]!;
    assert.deepEqual([web.name, web.image, web.args, web.env, web.workingDir], ["kgen-web", "busybox", ["httpd", "-f", "-p", "8080"], [{ name: "MODE", value: "prod" }], "/srv"]);
    assert.deepEqual(web.ports, [{ containerPort: 8080, protocol: "TCP", hostPort: port }]);
    const solo = parse(await ok(["kube", "generate", "kgen-solo"])) as { metadata: { name: string }; spec: { containers: { ports: unknown }[] } };
    assert.equal(solo.metadata.name, "kgen-solo-pod");
    assert.deepEqual(solo.spec.containers[0]!.ports, [{ containerPort: 80, protocol: "TCP", hostPort: port + 1 }]);
    const missing = await cove(["kube", "generate", "no-such-thing"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such container: no-such-thing/);
    if (KUBECTL) {
      // kubectl's client-side dry run needs an API server to map the kind: a stub that answers
      // discovery for v1 pods (and 404 for the pod itself, so apply would create it)
      const stub = await kubeDiscoveryStub();
      try {
        const kubeconfig = path.join(h.base, "kubeconfig");
        await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: stub, cluster: {server: "http://127.0.0.1:${stub.port}"}}]\ncontexts: [{name: stub, context: {cluster: stub, user: stub}}]\nusers: [{name: stub, user: {}}]\ncurrent-context: stub\n`);
        for (const yaml of [text, await ok(["kube", "generate", "kgen-solo"])]) {
          const r = await run(KUBECTL, ["apply", "--dry-run=client", "--validate=false", "-f", "-", "-o", "name"], { KUBECONFIG: kubeconfig }, yaml);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^pod\/kgen(-solo-pod)?$/m);
        }
      } finally {
        await stub.close();
      }
    }
    await ok(["rm", "kgen-solo"]);
    await ok(["pod", "rm", "kgen"]);
  });

  it("refuses bad input with a clear error and changes nothing", async () => {
    await ok(["pod", "create", "--name", "guard"]);
    await ok(["run", "-d", "--pod", "guard", "--name", "guard-a", "busybox", "sleep", "600"]);
    await remember();
    const before = await snapshot();
    const refused = async (args: string[], pattern: RegExp) => {
      const r = await cove(args);
      assert.notEqual(r.code, 0, `cove ${args.join(" ")} succeeded`);
      assert.match(r.stderr, pattern);
      assert.equal(await snapshot(), before, `cove ${args.join(" ")} changed something`);
    };
    await refused(["pod", "create", "--name", "guard"], /pod name "guard" is already in use/);
    await refused(["run", "--pod", "no-such-pod", "busybox", "true"], /no pod with name or ID no-such-pod found/);
    await refused(["run", "--pod", "guard", "-p", "9999:80", "busybox", "true"], /published ports must be defined when the pod is created/);
    await refused(["run", "--pod", "guard", "--network", "none", "busybox", "true"], /networks must be defined when the pod is created/);
    await refused(["run", "--pod", "guard", "--hostname", "other", "busybox", "true"], /cannot set hostname when joining the pod UTS namespace/);
    await refused(["run", "--pod", "guard", "--name", "guard-a", "busybox", "true"], /is already in use/);
    await refused(["pod", "rm", "guard"], /pod guard has running containers \(guard-a, [0-9a-f]{12} \(infra\)\): stop the pod first, or remove it with --force/);
    const infra = (await ok(["pod", "inspect", "--format", "{{.InfraContainerID}}", "guard"])).trim();
    await refused(["rm", "-f", infra], /is the infra container of pod guard: it is removed with its pod/);
    await refused(["pod", "create", "--share", "net,bogus"], /invalid namespace "bogus" to share/);
    await refused(["pod", "create", "--network", "host", "-p", "8080:80"], /published ports need a network namespace of the pod's own/);
    await refused(["pod", "start", "no-such-pod"], /no pod with name or ID no-such-pod found/);
    // a create that fails after its checks (a network that does not exist) leaves no infra behind
    await refused(["pod", "create", "--name", "nonet", "--network", "no-such-network"], /no-such-network/);
    await refused(["pod", "create", "--name", "noimage", "--infra-image", "no-such-image:1"], /no-such-image/);
    assert.deepEqual(readdirSync(path.join(h.root, "pods")).sort(), (await h.daemon.pods.list()).map((p) => p.Id).sort());
    // pod rm without -f of a stopped pod removes it with its members
    await ok(["pod", "stop", "-t", "1", "guard"]);
    await ok(["pod", "rm", "guard"]);
    assert.equal((await cove(["pod", "exists", "guard"])).code, 1);
    assert.equal((await cove(["inspect", "guard-a"])).code, 1);
  });

  it("a running pod survives a daemon restart and is adopted; pod rm -f then leaves nothing", async () => {
    const port = await freePort();
    await ok(["pod", "create", "--name", "kept", "-p", `${port}:8080`]);
    await ok(["run", "-d", "--pod", "kept", "--name", "kept-web", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]);
    assert.equal((await httpGetWhenUp(port, "/hostname")).trim(), "kept");
    const pid = (await ok(["inspect", "--format", "{{.State.Pid}}", "kept-web"])).trim();
    await remember();
    await h.restart();
    assert.equal((await ok(["pod", "inspect", "--format", "{{.State}}", "kept"])).trim(), "Running");
    assert.equal((await ok(["inspect", "--format", "{{.State.Pid}}", "kept-web"])).trim(), pid, "the same process, adopted");
    assert.equal((await httpGetWhenUp(port, "/hostname")).trim(), "kept");
    // the adopted pod is managed as before
    await ok(["run", "-d", "--pod", "kept", "--name", "kept-late", "busybox", "sleep", "600"]);
    await remember();
    const out = await ok(["pod", "rm", "-f", "kept"]);
    assert.equal(out.trim(), "kept");

    // every pod of this file goes; then nothing of them is held
    for (const p of await h.daemon.pods.list()) await h.daemon.pods.remove(p.Id, { force: true });
    assert.equal((await h.daemon.containers.list({ all: true })).length, 0);
    const leaks = findLeaks({ root: h.root, runtimeRoot: path.join(h.base, "r"), execRoot: path.dirname(h.netnsDir), ids }, new Set(), new Set(), new Set());
    // the harness names its own bridge and chains: those are checked below
    assert.equal(describeLeaks({ ...leaks, veths: [], dnatRules: [] }), "");
    assert.deepEqual(await lines("ip", ["-o", "link", "show", "master", h.bridge]), [], "no veth left on the bridge");
    assert.deepEqual((await lines("iptables", ["-w", "-t", "nat", "-S"])).filter((l) => l.includes(`--dport ${port} `) && l.includes("DNAT")), [], "no DNAT rule left for the pod's port");
    assert.equal(readdirSync(path.join(h.root, "pods")).length, 0);
  });
});

// CRI pod sandboxes on the node's CNI network (`cove daemon --cni-conf-dir`), with Debian's
// containernetworking plugins: a configuration directory the test writes (a bridge of its own with
// host-local addresses kept in the test's directory, and portmap), a sandbox whose IP comes from
// the plugins, a server in it reached from the host on that IP and through a mapped port, DNS
// from the sandbox's config, and the plugins' DEL at the stop (address released, port rule gone).
// A list whose second plugin fails leaves nothing: no sandbox, no address, no record. The test
// removes its bridge and the portmap chains it caused.

import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { criServices } from "../../src/cri/proto.js";
import { pingSocket } from "../../src/daemon/index.js";
import { until } from "../containers/harness.js";
import { busyboxRootfsTar, tempDir } from "../images/fixtures.js";
import { freeSubnets, runDocker, skipReason } from "../network/harness.js";
import { freePort } from "../support/ports.js";
import { removeDaemonLeftovers } from "./support.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const CNI_BIN = "/usr/lib/cni";
const skip = skipReason || (!existsSync(path.join(CNI_BIN, "bridge")) || !existsSync(path.join(CNI_BIN, "portmap")) ? `the CNI plugins are missing from ${CNI_BIN} (Debian's containernetworking-plugins; scripts/setup.sh installs it)` : false);

type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

/** The nat table's top-level chains portmap makes once per host and leaves (as containerd's hosts keep them). */
const PORTMAP_CHAINS = ["CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"];

function natRules(): string {
  return execFileSync("iptables", ["-w", "-t", "nat", "-S"], { encoding: "utf8" });
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} in 5 s`)));
    req.on("error", reject);
  });
}


describe("CRI sandboxes on the node's CNI network", { skip }, () => {
  let base: string;
  let daemon: ChildProcess | undefined;
  let output = "";
  let runtime: grpc.Client & Record<string, Unary>;
  let execRoot = "";
  let bridge = "";
  let bip = "";
  let podBridge = "";
  let podSubnet = "";
  let portmapHad: string[] = [];
  const at = (p: string) => path.join(base, p);
  const call = (method: string, req: object = {}) => new Promise<Record<string, unknown>>((resolve, reject) => runtime[method]!(req, (err, res) => (err ? reject(err) : resolve(res))));
  const allocated = () => (existsSync(at("ipam/pods")) ? readdirSync(at("ipam/pods")).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : []);
  const records = () => (existsSync(at("root/cri/cni")) ? readdirSync(at("root/cri/cni")) : []);
  const network = (plugins: object[]) => JSON.stringify({ cniVersion: "1.0.0", name: "pods", plugins });
  const bridgePlugin = () => ({ type: "bridge", bridge: podBridge, isGateway: true, ipMasq: false, ipam: { type: "host-local", ranges: [[{ subnet: podSubnet }]], dataDir: at("ipam") } });
  const sandboxConfig = (name: string, extra: object = {}) => ({ metadata: { name, namespace: "default", uid: `uid-${name}`, attempt: 0 }, hostname: name, log_directory: at(`logs/${name}`), linux: {}, ...extra });

  before(async () => {
    base = await tempDir();
    const tag = path.basename(base).replace(/[^a-zA-Z0-9]/g, "").slice(-6);
    execRoot = `/run/cvcni-${tag}`;
    bridge = `cvcni${tag}`.slice(0, 15);
    podBridge = `cvpod${tag}`.slice(0, 15);
    const [daemonSubnet, pods] = freeSubnets(2);
    bip = daemonSubnet!.replace(/0\/24$/, "1/24");
    podSubnet = pods!;
    portmapHad = PORTMAP_CHAINS.filter((c) => natRules().includes(`-N ${c}\n`));
    await mkdir(at("net.d"), { recursive: true });
    // a file that is not a configuration comes first and is skipped, with a word in the log
    await writeFile(at("net.d/05-broken.conflist"), "{ this is not json");
    await writeFile(at("net.d/10-pods.conflist"), network([bridgePlugin(), { type: "portmap", capabilities: { portMappings: true } }]));
    await writeFile(at("daemon.json"), "{}\n");
    daemon = spawn(process.execPath, [MAIN, "--root", at("root"), "daemon", "--socket", at("cove.sock"), "--exec-root", execRoot, "--bridge", bridge, "--bip", bip, "--config-file", at("daemon.json"), "--cri-socket", at("cri.sock"), "--cni-conf-dir", at("net.d"), "--cni-bin-dir", CNI_BIN], { stdio: ["ignore", "pipe", "pipe"] });
    daemon.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    daemon.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    await until(`the daemon to serve its CRI socket:\n${output}`, async () => {
      assert.equal(daemon!.exitCode, null, `the daemon exited:\n${output}`);
      return /CRI \(runtime\.v1\) on unix:/.test(output) && (await pingSocket(at("cove.sock"))) === "answers";
    });
    const Runtime = grpc.makeGenericClientConstructor(criServices().RuntimeService, "RuntimeService");
    runtime = new Runtime(`unix://${at("cri.sock")}`, grpc.credentials.createInsecure()) as unknown as typeof runtime;
    const r = await runDocker(at("cove.sock"), base, ["import", "--change", 'CMD ["sh"]', await busyboxRootfsTar(base), "busybox:latest"]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    try {
      if (daemon && daemon.exitCode === null) {
        for (const p of ((await call("ListPodSandbox", {}).catch(() => ({ items: [] }))).items ?? []) as { id: string }[]) await call("RemovePodSandbox", { pod_sandbox_id: p.id }).catch(() => undefined);
        runtime?.close();
        const exited = new Promise((r) => daemon!.once("exit", r));
        daemon.kill("SIGTERM");
        await exited;
      }
    } finally {
      await removeDaemonLeftovers({ root: at("root"), execRoot, bridge, bip });
      // the bridge plugin's bridge outlives its pods (as on a node); a test's goes with the test
      if (podBridge) spawnSync("ip", ["link", "del", podBridge], { stdio: "ignore" });
      for (const chain of PORTMAP_CHAINS.filter((c) => !portmapHad.includes(c))) {
        // the jumps into the chain first, then the chain
        for (const rule of natRules().split("\n").filter((l) => l.startsWith("-A ") && l.endsWith(`-j ${chain}`))) spawnSync("sh", ["-c", `iptables -w -t nat ${rule.replace(/^-A /, "-D ")}`], { stdio: "ignore" });
        for (const op of ["-F", "-X"]) spawnSync("iptables", ["-w", "-t", "nat", op, chain], { stdio: "ignore" });
      }
      if (base) await rm(base, { recursive: true, force: true, maxRetries: 3 });
    }
  });

  it("gives the sandbox its address from the plugins, serves the pod on it and on a mapped port, and releases both at the stop", async () => {
    const hostPort = await freePort();
    const config = sandboxConfig("web", { port_mappings: [{ protocol: "TCP", container_port: 8080, host_port: hostPort }], dns_config: { servers: ["10.96.0.10"], searches: ["default.svc.cluster.local"], options: ["ndots:5"] } });
    const st = (await call("Status", { verbose: true })) as { info: Record<string, string> };
    assert.deepEqual(JSON.parse(st.info.cniconfig!).network, { name: "pods", cniVersion: "1.0.0", file: at("net.d/10-pods.conflist"), plugins: ["bridge", "portmap"] }, "Status names the network sandboxes join");
    const { pod_sandbox_id: pod } = (await call("RunPodSandbox", { config })) as { pod_sandbox_id: string };
    assert.match(output, /CNI: skipped .*05-broken\.conflist: not JSON/, "the unusable file is named in the log");
    const status = (await call("PodSandboxStatus", { pod_sandbox_id: pod })).status as { state: string; network: { ip: string } };
    assert.equal(status.state, "SANDBOX_READY");
    const prefix = podSubnet.replace(/0\/24$/, "");
    assert.ok(status.network.ip.startsWith(prefix), `the sandbox's IP ${status.network.ip} is from the CNI network ${podSubnet}`);
    assert.deepEqual(allocated(), [status.network.ip], "host-local holds the sandbox's address");
    assert.deepEqual(records(), [`${pod}.json`], "the attachment is kept for the DEL");

    const { container_id: server } = (await call("CreateContainer", {
      pod_sandbox_id: pod,
      sandbox_config: config,
      config: { metadata: { name: "server" }, image: { image: "busybox" }, command: ["sh", "-c", 'mkdir -p /www && echo "served by $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www'], log_path: "server.log" },
    })) as { container_id: string };
    await call("StartContainer", { container_id: server });
    const ex = (await call("ExecSync", { container_id: server, cmd: ["sh", "-c", "ip -4 -o addr show eth0; cat /etc/resolv.conf"], timeout: 30 })) as { stdout: Buffer; exit_code: number };
    assert.equal(ex.exit_code, 0);
    const inside = ex.stdout.toString();
    assert.match(inside, new RegExp(`eth0\\s+inet ${status.network.ip.replace(/\./g, "\\.")}/24`), "eth0 in the pod has the plugins' address");
    assert.match(inside, /nameserver 10\.96\.0\.10/);
    assert.match(inside, /search default\.svc\.cluster\.local/);

    const gateway = `${prefix}1`;
    await until("the pod's server answers on its address", async () => (await get(`http://${status.network.ip}:8080/`).catch(() => "")) === "served by web\n");
    // portmap's DNAT: the host's own addresses at the mapped port, loopback too (as critest checks it)
    assert.equal(await get(`http://${gateway}:${hostPort}/`), "served by web\n");
    assert.equal(await get(`http://127.0.0.1:${hostPort}/`), "served by web\n");
    assert.match(natRules(), new RegExp(`--dport ${hostPort} .*DNAT.*${status.network.ip.replace(/\./g, "\\.")}:8080`));

    await call("StopContainer", { container_id: server, timeout: 0 });
    await call("StopPodSandbox", { pod_sandbox_id: pod });
    assert.deepEqual(allocated(), [], "the address is released at the stop");
    assert.deepEqual(records(), [], "nothing is kept once the DEL succeeded");
    assert.doesNotMatch(natRules(), new RegExp(`--dport ${hostPort} `), "the mapped port's rule is gone");
    const stopped = (await call("PodSandboxStatus", { pod_sandbox_id: pod })).status as { state: string; network: { ip: string } };
    assert.deepEqual([stopped.state, stopped.network.ip], ["SANDBOX_NOTREADY", ""]);
    // a second stop and the removal are done without another DEL
    await call("StopPodSandbox", { pod_sandbox_id: pod });
    await call("RemovePodSandbox", { pod_sandbox_id: pod });
    assert.deepEqual((await call("ListPodSandbox", {})).items, []);
  });

  it("leaves nothing when a plugin of the list fails: no sandbox, no address, no record", async () => {
    await writeFile(at("net.d/10-pods.conflist"), network([bridgePlugin(), { type: "cove-no-such-plugin" }]));
    try {
      await assert.rejects(call("RunPodSandbox", { config: sandboxConfig("broken") }), (err: grpc.ServiceError) => {
        assert.match(err.details, /setting up the pod's network "pods" .*10-pods\.conflist.*CNI plugin "cove-no-such-plugin" was not found/);
        return true;
      });
      assert.deepEqual((await call("ListPodSandbox", {})).items, []);
      assert.deepEqual(allocated(), [], "the bridge plugin's address was released by the undo");
      assert.deepEqual(records(), []);
      const ps = await runDocker(at("cove.sock"), base, ["ps", "-aq"]);
      assert.equal(ps.stdout.trim(), "", "no infra container is left");
    } finally {
      await writeFile(at("net.d/10-pods.conflist"), network([bridgePlugin(), { type: "portmap", capabilities: { portMappings: true } }]));
    }
  });
});

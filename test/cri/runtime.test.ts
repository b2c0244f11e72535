// The CRI RuntimeService of `cove daemon` (runtime.v1 over gRPC on --cri-socket), driven by a gRPC
// client made from the same api.proto, against a daemon with networking on its own bridge,
// subnet and exec root: a sandbox with two containers through its whole life (shared localhost
// and hostname, a host_path mount, envs, the CRI log file's lines, ExecSync, stats, the same
// containers in `docker ps -a`), idempotent stops and removals, the codes of bad input (each
// checked to change nothing), a sandbox whose network set-up fails leaving nothing behind, and
// nothing held by the daemon at the end (test/support/leaks.ts). With CRICTL naming a crictl
// binary (cri-tools), crictl drives the same lifecycle too. Every wait is for a condition, with
// generous bounds.

import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, afterEach, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { criServices } from "../../src/cri/proto.js";
import { pingSocket } from "../../src/daemon/index.js";
import { until } from "../containers/harness.js";
import { busyboxRootfsTar, tempDir } from "../images/fixtures.js";
import { freeSubnets, runDocker, skipReason } from "../network/harness.js";
import { describeLeaks, findLeaks } from "../support/leaks.js";
import { removeDaemonLeftovers } from "./support.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const CRICTL = process.env.CRICTL;

type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

interface LogLine {
  time: string;
  stream: string;
  tag: string;
  text: string;
}

function criLog(text: string): LogLine[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [time = "", stream = "", tag = "", ...rest] = l.split(" ");
      return { time, stream, tag, text: rest.join(" ") };
    });
}


describe("the CRI runtime service: sandboxes and containers", { skip: skipReason }, () => {
  let base: string;
  let daemon: ChildProcess | undefined;
  let output = "";
  let runtime: grpc.Client & Record<string, Unary>;
  let execRoot: string;
  let bridge: string;
  let bip: string;
  let subnetPrefix: string;
  /** Every container the test made (infra included), for the leak check. */
  const made = new Set<string>();
  const at = (p: string) => path.join(base, p);
  const criSocket = () => at("cri.sock");
  const call = (method: string, req: object = {}) => new Promise<Record<string, unknown>>((resolve, reject) => runtime[method]!(req, (err, res) => (err ? reject(err) : resolve(res))));
  const rejectsWith = (p: Promise<unknown>, code: grpc.status, re: RegExp) =>
    assert.rejects(p, (err: grpc.ServiceError) => {
      assert.equal(err.code, code, `${grpc.status[code]} expected, got ${grpc.status[err.code]}: ${err.details}`);
      assert.match(err.details, re);
      return true;
    });
  const docker = async (...args: string[]) => {
    const r = await runDocker(at("cove.sock"), base, args);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const allContainers = async () => (await docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}")).split("\n").filter(Boolean);
  const remember = async () => {
    for (const l of await allContainers()) made.add(l.split(" ")[0]!);
  };
  const containerStatus = async (id: string) => (await call("ContainerStatus", { container_id: id })).status as Record<string, unknown>;
  /** Removes every sandbox (with its containers): what a failed test left does not fail the next. */
  const removeSandboxes = async () => {
    for (const p of ((await call("ListPodSandbox", {}).catch(() => ({ items: [] }))).items ?? []) as { id: string }[]) await call("RemovePodSandbox", { pod_sandbox_id: p.id }).catch(() => undefined);
  };
  const sandboxConfig = (name: string, extra: object = {}) => ({
    metadata: { name, namespace: "default", uid: `uid-${name}`, attempt: 0 },
    hostname: `${name}-host`,
    log_directory: at(`logs/${name}`),
    labels: { app: name, "io.kubernetes.pod.name": name },
    annotations: { "example.com/note": `for ${name}` },
    linux: {},
    ...extra,
  });

  /** Starts the daemon child (again, after a restart: the same root, exec root, bridge and sockets) and waits for its CRI socket. */
  const startDaemon = async () => {
    output = "";
    const proc = spawn(process.execPath, [MAIN, "--root", at("root"), "daemon", "--socket", at("cove.sock"), "--exec-root", execRoot, "--bridge", bridge, "--bip", bip, "--config-file", at("daemon.json"), "--cri-socket", criSocket(), "--cni-conf-dir", "none"], { stdio: ["ignore", "pipe", "pipe"] });
    daemon = proc;
    proc.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    proc.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    await until(`the daemon to serve its CRI socket:\n${output}`, async () => {
      assert.equal(proc.exitCode, null, `the daemon exited:\n${output}`);
      return /CRI \(runtime\.v1\) on unix:/.test(output) && (await pingSocket(at("cove.sock"))) === "answers";
    });
  };
  const stopDaemon = async () => {
    if (!daemon || daemon.exitCode !== null) return;
    const exited = new Promise((r) => daemon!.once("exit", r));
    daemon.kill("SIGTERM");
    await exited;
  };

  before(async () => {
    base = await tempDir();
    const tag = path.basename(base).replace(/[^a-zA-Z0-9]/g, "").slice(-6);
    execRoot = `/run/cvcri-${tag}`;
    bridge = `cvcri${tag}`.slice(0, 15);
    const [subnet] = freeSubnets(1);
    bip = subnet!.replace(/0\/24$/, "1/24");
    subnetPrefix = subnet!.replace(/0\/24$/, "");
    await writeFile(at("daemon.json"), "{}\n");
    await mkdir(at("docker-config"), { recursive: true });
    await startDaemon();
    const Runtime = grpc.makeGenericClientConstructor(criServices().RuntimeService, "RuntimeService");
    runtime = new Runtime(`unix://${criSocket()}`, grpc.credentials.createInsecure()) as unknown as typeof runtime;
    await docker("import", "--change", 'CMD ["sh"]', await busyboxRootfsTar(base), "busybox:latest");
  });

  after(async () => {
    try {
      if (daemon && daemon.exitCode === null) {
        // what a failed test left goes through the daemon's own APIs: sandboxes (with their infra containers), then the rest
        await removeSandboxes();
        const ids = (await runDocker(at("cove.sock"), base, ["ps", "-aq"])).stdout.split("\n").filter(Boolean);
        if (ids.length) await runDocker(at("cove.sock"), base, ["rm", "-f", ...ids]);
        runtime?.close();
        await stopDaemon();
      }
    } finally {
      await removeDaemonLeftovers({ root: at("root"), execRoot, bridge, bip });
      if (base) await rm(base, { recursive: true, force: true, maxRetries: 3 });
    }
  });

  afterEach(removeSandboxes);

  it("runs a sandbox with two containers sharing localhost and the hostname, with mounts, envs, CRI logs, ExecSync and stats", async () => {
    await mkdir(at("host-data"), { recursive: true });
    await writeFile(at("host-data/greeting"), "from the host\n");
    const config = sandboxConfig("web");
    const { pod_sandbox_id: pod } = (await call("RunPodSandbox", { config })) as { pod_sandbox_id: string };
    assert.match(pod, /^[0-9a-f]{64}$/);
    const ps = (await call("PodSandboxStatus", { pod_sandbox_id: pod, verbose: true })).status as Record<string, unknown> & { network: { ip: string }; linux: { namespaces: { options: Record<string, string> } } };
    assert.equal(ps.state, "SANDBOX_READY");
    assert.ok(ps.network.ip.startsWith(subnetPrefix), `the sandbox's IP ${ps.network.ip} is on the bridge ${bip}`);
    assert.deepEqual(ps.metadata, config.metadata);
    assert.deepEqual(ps.labels, config.labels);
    assert.deepEqual(ps.annotations, config.annotations);
    assert.deepEqual(ps.linux.namespaces.options, { network: "POD", pid: "CONTAINER", ipc: "POD", target_id: "", userns_options: null });
    const created = BigInt(ps.created_at as string);
    assert.ok(created > BigInt(Date.now() - 600_000) * 1_000_000n && created <= BigInt(Date.now()) * 1_000_000n, `created_at ${created} is in ns`);

    // the server answers on the pod's localhost, prints a tick every 0.2 s, and says when SIGTERM comes
    const server = (await call("CreateContainer", {
      pod_sandbox_id: pod,
      sandbox_config: config,
      config: {
        metadata: { name: "server" },
        image: { image: "busybox" },
        command: ["sh", "-c"],
        args: ['trap "echo got-term; exit 0" TERM; mkdir -p /tmp/www && echo "served by $(hostname)" > /tmp/www/index.html && httpd -p 127.0.0.1:8080 -h /tmp/www && i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'],
        labels: { role: "server" },
        annotations: { "example.com/c": "server" },
        log_path: "server/0.log",
      },
    })) as { container_id: string };
    const long = "x".repeat(20_000);
    const client = (await call("CreateContainer", {
      pod_sandbox_id: pod,
      sandbox_config: config,
      config: {
        metadata: { name: "client", attempt: 0 },
        image: { image: "docker.io/library/busybox:latest" },
        args: ["sh", "-c", `until wget -qO- http://127.0.0.1:8080/; do sleep 0.1; done; echo "host=$(hostname) greeting=$(cat /data/greeting) env=$GREETING"; echo oops >&2; echo ${long}; printf no-newline`],
        // KeyValue.value is bytes in this api.proto (string upstream: the same on the wire)
        envs: [{ key: "GREETING", value: Buffer.from("hi there") }],
        mounts: [{ container_path: "/data", host_path: at("host-data"), readonly: true }],
        labels: { role: "client" },
        log_path: "client.log",
      },
    })) as { container_id: string };
    await remember();
    assert.equal((await containerStatus(server.container_id)).state, "CONTAINER_CREATED");
    await call("StartContainer", { container_id: server.container_id });
    await call("StartContainer", { container_id: client.container_id });
    await until("the client to exit", async () => (await containerStatus(client.container_id)).state === "CONTAINER_EXITED");

    const cs = await containerStatus(client.container_id);
    assert.equal(cs.exit_code, 0);
    assert.equal(cs.reason, "Completed");
    assert.deepEqual(cs.metadata, { name: "client", attempt: 0 });
    assert.deepEqual(cs.labels, { role: "client" });
    assert.equal((cs.image as { image: string }).image, "docker.io/library/busybox:latest");
    assert.match(cs.image_ref as string, /^sha256:[0-9a-f]{64}$/);
    assert.equal(cs.log_path, at("logs/web/client.log"));
    assert.deepEqual(cs.mounts, [{ container_path: "/data", host_path: at("host-data"), readonly: true, selinux_relabel: false, propagation: "PROPAGATION_PRIVATE", uidMappings: [], gidMappings: [], recursive_read_only: false, image: null, image_sub_path: "" }]);
    const [createdAt, startedAt, finishedAt] = [cs.created_at, cs.started_at, cs.finished_at].map((v) => BigInt(v as string));
    assert.ok(createdAt! > 0n && createdAt! <= startedAt! && startedAt! <= finishedAt!, `created ${createdAt} <= started ${startedAt} <= finished ${finishedAt}`);

    // the CRI log: F for whole lines, P for the 16 KiB pieces of a longer one and for a last line without its newline
    await until("the client's CRI log to hold its last line", async () => existsSync(at("logs/web/client.log")) && (await readFile(at("logs/web/client.log"), "utf8")).includes("no-newline"));
    const lines = criLog(await readFile(at("logs/web/client.log"), "utf8"));
    for (const l of lines) assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/, `an RFC3339Nano time: ${l.time}`);
    // each stream's lines in order (the monitor reads the two pipes apart: their interleaving is not kept)
    const shown = (stream: string) => lines.filter((l) => l.stream === stream).map((l) => [l.tag, l.text.length > 100 ? `${l.text[0]}*${l.text.length}` : l.text]);
    assert.deepEqual(shown("stdout"), [
      ["F", "served by web-host"],
      ["F", "host=web-host greeting=from the host env=hi there"],
      ["P", "x*16384"],
      ["F", `x*${20_000 - 16_384}`],
      ["P", "no-newline"],
    ]);
    assert.deepEqual(shown("stderr"), [["F", "oops"]]);

    // ExecSync: output, exit code, and a timeout that kills the command
    const ex = (await call("ExecSync", { container_id: server.container_id, cmd: ["sh", "-c", "cat /tmp/www/index.html; echo to-err >&2; exit 3"], timeout: 30 })) as { stdout: Buffer; stderr: Buffer; exit_code: number };
    assert.deepEqual([ex.stdout.toString(), ex.stderr.toString(), ex.exit_code], ["served by web-host\n", "to-err\n", 3]);
    await rejectsWith(call("ExecSync", { container_id: server.container_id, cmd: ["sleep", "60"], timeout: 1 }), grpc.status.DEADLINE_EXCEEDED, /timed out after 1s/);
    // exec, attach and port-forward: a URL of the streaming server (test/cri/streaming.test.ts drives it)
    const url = new URL(String((await call("Exec", { container_id: server.container_id, cmd: ["sh"], stdout: true })).url));
    assert.match(url.href, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[\w-]+$/);
    const status = await call("Status", { verbose: true });
    assert.equal(JSON.parse((status.info as Record<string, string>).config!).streamServerPort, url.port, "Status names the streaming server's port");

    // stats: CPU time, working set and the writable layer (the server wrote its page)
    const st = ((await call("ContainerStats", { container_id: server.container_id })).stats ?? {}) as { cpu: { usage_core_nano_seconds: { value: string } }; memory: { working_set_bytes: { value: string } }; writable_layer: { used_bytes: { value: string } } };
    assert.ok(Number(st.cpu.usage_core_nano_seconds.value) > 0, "CPU time");
    assert.ok(Number(st.memory.working_set_bytes.value) > 0, "working set");
    assert.ok(Number(st.writable_layer.used_bytes.value) > 0, "writable layer");
    const listed = (await call("ListContainerStats", { filter: { pod_sandbox_id: pod } })).stats as { attributes: { id: string } }[];
    assert.deepEqual(listed.map((s) => s.attributes.id).sort(), [server.container_id, client.container_id].sort());
    const pst = ((await call("PodSandboxStats", { pod_sandbox_id: pod })).stats ?? {}) as { linux: { cpu: { usage_core_nano_seconds: { value: string } }; memory: { working_set_bytes: { value: string } }; containers: unknown[] } };
    assert.ok(Number(pst.linux.cpu.usage_core_nano_seconds.value) > 0 && Number(pst.linux.memory.working_set_bytes.value) > 0);
    assert.equal(pst.linux.containers.length, 2);

    // lists and their filters
    const ids = async (filter: object) => ((await call("ListContainers", { filter })).containers as { id: string }[]).map((c) => c.id).sort();
    assert.deepEqual(await ids({ pod_sandbox_id: pod }), [server.container_id, client.container_id].sort());
    assert.deepEqual(await ids({ state: { state: "CONTAINER_RUNNING" } }), [server.container_id]);
    assert.deepEqual(await ids({ label_selector: { role: "client" } }), [client.container_id]);
    assert.deepEqual(await ids({ id: server.container_id.slice(0, 12) }), [server.container_id]);
    const pods = async (filter: object) => ((await call("ListPodSandbox", { filter })).items as { id: string }[]).map((p) => p.id);
    assert.deepEqual(await pods({ label_selector: { app: "web" } }), [pod]);
    assert.deepEqual(await pods({ state: { state: "SANDBOX_NOTREADY" } }), []);

    // the same containers in docker ps -a, as cri-dockerd names them
    const names = (await allContainers()).map((l) => l.split(" ").slice(1).join(" ")).sort();
    assert.deepEqual(names, ["k8s_POD_web_default_uid-web_0 running", "k8s_client_web_default_uid-web_0 exited", "k8s_server_web_default_uid-web_0 running"]);
    assert.match(await docker("logs", "--tail", "1", server.container_id), /^tick \d+$/);

    // the kubelet's log rotation: the file renamed, ReopenContainerLog, then a new file
    const serverLog = at("logs/web/server/0.log");
    await until("the server's first ticks", async () => existsSync(serverLog) && criLog(await readFile(serverLog, "utf8")).some((l) => l.text === "tick 1"));
    await rename(serverLog, `${serverLog}.1`);
    await call("ReopenContainerLog", { container_id: server.container_id });
    await until("ticks in the reopened log", async () => existsSync(serverLog) && criLog(await readFile(serverLog, "utf8")).some((l) => /^tick \d+$/.test(l.text)));
    const before = criLog(await readFile(`${serverLog}.1`, "utf8")).map((l) => l.text);
    const afterRotation = criLog(await readFile(serverLog, "utf8")).map((l) => l.text);
    assert.ok(!afterRotation.some((t) => before.includes(t)), "no line is in both files");

    // StopContainer sends SIGTERM first: the server exits 0 on it, within the timeout
    await call("StopContainer", { container_id: server.container_id, timeout: 30 });
    const stopped = await containerStatus(server.container_id);
    assert.deepEqual([stopped.state, stopped.exit_code, stopped.reason], ["CONTAINER_EXITED", 0, "Completed"]);
    assert.ok(criLog(await readFile(serverLog, "utf8")).some((l) => l.text === "got-term"), "the TERM trap's line is in the CRI log");
    await rejectsWith(call("StartContainer", { container_id: server.container_id }), grpc.status.FAILED_PRECONDITION, /CONTAINER_EXITED/);

    // stop and remove are idempotent; removing the sandbox removes its containers
    await call("StopPodSandbox", { pod_sandbox_id: pod });
    assert.equal(((await call("PodSandboxStatus", { pod_sandbox_id: pod })).status as { state: string }).state, "SANDBOX_NOTREADY");
    await call("StopPodSandbox", { pod_sandbox_id: pod });
    await call("RemoveContainer", { container_id: client.container_id });
    await call("RemoveContainer", { container_id: client.container_id });
    await call("RemovePodSandbox", { pod_sandbox_id: pod });
    await call("RemovePodSandbox", { pod_sandbox_id: pod });
    await call("StopPodSandbox", { pod_sandbox_id: pod });
    assert.deepEqual(await allContainers(), []);
    assert.deepEqual((await call("ListContainers", {})).containers, []);
    assert.deepEqual((await call("ListPodSandbox", {})).items, []);
    // the log files stay for the kubelet to remove
    assert.ok(existsSync(at("logs/web/client.log")));
  });

  it("goes on writing a running container's CRI log across a daemon restart, without a line lost or repeated", async () => {
    const config = sandboxConfig("restart");
    const { pod_sandbox_id: pod } = (await call("RunPodSandbox", { config })) as { pod_sandbox_id: string };
    const { container_id: id } = (await call("CreateContainer", {
      pod_sandbox_id: pod,
      config: { metadata: { name: "ticker" }, image: { image: "busybox" }, command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"], log_path: "ticker.log" },
    })) as { container_id: string };
    await remember();
    await call("StartContainer", { container_id: id });
    const log = at("logs/restart/ticker.log");
    const ticks = async () => criLog(await readFile(log, "utf8")).map((l) => Number(/^tick (\d+)$/.exec(l.text)?.[1] ?? NaN));
    await until("the first ticks", async () => (await ticks()).length >= 3);
    await stopDaemon();
    await startDaemon();
    const seen = (await ticks()).length;
    await until("ticks written after the restart", async () => (await ticks()).length >= seen + 10);
    const all = await ticks();
    assert.deepEqual(
      all,
      all.map((_, i) => i),
      "every tick once, in order",
    );
    assert.equal(((await call("PodSandboxStatus", { pod_sandbox_id: pod })).status as { state: string }).state, "SANDBOX_READY");
    assert.equal((await containerStatus(id)).state, "CONTAINER_RUNNING");
    await call("RemovePodSandbox", { pod_sandbox_id: pod });
  });

  it("answers bad input with the codes the kubelet expects, and changes nothing", async () => {
    const config = sandboxConfig("bad");
    await rejectsWith(call("RunPodSandbox", { config: { ...config, metadata: null } }), grpc.status.INVALID_ARGUMENT, /metadata/);
    await rejectsWith(call("RunPodSandbox", { config: { ...config, metadata: { namespace: "default" } } }), grpc.status.INVALID_ARGUMENT, /metadata\.name/);
    await rejectsWith(call("RunPodSandbox", { config, runtime_handler: "no-such-handler" }), grpc.status.NOT_FOUND, /no runtime for "no-such-handler"/);
    assert.deepEqual(await allContainers(), []);
    const { pod_sandbox_id: pod } = (await call("RunPodSandbox", { config })) as { pod_sandbox_id: string };
    await remember();
    await rejectsWith(call("RunPodSandbox", { config }), grpc.status.ALREADY_EXISTS, /k8s_POD_bad_default_uid-bad_0/);
    const c = { metadata: { name: "one" }, image: { image: "busybox" }, command: ["sleep", "60"] };
    await rejectsWith(call("CreateContainer", { pod_sandbox_id: "0123456789ab", config: c }), grpc.status.NOT_FOUND, /sandbox "0123456789ab"/);
    await rejectsWith(call("CreateContainer", { pod_sandbox_id: pod, config: { ...c, metadata: null } }), grpc.status.INVALID_ARGUMENT, /metadata\.name/);
    await rejectsWith(call("CreateContainer", { pod_sandbox_id: pod, config: { ...c, image: { image: "example.com/absent:1" } } }), grpc.status.NOT_FOUND, /example\.com\/absent:1/);
    await rejectsWith(call("CreateContainer", { pod_sandbox_id: pod, config: { ...c, mounts: [{ container_path: "relative", host_path: "/tmp" }] } }), grpc.status.INVALID_ARGUMENT, /absolute/);
    const before = await allContainers();
    const { container_id: id } = (await call("CreateContainer", { pod_sandbox_id: pod, config: c })) as { container_id: string };
    await remember();
    await rejectsWith(call("CreateContainer", { pod_sandbox_id: pod, config: c }), grpc.status.ALREADY_EXISTS, /k8s_one_bad_default_uid-bad_0/);
    // another attempt of the same container is another container
    const { container_id: second } = (await call("CreateContainer", { pod_sandbox_id: pod, config: { ...c, metadata: { name: "one", attempt: 1 } } })) as { container_id: string };
    assert.notEqual(second, id);
    await remember();
    assert.equal((await allContainers()).length, before.length + 2);
    await rejectsWith(call("ContainerStatus", { container_id: "0123456789ab" }), grpc.status.NOT_FOUND, /0123456789ab/);
    await rejectsWith(call("PodSandboxStatus", { pod_sandbox_id: "0123456789ab" }), grpc.status.NOT_FOUND, /0123456789ab/);
    await rejectsWith(call("StartContainer", { container_id: "" }), grpc.status.INVALID_ARGUMENT, /container_id is empty/);
    await rejectsWith(call("ExecSync", { container_id: id, cmd: [] }), grpc.status.INVALID_ARGUMENT, /cmd is empty/);
    await rejectsWith(call("ExecSync", { container_id: id, cmd: ["true"] }), grpc.status.FAILED_PRECONDITION, /not running/);
    // a container made through the Docker API is not the CRI's
    const plain = await docker("create", "--name", "plain", "busybox", "true");
    made.add(plain);
    await rejectsWith(call("ContainerStatus", { container_id: plain }), grpc.status.NOT_FOUND, /not found/);
    assert.deepEqual(((await call("ListContainers", {})).containers as { id: string }[]).map((x) => x.id).sort(), [id, second].sort());
    await docker("rm", plain);
    await call("RemoveContainer", { container_id: "0123456789ab" });
    await call("RemovePodSandbox", { pod_sandbox_id: pod });
    assert.deepEqual(await allContainers(), []);
  });

  it("leaves nothing behind when a sandbox's network set-up fails", async () => {
    // the host port is taken: publishing it fails while the infra container starts
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const config = sandboxConfig("taken", { port_mappings: [{ protocol: "TCP", container_port: 80, host_port: port, host_ip: "127.0.0.1" }] });
      await assert.rejects(call("RunPodSandbox", { config }), (err: grpc.ServiceError) => err.code !== grpc.status.OK && new RegExp(String(port)).test(err.details));
    } finally {
      await new Promise<void>((r) => holder.close(() => r()));
    }
    assert.deepEqual((await call("ListPodSandbox", {})).items, []);
    assert.deepEqual(await allContainers(), []);
    assert.deepEqual(readdirSync(at("root/pods")), []);
  });

  it("crictl runs the same lifecycle", { skip: CRICTL ? false : "CRICTL is not set" }, async () => {
    const crictl = (...args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(CRICTL!, ["--runtime-endpoint", `unix://${criSocket()}`, "--image-endpoint", `unix://${criSocket()}`, "--timeout", "60s", ...args], { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`crictl ${args.join(" ")}: ${stderr}`)) : resolve(stdout.trim()))),
      );
    await writeFile(at("pod.json"), JSON.stringify(sandboxConfig("cli")));
    await writeFile(at("ctr.json"), JSON.stringify({ metadata: { name: "sh" }, image: { image: "busybox" }, command: ["sh", "-c", "echo hello from crictl; sleep 600"], log_path: "sh.log" }));
    const pod = await crictl("runp", at("pod.json"));
    const ctr = await crictl("create", pod, at("ctr.json"), at("pod.json"));
    await remember();
    await crictl("start", ctr);
    assert.match(await crictl("ps", "--pod", pod), /sh\s/);
    assert.equal(JSON.parse(await crictl("inspect", ctr)).status.state, "CONTAINER_RUNNING");
    assert.equal(JSON.parse(await crictl("inspectp", pod)).status.state, "SANDBOX_READY");
    assert.equal(await crictl("exec", "-s", ctr, "echo", "via exec"), "via exec");
    await until("crictl logs to show the line", async () => (await crictl("logs", ctr)).includes("hello from crictl"));
    assert.match(await crictl("stats", "--id", ctr, "-o", "json"), /"workingSetBytes"/);
    await crictl("stop", "--timeout", "0", ctr);
    await crictl("rm", ctr);
    await crictl("stopp", pod);
    await crictl("rmp", pod);
    assert.equal(await crictl("pods", "-q"), "");
  });

  it("holds nothing for the containers it removed", async () => {
    await remember();
    // the streaming server's port, which the daemon listens on on purpose
    const status = await call("Status", { verbose: true });
    const streamingPort = Number(JSON.parse((status.info as Record<string, string>).config!).streamServerPort);
    const leaks = findLeaks({ root: at("root"), execRoot, pid: daemon!.pid, ids: made }, new Set(), new Set(), new Set([streamingPort]));
    assert.equal(describeLeaks(leaks), "", `the daemon holds:\n${describeLeaks(leaks)}`);
    assert.ok(made.size >= 6, `the test made its containers (${made.size})`);
  });
});

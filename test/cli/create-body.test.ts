// Differential: `cove run/create FLAGS` must send the same POST /containers/create as the docker
// CLI (v28) for the same flags. A recording Engine API server on a unix socket answers every
// request but /_ping with an error; both CLIs run against it and the recorded bodies (and query
// strings) must be equal. Needs only the docker CLI, no daemon.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { validateBody } from "../../src/daemon/body-schema.js";
import { cove, recordingServer, type Recorded } from "./harness.js";

const DOCKER = "/usr/local/bin/docker";

function docker(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER, args, { env, stdio: ["ignore", "ignore", "ignore"] });
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}

/** The real `cove` entry (network commands are dispatched there), against DOCKER_HOST. */
function coveMain(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  const main = path.join(path.dirname(new URL(import.meta.url).pathname), "../../src/cli/main.js");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stderr: Buffer.concat(err).toString() }));
  });
}

const { access } = await import("node:fs/promises");
const skip = await access(DOCKER).then(
  () => undefined,
  () => "the docker CLI is not installed at /usr/local/bin/docker",
);

describe("run/create send the docker CLI's create body", { skip }, () => {
  let dir: string;
  let server: Awaited<ReturnType<typeof recordingServer>>;
  let socket: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-cli-"));
    socket = path.join(dir, "engine.sock");
    server = await recordingServer(socket);
    env = { PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: path.join(dir, "docker"), DOCKER_HOST: `unix://${socket}`, B: "from-env" };
    await writeFile(path.join(dir, "env.list"), "A=1\n# comment\nB\nUNSET_IN_ENV\n  C=x y\n\n");
    await writeFile(path.join(dir, "labels.list"), "l1=v\nl2\n");
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const creates = (from: number): Recorded[] => server.requests.slice(from).filter((r) => r.method === "POST" && /\/containers\/create/.test(r.url));

  const compare = async (args: string[]) => {
    const full = args.map((a) => a.replace("@DIR@", dir));
    let mark = server.requests.length;
    const dcode = await docker(full, env);
    const d = creates(mark);
    mark = server.requests.length;
    const c = await cove(socket, full, { env: { B: "from-env" } });
    const mine = creates(mark);
    assert.equal(d.length, 1, `docker sent no create for ${full.join(" ")} (exit ${dcode})`);
    assert.equal(mine.length, 1, `cove sent no create for ${full.join(" ")}: ${c.stderr}`);
    assert.equal(mine[0]!.url, d[0]!.url);
    assert.deepEqual(normalize(JSON.parse(mine[0]!.body)), normalize(JSON.parse(d[0]!.body)));
    // cove's daemon takes what the docker CLI sends (the body's types match the API's schema)
    assert.doesNotThrow(() => validateBody("ContainerCreate", JSON.parse(d[0]!.body)));
    assert.equal(c.code, dcode, `exit status: cove ${c.code}, docker ${dcode}; cove said ${c.stderr}`);
    assert.match(c.stderr, /Error response from daemon: recorded by the test/);
  };

  // The docker CLI builds HostConfig.Binds and Env through Go maps: their order varies from run
  // to run, so it carries no meaning; compare them as sets
  const normalize = (body: { Env?: string[]; HostConfig?: { Binds?: string[] } }) => {
    if (body.HostConfig?.Binds) body.HostConfig.Binds = [...body.HostConfig.Binds].sort();
    if (body.Env) body.Env = [...body.Env].sort();
    return body;
  };

  const cases: string[][] = [
    ["run", "busybox"],
    ["run", "--rm", "-i", "--name", "foo", "--network", "none", "busybox", "sh", "-c", "echo hi"],
    ["run", "-d", "-e", "A=1", "-e", "B", "-e", "NOPE_NOT_SET", "--env-file", "@DIR@/env.list", "-l", "a=b", "-l", "c", "--label-file", "@DIR@/labels.list", "busybox", "ls", "-l"],
    ["run", "-a", "stdout", "--init", "--stop-signal", "SIGUSR1", "--stop-timeout", "5", "--privileged", "--read-only", "--hostname", "h", "-w", "/w", "-u", "1:2", "--entrypoint", "/bin/x", "busybox"],
    ["run", "--entrypoint", "", "busybox", "true"],
    ["run", "--mount", "type=bind,src=/tmp,dst=/m,readonly", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770", "--mount", "type=bind,source=/tmp,target=/c,bind-propagation=rprivate", "--tmpfs", "/run:rw,size=1m", "--tmpfs", "/x", "busybox"],
    ["run", "-v", "/tmp:/a", "-v", "vol:/b:ro", "-v", "/anon", "--read-only", "busybox"],
    ["run", "--device", "/dev/null:/dev/nn:rw", "--device", "/dev/zero", "--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--sysctl", "net.ipv4.ip_forward=1", "--shm-size", "64m", "busybox"],
    ["run", "-m", "64m", "--memory-swap", "128m", "--memory-reservation", "32m", "--cpus", "1.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "--oom-kill-disable", "--oom-score-adj", "100", "--ulimit", "nofile=10:20", "--ulimit", "nproc=5", "busybox"],
    ["run", "--network", "none", "-P", "-p", "127.0.0.1:80:8080/udp", "-p", "9000-9001:9000-9001", "-p", "53", "-p", "8080:80", "--expose", "7000", "--expose", "7100-7101/udp", "busybox"],
    ["run", "--network", "host", "--log-driver", "json-file", "--log-opt", "max-size=1m", "--platform", "linux/amd64", "--runtime", "runc", "--health-cmd", "echo hi", "--health-interval", "5s", "--health-retries", "3", "--health-timeout", "2s", "--health-start-period", "1m30s", "busybox"],
    ["run", "--restart", "on-failure:3", "--no-healthcheck", "--detach-keys", "ctrl-a,x", "--sig-proxy=false", "--memory-swap", "-1", "busybox"],
    ["run", "--network", "container:abc", "--restart", "unless-stopped", "-t", "busybox"],
    ["create", "--name", "c1", "--pull", "never", "-i", "--network", "bridge", "busybox:1.36", "sh"],
    ["create", "-t", "-i", "--restart", "always", "-e", "X=y=z", "localhost:5000/a/b:v1"],
    ["create", "--network", "net1", "--network-alias", "a1", "--network-alias", "a2", "--ip", "10.9.0.5", "--ip6", "fd00::5", "--mac-address", "02:42:ac:11:00:05", "--link-local-ip", "169.254.10.1", "busybox"],
    ["run", "--mac-address", "02:42:ac:11:00:05", "--ip", "10.1.1.1", "busybox"],
    ["create", "--network", "net1", "--link", "foo:bar", "busybox"],
    ["create", "--link", "foo:bar", "busybox"],
    ["create", "--network", "container:x", "--mac-address", "02-42-ac-11-00-05", "busybox"],
    ["create", "--network", "net1", "--network", "net2", "--ip", "10.0.0.1", "busybox"],
    ["create", "--network", "name=net1,alias=x,ip=10.0.0.2,driver-opt=k=v,gw-priority=3", "--network", "net2", "busybox"],
    ["create", "--network", "n", "--ip6", "nonsense", "--link-local-ip", "bad", "busybox"],
    // block IO, real-time CPU, device rules, GPUs, annotations, isolation; --kernel-memory is accepted and not sent
    ["create", "--annotation", "a=b", "--annotation", "c", "--blkio-weight-device", "/dev/sda:100", "--device-read-bps", "/dev/sda:1mb", "--device-write-bps", "/dev/sdb:2k", "--device-read-iops", "/dev/sda:100", "--device-write-iops", "/dev/sda:5", "--cpu-rt-period", "1000", "--cpu-rt-runtime", "500", "--device-cgroup-rule", "c 1:3 mr", "--gpus", "all", "--kernel-memory", "10m", "--isolation", "default", "busybox"],
    ["create", "--gpus", '"device=1,2",capabilities=compute', "--gpus", "driver=x,count=2,options=k=v", "--gpus", "3", "busybox"],
    ["run", "-d", "--use-api-socket", "--disable-content-trust", "busybox"],
  ];

  for (const args of cases) {
    it(args.join(" "), async () => {
      await compare(args);
    });
  }

  /** Runs args through the docker CLI and cove's, and compares the one POST each sent to a URL `which` matches. */
  const compareOther = async (args: string[], which: (url: string) => boolean, schema: Parameters<typeof validateBody>[0]) => {
    const posts = (from: number) => server.requests.slice(from).filter((r) => r.method === "POST" && which(r.url));
    let mark = server.requests.length;
    await docker(args, env);
    const d = posts(mark);
    mark = server.requests.length;
    const c = await coveMain(args, { DOCKER_HOST: `unix://${socket}`, HOME: dir });
    const mine = posts(mark);
    assert.equal(d.length, 1);
    assert.equal(mine.length, 1, c.stderr);
    assert.equal(mine[0]!.url, d[0]!.url);
    assert.deepEqual(JSON.parse(mine[0]!.body), JSON.parse(d[0]!.body));
    assert.doesNotThrow(() => validateBody(schema, JSON.parse(d[0]!.body)));
  };

  // network connect/disconnect bodies
  for (const args of [
    ["network", "connect", "--alias", "a", "--alias", "b", "--ip", "10.0.0.2", "--ip6", "fd::2", "--link-local-ip", "169.254.0.5", "--link", "c:d", "--driver-opt", "k=v", "--gw-priority", "4", "net1", "ctr"],
    ["network", "connect", "net1", "ctr"],
    ["network", "disconnect", "-f", "net1", "ctr"],
    ["network", "disconnect", "net1", "ctr"],
  ]) {
    it(args.join(" "), () => compareOther(args, (url) => /\/networks\//.test(url), args[1] === "connect" ? "NetworkConnect" : "NetworkDisconnect"));
  }

  // volume and network create bodies (the flags beyond the daemon's bridge ones are sent as the docker CLI sends them)
  for (const args of [
    ["volume", "create", "--label", "a=b", "-o", "type=tmpfs", "v0"],
    ["volume", "create", "--type", "mount", "--group", "g", "--availability", "pause", "--limit-bytes", "1g", "v1"],
    ["volume", "create", "--scope", "multi", "--sharing", "onewriter", "--secret", "a=b", "--topology-required", "r=x", "--topology-preferred", "z=1,y=2", "--required-bytes", "10m", "v2"],
    ["network", "create", "n1"],
    ["network", "create", "--ipv4=false", "--ipv6", "--ipam-opt", "a=b", "--scope", "local", "--config-only", "--config-from", "other", "--ingress", "-o", "k=v", "--label", "l", "n2"],
    ["network", "create", "--subnet", "10.9.0.0/24", "--gateway", "10.9.0.1", "--ip-range", "10.9.0.128/25", "--internal", "--attachable", "n3"],
  ]) {
    it(args.join(" "), () => compareOther(args, (url) => url.endsWith(`/${args[0]}s/create`), args[0] === "network" ? "NetworkCreate" : "VolumeCreate"));
  }

  it("build sends the docker CLI's (legacy builder's) /build query for its resource and host flags", async () => {
    const ctx = path.join(dir, "build-context");
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, "Dockerfile"), "FROM busybox\nRUN true\n");
    const args = ["build", "--add-host", "a:1.2.3.4", "--add-host", "b:5.6.7.8", "--cache-from", "x:1", "--cgroup-parent", "cg", "--cpu-period", "1000", "--cpu-quota", "500", "--cpu-shares", "3", "--cpuset-cpus", "0", "--cpuset-mems", "0", "-m", "64m", "--memory-swap", "128m", "--force-rm", "--rm=false", "--platform", "linux/amd64", "--shm-size", "32m", "--ulimit", "nofile=10:20", "--isolation", "default", "--security-opt", "seccomp=unconfined", "-t", "a:b", ctx];
    const builds = (from: number) => server.requests.slice(from).filter((r) => r.method === "POST" && /\/build\?/.test(r.url));
    let mark = server.requests.length;
    await docker(args, { ...env, DOCKER_BUILDKIT: "0" });
    const d = builds(mark);
    mark = server.requests.length;
    const c = await coveMain(args, { DOCKER_HOST: `unix://${socket}`, HOME: dir });
    const mine = builds(mark);
    assert.equal(d.length, 1);
    assert.equal(mine.length, 1, c.stderr);
    // booleans as Go's strconv reads them; each flag's parameter, whatever else either CLI sends
    const params = (url: string) => {
      const q = new URL(url, "http://x").searchParams;
      const norm = (v: string) => (v === "true" ? "1" : v === "false" ? "0" : v);
      return Object.fromEntries(["cachefrom", "cgroupparent", "cpuperiod", "cpuquota", "cpusetcpus", "cpusetmems", "cpushares", "extrahosts", "forcerm", "memory", "memswap", "platform", "rm", "securityopt", "shmsize", "ulimits", "t", "isolation"].map((k) => [k, q.getAll(k).map(norm)]));
    };
    assert.deepEqual(params(mine[0]!.url), params(d[0]!.url));
  });

  // flags the docker CLI refuses itself: both exit 125 with the same reason and send nothing
  const refused: [string[], string][] = [
    [["create", "--network-alias", "x", "busybox"], "network-scoped aliases are only supported for user-defined networks"],
    [["create", "--network", "host", "--network-alias", "x", "busybox"], "network-scoped aliases are only supported for user-defined networks"],
    [["create", "--mac-address", "zz", "busybox"], "zz is not a valid mac address"],
    [["create", "--network", "n1", "--network", "n1", "busybox"], 'network "n1" is specified multiple times'],
    [["create", "--network", "n1", "--network", "bridge", "busybox"], "conflicting options: cannot attach both user-defined and non-user-defined network-modes"],
    [["create", "--network", "name=n1,ip=10.0.0.1", "--ip", "10.0.0.2", "busybox"], "conflicting options: cannot specify both --ip and per-network IPv4 address"],
    [["create", "--blkio-weight-device", "/dev/sda:5", "busybox"], 'invalid argument "/dev/sda:5" for "--blkio-weight-device" flag: invalid weight for device: /dev/sda:5'],
    [["create", "--device-read-bps", "sda:1mb", "busybox"], 'invalid argument "sda:1mb" for "--device-read-bps" flag: bad format for device path: sda:1mb'],
    [["create", "--device-write-iops", "/dev/sda:1k", "busybox"], "invalid rate for device: /dev/sda:1k. The correct format is <device-path>:<number>. Number must be a positive integer"],
    [["create", "--device-cgroup-rule", "x 1:3 r", "busybox"], "invalid device cgroup format 'x 1:3 r'"],
    [["create", "--gpus", "count=two", "busybox"], 'invalid count (two): value must be either "all" or an integer'],
    [["create", "--gpus", "driver=a,driver=b", "busybox"], "gpu request key 'driver' can be specified only once"],
  ];
  it("refuses the Windows-only resource flags with the daemon's OS, as the docker CLI does", async () => {
    const args = ["create", "--cpu-count", "2", "--io-maxiops", "3", "busybox"];
    let mark = server.requests.length;
    const dcode = await docker(args, env);
    assert.equal(creates(mark).length, 0);
    mark = server.requests.length;
    const c = await cove(socket, args, { env: {} });
    assert.equal(creates(mark).length, 0, "cove sent a create");
    assert.equal(c.code, dcode);
    assert.match(c.stderr, /"--cpu-count" is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux\n"--io-maxiops" is only supported/);
  });

  for (const [args, reason] of refused) {
    it(`refuses ${args.join(" ")}`, async () => {
      let mark = server.requests.length;
      const dcode = await docker(args, env);
      assert.equal(creates(mark).length, 0);
      mark = server.requests.length;
      const c = await cove(socket, args, { env: {} });
      assert.equal(creates(mark).length, 0, `cove sent a create for ${args.join(" ")}`);
      assert.equal(dcode, 125);
      assert.equal(c.code, 125, c.stderr);
      assert.ok(c.stderr.includes(reason), c.stderr);
    });
  }
});

// The rest of cove compose's commands against a private cove daemon with networking
// (test/network/harness.ts): up --scale and deploy.replicas, exec, run, stop/start/restart, kill,
// pause/unpause, rm, top, port, images, ls, events --json, create, an attached up with
// --exit-code-from, configs and secrets, pull and push against a local registry, and the rollback of an up that fails
// part way (a port already taken, a container that cannot start) leaving nothing of the project.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { composeMain } from "../../src/cli/compose/index.js";
import { bestEffort } from "../../src/common/ignore.js";
import { EngineClient } from "../../src/client/index.js";
import type { ContainerSummary } from "../../src/docker/index.js";
import { findBusybox } from "../images/fixtures.js";
import { freeSubnets, skipReason, type NetHarness } from "../network/harness.js";
import { freePort, REGISTRY_BIN, startRegistry, type Registry } from "../registry/support.js";
import { composeProject, sink } from "./support.js";

const skip = skipReason || (!(await findBusybox()) ? "busybox-static is not installed" : false);

const P = "cvcmd";

const FILE = `
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db up; exec sleep 100000"]
    volumes: ["data:/data"]
    stop_grace_period: 1s
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:\${WEB_PORT}:80"]
    environment: {FOO: from-file}
    depends_on: [db]
    stop_grace_period: 1s
  worker:
    image: busybox
    command: ["sleep", "100000"]
    deploy: {replicas: 2}
    stop_grace_period: 1s
networks:
  default:
    ipam:
      config: [{subnet: "\${SUBNET}"}]
volumes:
  data: {}
`;

/** Polls `check` until it holds (60 s at most). */
async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("cove compose commands against cove's daemon", { skip }, () => {
  let h: NetHarness;
  let client: EngineClient;
  let file: string;
  const env: Record<string, string> = {};
  const projects = new Set<string>([P]);

  const composeIn = async (f: string, project: string, args: string[], opts: { signal?: AbortSignal; input?: string } = {}) => {
    projects.add(project);
    const stdout = sink();
    const stderr = sink();
    const stdin = Readable.from(opts.input !== undefined ? [Buffer.from(opts.input)] : []);
    const code = await composeMain(["-f", f, "-p", project, ...args], () => Promise.resolve(client), { stdout, stderr, stdin }, { PATH: process.env.PATH, ...env }, opts.signal);
    return { code, stdout: stdout.text, stderr: stderr.text };
  };
  const compose = (args: string[], opts: { signal?: AbortSignal; input?: string } = {}) => composeIn(file, P, args, opts);
  const list = async (project = P, oneoff = false): Promise<ContainerSummary[]> =>
    client.containerList({ all: true, filters: { label: [`com.docker.compose.project=${project}`, ...(oneoff ? [] : ["com.docker.compose.oneoff=False"])] } });
  const states = async () => Object.fromEntries((await list()).map((c) => [c.Names[0]!.slice(1), c.State]));

  before(async () => {
    let vars: Record<string, string>;
    ({ h, client, file, env: vars } = await composeProject(FILE));
    Object.assign(env, vars);
  });
  after(async () => {
    if (!h) return;
    try {
      // one-offs and every project's containers; the harness's cleanup takes networks and the root with its volumes
      for (const p of projects) for (const c of await list(p, true)) await client.containerRemove(c.Id, { force: true, v: true });
    } finally {
      await h.cleanup();
    }
  });

  it("up --scale makes <project>-<service>-N; deploy.replicas scales back down", async () => {
    const r = await compose(["up", "-d", "--scale", "worker=3"]);
    assert.equal(r.code, 0, r.stderr);
    const workers = (await list()).filter((c) => c.Labels["com.docker.compose.service"] === "worker");
    assert.deepEqual(workers.map((c) => [c.Names[0], c.Labels["com.docker.compose.container-number"]]).sort(), [
      [`/${P}-worker-1`, "1"],
      [`/${P}-worker-2`, "2"],
      [`/${P}-worker-3`, "3"],
    ]);
    const back = await compose(["up", "-d"]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stderr, new RegExp(`Container ${P}-worker-3  Removed`));
    assert.deepEqual(Object.keys(await states()).sort(), [`${P}-db-1`, `${P}-web-1`, `${P}-worker-1`, `${P}-worker-2`]);
    const bad = await compose(["up", "-d", "--scale", "nope=2"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--scale nope=2: no such service: nope/);
  });

  it("exec runs in the service's container with -e, -u, -w, --index, -d, and returns the command's exit code", async () => {
    const r = await compose(["exec", "-T", "-e", "X=given", "web", "sh", "-c", 'echo "$X $FOO"; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "given from-file\n");
    const who = await compose(["exec", "-T", "-u", "1000:1000", "-w", "/tmp", "db", "sh", "-c", "id -u; pwd"]);
    assert.equal(who.code, 0, who.stderr);
    assert.equal(who.stdout, "1000\n/tmp\n");
    const idx = await compose(["exec", "-T", "--index", "2", "worker", "hostname"]);
    assert.equal(idx.code, 0, idx.stderr);
    assert.equal(idx.stdout.trim(), (await client.containerInspect(`${P}-worker-2`)).Config.Hostname);
    const piped = await compose(["exec", "-T", "db", "cat"], { input: "through stdin\n" });
    assert.equal(piped.stdout, "through stdin\n");
    const d = await compose(["exec", "-d", "db", "touch", "/data/detached"]);
    assert.equal(d.code, 0, d.stderr);
    await until("the detached exec's file", async () => (await compose(["exec", "-T", "db", "test", "-f", "/data/detached"])).code === 0);
    const missing = await compose(["exec", "-T", "--index", "9", "worker", "true"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /service "worker" has no running container number 9/);
    const unknown = await compose(["exec", "-T", "nope", "true"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no such service: nope/);
  });

  it("run makes a one-off container: --rm, -e, -v, --entrypoint, -p, -d with --name, oneoff label and <project>-<service>-run-<hex>", async () => {
    const bind = path.join(h.base, "bind");
    await mkdir(bind, { recursive: true });
    await writeFile(path.join(bind, "in.txt"), "from the host\n");
    const r = await compose(["run", "--rm", "-T", "-e", "Y=yes", "-v", `${bind}:/b`, "db", "sh", "-c", 'cat /b/in.txt; echo "$Y"; exit 4']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stdout, "from the host\nyes\n");
    await until("the --rm one-off to go", async () => (await list(P, true)).every((c) => c.Labels["com.docker.compose.oneoff"] === "False"));
    const over = await compose(["run", "--rm", "-T", "-e", "FOO=overridden", "--no-deps", "web", "sh", "-c", 'env | grep -c "^FOO="; echo "$FOO"']);
    assert.equal(over.code, 0, over.stderr);
    assert.equal(over.stdout, "1\noverridden\n");
    const ep = await compose(["run", "--rm", "-T", "--entrypoint", "echo", "db", "via", "entrypoint"]);
    assert.equal(ep.code, 0, ep.stderr);
    assert.equal(ep.stdout, "via entrypoint\n");

    const d = await compose(["run", "-d", "worker"]);
    assert.equal(d.code, 0, d.stderr);
    const id = d.stdout.trim();
    const c = await client.containerInspect(id);
    assert.match(c.Name, new RegExp(`^/${P}-worker-run-[0-9a-f]{12}$`));
    assert.equal(c.Config.Labels?.["com.docker.compose.oneoff"], "True");
    assert.equal(c.Config.Labels?.["com.docker.compose.service"], "worker");
    assert.equal(c.State.Running, true);
    // a one-off is not one of the service's containers: ps leaves it out
    const ps = await compose(["ps"]);
    assert.doesNotMatch(ps.stdout, /-run-/);
    await client.containerRemove(id, { force: true });

    const port = await freePort();
    const named = await compose(["run", "-d", "--name", `${P}-oneoff`, "-p", `127.0.0.1:${port}:80`, "web"]);
    assert.equal(named.code, 0, named.stderr);
    const n = await client.containerInspect(`${P}-oneoff`);
    assert.deepEqual(n.HostConfig.PortBindings?.["80/tcp"], [{ HostIp: "127.0.0.1", HostPort: String(port) }]);
    await client.containerRemove(n.Id, { force: true });
    // down takes one-offs too (they sit on the project's network); up brings the project back
    const left = await compose(["run", "-d", "worker"]);
    assert.equal(left.code, 0, left.stderr);
    assert.equal((await compose(["down"])).code, 0);
    assert.deepEqual(await list(P, true), []);
    assert.equal((await compose(["up", "-d", "--wait"])).code, 0);
    const both = await compose(["run", "--rm", "-T", "--service-ports", "-p", "1:1", "web", "true"]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--service-ports and --publish are incompatible/);
  });

  it("run starts the service's dependencies first", async () => {
    const r = await compose(["stop"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await states())[`${P}-db-1`], "exited");
    const alone = await compose(["run", "--rm", "-T", "--no-deps", "web", "true"]);
    assert.equal(alone.code, 0, alone.stderr);
    assert.equal((await states())[`${P}-db-1`], "exited", "--no-deps leaves the dependencies alone");
    const run = await compose(["run", "--rm", "-T", "web", "true"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await states())[`${P}-db-1`], "running");
    assert.equal((await states())[`${P}-web-1`], "exited", "run starts dependencies, not the service itself");
  });

  it("stop -t, start and restart -t move the containers between states", async () => {
    const start = await compose(["start"]);
    assert.equal(start.code, 0, start.stderr);
    assert.ok(Object.values(await states()).every((s) => s === "running"), JSON.stringify(await states()));
    const stop = await compose(["stop", "-t", "1", "worker"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stderr, new RegExp(`Container ${P}-worker-1  Stopped`));
    const s = await states();
    assert.equal(s[`${P}-worker-1`], "exited");
    assert.equal(s[`${P}-db-1`], "running");
    assert.equal((await compose(["start", "worker"])).code, 0);
    const before = (await client.containerInspect(`${P}-db-1`)).State.StartedAt;
    const rs = await compose(["restart", "-t", "1", "db"]);
    assert.equal(rs.code, 0, rs.stderr);
    const after = await client.containerInspect(`${P}-db-1`);
    assert.equal(after.State.Running, true);
    assert.notEqual(after.State.StartedAt, before);
    const bad = await compose(["stop", "-t", "soon"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid argument "soon" for "--timeout"/);
  });

  it("pause, unpause, top and kill -s", async () => {
    assert.equal((await compose(["pause", "worker"])).code, 0);
    assert.equal((await states())[`${P}-worker-1`], "paused");
    assert.equal((await compose(["unpause", "worker"])).code, 0);
    assert.equal((await states())[`${P}-worker-1`], "running");
    const top = await compose(["top", "worker"]);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, new RegExp(`^${P}-worker-1\\nUID +PID +PPID .*\\n.*sleep 100000`, "m"));
    const badSig = await compose(["kill", "-s", "SIGNOPE", "worker"]);
    assert.equal(badSig.code, 1);
    assert.match(badSig.stderr, /invalid signal "SIGNOPE"/);
    assert.equal((await states())[`${P}-worker-1`], "running");
    const k = await compose(["kill", "-s", "KILL", "worker"]);
    assert.equal(k.code, 0, k.stderr);
    await until("the killed workers to stop", async () => (await states())[`${P}-worker-2`] === "exited");
    assert.equal((await client.containerInspect(`${P}-worker-1`)).State.ExitCode, 137);
  });

  it("rm removes only stopped containers unless -s; -v takes their anonymous volumes", async () => {
    const none = await compose(["rm", "-f", "db"]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stderr, /No stopped containers/);
    const declined = await compose(["rm", "worker"], { input: "n\n" });
    assert.equal(declined.code, 0, declined.stderr);
    assert.ok((await states())[`${P}-worker-1`]);
    const r = await compose(["rm", "-f", "worker"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`Going to remove ${P}-worker-1, ${P}-worker-2`));
    assert.equal((await states())[`${P}-worker-1`], undefined);
    assert.equal((await states())[`${P}-db-1`], "running");
    const s = await compose(["rm", "-f", "-s", "-v", "web"]);
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(Object.keys(await states()), [`${P}-db-1`]);
    assert.equal((await compose(["up", "-d", "--wait"])).code, 0);
  });

  it("port prints the public address of a binding; images lists the containers' images", async () => {
    const p = await compose(["port", "web", "80"]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stdout, `127.0.0.1:${env.WEB_PORT}\n`);
    const udp = await compose(["port", "--protocol", "udp", "web", "80"]);
    assert.equal(udp.code, 1);
    assert.match(udp.stderr, new RegExp(`no port 80/udp for container ${P}-web-1`));
    const idx = await compose(["port", "--index", "2", "web", "80"]);
    assert.equal(idx.code, 1);
    assert.match(idx.stderr, /service "web" has no container number 2/);
    const imgs = await compose(["images"]);
    assert.equal(imgs.code, 0, imgs.stderr);
    assert.match(imgs.stdout, /^CONTAINER +REPOSITORY +TAG +IMAGE ID +SIZE$/m);
    const id = (await client.imageInspect("busybox")).Id.replace("sha256:", "").slice(0, 12);
    for (const c of [`${P}-db-1`, `${P}-web-1`, `${P}-worker-1`]) assert.match(imgs.stdout, new RegExp(`^${c} +busybox +latest +${id} `, "m"));
  });

  it("ls lists the engine's projects with their states; -a includes stopped ones", async () => {
    const r = await compose(["ls"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME +STATUS +CONFIG FILES$/m);
    assert.match(r.stdout, new RegExp(`^${P} +running\\(4\\) +${file.replace(/[.]/g, "\\.")}$`, "m"));
    assert.equal((await compose(["stop", "worker"])).code, 0);
    const json = await compose(["ls", "-a", "--format", "json"]);
    const mine = (JSON.parse(json.stdout) as { Name: string; Status: string; ConfigFiles: string }[]).find((x) => x.Name === P);
    assert.deepEqual(mine, { Name: P, Status: "exited(2), running(2)", ConfigFiles: file });
    const q = await compose(["ls", "-q"]);
    assert.match(q.stdout, new RegExp(`^${P}$`, "m"));
    assert.equal((await compose(["start", "worker"])).code, 0);
  });

  it("events --json streams the project's container events", async () => {
    const ac = new AbortController();
    const out = sink();
    const text = sink();
    const done = composeMain(["-f", file, "-p", P, "events", "--json", "worker"], () => Promise.resolve(client), { stdout: out, stderr: sink(), stdin: Readable.from([]) }, { ...env }, ac.signal);
    const plain = composeMain(["-f", file, "-p", P, "events"], () => Promise.resolve(client), { stdout: text, stderr: sink(), stdin: Readable.from([]) }, { ...env }, ac.signal);
    try {
      // events start streaming once the daemon answered; restart until one shows
      await until("a start event of worker", async () => {
        if (out.text.includes('"action":"start"') && / container start /.test(text.text)) return true;
        await compose(["restart", "-t", "0", "worker"]);
        return false;
      });
    } finally {
      ac.abort();
    }
    assert.equal(await done, 0);
    assert.equal(await plain, 0);
    assert.match(text.text, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6} container start [0-9a-f]{64} \\(.*name=${P}-worker-[12].*\\)$`, "m"));
    const events = out.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; action: string; id: string; service: string; attributes: Record<string, string> });
    const start = events.find((e) => e.action === "start")!;
    assert.equal(start.type, "container");
    assert.equal(start.service, "worker");
    assert.match(start.attributes.name ?? "", new RegExp(`^${P}-worker-[12]$`));
    assert.ok(events.every((e) => e.service === "worker"));
  });

  it("create makes containers without starting them", async () => {
    const f = path.join(h.base, "create.yaml");
    await writeFile(f, "services:\n  one:\n    image: busybox\n    command: [sleep, '100000']\n    network_mode: none\n");
    const r = await composeIn(f, "cvcreate", ["create"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Container cvcreate-one-1 {2}Created/);
    assert.equal((await client.containerInspect("cvcreate-one-1")).State.Status, "created");
    assert.equal((await composeIn(f, "cvcreate", ["down"])).code, 0);
  });

  it("up --exit-code-from stops the others when that service exits and returns its code", async () => {
    const f = path.join(h.base, "abort.yaml");
    await writeFile(
      f,
      "services:\n  quick:\n    image: busybox\n    command: [sh, -c, 'echo finishing; exit 3']\n    network_mode: none\n  long:\n    image: busybox\n    command: [sleep, '100000']\n    network_mode: none\n    stop_grace_period: 1s\n",
    );
    const r = await composeIn(f, "cvabort", ["up", "--exit-code-from", "quick"]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^quick-1 +\| finishing$/m);
    assert.match(r.stdout, /^quick-1 exited with code 3$/m);
    assert.match(r.stderr, /Aborting on container exit/);
    assert.equal((await client.containerInspect("cvabort-long-1")).State.Running, false);
    // with services named, the abort stops what this up brought up, not the rest of the project
    assert.equal((await composeIn(f, "cvabort", ["up", "-d", "long"])).code, 0);
    const named = await composeIn(f, "cvabort", ["up", "--abort-on-container-exit", "quick"]);
    assert.equal(named.code, 3, named.stderr);
    assert.equal((await client.containerInspect("cvabort-long-1")).State.Running, true);
    const both = await composeIn(f, "cvabort", ["up", "-d", "--abort-on-container-exit"]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--abort-on-container-exit and -d are incompatible/);
    assert.equal((await composeIn(f, "cvabort", ["down"])).code, 0);
  });

  it("a failed up removes what it made: a port already in use is named before anything is made", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      const f = path.join(h.base, "taken.yaml");
      await writeFile(
        f,
        `services:\n  a:\n    image: busybox\n    command: [sleep, '100000']\n    ports: ['127.0.0.1:${await freePort()}:80']\n    volumes: ['v:/v']\n  b:\n    image: busybox\n    command: [sleep, '100000']\n    ports: ['127.0.0.1:${taken}:80']\nnetworks:\n  default:\n    ipam:\n      config: [{subnet: "${freeSubnets(1, [h.bridgeSubnet, env.SUBNET!])[0]}"}]\nvolumes:\n  v: {}\n`,
      );
      const r = await composeIn(f, "cvroll", ["up", "-d"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`services\\.b\\.ports \\(127\\.0\\.0\\.1:${taken}:80/tcp\\): host port 127\\.0\\.0\\.1:${taken}/tcp is already in use`));
      assert.match(r.stderr, /^hint: stop what listens there or publish another port$/m);
      assert.deepEqual(await list("cvroll", true), []);
      await assert.rejects(client.json("GET", "/networks/cvroll_default"));
      await assert.rejects(client.volumeInspect("cvroll_v"));
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  it("a failed up removes what it made: a container that cannot start", async () => {
    const f = path.join(h.base, "broken.yaml");
    await writeFile(
      f,
      `services:\n  ok:\n    image: busybox\n    command: [sleep, '100000']\n    volumes: ['v:/v']\n    stop_grace_period: 1s\n  broken:\n    image: busybox\n    command: ['/no/such/program']\n    depends_on: [ok]\nnetworks:\n  default:\n    ipam:\n      config: [{subnet: "${freeSubnets(1, [h.bridgeSubnet, env.SUBNET!])[0]}"}]\nvolumes:\n  v: {}\n`,
    );
    const r = await composeIn(f, "cvbroken", ["up", "-d"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error response from daemon: .*no\/such\/program/m);
    assert.match(r.stderr, /rolled back what this up made: removed container cvbroken-broken-1, container cvbroken-ok-1, network cvbroken_default, volume cvbroken_v/);
    assert.deepEqual(await list("cvbroken", true), []);
    await assert.rejects(client.json("GET", "/networks/cvbroken_default"));
    await assert.rejects(client.volumeInspect("cvbroken_v"));
  });

  it("configs and secrets: a bind-mounted file, copied content with uid/gid/mode, a secret from the environment; in up and in run", async () => {
    const dir = path.join(h.base, "grants");
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, "app.conf"), "from a file\n");
    await writeFile(path.join(dir, "key.pem"), "not really a key\n");
    const f = path.join(dir, "compose.yaml");
    await writeFile(
      f,
      [
        "services:",
        "  s:",
        "    image: busybox",
        "    command: [sleep, '100000']",
        "    network_mode: none",
        "    stop_grace_period: 1s",
        "    configs:",
        "      - app",
        "      - {source: inline, target: /etc/inline.conf, uid: '10', gid: '20', mode: 0640}",
        "    secrets:",
        "      - token",
        "      - {source: key, target: key.pem, mode: 0400}",
        "configs:",
        "  app: {file: ./app.conf}",
        "  inline: {content: 'k=v'}",
        "secrets:",
        "  token: {environment: CVTEST_TOKEN}",
        "  key: {file: ./key.pem}",
        "",
      ].join("\n"),
    );
    const missing = await composeIn(f, "cvgrant", ["up", "-d"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /secret token takes its value from the environment variable CVTEST_TOKEN, which is not set/);
    assert.deepEqual(await list("cvgrant", true), []);
    env.CVTEST_TOKEN = "s3cret";
    try {
      const up = await composeIn(f, "cvgrant", ["up", "-d"]);
      assert.equal(up.code, 0, up.stderr);
      const look = "for p in /app /etc/inline.conf /run/secrets/token /run/secrets/key.pem; do echo \"$p $(stat -c '%u %g %a' $p) $(cat $p)\"; done";
      const expected = "/app 0 0 644 from a file\n/etc/inline.conf 10 20 440 k=v\n/run/secrets/token 0 0 444 s3cret\n/run/secrets/key.pem 0 0 400 not really a key\n";
      const ex = await composeIn(f, "cvgrant", ["exec", "-T", "s", "sh", "-c", look]);
      assert.equal(ex.code, 0, ex.stderr);
      assert.equal(ex.stdout, expected);
      // the file's bind mount is read-only
      const write = await composeIn(f, "cvgrant", ["exec", "-T", "s", "sh", "-c", "echo x > /app"]);
      assert.notEqual(write.code, 0);
      const run = await composeIn(f, "cvgrant", ["run", "--rm", "-T", "s", "sh", "-c", look]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, expected);
      assert.equal((await composeIn(f, "cvgrant", ["down"])).code, 0);
    } finally {
      delete env.CVTEST_TOKEN;
    }
    const ext = path.join(dir, "external.yaml");
    await writeFile(ext, "services:\n  s:\n    image: busybox\n    network_mode: none\n    secrets: [x]\nsecrets:\n  x: {external: true}\n");
    const e = await composeIn(ext, "cvgrant", ["up", "-d"]);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /secret x is external: external configs and secrets live in a swarm/);
    assert.deepEqual(await list("cvgrant", true), []);
  });

  it("pull and push the services' images through a local registry", { skip: existsSync(REGISTRY_BIN) ? false : `${REGISTRY_BIN} is missing (apt-get install docker-registry)` }, async () => {
    let reg: Registry | undefined;
    try {
      reg = await startRegistry(path.join(h.base, "registry"));
      const image = `${reg.host}/cvtest/bb:1`;
      await client.imageTag("busybox", `${reg.host}/cvtest/bb`, "1");
      const f = path.join(h.base, "registry.yaml");
      await writeFile(f, `services:\n  built:\n    build: .\n    image: ${image}\n  plain:\n    image: ${image}\n  onlybuild:\n    build: .\n  gone:\n    image: ${reg.host}/cvtest/missing:1\n`);
      const push = await composeIn(f, "cvreg", ["push", "built", "plain", "onlybuild"]);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stderr, /✔ built Pushed/);
      assert.match(push.stderr, /plain Skipped - No image to be pushed/);
      assert.match(push.stderr, /onlybuild Skipped - No image to be pushed/);
      await client.imageRemove(image);
      const failed = await composeIn(f, "cvreg", ["pull"]);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /✘ gone Error/);
      assert.match(failed.stderr, /service "gone": pulling .*missing:1 failed/);
      const pulled = await composeIn(f, "cvreg", ["pull", "--ignore-pull-failures"]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.match(pulled.stderr, /✔ plain Pulled/);
      assert.match(pulled.stderr, /! gone Warning/);
      assert.match(pulled.stderr, /onlybuild Skipped - No image to be pulled/);
      assert.equal((await client.imageInspect(image)).Id, (await client.imageInspect("busybox")).Id);
    } finally {
      if (reg) await bestEffort("remove the registry test's tag", client.imageRemove(`${reg.host}/cvtest/bb:1`));
      await reg?.stop();
    }
  });

  it("build: a service's build section is built when its image is missing, by `build`, and by `up --build`", async () => {
    const dir = path.join(h.base, "buildproj");
    await mkdir(path.join(dir, "app"), { recursive: true });
    await writeFile(path.join(dir, "app", "Dockerfile"), 'FROM busybox\nARG GREETING=hi\nRUN echo "$GREETING $(cat /proc/sys/kernel/random/uuid)" > /greeting\nCMD ["sh", "-c", "cat /greeting; exec sleep 100000"]\n');
    const f = path.join(dir, "compose.yaml");
    await writeFile(f, `services:\n  app:\n    build:\n      context: ./app\n      args: {GREETING: hello}\n      labels: {built.by: cove-compose}\n    stop_grace_period: 1s\nnetworks:\n  default:\n    ipam:\n      config: [{subnet: "${freeSubnets(1, [h.bridgeSubnet, env.SUBNET!])[0]}"}]\n`);
    const greeting = async () => (await composeIn(f, "cvbuild", ["exec", "-T", "app", "cat", "/greeting"])).stdout;
    try {
      const up = await composeIn(f, "cvbuild", ["up", "-d"]);
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stderr, /Building app/);
      const img = await client.imageInspect("cvbuild-app");
      assert.equal(img.Config.Labels?.["built.by"], "cove-compose");
      const first = await greeting();
      assert.match(first, /^hello [0-9a-f-]{36}\n$/);
      // the image is there: a second up builds nothing
      const again = await composeIn(f, "cvbuild", ["up", "-d"]);
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stderr, /Building/);
      // build --no-cache makes a new image; up --build rebuilds and recreates the container with it
      const b = await composeIn(f, "cvbuild", ["build", "--no-cache", "-q"]);
      assert.equal(b.code, 0, b.stderr);
      assert.notEqual((await client.imageInspect("cvbuild-app")).Id, img.Id);
      const rebuilt = await composeIn(f, "cvbuild", ["up", "-d", "--build"]);
      assert.equal(rebuilt.code, 0, rebuilt.stderr);
      assert.match(rebuilt.stderr, /Building app/);
      assert.notEqual(await greeting(), first);
      // down --rmi local takes the image compose named itself along
      const d = await composeIn(f, "cvbuild", ["down", "--rmi", "local"]);
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stderr, /Image cvbuild-app {2}Removed/);
      await assert.rejects(client.imageInspect("cvbuild-app"));
      // a build that fails says which service, and makes nothing
      await writeFile(path.join(dir, "app", "Dockerfile"), "FROM busybox\nRUN exit 7\n");
      const bad = await composeIn(f, "cvbuild", ["build"]);
      assert.equal(bad.code, 15);
      assert.match(bad.stderr, /service "app" failed to build: The command '\/bin\/sh -c exit 7' returned a non-zero code: 7/);
    } finally {
      await composeIn(f, "cvbuild", ["down"]);
      await bestEffort("remove the build test's image", client.imageRemove("cvbuild-app", { force: true }));
    }
  });

  it("watch: sync copies changed files in and removes deleted ones (ignore honoured); rebuild builds and recreates", async () => {
    const dir = path.join(h.base, "watchproj");
    await mkdir(path.join(dir, "src"), { recursive: true });
    await mkdir(path.join(dir, "app"), { recursive: true });
    await writeFile(path.join(dir, "src", "index.txt"), "v1\n");
    await writeFile(path.join(dir, "app", "version"), "one\n");
    await writeFile(path.join(dir, "app", "Dockerfile"), 'FROM busybox\nCOPY version /version\nCMD ["sh", "-c", "trap \'exit 0\' TERM; sleep 100000 & wait"]\n');
    const f = path.join(dir, "compose.yaml");
    const subnet = freeSubnets(1, [h.bridgeSubnet, env.SUBNET!])[0];
    await writeFile(
      f,
      `services:\n  web:\n    image: busybox\n    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /srv; sleep 100000 & wait"]\n    develop:\n      watch:\n        - {action: sync, path: ./src, target: /srv, ignore: ["*.tmp"]}\n  app:\n    build: ./app\n    develop:\n      watch:\n        - {action: rebuild, path: ./app}\nnetworks:\n  default:\n    ipam:\n      config: [{subnet: "${subnet}"}]\n`,
    );
    const inWeb = async (cmd: string) => (await composeIn(f, "cvwatch", ["exec", "-T", "web", "sh", "-c", cmd])).stdout;
    const ac = new AbortController();
    const watching = composeIn(f, "cvwatch", ["watch"], { signal: ac.signal });
    try {
      // written again until it arrives: the watch may not be listening yet at the first write
      await until("a changed file synced into the container", async () => {
        await writeFile(path.join(dir, "src", "index.txt"), "v2\n");
        return (await inWeb("cat /srv/index.txt 2>/dev/null")) === "v2\n";
      });
      await mkdir(path.join(dir, "src", "sub"));
      await writeFile(path.join(dir, "src", "sub", "deep.txt"), "deep\n");
      await writeFile(path.join(dir, "src", "skip.tmp"), "ignored\n");
      await until("a new file in a new directory synced", async () => (await inWeb("cat /srv/sub/deep.txt 2>/dev/null")) === "deep\n");
      assert.equal(await inWeb("ls /srv"), "index.txt\nsub\n", "the ignored file stayed out");
      await rm(path.join(dir, "src", "sub", "deep.txt"));
      await until("a deleted file removed in the container", async () => (await inWeb("ls /srv/sub")) === "");
      await writeFile(path.join(dir, "app", "version"), "two\n");
      await until("the rebuilt image's container", async () => (await composeIn(f, "cvwatch", ["exec", "-T", "app", "cat", "/version"])).stdout === "two\n");
    } catch (err) {
      // what the watch printed says why a change did not arrive
      ac.abort();
      const r = await watching;
      throw new Error(`${(err as Error).message}; compose watch exited ${r.code} and printed:\n${r.stderr}${r.stdout}`);
    } finally {
      ac.abort();
      const r = await watching;
      await composeIn(f, "cvwatch", ["down"]);
      await bestEffort("remove the watch test's image", client.imageRemove("cvwatch-app", { force: true }));
      assert.equal(r.code, 0, r.stderr);
    }
    const out = (await watching).stderr;
    assert.match(out, /Watch enabled/);
    assert.match(out, /Syncing service "web" after \d+ changes were detected/);
    assert.match(out, /Rebuilding service\(s\) \["app"\] after changes were detected/);
  });

  it("cp, stats and wait work on a service's containers through the container commands", async () => {
    const dir = path.join(h.base, "cpproj");
    await mkdir(dir, { recursive: true });
    const f = path.join(dir, "compose.yaml");
    await writeFile(f, `services:\n  box:\n    image: busybox\n    command: ["sh", "-c", "trap 'exit 0' TERM; echo inside > /tmp/f; sleep 100000 & wait"]\n  job:\n    image: busybox\n    command: ["sh", "-c", "sleep 1; exit 3"]\nnetworks:\n  default:\n    ipam:\n      config: [{subnet: "${freeSubnets(1, [h.bridgeSubnet, env.SUBNET!])[0]}"}]\n`);
    const c = (args: string[]) => composeIn(f, "cvcp", args);
    try {
      assert.equal((await c(["up", "-d"])).code, 0);
      await until("box wrote its file", async () => (await c(["exec", "-T", "box", "cat", "/tmp/f"])).stdout === "inside\n");
      const out = path.join(dir, "out.txt");
      const down = await c(["cp", "box:/tmp/f", out]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(await readFile(out, "utf8"), "inside\n");
      await writeFile(path.join(dir, "in.txt"), "from host\n");
      const upload = await c(["cp", path.join(dir, "in.txt"), "box:/tmp/"]);
      assert.equal(upload.code, 0, upload.stderr);
      assert.equal((await c(["exec", "-T", "box", "cat", "/tmp/in.txt"])).stdout, "from host\n");
      const bad = await c(["cp", path.join(dir, "in.txt"), path.join(dir, "x")]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /give one of the paths as SERVICE:PATH/);
      const st = await c(["stats", "--no-stream", "--format", "{{.Name}}", "box"]);
      assert.equal(st.code, 0, st.stderr);
      assert.equal(st.stdout, "cvcp-box-1\n");
      const w = await c(["wait", "job"]);
      assert.equal(w.code, 0, w.stderr);
      assert.equal(w.stdout, "3\n");
    } finally {
      await c(["down"]);
    }
  });

  it("deploy.resources, security_opt, devices, pid, ipc and pull_policy reach the engine", async () => {
    const dir = path.join(h.base, "fieldsproj");
    await mkdir(dir, { recursive: true });
    const f = path.join(dir, "compose.yaml");
    const net = `networks:\n  default:\n    ipam:\n      config: [{subnet: "${freeSubnets(1, [h.bridgeSubnet, env.SUBNET!])[0]}"}]\n`;
    await writeFile(
      f,
      `services:\n  a:\n    image: busybox\n    command: ["sleep", "100000"]\n    stop_grace_period: 1s\n    pull_policy: missing\n    deploy: {resources: {limits: {cpus: "0.5", memory: 64M, pids: 50}, reservations: {memory: 32M}}}\n    security_opt: ["no-new-privileges"]\n    devices: ["/dev/null:/dev/nulldev:rw"]\n    pid: host\n    ipc: private\n${net}`,
    );
    try {
      const up = await composeIn(f, "cvfields", ["up", "-d"]);
      assert.equal(up.code, 0, up.stderr);
      assert.doesNotMatch(up.stderr, /not supported/);
      const hc = (await client.containerInspect("cvfields-a-1")).HostConfig as Record<string, unknown>;
      assert.deepEqual(
        { NanoCpus: hc.NanoCpus, Memory: hc.Memory, MemoryReservation: hc.MemoryReservation, PidsLimit: hc.PidsLimit, SecurityOpt: hc.SecurityOpt, PidMode: hc.PidMode, IpcMode: hc.IpcMode, Devices: hc.Devices },
        { NanoCpus: 5e8, Memory: 64 << 20, MemoryReservation: 32 << 20, PidsLimit: 50, SecurityOpt: ["no-new-privileges"], PidMode: "host", IpcMode: "private", Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/nulldev", CgroupPermissions: "rw" }] },
      );
      // pull_policy never with an image that is not here: a clear error before anything is made
      const g = path.join(dir, "never.yaml");
      await writeFile(g, `services:\n  b:\n    image: cove-test/not-here:1\n    pull_policy: never\n${net}`);
      const never = await composeIn(g, "cvnever", ["up", "-d"]);
      assert.notEqual(never.code, 0);
      assert.match(never.stderr, /image cove-test\/not-here:1 is not present, and its pull_policy is never/);
      assert.deepEqual(await list("cvnever", true), []);
    } finally {
      await composeIn(f, "cvfields", ["down"]);
    }
  });

  it("restart of a dependency restarts the services whose depends_on says restart: true, and only those", async () => {
    const dir = path.join(h.base, "restartproj");
    await mkdir(dir, { recursive: true });
    const f = path.join(dir, "compose.yaml");
    const svc = (deps: string) => `    image: busybox\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]\n${deps}`;
    await writeFile(
      f,
      `services:\n  db:\n${svc("")}  app:\n${svc("    depends_on:\n      db: {condition: service_started, restart: true}\n")}  other:\n${svc("    depends_on:\n      db: {condition: service_started}\n")}networks:\n  default:\n    ipam:\n      config: [{subnet: "${freeSubnets(1, [h.bridgeSubnet, env.SUBNET!])[0]}"}]\n`,
    );
    const started = async () => Object.fromEntries(await Promise.all(["db", "app", "other"].map(async (s) => [s, (await client.containerInspect(`cvrestart-${s}-1`)).State.StartedAt])));
    try {
      assert.equal((await composeIn(f, "cvrestart", ["up", "-d"])).code, 0);
      const before = await started();
      const r = await composeIn(f, "cvrestart", ["restart", "db"]);
      assert.equal(r.code, 0, r.stderr);
      const after = await started();
      assert.notEqual(after.db, before.db);
      assert.notEqual(after.app, before.app, "app follows db (restart: true)");
      assert.equal(after.other, before.other, "other does not");
    } finally {
      await composeIn(f, "cvrestart", ["down"]);
    }
  });
});

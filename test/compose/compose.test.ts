// cove compose against a private cove daemon with networking (test/network/harness.ts): a
// three-service project (a database with a busybox healthcheck and a named volume, a web server
// with a published port, an app that waits for both and reaches the database by its alias) goes
// up with `up -d --wait`, with Docker Compose's names and labels; a second `up` changes nothing; a
// changed environment recreates exactly that service and its dependent; `ps` and `logs` show the
// project; `down -v` leaves nothing.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { composeProject, sink } from "./support.js";
import { after, before, describe, it } from "node:test";
import { composeMain } from "../../src/cli/compose/index.js";
import { EngineClient } from "../../src/client/index.js";
import type { ContainerSummary } from "../../src/docker/index.js";
import { skipReason, type NetHarness } from "../network/harness.js";
import { findBusybox } from "../images/fixtures.js";

const skip = skipReason || (!(await findBusybox()) ? "busybox-static is not installed" : false);

const PROJECT = "cvtest";


function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

/** A captured output stream. */

const COMPOSE = `
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db up; touch /data/ready; exec sleep 100000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 1s
      retries: 60
    volumes: ["dbdata:/data"]
    networks:
      default:
        aliases: [database]
    stop_grace_period: 1s
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www"]
    environment:
      GREETING: \${GREETING:-one}
    ports: ["127.0.0.1:\${WEB_PORT}:80"]
    stop_grace_period: 1s
  app:
    image: busybox
    command: ["sleep", "100000"]
    depends_on:
      db: {condition: service_healthy}
      web: {condition: service_started}
    stop_grace_period: 1s
networks:
  default:
    ipam:
      config: [{subnet: "\${SUBNET}"}]
volumes:
  dbdata: {}
`;

describe("cove compose against cove's daemon", { skip }, () => {
  let h: NetHarness;
  let client: EngineClient;
  let file: string;
  const env: Record<string, string> = {};

  const compose = async (args: string[], extraEnv: Record<string, string> = {}) => {
    const stdout = sink();
    const stderr = sink();
    const code = await composeMain(["-f", file, "-p", PROJECT, ...args], () => Promise.resolve(client), { stdout, stderr }, { PATH: process.env.PATH, ...env, ...extraEnv });
    return { code, stdout: stdout.text, stderr: stderr.text };
  };
  const mine = async (): Promise<ContainerSummary[]> => client.containerList({ all: true, filters: { label: [`com.docker.compose.project=${PROJECT}`] } });
  const ids = async () => Object.fromEntries((await mine()).map((c) => [c.Names[0]!.slice(1), c.Id]));

  before(async () => {
    let vars: Record<string, string>;
    ({ h, client, file, env: vars } = await composeProject(COMPOSE));
    Object.assign(env, vars);
  });
  after(async () => {
    if (!h) return;
    try {
      await compose(["down", "-v"]);
    } finally {
      await h.cleanup();
    }
  });

  it("up -d --wait makes the containers, network and volume with Docker Compose's names and labels", async () => {
    const r = await compose(["up", "-d", "--wait"]);
    assert.equal(r.code, 0, r.stderr);
    const list = await mine();
    assert.deepEqual(list.map((c) => c.Names[0]).sort(), [`/${PROJECT}-app-1`, `/${PROJECT}-db-1`, `/${PROJECT}-web-1`]);
    for (const c of list) {
      const svc = c.Names[0]!.slice(1).split("-")[1]!;
      assert.equal(c.State, "running", c.Names[0]);
      assert.equal(c.Labels["com.docker.compose.service"], svc);
      assert.equal(c.Labels["com.docker.compose.container-number"], "1");
      assert.equal(c.Labels["com.docker.compose.oneoff"], "False");
      assert.equal(c.Labels["com.docker.compose.project.working_dir"], h.base);
      assert.equal(c.Labels["com.docker.compose.project.config_files"], file);
      assert.match(c.Labels["com.docker.compose.config-hash"] ?? "", /^[0-9a-f]{64}$/);
    }
    const db = await client.containerInspect(`${PROJECT}-db-1`);
    assert.equal(db.State.Health?.Status, "healthy");
    const netw = await client.json<{ Labels: Record<string, string>; IPAM: { Config: { Subnet: string }[] } }>("GET", `/networks/${PROJECT}_default`);
    assert.equal(netw.Labels["com.docker.compose.project"], PROJECT);
    assert.equal(netw.Labels["com.docker.compose.network"], "default");
    assert.equal(netw.IPAM.Config[0]?.Subnet, env.SUBNET);
    const vol = await client.volumeInspect(`${PROJECT}_dbdata`);
    assert.equal(vol.Labels?.["com.docker.compose.volume"], "dbdata");
    assert.equal(vol.Labels?.["com.docker.compose.project"], PROJECT);
    assert.equal(await get(`http://127.0.0.1:${env.WEB_PORT}/`), "hello from web\n");
    // the app reaches the database by its alias on the project's network
    const ping = await h.docker(["exec", `${PROJECT}-app-1`, "ping", "-c", "1", "-W", "5", "database"]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  });

  it("up again changes nothing", async () => {
    const before = await ids();
    const r = await compose(["up", "-d", "--wait"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await ids(), before);
  });

  it("a changed service is recreated with what depends on it, nothing else", async () => {
    const before = await ids();
    const r = await compose(["up", "-d", "--wait"], { GREETING: "two" });
    assert.equal(r.code, 0, r.stderr);
    const now = await ids();
    assert.equal(now[`${PROJECT}-db-1`], before[`${PROJECT}-db-1`]);
    assert.notEqual(now[`${PROJECT}-web-1`], before[`${PROJECT}-web-1`]);
    assert.notEqual(now[`${PROJECT}-app-1`], before[`${PROJECT}-app-1`]);
    const web = await client.containerInspect(`${PROJECT}-web-1`);
    assert.ok(web.Config.Env?.includes("GREETING=two"));
    assert.equal(await get(`http://127.0.0.1:${env.WEB_PORT}/`), "hello from web\n");
  });

  it("ps lists the project's containers and logs prefixes each line with its container", async () => {
    const ps = await compose(["ps"], { GREETING: "two" });
    assert.equal(ps.code, 0, ps.stderr);
    for (const s of ["db", "web", "app"]) assert.match(ps.stdout, new RegExp(`^${PROJECT}-${s}-1 +busybox .* ${s} +Up`, "m"));
    const logs = await compose(["logs"], { GREETING: "two" });
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^db-1 +\| db up$/m);
  });

  it("--force-recreate recreates every container; --no-recreate keeps a changed one", async () => {
    const before = await ids();
    const kept = await compose(["up", "-d", "--wait", "--no-recreate"], { GREETING: "three" });
    assert.equal(kept.code, 0, kept.stderr);
    assert.deepEqual(await ids(), before);
    const r = await compose(["up", "-d", "--wait", "--force-recreate"], { GREETING: "two" });
    assert.equal(r.code, 0, r.stderr);
    const now = await ids();
    assert.deepEqual(Object.keys(now).sort(), Object.keys(before).sort());
    for (const name of Object.keys(before)) assert.notEqual(now[name], before[name], name);
  });

  it("warns of orphans, and --remove-orphans removes them and nothing else", async () => {
    const fewer = path.join(h.base, "fewer.yaml");
    await writeFile(fewer, COMPOSE.replace(/\n {2}app:[\s\S]*?(?=\nnetworks:)/, ""));
    const run = async (args: string[]) => {
      const stdout = sink();
      const stderr = sink();
      const code = await composeMain(["-f", fewer, "-p", PROJECT, ...args], () => Promise.resolve(client), { stdout, stderr }, { ...env, GREETING: "two" });
      return { code, stderr: stderr.text };
    };
    const before = await ids();
    const warned = await run(["up", "-d"]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, new RegExp(`orphan containers \\(${PROJECT}-app-1\\)`));
    assert.deepEqual(await ids(), before);
    const removed = await run(["up", "-d", "--remove-orphans"]);
    assert.equal(removed.code, 0, removed.stderr);
    const now = await ids();
    assert.deepEqual(Object.keys(now).sort(), [`${PROJECT}-db-1`, `${PROJECT}-web-1`]);
    assert.equal(now[`${PROJECT}-db-1`], before[`${PROJECT}-db-1`]);
    assert.equal(now[`${PROJECT}-web-1`], before[`${PROJECT}-web-1`]);
  });

  it("rejects bad input before creating anything", async () => {
    const bad = path.join(h.base, "bad.yaml");
    await writeFile(bad, "services:\n  a:\n    image: busybox\n  b:\n    image: ${IMG:?name the image in IMG}\n");
    const r = await composeMain(["-f", bad, "-p", "cvtest2", "up", "-d"], () => Promise.resolve(client), { stdout: sink(), stderr: sink() }, {});
    assert.equal(r, 15);
    const ext = path.join(h.base, "ext.yaml");
    await writeFile(ext, "services:\n  x:\n    image: busybox\n    networks: [outside]\nnetworks:\n  outside: {external: true, name: cvtest-missing}\n");
    const stdout = sink();
    const stderr = sink();
    const code = await composeMain(["-f", ext, "-p", "cvtest2", "up", "-d"], () => Promise.resolve(client), { stdout, stderr }, {});
    assert.equal(code, 1);
    assert.match(stderr.text, /network cvtest-missing declared as external/);
    assert.deepEqual(await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=cvtest2"] } }), []);
    const extVol = path.join(h.base, "extvol.yaml");
    await writeFile(extVol, "services:\n  x:\n    image: busybox\n    volumes: ['keep:/k']\nvolumes:\n  keep: {external: true, name: cvtest-no-such-volume}\n");
    const verr = sink();
    assert.equal(await composeMain(["-f", extVol, "-p", "cvtest2", "up", "-d"], () => Promise.resolve(client), { stdout: sink(), stderr: verr }, {}), 1);
    assert.match(verr.text, /external volume "cvtest-no-such-volume" \(volumes\.keep\) not found/);
    // nothing made: no container, and not the project's default network
    assert.deepEqual(await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=cvtest2"] } }), []);
    await assert.rejects(client.json("GET", "/networks/cvtest2_default"));
  });

  it("up without -d shows the services' output, prefixed, until they exit", async () => {
    const once = path.join(h.base, "once.yaml");
    await writeFile(once, "services:\n  hello:\n    image: busybox\n    command: [sh, -c, 'echo hi there; echo second line']\n    network_mode: none\n");
    const stdout = sink();
    const stderr = sink();
    const code = await composeMain(["-f", once, "-p", "cvonce", "up"], () => Promise.resolve(client), { stdout, stderr }, {});
    assert.equal(code, 0, stderr.text);
    assert.match(stdout.text, /^hello-1 +\| hi there\nhello-1 +\| second line\n/m);
    assert.match(stdout.text, /^hello-1 exited with code 0$/m);
    const down = await composeMain(["-f", once, "-p", "cvonce", "down"], () => Promise.resolve(client), { stdout: sink(), stderr }, {});
    assert.equal(down, 0, stderr.text);
    assert.deepEqual(await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=cvonce"] } }), []);
  });

  it("down -v leaves nothing", async () => {
    const r = await compose(["down", "-v"], { GREETING: "two" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await mine(), []);
    await assert.rejects(client.json("GET", `/networks/${PROJECT}_default`), /not found|No such network/i);
    await assert.rejects(client.volumeInspect(`${PROJECT}_dbdata`), /not found|no such volume/i);
  });
});

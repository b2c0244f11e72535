// cove compose beside Debian's docker-compose 1.29 on the same file, both through cove's socket,
// each as its own project: exec, run --rm and run -d, stop/start/restart, rm and port must give
// the same exit codes, output, states and labels (not the names or IDs: 1.29 names containers
// <project>_<service>_<n>); and cove compose ls finds the project docker-compose made.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { composeMain } from "../../src/cli/compose/index.js";
import { EngineClient } from "../../src/client/index.js";
import type { ContainerSummary } from "../../src/docker/index.js";
import { findBusybox } from "../images/fixtures.js";
import { freeSubnets, setupNetwork, skipReason, type NetHarness } from "../network/harness.js";
import { freePort } from "../registry/support.js";
import { sink } from "./support.js";

const DOCKER_COMPOSE = "/usr/bin/docker-compose";
const skip = skipReason || (!(await findBusybox()) ? "busybox-static is not installed" : !existsSync(DOCKER_COMPOSE) ? "docker-compose is not installed (scripts/setup.sh)" : false);

const FILE = `
services:
  db:
    image: busybox
    command: ["sleep", "100000"]
    stop_grace_period: 1s
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:\${WEB_PORT}:80"]
    environment: {FOO: from-file}
    depends_on: [db]
    stop_grace_period: 1s
networks:
  default:
    ipam:
      config: [{subnet: "\${SUBNET}"}]
`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("cove compose beside docker-compose 1.29", { skip }, () => {
  let h: NetHarness;
  let client: EngineClient;
  let file: string;
  const envs: Record<"dc" | "cove", Record<string, string>> = { dc: {}, cove: {} };
  const PROJECT = { dc: "dccmp", cove: "cvcmp" } as const;

  const dc = (args: string[]) =>
    new Promise<Result>((resolve) => {
      execFile(
        DOCKER_COMPOSE,
        ["-f", file, "-p", PROJECT.dc, "--no-ansi", ...args],
        { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: h.base, DOCKER_HOST: `unix://${h.socket}`, ...envs.dc }, timeout: 180_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
      );
    });
  const cove = async (args: string[]): Promise<Result> => {
    const stdout = sink();
    const stderr = sink();
    const code = await composeMain(["-f", file, "-p", PROJECT.cove, ...args], () => Promise.resolve(client), { stdout, stderr, stdin: Readable.from([]) }, { PATH: process.env.PATH, ...envs.cove });
    return { code, stdout: stdout.text, stderr: stderr.text };
  };
  /** Runs the same command with both tools. */
  const both = async (args: string[]): Promise<{ dc: Result; cove: Result }> => ({ dc: await dc(args), cove: await cove(args) });
  const containers = (tool: "dc" | "cove", oneoff = false): Promise<ContainerSummary[]> =>
    client.containerList({ all: true, filters: { label: [`com.docker.compose.project=${PROJECT[tool]}`, `com.docker.compose.oneoff=${oneoff ? "True" : "False"}`] } });
  /** Each service's container state and exit code, by service. */
  const states = async (tool: "dc" | "cove") => {
    const out: Record<string, string> = {};
    for (const c of await containers(tool)) {
      const i = await client.containerInspect(c.Id);
      out[c.Labels["com.docker.compose.service"]!] = `${i.State.Status}${i.State.Running ? "" : ` ${i.State.ExitCode}`}`;
    }
    return out;
  };

  before(async () => {
    h = await setupNetwork();
    client = new EngineClient({ socket: h.socket });
    file = path.join(h.base, "compose.yaml");
    await writeFile(file, FILE);
    const [a, b] = freeSubnets(2, [h.bridgeSubnet]) as [string, string];
    envs.dc = { SUBNET: a, WEB_PORT: String(await freePort()) };
    envs.cove = { SUBNET: b, WEB_PORT: String(await freePort()) };
    const dcUp = await dc(["up", "-d"]);
    assert.equal(dcUp.code, 0, dcUp.stderr);
    const coveUp = await cove(["up", "-d", "--wait"]);
    assert.equal(coveUp.code, 0, coveUp.stderr);
  });
  after(async () => {
    if (!h) return;
    try {
      for (const tool of ["dc", "cove"] as const) for (const c of [...(await containers(tool, true)), ...(await containers(tool))]) await client.containerRemove(c.Id, { force: true });
    } finally {
      await h.cleanup();
    }
  });

  it("exec: the same output and exit code, with -e, -u, -w and --index", async () => {
    const r = await both(["exec", "-T", "-e", "X=given", "web", "sh", "-c", 'echo "$X $FOO"; exit 5']);
    assert.equal(r.cove.code, 5, r.cove.stderr);
    assert.equal(r.cove.code, r.dc.code);
    assert.equal(r.cove.stdout, r.dc.stdout);
    const who = await both(["exec", "-T", "--index", "1", "-u", "1000", "-w", "/tmp", "db", "sh", "-c", "id -u; pwd"]);
    assert.equal(who.dc.code, 0, who.dc.stderr);
    assert.equal(who.cove.code, 0, who.cove.stderr);
    assert.equal(who.cove.stdout, who.dc.stdout);
  });

  it("run --rm: the same output and exit code, and no one-off container left", async () => {
    const r = await both(["run", "--rm", "-T", "db", "sh", "-c", "echo once; exit 6"]);
    assert.equal(r.cove.code, 6, r.cove.stderr);
    assert.equal(r.cove.code, r.dc.code);
    assert.equal(r.cove.stdout, r.dc.stdout);
    assert.deepEqual(await containers("dc", true), []);
    assert.deepEqual(await containers("cove", true), []);
  });

  it("run -d: a running one-off with the same compose labels", async () => {
    const r = await both(["run", "-d", "db"]);
    assert.equal(r.dc.code, 0, r.dc.stderr);
    assert.equal(r.cove.code, 0, r.cove.stderr);
    const [theirs] = await containers("dc", true);
    const [ours] = await containers("cove", true);
    assert.ok(theirs && ours, "each tool made one one-off container");
    assert.equal(ours.State, theirs.State);
    for (const key of ["com.docker.compose.oneoff", "com.docker.compose.service", "com.docker.compose.container-number", "com.docker.compose.project.working_dir", "com.docker.compose.project.config_files"])
      assert.equal(ours.Labels[key], theirs.Labels[key], key);
    // both name it after the project and service, with "run" in it
    assert.match(theirs.Names[0]!, new RegExp(`^/${PROJECT.dc}_db_run_`));
    assert.match(ours.Names[0]!, new RegExp(`^/${PROJECT.cove}-db-run-`));
    await client.containerRemove(theirs.Id, { force: true });
    await client.containerRemove(ours.Id, { force: true });
  });

  it("stop, start and restart: the same states and exit codes", async () => {
    const stop = await both(["stop", "-t", "1"]);
    assert.equal(stop.dc.code, 0, stop.dc.stderr);
    assert.equal(stop.cove.code, 0, stop.cove.stderr);
    const stopped = await states("cove");
    assert.deepEqual(Object.keys(stopped).sort(), ["db", "web"]);
    assert.match(stopped.db!, /^exited /);
    assert.deepEqual(stopped, await states("dc"));
    const start = await both(["start"]);
    assert.equal(start.dc.code, 0, start.dc.stderr);
    assert.equal(start.cove.code, 0, start.cove.stderr);
    assert.deepEqual(await states("cove"), { db: "running", web: "running" });
    assert.deepEqual(await states("dc"), await states("cove"));
    const restart = await both(["restart", "-t", "1", "web"]);
    assert.equal(restart.dc.code, 0, restart.dc.stderr);
    assert.equal(restart.cove.code, 0, restart.cove.stderr);
    assert.deepEqual(await states("dc"), await states("cove"));
  });

  it("port: the public address of a binding, in the same form", async () => {
    const r = await both(["port", "web", "80"]);
    assert.equal(r.dc.code, 0, r.dc.stderr);
    assert.equal(r.cove.code, 0, r.cove.stderr);
    assert.equal(r.dc.stdout, `127.0.0.1:${envs.dc.WEB_PORT}\n`);
    assert.equal(r.cove.stdout, `127.0.0.1:${envs.cove.WEB_PORT}\n`);
  });

  it("rm: only stopped containers go, and -s stops them first", async () => {
    const none = await both(["rm", "-f"]);
    assert.equal(none.cove.code, none.dc.code);
    assert.deepEqual(await states("cove"), { db: "running", web: "running" });
    assert.deepEqual(await states("dc"), await states("cove"));
    for (const tool of ["dc", "cove"] as const) {
      const web = (await containers(tool)).find((c) => c.Labels["com.docker.compose.service"] === "web")!;
      await client.containerStop(web.Id, { t: 1 });
    }
    const rm = await both(["rm", "-f"]);
    assert.equal(rm.dc.code, 0, rm.dc.stderr);
    assert.equal(rm.cove.code, 0, rm.cove.stderr);
    assert.deepEqual(await states("cove"), { db: "running" });
    assert.deepEqual(await states("dc"), await states("cove"));
    const rms = await both(["rm", "-f", "-s", "db"]);
    assert.equal(rms.dc.code, 0, rms.dc.stderr);
    assert.equal(rms.cove.code, 0, rms.cove.stderr);
    assert.deepEqual(await states("cove"), {});
    assert.deepEqual(await states("dc"), {});
  });

  it("cove compose ls lists the project docker-compose made, from its labels", async () => {
    const up = await dc(["up", "-d"]);
    assert.equal(up.code, 0, up.stderr);
    const stdout = sink();
    const code = await composeMain(["ls", "--format", "json"], () => Promise.resolve(client), { stdout, stderr: sink(), stdin: Readable.from([]) }, {});
    assert.equal(code, 0);
    const theirs = (JSON.parse(stdout.text) as { Name: string; Status: string; ConfigFiles: string }[]).find((p) => p.Name === PROJECT.dc);
    assert.deepEqual(theirs, { Name: PROJECT.dc, Status: "running(2)", ConfigFiles: file });
  });
});

// Debian's docker-compose 1.29 as a peer: a project like compose.test.ts' goes up, is listed,
// logs, execs (reaching the database by its alias) and goes down through cove's socket; its containers carry the labels cove compose
// sets (so each tool recognises the other's project: cove compose ps lists docker-compose's
// containers). docker-compose 1.29 names containers <project>_<service>_<n>, Compose v2 and cove
// <project>-<service>-<n>; networks and volumes are named alike.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { sink } from "./support.js";
import { after, before, describe, it } from "node:test";
import { composeMain } from "../../src/cli/compose/index.js";
import { EngineClient } from "../../src/client/index.js";
import { freeSubnets, setupNetwork, skipReason, type NetHarness } from "../network/harness.js";
import { findBusybox } from "../images/fixtures.js";

const DOCKER_COMPOSE = "/usr/bin/docker-compose";
const skip = skipReason || (!(await findBusybox()) ? "busybox-static is not installed" : !existsSync(DOCKER_COMPOSE) ? "docker-compose is not installed (scripts/setup.sh)" : false);

const FILE = `
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
  app:
    image: busybox
    command: ["sleep", "100000"]
    depends_on:
      db: {condition: service_healthy}
    stop_grace_period: 1s
networks:
  default:
    ipam:
      config: [{subnet: "\${SUBNET}"}]
volumes:
  dbdata: {}
`;

describe("docker-compose 1.29 against cove's socket", { skip }, () => {
  let h: NetHarness;
  let client: EngineClient;
  let file: string;
  let subnet: string;
  /** cove's project takes its own subnet: two networks may not share one. */
  let coveSubnet: string;

  const dc = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        DOCKER_COMPOSE,
        ["-f", file, "-p", "dcpeer", "--no-ansi", ...args],
        { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: h.base, DOCKER_HOST: `unix://${h.socket}`, SUBNET: subnet }, timeout: 180_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
      );
    });
  const cove = async (project: string, args: string[]) => {
    const stdout = sink();
    const stderr = sink();
    const code = await composeMain(["-f", file, "-p", project, ...args], () => Promise.resolve(client), { stdout, stderr }, { SUBNET: coveSubnet });
    return { code, stdout: stdout.text, stderr: stderr.text };
  };

  before(async () => {
    h = await setupNetwork();
    client = new EngineClient({ socket: h.socket });
    file = path.join(h.base, "compose.yaml");
    await writeFile(file, FILE);
    [subnet, coveSubnet] = freeSubnets(2, [h.bridgeSubnet]) as [string, string];
  });
  after(async () => {
    if (!h) return;
    try {
      await dc(["down", "-v"]);
      await cove("covepeer", ["down", "-v"]);
    } finally {
      await h.cleanup();
    }
  });

  it("up -d, ps and logs work, with the labels cove compose sets", async () => {
    const up = await dc(["up", "-d"]);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const ps = await dc(["ps"]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /^dcpeer_db_1 .* Up \(healthy\)/m);
    assert.match(ps.stdout, /^dcpeer_app_1 .* Up/m);
    const logs = await dc(["logs", "db"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /db_1 +\| db up/);
    const ping = await dc(["exec", "-T", "app", "ping", "-c", "1", "-W", "5", "database"]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);

    // cove compose on the same file, as another project: the same networks, volumes and label keys
    const coveUp = await cove("covepeer", ["up", "-d", "--wait"]);
    assert.equal(coveUp.code, 0, coveUp.stderr);
    const theirs = await client.containerInspect("dcpeer_db_1");
    const ours = await client.containerInspect("covepeer-db-1");
    for (const key of ["com.docker.compose.project", "com.docker.compose.service", "com.docker.compose.container-number", "com.docker.compose.oneoff", "com.docker.compose.config-hash", "com.docker.compose.version", "com.docker.compose.project.working_dir", "com.docker.compose.project.config_files"]) {
      assert.ok(theirs.Config.Labels?.[key] !== undefined, `docker-compose sets ${key}`);
      assert.ok(ours.Config.Labels?.[key] !== undefined, `cove compose sets ${key}`);
    }
    for (const key of ["com.docker.compose.service", "com.docker.compose.container-number", "com.docker.compose.oneoff", "com.docker.compose.project.working_dir", "com.docker.compose.project.config_files"])
      assert.equal(ours.Config.Labels?.[key], theirs.Config.Labels?.[key], key);
    for (const [dcName, coveName] of [["dcpeer_default", "covepeer_default"]]) {
      const a = await client.json<{ Labels: Record<string, string> }>("GET", `/networks/${dcName}`);
      const b = await client.json<{ Labels: Record<string, string> }>("GET", `/networks/${coveName}`);
      assert.equal(a.Labels["com.docker.compose.network"], b.Labels["com.docker.compose.network"]);
    }
    assert.equal((await client.volumeInspect("dcpeer_dbdata")).Labels?.["com.docker.compose.volume"], (await client.volumeInspect("covepeer_dbdata")).Labels?.["com.docker.compose.volume"]);

    // each tool sees the other's project
    const covePs = await cove("dcpeer", ["ps"]);
    assert.match(covePs.stdout, /^dcpeer_db_1 /m);
    const dcPs = await new Promise<string>((resolve) =>
      execFile(DOCKER_COMPOSE, ["-f", file, "-p", "covepeer", "ps"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: h.base, DOCKER_HOST: `unix://${h.socket}`, SUBNET: coveSubnet } }, (_e, out) => resolve(out)),
    );
    assert.match(dcPs, /^covepeer-db-1 /m);
  });

  it("down -v removes everything it made", async () => {
    const down = await dc(["down", "-v"]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=dcpeer"] } }), []);
    await assert.rejects(client.json("GET", "/networks/dcpeer_default"));
    await assert.rejects(client.volumeInspect("dcpeer_dbdata"));
    const coveDown = await cove("covepeer", ["down", "-v"]);
    assert.equal(coveDown.code, 0, coveDown.stderr);
    assert.deepEqual(await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=covepeer"] } }), []);
  });
});

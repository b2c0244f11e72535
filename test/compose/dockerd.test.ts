// cove compose drives Debian's dockerd (test/support/dockerd.ts, private socket and root) as it
// drives cove: the same file makes the same containers, networks and volumes, with the same names
// and labels, on both; a second `up` changes nothing on dockerd either; `down -v` leaves nothing;
// the other commands (exec, run, --scale, stop/start, port, ls) and the rollback of a failed up
// give the same results on both.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { sink } from "./support.js";
import { after, before, describe, it } from "node:test";
import { composeMain } from "../../src/cli/compose/index.js";
import { EngineClient } from "../../src/client/index.js";
import { busyboxRootfsTar, findBusybox } from "../images/fixtures.js";
import { freeSubnets, setupNetwork, skipReason, type NetHarness } from "../network/harness.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const skip = skipReason || (!(await findBusybox()) ? "busybox-static is not installed" : (dockerdAvailable() ?? false));

const FILE = `
services:
  db:
    image: busybox
    command: ["sh", "-c", "touch /data/ready; exec sleep 100000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 1s
      retries: 60
    volumes: ["dbdata:/data"]
    networks:
      default:
        aliases: [database]
    labels: {tier: data}
    stop_grace_period: 1s
  app:
    image: busybox
    command: ["sleep", "100000"]
    depends_on:
      db: {condition: service_healthy}
    environment: {MODE: test}
    stop_grace_period: 1s
networks:
  default:
    ipam:
      config: [{subnet: "\${SUBNET}"}]
volumes:
  dbdata: {}
`;

/** What a project made on an engine, without what differs by engine (IDs, dates). */
async function made(client: EngineClient, project: string) {
  const containers = await client.containerList({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } });
  const out: Record<string, unknown> = {};
  for (const c of containers) {
    const info = await client.containerInspect(c.Id);
    const labels = { ...info.Config.Labels };
    delete labels["com.docker.compose.image"]; // the image's ID: each engine imported its own
    out[info.Name] = { state: info.State.Status, labels, env: (info.Config.Env ?? []).filter((e) => e.startsWith("MODE=")), mounts: info.Mounts.map((m) => `${m.Type}:${m.Name ?? ""}:${m.Destination}`), networks: Object.keys(info.NetworkSettings.Networks ?? {}) };
  }
  const net = await client.json<{ Name: string; Labels: Record<string, string> }>("GET", `/networks/${project}_default`);
  const vol = await client.volumeInspect(`${project}_dbdata`);
  out.network = { name: net.Name, labels: net.Labels };
  out.volume = { name: vol.Name, labels: vol.Labels };
  return out;
}

describe("cove compose against Debian's dockerd and cove's daemon", { skip }, () => {
  let h: NetHarness;
  let dockerd: Dockerd;
  let file: string;
  const subnets: string[] = [];

  const compose = async (client: EngineClient, subnet: string, args: string[]) => {
    const stdout = sink();
    const stderr = sink();
    const code = await composeMain(["-f", file, "-p", "samep", ...args], () => Promise.resolve(client), { stdout, stderr }, { SUBNET: subnet });
    return { code, stdout: stdout.text, stderr: stderr.text };
  };

  before(async () => {
    h = await setupNetwork();
    subnets.push(...freeSubnets(2, [h.bridgeSubnet]));
    file = path.join(h.base, "compose.yaml");
    await writeFile(file, FILE);
    dockerd = await startDockerd({ dir: path.join(h.base, "dockerd") });
    const tar = await busyboxRootfsTar(path.join(h.base, "bb"));
    const r = await dockerd.docker(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    try {
      if (dockerd) await compose(new EngineClient({ socket: dockerd.socket }), subnets[1]!, ["down", "-v"]);
      if (h) await compose(new EngineClient({ socket: h.socket }), subnets[0]!, ["down", "-v"]);
    } finally {
      await dockerd?.stop();
      await h?.cleanup();
    }
  });

  it("makes the same containers, network and volume on both, converges, and down -v leaves nothing", async () => {
    const cove = new EngineClient({ socket: h.socket });
    const docker = new EngineClient({ socket: dockerd.socket });
    const a = await compose(cove, subnets[0]!, ["up", "-d", "--wait"]);
    assert.equal(a.code, 0, a.stderr);
    const b = await compose(docker, subnets[1]!, ["up", "-d", "--wait"]);
    assert.equal(b.code, 0, b.stderr);
    const onCove = await made(cove, "samep");
    const onDocker = await made(docker, "samep");
    assert.deepEqual(onCove, onDocker);
    assert.deepEqual(Object.keys(onDocker).sort(), ["/samep-app-1", "/samep-db-1", "network", "volume"]);
    assert.equal((await docker.containerInspect("samep-db-1")).State.Health?.Status, "healthy");

    const ids = async () => (await docker.containerList({ all: true, filters: { label: ["com.docker.compose.project=samep"] } })).map((c) => c.Id).sort();
    const before = await ids();
    const again = await compose(docker, subnets[1]!, ["up", "-d", "--wait"]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await ids(), before);

    const down = await compose(docker, subnets[1]!, ["down", "-v"]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await ids(), []);
    await assert.rejects(docker.json("GET", "/networks/samep_default"));
    await assert.rejects(docker.volumeInspect("samep_dbdata"));
  });

  it("exec, run, --scale, stop/start, port, ls and a rolled-back up give the same results on both", async () => {
    const engines = { cove: new EngineClient({ socket: h.socket }), docker: new EngineClient({ socket: dockerd.socket }) };
    const seen: Record<string, unknown[]> = { cove: [], docker: [] };
    for (const [which, client] of Object.entries(engines)) {
      const subnet = which === "cove" ? subnets[0]! : subnets[1]!;
      const c = (args: string[]) => compose(client, subnet, args);
      const out = seen[which]!;
      const record = (what: string, r: { code: number; stdout: string }) => out.push([what, r.code, r.stdout]);
      const states = async () => (await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=samep"] } })).map((x) => `${x.Names[0]} ${x.State}`).sort();
      assert.equal((await c(["up", "-d", "--wait", "--scale", "app=2"])).code, 0);
      out.push(await states());
      record("exec", await c(["exec", "-T", "--index", "2", "-e", "X=1", "-u", "1000", "app", "sh", "-c", 'echo "$X $MODE $(id -u)"; exit 3']));
      record("run", await c(["run", "--rm", "-T", "app", "sh", "-c", "echo one-off; exit 4"]));
      out.push((await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=samep", "com.docker.compose.oneoff=True"] } })).length);
      record("stop", { ...(await c(["stop", "app"])), stdout: "" });
      out.push(await states());
      record("start", { ...(await c(["start"])), stdout: "" });
      out.push(await states());
      record("port", await c(["port", "db", "80"]));
      const ls = await c(["ls", "--format", "json"]);
      out.push((JSON.parse(ls.stdout) as { Name: string; Status: string }[]).filter((p) => p.Name === "samep").map((p) => p.Status));
      assert.equal((await c(["down", "-v"])).code, 0);
      // a container that cannot start: what the up made is removed again, on either engine
      const broken = path.join(h.base, `broken-${which}.yaml`);
      await writeFile(broken, `services:\n  ok:\n    image: busybox\n    command: [sleep, '100000']\n    stop_grace_period: 1s\n  bad:\n    image: busybox\n    command: ['/no/such/program']\n    depends_on: [ok]\nnetworks:\n  default:\n    ipam:\n      config: [{subnet: "${subnet}"}]\n`);
      const stderr = sink();
      const code = await composeMain(["-f", broken, "-p", "rollp", "up", "-d"], () => Promise.resolve(client), { stdout: sink(), stderr }, {});
      out.push(["rollback", code, /rolled back what this up made: removed container rollp-bad-1, container rollp-ok-1, network rollp_default/.test(stderr.text)]);
      out.push(await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=rollp"] } }));
      await assert.rejects(client.json("GET", "/networks/rollp_default"));
    }
    assert.deepEqual(seen.cove, seen.docker);
    assert.deepEqual(seen.cove![1], ["exec", 3, "1 test 1000\n"]);
    assert.deepEqual(seen.cove![2], ["run", 4, "one-off\n"]);
    assert.deepEqual(seen.cove![9], ["running(3)"]);
    assert.deepEqual(seen.cove![10], ["rollback", 1, true]);
  });
});

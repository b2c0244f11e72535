// `docker compose` through cove's docker CLI plugin (scripts/install-docker-plugin.sh writes it
// into a cli-plugins directory): the docker CLI finds it, lists it, and runs cove's compose against
// the engine it targets, cove (DOCKER_HOST, -H) or Debian's dockerd (a docker context) alike.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { EngineClient } from "../../src/client/index.js";
import { busyboxRootfsTar, findBusybox } from "../images/fixtures.js";
import { setupNetwork, skipReason, type NetHarness } from "../network/harness.js";
import { run } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const skip = skipReason || (!(await findBusybox()) ? "busybox-static is not installed" : (dockerdAvailable() ?? false));

const FILE = `
services:
  web:
    image: busybox
    command: ["sleep", "100000"]
    labels: {role: front}
    stop_grace_period: 1s
`;

function installPlugin(dir: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile("bash", [path.join(REPO, "scripts/install-docker-plugin.sh"), dir], (err, _out, stderr) => resolve({ code: err ? 1 : 0, stderr }));
  });
}

describe("docker compose runs cove's compose (a docker CLI plugin)", { skip, timeout: 300_000 }, () => {
  let h: NetHarness;
  let dockerd: Dockerd;
  let config = "";
  let file = "";
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: h.base, DOCKER_CONFIG: config, ...extra });
  const project = async (client: EngineClient) =>
    (await client.containerList({ all: true, filters: { label: ["com.docker.compose.project=plug"] } })).map((c) => ({ name: c.Names[0], state: c.State, service: c.Labels["com.docker.compose.service"], role: c.Labels.role }));

  before(async () => {
    h = await setupNetwork();
    config = path.join(h.base, "docker-config");
    await mkdir(config, { recursive: true });
    file = path.join(h.base, "compose.yaml");
    await writeFile(file, FILE);
    dockerd = await startDockerd({ dir: path.join(h.base, "dockerd") });
    const tar = await busyboxRootfsTar(path.join(h.base, "bb"));
    const r = await dockerd.docker(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    assert.equal(r.code, 0, r.stderr);
    const installed = await installPlugin(path.join(config, "cli-plugins"));
    assert.equal(installed.code, 0, installed.stderr);
  });
  after(async () => {
    try {
      if (dockerd) await run(env({ DOCKER_HOST: `unix://${dockerd.socket}` }), ["compose", "-f", file, "-p", "plug", "down"]);
      if (h) await run(env({ DOCKER_HOST: `unix://${h.socket}` }), ["compose", "-f", file, "-p", "plug", "down"]);
    } finally {
      await dockerd?.stop();
      await h?.cleanup();
    }
  });

  it("the docker CLI lists the plugin and `docker compose version` answers as cove's", async () => {
    const v = await run(env(), ["compose", "version"]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^Docker Compose version \S+ \(cove \w+\)\n$/);
    const info = await run(env({ DOCKER_HOST: `unix://${h.socket}` }), ["info", "--format", "{{json .ClientInfo.Plugins}}"]);
    assert.equal(info.code, 0, info.stderr);
    const plugins = JSON.parse(info.stdout) as { Name: string; Vendor: string; Err?: string }[];
    const compose = plugins.find((p) => p.Name === "compose");
    assert.ok(compose, info.stdout);
    assert.equal(compose.Vendor, "cove");
    assert.equal(compose.Err, undefined);
  });

  it("drives cove through DOCKER_HOST and -H, and dockerd through a docker context, with the same result", async () => {
    const onCove = env({ DOCKER_HOST: `unix://${h.socket}` });
    const up = await run(onCove, ["compose", "-f", file, "-p", "plug", "up", "-d"]);
    assert.equal(up.code, 0, up.stderr);
    const ps = await run(onCove, ["compose", "-f", file, "-p", "plug", "ps"]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /^plug-web-1 +busybox .* web +Up /m);

    const ctx = await run(env(), ["context", "create", "real", "--docker", `host=unix://${dockerd.socket}`]);
    assert.equal(ctx.code, 0, ctx.stderr);
    const viaContext = await run(env(), ["--context", "real", "compose", "-f", file, "-p", "plug", "up", "-d"]);
    assert.equal(viaContext.code, 0, viaContext.stderr);

    const cove = new EngineClient({ socket: h.socket });
    const docker = new EngineClient({ socket: dockerd.socket });
    const expected = [{ name: "/plug-web-1", state: "running", service: "web", role: "front" }];
    assert.deepEqual(await project(cove), expected);
    assert.deepEqual(await project(docker), expected);

    // -H wins over DOCKER_HOST, as in the docker CLI
    const down = await run(env({ DOCKER_HOST: "unix:///nonexistent.sock" }), ["-H", `unix://${h.socket}`, "compose", "-f", file, "-p", "plug", "down"]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await project(cove), []);
    assert.deepEqual(await project(docker), expected, "dockerd's project is untouched");
    const downReal = await run(env(), ["--context", "real", "compose", "-f", file, "-p", "plug", "down"]);
    assert.equal(downReal.code, 0, downReal.stderr);
    assert.deepEqual(await project(docker), []);
  });

  it("the install script leaves a compose plugin it did not write alone", async () => {
    const dir = path.join(h.base, "other-plugins");
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, "docker-compose"), "#!/bin/sh\necho another compose\n", { mode: 0o755 });
    const r = await installPlugin(dir);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /is another compose plugin \(not written by cove.s scripts\): left as it is/);
    assert.equal(await readFile(path.join(dir, "docker-compose"), "utf8"), "#!/bin/sh\necho another compose\n");
  });
});

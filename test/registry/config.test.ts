// The daemon's registry settings from a daemon.json: cove and Debian's dockerd read the same file
// and must show the same IndexConfigs, Mirrors and insecure CIDRs in /info's RegistryConfig; Docker Hub pulls go through the mirrors (an
// empty registry first, then a private registry holding library/busybox), so no test reaches the
// internet. A bad file stops `cove daemon` at start with an error naming the key.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadDaemonConfig, startDaemon, type Daemon } from "../../src/daemon/index.js";
import { ImageService } from "../../src/images/service.js";
import { api, run as docker } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { registryAvailable, saveArchive, skopeoCopy, startProxy, startRegistry, type Proxy, type Registry } from "./support.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

const skip =
  process.getuid?.() !== 0
    ? "needs root (snapshots, dockerd)"
    : (registryAvailable() ?? dockerdAvailable() ?? (!(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined));

/** `cove daemon` with these flags, when it fails before serving (a bad configuration file). */
function daemonFails(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, "daemon", ...args], { timeout: 60_000 }, (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stderr }));
  });
}

describe("daemon.json registry settings: cove beside dockerd", { skip, timeout: 300_000 }, () => {
  let dir = "";
  let reg: Registry | undefined;
  let empty: Registry | undefined;
  let emptyProxy: Proxy | undefined;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  let socket = "";
  let bbId = "";
  let daemonJson: Record<string, unknown> = {};

  before(async () => {
    dir = await tempDir();
    const fixtures = await ImageService.open({ root: path.join(dir, "fixtures") });
    bbId = await fixtures.importRootfs(createReadStream(await busyboxRootfsTar(path.join(dir, "bbroot"))), { reference: "busybox:1", changes: ['CMD ["sh"]'] });
    await saveArchive(fixtures, ["busybox:1"], path.join(dir, "bb.tar"));
    reg = await startRegistry(path.join(dir, "reg"));
    await skopeoCopy(`docker-archive:${path.join(dir, "bb.tar")}`, `docker://${reg.host}/library/busybox:1`);
    // the first mirror has nothing (its proxy records what it was asked), the second has busybox
    empty = await startRegistry(path.join(dir, "empty"));
    emptyProxy = await startProxy(empty.host);
    daemonJson = {
      "insecure-registries": ["10.1.0.0/16", "registry.local:5000", "192.168.7.0/24"],
      "registry-mirrors": [`http://${emptyProxy.host}`, `http://${reg.host}`],
    };
    const file = path.join(dir, "daemon.json");
    await writeFile(file, JSON.stringify(daemonJson));
    socket = path.join(dir, "cove.sock");
    const { registry } = await loadDaemonConfig(file, true);
    daemon = await startDaemon({ root: path.join(dir, "cove"), socket, runtimeRoot: path.join(dir, "run"), registry, log: () => undefined });
    dockerd = await startDockerd({ dir: path.join(dir, "d"), daemonJson });
  });

  after(async () => {
    try {
      await dockerd?.stop();
      await reg?.stop();
      await emptyProxy?.stop();
      await empty?.stop();
    } finally {
      await tearDownDaemon(daemon, dir || undefined);
    }
  });

  it("/info shows the IndexConfigs, Mirrors and insecure CIDRs dockerd shows for the same file", async () => {
    type Config = { IndexConfigs: Record<string, unknown>; Mirrors: string[]; InsecureRegistryCIDRs: string[] };
    const c = (JSON.parse((await api(socket, "GET", "/v1.41/info")).body) as { RegistryConfig: Config }).RegistryConfig;
    const d = (JSON.parse((await api(dockerd!.socket, "GET", "/v1.41/info")).body) as { RegistryConfig: Config }).RegistryConfig;
    assert.deepEqual(c.IndexConfigs, d.IndexConfigs);
    assert.deepEqual(Object.keys(c.IndexConfigs), Object.keys(d.IndexConfigs));
    assert.deepEqual(c.Mirrors, d.Mirrors);
    assert.deepEqual(c.Mirrors, (daemonJson["registry-mirrors"] as string[]).map((m) => `${m}/`));
    // cove lists ::1/128 before 127.0.0.0/8, as dockerd does since 25.0 (20.10 only has the IPv4 range)
    assert.deepEqual(c.InsecureRegistryCIDRs, [...d.InsecureRegistryCIDRs.slice(0, -1), "::1/128", "127.0.0.0/8"]);
  });

  it("a Docker Hub pull goes to the mirrors in order: past one without the image to the one that has it", async () => {
    const env = { PATH: process.env.PATH, HOME: dir, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, "cli") };
    const c = await docker(env, ["pull", "busybox:1"]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^1: Pulling from library\/busybox\n/);
    assert.match(c.stdout, /Status: Downloaded newer image for busybox:1\n/);
    const inspect = await daemon!.images.inspect("busybox:1");
    assert.equal(inspect.Id, bbId);
    assert.deepEqual(inspect.RepoTags, ["busybox:1"]);
    assert.ok(emptyProxy!.seen.some((r) => r.startsWith("HEAD /v2/library/busybox/manifests/1")), emptyProxy!.seen.join("\n"));
  });

  it("a bad configuration file stops cove daemon at start, naming the key", async () => {
    const cases: [unknown, RegExp][] = [
      [{ "insecure-registries": [], "no-such-setting": true }, /key "no-such-setting" is not a setting cove knows/],
      [{ "registry-mirrors": ["ftp://mirror.local"] }, /"registry-mirrors": invalid mirror: unsupported scheme "ftp"/],
      [{ "registry-mirrors": ["https://mirror.local/v2/"] }, /"registry-mirrors": invalid mirror: path, query, or fragment at end of the URI/],
      [{ "insecure-registries": ["http://registry.local"] }, /"insecure-registries": insecure registry http:\/\/registry.local should not contain '\/\/'|should not contain '::\/\/'|should not contain ':\/\/'/],
      [{ "insecure-registries": "10.0.0.0/8" }, /"insecure-registries" must be a list of strings/],
    ];
    for (const [i, [content, want]] of cases.entries()) {
      const file = path.join(dir, `bad-${i}.json`);
      await writeFile(file, JSON.stringify(content));
      const r = await daemonFails(["--root", path.join(dir, "never"), "--socket", path.join(dir, "never.sock"), "--config-file", file]);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, want);
      assert.match(r.stderr, new RegExp(file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")));
    }
    const missing = await daemonFails(["--root", path.join(dir, "never"), "--config-file", path.join(dir, "nope.json")]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /the configuration file .*nope\.json does not exist/);
  });
});

// How cove reaches a registry, as dockerd does:
//
//  - on any port: docker-registry on a port that the Fetch standard blocks (10080, 6666, ...),
//    which Node's fetch refuses; cove logs in, pushes and pulls through it.
//  - insecure-registries CIDRs match a registry named by a host name that resolves into them:
//    a child process in network, mount and PID namespaces of its own, where /etc/hosts (bind-
//    mounted over in that mount namespace only) names loop.cove-test → 127.0.0.1 and
//    corp.cove-test → 10.77.0.1 (an address on that namespace's loopback device), pulls from a
//    docker-registry listening there. The host's /etc/hosts and network are never touched, and the
//    registry dies with the namespace.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ImageService } from "../../src/images/service.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { tearDownDaemon } from "../support/teardown.js";
import { registryAvailable, saveArchive, startRegistry, type Registry } from "./support.js";

const run = promisify(execFile);
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const skip = process.getuid?.() !== 0 ? "needs root (snapshots, namespaces)" : (registryAvailable() ?? (!(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined));

/** Ports the Fetch standard blocks that a registry may listen on here: the first one free. */
const BLOCKED_PORTS = [10080, 6666, 6667, 6668, 6669, 6665, 6000, 6697, 4190];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

describe("registry endpoints: blocked ports and resolved names", { skip, timeout: 600_000 }, () => {
  let dir = "";
  let tar = "";
  let imageId = "";
  let reg: Registry | undefined;

  before(async () => {
    dir = await tempDir();
    const fixtures = await ImageService.open({ root: path.join(dir, "fixtures") });
    imageId = await fixtures.importRootfs(createReadStream(await busyboxRootfsTar(path.join(dir, "bbroot"))), { reference: "busybox:1", changes: ['CMD ["sh"]'] });
    tar = path.join(dir, "bb.tar");
    await saveArchive(fixtures, ["busybox:1"], tar);
  });

  after(async () => {
    try {
      await reg?.stop();
    } finally {
      await tearDownDaemon(undefined, dir || undefined);
    }
  });

  it("logs in, pushes and pulls through a registry on a port Node's fetch refuses", async () => {
    let port: number | undefined;
    for (const p of BLOCKED_PORTS) {
      if (await portFree(p)) {
        port = p;
        break;
      }
    }
    if (port === undefined) return assert.fail(`every blocked port this test may use is taken here: ${BLOCKED_PORTS.join(", ")}`);
    reg = await startRegistry(path.join(dir, "reg"), { cove: "s3cret" }, { port });
    // what this test is about: fetch would not even try
    await assert.rejects(fetch(`http://${reg.host}/v2/`), (err: Error) => (err.cause as Error | undefined)?.message === "bad port");

    const auth = { username: "cove", password: "s3cret", serveraddress: reg.host };
    const pusher = await ImageService.open({ root: path.join(dir, "pusher") });
    await pusher.load(createReadStream(tar));
    assert.deepEqual(await pusher.login(auth), { Status: "Login Succeeded", IdentityToken: "" });
    const ref = `${reg.host}/blocked/busybox:1`;
    await pusher.tag("busybox:1", ref);
    const [pushed] = await pusher.push(`${reg.host}/blocked/busybox`, "1", { auth });
    assert.ok(pushed);

    const puller = await ImageService.open({ root: path.join(dir, "puller") });
    const pulled = await puller.pull(ref, { auth });
    assert.equal(pulled.id, imageId);
    assert.equal(pulled.digest, pushed.digest);
    assert.equal((await puller.inspect(ref)).Id, imageId);
  });

  it("a host name that resolves into an insecure CIDR is reached over HTTP; out of every CIDR, over HTTPS", async () => {
    const hosts = path.join(dir, "hosts");
    await writeFile(hosts, "127.0.0.1 localhost\n127.0.0.1 loop.cove-test\n10.77.0.1 corp.cove-test\n");
    const child = path.join(dir, "resolve-child.mjs");
    const work = path.join(dir, "ns");
    await writeFile(
      child,
      `
import path from "node:path";
const { ImageService } = await import(${JSON.stringify(path.join(DIST, "src/images/service.js"))});
const { skopeoCopy, startRegistry } = await import(${JSON.stringify(path.join(DIST, "test/registry/support.js"))});
const work = ${JSON.stringify(work)};
// listening on every address of this namespace: 127.0.0.1 and 10.77.0.1
const reg = await startRegistry(path.join(work, "reg"), undefined, { address: "0.0.0.0" });
const out = {};
try {
  await skopeoCopy("docker-archive:${tar}", "docker://127.0.0.1:" + reg.port + "/busybox:1");
  const pull = async (name, root, registry) => {
    const svc = await ImageService.open({ root: path.join(work, root), registry: { retryDelaysMs: [], ...registry } });
    try {
      return (await svc.pull(name + ":" + reg.port + "/busybox:1")).id;
    } catch (err) {
      return "error: " + err.message;
    }
  };
  out.loopName = await pull("loop.cove-test", "a", {});
  out.corpInCidr = await pull("corp.cove-test", "b", { insecureRegistries: ["10.0.0.0/8"] });
  out.corpOutOfCidr = await pull("corp.cove-test", "c", { insecureRegistries: ["10.78.0.0/16"] });
} finally {
  await reg.stop();
}
process.stdout.write(JSON.stringify(out));
`,
    );
    const script = `set -e; ip link set lo up; ip addr add 10.77.0.1/32 dev lo; mount --bind "$1" /etc/hosts; exec "$2" "$3"`;
    const { stdout } = await run("unshare", ["--mount", "--propagation", "private", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script, "sh", hosts, process.execPath, child], {
      timeout: 300_000,
      maxBuffer: 16 << 20,
    });
    const out = JSON.parse(stdout) as { loopName: string; corpInCidr: string; corpOutOfCidr: string };
    // 127.0.0.0/8 is insecure with no setting, for a name that resolves into it too
    assert.equal(out.loopName, imageId);
    assert.equal(out.corpInCidr, imageId);
    // HTTPS to a plain HTTP registry: the TLS handshake fails, which shows which scheme was chosen
    assert.match(out.corpOutOfCidr, /^error: cannot reach the registry corp\.cove-test:\d+ at https:\/\/corp\.cove-test:\d+: /);
  });
});

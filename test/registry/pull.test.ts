// Pull from a real registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with images
// that skopeo copied from local fixtures. cove's daemon and Debian's dockerd pull the same
// references side by side through the docker CLI and must agree on the image ID, RepoDigests,
// the progress the CLI prints, the errors, and /distribution/{name}/json. The failure paths go
// through a proxy in front of the registry (a connection cut mid-blob, an altered manifest),
// and auth through a second registry with htpasswd. Python's docker library pulls too.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { digestOf } from "../../src/content/digest.js";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { ImageService } from "../../src/images/service.js";
import { encodeRegistryAuth } from "../../src/registry/auth.js";
import { tarDirectory } from "../../src/snapshots/diff.js";
import { api, run as docker } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { registryAvailable, saveArchive, skopeoCopy, skopeoRaw, startProxy, startRegistry, type Proxy, type Registry } from "./support.js";

const execFileP = promisify(execFile);
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

const skip =
  process.getuid?.() !== 0
    ? "needs root (snapshots, dockerd)"
    : (registryAvailable() ?? dockerdAvailable() ?? (!(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined));

const MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

/** PUTs a manifest list of the given manifests (tag → platform) to the registry under `tag`. */
async function putIndex(reg: Registry, repo: string, tag: string, entries: { ref: string; platform: { os: string; architecture: string; variant?: string } }[]): Promise<string> {
  const manifests = [];
  for (const e of entries) {
    const raw = await skopeoRaw(`docker://${reg.host}/${repo}:${e.ref}`);
    const bytes = Buffer.from(raw);
    const mediaType = (JSON.parse(raw) as { mediaType: string }).mediaType;
    manifests.push({ mediaType, digest: digestOf(bytes), size: bytes.length, platform: e.platform });
  }
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_LIST, manifests }));
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: reg.port, method: "PUT", path: `/v2/${repo}/manifests/${tag}`, headers: { "Content-Type": MANIFEST_LIST, "Content-Length": body.length } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => (res.statusCode === 201 ? resolve() : reject(new Error(`PUT index: ${res.statusCode} ${text}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
  return digestOf(body);
}

interface Msg {
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { message: string };
  progressDetail?: { current?: number; total?: number };
}

/**
 * The lines of a pull's CLI output that dockerd always sends: it coalesces a layer's intermediate
 * progress updates ("Downloading", "Verifying Checksum", "Download complete", "Extracting",
 * "Waiting") when its reader lags, so those come and go from run to run.
 */
const stable = (out: string): string =>
  out
    .split("\n")
    .filter((l) => !/: (Downloading|Verifying Checksum|Download complete|Extracting|Waiting)/.test(l))
    .join("\n");

const lines = (body: string): Msg[] =>
  body
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Msg);

/** POST /images/create on a socket, with an X-Registry-Auth header when given. */
function pullApi(socket: string, query: string, auth?: string): Promise<{ status: number; body: string }> {
  return api(socket, "POST", `/v1.41/images/create?${query}`, undefined, auth !== undefined ? { "X-Registry-Auth": auth } : {});
}

describe("pull from a registry: cove beside dockerd", { skip, timeout: 600_000 }, () => {
  let dir = "";
  let reg: Registry | undefined;
  let authReg: Registry | undefined;
  let proxy: Proxy | undefined;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  let socket = "";
  let coveEnv: NodeJS.ProcessEnv = {};
  let amd64Id = "";
  let arm64Id = "";
  let indexDigest = "";

  /** The docker CLI against cove's daemon. */
  const cove = (args: string[]) => docker(coveEnv, args);
  /** cove's own CLI against cove's daemon. */
  const coveCli = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await execFileP(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH, HOME: dir, COVE_HOST: `unix://${socket}` } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  };
  const real = (args: string[]) => dockerd!.docker(args);
  const coveImages = async () => (await daemon!.images.list()).map((i) => ({ id: i.Id, tags: i.RepoTags, digests: i.RepoDigests }));

  before(async () => {
    dir = await tempDir();
    // fixtures: busybox (the host's platform) and a one-file image marked linux/arm64
    const fixtures = await ImageService.open({ root: path.join(dir, "fixtures") });
    // busybox:1 and busybox:2 share their one layer (the same rootfs tar), not their config
    const bbTar = await busyboxRootfsTar(path.join(dir, "bbroot"));
    amd64Id = await fixtures.importRootfs(createReadStream(bbTar), { reference: "busybox:1", changes: ['CMD ["sh"]'] });
    await fixtures.importRootfs(createReadStream(bbTar), { reference: "busybox:2", changes: ['CMD ["sh"]', "LABEL second=yes"] });
    const armRoot = path.join(dir, "armroot");
    await mkdir(armRoot);
    await writeFile(path.join(armRoot, "hello"), "from arm64\n");
    const armTar = path.join(dir, "arm.tar");
    const { createWriteStream } = await import("node:fs");
    await tarDirectory(armRoot, createWriteStream(armTar));
    arm64Id = await fixtures.importRootfs(createReadStream(armTar), { reference: "busybox:arm64", platform: "linux/arm64", changes: ['CMD ["/hello"]'] });
    await saveArchive(fixtures, ["busybox:1"], path.join(dir, "bb.tar"));
    await saveArchive(fixtures, ["busybox:2"], path.join(dir, "bb2.tar"));
    await saveArchive(fixtures, ["busybox:arm64"], path.join(dir, "arm.tar.out"));

    reg = await startRegistry(path.join(dir, "reg"));
    await skopeoCopy(`docker-archive:${path.join(dir, "bb.tar")}`, `docker://${reg.host}/busybox:1`);
    await skopeoCopy(`docker://${reg.host}/busybox:1`, `docker://${reg.host}/busybox:copy`);
    await skopeoCopy(`docker-archive:${path.join(dir, "bb2.tar")}`, `docker://${reg.host}/busybox:2`);
    await skopeoCopy(`docker-archive:${path.join(dir, "arm.tar.out")}`, `docker://${reg.host}/busybox:arm64`);
    indexDigest = await putIndex(reg, "busybox", "multi", [
      { ref: "1", platform: { os: "linux", architecture: "amd64" } },
      { ref: "arm64", platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    ]);
    authReg = await startRegistry(path.join(dir, "authreg"), { cove: "s3cret" });
    await skopeoCopy(`docker-archive:${path.join(dir, "bb.tar")}`, `docker://${authReg.host}/private/busybox:1`, { creds: "cove:s3cret" });
    proxy = await startProxy(reg.host);

    socket = path.join(dir, "cove.sock");
    const images = await ImageService.open({ root: path.join(dir, "cove"), registry: { retryDelaysMs: [50, 100, 200] } });
    daemon = await startDaemon({ root: path.join(dir, "cove"), socket, runtimeRoot: path.join(dir, "run"), images, log: () => undefined });
    coveEnv = { PATH: process.env.PATH, HOME: dir, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, "cli") };
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
  });

  after(async () => {
    try {
      await dockerd?.stop();
      await proxy?.stop();
      await reg?.stop();
      await authReg?.stop();
    } finally {
      await tearDownDaemon(daemon, dir || undefined);
    }
  });

  it("docker pull gives the same image ID, RepoDigests and progress as dockerd's", async () => {
    const ref = `${reg!.host}/busybox:1`;
    const c = await cove(["pull", ref]);
    const d = await real(["pull", ref]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(stable(c.stdout), stable(d.stdout));
    assert.match(c.stdout, /: Pull complete\n/);
    const fmt = "{{.Id}} {{json .RepoTags}} {{json .RepoDigests}}";
    const ci = await cove(["image", "inspect", "-f", fmt, ref]);
    const di = await real(["image", "inspect", "-f", fmt, ref]);
    assert.equal(ci.stdout, di.stdout);
    assert.match(ci.stdout, new RegExp(`^${amd64Id} `));
  });

  it("a second pull downloads nothing: 'Image is up to date', and a layer of another image 'Already exists'", async () => {
    const again = await cove(["pull", `${reg!.host}/busybox:1`]);
    assert.equal(again.code, 0, again.stderr);
    // the image is there: dockerd reports no layer at all, and neither does cove
    assert.equal(again.stdout, `1: Pulling from busybox\nDigest: ${digestOf(Buffer.from(await skopeoRaw(`docker://${reg!.host}/busybox:1`)))}\nStatus: Image is up to date for ${reg!.host}/busybox:1\n${reg!.host}/busybox:1\n`);
    // another tag of the same image: no layer to report, yet a newer name
    const copy = await cove(["pull", `${reg!.host}/busybox:copy`]);
    const realCopy = await real(["pull", `${reg!.host}/busybox:copy`]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(stable(copy.stdout), stable(realCopy.stdout));
    assert.match(copy.stdout, /Status: Downloaded newer image for/);
    // another image with the same layer: the layer "Already exists"
    const second = await cove(["pull", `${reg!.host}/busybox:2`]);
    const realSecond = await real(["pull", `${reg!.host}/busybox:2`]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(stable(second.stdout), stable(realSecond.stdout));
    assert.match(second.stdout, /: Already exists\n/);
    assert.doesNotMatch(second.stdout, /Pull complete/);
  });

  it("pulls by digest, with the same RepoDigests as dockerd", async () => {
    const manifest = Buffer.from(await skopeoRaw(`docker://${reg!.host}/busybox:arm64`));
    const ref = `${reg!.host}/busybox@${digestOf(manifest)}`;
    const c = await cove(["pull", "--platform", "linux/arm64", ref]);
    const d = await real(["pull", "--platform", "linux/arm64", ref]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(stable(c.stdout), stable(d.stdout));
    const fmt = "{{.Id}} {{json .RepoTags}} {{json .RepoDigests}} {{.Architecture}}";
    const ci = await cove(["image", "inspect", "-f", fmt, ref]);
    assert.equal(ci.stdout, (await real(["image", "inspect", "-f", fmt, ref])).stdout);
    assert.match(ci.stdout, new RegExp(`^${arm64Id} `));
  });

  it("picks the host's platform from a manifest list, and platform=linux/arm64 the other", async () => {
    const ref = `${reg!.host}/busybox:multi`;
    const c = await cove(["pull", ref]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`Digest: ${indexDigest}\n`));
    const fmt = "{{.Id}} {{json .RepoDigests}}";
    const host = await cove(["image", "inspect", "-f", fmt, ref]);
    assert.match(host.stdout, new RegExp(`^${amd64Id} .*${reg!.host}/busybox@${indexDigest}`));
    assert.equal((await real(["pull", ref])).code, 0);
    assert.equal(host.stdout, (await real(["image", "inspect", "-f", fmt, ref])).stdout);

    const res = await pullApi(socket, `fromImage=${encodeURIComponent(`${reg!.host}/busybox`)}&tag=multi&platform=linux%2Farm64`);
    assert.equal(res.status, 200);
    const msgs = lines(res.body);
    assert.equal(msgs.find((m) => m.error), undefined, res.body);
    assert.deepEqual(msgs[0], { status: "Pulling from busybox", id: "multi" });
    assert.equal(msgs.at(-1)?.status, `Status: Downloaded newer image for ${reg!.host}/busybox:multi`);
    assert.equal((await daemon!.images.inspect(ref)).Id, arm64Id);

    const none = await pullApi(socket, `fromImage=${encodeURIComponent(`${reg!.host}/busybox`)}&tag=multi&platform=linux%2Fs390x`);
    const dn = await pullApi(dockerd!.socket, `fromImage=${encodeURIComponent(`${reg!.host}/busybox`)}&tag=multi&platform=linux%2Fs390x`);
    const errOf = (r: { status: number; body: string }) => (r.status === 200 ? lines(r.body).find((m) => m.error)?.error : (JSON.parse(r.body) as { message: string }).message);
    assert.equal(errOf(none)?.split("\n")[0], errOf(dn));
    assert.match(errOf(none) ?? "", /no matching manifest for linux\/s390x in the manifest list entries/);
  });

  it("GET /distribution/{name}/json answers as dockerd does", async () => {
    for (const tag of ["multi", "1"]) {
      const p = `/v1.41/distribution/${reg!.host}/busybox:${tag}/json`;
      const c = await api(socket, "GET", p);
      const d = await api(dockerd!.socket, "GET", p);
      assert.equal(c.status, 200, c.body);
      assert.equal(d.status, 200, d.body);
      assert.deepEqual(JSON.parse(c.body), JSON.parse(d.body));
    }
  });

  it("a missing tag or repository fails with Docker's words and adds nothing", async () => {
    const before = await coveImages();
    for (const ref of [`${reg!.host}/busybox:nope`, `${reg!.host}/nosuch:1`]) {
      const c = await cove(["pull", ref]);
      const d = await real(["pull", ref]);
      assert.equal(c.code, 1);
      assert.equal(c.stderr, d.stderr);
      assert.equal(c.stdout, d.stdout);
    }
    assert.match((await cove(["pull", `${reg!.host}/busybox:nope`])).stderr, /manifest for 127\.0\.0\.1:\d+\/busybox:nope not found: manifest unknown: manifest unknown/);
    assert.deepEqual(await coveImages(), before);
  });

  it("htpasswd auth: right credentials pull, none or wrong ones fail as dockerd's do", async () => {
    const q = `fromImage=${encodeURIComponent(`${authReg!.host}/private/busybox`)}&tag=1`;
    const err = (r: { status: number; body: string }) => (r.status === 200 ? lines(r.body).find((m) => m.error)?.error : (JSON.parse(r.body) as { message: string }).message);
    const anon = await pullApi(socket, q);
    const anonD = await pullApi(dockerd!.socket, q);
    assert.notEqual(anon.status, 200);
    assert.equal(err(anon)?.split("\n")[0], err(anonD));
    const wrong = encodeRegistryAuth({ username: "cove", password: "wrong", serveraddress: authReg!.host });
    const bad = await pullApi(socket, q, wrong);
    const badD = await pullApi(dockerd!.socket, q, wrong);
    assert.notEqual(bad.status, 200);
    assert.equal(err(bad)?.split("\n")[0], err(badD));
    assert.equal((await coveImages()).some((i) => i.tags.some((t) => t.startsWith(authReg!.host))), false);
    const good = await pullApi(socket, q, encodeRegistryAuth({ username: "cove", password: "s3cret", serveraddress: authReg!.host }));
    assert.equal(good.status, 200, good.body);
    assert.equal(lines(good.body).find((m) => m.error), undefined, good.body);
    assert.equal((await daemon!.images.inspect(`${authReg!.host}/private/busybox:1`)).Id, amd64Id);
  });

  it("a connection cut mid-blob is resumed with a Range request and the pull succeeds", async () => {
    // a fresh daemon root: the layer must really be downloaded
    const root = path.join(dir, "cove2");
    const svc = await ImageService.open({ root, registry: { retryDelaysMs: [50, 100, 200] } });
    proxy!.cutNextBlobAfter(300_000);
    proxy!.seen.length = 0;
    const r = await svc.pull(`${proxy!.host}/busybox:1`);
    assert.equal(r.id, amd64Id);
    const ranged = proxy!.seen.filter((s) => /^GET \/v2\/busybox\/blobs\/sha256:[0-9a-f]{64} range=bytes=\d+-$/.test(s));
    assert.equal(ranged.length, 1, proxy!.seen.join("\n"));
    assert.equal((await svc.inspect(`${proxy!.host}/busybox:1`)).Id, amd64Id);
  });

  it("a registry that always cuts a blob short: a clear error after the retries, nothing stored", async () => {
    const root = path.join(dir, "cove3");
    const svc = await ImageService.open({ root, registry: { retryDelaysMs: [20, 40] } });
    proxy!.cutEveryBlobAfter(200_000);
    try {
      await assert.rejects(svc.pull(`${proxy!.host}/busybox:1`), /failed to download blob sha256:[0-9a-f]{64}: the registry sent \d+ of \d+ bytes after 3 attempts \(last: .*; cut short 3 times\)/);
    } finally {
      proxy!.cutEveryBlobAfter(undefined);
    }
    assert.deepEqual(await svc.list(), []);
    assert.deepEqual((await svc.content.list()).map((i) => i.digest), []);
    assert.deepEqual(await svc.content.listIngests(), []);
  });

  it("a manifest that does not match its digest: a clear error, no image", async () => {
    proxy!.alterManifests(true);
    try {
      const ref = `${proxy!.host}/busybox:copy`;
      const c = await cove(["pull", ref]);
      assert.equal(c.code, 1);
      assert.match(c.stderr, /manifest verification failed for digest sha256:[0-9a-f]{64}/);
      const byDigest = await cove(["pull", `${proxy!.host}/busybox@${indexDigest}`]);
      assert.equal(byDigest.code, 1);
      assert.match(byDigest.stderr, new RegExp(`manifest verification failed for digest ${indexDigest}`));
    } finally {
      proxy!.alterManifests(false);
    }
    assert.equal((await coveImages()).some((i) => [...i.tags, ...i.digests].some((t) => t.startsWith(proxy!.host))), false);
  });

  it("Python's docker library pulls", async () => {
    const script = [
      "import docker, sys",
      `c = docker.DockerClient(base_url="unix://${socket}")`,
      `img = c.images.pull("${reg!.host}/busybox", tag="copy")`,
      "print(img.id)",
      `print(' '.join(t for t in img.tags if t.startswith("${reg!.host}/")))`,
    ].join("\n");
    const { stdout } = await execFileP("python3", ["-c", script]);
    assert.equal(stdout, `${amd64Id}\n${reg!.host}/busybox:1 ${reg!.host}/busybox:copy\n`);
  });

  it("cove pull prints what docker pull prints; cove run and docker run pull a missing image", async () => {
    // the image gone with all its names (and, by the collection that follows, its layer)
    const ref = `${reg!.host}/busybox:arm64`;
    await daemon!.images.remove(arm64Id, { force: true }).catch(() => undefined);
    const c = await coveCli(["pull", ref]);
    assert.equal(c.code, 0, c.stderr);
    await daemon!.images.remove(arm64Id, { force: true });
    const d = await cove(["pull", ref]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(c.stdout, d.stdout);
    assert.match(c.stdout, /: Pull complete\n/);
    assert.equal((await coveCli(["pull", "-q", ref])).stdout, `${ref}\n`);
    const bad = await coveCli(["pull", `${reg!.host}/busybox:nope`]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, (await cove(["pull", `${reg!.host}/busybox:nope`])).stderr);

    // run with the default --pull=missing: the image is pulled, then run
    const runRef = `${reg!.host}/busybox:copy`;
    await daemon!.images.remove(amd64Id, { force: true }).catch(() => undefined);
    const r = await coveCli(["run", "--rm", "--network", "none", runRef, "echo", "pulled and ran"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "pulled and ran\n");
    assert.match(r.stderr, new RegExp(`^Unable to find image '${runRef}' locally\n`));
    assert.match(r.stderr, /Status: Downloaded newer image for/);
    await daemon!.images.remove(amd64Id, { force: true });
    const dr = await cove(["run", "--rm", "--network", "none", runRef, "echo", "pulled and ran"]);
    assert.equal(dr.code, 0, dr.stderr);
    assert.equal(dr.stdout, "pulled and ran\n");
    const never = await coveCli(["run", "--rm", "--pull", "never", "--network", "none", `${reg!.host}/busybox:multi-none`, "true"]);
    assert.notEqual(never.code, 0);
    assert.match(never.stderr, /No such image/);
  });
});

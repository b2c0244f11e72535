// cove's registry server (`cove registry serve`, run as the real command) against real peers:
// skopeo copies a fixture image into it and back out with identical digests (plain HTTP, basic
// auth, token auth, TLS); Debian's dockerd pulls from it and pushes to it through the docker CLI
// (with `docker login` against the token flow); a server on a cove root serves that root's
// images without copying a blob; and a conformance run sends the same raw requests (the spec's
// end-1..end-13) to cove's server and to Debian's docker-registry (distribution 2.8) and compares
// status codes, the headers the spec requires and the error codes of the bodies.

import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { digestOf } from "../../src/content/digest.js";
import { ImageService } from "../../src/images/service.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { bcrypt, freePort, registryAvailable, saveArchive, skopeoCopy, skopeoRaw, SKOPEO, startRegistry, type Registry } from "./support.js";

const run = promisify(execFile);
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

const skip =
  process.getuid?.() !== 0
    ? "needs root (image fixtures, dockerd)"
    : (registryAvailable() ?? dockerdAvailable() ?? (!(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined));

interface Cove {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Runs `cove registry serve` with args on a free port until stop(); resolves once it serves. */
async function startCove(root: string, args: string[]): Promise<Cove> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [MAIN, "registry", "serve", "--root", root, "--listen", `127.0.0.1:${port}`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
  let exited = false;
  const gone = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await gone;
  };
  const deadline = Date.now() + 30_000;
  while (!out.includes("cove registry serving")) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`cove registry serve did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, stop };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, p: string, opts: { headers?: Record<string, string | number>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: p, headers: opts.headers ?? {} }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("latin1")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** The file count of a content store's blobs (to see that nothing was copied). */
async function blobCount(root: string): Promise<number> {
  return (await readdir(path.join(root, "content", "blobs", "sha256")).catch(() => [])).length;
}

describe("cove registry serve against skopeo, dockerd and distribution", { skip, timeout: 900_000 }, () => {
  let dir = "";
  const stops: (() => Promise<void>)[] = [];
  let plain: Cove;
  let basic: Cove;
  let token: Cove;
  let secure: Cove;
  let local: Cove;
  let dist: Registry;
  let confCove: Cove;
  let confDist: Registry;
  let dockerd: Dockerd;
  let imageId = "";
  let localId = "";
  let archive = "";

  before(async () => {
    dir = await tempDir();
    const fixtures = await ImageService.open({ root: path.join(dir, "fixtures") });
    const bbTar = await busyboxRootfsTar(path.join(dir, "bbroot"));
    imageId = await fixtures.importRootfs(createReadStream(bbTar), { reference: "busybox:1", changes: ['CMD ["sh"]'] });
    archive = path.join(dir, "bb.tar");
    await saveArchive(fixtures, ["busybox:1"], archive);
    // a cove root with an image of its own, for --local-images
    const coveRoot = path.join(dir, "coveroot");
    const own = await ImageService.open({ root: coveRoot });
    localId = await own.importRootfs(createReadStream(bbTar), { reference: "busybox:local", changes: ['CMD ["sh"]', "LABEL local=yes"] });

    const htpasswd = path.join(dir, "htpasswd");
    await writeFile(htpasswd, `cove:${await bcrypt("s3cret")}\n`);
    await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")]);

    const track = <T extends { stop(): Promise<void> }>(x: T): T => (stops.push(() => x.stop()), x);
    plain = track(await startCove(path.join(dir, "plain"), []));
    basic = track(await startCove(path.join(dir, "basic"), ["--auth", "basic", "--htpasswd", htpasswd]));
    token = track(await startCove(path.join(dir, "token"), ["--auth", "token", "--htpasswd", htpasswd]));
    secure = track(await startCove(path.join(dir, "tls"), ["--tls-cert", path.join(dir, "cert.pem"), "--tls-key", path.join(dir, "key.pem")]));
    local = track(await startCove(coveRoot, ["--local-images"]));
    dist = track(await startRegistry(path.join(dir, "dist")));
    // the conformance run's own pair, so their catalogs hold only what it pushes
    confCove = track(await startCove(path.join(dir, "conf"), []));
    confDist = track(await startRegistry(path.join(dir, "confdist")));
    dockerd = track(await startDockerd({ dir: path.join(dir, "d") }));
  });

  after(async () => {
    try {
      for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error("stopping a peer:", err));
    } finally {
      await tearDownDaemon(undefined, dir || undefined);
    }
  });

  it("skopeo copies a fixture in and back out with identical digests, the same as into distribution", async () => {
    await skopeoCopy(`docker-archive:${archive}`, `docker://${plain.host}/busybox:1`);
    await skopeoCopy(`docker-archive:${archive}`, `docker://${dist.host}/busybox:1`);
    const ours = await skopeoRaw(`docker://${plain.host}/busybox:1`);
    assert.equal(ours, await skopeoRaw(`docker://${dist.host}/busybox:1`));
    const digest = digestOf(ours);
    // out again: to distribution (by registry), and to a directory whose every file is checked
    await skopeoCopy(`docker://${plain.host}/busybox:1`, `docker://${dist.host}/copied:1`);
    assert.equal(digestOf(await skopeoRaw(`docker://${dist.host}/copied:1`)), digest);
    const out = path.join(dir, "out");
    await run(SKOPEO, ["copy", "--quiet", "--src-tls-verify=false", "--insecure-policy", `docker://${plain.host}/busybox@${digest}`, `dir:${out}`]);
    assert.equal(digestOf(await readFile(path.join(out, "manifest.json"))), digest);
    const manifest = JSON.parse(ours) as { config: { digest: string }; layers: { digest: string }[] };
    assert.equal(manifest.config.digest, imageId);
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      const bytes = await readFile(path.join(out, d.replace(/^sha256:/, "")));
      assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, d);
    }
  });

  it("skopeo pushes and pulls with --dest-creds through basic auth and the token flow, and is refused without", async () => {
    const digest = digestOf(await skopeoRaw(`docker://${plain.host}/busybox:1`));
    for (const reg of [basic, token]) {
      await assert.rejects(skopeoCopy(`docker-archive:${archive}`, `docker://${reg.host}/private/busybox:1`), /unauthorized|authentication required/i);
      await skopeoCopy(`docker-archive:${archive}`, `docker://${reg.host}/private/busybox:1`, { creds: "cove:s3cret" });
      await assert.rejects(skopeoCopy(`docker-archive:${archive}`, `docker://${reg.host}/private/busybox:2`, { creds: "cove:wrong" }), /unauthorized|authentication required|invalid username/i);
      assert.equal(digestOf(await skopeoRaw(`docker://${reg.host}/private/busybox:1`, "cove:s3cret")), digest);
      await assert.rejects(skopeoRaw(`docker://${reg.host}/private/busybox:1`), /unauthorized|authentication required/i);
    }
  });

  it("serves over TLS with --tls-cert and --tls-key", async () => {
    await skopeoCopy(`docker-archive:${archive}`, `docker://${secure.host}/secure/busybox:1`);
    const raw = await skopeoRaw(`docker://${secure.host}/secure/busybox:1`);
    assert.equal((JSON.parse(raw) as { config: { digest: string } }).config.digest, imageId);
    // the certificate is the one given
    const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const sock = tls.connect({ host: "127.0.0.1", port: secure.port, rejectUnauthorized: false }, () => {
        resolve(sock.getPeerCertificate());
        sock.end();
      });
      sock.on("error", reject);
    });
    assert.equal(cert.fingerprint256, new X509Certificate(await readFile(path.join(dir, "cert.pem"))).fingerprint256);
  });

  it("dockerd pulls from it and pushes to it through the docker CLI", async () => {
    const ref = `${plain.host}/busybox:1`;
    const pull = await dockerd.docker(["pull", ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal((await dockerd.docker(["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim(), imageId);
    const pushed = `${plain.host}/pushed/by-docker:v1`;
    assert.equal((await dockerd.docker(["tag", ref, pushed])).code, 0);
    const push = await dockerd.docker(["push", pushed]);
    assert.equal(push.code, 0, push.stderr);
    const raw = await skopeoRaw(`docker://${pushed}`);
    assert.match(push.stdout, new RegExp(`digest: ${digestOf(raw)} size: ${Buffer.byteLength(raw)}`));
    assert.equal((JSON.parse(raw) as { config: { digest: string } }).config.digest, imageId);
    // and back: removed from dockerd, pulled again by the pushed name
    assert.equal((await dockerd.docker(["rmi", ref, pushed])).code, 0);
    const again = await dockerd.docker(["pull", pushed]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await dockerd.docker(["image", "inspect", "-f", "{{.Id}}", pushed])).stdout.trim(), imageId);
  });

  it("docker login, push and pull through the token flow; refused when logged out", async () => {
    const login = await dockerd.docker(["login", token.host, "-u", "cove", "--password-stdin"], { input: "s3cret\n" });
    assert.equal(login.code, 0, login.stderr);
    const ref = `${token.host}/team/busybox:1`;
    assert.equal((await dockerd.docker(["tag", `${plain.host}/pushed/by-docker:v1`, ref])).code, 0);
    const push = await dockerd.docker(["push", ref]);
    assert.equal(push.code, 0, push.stderr);
    assert.equal((await dockerd.docker(["rmi", ref])).code, 0);
    assert.equal((await dockerd.docker(["logout", token.host])).code, 0);
    const refused = await dockerd.docker(["pull", ref]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /unauthorized|authentication required|no basic auth credentials/i);
    const bad = await dockerd.docker(["login", token.host, "-u", "cove", "--password-stdin"], { input: "wrong\n" });
    assert.notEqual(bad.code, 0);
    assert.equal((await dockerd.docker(["login", token.host, "-u", "cove", "--password-stdin"], { input: "s3cret\n" })).code, 0);
    const pull = await dockerd.docker(["pull", ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal((await dockerd.docker(["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim(), imageId);
  });

  it("on a cove root with --local-images, serves that root's images by name without copying a blob", async () => {
    const root = path.join(dir, "coveroot");
    const before = await blobCount(root);
    const ref = `${local.host}/busybox:local`;
    const pull = await dockerd.docker(["pull", ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal((await dockerd.docker(["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim(), localId);
    assert.equal(await blobCount(root), before);
    const missing = await dockerd.docker(["pull", `${local.host}/busybox:absent`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /manifest unknown|not found/);
  });

  describe("conformance: the same requests to cove and to distribution", () => {
    const NAME = "conf/repo";
    const OTHER = "conf/other";
    const layer = Buffer.from("conformance layer bytes\n");
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const MT = "application/vnd.docker.distribution.manifest.v2+json";
    const manifestOf = (layers: Buffer[]) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT,
          config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: digestOf(config) },
          layers: layers.map((l) => ({ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: l.length, digest: digestOf(l) })),
        }),
      );
    const manifest = manifestOf([layer]);
    const missing = manifestOf([layer, Buffer.from("never pushed")]);

    /** What is compared of a reply: the status, the presence (or value) of headers, the error codes. */
    interface Seen {
      step: string;
      status: number;
      headers: Record<string, string>;
      codes: string[];
      body?: string;
    }

    /** Runs the spec's endpoints in order against one registry. */
    async function script(port: number): Promise<Seen[]> {
      const seen: Seen[] = [];
      const step = async (
        name: string,
        method: string,
        p: string,
        opts: { headers?: Record<string, string | number>; body?: string | Buffer; present?: string[]; exact?: string[]; body_?: boolean } = {},
      ): Promise<Reply> => {
        const r = await request(port, method, p, opts);
        const headers: Record<string, string> = {};
        for (const h of opts.present ?? []) headers[h] = r.headers[h] === undefined ? "absent" : "present";
        for (const h of opts.exact ?? []) headers[h] = String(r.headers[h] ?? "absent");
        let codes: string[] = [];
        if (r.status >= 400 && r.body.trim().startsWith("{")) codes = (JSON.parse(r.body) as { errors: { code: string }[] }).errors.map((e) => e.code);
        seen.push({ step: name, status: r.status, headers, codes, ...(opts.body_ ? { body: r.body.trim() } : {}) });
        return r;
      };
      const loc = (r: Reply) => {
        const l = r.headers.location ?? "";
        return l.startsWith("http") ? new URL(l).pathname + new URL(l).search : l;
      };
      const withParam = (l: string, q: string) => `${l}${l.includes("?") ? "&" : "?"}${q}`;
      const unknown = digestOf("unknown");
      await step("end-1 GET /v2/", "GET", "/v2/", { exact: ["docker-distribution-api-version"] });
      await step("end-3 GET unknown tag", "GET", `/v2/${NAME}/manifests/nope`);
      await step("end-2 GET unknown blob", "GET", `/v2/${NAME}/blobs/${unknown}`);
      await step("end-2 HEAD unknown blob", "HEAD", `/v2/${NAME}/blobs/${unknown}`);
      await step("end-8a tags of an unknown repository", "GET", `/v2/no/such/tags/list`);
      const start = await step("end-4a POST upload", "POST", `/v2/${NAME}/blobs/uploads/`, { present: ["location", "docker-upload-uuid"], exact: ["range", "content-length"] });
      const half = layer.length >> 1;
      const p1 = await step("end-5 PATCH first chunk", "PATCH", loc(start), {
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `0-${half - 1}`, "Content-Length": half },
        body: layer.subarray(0, half),
        present: ["location", "docker-upload-uuid"],
        exact: ["range"],
      });
      await step("end-13 GET upload status", "GET", loc(p1), { present: ["location", "docker-upload-uuid"], exact: ["range"] });
      const p2 = await step("end-5 PATCH second chunk", "PATCH", loc(p1), {
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `${half}-${layer.length - 1}`, "Content-Length": layer.length - half },
        body: layer.subarray(half),
        exact: ["range"],
      });
      await step("end-6 PUT with the wrong digest", "PUT", withParam(loc(p2), `digest=${digestOf("not the layer")}`));
      const again = await step("end-4a POST a second upload", "POST", `/v2/${NAME}/blobs/uploads/`);
      await step("end-6 PUT whole blob", "PUT", withParam(loc(again), `digest=${digestOf(layer)}`), {
        headers: { "Content-Type": "application/octet-stream", "Content-Length": layer.length },
        body: layer,
        present: ["location"],
        exact: ["docker-content-digest"],
      });
      const third = await request(port, "POST", `/v2/${NAME}/blobs/uploads/`);
      const t1 = await request(port, "PATCH", loc(third), { headers: { "Content-Type": "application/octet-stream", "Content-Range": "0-3", "Content-Length": 4 }, body: "abcd" });
      await step("end-5 PATCH out of order", "PATCH", loc(t1), { headers: { "Content-Type": "application/octet-stream", "Content-Range": "7-10", "Content-Length": 4 }, body: "hijk" });
      const fourth = await request(port, "POST", `/v2/${NAME}/blobs/uploads/`);
      await step("DELETE upload", "DELETE", loc(fourth));
      await step("end-13 GET deleted upload", "GET", loc(fourth));
      const mono = await step("end-4b POST monolithic", "POST", `/v2/${NAME}/blobs/uploads/?digest=${digestOf(config)}`, {
        headers: { "Content-Type": "application/octet-stream", "Content-Length": config.length },
        body: config,
        present: ["location"],
      });
      if (mono.status === 202) {
        // a registry that only starts an upload here (the spec allows it) gets the blob by PUT
        const put = await request(port, "PUT", withParam(loc(mono), `digest=${digestOf(config)}`), { headers: { "Content-Type": "application/octet-stream", "Content-Length": config.length }, body: config });
        assert.equal(put.status, 201, put.body);
      }
      await step("end-2 GET blob", "GET", `/v2/${NAME}/blobs/${digestOf(layer)}`, { exact: ["docker-content-digest", "content-length"], body_: true });
      await step("end-2 HEAD blob", "HEAD", `/v2/${NAME}/blobs/${digestOf(layer)}`, { exact: ["docker-content-digest", "content-length"] });
      await step("end-2 GET blob range", "GET", `/v2/${NAME}/blobs/${digestOf(layer)}`, { headers: { Range: "bytes=0-3" }, exact: ["content-range", "content-length"], body_: true });
      await step("end-11 mount", "POST", `/v2/${OTHER}/blobs/uploads/?mount=${digestOf(layer)}&from=${NAME}`, { present: ["location"], exact: ["docker-content-digest"] });
      await step("end-11 mount of an unknown blob", "POST", `/v2/${OTHER}/blobs/uploads/?mount=${unknown}&from=${NAME}`, { present: ["location", "docker-upload-uuid"] });
      await step("end-7 PUT manifest with a missing blob", "PUT", `/v2/${NAME}/manifests/broken`, { headers: { "Content-Type": MT }, body: missing });
      await step("end-7 PUT manifest", "PUT", `/v2/${NAME}/manifests/v1`, { headers: { "Content-Type": MT }, body: manifest, present: ["location"], exact: ["docker-content-digest"] });
      await step("end-7 PUT manifest by digest", "PUT", `/v2/${NAME}/manifests/${digestOf(manifest)}`, { headers: { "Content-Type": MT }, body: manifest, exact: ["docker-content-digest"] });
      await step("end-7 PUT manifest under a wrong digest", "PUT", `/v2/${NAME}/manifests/${unknown}`, { headers: { "Content-Type": MT }, body: manifest });
      await step("end-7 PUT a second tag", "PUT", `/v2/${NAME}/manifests/v2`, { headers: { "Content-Type": MT }, body: manifest });
      await step("end-3 GET manifest by tag", "GET", `/v2/${NAME}/manifests/v1`, { headers: { Accept: MT }, exact: ["docker-content-digest", "content-type", "content-length"], body_: true });
      await step("end-3 HEAD manifest by digest", "HEAD", `/v2/${NAME}/manifests/${digestOf(manifest)}`, { headers: { Accept: MT }, exact: ["docker-content-digest", "content-type", "content-length"] });
      await step("end-8a tags", "GET", `/v2/${NAME}/tags/list`, { body_: true });
      await step("end-8b tags, a page", "GET", `/v2/${NAME}/tags/list?n=1`, { exact: ["link"], body_: true });
      await step("end-8b tags, the next page", "GET", `/v2/${NAME}/tags/list?n=1&last=v1`, { exact: ["link"], body_: true });
      await step("catalog, a page", "GET", `/v2/_catalog?n=1`, { exact: ["link"], body_: true });
      await step("catalog", "GET", `/v2/_catalog`, { body_: true });
      await step("end-9 DELETE manifest", "DELETE", `/v2/${NAME}/manifests/${digestOf(manifest)}`);
      await step("end-3 GET deleted manifest", "GET", `/v2/${NAME}/manifests/${digestOf(manifest)}`);
      await step("end-9 DELETE deleted manifest", "DELETE", `/v2/${NAME}/manifests/${digestOf(manifest)}`);
      await step("end-10 DELETE blob", "DELETE", `/v2/${OTHER}/blobs/${digestOf(layer)}`);
      await step("end-2 GET deleted blob", "GET", `/v2/${OTHER}/blobs/${digestOf(layer)}`);
      await step("end-2 GET blob still in the first repository", "GET", `/v2/${NAME}/blobs/${digestOf(layer)}`);
      await step("end-10 DELETE unknown blob", "DELETE", `/v2/${OTHER}/blobs/${unknown}`);
      return seen;
    }

    /**
     * Where distribution 2.8 departs from the spec and cove follows the spec: cove's answer is
     * checked against the spec's, distribution's against what it is known to send (so a newer
     * distribution that changes shows up here).
     */
    const DEVIATIONS: Record<string, { cove: Partial<Seen>; distribution: Partial<Seen> }> = {
      // the spec: "If a chunk is uploaded out of order, a 416 Requested Range Not Satisfiable code MUST be returned"; distribution 2.8 does not check Content-Range
      "end-5 PATCH out of order": { cove: { status: 416, codes: ["BLOB_UPLOAD_INVALID"] }, distribution: { status: 202, codes: [] } },
      // end-4b: 201 when the registry takes the blob in one POST; distribution 2.8 only starts an upload (202, which the spec also allows)
      "end-4b POST monolithic": { cove: { status: 201, codes: [] }, distribution: { status: 202, codes: [] } },
      // end-8b: n and last page the list, with a Link to the next page; distribution 2.8 ignores them for tags (its catalog pages)
      "end-8b tags, a page": {
        cove: { status: 200, headers: { link: '</v2/conf/repo/tags/list?last=v1&n=1>; rel="next"' }, body: '{"name":"conf/repo","tags":["v1"]}' },
        distribution: { status: 200, headers: { link: "absent" }, body: '{"name":"conf/repo","tags":["v1","v2"]}' },
      },
      "end-8b tags, the next page": {
        cove: { status: 200, body: '{"name":"conf/repo","tags":["v2"]}' },
        distribution: { status: 200, body: '{"name":"conf/repo","tags":["v1","v2"]}' },
      },
    };

    it("answers every step as distribution does, but where distribution departs from the spec", async () => {
      const ours = await script(confCove.port);
      const theirs = await script(confDist.port);
      assert.deepEqual(
        ours.map((o) => o.step),
        theirs.map((t) => t.step),
      );
      const diff = ours.flatMap((o, i) => {
        const t = theirs[i]!;
        const known = DEVIATIONS[o.step];
        if (known) {
          const pick = (x: Seen, want: Partial<Seen>) => Object.fromEntries(Object.keys(want).map((k) => [k, x[k as keyof Seen]]));
          return JSON.stringify([pick(o, known.cove), pick(t, known.distribution)]) === JSON.stringify([known.cove, known.distribution]) ? [] : [`${o.step} (a known deviation):\n  cove:         ${JSON.stringify(o)}\n  distribution: ${JSON.stringify(t)}`];
        }
        return JSON.stringify(o) === JSON.stringify(t) ? [] : [`${o.step}:\n  cove:         ${JSON.stringify(o)}\n  distribution: ${JSON.stringify(t)}`];
      });
      assert.deepEqual(diff, [], diff.join("\n"));
    });
  });
});

describe("cove registry serve: bad flags and files", () => {
  const cove = async (args: string[]): Promise<{ code: number; stderr: string }> => {
    try {
      await run(process.execPath, [MAIN, ...args], { timeout: 60_000 });
      return { code: 0, stderr: "" };
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : -1, stderr: e.stderr ?? "" };
    }
  };

  it("refuses each with a clear error and exit status 125, serving nothing", async () => {
    const dir = await tempDir();
    try {
      const root = path.join(dir, "root");
      const port = await freePort();
      const base = ["registry", "serve", "--root", root, "--listen", `127.0.0.1:${port}`];
      const badHtpasswd = path.join(dir, "htpasswd");
      await writeFile(badHtpasswd, "cove:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
      const cases: [string[], RegExp][] = [
        [["--auth", "basic"], /--auth basic needs --htpasswd FILE/],
        [["--auth", "sometimes"], /invalid argument "sometimes" for "--auth" flag/],
        [["--htpasswd", badHtpasswd], /--htpasswd needs --auth basic or --auth token/],
        [["--tls-cert", badHtpasswd], /--tls-cert and --tls-key go together/],
        [["--listen", "nowhere"], /invalid argument "nowhere" for "--listen" flag/],
        [["--auth", "basic", "--htpasswd", badHtpasswd], /line 1: not "user:<bcrypt hash>"/],
        [["--auth", "token", "--htpasswd", path.join(dir, "absent")], /reading the htpasswd file .*absent: ENOENT/],
      ];
      for (const [args, want] of cases) {
        const r = await cove([...base.slice(0, 2), ...base.slice(2, 4), ...(args.includes("--listen") ? [] : base.slice(4)), ...args]);
        assert.equal(r.code, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, want);
      }
      const sub = await cove(["registry", "serv"]);
      assert.equal(sub.code, 125);
      assert.match(sub.stderr, /'registry serv' is not a cove command/);
      // nothing was served or written
      assert.deepEqual(await readdir(root).catch(() => []), []);
    } finally {
      await tearDownDaemon(undefined, dir);
    }
  });
});

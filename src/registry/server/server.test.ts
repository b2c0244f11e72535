// cove's registry server over HTTP on loopback, on a temporary root: the distribution API's
// flows and failures, its auth modes, and local images served from the shared content store.
// Needs no root; the peers (skopeo, dockerd, distribution) are in test/registry/server.test.ts.

import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { digestOf, writeBlob, ContentStore, LABEL_GC_ROOT } from "../../content/index.js";
import { RegistryServer, type RegistryServerOptions } from "./server.js";

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

const codes = (r: Reply): string[] => (JSON.parse(r.body) as { errors: { code: string }[] }).errors.map((e) => e.code);

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A server on a fresh root; stopped and removed by the returned stop(). */
async function serve(options: Partial<RegistryServerOptions> = {}): Promise<{ server: RegistryServer; port: number; root: string; stop: () => Promise<void> }> {
  const root = await mkdtemp(path.join(os.tmpdir(), "cove-regserver-"));
  const server = new RegistryServer({ root, ...options });
  try {
    const { port } = await server.listen("127.0.0.1", 0);
    return { server, port, root, stop: async () => (await server.close(), await rm(root, { recursive: true, force: true })) };
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** Pushes a blob monolithically; returns its digest. */
async function pushBlob(port: number, name: string, data: Buffer | string): Promise<string> {
  const digest = digestOf(Buffer.from(data));
  const r = await request(port, "POST", `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: data });
  assert.equal(r.status, 201, r.body);
  return digest;
}

function imageManifest(config: { digest: string; size: number }, layers: { digest: string; size: number }[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...l })),
      ...extra,
    }),
  );
}

async function pushImage(port: number, name: string, tag: string, seed: string, extra: Record<string, unknown> = {}): Promise<{ digest: string; manifest: Buffer; config: string; layer: string }> {
  const configData = JSON.stringify({ architecture: "amd64", os: "linux", seed });
  const layerData = `layer of ${seed}`;
  const config = await pushBlob(port, name, configData);
  const layer = await pushBlob(port, name, layerData);
  const manifest = imageManifest({ digest: config, size: configData.length }, [{ digest: layer, size: layerData.length }], extra);
  const r = await request(port, "PUT", `/v2/${name}/manifests/${tag}`, { headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest });
  assert.equal(r.status, 201, r.body);
  return { digest: digestOf(manifest), manifest, config, layer };
}

describe("registry server: the distribution API", () => {
  let s: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    s = await serve({ uploadTtlMs: 60 * 60 * 1000 });
  });
  after(async () => {
    await s?.stop();
  });

  it("answers /v2/ with the API version header", async () => {
    const r = await request(s.port, "GET", "/v2/");
    assert.equal(r.status, 200);
    assert.equal(r.headers["docker-distribution-api-version"], "registry/2.0");
    assert.equal(r.body.trim(), "{}");
  });

  it("pushes and pulls an image by tag and by digest, with the headers the spec requires", async () => {
    const img = await pushImage(s.port, "lib/app", "v1", "one");
    for (const ref of ["v1", img.digest]) {
      const get = await request(s.port, "GET", `/v2/lib/app/manifests/${ref}`);
      assert.equal(get.status, 200);
      assert.equal(get.body, img.manifest.toString("latin1"));
      assert.equal(get.headers["docker-content-digest"], img.digest);
      assert.equal(get.headers["content-type"], "application/vnd.oci.image.manifest.v1+json");
      const head = await request(s.port, "HEAD", `/v2/lib/app/manifests/${ref}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers["content-length"], String(img.manifest.length));
    }
    const blob = await request(s.port, "GET", `/v2/lib/app/blobs/${img.layer}`);
    assert.equal(blob.body, "layer of one");
    assert.equal(blob.headers["docker-content-digest"], img.layer);
    const part = await request(s.port, "GET", `/v2/lib/app/blobs/${img.layer}`, { headers: { Range: "bytes=6-7" } });
    assert.equal(part.status, 206);
    assert.equal(part.body, "of");
    assert.equal(part.headers["content-range"], "bytes 6-7/12");
    const beyond = await request(s.port, "GET", `/v2/lib/app/blobs/${img.layer}`, { headers: { Range: "bytes=40-" } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers["content-range"], "bytes */12");
  });

  it("answers unknown names, tags, digests and blobs with the spec's codes", async () => {
    const unknownBlob = digestOf("nothing");
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/lib/app/manifests/nope")), ["MANIFEST_UNKNOWN"]);
    assert.deepEqual(codes(await request(s.port, "GET", `/v2/lib/app/manifests/${unknownBlob}`)), ["MANIFEST_UNKNOWN"]);
    assert.deepEqual(codes(await request(s.port, "GET", `/v2/lib/app/blobs/${unknownBlob}`)), ["BLOB_UNKNOWN"]);
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/lib/app/blobs/sha256:xyz")), ["DIGEST_INVALID"]);
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/no/such/tags/list")), ["NAME_UNKNOWN"]);
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/Bad_Name/tags/list")), ["NAME_INVALID"]);
    const head = await request(s.port, "HEAD", `/v2/lib/app/blobs/${unknownBlob}`);
    assert.equal(head.status, 404);
    assert.equal(head.body, "");
  });

  it("uploads in chunks, reports the upload's status, and refuses a chunk out of order with 416", async () => {
    const start = await request(s.port, "POST", "/v2/chunks/blobs/uploads/");
    assert.equal(start.status, 202);
    const location = start.headers.location!;
    assert.match(location, /^\/v2\/chunks\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal(start.headers.range, "0-0");
    const p1 = await request(s.port, "PATCH", location, { headers: { "Content-Range": "0-4", "Content-Type": "application/octet-stream" }, body: "hello" });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.range, "0-4");
    const bad = await request(s.port, "PATCH", location, { headers: { "Content-Range": "3-7" }, body: "world" });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.range, "0-4");
    const status = await request(s.port, "GET", location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, "0-4");
    assert.equal(status.headers["docker-upload-uuid"], location.split("/").pop());
    const p2 = await request(s.port, "PATCH", location, { headers: { "Content-Range": "5-10" }, body: " world" });
    assert.equal(p2.headers.range, "0-10");
    const digest = digestOf("hello world!");
    const done = await request(s.port, "PUT", `${location}?digest=${digest}`, { body: "!" });
    assert.equal(done.status, 201);
    assert.equal(done.headers["docker-content-digest"], digest);
    assert.equal(done.headers.location, `/v2/chunks/blobs/${digest}`);
    assert.equal((await request(s.port, "GET", `/v2/chunks/blobs/${digest}`)).body, "hello world!");
    assert.deepEqual(codes(await request(s.port, "GET", location)), ["BLOB_UPLOAD_UNKNOWN"]);
  });

  it("refuses a digest that does not match and stores nothing", async () => {
    const start = await request(s.port, "POST", "/v2/mismatch/blobs/uploads/");
    const claimed = digestOf("what was promised");
    const r = await request(s.port, "PUT", `${start.headers.location}?digest=${claimed}`, { body: "what was sent" });
    assert.equal(r.status, 400);
    assert.deepEqual(codes(r), ["DIGEST_INVALID"]);
    assert.equal(await s.server.content.exists(claimed), false);
    assert.equal(await s.server.content.exists(digestOf("what was sent")), false);
    assert.deepEqual(await s.server.content.listIngests(), []);
    const mono = await request(s.port, "POST", `/v2/mismatch/blobs/uploads/?digest=${claimed}`, { body: "other bytes" });
    assert.deepEqual(codes(mono), ["DIGEST_INVALID"]);
    assert.equal(await s.server.content.exists(digestOf("other bytes")), false);
  });

  it("refuses a manifest whose blobs are not in the repository, naming each", async () => {
    const config = await pushBlob(s.port, "partial", "cfg");
    const missing = digestOf("never pushed");
    const elsewhere = await pushBlob(s.port, "other", "in another repository");
    const manifest = imageManifest({ digest: config, size: 3 }, [
      { digest: missing, size: 12 },
      { digest: elsewhere, size: 21 },
    ]);
    const r = await request(s.port, "PUT", "/v2/partial/manifests/v1", { headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest });
    assert.equal(r.status, 400);
    const errors = (JSON.parse(r.body) as { errors: { code: string; detail: string }[] }).errors;
    assert.deepEqual(
      errors.map((e) => [e.code, e.detail]),
      [
        ["MANIFEST_BLOB_UNKNOWN", missing],
        ["MANIFEST_BLOB_UNKNOWN", elsewhere],
      ],
    );
    assert.equal(await s.server.content.exists(digestOf(manifest)), false);
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/partial/manifests/v1")), ["MANIFEST_UNKNOWN"]);
    assert.deepEqual(codes(await request(s.port, "PUT", "/v2/partial/manifests/v2", { headers: { "Content-Type": "application/json" }, body: "{not json" })), ["MANIFEST_INVALID"]);
    const wrongDigest = await request(s.port, "PUT", `/v2/partial/manifests/${digestOf("x")}`, { headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest });
    assert.deepEqual(codes(wrongDigest), ["DIGEST_INVALID"]);
  });

  it("mounts a blob from another repository without an upload, and starts an upload when it cannot", async () => {
    const digest = await pushBlob(s.port, "mount/src", "shared layer");
    const r = await request(s.port, "POST", `/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`);
    assert.equal(r.status, 201);
    assert.equal(r.headers.location, `/v2/mount/dst/blobs/${digest}`);
    assert.equal((await request(s.port, "GET", `/v2/mount/dst/blobs/${digest}`)).body, "shared layer");
    const fallback = await request(s.port, "POST", `/v2/mount/dst/blobs/uploads/?mount=${digestOf("absent")}&from=mount/src`);
    assert.equal(fallback.status, 202);
    assert.match(fallback.headers.location!, /\/blobs\/uploads\//);
    assert.equal((await request(s.port, "DELETE", fallback.headers.location!)).status, 204);
  });

  it("lists tags and the catalog by pages, with Link headers", async () => {
    for (const tag of ["c", "a", "b"]) await pushImage(s.port, "paged", tag, `paged-${tag}`);
    const all = await request(s.port, "GET", "/v2/paged/tags/list");
    assert.deepEqual(JSON.parse(all.body), { name: "paged", tags: ["a", "b", "c"] });
    const p1 = await request(s.port, "GET", "/v2/paged/tags/list?n=2");
    assert.deepEqual(JSON.parse(p1.body).tags, ["a", "b"]);
    assert.equal(p1.headers.link, '</v2/paged/tags/list?last=b&n=2>; rel="next"');
    const p2 = await request(s.port, "GET", "/v2/paged/tags/list?n=2&last=b");
    assert.deepEqual(JSON.parse(p2.body).tags, ["c"]);
    assert.equal(p2.headers.link, undefined);
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/paged/tags/list?n=x")), ["PAGINATION_NUMBER_INVALID"]);
    const catalog = JSON.parse((await request(s.port, "GET", "/v2/_catalog")).body).repositories as string[];
    assert.deepEqual(catalog, [...catalog].sort());
    assert.ok(catalog.includes("paged") && catalog.includes("lib/app") && catalog.includes("mount/dst"));
    const c1 = await request(s.port, "GET", "/v2/_catalog?n=1");
    assert.deepEqual(JSON.parse(c1.body).repositories, [catalog[0]]);
    assert.equal(c1.headers.link, `</v2/_catalog?last=${encodeURIComponent(catalog[0]!)}&n=1>; rel="next"`);
  });

  it("lists referrers of a manifest, filtered by artifactType", async () => {
    const subject = await pushImage(s.port, "refs", "base", "subject");
    const subjectDesc = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subject.digest, size: subject.manifest.length };
    const sbom = await pushImage(s.port, "refs", "sbom", "sbom", { artifactType: "application/vnd.example.sbom.v1", subject: subjectDesc, annotations: { "org.example": "yes" } });
    const sig = await pushImage(s.port, "refs", "sig", "sig", { subject: subjectDesc });
    const all = await request(s.port, "GET", `/v2/refs/referrers/${subject.digest}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers["content-type"], "application/vnd.oci.image.index.v1+json");
    const index = JSON.parse(all.body) as { manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[] };
    const byDigest = new Map(index.manifests.map((m) => [m.digest, m]));
    assert.equal(byDigest.size, 2);
    assert.equal(byDigest.get(sbom.digest)?.artifactType, "application/vnd.example.sbom.v1");
    assert.deepEqual(byDigest.get(sbom.digest)?.annotations, { "org.example": "yes" });
    assert.equal(byDigest.get(sig.digest)?.artifactType, "application/vnd.oci.image.config.v1+json"); // the config's mediaType
    const filtered = await request(s.port, "GET", `/v2/refs/referrers/${subject.digest}?artifactType=application/vnd.example.sbom.v1`);
    assert.equal(filtered.headers["oci-filters-applied"], "artifactType");
    assert.deepEqual(
      (JSON.parse(filtered.body) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest),
      [sbom.digest],
    );
    const none = JSON.parse((await request(s.port, "GET", `/v2/refs/referrers/${digestOf("no subject")}`)).body) as { manifests: unknown[] };
    assert.deepEqual(none.manifests, []);
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/refs/referrers/sha256:bad")), ["DIGEST_INVALID"]);
  });

  it("deletes tags, manifests and blobs; the content store keeps shared bytes but drops its gc root label", async () => {
    const img = await pushImage(s.port, "del", "v1", "deleted");
    await request(s.port, "PUT", "/v2/del/manifests/v2", { headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: img.manifest });
    assert.equal((await request(s.port, "DELETE", "/v2/del/manifests/v2")).status, 202);
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/del/manifests/v2")), ["MANIFEST_UNKNOWN"]);
    assert.equal((await request(s.port, "GET", "/v2/del/manifests/v1")).status, 200);
    assert.equal((await request(s.port, "DELETE", `/v2/del/manifests/${img.digest}`)).status, 202);
    assert.deepEqual(codes(await request(s.port, "GET", "/v2/del/manifests/v1")), ["MANIFEST_UNKNOWN"]);
    assert.deepEqual(codes(await request(s.port, "DELETE", `/v2/del/manifests/${img.digest}`)), ["MANIFEST_UNKNOWN"]);
    assert.equal((await s.server.content.info(img.layer)).labels[LABEL_GC_ROOT], "registry");
    assert.equal((await request(s.port, "DELETE", `/v2/del/blobs/${img.layer}`)).status, 202);
    assert.deepEqual(codes(await request(s.port, "GET", `/v2/del/blobs/${img.layer}`)), ["BLOB_UNKNOWN"]);
    assert.deepEqual(codes(await request(s.port, "DELETE", `/v2/del/blobs/${img.layer}`)), ["BLOB_UNKNOWN"]);
    assert.equal((await s.server.content.info(img.layer)).labels[LABEL_GC_ROOT], undefined);
  });
});

describe("registry server: uploads cut off", () => {
  it("keeps what arrived before a client went away, resumes from there, and removes an idle upload later", async () => {
    const s = await serve({ uploadTtlMs: 60 * 60 * 1000 });
    try {
      const start = await request(s.port, "POST", "/v2/resume/blobs/uploads/");
      const location = start.headers.location!;
      const data = Buffer.alloc(256 * 1024, 7);
      const half = data.subarray(0, 100 * 1024);
      // a PATCH that promises the whole blob and dies after part of it
      await new Promise<void>((resolve) => {
        const req = http.request({ host: "127.0.0.1", port: s.port, method: "PATCH", path: location, headers: { "Content-Length": data.length } });
        req.on("error", () => resolve());
        req.write(half, () => setTimeout(() => (req.destroy(), resolve()), 200));
      });
      const range = await until("the cut-off bytes to be kept", async () => {
        const r = await request(s.port, "GET", location);
        return r.headers.range === `0-${half.length - 1}` ? r.headers.range : undefined;
      });
      assert.equal(range, `0-${half.length - 1}`);
      const rest = data.subarray(half.length);
      const p = await request(s.port, "PATCH", location, { headers: { "Content-Range": `${half.length}-${data.length - 1}` }, body: rest });
      assert.equal(p.status, 202);
      const done = await request(s.port, "PUT", `${location}?digest=${digestOf(data)}`);
      assert.equal(done.status, 201, done.body);

      // an upload left alone past its TTL is removed with its bytes
      const idle = await request(s.port, "POST", "/v2/resume/blobs/uploads/");
      await request(s.port, "PATCH", idle.headers.location!, { body: "partial" });
      assert.equal((await s.server.content.listIngests()).length, 1);
      assert.deepEqual(await s.server.sweepUploads(Date.now()), []);
      const removed = await s.server.sweepUploads(Date.now() + 2 * 60 * 60 * 1000);
      assert.deepEqual(removed, [idle.headers.location!.split("/").pop()]);
      assert.deepEqual(codes(await request(s.port, "GET", idle.headers.location!)), ["BLOB_UPLOAD_UNKNOWN"]);
      assert.deepEqual(await s.server.content.listIngests(), []);
      assert.deepEqual(await readdir(path.join(s.root, "registry", "uploads")), []);
    } finally {
      await s.stop();
    }
  });

  it("expires idle uploads on its own", async () => {
    const s = await serve({ uploadTtlMs: 300, sweepIntervalMs: 100 });
    try {
      const up = await request(s.port, "POST", "/v2/expire/blobs/uploads/");
      await request(s.port, "PATCH", up.headers.location!, { body: "abandoned" });
      await until("the idle upload to expire", async () => ((await request(s.port, "GET", up.headers.location!)).status === 404 ? true : undefined));
      await until("its ingest to go", async () => ((await s.server.content.listIngests()).length === 0 ? true : undefined));
    } finally {
      await s.stop();
    }
  });
});

describe("registry server: auth", () => {
  // bcrypt("s3cret") made by libxcrypt
  const users = new Map([["cove", "$2y$06$0123456789ABCDEFGHIJK.Cid5b38D/IVmNLQiH.u06rreHpbE1RO"]]);
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

  it("basic: asks for credentials, refuses wrong ones, serves right ones", async () => {
    const s = await serve({ auth: "basic", users });
    try {
      const none = await request(s.port, "GET", "/v2/");
      assert.equal(none.status, 401);
      assert.equal(none.headers["www-authenticate"], 'Basic realm="cove-registry"');
      assert.deepEqual(codes(none), ["UNAUTHORIZED"]);
      assert.equal((await request(s.port, "GET", "/v2/", { headers: { Authorization: basic("cove", "wrong") } })).status, 401);
      assert.equal((await request(s.port, "GET", "/v2/", { headers: { Authorization: basic("cove", "s3cret") } })).status, 200);
      const push = await request(s.port, "POST", `/v2/x/blobs/uploads/?digest=${digestOf("a")}`, { body: "a" });
      assert.equal(push.status, 401);
      assert.equal(await s.server.content.exists(digestOf("a")), false);
    } finally {
      await s.stop();
    }
  });

  it("token: challenges with its own realm, issues a token for the asked scope, and honours only that scope", async () => {
    const s = await serve({ auth: "token", users });
    try {
      const first = await request(s.port, "GET", "/v2/app/tags/list", { headers: { Host: `127.0.0.1:${s.port}` } });
      assert.equal(first.status, 401);
      assert.equal(first.headers["www-authenticate"], `Bearer realm="http://127.0.0.1:${s.port}/token",service="cove-registry",scope="repository:app:pull"`);
      const refused = await request(s.port, "GET", "/token?service=cove-registry&scope=repository:app:pull", { headers: { Authorization: basic("cove", "nope") } });
      assert.equal(refused.status, 401);
      const issued = await request(s.port, "GET", "/token?service=cove-registry&scope=repository:app:pull", { headers: { Authorization: basic("cove", "s3cret") } });
      assert.equal(issued.status, 200);
      const token = (JSON.parse(issued.body) as { token: string }).token;
      const auth = { Authorization: `Bearer ${token}` };
      assert.deepEqual(codes(await request(s.port, "GET", "/v2/app/tags/list", { headers: auth })), ["NAME_UNKNOWN"]); // past auth
      const push = await request(s.port, "POST", "/v2/app/blobs/uploads/", { headers: auth });
      assert.equal(push.status, 401);
      assert.match(push.headers["www-authenticate"] as string, /error="insufficient_scope"/);
      const other = await request(s.port, "GET", "/v2/other/tags/list", { headers: auth });
      assert.equal(other.status, 401);
      const forged = token.slice(0, -2) + (token.endsWith("AA") ? "BB" : "AA");
      assert.equal((await request(s.port, "GET", "/v2/app/tags/list", { headers: { Authorization: `Bearer ${forged}` } })).status, 401);
    } finally {
      await s.stop();
    }
  });

  it("refuses to start without users for basic or token auth", async () => {
    await assert.rejects(serve({ auth: "basic" }), /needs users/);
  });
});

describe("registry server: local images from the shared content store", () => {
  it("serves a manifest the store holds under a name the local source knows, linking its blobs without copying", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "cove-regserver-local-"));
    let server: RegistryServer | undefined;
    try {
      const store = new ContentStore({ root });
      const layer = await writeBlob(store, Buffer.from("a local layer"));
      const config = await writeBlob(store, Buffer.from('{"os":"linux"}'));
      const manifest = imageManifest({ digest: config, size: 14 }, [{ digest: layer, size: 13 }]);
      const digest = await writeBlob(store, manifest);
      server = new RegistryServer({ root, local: { resolve: async (name, tag) => (name === "busybox" && tag === "1" ? { digest } : undefined) } });
      const { port } = await server.listen("127.0.0.1", 0);
      const before = (await store.list()).length;
      const get = await request(port, "GET", "/v2/busybox/manifests/1");
      assert.equal(get.status, 200);
      assert.equal(get.headers["docker-content-digest"], digest);
      assert.equal((await request(port, "GET", `/v2/busybox/blobs/${layer}`)).body, "a local layer");
      assert.equal((await request(port, "GET", `/v2/busybox/manifests/${digest}`)).status, 200);
      assert.equal((await store.list()).length, before); // nothing copied
      assert.deepEqual(codes(await request(port, "GET", "/v2/busybox/manifests/2")), ["MANIFEST_UNKNOWN"]);
      assert.deepEqual(codes(await request(port, "GET", `/v2/other/blobs/${layer}`)), ["BLOB_UNKNOWN"]);
    } finally {
      await server?.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

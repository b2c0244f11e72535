// The distribution client against a small fake registry (node:http on 127.0.0.1): token auth,
// Basic auth, redirects to another origin, retries, Range resumption, and verification. No root.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { ContentStore } from "../content/store.js";
import { decodeRegistryAuth, encodeRegistryAuth, parseChallenges } from "./auth.js";
import { isLoopbackRegistry, registryBaseUrl, RepositoryClient } from "./client.js";
import { RegistryError } from "./errors.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface Fake {
  host: string;
  url: string;
  log: { method: string; url: string; auth?: string; range?: string }[];
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  close(): Promise<void>;
}

async function fake(): Promise<Fake> {
  const f = {
    log: [],
    handler: (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(500).end(),
  } as unknown as Fake;
  const server = http.createServer((req, res) => {
    f.log.push({ method: req.method ?? "", url: req.url ?? "", ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), ...(req.headers.range ? { range: req.headers.range } : {}) });
    f.handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  f.host = `127.0.0.1:${port}`;
  f.url = `http://127.0.0.1:${port}`;
  f.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return f;
}

describe("registry client", () => {
  let dir: string;
  let store: ContentStore;
  let reg: Fake;
  let other: Fake;
  const blob = randomBytes(300_000);
  const blobDigest = sha(blob);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: {}, layers: [] }));
  const manifestDigest = sha(manifest);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-registry-"));
    reg = await fake();
    other = await fake();
  });
  after(async () => {
    await reg.close();
    await other.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    store = new ContentStore({ root: path.join(dir, randomBytes(4).toString("hex")) });
    reg.log.length = 0;
    other.log.length = 0;
  });

  const client = (auth?: Parameters<typeof decodeRegistryAuth>[0]) =>
    new RepositoryClient(reg.host, "library/x", { retryDelaysMs: [5, 5, 5], ...(auth ? { auth: decodeRegistryAuth(auth)! } : {}) });

  /** Serves the manifest and blob; `blobHook` may answer a blob request itself (return true). */
  const serve = (blobHook?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean) => {
    reg.handler = (req, res) => {
      if (req.url === "/v2/library/x/manifests/1" || req.url === `/v2/library/x/manifests/${manifestDigest}`) {
        res.writeHead(200, { "Content-Type": "application/vnd.oci.image.manifest.v1+json", "Docker-Content-Digest": manifestDigest, "Content-Length": manifest.length });
        res.end(req.method === "HEAD" ? undefined : manifest);
        return;
      }
      if (req.url === `/v2/library/x/blobs/${blobDigest}`) {
        if (blobHook?.(req, res)) return;
        const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
        const start = m ? Number(m[1]) : 0;
        res.writeHead(m ? 206 : 200, { "Content-Length": blob.length - start, ...(m ? { "Content-Range": `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}) });
        res.end(blob.subarray(start));
        return;
      }
      res.writeHead(404, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: {} }] }));
    };
  };

  it("resolves a tag with HEAD, then fetches the manifest by digest and verifies it", async () => {
    serve();
    const m = await client().getManifest("1");
    assert.equal(m.digest, manifestDigest);
    assert.deepEqual(m.bytes, manifest);
    assert.deepEqual(
      reg.log.map((l) => `${l.method} ${l.url}`),
      ["HEAD /v2/library/x/manifests/1", `GET /v2/library/x/manifests/${manifestDigest}`],
    );
  });

  it("refuses a manifest whose bytes do not hash to the digest asked for", async () => {
    const other = sha(Buffer.from("something else"));
    reg.handler = (_req, res) => res.writeHead(200, { "Content-Type": "application/json" }).end(manifest);
    await assert.rejects(client().getManifest(other), (err: Error) => /manifest verification failed for digest sha256:/.test(err.message));
  });

  it("keeps a registry's error code and message", async () => {
    serve();
    await assert.rejects(client().getManifest("nope"), (err: unknown) => err instanceof RegistryError && err.registryCode === "MANIFEST_UNKNOWN" && err.message === "manifest unknown: manifest unknown" && err.kind === "not-found");
  });

  it("answers a Bearer challenge with a token from the realm, sending Basic credentials there", async () => {
    const seenToken: string[] = [];
    other.handler = (req, res) => {
      seenToken.push(`${req.url} ${req.headers.authorization ?? ""}`);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: "tok123", expires_in: 300 }));
    };
    reg.handler = (req, res) => {
      if (req.headers.authorization !== "Bearer tok123") {
        res.writeHead(401, { "WWW-Authenticate": `Bearer realm="${other.url}/token",service="fake",scope="repository:library/x:pull"`, "Content-Type": "application/json" });
        res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
        return;
      }
      res.writeHead(200, { "Docker-Content-Digest": manifestDigest }).end(req.method === "HEAD" ? undefined : manifest);
    };
    const m = await client(encodeRegistryAuth({ username: "u", password: "p" })).getManifest("1");
    assert.equal(m.digest, manifestDigest);
    assert.equal(seenToken.length, 1, "the token is fetched once and reused");
    assert.match(seenToken[0]!, /^\/token\?service=fake&scope=repository%3Alibrary%2Fx%3Apull&account=u Basic dTpw$/);
  });

  it("Basic: no credentials fails as Docker words it; credentials are sent after the challenge", async () => {
    reg.handler = (req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from("u:p").toString("base64")}`) {
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="x"' }).end();
        return;
      }
      res.writeHead(200, { "Docker-Content-Digest": manifestDigest }).end(req.method === "HEAD" ? undefined : manifest);
    };
    await assert.rejects(client().getManifest("1"), { message: `Head "${reg.url}/v2/library/x/manifests/1": no basic auth credentials` });
    assert.equal((await client(encodeRegistryAuth({ username: "u", password: "p" })).getManifest("1")).digest, manifestDigest);
  });

  it("follows a redirect to another origin without the Authorization header", async () => {
    reg.handler = (req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="x"' }).end();
        return;
      }
      res.writeHead(307, { Location: `${other.url}/storage/blob` }).end();
    };
    other.handler = (_req, res) => res.writeHead(200, { "Content-Length": blob.length }).end(blob);
    await client(encodeRegistryAuth({ username: "u", password: "p" })).fetchBlob(store, { digest: blobDigest, size: blob.length });
    assert.deepEqual(await store.readBlob(blobDigest), blob);
    assert.equal(other.log.length, 1);
    assert.equal(other.log[0]!.auth, undefined);
  });

  it("retries a 5xx and resumes a blob cut short with a Range request", async () => {
    let calls = 0;
    serve((req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(503).end();
        return true;
      }
      if (calls === 2) {
        res.writeHead(200, { "Content-Length": blob.length });
        res.write(blob.subarray(0, 100_000), () => res.socket?.destroy());
        return true;
      }
      return false;
    });
    const seen: number[] = [];
    await client().fetchBlob(store, { digest: blobDigest, size: blob.length }, { onProgress: (c) => seen.push(c) });
    assert.deepEqual(await store.readBlob(blobDigest), blob);
    const ranges = reg.log.filter((l) => l.range).map((l) => l.range);
    assert.equal(ranges.length, 1);
    assert.match(ranges[0]!, /^bytes=\d+-$/);
    assert.equal(seen.at(-1), blob.length);
    assert.deepEqual(await store.listIngests(), []);
  });

  it("a server that ignores Range: the bytes already written are skipped, not written twice", async () => {
    let calls = 0;
    serve((_req, res) => {
      calls++;
      res.writeHead(200, { "Content-Length": blob.length });
      if (calls === 1) res.write(blob.subarray(0, 123_457), () => res.socket?.destroy());
      else res.end(blob);
      return true;
    });
    await client().fetchBlob(store, { digest: blobDigest, size: blob.length });
    assert.deepEqual(await store.readBlob(blobDigest), blob);
  });

  it("a blob with other bytes than its digest: a clear error, nothing stored, the ingest gone", async () => {
    serve((_req, res) => {
      const bad = Buffer.from(blob);
      bad[10] = (bad[10]! + 1) % 256;
      res.writeHead(200, { "Content-Length": bad.length }).end(bad);
      return true;
    });
    await assert.rejects(client().fetchBlob(store, { digest: blobDigest, size: blob.length }), /filesystem layer verification failed for digest sha256:/);
    assert.equal(await store.exists(blobDigest), false);
    assert.deepEqual(await store.listIngests(), []);
  });

  it("a blob that is always cut short fails after the retries, saying how much arrived", async () => {
    serve((req, res) => {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, { "Content-Length": blob.length - start, ...(m ? { "Content-Range": `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}) });
      res.write(blob.subarray(start, start + 1000), () => res.socket?.destroy());
      return true;
    });
    await assert.rejects(client().fetchBlob(store, { digest: blobDigest, size: blob.length }), /the registry sent 4000 of 300000 bytes after 4 attempts/);
    assert.equal(await store.exists(blobDigest), false);
    assert.deepEqual(await store.listIngests(), []);
  });

  it("a blob already in the store is not fetched", async () => {
    serve();
    await client().fetchBlob(store, { digest: blobDigest, size: blob.length });
    reg.log.length = 0;
    await client().fetchBlob(store, { digest: blobDigest, size: blob.length });
    assert.deepEqual(reg.log, []);
  });
});

describe("registry endpoints and auth headers", () => {
  it("loopback registries are plain HTTP, Docker Hub is registry-1.docker.io", async () => {
    const resolveHost = async (host: string) => (host === "ghcr.io" ? ["192.0.2.1"] : []);
    assert.equal(await registryBaseUrl("127.0.0.1:5000"), "http://127.0.0.1:5000");
    assert.equal(await registryBaseUrl("localhost:5000"), "http://localhost:5000");
    assert.equal(await registryBaseUrl("[::1]:5000"), "http://[::1]:5000");
    assert.equal(await registryBaseUrl("docker.io"), "https://registry-1.docker.io");
    assert.equal(await registryBaseUrl("ghcr.io", { resolveHost }), "https://ghcr.io");
    assert.equal(await registryBaseUrl("reg.local:5000", { insecureRegistries: ["reg.local:5000"] }), "http://reg.local:5000");
    assert.equal(isLoopbackRegistry("128.0.0.1"), false);
  });

  it("parses WWW-Authenticate challenges", () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"'), [
      { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:samalba/my-app:pull,push" } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm="x",error="invalid_token"'), [
      { scheme: "basic", params: { realm: "Registry Realm" } },
      { scheme: "bearer", params: { realm: "x", error: "invalid_token" } },
    ]);
    assert.deepEqual(parseChallenges(undefined), []);
  });

  it("decodes X-Registry-Auth: base64url or base64 JSON, the auth field, and refuses garbage", () => {
    assert.deepEqual(decodeRegistryAuth(encodeRegistryAuth({ username: "a", password: "p?>~", serveraddress: "r" })), { username: "a", password: "p?>~", serveraddress: "r" });
    assert.deepEqual(decodeRegistryAuth(Buffer.from(JSON.stringify({ identitytoken: "t" })).toString("base64")), { identitytoken: "t" });
    assert.deepEqual(decodeRegistryAuth(encodeRegistryAuth({ auth: Buffer.from("u:p:q").toString("base64") })), { auth: Buffer.from("u:p:q").toString("base64"), username: "u", password: "p:q" });
    assert.equal(decodeRegistryAuth(""), undefined);
    assert.equal(decodeRegistryAuth(encodeRegistryAuth({})), undefined);
    assert.throws(() => decodeRegistryAuth("not json at all"), /invalid X-Registry-Auth header/);
    assert.throws(() => decodeRegistryAuth(Buffer.from('{"username": 3}').toString("base64url")), /"username" must be a string/);
  });
});

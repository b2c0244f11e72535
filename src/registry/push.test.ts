// The push side of the distribution client, login, mirrors and the registry settings, against a
// small fake registry (node:http on 127.0.0.1) that keeps uploads in memory. No root.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { ContentStore } from "../content/store.js";
import { RepositoryClient, registryBaseUrl } from "./client.js";
import { cidrContains, isInsecureRegistry, normalizeMirror, parseCIDR, registryConfigInfo, validateInsecureRegistry } from "./config.js";
import { RegistryError } from "./errors.js";
import { login, loginDomain } from "./login.js";
import { pullSource } from "./mirror.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface Req {
  method: string;
  url: string;
  auth?: string;
  range?: string;
  length: number;
}

/** A registry that stores blobs pushed to it (POST, PATCH, PUT ?digest=) and manifests. */
class FakeRegistry {
  server!: http.Server;
  host = "";
  url = "";
  log: Req[] = [];
  blobs = new Map<string, Buffer>();
  manifests = new Map<string, { type: string; body: Buffer }>();
  uploads = new Map<string, Buffer>();
  /** Answers a request before the registry does (return true). */
  hook: ((req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => boolean) | undefined;
  /** Repositories that can be mounted from (their blobs: every blob here). */
  mountable = new Set<string>();

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        this.log.push({ method: req.method ?? "", url: req.url ?? "", ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), ...(req.headers["content-range"] ? { range: String(req.headers["content-range"]) } : {}), length: body.length });
        if (this.hook?.(req, res, body)) return;
        this.handle(req, res, body);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    const port = (this.server.address() as AddressInfo).port;
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const u = new URL(req.url ?? "/", this.url);
    let m: RegExpExecArray | null;
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(u.pathname)) && req.method === "POST") {
      const mount = u.searchParams.get("mount");
      const from = u.searchParams.get("from");
      if (mount && from && this.mountable.has(from) && this.blobs.has(mount)) {
        res.writeHead(201, { Location: `/v2/${m[1]}/blobs/${mount}`, "Docker-Content-Digest": mount }).end();
        return;
      }
      const id = randomBytes(6).toString("hex");
      this.uploads.set(id, Buffer.alloc(0));
      res.writeHead(202, { Location: `/v2/${m[1]}/blobs/uploads/${id}?_state=s${id}`, Range: "0-0" }).end();
      return;
    }
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([0-9a-f]+)$/.exec(u.pathname))) {
      const id = m[2]!;
      const have = this.uploads.get(id);
      if (!have) {
        res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "BLOB_UPLOAD_UNKNOWN", message: "blob upload unknown" }] }));
        return;
      }
      if (req.method === "DELETE") {
        this.uploads.delete(id);
        res.writeHead(204).end();
        return;
      }
      if (req.method === "PATCH") {
        const range = /^(\d+)-(\d+)$/.exec(String(req.headers["content-range"] ?? ""));
        if (range && Number(range[1]) !== have.length) {
          res.writeHead(416).end();
          return;
        }
        this.uploads.set(id, Buffer.concat([have, body]));
        res.writeHead(202, { Location: `/v2/${m[1]}/blobs/uploads/${id}?_state=p${have.length + body.length}`, Range: `0-${have.length + body.length - 1}` }).end();
        return;
      }
      if (req.method === "PUT") {
        const all = Buffer.concat([have, body]);
        const digest = u.searchParams.get("digest") ?? "";
        if (sha(all) !== digest) {
          res.writeHead(400, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "DIGEST_INVALID", message: "provided digest did not match uploaded content" }] }));
          return;
        }
        this.uploads.delete(id);
        this.blobs.set(digest, all);
        res.writeHead(201, { Location: `/v2/${m[1]}/blobs/${digest}`, "Docker-Content-Digest": digest }).end();
        return;
      }
    }
    if ((m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(u.pathname)) && req.method === "HEAD") {
      const b = this.blobs.get(m[2]!);
      res.writeHead(b ? 200 : 404, b ? { "Content-Length": b.length } : {}).end();
      return;
    }
    if ((m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(u.pathname)) && req.method === "PUT") {
      const digest = sha(body);
      this.manifests.set(m[2]!, { type: String(req.headers["content-type"]), body });
      res.writeHead(201, { "Docker-Content-Digest": digest, Location: `/v2/${m[1]}/manifests/${digest}` }).end();
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "NAME_UNKNOWN", message: "repository name not known to registry" }] }));
  }
}

async function* chunksOf(b: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

describe("registry client: push", () => {
  const reg = new FakeRegistry();
  const token = new FakeRegistry();
  const data = randomBytes(100_000);
  const blob = { digest: sha(data), size: data.length };

  before(async () => {
    await reg.start();
    await token.start();
  });
  after(async () => {
    await reg.close();
    await token.close();
  });
  beforeEach(() => {
    reg.log.length = 0;
    reg.blobs.clear();
    reg.manifests.clear();
    reg.mountable.clear();
    reg.uploads.clear();
    reg.hook = undefined;
  });

  const client = (chunk = 1 << 20) => new RepositoryClient(reg.host, "team/app", { push: true, retryDelaysMs: [5, 5], uploadChunkBytes: chunk });

  it("uploads a blob that fits a chunk in one PUT ?digest= after the POST", async () => {
    const progress: number[] = [];
    await client().pushBlob(blob, async () => chunksOf(data, 7000), { onProgress: (c) => progress.push(c) });
    assert.deepEqual(reg.blobs.get(blob.digest), data);
    assert.deepEqual(
      reg.log.map((l) => l.method),
      ["POST", "PUT"],
    );
    assert.equal(reg.log[1]!.length, data.length);
    assert.match(reg.log[1]!.url, /_state=s[0-9a-f]+&digest=sha256%3A[0-9a-f]{64}$/);
    assert.deepEqual(progress, [data.length]);
  });

  it("uploads a larger blob in PATCH chunks with Content-Range, following each Location, then an empty PUT", async () => {
    const progress: number[] = [];
    await client(30_000).pushBlob(blob, async () => chunksOf(data, 12_345), { onProgress: (c) => progress.push(c) });
    assert.deepEqual(reg.blobs.get(blob.digest), data);
    assert.deepEqual(
      reg.log.map((l) => `${l.method} ${l.range ?? ""} ${l.length}`),
      ["POST  0", "PATCH 0-29999 30000", "PATCH 30000-59999 30000", "PATCH 60000-89999 30000", "PATCH 90000-99999 10000", "PUT  0"],
    );
    assert.match(reg.log[2]!.url, /_state=p30000$/);
    assert.deepEqual(progress, [30_000, 60_000, 90_000, 100_000]);
  });

  it("refuses a blob whose bytes are not its descriptor's size, and the registry's digest check holds", async () => {
    await assert.rejects(client().pushBlob({ ...blob, size: blob.size + 1 }, async () => chunksOf(data, 50_000)), /holds 100000 bytes but its descriptor says 100001/);
    await assert.rejects(client().pushBlob({ digest: sha(Buffer.from("other")), size: data.length }, async () => chunksOf(data, 50_000)), (err: unknown) => err instanceof RegistryError && err.registryCode === "DIGEST_INVALID");
    assert.equal(reg.blobs.size, 0);
  });

  it("starts an upload over after a server error", async () => {
    let failures = 1;
    reg.hook = (req, res) => {
      if (req.method === "PUT" && failures > 0) {
        failures--;
        res.writeHead(503).end();
        return true;
      }
      return false;
    };
    await client().pushBlob(blob, async () => chunksOf(data, 50_000));
    assert.deepEqual(reg.blobs.get(blob.digest), data);
    assert.deepEqual(
      reg.log.map((l) => l.method),
      ["POST", "PUT", "POST", "PUT"],
    );
  });

  it("HEAD tells whether the repository holds a blob", async () => {
    assert.equal(await client().blobExists(blob), false);
    reg.blobs.set(blob.digest, data);
    assert.equal(await client().blobExists(blob), true);
  });

  it("mounts from another repository (201); a registry that opens an upload instead (202) gets it cancelled", async () => {
    reg.blobs.set(blob.digest, data);
    reg.mountable.add("team/base");
    assert.equal(await client().mountBlob(blob, "team/base"), true);
    assert.match(reg.log[0]!.url, /^\/v2\/team\/app\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=team%2Fbase$/);
    reg.log.length = 0;
    assert.equal(await client().mountBlob(blob, "team/elsewhere"), false);
    assert.deepEqual(
      reg.log.map((l) => l.method),
      ["POST", "DELETE"],
    );
    assert.equal(reg.uploads.size, 0);
  });

  it("asks a token for pull,push and, once it mounts, for the source's pull too; the body is sent again after the challenge", async () => {
    const scopes: string[][] = [];
    token.hook = (req, res) => {
      scopes.push(new URL(req.url ?? "/", token.url).searchParams.getAll("scope"));
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: `t${scopes.length}` }));
      return true;
    };
    reg.hook = (req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { "WWW-Authenticate": `Bearer realm="${token.url}/token",service="fake"` }).end();
        return true;
      }
      return false;
    };
    const c = new RepositoryClient(reg.host, "team/app", { push: true, retryDelaysMs: [5], auth: { username: "u", password: "p" } });
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2 }));
    const digest = await c.putManifest("v1", "application/vnd.oci.image.manifest.v1+json", body);
    assert.equal(digest, sha(body));
    assert.deepEqual(reg.manifests.get("v1"), { type: "application/vnd.oci.image.manifest.v1+json", body });
    assert.deepEqual(
      reg.log.map((l) => `${l.method} ${l.length}`),
      [`PUT ${body.length}`, `PUT ${body.length}`],
    );
    reg.blobs.set(blob.digest, data);
    reg.mountable.add("team/base");
    assert.equal(await c.mountBlob(blob, "team/base"), true);
    assert.deepEqual(scopes, [["repository:team/app:pull,push"], ["repository:team/app:pull,push", "repository:team/base:pull"]]);
  });

  it("refuses a manifest the registry says it stored under another digest", async () => {
    reg.hook = (req, res) => {
      if (req.method !== "PUT") return false;
      res.writeHead(201, { "Docker-Content-Digest": sha(Buffer.from("x")) }).end();
      return true;
    };
    await assert.rejects(client().putManifest("v1", "application/json", Buffer.from("{}")), /the registry stored the manifest as sha256:[0-9a-f]+, but its bytes hash to sha256:/);
  });

  it("sends no credentials to an upload location on another origin", async () => {
    reg.hook = (req, res) => {
      if (req.method === "POST") {
        res.writeHead(202, { Location: `${token.url}/upload/1` }).end();
        return true;
      }
      return false;
    };
    token.log.length = 0;
    token.hook = (_req, res) => {
      res.writeHead(201).end();
      return true;
    };
    const c = new RepositoryClient(reg.host, "team/app", { push: true, retryDelaysMs: [], auth: { registrytoken: "secret" } });
    await c.pushBlob(blob, async () => chunksOf(data, 50_000));
    assert.equal(reg.log[0]!.auth, "Bearer secret");
    assert.equal(token.log[0]!.method, "PUT");
    assert.equal(token.log[0]!.auth, undefined);
  });
});

describe("registry login", () => {
  const reg = new FakeRegistry();
  const token = new FakeRegistry();
  before(async () => {
    await reg.start();
    await token.start();
  });
  after(async () => {
    await reg.close();
    await token.close();
  });

  it("Basic: the right credentials succeed, wrong ones fail with dockerd's words and its 500; none at all: no basic auth credentials", async () => {
    reg.hook = (req, res) => {
      const ok = req.headers.authorization === `Basic ${Buffer.from("u:p").toString("base64")}`;
      res.writeHead(ok ? 200 : 401, ok ? {} : { "WWW-Authenticate": 'Basic realm="fake"' }).end();
      return true;
    };
    assert.deepEqual(await login({ username: "u", password: "p", serveraddress: reg.host }), { Status: "Login Succeeded", IdentityToken: "" });
    await assert.rejects(login({ username: "u", password: "x", serveraddress: `http://${reg.host}/` }), (err: unknown) => {
      assert.equal((err as Error).message, `login attempt to http://${reg.host}/v2/ failed with status: 401 Unauthorized`);
      assert.equal((err as { kind: string }).kind, "upstream");
      return true;
    });
    await assert.rejects(login({ serveraddress: reg.host }), { message: `Get "http://${reg.host}/v2/": no basic auth credentials`, kind: "upstream" });
  });

  it("Bearer: the token is asked with the credentials and offline_token; a refresh token comes back as the identity token", async () => {
    let asked: URL | undefined;
    token.hook = (req, res) => {
      asked = new URL(req.url ?? "/", token.url);
      const ok = req.headers.authorization === `Basic ${Buffer.from("u:p").toString("base64")}`;
      if (!ok) {
        res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ details: "incorrect username or password" }));
        return true;
      }
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: "acc", refresh_token: "refresh-me" }));
      return true;
    };
    reg.hook = (req, res) => {
      const ok = req.headers.authorization === "Bearer acc";
      res.writeHead(ok ? 200 : 401, ok ? {} : { "WWW-Authenticate": `Bearer realm="${token.url}/token",service="fake"` }).end();
      return true;
    };
    assert.deepEqual(await login({ username: "u", password: "p", serveraddress: reg.host }), { Status: "Login Succeeded", IdentityToken: "refresh-me" });
    assert.equal(asked?.searchParams.get("offline_token"), "true");
    assert.equal(asked?.searchParams.get("account"), "u");
    assert.equal(asked?.searchParams.get("service"), "fake");
    // a {"details": ...} refusal, as Docker Hub's token server sends it, worded as dockerd words it
    await assert.rejects(login({ username: "u", password: "bad", serveraddress: reg.host }), { message: `Get "http://${reg.host}/v2/": unauthorized: incorrect username or password`, kind: "upstream" });
  });

  it("a registry that refuses the connection: dockerd's words, a 503", async () => {
    const closed = await new Promise<number>((resolve) => {
      const srv = http.createServer();
      srv.listen(0, "127.0.0.1", () => {
        const port = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    await assert.rejects(login({ username: "u", password: "p", serveraddress: `127.0.0.1:${closed}` }), {
      message: `Get "http://127.0.0.1:${closed}/v2/": dial tcp 127.0.0.1:${closed}: connect: connection refused`,
      kind: "unavailable",
    });
  });

  it("reads serveraddress as dockerd does", () => {
    assert.equal(loginDomain("https://index.docker.io/v1/"), "docker.io");
    assert.equal(loginDomain(""), "docker.io");
    assert.equal(loginDomain("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    assert.equal(loginDomain("registry.local:5000"), "registry.local:5000");
  });
});

describe("Docker Hub mirrors", () => {
  const mirror = new FakeRegistry();
  let dir = "";
  before(async () => {
    await mirror.start();
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-mirror-"));
  });
  after(async () => {
    await mirror.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("each request tries the mirrors in order; the origin is not asked when a mirror answers", async () => {
    const data = randomBytes(5000);
    const seen: string[] = [];
    const bad = new FakeRegistry();
    await bad.start();
    try {
      bad.hook = (req, res) => {
        seen.push(`bad ${req.method} ${req.url}`);
        res.writeHead(503).end();
        return true;
      };
      mirror.hook = (req, res) => {
        seen.push(`good ${req.method} ${req.url}`);
        res.writeHead(200, { "Content-Length": data.length }).end(data);
        return true;
      };
      const src = pullSource("docker.io", "library/busybox", { mirrors: [`${bad.url}/`, `${mirror.url}/`], retryDelaysMs: [] });
      const store = new ContentStore({ root: dir });
      await src.fetchBlob(store, { digest: sha(data), size: data.length });
      assert.deepEqual(await store.readBlob(sha(data)), data);
      assert.deepEqual(seen, [`bad GET /v2/library/busybox/blobs/${sha(data)}`, `good GET /v2/library/busybox/blobs/${sha(data)}`]);
    } finally {
      await bad.close();
    }
    // another registry than Docker Hub is never sent to a mirror
    assert.ok(pullSource("127.0.0.1:5000", "x", { mirrors: [mirror.url] }) instanceof RepositoryClient);
  });
});

describe("registry settings", () => {
  it("parses and matches CIDRs", () => {
    assert.equal(parseCIDR("10.1.2.3/16"), "10.1.0.0/16");
    assert.equal(parseCIDR("::1/128"), "::1/128");
    assert.equal(parseCIDR("10.1.2.3"), undefined);
    assert.equal(parseCIDR("10.1.2.3/33"), undefined);
    assert.equal(cidrContains("10.1.0.0/16", "10.1.200.7"), true);
    assert.equal(cidrContains("10.1.0.0/16", "10.2.0.1"), false);
    assert.equal(cidrContains("fd00::/8", "fd12:3456::1"), true);
    assert.equal(cidrContains("fd00::/8", "fe80::1"), false);
    assert.equal(cidrContains("10.0.0.0/8", "fd00::1"), false);
  });

  it("reaches loopback, listed and in-range registries over HTTP, the rest over HTTPS", async () => {
    // names resolve through this table only: a test asks no real resolver
    const table: Record<string, string[]> = { "registry.local": ["192.0.2.7"], "quay.io": ["198.51.100.3"] };
    const asked: string[] = [];
    const resolveHost = async (host: string) => {
      asked.push(host);
      const found = table[host];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
      return found;
    };
    const opts = { insecureRegistries: ["10.1.0.0/16", "registry.local:5000"], resolveHost };
    assert.equal(await isInsecureRegistry("127.0.0.1:5000", { resolveHost }), true);
    assert.equal(await isInsecureRegistry("[::1]:5000", { resolveHost }), true);
    assert.equal(await isInsecureRegistry("localhost:5000", { resolveHost }), true);
    assert.equal(await isInsecureRegistry("10.1.3.4:5000", opts), true);
    assert.equal(await isInsecureRegistry("10.2.3.4:5000", opts), false);
    assert.equal(await isInsecureRegistry("registry.local:5000", opts), true);
    assert.equal(await isInsecureRegistry("registry.local:5001", opts), false);
    assert.equal(await registryBaseUrl("10.1.3.4:5000", opts), "http://10.1.3.4:5000");
    assert.equal(await registryBaseUrl("quay.io", opts), "https://quay.io");
    // IP literals, listed names and localhost need no lookup
    assert.deepEqual(asked, ["registry.local", "quay.io"]);
  });

  it("resolves a registry's host name to match the insecure CIDRs, as dockerd does", async () => {
    const table: Record<string, string[]> = {
      "mirror.corp": ["10.20.30.40"],
      "dual.corp": ["2001:db8::1", "10.9.0.1"],
      "mapped.corp": ["::ffff:10.3.0.9"],
      "public.example": ["203.0.113.5"],
      "loop.test": ["127.0.0.53"],
      "v6loop.test": ["::1"],
    };
    const resolveHost = async (host: string) => {
      const found = table[host];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
      return found;
    };
    const opts = { insecureRegistries: ["10.0.0.0/8"], resolveHost };
    assert.equal(await isInsecureRegistry("mirror.corp:5000", opts), true);
    assert.equal(await isInsecureRegistry("mirror.corp", opts), true);
    assert.equal(await isInsecureRegistry("dual.corp:443", opts), true, "any of its addresses in a CIDR is enough");
    assert.equal(await isInsecureRegistry("mapped.corp", opts), true, "an IPv4-mapped IPv6 address matches the IPv4 CIDR");
    assert.equal(await isInsecureRegistry("public.example", opts), false);
    assert.equal(await isInsecureRegistry("nowhere.invalid:5000", opts), false, "a name that does not resolve is secure");
    // the built-in loopback ranges apply to names too, with no setting
    assert.equal(await isInsecureRegistry("loop.test:5000", { resolveHost }), true);
    assert.equal(await isInsecureRegistry("v6loop.test:5000", { resolveHost }), true);
    assert.equal(await isInsecureRegistry("mirror.corp:5000", { resolveHost }), false);
    assert.equal(await registryBaseUrl("mirror.corp:5000", opts), "http://mirror.corp:5000");
    assert.equal(await registryBaseUrl("public.example:5000", opts), "https://public.example:5000");
    // Docker Hub is never looked up: insecure only when listed by name
    let looked = false;
    assert.equal(await registryBaseUrl("docker.io", { insecureRegistries: ["0.0.0.0/0"], resolveHost: async () => ((looked = true), ["10.0.0.1"]) }), "https://registry-1.docker.io");
    assert.equal(looked, false);
    // a client decides its endpoint from the resolved name
    const client = new RepositoryClient("mirror.corp:5000", "team/app", opts);
    assert.equal(await client.baseUrl(), "http://mirror.corp:5000");
  });

  it("validates entries as dockerd does", () => {
    assert.equal(validateInsecureRegistry("Registry.Local:5000"), "registry.local:5000");
    assert.equal(validateInsecureRegistry("10.1.2.3/16"), "10.1.0.0/16");
    assert.throws(() => validateInsecureRegistry("http://x"), /should not contain '::\/\/'|should not contain ':\/\/'/);
    assert.throws(() => validateInsecureRegistry("bad_host:1"), /is not valid/);
    assert.throws(() => validateInsecureRegistry("host:99999"), /is not valid/);
    assert.equal(normalizeMirror("https://mirror.local"), "https://mirror.local/");
    assert.equal(normalizeMirror("http://127.0.0.1:5000/"), "http://127.0.0.1:5000/");
    assert.throws(() => normalizeMirror("mirror.local"), /unsupported scheme|not a valid URI/);
    assert.throws(() => normalizeMirror("https://u:p@mirror.local"), /username\/password not allowed/);
    assert.throws(() => normalizeMirror("https://mirror.local/v2"), /path, query, or fragment/);
  });

  it("shows the settings as /info's RegistryConfig", () => {
    assert.deepEqual(registryConfigInfo({}), {
      AllowNondistributableArtifactsCIDRs: null,
      AllowNondistributableArtifactsHostnames: null,
      InsecureRegistryCIDRs: ["::1/128", "127.0.0.0/8"],
      IndexConfigs: { "docker.io": { Name: "docker.io", Mirrors: [], Secure: true, Official: true } },
      Mirrors: null,
    });
    const info = registryConfigInfo({ insecureRegistries: ["a.local", "10.0.0.0/8", "127.0.0.0/8"], mirrors: ["https://m.local/"] });
    assert.deepEqual(info.InsecureRegistryCIDRs, ["10.0.0.0/8", "::1/128", "127.0.0.0/8"]);
    assert.deepEqual(Object.keys(info.IndexConfigs), ["a.local", "docker.io"]);
    assert.deepEqual(info.IndexConfigs["a.local"], { Name: "a.local", Mirrors: [], Secure: false, Official: false });
    assert.deepEqual(info.Mirrors, ["https://m.local/"]);
    assert.deepEqual(info.IndexConfigs["docker.io"]!.Mirrors, ["https://m.local/"]);
  });
});

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { conflict, notFound, unsupported } from "../common/errors.js";
import { boolValue } from "../docker/index.js";
import { parseFilters, Query } from "./query.js";
import { checkVersion, compareVersions, Router, sendJSON } from "./router.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(socketPath: string, method: string, p: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: p }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("query quirks", () => {
  it("reads booleans as moby's BoolValue", () => {
    for (const v of ["1", "true", "True", "TRUE", "yes", "anything"]) assert.equal(boolValue(v), true, v);
    for (const v of ["", "0", "false", "False", "no", "none", " 0 ", undefined, null]) assert.equal(boolValue(v), false, String(v));
    const q = new Query("a=1&b=True&c=0&d=");
    assert.equal(q.bool("a"), true);
    assert.equal(q.bool("b"), true);
    assert.equal(q.bool("c", true), false);
    assert.equal(q.bool("d", true), false, "present but empty is false");
    assert.equal(q.bool("missing", true), true, "absent gives the default");
  });

  it("parses filters in both JSON forms", () => {
    assert.deepEqual(parseFilters('{"dangling":["true"],"label":["a=b","c"]}'), { dangling: ["true"], label: ["a=b", "c"] });
    assert.deepEqual(parseFilters('{"dangling":{"true":true},"label":{"a=b":true,"x":false}}'), { dangling: ["true"], label: ["a=b"] });
    assert.deepEqual(parseFilters(""), {});
    assert.deepEqual(parseFilters(undefined), {});
    assert.throws(() => parseFilters("{nope"), (e: Error) => /invalid filter/.test(e.message));
    assert.throws(() => parseFilters('["a"]'), /invalid filter/);
    assert.throws(() => parseFilters('{"a":[1]}'), /values must be strings/);
  });

  it("reads integers with t=-1 and rejects garbage", () => {
    const q = new Query("t=-1&n=10&bad=1x&empty=");
    assert.equal(q.int("t", 10), -1);
    assert.equal(q.int("n"), 10);
    assert.equal(q.int("empty", 7), 7);
    assert.equal(q.int("missing"), undefined);
    assert.throws(() => q.int("bad"), /invalid value for bad/);
  });

  it("gives every value of a repeated key", () => {
    assert.deepEqual(new Query("names=a&names=b%2Fc").all("names"), ["a", "b/c"]);
  });
});

describe("version negotiation", () => {
  it("compares dotted versions numerically", () => {
    assert.ok(compareVersions("1.9", "1.24") < 0);
    assert.ok(compareVersions("1.47", "1.47.0") === 0);
    assert.ok(compareVersions("1.100", "1.47") > 0);
  });

  it("uses moby's wording", () => {
    assert.throws(() => checkVersion("1.99"), { message: "client version 1.99 is too new. Maximum supported API version is 1.47" });
    assert.throws(() => checkVersion("1.12"), {
      message: "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version",
    });
    checkVersion("1.24");
    checkVersion("1.47");
  });
});

describe("Router over HTTP", () => {
  let dir: string;
  let socket: string;
  let server: http.Server;
  const seen: { version: string; params: Record<string, string> }[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    socket = path.join(dir, "r.sock");
    const router = new Router();
    router.get("/images/json", (c) => sendJSON(c.res, 200, { list: true, version: c.version }));
    router.get("/images/{name:.*}/json", (c) => {
      seen.push({ version: c.version, params: c.params });
      sendJSON(c.res, 200, { name: c.params.name, labels: {} });
    });
    router.get("/containers/{id}/json", (c) => sendJSON(c.res, 200, { id: c.params.id }));
    router.get("/fail/{kind}", (c) => {
      if (c.params.kind === "missing") throw notFound("No such image: x:latest");
      if (c.params.kind === "conflict") throw conflict("in use", { hint: "remove it first" });
      if (c.params.kind === "unsupported") throw unsupported("not yet");
      throw new Error("boom");
    });
    server = http.createServer((req, res) => void router.handle(req, res));
    await new Promise<void>((r) => server.listen(socket, r));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it("routes with and without the version prefix, and sets dockerd's headers", async () => {
    const a = await request(socket, "GET", "/images/json");
    const b = await request(socket, "GET", "/v1.41/images/json");
    assert.equal(a.status, 200);
    assert.deepEqual(JSON.parse(a.body), { list: true, version: "1.47" });
    assert.deepEqual(JSON.parse(b.body), { list: true, version: "1.41" });
    assert.equal(a.body.endsWith("}\n"), true, "Go's json.Encoder adds a newline");
    assert.equal(a.headers["api-version"], "1.47");
    assert.equal(a.headers["ostype"], "linux");
    assert.equal(a.headers["docker-experimental"], "false");
    assert.match(String(a.headers["server"]), /^cove\/\d+\.\d+\.\d+ \(linux\)$/);
    assert.equal(a.headers["content-type"], "application/json");
  });

  it("matches names with slashes, ports, tags and percent-encoding", async () => {
    const r = await request(socket, "GET", "/v1.47/images/localhost:5000/a/b:tag/json");
    assert.deepEqual(JSON.parse(r.body), { name: "localhost:5000/a/b:tag", labels: {} });
    const e = await request(socket, "GET", "/images/busybox%3Alatest/json");
    assert.equal(JSON.parse(e.body).name, "busybox:latest");
    assert.equal(seen.at(-1)?.version, "1.47");
    const id = await request(socket, "GET", "/containers/abc/json");
    assert.deepEqual(JSON.parse(id.body), { id: "abc" });
    const nested = await request(socket, "GET", "/containers/a/b/json");
    assert.equal(nested.status, 404, "{id} is one path segment");
    const malformed = await request(socket, "GET", "/images/bad%zz/json");
    assert.equal(JSON.parse(malformed.body).name, "bad%zz", "a malformed escape is matched as written");
  });

  it("answers unknown routes with Docker's 404 JSON", async () => {
    for (const [m, p] of [
      ["GET", "/nope"],
      ["POST", "/images/json"],
      ["GET", "/v1.47/containers/json"],
    ] as const) {
      const r = await request(socket, m, p);
      assert.equal(r.status, 404, `${m} ${p}`);
      assert.deepEqual(JSON.parse(r.body), { message: "page not found" });
    }
  });

  it("refuses versions out of range with 400 and moby's message", async () => {
    const hi = await request(socket, "GET", "/v1.99/images/json");
    assert.equal(hi.status, 400);
    assert.deepEqual(JSON.parse(hi.body), { message: "client version 1.99 is too new. Maximum supported API version is 1.47" });
    const lo = await request(socket, "GET", "/v1.12/images/json");
    assert.equal(lo.status, 400);
    assert.match(JSON.parse(lo.body).message, /^client version 1\.12 is too old\. Minimum supported API version is 1\.24/);
    assert.equal(lo.headers["api-version"], "1.47", "clients read the maximum from the error too");
  });

  it("maps errors to statuses in one place", async () => {
    const nf = await request(socket, "GET", "/fail/missing");
    assert.equal(nf.status, 404);
    assert.deepEqual(JSON.parse(nf.body), { message: "No such image: x:latest" });
    const c = await request(socket, "GET", "/fail/conflict");
    assert.equal(c.status, 409);
    assert.equal(JSON.parse(c.body).message, "in use\n  hint: remove it first");
    assert.equal((await request(socket, "GET", "/fail/unsupported")).status, 501);
    const boom = await request(socket, "GET", "/fail/other");
    assert.equal(boom.status, 500);
    assert.deepEqual(JSON.parse(boom.body), { message: "boom" });
  });

  it("lists its routes", () => {
    const r = new Router().get("/a", () => undefined).post("/b/{x}", () => undefined);
    assert.deepEqual(r.list(), ["GET /a", "POST /b/{x}"]);
    assert.equal(r.match("POST", "/v1.30/b/y")?.params.x, "y");
    assert.equal(r.match("POST", "/v1.30/b/y")?.version, "1.30");
  });
});

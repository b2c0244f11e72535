// Who the dashboard answers, without root: a dashboard on a loopback port over a small router
// standing in for the daemon's API. The token and its cookie, the Host and Origin checks, the
// header the page sends, the routes forwarded and refused, WebSocket refusals, the address the
// daemon's API gives `cove dashboard`, a non-loopback address without TLS, and TLS with client
// certificates (made with openssl when it is installed).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { Router, sendJSON } from "../daemon/index.js";
import { startDashboard, type Dashboard } from "./index.js";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, p: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: p, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The first line of the answer to a raw WebSocket handshake. */
function upgrade(port: number, p: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1", () => {
      const lines = [`GET ${p} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      sock.write(lines.join("\r\n") + "\r\n\r\n");
    });
    let got = "";
    sock.on("data", (c: Buffer) => (got += c.toString()));
    sock.on("end", () => resolve(got));
    sock.on("error", reject);
  });
}

describe("the dashboard's doors", () => {
  const router = new Router();
  const forwarded: string[] = [];
  router.get("/containers/json", (c) => {
    forwarded.push(`${c.req.method} ${c.req.url}`);
    sendJSON(c.res, 200, [{ Id: "abc" }]);
  });
  router.post("/containers/create", (c) => sendJSON(c.res, 201, { Id: "should-never-be-reached" }));
  let dash: Dashboard;
  let cookie = "";
  let port = 0;
  const api = (method: string, p: string, extra: Record<string, string> = {}) => request(port, method, p, { Cookie: cookie, "X-Cove-Dashboard": "1", ...extra });

  before(async () => {
    dash = await startDashboard({ router, socket: "/nonexistent/cove.sock" }, { host: "127.0.0.1", port: 0 });
    port = dash.port;
  });
  after(() => dash.close());

  it("refuses a non-loopback address without TLS client certificates", async () => {
    await assert.rejects(startDashboard({ router, socket: "/x" }, { host: "0.0.0.0", port: 0 }), /only with TLS client certificates: it is not a loopback address/);
  });

  it("trades the token for a cookie; the page stays locked without it", async () => {
    assert.match(dash.url, new RegExp(`^http://127\\.0\\.0\\.1:${port}/\\?token=[\\w-]{32}$`));
    const locked = await request(port, "GET", "/");
    assert.equal(locked.status, 401);
    assert.match(locked.body, /needs the dashboard's token/);
    assert.equal((await request(port, "GET", "/?token=wrong")).status, 401);
    const token = new URL(dash.url).searchParams.get("token") as string;
    // one character off (a token may end in any of them)
    assert.equal((await request(port, "GET", `/?token=${token.slice(0, -1)}${token.endsWith("x") ? "y" : "x"}`)).status, 401);
    const signIn = await request(port, "GET", `/?token=${token}`);
    assert.equal(signIn.status, 303);
    assert.equal(signIn.headers.location, "/");
    const set = String(signIn.headers["set-cookie"]);
    assert.match(set, new RegExp(`^cove_dashboard_${port}=${token}; Path=/; HttpOnly; SameSite=Strict$`));
    cookie = set.split(";")[0] as string;
    const page = await request(port, "GET", "/", { Cookie: cookie });
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>cove dashboard<\/title>/);
    assert.match(String(page.headers["content-security-policy"]), /default-src 'self'/);
    assert.equal(page.headers["x-frame-options"], "DENY");
    for (const asset of ["/assets/app.js", "/assets/style.css", "/assets/xterm.js", "/assets/xterm.css", "/assets/addon-fit.js"]) {
      const a = await request(port, "GET", asset);
      assert.equal(a.status, 200, asset);
      assert.ok(a.body.length > 100, asset);
    }
    assert.equal((await request(port, "GET", "/assets/../server.ts")).status, 404);
    assert.equal((await request(port, "POST", "/", { Cookie: cookie })).status, 405);
  });

  it("forwards the page's API requests, with the token, the page's header, its own Host and Origin", async () => {
    const ok = await api("GET", "/api/containers/json?all=1");
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), [{ Id: "abc" }]);
    assert.equal(forwarded.at(-1), "GET /containers/json?all=1");
    assert.equal((await api("GET", "/api/containers/json", { Host: `localhost:${port}`, Origin: `http://localhost:${port}` })).status, 200);
    const count = forwarded.length;
    const refused: [Answer, number, RegExp][] = [
      [await request(port, "GET", "/api/containers/json", { "X-Cove-Dashboard": "1" }), 401, /token is missing or wrong/],
      [await request(port, "GET", "/api/containers/json", { Cookie: `cove_dashboard_${port}=forged`, "X-Cove-Dashboard": "1" }), 401, /token is missing or wrong/],
      [await api("GET", "/api/containers/json", { "X-Cove-Dashboard": "" }), 403, /need the header x-cove-dashboard: 1/],
      [await api("GET", "/api/containers/json", { Host: `rebound.example:${port}` }), 403, /answers to http:\/\/127\.0\.0\.1:\d+ only/],
      [await api("GET", "/api/containers/json", { Origin: "http://evil.example" }), 403, /requests from http:\/\/evil\.example are refused/],
      [await api("POST", "/api/containers/create"), 403, /does not forward POST \/containers\/create/],
      [await api("GET", "/api/v1.47/containers/json"), 403, /does not forward GET \/v1\.47\/containers\/json/],
      [await api("POST", "/api/containers/abc/archive"), 403, /does not forward/],
      [await api("GET", "/api/cove/dashboard"), 403, /does not forward/],
    ];
    for (const [answer, status, message] of refused) {
      assert.equal(answer.status, status, answer.body);
      assert.match((JSON.parse(answer.body) as { message: string }).message, message);
    }
    assert.equal(forwarded.length, count, "no refused request reached the API");
  });

  it("refuses WebSockets without the token, from another origin, or to another route", async () => {
    assert.match(await upgrade(port, "/api/containers/abc/attach/ws?stream=1", {}), /^HTTP\/1\.1 401 /);
    assert.match(await upgrade(port, "/api/containers/abc/attach/ws?stream=1", { Cookie: cookie, Origin: "http://evil.example" }), /^HTTP\/1\.1 403 /);
    assert.match(await upgrade(port, "/api/events", { Cookie: cookie }), /^HTTP\/1\.1 403 [^]*does not forward a WebSocket to \/api\/events/);
    // the exec bridge reports the daemon's socket it could not reach
    assert.match(await upgrade(port, "/api/exec/e1/ws", { Cookie: cookie }), /^HTTP\/1\.1 502 [^]*did not start exec e1/);
  });

  it("tells the daemon's API its address until it closes", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cove-dash-unit-"));
    const router2 = new Router();
    const apiServer = http.createServer((req, res) => void router2.handle(req, res));
    const socket = path.join(dir, "api.sock");
    await new Promise<void>((resolve) => apiServer.listen(socket, resolve));
    const ask = () =>
      new Promise<Answer>((resolve, reject) => {
        const req = http.request({ socketPath: socket, path: "/v1.47/cove/dashboard" }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on("error", reject);
        req.end();
      });
    let d: Dashboard | undefined;
    try {
      d = await startDashboard({ router: router2, socket }, { host: "127.0.0.1", port: 0 });
      const on = await ask();
      assert.equal(on.status, 200);
      assert.deepEqual(JSON.parse(on.body), { URL: d.url, Address: `http://127.0.0.1:${d.port}/`, TLS: false });
      await d.close();
      const off = await ask();
      assert.equal(off.status, 404);
      assert.match(off.body, /the dashboard is off/);
      // started again (a new token): the API reports the new one
      d = await startDashboard({ router: router2, socket }, { host: "127.0.0.1", port: 0 });
      assert.equal((JSON.parse((await ask()).body) as { URL: string }).URL, d.url);
    } finally {
      await d?.close();
      await new Promise<void>((resolve) => apiServer.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const OPENSSL = ["/usr/bin/openssl", "/bin/openssl"].find((p) => existsSync(p));

describe("the dashboard behind TLS client certificates", { skip: OPENSSL ? false : "openssl is missing (apt-get install -y openssl)" }, () => {
  let dir = "";
  let dash: Dashboard | undefined;
  const files: Record<string, Buffer> = {};
  const ssl = (...args: string[]) => promisify(execFile)(OPENSSL as string, args, { cwd: dir });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-dash-tls-"));
    await ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1", "-subj", "/CN=cove dashboard test CA");
    await writeFile(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    await writeFile(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    for (const who of ["server", "client"]) {
      await ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${who}-key.pem`, "-out", `${who}.csr`, "-subj", `/CN=${who}`);
      await ssl("x509", "-req", "-in", `${who}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", `${who}-cert.pem`, "-days", "1", "-extfile", `${who}.ext`);
    }
    for (const f of ["ca.pem", "client-cert.pem", "client-key.pem"]) files[f] = await readFile(path.join(dir, f));
    dash = await startDashboard({ router: new Router(), socket: "/x" }, { host: "127.0.0.1", port: 0, tls: { cert: path.join(dir, "server-cert.pem"), key: path.join(dir, "server-key.pem"), ca: path.join(dir, "ca.pem") } });
  });
  after(async () => {
    await dash?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (p: string, withCert: boolean) =>
    new Promise<Answer>((resolve, reject) => {
      const req = https.request(
        { host: "127.0.0.1", port: dash!.port, path: p, ca: files["ca.pem"], ...(withCert ? { cert: files["client-cert.pem"], key: files["client-key.pem"] } : {}), agent: false },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on("error", reject);
      req.end();
    });

  it("refuses a client without a certificate; a client with one still needs the token; the cookie is Secure", async () => {
    assert.match(dash!.url, /^https:\/\/127\.0\.0\.1:\d+\/\?token=/);
    await assert.rejects(get("/", false));
    assert.equal((await get("/", true)).status, 401);
    const signIn = await get(new URL(dash!.url).pathname + new URL(dash!.url).search, true);
    assert.equal(signIn.status, 303);
    assert.match(String(signIn.headers["set-cookie"]), /; HttpOnly; SameSite=Strict; Secure$/);
  });
});

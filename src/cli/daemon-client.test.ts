import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { EngineClient } from "../client/index.js";
import { checkRoot, socketPath } from "./daemon-client.js";

let dir: string;
let server: http.Server;
let client: EngineClient;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cove-daemon-client-"));
  // a daemon that serves the root /srv/cove-a
  server = http.createServer((req, res) => {
    if (req.url === "/_ping") {
      res.writeHead(200, { "Api-Version": "1.47" });
      res.end("OK");
    } else if (req.url === "/v1.47/info") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ DockerRootDir: "/srv/cove-a" }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const socket = path.join(dir, "api.sock");
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  client = new EngineClient({ socket });
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

test("a daemon serving the asked root is accepted, another root is refused with what to do", async () => {
  await checkRoot(client, "/srv/cove-a/");
  await assert.rejects(checkRoot(client, "/srv/cove-b"), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.message, `the cove daemon on ${client.socket} serves the root /srv/cove-a, not /srv/cove-b`);
    assert.equal(err.code, "cli.root-mismatch");
    assert.match(err.hint ?? "", /COVE_HOST=unix:\/\/PATH for a daemon started with --root \/srv\/cove-b/);
    return true;
  });
});

test("the socket comes from COVE_HOST, then DOCKER_HOST, else the default", () => {
  assert.equal(socketPath({}), "/run/cove/cove.sock");
  assert.equal(socketPath({ DOCKER_HOST: "unix:///tmp/d.sock" }), "/tmp/d.sock");
  assert.equal(socketPath({ COVE_HOST: "unix:///tmp/c.sock", DOCKER_HOST: "unix:///tmp/d.sock" }), "/tmp/c.sock");
});

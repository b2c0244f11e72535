// `cove context`: contexts name daemons' sockets, stored in Docker's format under $COVE_CONFIG
// (~/.cove); the CLI talks to $COVE_HOST, else $DOCKER_HOST, else the current context's daemon.
// Two recording daemons show which one each command reached.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { recordingServer, type Recorded } from "./harness.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("cove context", () => {
  let dir = "";
  let config = "";
  const servers: { requests: Recorded[]; close(): Promise<void> }[] = [];
  let a = "";
  let b = "";

  const cove = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, COVE_CONFIG: config, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout, stderr });
      });
    });
  /** Which recording daemon `cove ps` reached ("a", "b" or "none"). */
  const reached = async (env: NodeJS.ProcessEnv = {}): Promise<string> => {
    const before = servers.map((s) => s.requests.filter((r) => r.url.includes("/containers/json")).length);
    await cove(["ps"], env);
    const after = servers.map((s) => s.requests.filter((r) => r.url.includes("/containers/json")).length);
    return after[0]! > before[0]! ? "a" : after[1]! > before[1]! ? "b" : "none";
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-context-"));
    config = path.join(dir, "cove-config");
    a = path.join(dir, "a.sock");
    b = path.join(dir, "b.sock");
    servers.push(await recordingServer(a), await recordingServer(b));
  });

  after(async () => {
    for (const s of servers) await s.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("creates, lists, switches to and inspects contexts, stored as Docker stores them", async () => {
    const created = await cove(["context", "create", "ctx-b", "--docker", `host=unix://${b}`, "--description", "the b daemon"]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, "ctx-b\n");
    assert.equal(created.stderr, 'Successfully created context "ctx-b"\n');
    const meta = JSON.parse(await readFile(path.join(config, "contexts/meta", createHash("sha256").update("ctx-b").digest("hex"), "meta.json"), "utf8"));
    assert.deepEqual(meta, { Name: "ctx-b", Metadata: { Description: "the b daemon" }, Endpoints: { docker: { Host: `unix://${b}`, SkipTLSVerify: false } } });

    const ls = await cove(["context", "ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.split("\n");
    assert.match(lines[0]!, /^NAME {8}DESCRIPTION {29}DOCKER ENDPOINT +ERROR$/);
    assert.match(lines[1]!, /^default \* +Current COVE_HOST based configuration +unix:\/\/\/run\/cove\/cove\.sock/);
    assert.match(lines[2]!, new RegExp(`^ctx-b +the b daemon +unix://${b}`));
    assert.equal((await cove(["context", "ls", "-q"])).stdout, "default\nctx-b\n");
    assert.equal((await cove(["context", "ls", "--format", "{{.Name}} {{.Current}}"])).stdout, "default true\nctx-b false\n");

    const use = await cove(["context", "use", "ctx-b"]);
    assert.equal(use.code, 0, use.stderr);
    assert.equal(use.stdout, "ctx-b\n");
    assert.equal(use.stderr, 'Current context is now "ctx-b"\n');
    assert.deepEqual(JSON.parse(await readFile(path.join(config, "config.json"), "utf8")), { currentContext: "ctx-b" });
    assert.equal((await cove(["context", "show"])).stdout, "ctx-b\n");
    assert.equal((await cove(["context", "ls", "-q", "--format", "{{.Name}}{{if .Current}}*{{end}}"])).stdout, "default\nctx-b\n");

    const inspect = JSON.parse((await cove(["context", "inspect"])).stdout);
    assert.equal(inspect.length, 1);
    assert.equal(inspect[0].Name, "ctx-b");
    assert.equal(inspect[0].Endpoints.docker.Host, `unix://${b}`);
  });

  it("talks to COVE_HOST, else DOCKER_HOST, else the context's daemon", async () => {
    assert.equal((await cove(["context", "use", "ctx-b"])).code, 0);
    assert.equal(await reached(), "b");
    assert.equal(await reached({ DOCKER_HOST: `unix://${a}` }), "a");
    assert.equal(await reached({ COVE_HOST: `unix://${a}`, DOCKER_HOST: `unix://${b}` }), "a");
    assert.equal(await reached({ COVE_CONTEXT: "default", COVE_HOST: `unix://${b}` }), "b");
    // a context variable chooses for one command
    assert.equal((await cove(["context", "create", "ctx-a", "--docker", `host=unix://${a}`])).code, 0);
    assert.equal(await reached({ COVE_CONTEXT: "ctx-a" }), "a");
    const warned = await cove(["context", "use", "ctx-a"], { COVE_HOST: `unix://${b}` });
    assert.match(warned.stderr, /Warning: COVE_HOST environment variable overrides the active context/);
  });

  it("refuses bad input with what to do, changing nothing", async () => {
    const before = (await cove(["context", "ls", "-q"])).stdout;
    const bad = await cove(["context", "create", "no spaces", "--docker", `host=unix://${a}`]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /context name "no spaces" is invalid/);
    const tcp = await cove(["context", "create", "remote", "--docker", "host=tcp://10.0.0.1:2376"]);
    assert.equal(tcp.code, 1);
    assert.match(tcp.stderr, /host=tcp:\/\/10\.0\.0\.1:2376 is not a daemon cove can reach: give unix:\/\/\/PATH/);
    const key = await cove(["context", "create", "remote", "--docker", "hots=unix:///x"]);
    assert.equal(key.code, 125);
    assert.match(key.stderr, /unrecognized config key "hots"/);
    const dup = await cove(["context", "create", "ctx-a", "--docker", `host=unix://${a}`]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /context "ctx-a" already exists/);
    const reserved = await cove(["context", "create", "default"]);
    assert.equal(reserved.code, 125);
    const use = await cove(["context", "use", "nosuch"]);
    assert.equal(use.code, 1);
    assert.match(use.stderr, /context "nosuch" does not exist: see cove context ls/);
    assert.equal((await cove(["context", "ls", "-q"])).stdout, before);
    assert.equal((await cove(["context", "show"])).stdout, "ctx-a\n");
    // a command against a context that is gone says so
    const gone = await cove(["ps"], { COVE_CONTEXT: "nosuch" });
    assert.equal(gone.code, 125);
    assert.match(gone.stderr, /context "nosuch" does not exist/);
  });

  it("rm refuses the context in use unless forced, and then falls back to default", async () => {
    const inUse = await cove(["context", "rm", "ctx-a"]);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /context "ctx-a" is in use, set -f flag to force remove/);
    const rmB = await cove(["context", "rm", "ctx-b"]);
    assert.equal(rmB.code, 0, rmB.stderr);
    assert.equal(rmB.stdout, "ctx-b\n");
    const forced = await cove(["context", "rm", "-f", "ctx-a"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await cove(["context", "show"])).stdout, "default\n");
    assert.equal((await cove(["context", "ls", "-q"])).stdout, "default\n");
    assert.equal(existsSync(path.join(config, "contexts/meta", createHash("sha256").update("ctx-a").digest("hex"))), false);
  });
});

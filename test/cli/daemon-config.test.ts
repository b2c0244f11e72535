// `cove daemon` and its daemon.json: dockerd's keys where cove has the setting (data-root,
// exec-root, labels, debug...), a bad file refused at start with its key named and nothing made,
// and SIGHUP (systemctl reload cove) applying the reloadable keys, or keeping everything when
// the new file is bad.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { api } from "../support/docker-api.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const env = (): NodeJS.ProcessEnv => {
  const e = { ...process.env };
  delete e.COVE_ROOT;
  return e;
};

describe("cove daemon's daemon.json", { skip: process.getuid?.() !== 0 ? "needs root (the daemon)" : false }, () => {
  let dir = "";
  // short: the containers' sockets live under <exec root>/runtime/<id>/
  const execRoot = `/run/cove-dj-${process.pid}`;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-daemon-json-"));
  });

  after(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once("exit", r));
        c.kill("SIGTERM");
        await exited;
      }
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    await rm(execRoot, { recursive: true, force: true });
  });

  it("refuses a bad file at start, naming the key, and makes nothing", async () => {
    const file = path.join(dir, "bad.json");
    await writeFile(file, JSON.stringify({ "data-root": path.join(dir, "never"), "log-driver": "syslog" }));
    const child = spawn(process.execPath, [MAIN, "daemon", "--socket", path.join(dir, "bad.sock"), "--config-file", file, "--no-network"], { env: env(), stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise((r) => child.once("exit", r));
    assert.equal(code, 125);
    assert.match(err, /unable to configure the cove daemon with file .*bad\.json: "log-driver" is "syslog": cove writes container logs with "json-file" only/);
    assert.equal(existsSync(path.join(dir, "never")), false);
    assert.equal(existsSync(path.join(dir, "bad.sock")), false);
  });

  it("takes data-root, exec-root, labels and debug, and reloads labels, debug and mirrors on SIGHUP", async () => {
    const file = path.join(dir, "daemon.json");
    const root = path.join(dir, "data");
    const socket = path.join(dir, "api.sock");
    await writeFile(file, JSON.stringify({ "data-root": root, "exec-root": execRoot, labels: ["env=test"], debug: true, "live-restore": true, "log-driver": "json-file" }));
    const child = spawn(process.execPath, [MAIN, "daemon", "--socket", socket, "--config-file", file, "--no-network"], { env: env(), stdio: ["ignore", "ignore", "pipe"] });
    children.push(child);
    let log = "";
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    await waitFor("the daemon", () => /listening on unix:/.test(log) || child.exitCode !== null);
    assert.equal(child.exitCode, null, log);
    const info = async () => JSON.parse((await api(socket, "GET", "/v1.47/info")).body) as { DockerRootDir: string; Labels: string[]; Debug: boolean; RegistryConfig: { Mirrors: string[] } };
    const first = await info();
    assert.equal(first.DockerRootDir, root);
    assert.deepEqual(first.Labels, ["env=test"]);
    assert.equal(first.Debug, true);

    await writeFile(file, JSON.stringify({ "data-root": root, labels: ["env=prod", "tier=web"], "registry-mirrors": ["https://mirror.example"] }));
    child.kill("SIGHUP");
    await waitFor("the reload", () => /SIGHUP: reloaded/.test(log));
    assert.match(log, /SIGHUP: reloaded .*daemon\.json: changed registry-mirrors, labels, debug/);
    const second = await info();
    assert.deepEqual(second.Labels, ["env=prod", "tier=web"]);
    assert.equal(second.Debug, false);
    assert.deepEqual(second.RegistryConfig.Mirrors, ["https://mirror.example/"]);

    // a bad file on reload changes nothing, and says so in the log
    await writeFile(file, '{"labels": ["broken"]');
    child.kill("SIGHUP");
    await waitFor("the refused reload", () => /not reloaded/.test(log));
    assert.match(log, /SIGHUP: .*daemon\.json not reloaded, the settings stay as they were: unable to configure the cove daemon/);
    assert.deepEqual((await info()).Labels, ["env=prod", "tier=web"]);
    assert.equal(child.exitCode, null, "the daemon still runs");
  });
});

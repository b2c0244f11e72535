// daemon.json's registry keys: what cove takes, and the errors that stop the daemon at start.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { loadDaemonConfig, parseDaemonConfig } from "./config-file.js";
import { parseDaemonArgs } from "./index.js";

describe("daemon.json", () => {
  it("takes insecure-registries and registry-mirrors, normalized and without duplicates", () => {
    const c = parseDaemonConfig(JSON.stringify({ "insecure-registries": ["10.1.2.3/16", "Reg.Local:5000", "10.1.0.0/16"], "registry-mirrors": ["https://m.local", "https://m.local/"] }), "f.json");
    assert.deepEqual(c.registry, { insecureRegistries: ["10.1.0.0/16", "reg.local:5000"], mirrors: ["https://m.local/"] });
    assert.deepEqual(parseDaemonConfig("", "f.json").registry, {});
    assert.deepEqual(parseDaemonConfig("{}", "f.json").registry, {});
  });

  it("names the key or value it refuses", () => {
    const bad = (text: string, want: RegExp, field: string) =>
      assert.throws(
        () => parseDaemonConfig(text, "/etc/cove/daemon.json"),
        (err: Error & { field?: string }) => want.test(err.message) && err.message.includes("/etc/cove/daemon.json") && err.field === field,
      );
    bad('{"debug": true}', /key "debug" is not a setting cove knows/, "debug");
    bad('{"debug": true, "hosts": []}', /keys "debug", "hosts" are not settings cove knows/, "debug");
    bad('{"registry-mirrors": "https://m"}', /"registry-mirrors" must be a list of strings/, "registry-mirrors");
    bad('{"registry-mirrors": ["ftp://m"]}', /"registry-mirrors": invalid mirror: unsupported scheme "ftp"/, "registry-mirrors");
    bad('{"insecure-registries": [1]}', /"insecure-registries" must be a list of strings/, "insecure-registries");
    bad('{"insecure-registries": ["https://r:5000"]}', /should not contain ':\/\/'/, "insecure-registries");
    assert.throws(() => parseDaemonConfig("{not json", "f.json"), /unable to configure the cove daemon with file f.json: /);
    assert.throws(() => parseDaemonConfig("[]", "f.json"), /must hold a JSON object/);
  });

  it("the default file may be absent, a file given with --config-file may not", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cove-config-"));
    try {
      assert.deepEqual(await loadDaemonConfig(path.join(dir, "none.json"), false), { registry: {} });
      await assert.rejects(loadDaemonConfig(path.join(dir, "none.json"), true), /the configuration file .*none\.json does not exist/);
      await writeFile(path.join(dir, "d.json"), '{"registry-mirrors": ["http://127.0.0.1:5001"]}');
      assert.deepEqual(await loadDaemonConfig(path.join(dir, "d.json"), true), { registry: { mirrors: ["http://127.0.0.1:5001/"] } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("cove daemon takes --config-file", () => {
    const a = parseDaemonArgs(["--config-file", "/tmp/x.json", "--no-network"], {});
    assert.ok(a !== "help");
    assert.equal(a.configFile, "/tmp/x.json");
    assert.equal(a.configFileGiven, true);
    const b = parseDaemonArgs([], {});
    assert.ok(b !== "help");
    assert.equal(b.configFile, "/etc/cove/daemon.json");
    assert.equal(b.configFileGiven, false);
  });
});

// daemon.json's registry keys: what cove takes, and the errors that stop the daemon at start.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { loadDaemonConfig, parseDaemonConfig } from "./config-file.js";
import { applyConfig, parseDaemonArgs } from "./index.js";

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
    bad('{"bogus": true}', /key "bogus" is not a setting cove knows/, "bogus");
    bad('{"debug": true, "hosts": [], "bip6": ""}', /keys "hosts", "bip6" are not settings cove knows/, "hosts");
    bad('{"dns": ["1.1.1.1"]}', /"dns" is a dockerd setting cove does not have/, "dns");
    bad('{"runtimes": {}}', /"runtimes" is a dockerd setting cove does not have/, "runtimes");
    bad('{"data-root": "relative"}', /"data-root" must be an absolute path/, "data-root");
    bad('{"labels": ["novalue"]}', /"labels" holds "novalue", not KEY=VALUE/, "labels");
    bad('{"labels": ["a=1", "a=2"]}', /"labels" sets "a" twice/, "labels");
    bad('{"debug": "yes"}', /"debug" must be true or false/, "debug");
    bad('{"live-restore": false}', /"live-restore" cannot be false/, "live-restore");
    bad('{"default-runtime": "kata"}', /"default-runtime" must be one of "cove", "runc"/, "default-runtime");
    bad('{"log-driver": "syslog"}', /"log-driver" is "syslog": cove writes container logs with "json-file" only/, "log-driver");
    bad('{"log-opts": {"max-size": "10m"}}', /"log-opts" sets "max-size": cove's json-file logs take no options yet/, "log-opts");
    bad('{"registry-mirrors": "https://m"}', /"registry-mirrors" must be a list of strings/, "registry-mirrors");
    bad('{"registry-mirrors": ["ftp://m"]}', /"registry-mirrors": invalid mirror: unsupported scheme "ftp"/, "registry-mirrors");
    bad('{"insecure-registries": [1]}', /"insecure-registries" must be a list of strings/, "insecure-registries");
    bad('{"insecure-registries": ["https://r:5000"]}', /should not contain ':\/\/'/, "insecure-registries");
    assert.throws(() => parseDaemonConfig("{not json", "f.json"), /unable to configure the cove daemon with file f.json: /);
    assert.throws(() => parseDaemonConfig("[]", "f.json"), /must hold a JSON object/);
  });

  it("takes dockerd's keys cove has", () => {
    const c = parseDaemonConfig(
      JSON.stringify({ "data-root": "/srv/cove", "exec-root": "/run/c", labels: ["env=prod", "tier=a=b"], debug: true, "live-restore": true, "default-runtime": "runc", "log-driver": "json-file", "log-opts": {} }),
      "f.json",
    );
    assert.equal(c.dataRoot, "/srv/cove");
    assert.equal(c.execRoot, "/run/c");
    assert.deepEqual(c.labels, ["env=prod", "tier=a=b"]);
    assert.equal(c.debug, true);
    assert.equal(c.defaultRuntime, "runc");
  });

  it("a directive given both as a flag and in the file is refused; the file's fills in otherwise", () => {
    const withFlag = parseDaemonArgs(["--root", "/a", "--exec-root", "/b"], {});
    assert.ok(withFlag !== "help");
    assert.throws(() => applyConfig(withFlag, { registry: {}, dataRoot: "/c", execRoot: "/d" }), /specified both as a flag and in the configuration file: data-root: \(from flag: \/a, from file: \/c\), exec-root: \(from flag: \/b, from file: \/d\)/);
    const plain = parseDaemonArgs([], {});
    assert.ok(plain !== "help");
    applyConfig(plain, { registry: {}, dataRoot: "/c", execRoot: "/d", labels: ["a=b"], debug: true });
    assert.equal(plain.root, "/c");
    assert.equal(plain.runtimeRoot, "/d");
    assert.deepEqual(plain.labels, ["a=b"]);
    const fromEnv = parseDaemonArgs([], { COVE_ROOT: "/e" });
    assert.ok(fromEnv !== "help");
    assert.throws(() => applyConfig(fromEnv, { registry: {}, dataRoot: "/c" }), /data-root/);
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

// daemon.json's keys: what cove takes, and the errors that stop the daemon at start.

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
    bad('{"userns-remap": "a:b:c"}', /"userns-remap".*invalid userns-remap "a:b:c"/, "userns-remap");
    bad('{"userns-remap": 5}', /"userns-remap"/, "userns-remap");
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
    assert.equal(parseDaemonConfig('{"userns-remap": "default"}', "f.json").usernsRemap, "default");
    assert.equal(parseDaemonConfig('{"userns-remap": ""}', "f.json").usernsRemap, undefined);
  });

  it("--userns-remap as a flag, refused twice and checked as dockerd's syntax", () => {
    const flag = parseDaemonArgs(["--userns-remap", "alice:staff"], {});
    assert.ok(flag !== "help");
    assert.equal(flag.usernsRemap, "alice:staff");
    assert.throws(() => applyConfig(flag, { registry: {}, usernsRemap: "default" }), /userns-remap: \(from flag: alice:staff, from file: default\)/);
    assert.throws(() => parseDaemonArgs(["--userns-remap", "a:b:c"], {}), /invalid userns-remap "a:b:c"/);
    const plain = parseDaemonArgs([], {});
    assert.ok(plain !== "help");
    applyConfig(plain, { registry: {}, usernsRemap: "default" });
    assert.equal(plain.usernsRemap, "default");
  });

  it("--storage-driver, $COVE_ROOTLESS_STORAGE and \"storage-driver\": overlay2 or fuse-overlayfs, given once", () => {
    const flag = parseDaemonArgs(["--storage-driver", "fuse-overlayfs"], {});
    assert.ok(flag !== "help");
    assert.equal(flag.storageDriver, "fuse-overlayfs");
    assert.throws(() => applyConfig(flag, { registry: {}, storageDriver: "overlay2" }), /storage-driver: \(from flag: fuse-overlayfs, from file: overlay2\)/);
    const env = parseDaemonArgs([], { COVE_ROOTLESS_STORAGE: "fuse-overlayfs" });
    assert.ok(env !== "help");
    assert.equal(env.storageDriver, "fuse-overlayfs");
    assert.throws(() => parseDaemonArgs([], { COVE_ROOTLESS_STORAGE: "btrfs" }), /\$COVE_ROOTLESS_STORAGE: unknown storage driver "btrfs"/);
    assert.throws(() => parseDaemonArgs(["--storage-driver=vfs"], {}), /--storage-driver: unknown storage driver "vfs"/);
    assert.equal(parseDaemonConfig('{"storage-driver": "overlay"}', "f.json").storageDriver, "overlay2");
    assert.throws(() => parseDaemonConfig('{"storage-driver": "zfs"}', "f.json"), /"storage-driver": .*unknown storage driver "zfs"/);
    const plain = parseDaemonArgs([], {});
    assert.ok(plain !== "help");
    applyConfig(plain, { registry: {}, storageDriver: "fuse-overlayfs" });
    assert.equal(plain.storageDriver, "fuse-overlayfs");
  });

  it("a directive given both as a flag and in the file is refused; the file's fills in otherwise", () => {
    const withFlag = parseDaemonArgs(["--root", "/a", "--exec-root", "/b"], {});
    assert.ok(withFlag !== "help");
    assert.throws(() => applyConfig(withFlag, { registry: {}, dataRoot: "/c", execRoot: "/d" }), /specified both as a flag and in the configuration file: data-root: \(from flag: \/a, from file: \/c\), exec-root: \(from flag: \/b, from file: \/d\)/);
    const plain = parseDaemonArgs([], {});
    assert.ok(plain !== "help");
    applyConfig(plain, { registry: {}, dataRoot: "/c", execRoot: "/d", labels: ["a=b"], debug: true });
    assert.equal(plain.root, "/c");
    assert.equal(plain.execRoot, "/d");
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

  it("takes the dashboard: on a loopback address, or on another with TLS client certificates", () => {
    assert.equal(parseDaemonConfig("{}", "f.json").dashboard, undefined);
    assert.deepEqual(parseDaemonConfig('{"dashboard": {}}', "f.json").dashboard, { host: "127.0.0.1", port: 9123 });
    assert.deepEqual(parseDaemonConfig('{"dashboard": {"enabled": true, "addr": "[::1]:0"}}', "f.json").dashboard, { host: "::1", port: 0 });
    assert.equal(parseDaemonConfig('{"dashboard": {"enabled": false, "addr": "localhost:80"}}', "f.json").dashboard, undefined);
    const tls = { cert: "/c.pem", key: "/k.pem", ca: "/ca.pem" };
    assert.deepEqual(parseDaemonConfig(JSON.stringify({ dashboard: { addr: "0.0.0.0:9443", tls } }), "f.json").dashboard, { host: "0.0.0.0", port: 9443, tls });
    const bad = (value: unknown, want: RegExp) =>
      assert.throws(
        () => parseDaemonConfig(JSON.stringify({ dashboard: value }), "f.json"),
        (err: Error & { field?: string }) => want.test(err.message) && err.field === "dashboard",
      );
    bad(true, /"dashboard" must be an object/);
    bad({ port: 1 }, /"dashboard" has "port", which cove does not know/);
    bad({ enabled: "yes" }, /"enabled" must be true or false/);
    bad({ addr: 9123 }, /"addr" must be a string/);
    bad({ addr: "9123" }, /invalid dashboard address "9123": give HOST:PORT/);
    bad({ addr: "127.0.0.1:70000" }, /invalid dashboard address/);
    bad({ addr: "0.0.0.0:9123" }, /only with TLS client certificates: 0.0.0.0 is not a loopback address/);
    bad({ addr: "10.1.2.3:9123", enabled: false }, /only with TLS client certificates/);
    bad({ tls: { cert: "/c.pem", key: "/k.pem" } }, /"tls" must hold the absolute paths "cert", "key" and "ca"/);
    bad({ tls: { ...tls, ca: "ca.pem" } }, /"tls" must hold the absolute paths/);
  });

  it("cove daemon takes --dashboard, with the API's TLS files for a non-loopback address; not both flag and file", () => {
    const a = parseDaemonArgs(["--dashboard", "127.0.0.1:0"], {});
    assert.ok(a !== "help");
    assert.deepEqual(a.dashboard, { host: "127.0.0.1", port: 0 });
    assert.throws(() => parseDaemonArgs(["--dashboard=0.0.0.0:9123"], {}), /only with TLS client certificates/);
    assert.throws(() => parseDaemonArgs(["--dashboard", "0.0.0.0:9123", "--tlscert", "/c"], {}), /needs all of --tlscert, --tlskey and --tlscacert/);
    const b = parseDaemonArgs(["--dashboard", "0.0.0.0:9123", "--tlscert", "/c", "--tlskey", "/k", "--tlscacert", "/ca"], {});
    assert.ok(b !== "help");
    assert.deepEqual(b.dashboard, { host: "0.0.0.0", port: 9123, tls: { cert: "/c", key: "/k", ca: "/ca" } });
    assert.throws(() => applyConfig(a, { registry: {}, dashboard: { host: "127.0.0.1", port: 9123 } }), /specified both as a flag and in the configuration file: dashboard: \(from flag: 127.0.0.1:0, from file: 127.0.0.1:9123\)/);
    const c = parseDaemonArgs([], {});
    assert.ok(c !== "help");
    applyConfig(c, { registry: {}, dashboard: { host: "127.0.0.1", port: 9123 } });
    assert.deepEqual(c.dashboard, { host: "127.0.0.1", port: 9123 });
    assert.throws(() => parseDaemonArgs(["--tlscert", "/c", "--tlskey", "/k", "--tlscacert", "/ca"], {}), /are for TCP/);
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

  it("takes the default bridge, its address, the address pools and the cgroup parent, from flags or the file but not both", () => {
    const c = parseDaemonConfig(JSON.stringify({ bridge: "cvb0", bip: "10.77.0.1/24", "default-address-pools": [{ base: "10.78.0.0/16", size: 24 }], "cgroup-parent": "cove-x/inner" }), "f.json");
    assert.equal(c.bridge, "cvb0");
    assert.equal(c.bip, "10.77.0.1/24");
    assert.deepEqual(c.addressPools, [{ base: "10.78.0.0/16", size: 24 }]);
    assert.equal(c.cgroupParent, "/cove-x/inner");
    const fromFile = parseDaemonArgs([], {});
    assert.ok(fromFile !== "help");
    applyConfig(fromFile, c);
    assert.deepEqual(fromFile.network, { defaultBridge: { name: "cvb0", subnet: "10.77.0.1/24" }, addressPools: [{ base: "10.78.0.0/16", size: 24 }] });
    assert.equal(fromFile.cgroupParent, "/cove-x/inner");

    const flags = parseDaemonArgs(["-b", "cvb1", "--bip=10.79.0.1/24", "--default-address-pool", "base=10.80.0.0/16,size=26", "--default-address-pool", "base=10.81.0.0/24,size=28", "--cgroup-parent", "/cove-y", "--exec-root", "/run/cy"], {});
    assert.ok(flags !== "help");
    assert.deepEqual(flags.network, { defaultBridge: { name: "cvb1", subnet: "10.79.0.1/24" }, addressPools: [{ base: "10.80.0.0/16", size: 26 }, { base: "10.81.0.0/24", size: 28 }] });
    assert.equal(flags.cgroupParent, "/cove-y");
    assert.equal(flags.execRoot, "/run/cy");
    assert.throws(
      () => applyConfig(flags, c),
      /specified both as a flag and in the configuration file: bridge: \(from flag: cvb1, from file: cvb0\), bip: \(from flag: 10.79.0.1\/24, from file: 10.77.0.1\/24\), default-address-pools: .*, cgroup-parent: \(from flag: \/cove-y, from file: \/cove-x\/inner\)/,
    );
    const none = parseDaemonArgs(["--bridge", "none"], {});
    assert.ok(none !== "help");
    assert.deepEqual(none.network, { defaultBridge: false });
    assert.throws(() => applyConfig(none, { registry: {}, bip: "10.77.0.1/24" }), /"bip" sets the default bridge's address, but "bridge" is "none"/);
    const noneInFile = parseDaemonArgs([], {});
    assert.ok(noneInFile !== "help");
    applyConfig(noneInFile, { registry: {}, bridge: "none" });
    assert.deepEqual(noneInFile.network, { defaultBridge: false });
  });

  it("refuses a bad bridge, address, pool or cgroup parent with what to give instead", () => {
    const flag = (args: string[], want: RegExp) => assert.throws(() => parseDaemonArgs(args, {}), want);
    flag(["--bridge", "a-name-far-too-long"], /invalid bridge name "a-name-far-too-long": at most 15 characters/);
    flag(["--bridge", "bad/name"], /invalid bridge name/);
    flag(["--bip", "10.1.0.1"], /invalid --bip 10.1.0.1: give the bridge's address with its prefix length/);
    flag(["--bip", "fd00::1/64"], /must be IPv4/);
    flag(["--bip", "10.1.0.1/31"], /leaves no addresses for containers/);
    flag(["--bip", "10.1.0.255/24"], /broadcast address/);
    flag(["--bridge", "none", "--bip", "10.1.0.1/24"], /cannot go with --bridge none/);
    flag(["--default-address-pool", "10.0.0.0/8"], /give base=CIDR,size=PREFIX/);
    flag(["--default-address-pool", "base=10.0.0.0/16,size=8"], /"size" must be a prefix length from 16/);
    flag(["--default-address-pool", "base=fd00::/48,size=64"], /only IPv4 pools/);
    flag(["--cgroup-parent", "/a/../b"], /".." could leave the cgroup tree/);
    flag(["--cgroup-parent", "machine.slice"], /systemd slice/);
    flag(["--cgroup-parent", "/"], /give a cgroup path/);
    flag(["--exec-root", "relative"], /--exec-root relative: give an absolute path/);
    const bad = (text: string, want: RegExp, field: string) =>
      assert.throws(
        () => parseDaemonConfig(text, "f.json"),
        (err: Error & { field?: string }) => want.test(err.message) && err.message.includes("f.json") && err.field === field,
      );
    bad('{"bridge": 1}', /"bridge" must be a string/, "bridge");
    bad('{"bridge": "x".repeat(20)}'.replace('"x".repeat(20)', `"${"x".repeat(20)}"`), /"bridge": invalid bridge name/, "bridge");
    bad('{"bip": "300.1.1.1/16"}', /"bip": invalid --bip 300.1.1.1\/16/, "bip");
    bad('{"default-address-pools": []}', /"default-address-pools" must be a non-empty list/, "default-address-pools");
    bad('{"default-address-pools": [{"base": "10.0.0.0/16"}]}', /"size" must be a prefix length/, "default-address-pools");
    bad('{"default-address-pools": [{"base": "10.0.0.0/16", "size": 24, "x": 1}]}', /only "base" and "size"/, "default-address-pools");
    bad('{"cgroup-parent": "../x"}', /"cgroup-parent": invalid "cgroup-parent"/, "cgroup-parent");
  });
});

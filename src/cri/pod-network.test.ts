import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { parseNetworkConfig, pluginConfig, podArgs, PodNetworks, resultAddresses } from "./pod-network.js";

describe("the node's CNI network for pod sandboxes", () => {
  it("reads a list, and a single plugin's configuration as a list of one", () => {
    const list = parseNetworkConfig("/x/10-a.conflist", JSON.stringify({ cniVersion: "1.0.0", name: "pods", plugins: [{ type: "bridge" }, { type: "portmap", capabilities: { portMappings: true } }] }));
    assert.equal(list.name, "pods");
    assert.deepEqual(list.plugins.map((p) => p.type), ["bridge", "portmap"]);
    const one = parseNetworkConfig("/x/10-b.conf", JSON.stringify({ cniVersion: "0.4.0", name: "flat", type: "bridge", bridge: "br9" }));
    assert.equal(one.plugins.length, 1);
    assert.equal(one.plugins[0]!.bridge, "br9");
  });

  it("says what is wrong with a configuration it cannot use", () => {
    assert.throws(() => parseNetworkConfig("/x/a.conflist", "{"), /a\.conflist: not JSON/);
    assert.throws(() => parseNetworkConfig("/x/a.conflist", JSON.stringify({ cniVersion: "1.0.0", plugins: [{ type: "bridge" }] })), /has no "name"/);
    assert.throws(() => parseNetworkConfig("/x/a.conflist", JSON.stringify({ name: "n", plugins: [] })), /"plugins" must list at least one plugin/);
    assert.throws(() => parseNetworkConfig("/x/a.conflist", JSON.stringify({ name: "n", plugins: [{ bridge: "b" }] })), /plugins\[0\] has no "type"/);
    assert.throws(() => parseNetworkConfig("/x/a.conf", JSON.stringify({ name: "n" })), /no plugin "type"/);
    assert.throws(() => parseNetworkConfig("/x/a.conf", "[1]"), /a JSON object/);
  });

  it("gives each plugin the list's name and version, the previous result, and only the runtime values it declares", () => {
    const list = parseNetworkConfig("/x/l.conflist", JSON.stringify({ cniVersion: "1.0.0", name: "pods", plugins: [{ type: "bridge", runtimeConfig: { stale: 1 } }, { type: "portmap", capabilities: { portMappings: true } }] }));
    const rc = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "" }], dns: { servers: ["10.0.0.10"], searches: [], options: [] } };
    const first = pluginConfig(list, list.plugins[0]!, rc, undefined);
    assert.deepEqual(first, { type: "bridge", name: "pods", cniVersion: "1.0.0" });
    const prev = { cniVersion: "1.0.0", ips: [{ address: "10.1.0.5/24" }] };
    const second = pluginConfig(list, list.plugins[1]!, rc, prev);
    assert.deepEqual(second.runtimeConfig, { portMappings: rc.portMappings });
    assert.deepEqual(second.prevResult, prev);
    // no port to map: no runtimeConfig at all
    assert.equal(pluginConfig(list, list.plugins[1]!, { portMappings: [] }, prev).runtimeConfig, undefined);
  });

  it("reads the addresses of a result, IPv4 first, from current and 0.2 results", () => {
    assert.deepEqual(resultAddresses({ cniVersion: "1.0.0", ips: [{ address: "fd00::5/64" }, { address: "10.1.0.5/24", gateway: "10.1.0.1" }] }), ["10.1.0.5", "fd00::5"]);
    assert.deepEqual(resultAddresses({ cniVersion: "0.2.0", ip4: { ip: "10.2.0.7/16" } } as never), ["10.2.0.7"]);
    assert.deepEqual(resultAddresses(undefined), []);
  });

  it("passes the pod's identity in CNI_ARGS as the kubelet's runtimes do", () => {
    assert.equal(podArgs({ name: "web", namespace: "prod", uid: "u-1" }, "abc"), "IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1");
  });

  it("takes the first usable configuration in file-name order, and says once which it skipped", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cove-cni-"));
    try {
      const lines: string[] = [];
      const nets = new PodNetworks({ confDir: dir, binDirs: [], stateDir: path.join(dir, "state"), log: (l) => lines.push(l) });
      assert.equal(await nets.current(), undefined, "an empty directory: cove's bridge");
      await writeFile(path.join(dir, "20-later.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "later", plugins: [{ type: "bridge" }] }));
      await writeFile(path.join(dir, "10-first.conf"), JSON.stringify({ cniVersion: "1.0.0", name: "first", type: "ptp" }));
      await writeFile(path.join(dir, "05-broken.conflist"), "{ not json");
      await writeFile(path.join(dir, "00-ignored.txt"), "not a configuration file");
      assert.equal((await nets.current())?.name, "first");
      assert.equal((await nets.current())?.name, "first");
      assert.equal(lines.length, 1, `one report: ${lines.join(" | ")}`);
      assert.match(lines[0]!, /05-broken\.conflist: not JSON/);
      assert.equal(await new PodNetworks({ confDir: "none", binDirs: [], stateDir: dir, log: () => undefined }).current(), undefined, '"none" reads nothing');
      assert.equal(await new PodNetworks({ confDir: path.join(dir, "missing"), binDirs: [], stateDir: dir, log: () => undefined }).current(), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { chainNames, Firewall, portChangeText, portRules, restoreText, type FirewallNetwork, type FirewallPort } from "./firewall.js";

const port = (hostPort: number, containerIp = "10.77.0.2", containerPort = 80, hostIp = "127.0.0.1"): FirewallPort => ({ proto: "tcp", hostIp, hostPort, containerIp, containerPort, bridge: "cvtest0" });
const net: FirewallNetwork = { bridge: "cvtest0", subnets: ["10.77.0.0/24"], internal: false, masquerade: true, icc: true };

describe("port rules", () => {
  it("a change of ports deletes the rules gone and adds the new ones, nothing else", () => {
    const a = new Set(portRules("t", 4, [port(1001), port(1002, "10.77.0.3")]));
    const b = new Set(portRules("t", 4, [port(1001), port(1003, "10.77.0.4")]));
    const text = portChangeText(a, b)!;
    const lines = text.trim().split("\n");
    assert.equal(lines[0], "*nat");
    assert.equal(lines.at(-1), "COMMIT");
    assert.deepEqual(
      lines.filter((l) => l.startsWith("-D")),
      [`-D ${chainNames("t").dnat} -d 127.0.0.1/32 -p tcp -m tcp --dport 1002 -j DNAT --to-destination 10.77.0.3:80`, `-D ${chainNames("t").postrouting} -s 10.77.0.3 -d 10.77.0.3 -p tcp -m tcp --dport 80 -j MASQUERADE`],
    );
    assert.equal(lines.filter((l) => l.startsWith("-A")).length, 2);
    assert.ok(!text.includes("--dport 1001 "), "a rule kept is not touched");
    assert.equal(portChangeText(a, new Set(a)), undefined);
  });

  it("a whole rewrite writes each port rule once (two ports to one container port share the hairpin rule)", () => {
    const text = restoreText("t", 4, [net], [port(8080), port(8081)]);
    assert.equal(text.split("\n").filter((l) => l.includes("-d 10.77.0.2 -p tcp")).length, 1);
  });
});

const root = process.getuid?.() === 0;
const iptables = spawnSync("iptables", ["-w", "-t", "nat", "-S", "POSTROUTING"], { stdio: "ignore" }).status === 0;

describe("the firewall on the host's iptables", { skip: !root ? "needs root" : !iptables ? "iptables does not work here" : false }, () => {
  const tag = `t${randomBytes(3).toString("hex")}`;
  const fw = new Firewall(tag, [4]);
  const dnat = () =>
    spawnSync("iptables", ["-w", "-t", "nat", "-S", chainNames(tag).dnat], { encoding: "utf8" })
      .stdout.split("\n")
      .filter((l) => l.startsWith("-A"))
      .map((l) => /--dport (\d+)/.exec(l)?.[1])
      .sort();
  after(async () => {
    await fw.remove();
  });

  it("adds and deletes only the changed ports' rules, and writes the chains whole when they were changed behind it", async () => {
    await fw.apply([net], [port(1001), port(1002, "10.77.0.3")]);
    assert.deepEqual(dnat(), ["1001", "1002"]);
    // a rule of someone else's in the chain: a whole rewrite would flush it, a change of ports keeps it
    assert.equal(spawnSync("iptables", ["-w", "-t", "nat", "-A", chainNames(tag).dnat, "-p", "udp", "--dport", "9", "-j", "RETURN"]).status, 0);
    await fw.apply([net], [port(1001), port(1003, "10.77.0.4")]);
    assert.deepEqual(dnat(), ["1001", "1003", "9"]);
    // someone flushed the chain: deleting 1003's rule fails, and the chains are written whole
    assert.equal(spawnSync("iptables", ["-w", "-t", "nat", "-F", chainNames(tag).dnat]).status, 0);
    await fw.apply([net], [port(1001)]);
    assert.deepEqual(dnat(), ["1001"]);
    // a network change writes everything again
    await fw.apply([net, { ...net, bridge: "cvtest1", subnets: ["10.78.0.0/24"] }], [port(1001), port(1004, "10.78.0.2")]);
    assert.deepEqual(dnat(), ["1001", "1004"]);
    await fw.remove();
    assert.notEqual(spawnSync("iptables", ["-w", "-t", "nat", "-S", chainNames(tag).dnat], { stdio: "ignore" }).status, 0, "the chain is gone");
  });
});

// Networking, second pass: live connect/disconnect (interface, default route, /etc/hosts),
// macvlan and ipvlan through the CNI plugins on a parent interface the test makes (dummy, or a
// veth pair where the kernel has no dummy driver), IPv6
// dual stack on a user network, and the `network ls --format`/`inspect -f` output of the cove CLI
// against the docker CLI's for the same daemon. Traffic stays inside the networks the test made.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { Netlink } from "../../src/network/netlink.js";
import { until } from "../containers/harness.js";
import { freeSubnets, setupNetwork, skipReason, type NetHarness } from "./harness.js";

const exec = (cmd: string, args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });

/** The host's links of one kind: what a driver could leave behind (others come and go with other work on the host). */
const linkNames = (kind: string): string[] => {
  const nl = Netlink.open();
  try {
    return nl.links().filter((l) => l.kind === kind).map((l) => l.name);
  } finally {
    nl.close();
  }
};

const ipv6Missing = !existsSync("/proc/net/if_inet6") || readFileSync("/proc/sys/net/ipv6/conf/all/disable_ipv6", "utf8").trim() === "1";

describe("cove networking: live connect, macvlan/ipvlan, IPv6, CLI formats", { skip: skipReason }, () => {
  let h: NetHarness;
  let subs: string[];
  const ip = (subnet: string, last: number) => subnet.replace(/\.0\/24$/, `.${last}`);
  const cove = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const main = path.join(path.dirname(new URL(import.meta.url).pathname), "../../src/cli/main.js");
      const c = spawn(process.execPath, [main, ...args], { env: { ...process.env, DOCKER_HOST: `unix://${h.socket}` }, stdio: ["ignore", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      c.stdout.on("data", (b: Buffer) => out.push(b));
      c.stderr.on("data", (b: Buffer) => err.push(b));
      c.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    });

  before(async () => {
    h = await setupNetwork();
    subs = freeSubnets(7, [h.bridgeSubnet]);
  });
  after(async () => {
    await h?.cleanup();
  });
  // what a failed test left (containers, networks) must not trip the next one
  afterEach(async () => {
    await h?.reset();
  });

  it("live connect adds the interface, link-local addresses, the default route and the /etc/hosts entry; disconnect removes them", async () => {
    const [internal, egress] = subs as [string, string];
    await h.ok(["network", "create", "--internal", "--subnet", internal, "lc-in"]);
    await h.ok(["network", "create", "--subnet", egress, "lc-out"]);
    await h.ok(["run", "-d", "--name", "lc", "--hostname", "lchost", "--network", "lc-in", "busybox", "sleep", "600"]);
    const routes = async () => (await h.ok(["exec", "lc", "ip", "-4", "route"])).trim();
    const hosts = async () => await h.ok(["exec", "lc", "cat", "/etc/hosts"]);
    assert.doesNotMatch(await routes(), /^default/m, "an internal network gives no default route");
    await h.ok(["exec", "lc", "sh", "-c", "echo '10.0.0.9 mine' >> /etc/hosts"]);

    await h.ok(["network", "connect", "--ip", ip(egress, 7), "--link-local-ip", "169.254.33.7", "lc-out", "lc"]);
    assert.match(await h.ok(["exec", "lc", "ip", "addr", "show", "eth1"]), /inet 169\.254\.33\.7\/16 /);
    assert.deepEqual(JSON.parse(await h.ok(["inspect", "lc"]))[0].NetworkSettings.Networks["lc-out"].IPAMConfig, { IPv4Address: ip(egress, 7), LinkLocalIPs: ["169.254.33.7"] });
    const badLinkLocal = await h.docker(["run", "--rm", "--network", "lc-out", "--link-local-ip", "not-an-ip", "busybox", "true"]);
    assert.equal(badLinkLocal.code, 125);
    assert.match(badLinkLocal.stderr, /invalid link-local IP address: not-an-ip/);
    assert.match(await routes(), new RegExp(`^default via ${ip(egress, 1).replace(/\./g, "\\.")} dev eth1`, "m"));
    assert.match(await hosts(), new RegExp(`^${ip(egress, 7).replace(/\./g, "\\.")}\\tlchost$`, "m"));
    assert.match(await hosts(), /^10\.0\.0\.9 mine$/m, "lines the container added stay");
    // the gateway answers over the new interface
    await h.ok(["exec", "lc", "ping", "-c", "1", "-W", "10", ip(egress, 1)]);

    await h.ok(["network", "disconnect", "lc-out", "lc"]);
    assert.doesNotMatch(await routes(), /^default/m);
    assert.doesNotMatch(await routes(), /dev eth1/);
    assert.doesNotMatch(await hosts(), new RegExp(ip(egress, 7).replace(/\./g, "\\.")));
    assert.match(await hosts(), /^10\.0\.0\.9 mine$/m);
    assert.match(await hosts(), new RegExp(`^${ip(internal, 2).replace(/\./g, "\\.")}\\tlchost$`, "m"));
    await h.ok(["rm", "-f", "lc"]);
    await h.ok(["network", "rm", "lc-in", "lc-out"]);
  });

  for (const driver of ["macvlan", "ipvlan"] as const) {
    it(`${driver} through CNI: two containers on a parent interface the test made ping each other; nothing is left behind`, async (t) => {
      const parent = `cvd${driver.slice(0, 3)}${Math.random().toString(16).slice(2, 8)}`;
      const subnet = driver === "macvlan" ? subs[2]! : subs[3]!;
      // a dummy interface where the kernel has the driver, else one end of a veth pair (both up)
      let made = await exec("ip", ["link", "add", parent, "type", "dummy"]);
      if (made.code !== 0) made = await exec("ip", ["link", "add", parent, "type", "veth", "peer", "name", `${parent}p`]);
      if (made.code !== 0) return assert.fail(`making a parent interface failed: ${made.stderr}`);
      try {
        // the kernel may be built without the driver: that is a skip, not a failure
        const probe = await exec("ip", ["link", "add", `${parent}x`, "link", parent, "type", driver]);
        if (probe.code !== 0) return t.skip(`this kernel cannot make ${driver} interfaces: ${probe.stderr.trim()}`);
        await exec("ip", ["link", "del", `${parent}x`]);
        await exec("ip", ["link", "set", parent, "up"]);
        await exec("ip", ["link", "set", `${parent}p`, "up"]);
        const before = linkNames(driver);
        const net = `${driver}-net`;
        await h.ok(["network", "create", "-d", driver, "-o", `parent=${parent}`, "--subnet", subnet, net]);
        const inspect = JSON.parse(await h.ok(["network", "inspect", net]))[0];
        assert.equal(inspect.Driver, driver);
        assert.equal(inspect.Options.parent, parent);
        await h.ok(["run", "-d", "--name", `${driver}-a`, "--network", net, "--ip", ip(subnet, 10), "busybox", "sleep", "600"]);
        await h.ok(["run", "-d", "--name", `${driver}-b`, "--network", net, "busybox", "sleep", "600"]);
        const bIp = JSON.parse(await h.ok(["inspect", `${driver}-b`]))[0].NetworkSettings.Networks[net].IPAddress as string;
        assert.ok(bIp.startsWith(subnet.replace(/0\/24$/, "")), bIp);
        const mac = JSON.parse(await h.ok(["inspect", `${driver}-a`]))[0].NetworkSettings.Networks[net].MacAddress as string;
        if (driver === "macvlan") assert.match(await h.ok(["exec", `${driver}-a`, "ip", "link", "show", "eth0"]), new RegExp(`link/ether ${mac} `));
        await h.ok(["exec", `${driver}-a`, "ping", "-c", "1", "-W", "10", bIp]);
        await h.ok(["exec", `${driver}-b`, "ping", "-c", "1", "-W", "10", ip(subnet, 10)]);
        await h.ok(["rm", "-f", `${driver}-a`, `${driver}-b`]);
        await h.ok(["network", "rm", net]);
        assert.deepEqual(linkNames(driver).sort(), before.sort(), `no ${driver} link is left on the host`);
        assert.deepEqual(readdirSync(path.join(h.root, "network", "sandboxes")), []);
        assert.deepEqual(readdirSync(h.netnsDir), []);
        for (const dir of ["/var/lib/cni/results", `/var/lib/cni/networks/${net}`]) {
          if (existsSync(dir)) assert.deepEqual(readdirSync(dir).filter((f) => f.includes(net)), [], `no CNI cache under ${dir}`);
        }
      } finally {
        // the containers and the network first, while their parent interface still exists
        await h.reset();
        await exec("ip", ["link", "del", parent]);
      }
    });
  }

  it("IPv6 dual stack: both addresses, IPv6 traffic between containers, inspect shows them", { skip: ipv6Missing ? "IPv6 is disabled in this kernel" : false }, async () => {
    const v4 = subs[4]!;
    const v6 = `fd${Math.floor(Math.random() * 255).toString(16).padStart(2, "0")}:c0fe:${Math.floor(Math.random() * 65535).toString(16)}::/64`;
    await h.ok(["network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, "dual"]);
    const doc = JSON.parse(await h.ok(["network", "inspect", "dual"]))[0];
    assert.equal(doc.EnableIPv6, true);
    // the docker CLI gathers --subnet values through a Go map, so their order varies
    assert.deepEqual(doc.IPAM.Config.map((c: { Subnet: string }) => c.Subnet).sort(), [v4, v6].sort());
    await h.ok(["run", "-d", "--name", "d6a", "--network", "dual", "busybox", "sleep", "600"]);
    await h.ok(["run", "-d", "--name", "d6b", "--network", "dual", "--ip6", v6.replace("::/64", "::42"), "busybox", "sleep", "600"]);
    const a = JSON.parse(await h.ok(["inspect", "d6a"]))[0].NetworkSettings.Networks.dual;
    const b = JSON.parse(await h.ok(["inspect", "d6b"]))[0].NetworkSettings.Networks.dual;
    assert.equal(b.GlobalIPv6Address, v6.replace("::/64", "::42"));
    assert.equal(a.GlobalIPv6PrefixLen, 64);
    assert.equal(a.IPv6Gateway, v6.replace("::/64", "::1"));
    assert.ok(a.GlobalIPv6Address.startsWith(v6.replace("::/64", ":")), a.GlobalIPv6Address);
    assert.ok(a.IPAddress.startsWith(v4.replace(/0\/24$/, "")));
    await h.ok(["exec", "d6a", "ping", "-6", "-c", "1", "-W", "10", b.GlobalIPv6Address]);
    await h.ok(["exec", "d6b", "ping", "-6", "-c", "1", "-W", "10", a.GlobalIPv6Address]);
    assert.match(await h.ok(["exec", "d6a", "ip", "-6", "route"]), new RegExp(`^default via ${a.IPv6Gateway}`, "m"));
    // the embedded DNS answers AAAA for the other container
    assert.match(await h.ok(["exec", "d6a", "nslookup", "-type=AAAA", "d6b"]), new RegExp(b.GlobalIPv6Address.replace(/:/g, ":")));
    await h.ok(["rm", "-f", "d6a", "d6b"]);
    await h.ok(["network", "rm", "dual"]);
    // --ipv6 without an IPv6 subnet gets a ULA /64
    await h.ok(["network", "create", "--ipv6", "--subnet", v4, "auto6"]);
    const auto = JSON.parse(await h.ok(["network", "inspect", "auto6"]))[0];
    assert.match(auto.IPAM.Config[1].Subnet, /^fd[0-9a-f]{2}:[0-9a-f:]+\/64$/);
    await h.ok(["network", "rm", "auto6"]);
  });

  it("exits do not wait for veth deletion; addresses come back (eight runs on a /29), a fixed address at once; nothing is left", async () => {
    // a /29: five container addresses, so eight runs in a row need released ones
    const small = subs[6]!.replace(/0\/24$/, "0/29");
    await h.ok(["network", "create", "--subnet", small, "small"]);
    const bridge = `br-${JSON.parse(await h.ok(["network", "inspect", "small"]))[0].Id.slice(0, 12)}`;
    const ports = () => {
      const nl = Netlink.open();
      try {
        const index = nl.link(bridge)?.index;
        return nl.links().filter((l) => index !== undefined && l.master === index).map((l) => l.name);
      } finally {
        nl.close();
      }
    };
    for (let i = 0; i < 8; i++) await h.ok(["run", "--rm", "--network", "small", "busybox", "true"]);
    // a fixed address is free again as soon as its container is gone
    const fixed = ip(subs[6]!, 3);
    await h.ok(["run", "-d", "--name", "fx1", "--network", "small", "--ip", fixed, "busybox", "sleep", "600"]);
    await h.ok(["rm", "-f", "fx1"]);
    await h.ok(["run", "-d", "--name", "fx2", "--network", "small", "--ip", fixed, "busybox", "sleep", "600"]);
    assert.equal(JSON.parse(await h.ok(["inspect", "fx2"]))[0].NetworkSettings.Networks.small.IPAddress, fixed);
    await h.ok(["rm", "-f", "fx2"]);
    // the kernel deletes the veths after the exits, on its own time
    await until("the veths to leave the bridge", () => ports().length === 0).catch(() => undefined);
    assert.deepEqual(ports(), [], "no veth is left on the bridge");
    assert.deepEqual(readdirSync(h.netnsDir), []);
    assert.deepEqual(readdirSync(path.join(h.root, "network", "sandboxes")), []);
    await h.ok(["network", "rm", "small"]);
  });

  it("network ls --format/-q/--no-trunc/filters and network inspect -f print what the docker CLI prints", async () => {
    await h.ok(["network", "create", "--subnet", subs[5]!, "--label", "fmt=yes", "fmt-net"]);
    const same = async (args: string[]) => {
      const d = await h.docker(args);
      const c = await cove(args);
      assert.equal(c.stdout, d.stdout, `${args.join(" ")}: cove said ${c.stderr}`);
      assert.equal(c.code, d.code, `${args.join(" ")}: cove said ${c.stderr}, docker ${d.stderr}`);
      return c.stdout;
    };
    await same(["network", "ls"]);
    await same(["network", "ls", "-q"]);
    await same(["network", "ls", "--no-trunc"]);
    await same(["network", "ls", "-q", "--no-trunc", "-f", "label=fmt=yes"]);
    assert.match(await same(["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.IPv6}} {{.Internal}} {{.Label \"fmt\"}}", "-f", "name=fmt"]), /^fmt-net bridge false false yes\n$/);
    await same(["network", "ls", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Scope}}", "--filter", "type=custom"]);
    await same(["network", "ls", "--format", "json", "-f", "driver=bridge"]);
    await same(["network", "ls", "--format", "{{.CreatedAt}}", "-f", "name=fmt-net"]);
    assert.equal(await same(["network", "inspect", "-f", "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels.fmt}}", "fmt-net"]), `fmt-net bridge ${subs[5]} yes\n`);
    await same(["network", "inspect", "--format", "{{json .Labels}} {{len .Containers}} {{.EnableIPv6}}", "fmt-net", "bridge"]);
    await same(["network", "inspect", "--format", "json", "fmt-net"]);
    const bad = await cove(["network", "ls", "-f", "nonsense=1"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid filter 'nonsense'/);
    await h.ok(["network", "rm", "fmt-net"]);
  });
});

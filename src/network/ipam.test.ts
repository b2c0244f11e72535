import assert from "node:assert/strict";
import { test } from "node:test";
import { allocate, chooseSubnet, formatIp, makePool, macFromIp, parseAddressPool, parseCidr, parseIp, poolSubnets, release, overlaps, formatCidr, randomUlaSubnet } from "./ipam.js";
import { defaultBridgePool } from "./networks.js";

test("IPv4 and IPv6 parse and format round trip", () => {
  for (const ip of ["10.1.2.3", "0.0.0.0", "255.255.255.255", "fd00::1", "::", "2001:db8::ff00:42:8329", "fe80::1:0:0:1"]) {
    const p = parseIp(ip);
    assert.equal(formatIp(p.family, p.value), ip);
  }
  assert.equal(formatIp(6, parseIp("::ffff:10.0.0.1").value), "::ffff:a00:1");
  assert.throws(() => parseIp("10.0.0.256"), /invalid IP address/);
});

test("CIDRs normalize host bits and detect overlaps", () => {
  assert.equal(formatCidr(parseCidr("10.9.8.7/16")), "10.9.0.0/16");
  assert.ok(overlaps(parseCidr("10.0.0.0/8"), parseCidr("10.200.0.0/24")));
  assert.ok(!overlaps(parseCidr("10.0.0.0/16"), parseCidr("10.1.0.0/16")));
  assert.ok(!overlaps(parseCidr("10.0.0.0/16"), parseCidr("fd00::/64")));
  assert.throws(() => parseCidr("10.0.0.0/33"), /invalid CIDR address/);
  assert.throws(() => parseCidr("nonsense"), /invalid CIDR address/);
});

test("free-subnet choice skips routes and other networks", () => {
  const used = [parseCidr("172.17.0.0/16"), parseCidr("172.18.5.0/24"), parseCidr("172.20.0.0/15")];
  assert.equal(formatCidr(chooseSubnet(used)!), "172.19.0.0/16");
  assert.equal(formatCidr(chooseSubnet([parseCidr("172.16.0.0/12")])!), "192.168.0.0/20");
  assert.equal(chooseSubnet([parseCidr("0.0.0.0/0")]), undefined);
});

test("allocation: gateway, lowest free, fixed addresses, ranges, release, exhaustion", () => {
  const p = makePool("10.77.0.0/29");
  assert.equal(p.gateway, "10.77.0.1");
  assert.equal(allocate(p), "10.77.0.2");
  assert.equal(allocate(p, "10.77.0.5"), "10.77.0.5");
  assert.throws(() => allocate(p, "10.77.0.5"), /Address already in use/);
  assert.throws(() => allocate(p, "10.77.0.1"), /Address already in use/);
  assert.throws(() => allocate(p, "10.77.1.5"), /no configured subnet or ip-range contain the IP address 10.77.1.5/);
  assert.equal(allocate(p), "10.77.0.3");
  assert.equal(allocate(p), "10.77.0.4");
  assert.equal(allocate(p), "10.77.0.6");
  assert.throws(() => allocate(p), /no available IPv4 addresses/); // .7 is the broadcast address
  release(p, "10.77.0.3");
  assert.equal(allocate(p), "10.77.0.3");

  const r = makePool("10.78.0.0/16", "10.78.0.254", "10.78.4.0/24");
  assert.equal(allocate(r), "10.78.4.0");
  assert.throws(() => makePool("10.78.0.0/16", "10.79.0.1"), /Invalid gateway 10.79.0.1/);
  assert.throws(() => makePool("10.78.0.0/16", undefined, "10.90.0.0/24"), /ip-range/);

  const v6 = makePool("fd12:3456::/64");
  assert.equal(v6.gateway, "fd12:3456::1");
  assert.equal(allocate(v6), "fd12:3456::2");
});

test("MACs: Docker's derivation from IPv4, and random locally administered", () => {
  assert.equal(macFromIp("172.17.0.2"), "02:42:ac:11:00:02");
  const u = randomUlaSubnet();
  assert.equal(u.prefix, 64);
  assert.ok(formatCidr(u).startsWith("fd"));
});

test("address pools are carved into subnets of their size, in order, skipping those in use", () => {
  const pools = [parseAddressPool("base=10.80.0.0/23,size=24"), parseAddressPool({ base: "10.90.0.5/16", size: 17 })];
  assert.deepEqual(pools, [{ base: "10.80.0.0/23", size: 24 }, { base: "10.90.0.0/16", size: 17 }]);
  assert.deepEqual([...poolSubnets(pools)].map(formatCidr), ["10.80.0.0/24", "10.80.1.0/24", "10.90.0.0/17", "10.90.128.0/17"]);
  assert.equal(formatCidr(chooseSubnet([parseCidr("10.80.0.0/24")], poolSubnets(pools))!), "10.80.1.0/24");
  assert.equal(formatCidr(chooseSubnet([parseCidr("10.80.0.0/23"), parseCidr("10.90.0.0/24")], poolSubnets(pools))!), "10.90.128.0/17");
  assert.equal(chooseSubnet([parseCidr("10.0.0.0/8")], poolSubnets(pools)), undefined);
  // a /8 in /24s is not listed up front
  assert.equal(formatCidr(chooseSubnet([], poolSubnets([parseAddressPool("base=10.0.0.0/8,size=24")]))!), "10.0.0.0/24");
});

test("--bip is the bridge's address with its prefix; a network address gets its first host", () => {
  assert.deepEqual(defaultBridgePool("172.18.0.1/16"), { subnet: "172.18.0.0/16", gateway: "172.18.0.1", allocated: [] });
  assert.deepEqual(defaultBridgePool("10.5.5.9/24"), { subnet: "10.5.5.0/24", gateway: "10.5.5.9", allocated: [] });
  assert.deepEqual(defaultBridgePool("10.5.5.0/24"), { subnet: "10.5.5.0/24", gateway: "10.5.5.1", allocated: [] });
  assert.throws(() => defaultBridgePool("10.5.5.255/24"), /broadcast/);
});

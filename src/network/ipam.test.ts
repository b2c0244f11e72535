import assert from "node:assert/strict";
import { test } from "node:test";
import { allocate, chooseSubnet, formatIp, makePool, macFromIp, parseCidr, parseIp, release, overlaps, formatCidr, randomUlaSubnet } from "./ipam.js";

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

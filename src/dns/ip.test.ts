import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalIp, formatIp, ipToReverseName, ipv6Bytes, reverseNameToIp } from "./ip.js";

test("IPv6 addresses take their RFC 5952 canonical form", () => {
  const cases: Array<[string, string]> = [
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    ["fe80::", "fe80::"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["::ffff:10.1.2.3", "::ffff:a01:203"],
    ["fd00:0:0:1::5", "fd00:0:0:1::5"],
  ];
  for (const [input, canonical] of cases) assert.equal(canonicalIp(input), canonical, input);
  assert.equal(canonicalIp("10.0.0.1"), "10.0.0.1");
  assert.equal(canonicalIp("010.0.0.1"), undefined);
  assert.equal(canonicalIp("web"), undefined);
  assert.equal(canonicalIp("1:2:3:4:5:6:7:8:9"), undefined);
  assert.equal(ipv6Bytes("fe80::1%eth0")!.toString("hex"), "fe800000000000000000000000000001");
  assert.throws(() => formatIp(new Uint8Array(5)), RangeError);
});

test("reverse names map to addresses and back", () => {
  assert.equal(reverseNameToIp("4.3.2.10.in-addr.arpa"), "10.2.3.4");
  assert.equal(reverseNameToIp("4.3.2.10.IN-ADDR.ARPA."), "10.2.3.4");
  assert.equal(ipToReverseName("10.2.3.4"), "4.3.2.10.in-addr.arpa");
  const v6 = "fd00:1::a:5";
  const name = ipToReverseName(v6)!;
  assert.equal(name, "5.0.0.0.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"); // as Python's ipaddress gives it
  assert.equal(reverseNameToIp(name), v6);
  assert.equal(reverseNameToIp(name.toUpperCase()), v6);
});

test("partial or malformed reverse names are not addresses", () => {
  for (const name of ["2.10.in-addr.arpa", "256.3.2.10.in-addr.arpa", "04.3.2.10.in-addr.arpa", "a.3.2.10.in-addr.arpa", "1.2.3.4.5.in-addr.arpa", "0.d.f.ip6.arpa", "g" + ".0".repeat(31) + ".ip6.arpa", "4.3.2.10.in-addr.arpa.example", "web"]) {
    assert.equal(reverseNameToIp(name), undefined, name);
  }
});

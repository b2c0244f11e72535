import assert from "node:assert/strict";
import { test } from "node:test";
import { endpointSettings } from "./networks.js";

test("the zero EndpointSettings, as dockerd shows it", () => {
  assert.equal(
    JSON.stringify(endpointSettings()),
    '{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}',
  );
});

test("fields set over the zero values keep Docker's field order", () => {
  const ep = endpointSettings({ DNSNames: ["a"], GwPriority: 3, Aliases: ["x"] });
  assert.deepEqual(Object.keys(ep).slice(0, 7), ["IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "GwPriority", "NetworkID"]);
  assert.deepEqual([ep.Aliases, ep.GwPriority, ep.DNSNames, ep.Links], [["x"], 3, ["a"], null]);
});

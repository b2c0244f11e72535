import { test } from "node:test";
import assert from "node:assert/strict";
import { CoveError } from "../common/errors.js";
import { digestOf } from "../content/digest.js";
import { MediaType } from "./mediatypes.js";
import { formatPlatform, hostPlatform, matchingManifests, normalizePlatform, onlyPlatform, parsePlatform, selectManifest } from "./platforms.js";
import type { Descriptor, Index, Platform } from "./types.js";

function desc(name: string, platform?: Platform): Descriptor {
  const d: Descriptor = { mediaType: MediaType.OCIManifest, digest: digestOf(name), size: name.length };
  if (platform) d.platform = platform;
  return d;
}

const amd64 = desc("amd64", { os: "linux", architecture: "amd64" });
const arm64v8 = desc("arm64v8", { os: "linux", architecture: "arm64", variant: "v8" });
const armv7 = desc("armv7", { os: "linux", architecture: "arm", variant: "v7" });
const armv6 = desc("armv6", { os: "linux", architecture: "arm", variant: "v6" });
const i386 = desc("386", { os: "linux", architecture: "386" });
const attestation = desc("att", { os: "unknown", architecture: "unknown" });
const index: Index = { schemaVersion: 2, mediaType: MediaType.OCIIndex, manifests: [attestation, armv6, armv7, arm64v8, i386, amd64] };

test("parsePlatform normalizes as containerd does", () => {
  assert.deepEqual(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("linux/x86_64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("linux/aarch64"), { os: "linux", architecture: "arm64" });
  assert.deepEqual(parsePlatform("linux/arm64/v8"), { os: "linux", architecture: "arm64", variant: "v8" });
  assert.deepEqual(parsePlatform("linux/arm64/8"), { os: "linux", architecture: "arm64", variant: "v8" });
  assert.deepEqual(parsePlatform("linux/arm"), { os: "linux", architecture: "arm" });
  assert.deepEqual(parsePlatform("linux/arm/7"), { os: "linux", architecture: "arm", variant: "v7" });
  assert.deepEqual(parsePlatform("linux/armhf"), { os: "linux", architecture: "arm" }); // v7 is the default, dropped as containerd does
  assert.deepEqual(parsePlatform("linux/armel"), { os: "linux", architecture: "arm", variant: "v6" });
  assert.deepEqual(parsePlatform("Linux/AMD64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("linux/i386"), { os: "linux", architecture: "386" });
  assert.deepEqual(parsePlatform("linux/amd64/v1"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("windows(10.0.17763)/amd64"), { os: "windows", "os.version": "10.0.17763", architecture: "amd64" });
  assert.equal(parsePlatform("linux").architecture, hostPlatform().architecture);
  assert.deepEqual(parsePlatform("arm64"), { os: hostPlatform().os, architecture: "arm64", variant: "v8" });
  for (const bad of ["linux/amd64/v8/x", "linux/am d64", "", "plan10", "linux/*"]) {
    assert.throws(() => parsePlatform(bad), (e: unknown) => e instanceof CoveError && e.kind === "invalid" && e.code === "platform.invalid", bad);
  }
});

test("normalize and format", () => {
  assert.deepEqual(normalizePlatform({ os: "linux", architecture: "aarch64", variant: "8" }), { os: "linux", architecture: "arm64" });
  assert.deepEqual(normalizePlatform({ os: "linux", architecture: "arm" }), { os: "linux", architecture: "arm", variant: "v7" });
  assert.equal(formatPlatform({ os: "linux", architecture: "arm64", variant: "v8" }), "linux/arm64/v8");
  assert.equal(formatPlatform({ os: "linux", architecture: "amd64" }), "linux/amd64");
});

test("host platform maps process.arch to OCI names", () => {
  const host = hostPlatform();
  assert.equal(host.os, "linux");
  const expected: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", s390x: "s390x", riscv64: "riscv64" };
  if (expected[process.arch]) assert.equal(host.architecture, expected[process.arch]);
});

test("amd64 host: picks amd64 first, then 386; never arm", () => {
  const picked = matchingManifests(index, parsePlatform("linux/amd64"));
  assert.deepEqual(picked, [amd64, i386]);
  assert.equal(selectManifest(index, parsePlatform("linux/amd64")), amd64);
});

test("arm64 host accepts arm64/v8, then arm v8..v5 as fallbacks", () => {
  assert.deepEqual(matchingManifests(index, { os: "linux", architecture: "arm64" }), [arm64v8, armv7, armv6]);
  assert.deepEqual(matchingManifests(index, parsePlatform("linux/arm64/v8")), [arm64v8, armv7, armv6]);
  // An index whose arm64 entry has no variant still matches an arm64/v8 request.
  const plain = desc("arm64", { os: "linux", architecture: "arm64" });
  assert.deepEqual(matchingManifests({ schemaVersion: 2, manifests: [plain] }, parsePlatform("linux/arm64/v8")), [plain]);
});

test("arm/v7 host takes v7 then v6; arm/v6 host refuses v7", () => {
  assert.deepEqual(matchingManifests(index, parsePlatform("linux/arm/v7")), [armv7, armv6]);
  assert.deepEqual(matchingManifests(index, parsePlatform("linux/arm/v6")), [armv6]);
  assert.deepEqual(matchingManifests(index, parsePlatform("linux/arm")), [armv7, armv6]);
});

test("matcher ranks", () => {
  const m = onlyPlatform(parsePlatform("linux/arm64"));
  assert.equal(m.less({ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm", variant: "v7" }), true);
  assert.equal(m.less({ os: "linux", architecture: "arm", variant: "v7" }, { os: "linux", architecture: "arm64" }), false);
  assert.equal(m.match({ os: "windows", architecture: "arm64" }), false);
});

test("no match gives Docker's error text", () => {
  const only = { schemaVersion: 2 as const, manifests: [armv7, arm64v8] };
  assert.throws(
    () => selectManifest(only, parsePlatform("linux/amd64")),
    (e: unknown) =>
      e instanceof CoveError &&
      e.kind === "not-found" &&
      e.message === "no matching manifest for linux/amd64 in the manifest list entries" &&
      e.hint === "the image is available for: linux/arm/v7, linux/arm64/v8; choose one with --platform",
  );
  assert.throws(() => selectManifest(index, parsePlatform("linux/s390x")), {
    message: "no matching manifest for linux/s390x in the manifest list entries",
  });
});

test("entries without a platform are accepted last", () => {
  const none = desc("none");
  assert.deepEqual(matchingManifests({ schemaVersion: 2, manifests: [none, amd64] }, parsePlatform("linux/amd64")), [amd64, none]);
});

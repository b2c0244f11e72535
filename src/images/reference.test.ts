import { test } from "node:test";
import assert from "node:assert/strict";
import { CoveError } from "../common/errors.js";
import {
  familiarMatch,
  familiarName,
  familiarString,
  normalizeReference,
  parseAnyReference,
  parseDockerRef,
  parseNormalizedNamed,
  parseReference,
  pathMatch,
  referenceString,
  tagNameOnly,
  validateTag,
} from "./reference.js";

const D = "sha256:" + "a".repeat(64);
const HEX = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

// input → [canonical string after normalization + default tag, familiar string]
const valid: Array<[string, string, string]> = [
  ["busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"],
  ["library/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["docker.io/library/busybox:glibc", "docker.io/library/busybox:glibc", "busybox:glibc"],
  ["index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["index.docker.io/user/app:v1", "docker.io/user/app:v1", "user/app:v1"],
  ["dmcgowan/myapp", "docker.io/dmcgowan/myapp:latest", "dmcgowan/myapp:latest"],
  ["docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", "library/foo/bar:latest"],
  ["localhost/app", "localhost/app:latest", "localhost/app:latest"],
  ["localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"],
  ["example.com/app", "example.com/app:latest", "example.com/app:latest"],
  ["example.com:8080/ns/app:1.0", "example.com:8080/ns/app:1.0", "example.com:8080/ns/app:1.0"],
  ["127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"],
  ["[::1]:5000/app:x", "[::1]:5000/app:x", "[::1]:5000/app:x"],
  ["[2001:db8::1]/app", "[2001:db8::1]/app:latest", "[2001:db8::1]/app:latest"],
  ["Foo.example.com/app", "Foo.example.com/app:latest", "Foo.example.com/app:latest"],
  ["Uppercase/lowercase:tag", "Uppercase/lowercase:tag", "Uppercase/lowercase:tag"], // uppercase first part is a domain
  ["a_b/c__d/e-f/g--h/i.j", "docker.io/a_b/c__d/e-f/g--h/i.j:latest", "a_b/c__d/e-f/g--h/i.j:latest"],
  ["busybox:Tag_With.Caps-1", "docker.io/library/busybox:Tag_With.Caps-1", "busybox:Tag_With.Caps-1"],
  [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
  [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
  [`localhost:5000/x@${D}`, `localhost:5000/x@${D}`, `localhost:5000/x@${D}`],
  ["a".repeat(127) + ":" + "t".repeat(128), `docker.io/library/${"a".repeat(127)}:${"t".repeat(128)}`, `${"a".repeat(127)}:${"t".repeat(128)}`],
];

for (const [input, canonical, familiar] of valid) {
  test(`reference ${input.length > 60 ? input.slice(0, 40) + "…" : input} is valid`, () => {
    assert.equal(normalizeReference(input), canonical);
    assert.equal(familiarString(tagNameOnly(parseNormalizedNamed(input))), familiar);
  });
}

// input → exact Docker error message
const invalidRefs: Array<[string, string]> = [
  ["", "invalid reference format"], // normalization turns "" into "docker.io/library/"
  ["Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"],
  ["docker.io/Busybox:tag", "invalid reference format: repository name (library/Busybox) must be lowercase"],
  ["user/Name", "invalid reference format: repository name (user/Name) must be lowercase"],
  ["example.com/Name", "invalid reference format: repository name (Name) must be lowercase"],
  [":justtag", "invalid reference format"],
  ["a:b:c", "invalid reference format"],
  ["busybox:", "invalid reference format"],
  ["busybox:-tag", "invalid reference format"],
  ["busybox:.tag", "invalid reference format"],
  ["busybox:" + "t".repeat(129), "invalid reference format"],
  ["-busybox", "invalid reference format"],
  ["busybox-", "invalid reference format"],
  ["a/../b", "invalid reference format"],
  ["a//b", "invalid reference format"],
  ["a___b", "invalid reference format"],
  ["a..b", "invalid reference format"],
  ["busybox@sha256:abc", "invalid reference format"],
  ["busybox@sha256:" + "a".repeat(32), "invalid checksum digest length"],
  ["busybox@sha256:" + "A".repeat(64), "invalid checksum digest format"],
  ["busybox@md5:" + "a".repeat(32), "unsupported digest algorithm"],
  ["[fe80::1%eth0]:5000/app", "invalid reference format"],
  ["localhost:port/app", "invalid reference format"],
  [HEX, `invalid repository name (${HEX}), cannot specify 64-byte hexadecimal strings`],
  ["a/" + "b".repeat(250), "repository name must not be more than 255 characters"],
];

for (const [input, message] of invalidRefs) {
  test(`reference ${JSON.stringify(input.length > 60 ? input.slice(0, 40) + "…" : input)} is refused: ${message}`, () => {
    assert.throws(
      () => parseNormalizedNamed(input),
      (err: unknown) => err instanceof CoveError && (err.kind === "invalid" || err.kind === "unsupported") && err.message === message,
    );
  });
}

test("parseReference does not normalize; uppercase gives Docker's short message", () => {
  assert.deepEqual(parseReference("busybox"), { domain: "", path: "busybox" });
  assert.deepEqual(parseReference("a/b/c:1"), { domain: "a", path: "b/c", tag: "1" });
  assert.throws(() => parseReference("Busybox"), { message: "repository name must be lowercase" });
  assert.throws(() => parseReference(""), { message: "repository name must have at least one component" });
});

test("parseDockerRef keeps only the digest when both tag and digest are given", () => {
  assert.equal(referenceString(parseDockerRef(`busybox:1@${D}`)), `docker.io/library/busybox@${D}`);
  assert.equal(referenceString(parseDockerRef("busybox")), "docker.io/library/busybox:latest");
  assert.equal(referenceString(parseDockerRef(`busybox@${D}`)), `docker.io/library/busybox@${D}`);
});

test("parseAnyReference accepts IDs and digests", () => {
  assert.deepEqual(parseAnyReference(HEX), { digest: `sha256:${HEX}` });
  assert.deepEqual(parseAnyReference(D), { digest: D });
  assert.equal(referenceString(parseAnyReference("abc123") as ReturnType<typeof parseReference>), "docker.io/library/abc123");
});

test("familiar names strip docker.io and library/ only when it is the whole namespace", () => {
  assert.equal(familiarName(parseNormalizedNamed("docker.io/library/redis")), "redis");
  assert.equal(familiarName(parseNormalizedNamed("docker.io/library/a/b")), "library/a/b");
  assert.equal(familiarName(parseNormalizedNamed("quay.io/library/redis")), "quay.io/library/redis");
});

test("validateTag", () => {
  assert.equal(validateTag("v1.2_x"), "v1.2_x");
  assert.throws(() => validateTag(".x"), { message: "invalid tag format" });
  assert.throws(() => validateTag("t".repeat(129)), { message: "invalid tag format" });
});

test("Go path.Match semantics for reference filters", () => {
  assert.equal(pathMatch("busy*", "busybox"), true);
  assert.equal(pathMatch("*", "user/app"), false); // * does not cross '/'
  assert.equal(pathMatch("*/*", "user/app"), true);
  assert.equal(pathMatch("b?sybox", "busybox"), true);
  assert.equal(pathMatch("[a-c]usybox", "busybox"), true);
  assert.equal(pathMatch("[^a-c]usybox", "busybox"), false);
  assert.equal(pathMatch("a\\*", "a*"), true);
  assert.equal(pathMatch("a.b", "axb"), false);
  assert.throws(() => pathMatch("[", "x"), (e: unknown) => e instanceof CoveError && e.kind === "invalid");
  assert.throws(() => pathMatch("[]", "x"), (e: unknown) => e instanceof CoveError && e.kind === "invalid");
  const ref = parseNormalizedNamed("busybox:1.36");
  assert.equal(familiarMatch("busybox", ref), true); // falls back to the name alone
  assert.equal(familiarMatch("busybox:1.*", ref), true);
  assert.equal(familiarMatch("busybox:2*", ref), false);
});

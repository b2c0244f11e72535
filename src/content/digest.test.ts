import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoveError } from "../common/errors.js";
import { Digester, digestOf, isDigest, parseDigest } from "./digest.js";

const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

test("digestOf matches known sha256 and sha512 values", () => {
  assert.equal(digestOf(""), EMPTY_SHA256);
  assert.equal(
    digestOf("abc", "sha512"),
    "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
  );
});

test("digestOf agrees with sha256sum", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "cove-digest-"));
  try {
    const data = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const file = path.join(dir, "blob");
    writeFileSync(file, data);
    const out = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
    assert.equal(digestOf(data), `sha256:${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("parseDigest accepts sha256 and sha512", () => {
  assert.deepEqual(parseDigest(EMPTY_SHA256), { algorithm: "sha256", hex: EMPTY_SHA256.slice(7) });
  const d512 = digestOf("x", "sha512");
  assert.equal(parseDigest(d512).algorithm, "sha512");
  assert.equal(parseDigest(d512).hex.length, 128);
});

const bad: Array<[unknown, string, string]> = [
  ["", "invalid", "digest.invalid"],
  [42, "invalid", "digest.invalid"],
  ["sha256", "invalid", "digest.invalid"],
  ["sha256:", "invalid", "digest.invalid"],
  [":abc", "invalid", "digest.invalid"],
  ["sha256:abc", "invalid", "digest.invalid"], // too short
  [EMPTY_SHA256 + "00", "invalid", "digest.invalid"], // too long
  [EMPTY_SHA256.toUpperCase().replace("SHA256", "sha256"), "invalid", "digest.invalid"], // uppercase hex
  ["SHA256:" + EMPTY_SHA256.slice(7), "invalid", "digest.invalid"], // uppercase algorithm
  ["sha256:" + "g".repeat(64), "invalid", "digest.invalid"],
  ["sha512:" + "a".repeat(64), "invalid", "digest.invalid"],
  ["md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported", "digest.unsupported-algorithm"],
];

for (const [input, kind, code] of bad) {
  test(`parseDigest rejects ${JSON.stringify(input)}`, () => {
    assert.throws(
      () => parseDigest(input, "config.digest"),
      (err: unknown) => err instanceof CoveError && err.kind === kind && err.code === code && err.field === "config.digest",
    );
    assert.equal(isDigest(input), false);
  });
}

test("Digester gives the running digest without ending the hash", () => {
  const d = new Digester();
  d.update(Buffer.from("ab"));
  assert.equal(d.digest(), digestOf("ab"));
  d.update(Buffer.from("c"));
  assert.equal(d.digest(), digestOf("abc"));
  assert.equal(d.size, 3);
});

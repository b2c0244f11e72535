import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { CoveError } from "../common/errors.js";
import { chainID, chainIDs, imageID, shortID } from "./ids.js";

function sha256sum(input: string | Buffer): string {
  return "sha256:" + execFileSync("sha256sum", { input, encoding: "utf8" }).split(" ")[0];
}

const config = Buffer.from(
  '{"architecture":"amd64","config":{"Cmd":["sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"created":"2024-01-01T00:00:00Z","history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD rootfs.tar /"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:4e8a2b5e6f2d4c6b8e0a7c2f5e9d1b3a6c8e0f2a4b6d8e0c2a4f6b8d0e2c4a6b"]}}',
);

test("image ID is the sha256 of the config bytes, as sha256sum computes it", () => {
  assert.equal(imageID(config), sha256sum(config));
  // Any byte change (even whitespace) changes the ID: the bytes are hashed, not the JSON.
  assert.notEqual(imageID(Buffer.from(config.toString() + "\n")), imageID(config));
});

test("chain IDs follow OCI config.md, cross-checked with sha256sum", () => {
  const l0 = "sha256:" + "1".repeat(64);
  const l1 = "sha256:" + "2".repeat(64);
  const l2 = "sha256:" + "3".repeat(64);
  const c1 = sha256sum(`${l0} ${l1}`);
  const c2 = sha256sum(`${c1} ${l2}`);
  assert.equal(chainID([l0]), l0);
  assert.equal(chainID([l0, l1]), c1);
  assert.equal(chainID([l0, l1, l2]), c2);
  assert.deepEqual(chainIDs([l0, l1, l2]), [l0, c1, c2]);
  // A known value (computed once with: printf '%s %s' L0 L1 | sha256sum).
  assert.equal(c1, "sha256:9932074217c35353d2e03a3f5a86549f7c67bfeb0ba53e23d69f4d4c8f7958f5");
});

test("chain ID rejects empty and malformed input", () => {
  assert.throws(() => chainID([]), (e: unknown) => e instanceof CoveError && e.code === "image.no-layers");
  assert.throws(() => chainID(["sha256:xyz"]), (e: unknown) => e instanceof CoveError && e.field === "rootfs.diff_ids[0]");
});

test("short ID is 12 hex characters", () => {
  assert.equal(shortID("sha256:" + "0123456789ab".repeat(5) + "cdef"), "0123456789ab");
});

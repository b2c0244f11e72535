import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { blowfishInit, bcryptHash, bcryptVerify, isBcrypt } from "./bcrypt.js";

// Hashes made by other implementations: OpenBSD's test vector, and libxcrypt's (Python's crypt).
const VECTORS: [string, string][] = [
  ["U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"],
  ["", "$2b$04$abcdefghijklmnopqrstuubyCG3zY1GIXMyxfivm.ClDiInHzxjiq"],
  ["s3cret", "$2y$06$0123456789ABCDEFGHIJK.Cid5b38D/IVmNLQiH.u06rreHpbE1RO"],
  ["pässwörd", "$2b$05$zzzzzzzzzzzzzzzzzzzzzuecfpr0aal0HMebBj8gxr8C048FfB4IS"],
  ["x".repeat(80), "$2b$04$......................SZFhVdUK5wGKY4lx/QrgUMHG0XsWjbi"],
];

describe("bcrypt", () => {
  it("computes Blowfish's initial state from pi", () => {
    const w = blowfishInit();
    assert.equal(w.length, 18 + 1024);
    // P[0], P[17], S0[0] and S3[255] as Blowfish's reference tables list them
    assert.deepEqual([w[0], w[17], w[18], w[1041]].map((x) => x!.toString(16)), ["243f6a88", "8979fb1b", "d1310ba6", "3ac372e6"]);
  });

  it("hashes as OpenBSD's and libxcrypt's bcrypt do", () => {
    for (const [password, hash] of VECTORS) {
      assert.equal(bcryptHash(password, hash), hash, password);
      assert.equal(bcryptVerify(password, hash), true, password);
    }
  });

  it("normalizes a salt's unused bits as the C implementations do", () => {
    assert.equal(bcryptHash("s3cret", "$2y$06$0123456789ABCDEFGHIJKL"), VECTORS[2]![1]);
  });

  it("uses only the first 72 bytes of a password", () => {
    assert.equal(bcryptVerify("x".repeat(72) + "y", VECTORS[4]![1]), true);
    assert.equal(bcryptVerify("x".repeat(71), VECTORS[4]![1]), false);
  });

  it("refuses wrong passwords and what is not bcrypt", () => {
    assert.equal(bcryptVerify("U*V", VECTORS[0]![1]), false);
    assert.equal(bcryptVerify("U*U", "$1$abc$def"), false);
    assert.equal(bcryptVerify("U*U", VECTORS[0]![1].slice(0, -1)), false);
    assert.equal(isBcrypt("$2b$03$abcdefghijklmnopqrstuubyCG3zY1GIXMyxfivm.ClDiInHzxjiq"), false); // cost below 4
    assert.throws(() => bcryptHash("x", "$5$rounds"), /not a bcrypt setting/);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bcryptVerify, isBcrypt } from "./bcrypt.js";

// Hashes made by other implementations: OpenBSD's test vector, and libxcrypt's (Python's crypt).
const VECTORS: [string, string][] = [
  ["U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"],
  ["", "$2b$04$abcdefghijklmnopqrstuubyCG3zY1GIXMyxfivm.ClDiInHzxjiq"],
  ["s3cret", "$2y$06$0123456789ABCDEFGHIJK.Cid5b38D/IVmNLQiH.u06rreHpbE1RO"],
  ["pässwörd", "$2b$05$zzzzzzzzzzzzzzzzzzzzzuecfpr0aal0HMebBj8gxr8C048FfB4IS"],
  ["x".repeat(80), "$2b$04$......................SZFhVdUK5wGKY4lx/QrgUMHG0XsWjbi"],
];

describe("bcrypt", () => {
  it("accepts the passwords of hashes OpenBSD's and libxcrypt's bcrypt made ($2a$, $2b$, $2y$)", () => {
    for (const [password, hash] of VECTORS) assert.equal(bcryptVerify(password, hash), true, password);
  });

  it("uses only the first 72 bytes of a password", () => {
    assert.equal(bcryptVerify("x".repeat(72) + "y", VECTORS[4]![1]), true);
    assert.equal(bcryptVerify("x".repeat(71), VECTORS[4]![1]), false);
  });

  it("refuses wrong passwords and what is not bcrypt", () => {
    assert.equal(bcryptVerify("U*V", VECTORS[0]![1]), false);
    assert.equal(bcryptVerify("s3creT", VECTORS[2]![1]), false);
    assert.equal(bcryptVerify("U*U", "$1$abc$def"), false);
    assert.equal(bcryptVerify("U*U", VECTORS[0]![1].slice(0, -1)), false);
    assert.equal(isBcrypt("$2b$03$abcdefghijklmnopqrstuubyCG3zY1GIXMyxfivm.ClDiInHzxjiq"), false); // cost below 4
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { atoi, boolValue, parseBool, parseGoInt, parseUint } from "./strconv.js";

test("parseBool is Go's strconv.ParseBool, with its error", () => {
  for (const v of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parseBool(v), true, v);
  for (const v of ["0", "f", "F", "FALSE", "false", "False"]) assert.equal(parseBool(v), false, v);
  for (const v of ["yes", "tRUE", "", " 1"]) assert.throws(() => parseBool(v), { message: `strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax` });
});

test("parseGoInt and atoi are Go's, with their errors", () => {
  assert.equal(parseGoInt("-12"), -12);
  assert.equal(parseGoInt("+7"), 7);
  assert.equal(atoi("3"), 3);
  assert.throws(() => parseGoInt("1.5"), { message: 'strconv.ParseInt: parsing "1.5": invalid syntax' });
  assert.throws(() => atoi("x"), { message: 'strconv.Atoi: parsing "x": invalid syntax' });
  assert.throws(() => parseGoInt("99999999999999999999"), { message: 'strconv.ParseInt: parsing "99999999999999999999": value out of range' });
});

test("parseUint is Go's strconv.ParseUint (64 bits), with its errors", () => {
  assert.equal(parseUint("0"), 0n);
  assert.equal(parseUint("18446744073709551615"), 18446744073709551615n);
  for (const v of ["", "-1", "+1", "1.0", "x", " 1"]) assert.throws(() => parseUint(v), { message: `strconv.ParseUint: parsing ${JSON.stringify(v)}: invalid syntax` });
  assert.throws(() => parseUint("18446744073709551616"), { message: 'strconv.ParseUint: parsing "18446744073709551616": value out of range' });
});

test("boolValue is moby's query BoolValue", () => {
  for (const v of ["1", "true", "True", "yes", "anything"]) assert.equal(boolValue(v), true, v);
  for (const v of ["", "0", "false", "FALSE", "no", "none", " 0 ", undefined, null]) assert.equal(boolValue(v), false, String(v));
});

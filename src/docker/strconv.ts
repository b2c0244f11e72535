// Go's strconv as Docker's code uses it on both sides, with Go's error texts (the docker CLI
// prints them inside its flag errors, dockerd inside its 400s), and moby's looser query booleans.

import { invalid } from "../common/errors.js";

function syntaxError(fn: string, text: string) {
  return invalid(`strconv.${fn}: parsing ${JSON.stringify(text)}: invalid syntax`, { code: "strconv.syntax" });
}

/** Go's strconv.ParseBool: 1, t, T, TRUE, true, True and their false forms; anything else throws Go's error. */
export function parseBool(text: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw syntaxError("ParseBool", text);
}

function parseInteger(fn: string, text: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw syntaxError(fn, text);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw invalid(`strconv.${fn}: parsing ${JSON.stringify(text)}: value out of range`, { code: "strconv.range" });
  return n;
}

/** Go's strconv.ParseInt (base 10). */
export function parseGoInt(text: string): number {
  return parseInteger("ParseInt", text);
}

/** Go's strconv.ParseUint (base 10, 64 bits): digits only, no sign; returned as a bigint. */
export function parseUint(text: string): bigint {
  if (!/^\d+$/.test(text)) throw syntaxError("ParseUint", text);
  const n = BigInt(text);
  if (n > 0xffff_ffff_ffff_ffffn) throw invalid(`strconv.ParseUint: parsing ${JSON.stringify(text)}: value out of range`, { code: "strconv.range" });
  return n;
}

/** Go's strconv.Atoi. */
export function atoi(text: string): number {
  return parseInteger("Atoi", text);
}

/** moby's httputils.BoolValue for query strings: anything but "", "0", "no", "false", "none" (any case, trimmed) is true. */
export function boolValue(v: string | null | undefined): boolean {
  const s = (v ?? "").trim().toLowerCase();
  return !(s === "" || s === "0" || s === "no" || s === "false" || s === "none");
}

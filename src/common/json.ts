// Bounds on JSON that comes from outside (request bodies, image configs and manifests). V8's
// JSON.parse takes any depth, but JSON.stringify, structuredClone and every recursive walk of the
// result overflow the stack somewhere between 3,000 and 10,000 levels: a document that deep, once
// stored in a record, breaks every later listing or inspect of it. No document cove accepts needs
// more than a dozen levels, so anything past MAX_JSON_DEPTH is refused before it is parsed.

/** The deepest nesting of arrays and objects accepted in JSON from outside. */
export const MAX_JSON_DEPTH = 100;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Where JSON text first nests arrays and objects deeper than `max`: the offset of the bracket
 * that goes too deep, or undefined when it stays within. One pass, no recursion; brackets inside
 * strings do not count. Works on UTF-8 bytes (a multi-byte character never contains an ASCII
 * byte) or on a string. Malformed JSON is for JSON.parse to report.
 */
export function jsonTooDeepAt(text: Uint8Array | string, max = MAX_JSON_DEPTH): number | undefined {
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > max) return i;
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) depth--;
  }
  return undefined;
}

// Loading a bundle's config.json: read it, parse it with errors that point at a line and column,
// validate it (validate.ts) and resolve the root filesystem against the bundle.

import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fromErrno, invalid, notFound } from "../../common/errors.js";
import type { Spec } from "../spec.js";
import { validateBundleSpec } from "./validate.js";

/**
 * Reads, parses and validates `<bundleDir>/config.json`. Returns the spec and the absolute,
 * symlink-free path of its root filesystem. Throws CoveError: not-found (code "config.missing")
 * when the bundle or its config.json is missing, invalid (code "config.syntax") for malformed
 * JSON with line and column, invalid (code "config.invalid") listing every problem otherwise.
 */
export async function loadConfig(bundleDir: string): Promise<{ spec: Spec; rootfs: string }> {
  const bundle = path.resolve(bundleDir);
  const file = path.join(bundle, "config.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      const bundleExists = await stat(bundle).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!bundleExists) {
        throw notFound(`bundle ${bundle} does not exist or is not a directory`, {
          code: "config.missing",
          hint: "pass the directory that holds config.json and the rootfs (--bundle)",
          cause: err,
        });
      }
      throw notFound(`no config.json in bundle ${bundle}: run \`cove runtime spec\` to create one`, {
        code: "config.missing",
        hint: `cd ${bundle} && cove runtime spec`,
        cause: err,
      });
    }
    if (code === "EISDIR") throw invalid(`${file} is a directory, not a file`, { code: "config.invalid", hint: "config.json must be a JSON file" });
    throw fromErrno(err, `reading ${file}`);
  }
  const doc = parseJson(text, "config.json", bundle);
  const { spec, rootfs } = validateBundleSpec(doc, { bundle });
  // validateBundleSpec resolves rootfs whenever a bundle is given and reports a problem otherwise.
  return { spec, rootfs: rootfs ?? path.resolve(bundle, spec.root?.path ?? "rootfs") };
}

/**
 * loadConfig for a spec the caller holds in memory (the engine's, which it also wrote to the
 * bundle's config.json for tools): validated the same way, without reading the file back.
 */
export function checkConfig(spec: Spec, bundleDir: string): { spec: Spec; rootfs: string } {
  const bundle = path.resolve(bundleDir);
  const { rootfs } = validateBundleSpec(spec, { bundle });
  return { spec, rootfs: rootfs ?? path.resolve(bundle, spec.root?.path ?? "rootfs") };
}

/** JSON.parse, with a syntax error that names the line and column. */
export function parseJson(text: string, name: string, bundle?: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const where = bundle !== undefined ? `${name} in bundle ${bundle}` : name;
    const found = findSyntaxError(text);
    const { line, column } = lineColumn(text, found?.offset ?? text.length);
    const what = found?.message ?? (err as Error).message;
    throw invalid(`${where} is not valid JSON: line ${line}, column ${column}: ${what}`, {
      code: "config.syntax",
      field: "",
      hint: "fix the JSON (a linter such as `jq . config.json` shows the spot), or regenerate it with `cove runtime spec`",
      cause: err,
    });
  }
}

/** 1-based line and column (in characters) of `offset` in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/**
 * Finds the first JSON syntax error in `text`, as an offset and a short description. V8's messages
 * do not always carry a position, so this small scanner locates it. Returns undefined for valid
 * JSON.
 */
export function findSyntaxError(text: string): { offset: number; message: string } | undefined {
  let i = 0;
  class Stop {
    constructor(
      readonly offset: number,
      readonly message: string,
    ) {}
  }
  const fail = (message: string, at = i): never => {
    throw new Stop(at, message);
  };
  const describeAt = (): string => (i >= text.length ? "unexpected end of input" : `unexpected ${JSON.stringify(text[i])}`);
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    for (let k = 0; k < word.length; k++) {
      if (text[i + k] !== word[k]) fail(`invalid literal: expected ${word}`, i);
    }
    i += word.length;
  };
  const string = () => {
    i++; // opening quote
    while (true) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("invalid \\u escape in string");
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail("invalid escape in string");
      } else if (c < " ") fail("control character in string (escape it, e.g. \\n)");
      else i++;
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === "" || m[0] === "-") fail("invalid number");
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      let comma = -1;
      while (true) {
        ws();
        if (text[i] === "}" && comma >= 0) fail("trailing comma before }", comma);
        if (text[i] !== '"') fail(`expected a "quoted" property name, ${describeAt()}`);
        string();
        ws();
        if (text[i] !== ":") fail(`expected ':' after the property name, ${describeAt()}`);
        i++;
        value();
        ws();
        if (text[i] === ",") {
          comma = i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail(`expected ',' or '}' in object, ${describeAt()}`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      let comma = -1;
      while (true) {
        ws();
        if (text[i] === "]" && comma >= 0) fail("trailing comma before ]", comma);
        value();
        ws();
        if (text[i] === ",") {
          comma = i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail(`expected ',' or ']' in array, ${describeAt()}`);
      }
    }
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number();
    fail(`expected a value, ${describeAt()}`);
  };
  try {
    if (text.charCodeAt(0) === 0xfeff) fail("byte order mark at the start (save the file as UTF-8 without BOM)", 0);
    value();
    ws();
    if (i < text.length) fail(`unexpected ${JSON.stringify(text[i])} after the end of the document`);
    return undefined;
  } catch (e) {
    if (e instanceof Stop) return { offset: e.offset, message: e.message };
    throw e;
  }
}

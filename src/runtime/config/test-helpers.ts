// Helpers shared by this folder's unit tests: the schema test documents and throwaway bundles.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CoveError } from "../../common/errors.js";

/** src/runtime/config/testdata, found from the compiled test in dist/ or from the source. */
export function testdataDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return path.join(dir, "src", "runtime", "config", "testdata");
  }
  throw new Error(`no package.json above ${here}`);
}

/** The OCI spec's schema test documents of one kind ("config", "features", "state"). */
export function schemaTestFiles(kind: string, verdict: "good" | "bad"): { name: string; text: string }[] {
  const dir = path.join(testdataDir(), "oci-schema-test", kind, verdict);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((name) => ({ name, text: readFileSync(path.join(dir, name), "utf8") }));
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix = "cove-config-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A bundle with a rootfs directory and, when given, a config.json holding `config`. */
export function makeBundle(dir: string, config?: unknown): string {
  mkdirSync(path.join(dir, "rootfs"), { recursive: true });
  if (config !== undefined) writeFileSync(path.join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config, null, 2));
  return dir;
}

/** Runs fn, which must throw a CoveError, and returns it. */
export function catchCove(fn: () => unknown): CoveError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CoveError) return err;
    throw err;
  }
  throw new Error("expected a CoveError, but nothing was thrown");
}

/** The `<field>: <message>` lines of a config error, without the "config.json: " prefix. */
export function problemLines(err: CoveError): string[] {
  return err.message.split("\n").map((l) => l.replace(/^config\.json: /, ""));
}

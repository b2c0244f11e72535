// The library example in README.md cannot rot: this test takes the TypeScript block that follows
// the marker comment, type-checks and compiles it as a user's file importing "cove" (the package
// resolves to itself by name), and runs it as root on a temp root with the busybox image saved
// the way the README says, checking what it prints.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import ts from "typescript";
import { Engine } from "../../src/index.js";
import { ImageService } from "../../src/images/service.js";
import { unmountAll } from "../../src/snapshots/index.js";
import { findBusybox, importBusybox, tempDir } from "../images/fixtures.js";

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const MARKER = "<!-- test/engine/readme-example.test.ts extracts, compiles and runs the next block -->";

/** The ```ts block right after the marker. */
export function extractExample(readme: string): string {
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no "${MARKER}"`);
  const m = /^```ts\n([\s\S]*?)^```$/m.exec(readme.slice(at + MARKER.length));
  if (!m || readme.slice(at + MARKER.length, at + MARKER.length + m.index).trim() !== "") throw new Error("the marker must be followed by a ```ts block");
  return m[1]!;
}

/** Compiles file with the project's compiler options; returns the diagnostics as text. */
function compile(file: string, outDir: string): string {
  const config = ts.readConfigFile(path.join(REPO, "tsconfig.json"), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, REPO);
  const options: ts.CompilerOptions = { ...parsed.options, rootDir: path.dirname(file), outDir, declaration: false, sourceMap: false, noEmitOnError: true };
  const program = ts.createProgram([file], options);
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  return ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => REPO, getNewLine: () => "\n" });
}

const skip = process.getuid?.() !== 0 ? "needs root (containers)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

describe("the README's library example", { skip }, () => {
  let base = "";
  // inside the package, so that `import ... from "cove"` resolves to this checkout
  const work = path.join(REPO, "dist", `readme-example-${process.pid}`);
  const exampleRoot = () => path.join(base, "example-root");

  before(async () => {
    base = await tempDir();
    await mkdir(work, { recursive: true });
  });

  after(async () => {
    // containers a failed run left behind, then mounts, then files
    if (base) {
      const engine = await Engine.open({ root: exampleRoot() }).catch(() => undefined);
      if (engine) {
        for (const c of await engine.containers.list({ all: true })) await engine.containers.remove(c.Id, { force: true }).catch(() => undefined);
        await engine.close();
      }
      const mounts = readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[4] ?? "")
        .filter((m) => m.startsWith(base))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) unmountAll(m, 2);
      await rm(base, { recursive: true, force: true });
    }
    await rm(work, { recursive: true, force: true });
  });

  it("compiles as a user's file and runs, printing what it promises", async () => {
    const source = extractExample(await readFile(path.join(REPO, "README.md"), "utf8"));
    assert.match(source, /from "cove"/, "the example imports the package by name");
    const file = path.join(work, "example.ts");
    await writeFile(file, source);
    const diagnostics = compile(file, work);
    assert.equal(diagnostics, "", "the example type-checks");

    // the image, saved as `cove save -o busybox.tar busybox` would save it
    const images = await ImageService.open({ root: path.join(base, "image-source") });
    await importBusybox(images);
    const archive = path.join(base, "busybox.tar");
    const out = createWriteStream(archive);
    await images.save(["busybox"], out);
    await new Promise<void>((resolve, reject) => out.on("error", reject).end(resolve));

    const { stdout } = await run(process.execPath, [path.join(work, "example.js")], {
      env: { ...process.env, EXAMPLE_ROOT: exampleRoot(), EXAMPLE_IMAGE: archive },
      timeout: 120_000,
    });
    const lines = stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^exit 0: hello from [0-9a-f]{12}$/);
    assert.match(lines[1]!, /^memory: \d+ of 67108864 bytes$/);
    assert.deepEqual(lines.slice(2), ["tick 1", "tick 2", "tick 3", "event: start", "event: die"]);
  });
});

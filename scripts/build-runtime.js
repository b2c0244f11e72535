// Builds cove-runtime's fast-starting forms in dist/runtime/, which the launcher (written by
// scripts/write-launcher.sh, or scripts/cove-runtime-launcher.sh in the npm package) prefers:
//
//   cove-runtime.cjs       esbuild's one-file bundle of src/cli/runtime-bundle.ts (from the
//                          compiled dist/src/): node loads one script instead of resolving and
//                          reading a module file per import.
//   cove-runtime.blob      a V8 startup snapshot node --build-snapshot makes from that script: the
//                          heap with all of it loaded, which node starts from (a container engine
//                          runs the runtime once per operation; loading its code was most of that).
//   cove-runtime.blob.node the node that built the blob: its version and path, and its binary's
//                          modification time as this file's own, which the launcher compares
//                          without running anything: a blob only starts the node that made it.
//
// Usage: node scripts/build-runtime.js [bundle|snapshot|all]   (default all)
//   bundle needs esbuild (a devDependency: the build, npm pack); snapshot needs only node, so the
//   npm package's install step builds its blob where it is installed, with the node installing it.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const RUNTIME_DIR = path.join(root, "dist", "runtime");
export const BUNDLE = path.join(RUNTIME_DIR, "cove-runtime.cjs");
export const BLOB = path.join(RUNTIME_DIR, "cove-runtime.blob");
export const BLOB_NODE = `${BLOB}.node`;

/**
 * Bundles `entry` (a compiled module under dist/) with everything it imports but node's builtins
 * into one CommonJS script at `outfile`.
 */
export async function bundle(entry = path.join(root, "dist", "src", "cli", "runtime-bundle.js"), outfile = BUNDLE) {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: compile first (npx tsc -p .)`);
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch (err) {
    throw new Error(`esbuild is not installed (${err.message.split("\n")[0]}): run npm install in ${root}`);
  }
  mkdirSync(path.dirname(outfile), { recursive: true });
  const built = await esbuild.build({
    write: false,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    // CommonJS: node --build-snapshot takes a script, not a module
    format: "cjs",
    target: "node20",
    // the runtime imports no package (ajv's validators are compiled ahead of time); anything that
    // would be is left to node, as it is for the compiled modules
    packages: "external",
    // import() of a builtin becomes require(): a snapshot's code has no dynamic import at all
    // ("A dynamic import callback was not specified"); the bundled modules' imports are inlined
    supported: { "dynamic-import": false },
    // import.meta does not exist in a script: the code that finds the package root from its
    // module's place (the addon, the shim, the build info) gets the bundle's place instead, which
    // is as deep under the package root as needed for those walks (they look upwards)
    define: { "import.meta.url": "__coveBundleUrl" },
    banner: { js: 'var __coveBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
    logLevel: "warning",
  });
  // renamed into place: a launcher starting meanwhile reads the old file or the new one, whole
  const tmp = `${outfile}.tmp`;
  writeFileSync(tmp, built.outputFiles[0].contents);
  renameSync(tmp, outfile);
  return outfile;
}

/**
 * Builds the startup snapshot of `script` with this node, then records which node made it. The
 * old blob goes first, so a failed build leaves none rather than a stale one. The build runs
 * with an environment of PATH alone: nothing of this shell's (COVE_TRACE, say) is kept in the heap.
 */
export function snapshot(script = BUNDLE, blob = BLOB) {
  if (!existsSync(script)) throw new Error(`${script} is missing: build it first (node scripts/build-runtime.js bundle)`);
  const stamp = `${blob}.node`;
  rmSync(stamp, { force: true });
  rmSync(blob, { force: true });
  const tmp = `${blob}.tmp`;
  execFileSync(process.execPath, ["--snapshot-blob", tmp, "--build-snapshot", script], {
    cwd: path.dirname(script),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  renameSync(tmp, blob);
  writeFileSync(stamp, `${process.version} ${process.execPath}\n`);
  // the stamp takes node's own modification time, to the nanosecond (touch does; utimes in
  // JavaScript rounds through a double)
  execFileSync("touch", ["-r", process.execPath, stamp]);
  return blob;
}

async function main() {
  const what = process.argv[2] ?? "all";
  if (!["bundle", "snapshot", "all"].includes(what)) throw new Error(`usage: node scripts/build-runtime.js [bundle|snapshot|all] (not ${what})`);
  if (what !== "snapshot") {
    // a blob of an older bundle must not outlive it
    rmSync(BLOB_NODE, { force: true });
    rmSync(BLOB, { force: true });
    process.stdout.write(`build-runtime: ${path.relative(root, await bundle())}\n`);
  }
  if (what !== "bundle") process.stdout.write(`build-runtime: ${path.relative(root, snapshot())} (node ${process.version})\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`build-runtime: ${err.message}\n`);
    process.exit(1);
  });
}

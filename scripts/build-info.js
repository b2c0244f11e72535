// Records what build dist/ holds in dist/build-info.json: the package's version, the git commit
// of the checkout (with "-dirty" when it has uncommitted changes) and the time. `npm pack` runs it
// (prepack), because the package it makes has no .git for `cove version` to read.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const git = (...args) => execFileSync("git", ["-C", root, ...args], { encoding: "utf8" }).trim();
let commit;
try {
  commit = git("rev-parse", "--short=7", "HEAD");
  if (git("status", "--porcelain", "--untracked-files=no") !== "") commit += "-dirty";
} catch (err) {
  process.stderr.write(`build-info: no git commit recorded (${err.message.split("\n")[0]})\n`);
  commit = "unknown";
}
const { version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
mkdirSync(path.join(root, "dist"), { recursive: true });
const info = { version, commit, built: new Date().toISOString() };
writeFileSync(path.join(root, "dist", "build-info.json"), JSON.stringify(info, null, 2) + "\n");
process.stdout.write(`build-info: cove ${version}, commit ${commit}\n`);

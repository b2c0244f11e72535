// What build of cove is running: its version (package.json's), the git commit it was built
// from and when. A checkout answers from its .git (a linked worktree's too); an installed
// package has no .git, so `npm pack` records the three in dist/build-info.json
// (scripts/build-info.js, run by prepack) and that file answers there.

import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isErrno } from "./errors.js";
import { ignored } from "./ignore.js";

export interface BuildInfo {
  version: string;
  /** The commit's short hash (7 digits), "unknown" when neither .git nor build-info.json tells it. */
  commit: string;
  /** When the build was made (ISO 8601), "" when unknown. */
  built: string;
}

/** The package root: the directory above dist/ (or above src/ under a TypeScript runner). */
export function installRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = path.dirname(from);
  for (let i = 0; i < 5; i++) {
    if (exists(path.join(dir, "package.json"))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(from), "../../..");
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch (err) {
    if (!isErrno(err, "ENOENT", "ENOTDIR")) ignored(`look for ${file}`, err);
    return false;
  }
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if (!isErrno(err, "ENOENT", "ENOTDIR", "EISDIR")) ignored(`read ${file} for cove's build information`, err);
    return undefined;
  }
}

const HASH = /^[0-9a-f]{40}$/;

/** The commit HEAD names in the git directory of a checkout at root (read without running git), or undefined. */
export function gitCommitAt(root: string): string | undefined {
  let gitDir = path.join(root, ".git");
  const dotGit = read(gitDir);
  if (dotGit !== undefined) {
    // a linked worktree: ".git" is a file naming its git directory
    const m = /^gitdir: (.+)$/m.exec(dotGit);
    if (!m) return undefined;
    gitDir = path.resolve(root, m[1]!.trim());
  }
  const head = read(path.join(gitDir, "HEAD"))?.trim();
  if (!head) return undefined;
  if (HASH.test(head)) return head.slice(0, 7);
  const ref = /^ref: (.+)$/.exec(head)?.[1];
  if (!ref) return undefined;
  // a worktree's branches live in the main repository's directory, named by "commondir"
  const common = read(path.join(gitDir, "commondir"))?.trim();
  const dirs = [gitDir, ...(common ? [path.resolve(gitDir, common)] : [])];
  for (const dir of dirs) {
    const loose = read(path.join(dir, ref))?.trim();
    if (loose && HASH.test(loose)) return loose.slice(0, 7);
    const line = (read(path.join(dir, "packed-refs")) ?? "").split("\n").find((l) => l.endsWith(` ${ref}`));
    if (line && HASH.test(line.slice(0, 40))) return line.slice(0, 7);
  }
  return undefined;
}

let cached: BuildInfo | undefined;

/** This build's version, commit and build time. */
export function buildInfo(root: string = installRoot()): BuildInfo {
  if (cached && root === installRoot()) return cached;
  let version = "0.0.0";
  try {
    version = (JSON.parse(read(path.join(root, "package.json")) ?? "{}") as { version?: string }).version ?? version;
  } catch (err) {
    ignored(`parse ${path.join(root, "package.json")} for cove's version`, err);
  }
  let recorded: Partial<BuildInfo> = {};
  const text = read(path.join(root, "dist", "build-info.json"));
  if (text !== undefined) {
    try {
      recorded = JSON.parse(text) as Partial<BuildInfo>;
    } catch (err) {
      ignored(`parse ${path.join(root, "dist", "build-info.json")}`, err);
    }
  }
  // a checkout's own .git is newer than a build-info.json left by an earlier `npm pack`
  const commit = gitCommitAt(root) ?? recorded.commit ?? "unknown";
  let built = recorded.built ?? "";
  if (!built) {
    try {
      built = statSync(fileURLToPath(import.meta.url)).mtime.toISOString();
    } catch (err) {
      ignored("read the build time of cove's own module", err);
    }
  }
  const info = { version, commit, built };
  if (root === installRoot()) cached = info;
  return info;
}

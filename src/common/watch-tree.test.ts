import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { watchTree } from "./watch-tree.js";

/** Waits until seen has every path (bounded: a busy machine delays inotify, it does not lose events). */
async function until(seen: Set<string>, want: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!want.every((w) => seen.has(w))) {
    assert.ok(Date.now() < deadline, `saw ${[...seen].join(", ")}; wanted ${want.join(", ")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("watchTree", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cove-watch-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("sees writes deep in the tree, files in directories made after it started, and removals", async () => {
    const root = path.join(dir, "tree");
    mkdirSync(path.join(root, "a", "b"), { recursive: true });
    writeFileSync(path.join(root, "a", "b", "f"), "1");
    const seen = new Set<string>();
    const w = watchTree(root, (rel) => seen.add(rel));
    try {
      // written right after watchTree returns: already watched
      writeFileSync(path.join(root, "a", "b", "f"), "2");
      await until(seen, [path.join("a", "b", "f")]);
      // a new directory and a file made in it at once (before its own watch can exist)
      mkdirSync(path.join(root, "n", "m"), { recursive: true });
      writeFileSync(path.join(root, "n", "m", "x"), "x");
      await until(seen, ["n", path.join("n", "m", "x")]);
      // and a later write there is seen by the new directory's own watch
      seen.clear();
      writeFileSync(path.join(root, "n", "m", "x"), "y");
      await until(seen, [path.join("n", "m", "x")]);
      rmSync(path.join(root, "a", "b", "f"));
      await until(seen, [path.join("a", "b", "f")]);
    } finally {
      w.close();
    }
  });

  it("watches a single file by its base name", async () => {
    const file = path.join(dir, "one.txt");
    writeFileSync(file, "1");
    const seen = new Set<string>();
    const w = watchTree(file, (rel) => seen.add(rel));
    try {
      writeFileSync(file, "2");
      await until(seen, ["one.txt"]);
    } finally {
      w.close();
    }
  });
});

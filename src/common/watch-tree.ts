// A directory tree watched for changes with one inotify watch per directory. Node 20's
// fs.watch(dir, {recursive: true}) on Linux walks the tree asynchronously and polls files every
// five seconds (nodejs/node#48437): a change made while it sets up, or in a directory made
// after, can be missed. Here the tree is walked synchronously before watchTree returns, a
// directory that appears is watched at once and walked, and what was already in it is reported
// as changed, so no file written after watchTree returns goes unseen.

import { readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import path from "node:path";

export interface TreeWatcher {
  close(): void;
}

/**
 * Calls onChange with the path (relative to root, with the platform's separator) of every file or
 * directory created, written, renamed or removed under root. A root that is a file is watched as
 * that file (onChange gets its base name).
 */
export function watchTree(root: string, onChange: (rel: string) => void, onError: (err: Error) => void = () => undefined): TreeWatcher {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  const isDir = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  if (!isDir(root)) {
    const w = watch(root, () => onChange(path.basename(root)));
    w.on("error", onError);
    return { close: () => w.close() };
  }
  /** Watches dir and everything under it; report: what is found there counts as changed. */
  const add = (dir: string, report: boolean) => {
    if (closed || watchers.has(dir)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, (_event, name) => {
        if (name === null) return;
        const full = path.join(dir, String(name));
        onChange(path.relative(root, full));
        if (isDir(full)) add(full, true);
        else if (watchers.has(full)) remove(full);
      });
    } catch (err) {
      // gone again before it could be watched: its removal is reported by its parent
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    w.on("error", (err) => {
      remove(dir);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && (err as NodeJS.ErrnoException).code !== "EPERM") onError(err);
    });
    watchers.set(dir, w);
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e);
      if (report) onChange(path.relative(root, full));
      if (isDir(full)) add(full, report);
    }
  };
  const remove = (dir: string) => {
    for (const [d, w] of watchers) {
      if (d === dir || d.startsWith(dir + path.sep)) {
        w.close();
        watchers.delete(d);
      }
    }
  };
  add(root, false);
  return {
    close: () => {
      closed = true;
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

// File helpers shared by every store: atomic writes (temp file, fsync, rename) so a crash
// never leaves a half-written state file behind.

import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { open, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { isErrno } from "./errors.js";
import { ignored } from "./ignore.js";

let tempCount = 0;

/**
 * A temp file's name beside `file`, unique among concurrent writers (this process's pid and
 * counter, and a random part for writers in other pid namespaces). Not a secret: these files live
 * in cove's own directories. Not from node:crypto, whose loading would cost each short-lived
 * command (`cove runtime create`) a few milliseconds.
 */
function tempName(file: string): string {
  const unique = `${process.pid.toString(36)}-${(tempCount++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return path.join(path.dirname(file), `.${path.basename(file)}.${unique}.tmp`);
}

/** Removes the temp file of a write that failed (it may never have been made); its error is the caller's to throw. */
async function removeTemp(tmp: string): Promise<void> {
  try {
    await unlink(tmp);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) ignored(`remove the temporary file ${tmp} of a failed write`, err);
  }
}

function removeTempSync(tmp: string): void {
  try {
    unlinkSync(tmp);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) ignored(`remove the temporary file ${tmp} of a failed write`, err);
  }
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempName(file);
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await removeTemp(tmp);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await removeTemp(tmp);
    throw err;
  }
}

/**
 * The same as writeFileAtomic, synchronously: for small state files on tmpfs-like state roots (/run), where a
 * thread-pool round trip per step costs more than the write itself.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = tempName(file);
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    removeTempSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
}

/**
 * Replaces a file atomically (temp file, rename) without fsync: for state that describes live
 * processes (a runtime's state directory, normally on tmpfs), which a power loss makes moot
 * anyway. A reader sees the old or the new content, never a torn one; the caller does not wait
 * for the disk, which matters when the state root is on a busy disk and the write blocks the
 * event loop.
 */
export function replaceFileSync(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = tempName(file);
  try {
    writeFileSync(tmp, data, { mode });
    renameSync(tmp, file);
  } catch (err) {
    removeTempSync(tmp); // never created, or already renamed
    throw err;
  }
}

/**
 * replaceFileSync's asynchronous twin: temp file and rename, without waiting for the disk: for
 * scratch state that a crash may lose or leave empty, and whose readers take that as "not known"
 * (an ingest's ref and expected size, which only help it resume).
 */
export async function replaceFile(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempName(file);
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, file);
  } catch (err) {
    await removeTemp(tmp);
    throw err;
  }
}

/**
 * Awaits every write, then throws the first failure: unlike Promise.all, no write is still under
 * way when the caller's cleanup removes the directory they write into (on a full disk they fail
 * one by one, and a removal racing a temp file's creation leaves the directory behind).
 */
export async function settleAll(writes: Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(writes);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

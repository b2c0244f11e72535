// File helpers the content store and its writers share.

import { createReadStream, type Stats } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { fromErrno, isErrno } from "../common/errors.js";
import { Digester, type Digest, type DigestAlgorithm } from "./digest.js";

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * stat, or undefined when nothing is there: a blob deleted, an ingest committed or aborted by
 * another writer meanwhile. Any other failure is thrown.
 */
export async function statIfExists(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw fromErrno(err, `reading ${file}`);
  }
}

/** The text of a file, or undefined when it is not there (as statIfExists). */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw fromErrno(err, `reading ${file}`);
  }
}

export async function hashFile(file: string, algorithm: DigestAlgorithm): Promise<{ digest: Digest; size: number }> {
  const d = new Digester(algorithm);
  const stream = createReadStream(file);
  for await (const chunk of stream) d.update(chunk as Buffer);
  return { digest: d.digest(), size: d.size };
}

// Decompression of layer blobs as a stream of chunks: gzip, zstd, or none, chosen by the caller
// or sniffed from the first bytes. A large blob goes through a decompressor process when the host
// has one (igzip from Debian's isal for gzip, as containerd does; zstd's own tool), which inflates
// faster than node:zlib and fzstd and runs on another core beside the daemon's thread that unpacks;
// otherwise, and for small blobs (where starting a process costs more than it saves), in process.

import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { Decompress } from "fzstd";
import { invalid } from "../common/errors.js";
import { ignoring } from "../common/ignore.js";
import { findExecutable } from "../common/process.js";

export type Compression = "auto" | "gzip" | "zstd" | "none";

const GZIP_MAGIC = [0x1f, 0x8b];
/**
 * Output pieces of gunzip: zlib inflates on the thread pool, one round trip per piece, so 256 KiB
 * (not zlib's 16 KiB) keeps a layer's hundreds of megabytes from costing tens of thousands of them.
 */
const GUNZIP_CHUNK = 256 * 1024;
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(b: Buffer, magic: number[]): boolean {
  return b.length >= magic.length && magic.every((m, i) => b[i] === m);
}

async function* chunks(stream: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  for await (const c of stream) {
    if (Buffer.isBuffer(c)) yield c;
    else if (c instanceof Uint8Array) yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    else if (typeof c === "string") yield Buffer.from(c);
    else throw invalid("layer stream yielded something that is not bytes", { code: "layer.corrupt" });
  }
}

/** The first n bytes of bufs (fewer when they hold fewer). */
function prefix(bufs: Buffer[], n: number): Buffer {
  const out: Buffer[] = [];
  let len = 0;
  for (const b of bufs) {
    if (len >= n) break;
    out.push(b);
    len += b.length;
  }
  return Buffer.concat(out).subarray(0, n);
}

/** Collects at least n bytes from the front of the source (fewer at its end). */
async function peek(it: AsyncIterator<Buffer>, n: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const r = await it.next();
    if (r.done) break;
    got.push(r.value);
    len += r.value.length;
  }
  return got;
}

async function* gunzip(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const z = createGunzip({ chunkSize: GUNZIP_CHUNK });
  const input = Readable.from(source);
  input.on("error", (err) => z.destroy(err));
  input.pipe(z);
  try {
    for await (const c of z) yield c as Buffer;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code?.startsWith("Z_") || /unexpected end of file|incorrect header check|invalid/i.test(e.message)) {
      throw invalid(`layer gzip stream is corrupt or truncated: ${e.message}`, {
        code: "layer.corrupt",
        cause: err,
        hint: "the blob is incomplete or corrupt; pull or export it again",
      });
    }
    throw err;
  } finally {
    input.unpipe(z);
    input.destroy();
    z.destroy();
  }
}

async function* unzstd(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let out: Buffer[] = [];
  const d = new Decompress((data) => {
    out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  const push = (c: Uint8Array, final: boolean) => {
    try {
      d.push(c, final);
    } catch (err) {
      throw invalid(`layer zstd stream is corrupt or truncated: ${(err as Error).message}`, {
        code: "layer.corrupt",
        cause: err,
        hint: "the blob is incomplete or corrupt; pull or export it again",
      });
    }
  };
  let ended = false;
  const finalCheck = () => {
    // fzstd accepts a stream cut between frames or blocks without complaint when the last chunk
    // is empty; a truncated frame leaves buffered input, which `final` then rejects.
    push(new Uint8Array(0), true);
    ended = true;
  };
  for await (const c of source) {
    push(c, false);
    if (out.length) {
      const ready = out;
      out = [];
      yield* ready;
    }
  }
  if (!ended) finalCheck();
  yield* out;
}

/** A blob this large or larger goes through a decompressor process, when there is one. */
export const EXTERNAL_MIN_BYTES = 1024 * 1024;

type Compressed = "gzip" | "zstd";

/** The decompressor commands, best first; COVE_DECOMPRESSOR=builtin keeps everything in process. */
const EXTERNAL: Record<Compressed, { name: string; args: string[] }[]> = {
  gzip: [
    { name: "igzip", args: ["-d", "-c"] },
    { name: "unpigz", args: ["-d", "-c"] },
  ],
  zstd: [{ name: "zstd", args: ["-d", "-c", "-q"] }],
};

const found = new Map<Compressed, { path: string; args: string[] } | null>();

/** The decompressor process for kind on this host, looked up once; undefined when there is none. */
export function externalDecompressor(kind: Compressed): { path: string; args: string[] } | undefined {
  if (process.env.COVE_DECOMPRESSOR === "builtin") return undefined;
  let hit = found.get(kind);
  if (hit === undefined) {
    hit = null;
    for (const c of EXTERNAL[kind]) {
      const p = findExecutable(c.name);
      if (p) {
        hit = { path: p, args: c.args };
        break;
      }
    }
    found.set(kind, hit);
  }
  return hit ?? undefined;
}

function corrupt(kind: Compressed, detail: string, cause?: unknown) {
  return invalid(`layer ${kind} stream is corrupt or truncated: ${detail}`, {
    code: "layer.corrupt",
    cause,
    hint: "the blob is incomplete or corrupt; pull or export it again",
  });
}

/**
 * Decompresses source through the command: its input written with backpressure, its output
 * yielded as it comes. A non-zero exit is a corrupt or truncated blob (the tool's own message
 * says which). A consumer that stops early, or a source that fails, ends the process.
 */
async function* throughProcess(kind: Compressed, tool: { path: string; args: string[] }, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const child = spawn(tool.path, tool.args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  // a tool that exits on bad input closes its stdin under the writer: its exit status tells why
  child.stdin.on("error", ignoring(`write a layer blob to ${tool.path} (it exited)`));
  let sourceError: unknown;
  let stopped = false;
  const feeding = (async () => {
    try {
      for await (const c of source) {
        if (stopped) return;
        if (!child.stdin.write(c)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              child.stdin.off("drain", done);
              child.stdin.off("close", done);
              resolve();
            };
            child.stdin.on("drain", done);
            child.stdin.on("close", done);
          });
          if (child.stdin.destroyed) return;
        }
      }
      child.stdin.end();
    } catch (err) {
      sourceError = err;
      child.kill("SIGKILL");
    }
  })();
  let finished = false;
  try {
    for await (const c of child.stdout) yield c as Buffer;
    await feeding;
    const exit = await exited;
    if (sourceError !== undefined) throw sourceError;
    if (exit.error) throw exit.error;
    if (exit.code !== 0) throw corrupt(kind, stderr.trim().split("\n").pop() || `${tool.path} exited with ${exit.code ?? exit.signal}`);
    finished = true;
  } finally {
    if (!finished) {
      // the feeder returns at its next chunk, which closes the source; not waited for, since a
      // source that is still downloading may take a while to give one
      stopped = true;
      child.kill("SIGKILL");
      child.stdin.destroy();
      await exited;
    }
  }
}

/** The decompressed bytes of a layer blob. */
export async function* decompress(stream: AsyncIterable<unknown>, compression: Compression = "auto"): AsyncGenerator<Buffer> {
  let source: AsyncIterable<Buffer> = chunks(stream);
  let kind = compression;
  const externals = kind !== "none" && (kind === "auto" ? externalDecompressor("gzip") ?? externalDecompressor("zstd") : externalDecompressor(kind)) !== undefined;
  // enough of the front to tell the kind and, where a process could decompress it, whether the blob is large
  const wanted = externals ? EXTERNAL_MIN_BYTES : kind === "auto" ? 4 : 0;
  const it = source[Symbol.asyncIterator]();
  const head = wanted > 0 ? await peek(it, wanted) : [];
  const headBytes = head.reduce((n, b) => n + b.length, 0);
  if (kind === "auto") {
    const first = prefix(head, 4);
    kind = startsWith(first, GZIP_MAGIC) ? "gzip" : startsWith(first, ZSTD_MAGIC) ? "zstd" : "none";
  }
  const ended = headBytes < wanted;
  source = (async function* () {
    yield* head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  if (kind === "none") {
    yield* source;
    return;
  }
  const tool = headBytes >= EXTERNAL_MIN_BYTES ? externalDecompressor(kind) : undefined;
  if (tool) yield* throughProcess(kind, tool, source);
  else if (kind === "gzip") yield* gunzip(source);
  else yield* unzstd(source);
}

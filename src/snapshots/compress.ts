// Decompression of layer blobs as a stream of chunks: gzip (node:zlib), zstd (fzstd), or none,
// chosen by the caller or sniffed from the first bytes.

import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { Decompress } from "fzstd";
import { invalid } from "../common/errors.js";

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

/** The decompressed bytes of a layer blob. */
export async function* decompress(stream: AsyncIterable<unknown>, compression: Compression = "auto"): AsyncGenerator<Buffer> {
  let source: AsyncIterable<Buffer> = chunks(stream);
  let kind = compression;
  if (kind === "auto") {
    const it = source[Symbol.asyncIterator]();
    const head = await peek(it, 4);
    const first = Buffer.concat(head);
    kind = startsWith(first, GZIP_MAGIC) ? "gzip" : startsWith(first, ZSTD_MAGIC) ? "zstd" : "none";
    source = (async function* () {
      yield* head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    })();
  }
  if (kind === "gzip") yield* gunzip(source);
  else if (kind === "zstd") yield* unzstd(source);
  else yield* source;
}

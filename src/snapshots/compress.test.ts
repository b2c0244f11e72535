import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { afterEach, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { CoveError } from "../common/errors.js";
import { decompress, EXTERNAL_MIN_BYTES, externalDecompressor } from "./compress.js";

/** Half-compressible bytes (lines of hex digests), large enough compressed to go to a process. */
function sample(bytes = EXTERNAL_MIN_BYTES * 3): Buffer {
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < bytes; i++) {
    const line = `line ${i}: ${createHash("sha256").update(String(i)).digest("hex")}\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join("")).subarray(0, bytes);
}

function zstdSync(input: Buffer): Buffer {
  const r = spawnSync("zstd", ["-c", "-q"], { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

const compressors = { gzip: (b: Buffer) => gzipSync(b), zstd: zstdSync };
const hasZstdTool = spawnSync("sh", ["-c", "command -v zstd"]).status === 0;

async function* pieces(b: Buffer, size = 64 * 1024, failAt?: number): AsyncGenerator<Buffer> {
  for (let off = 0; off < b.length; off += size) {
    if (failAt !== undefined && off >= failAt) throw new Error("the download broke off");
    yield b.subarray(off, off + size);
  }
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

/** The commands of this process's children (every thread's: libuv may spawn from any). */
function childCommands(): string[] {
  const pids = readdirSync("/proc/self/task").flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean));
  return pids.flatMap((p) => {
    try {
      return [readFileSync(`/proc/${p}/comm`, "utf8").trim()];
    } catch {
      return []; // exited meanwhile
    }
  });
}

async function noChildLeft(name: string): Promise<void> {
  for (let i = 0; i < 500 && childCommands().includes(name); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(!childCommands().includes(name), `${name} is still running`);
}

afterEach(() => {
  delete process.env.COVE_DECOMPRESSOR;
});

for (const kind of ["gzip", "zstd"] as const) {
  for (const where of ["in process", "through a process"] as const) {
    const tool = where === "through a process" ? externalDecompressor(kind) : undefined;
    const skip =
      kind === "zstd" && !hasZstdTool
        ? "zstd is missing (apt-get install zstd): the test compresses with it"
        : where === "through a process" && !tool
          ? `no ${kind} decompressor on PATH (${kind === "gzip" ? "apt-get install isal" : "apt-get install zstd"})`
          : false;
    const toolName = tool ? tool.path.split("/").pop()! : "";
    const setMode = () => {
      if (where === "in process") process.env.COVE_DECOMPRESSOR = "builtin";
    };

    describe(`${kind} ${where}`, { skip }, () => {
      it("gives back the bytes, with the kind sniffed or named", async () => {
        setMode();
        const raw = sample();
        const blob = compressors[kind](raw);
        assert.ok(blob.length >= EXTERNAL_MIN_BYTES, "the sample must be large enough to go to a process");
        const seen = new Set<string>();
        const out: Buffer[] = [];
        for await (const c of decompress(pieces(blob), "auto")) {
          for (const cmd of childCommands()) seen.add(cmd);
          out.push(c);
        }
        assert.ok(Buffer.concat(out).equals(raw));
        assert.ok(tool ? seen.has(toolName) : !seen.has("igzip") && !seen.has("zstd"), `children seen: ${[...seen].join(", ")}`);
        assert.ok((await collect(decompress(pieces(blob), kind))).equals(raw));
      });

      it("refuses a truncated blob as corrupt", async () => {
        setMode();
        const blob = compressors[kind](sample());
        await assert.rejects(collect(decompress(pieces(blob.subarray(0, blob.length - 4096)), kind)), (err: unknown) => {
          assert.ok(err instanceof CoveError, String(err));
          assert.equal(err.code, "layer.corrupt");
          assert.match(err.message, new RegExp(`layer ${kind} stream is corrupt or truncated: .+`));
          return true;
        });
        if (tool) await noChildLeft(toolName);
      });

      it("refuses damaged bytes as corrupt, or gives other bytes (which the diff ID then refuses)", async () => {
        setMode();
        const raw = sample();
        const blob = Buffer.from(compressors[kind](raw));
        for (let i = 0; i < 64; i++) blob[Math.floor(blob.length / 2) + i] ^= 0x5a;
        const got = await collect(decompress(pieces(blob), kind)).catch((err: unknown) => {
          assert.ok(err instanceof CoveError && err.code === "layer.corrupt", String(err));
          return undefined;
        });
        // gzip's CRC catches it always; zstd's checksum in the tool, and fzstd (which checks none) may not
        if (kind === "gzip" || tool) assert.equal(got, undefined, "damaged bytes were not refused");
        else if (got) assert.ok(!got.equals(raw));
      });

      it("passes on the source's own failure", async () => {
        setMode();
        const blob = compressors[kind](sample(EXTERNAL_MIN_BYTES * 6));
        await assert.rejects(collect(decompress(pieces(blob, 64 * 1024, blob.length - 64 * 1024), kind)), /the download broke off/);
        if (tool) await noChildLeft(toolName);
      });

      it("stops the work when the reader stops early", async () => {
        setMode();
        const blob = compressors[kind](sample(EXTERNAL_MIN_BYTES * 6));
        let got = 0;
        for await (const c of decompress(pieces(blob), kind)) {
          got += c.length;
          break;
        }
        assert.ok(got > 0);
        if (tool) await noChildLeft(toolName);
      });
    });
  }
}

describe("small blobs", () => {
  it("decompress in process even where a tool exists", async () => {
    const raw = Buffer.from("a small layer\n".repeat(100));
    const seen = new Set<string>();
    const out: Buffer[] = [];
    for await (const c of decompress(pieces(gzipSync(raw)), "auto")) {
      for (const cmd of childCommands()) seen.add(cmd);
      out.push(c);
    }
    assert.ok(Buffer.concat(out).equals(raw));
    assert.ok(!seen.has("igzip") && !seen.has("unpigz"), `children seen: ${[...seen].join(", ")}`);
  });

  it("pass through when not compressed", async () => {
    const raw = sample(EXTERNAL_MIN_BYTES + 10);
    assert.ok((await collect(decompress(pieces(raw), "auto"))).equals(raw));
    assert.ok((await collect(decompress(pieces(raw.subarray(0, 3)), "auto"))).equals(raw.subarray(0, 3)));
    assert.ok((await collect(decompress(pieces(raw), "none"))).equals(raw));
  });
});

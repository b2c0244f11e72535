// Benchmark: load and unpack a Debian image of about 200 MB (one uncompressed layer) from a
// docker-archive, through cove's image service in process (ImageService.load stages the archive,
// checks every blob, unpacks the layer into a committed snapshot and ingests the blobs), through
// `docker load -i` against a private dockerd (docker.io, overlay2), and, as the floor, `tar -x` of
// the same layer into an empty directory. Rounds are interleaved, each on fresh state, with a
// `sync` between steps outside the timings. Prints medians, MB/s and ratios. Not a test: nothing
// here asserts on time.
//
// Inputs are built once per machine under /var/cache/cove-bench/: the rootfs (mmdebstrap minbase
// bookworm + perl, python3-minimal, locales: ~208 MB), cove's `save` of it imported as
// cove-bench/debian:latest, and that archive's layer as a plain tar.

import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import { ImageService } from "../src/images/service.js";
import { cleanup } from "../src/snapshots/testing.js";
import { debianMirror } from "../test/images/fixtures.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../test/support/dockerd.js";

const ROUNDS = Number(process.env.BENCH_IMAGES_ROUNDS ?? 5);
const CACHE = "/var/cache/cove-bench";
const ROOTFS = path.join(CACHE, "debian-bookworm-minbase-perl-python3-locales.tar");
const ARCHIVE = path.join(CACHE, "debian-bench.docker-archive.tar");
const LAYER = path.join(CACHE, "debian-bench.layer.tar");
const REF = "cove-bench/debian:latest";
const INCLUDE = "perl,python3-minimal,locales";

function has(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Builds (once) the rootfs, the archive and its layer; returns a skip reason or undefined. */
async function prepare(): Promise<string | undefined> {
  mkdirSync(CACHE, { recursive: true });
  if (!existsSync(ROOTFS)) {
    if (!has("mmdebstrap")) return "mmdebstrap is not installed (apt-get install -y mmdebstrap)";
    const mirror = await debianMirror();
    if (!mirror) return "no Debian bookworm mirror in /etc/apt/sources.list*";
    console.log(`building ${ROOTFS} with mmdebstrap (once)...`);
    const tmp = `${ROOTFS}.tmp-${process.pid}.tar`;
    try {
      // --format=tar: mmdebstrap otherwise guesses the format from the name (a directory here)
      execFileSync("mmdebstrap", ["--variant=minbase", "--mode=root", "--format=tar", `--include=${INCLUDE}`, "bookworm", tmp, mirror], { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 64 << 20 });
      renameSync(tmp, ROOTFS);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  if (!existsSync(ARCHIVE) || statSync(ARCHIVE).mtimeMs < statSync(ROOTFS).mtimeMs) {
    console.log(`building ${ARCHIVE} (cove import + save, once)...`);
    const dir = mkdtempSync(path.join(tmpdir(), "cove-bench-"));
    const tmp = `${ARCHIVE}.tmp-${process.pid}`;
    try {
      const svc = await ImageService.open({ root: path.join(dir, "root") });
      await svc.importRootfs(createReadStream(ROOTFS), { reference: REF, changes: ['CMD ["bash"]'] });
      const out = createWriteStream(tmp);
      await svc.save([REF], out);
      if (!out.writableFinished) await finished(out);
      renameSync(tmp, ARCHIVE);
    } finally {
      rmSync(tmp, { force: true });
      await cleanup(dir);
    }
    rmSync(LAYER, { force: true });
  }
  if (!existsSync(LAYER)) {
    const manifest = JSON.parse(execFileSync("tar", ["-xOf", ARCHIVE, "manifest.json"], { maxBuffer: 16 << 20 }).toString("utf8")) as { Layers: string[] }[];
    const layers = manifest[0]?.Layers ?? [];
    if (layers.length !== 1) throw new Error(`expected one layer in ${ARCHIVE}, found ${layers.length}`);
    const tmp = `${LAYER}.tmp-${process.pid}`;
    try {
      const r = spawnSync("sh", ["-c", 'tar -xOf "$1" "$2" > "$3"', "sh", ARCHIVE, layers[0]!, tmp], { stdio: "inherit" });
      if (r.status !== 0) throw new Error(`could not extract ${layers[0]} from ${ARCHIVE}`);
      const magic = readFileSync(tmp).subarray(0, 2);
      if (magic[0] === 0x1f && magic[1] === 0x8b) throw new Error(`the layer in ${ARCHIVE} is gzip-compressed; the floor expects a plain tar`);
      renameSync(tmp, LAYER);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return undefined;
}

function sync(): void {
  execFileSync("sync");
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("images benchmark skipped: needs root (layers are unpacked with their owners)");
    return;
  }
  const skip = await prepare();
  if (skip) {
    console.log(`images benchmark skipped: ${skip}`);
    return;
  }
  const layerBytes = statSync(LAYER).size;
  const archiveBytes = statSync(ARCHIVE).size;
  const dockerSkip = dockerdAvailable();
  const tarSkip = has("tar") ? undefined : "tar is not installed";
  const dir = mkdtempSync(path.join(tmpdir(), "cove-bench-"));
  let dockerd: Dockerd | undefined;
  try {
    if (!dockerSkip) dockerd = await startDockerd({ dir: path.join(dir, "d") });
    const d = dockerd;
    const okDocker = async (args: string[]): Promise<string> => {
      const r = await d!.docker(args, { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    };
    let coveId = "";
    let dockerId = "";
    let n = 0;
    const parts: { name: string; skip?: string; run: () => Promise<number> }[] = [
      {
        name: "cove in-process (ImageService.load)",
        run: async () => {
          const root = path.join(dir, `cove-${n++}`);
          const t0 = performance.now();
          const svc = await ImageService.open({ root });
          const { loaded } = await svc.load(createReadStream(ARCHIVE));
          await svc.unpack(REF); // load unpacks already: this only checks the snapshot is there
          const t = performance.now() - t0;
          if (loaded[0] !== REF) throw new Error(`cove loaded ${loaded.join(", ")}`);
          coveId = (await svc.inspect(REF)).Id;
          await cleanup(root);
          return t;
        },
      },
      {
        name: "docker load -i (dockerd 20.10, overlay2)",
        ...(dockerSkip ? { skip: dockerSkip } : {}),
        run: async () => {
          const t0 = performance.now();
          await okDocker(["load", "-q", "-i", ARCHIVE]);
          const t = performance.now() - t0;
          dockerId = (await okDocker(["image", "inspect", "--format", "{{.Id}}", REF])).trim();
          await okDocker(["rmi", "-f", REF]);
          await okDocker(["image", "prune", "-f"]);
          return t;
        },
      },
      {
        name: "tar -x of the layer (floor)",
        ...(tarSkip ? { skip: tarSkip } : {}),
        run: async () => {
          const out = path.join(dir, `tar-${n++}`);
          mkdirSync(out);
          const t0 = performance.now();
          execFileSync("tar", ["-xf", LAYER, "--numeric-owner", "-C", out]);
          const t = performance.now() - t0;
          rmSync(out, { recursive: true, force: true });
          return t;
        },
      },
    ];
    const times = new Map<string, number[]>(parts.map((p) => [p.name, []]));
    for (let round = 0; round <= ROUNDS; round++) {
      for (const p of parts) {
        if (p.skip) continue;
        const ms = await p.run();
        sync();
        if (round > 0) times.get(p.name)!.push(ms); // round 0 is the warm-up
      }
    }
    const mb = layerBytes / 1e6;
    console.log(`load + unpack of a Debian image (one ${mb.toFixed(1)} MB layer, archive ${(archiveBytes / 1e6).toFixed(1)} MB), ${ROUNDS} rounds, median (p10..p90):`);
    for (const p of parts) {
      if (p.skip) {
        console.log(`  ${p.name.padEnd(42)} skipped: ${p.skip}`);
        continue;
      }
      const xs = times.get(p.name)!;
      const s = [...xs].sort((a, b) => a - b);
      const q = (f: number) => (s[Math.floor((s.length - 1) * f)]! / 1000).toFixed(2);
      const m = median(xs) / 1000;
      console.log(`  ${p.name.padEnd(42)} ${m.toFixed(2).padStart(6)} s  (${q(0.1)}..${q(0.9)})  ${(mb / m).toFixed(0).padStart(4)} MB/s`);
    }
    const cove = median(times.get(parts[0]!.name)!);
    const ratios: string[] = [];
    if (!parts[1]!.skip) ratios.push(`cove/docker ${(cove / median(times.get(parts[1]!.name)!)).toFixed(2)}`);
    if (!parts[2]!.skip) ratios.push(`cove/tar ${(cove / median(times.get(parts[2]!.name)!)).toFixed(2)}`);
    if (ratios.length > 0) console.log(`  ratio ${ratios.join(", ")}`);
    if (dockerId) console.log(`  image ID ${coveId === dockerId ? "agrees" : `differs: cove ${coveId}, docker ${dockerId}`} (${coveId.slice(0, 19)})`);
  } finally {
    await dockerd?.stop();
    await cleanup(dir);
  }
}

await main();

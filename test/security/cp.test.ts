// docker cp and docker export against a hostile container: nothing the container does with its own
// names may make the daemon read or write a file of the host.
//
// A running container can exchange any of its names with a symlink to a host path, over and over
// (renameat2 RENAME_EXCHANGE, the CVE-2018-15664 pattern), so that a path the daemon resolved a
// moment ago names the symlink when the daemon uses it. test/fixtures/swapper.c does that inside
// the container while the test sends a few hundred archive requests (PUT, GET, HEAD) or a few
// dozen exports, each loop bounded by a time cap. The host holds a canary directory (which must
// stay empty) and a 0600 secret with a random token (which must never come back); hits are counted
// per request, so a failure says how often the daemon was fooled. Every race first proves it is
// real: from the host, through /proc/<pid>/root, the swapped name is seen as both kinds before the
// loop and again after it (the swapper ran throughout), and the answers themselves show both
// sides of the swap. A stopped container whose image holds static symlinks to the same host paths
// (absolute and relative with many "..") must resolve them inside its own root.
//
// A private daemon (state root, socket and runtime root of its own) and a busybox image built
// offline (test/images/fixtures.ts); containers run with --network none. Everything is removed in
// `after`, on failure too.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, lstatSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { PathStat } from "../../src/containers/archive.js";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { tarDirectory } from "../../src/snapshots/diff.js";
import { encodeHeader, END_OF_ARCHIVE, padding, readTar } from "../../src/snapshots/tar.js";
import { PACKAGE_ROOT } from "../fixtures/bundle.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { api, run, type ApiResponse } from "../support/docker-api.js";

const skip = process.getuid?.() !== 0 ? "needs root (a daemon, containers, overlay mounts): the docker cp and export security tests did NOT run" : false;
if (skip) console.warn(`test/security/cp.test: ${skip}`);

/** Requests per race, and the time cap of one race loop. */
const ROUNDS = 300;
const RACE_MS = 60_000;
/** Exports per swapped pair (a file pair and a directory pair), and their time cap. */
const EXPORTS = 40;
const EXPORT_MS = 40_000;
/** The host secret's mtime (2001-02-03T04:05:06Z): a stat header carrying it came from the host. */
const HOST_MTIME = 981173106;
const HOST_MTIME_TEXT = "2001-02-03T04:05:06";
/** The in-container path of the swapper binary (the host's bin directory mounted read-only). */
const SWAPPER = "/h/swapper";
/** Enough ".." to climb out of any state root from a container's root. */
const CLIMB = "../".repeat(24);

function sh(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

/** A tar with regular files (name → content), as a client sends to PUT /archive. */
function tarOf(files: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const mtimeSec = Math.floor(Date.now() / 1000);
  for (const [name, text] of Object.entries(files)) {
    const body = Buffer.from(text);
    parts.push(encodeHeader({ name, type: "file", mode: 0o644, uid: 0, gid: 0, size: body.length, mtimeSec }), body, Buffer.alloc(padding(body.length)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

interface Entry {
  name: string;
  type: string;
  linkname: string;
  body: string;
}

/** The entries of a tar the daemon sent (cove's own tar reader). */
async function entriesOf(raw: Buffer): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const item of readTar((async function* () {
    yield raw;
  })())) {
    const chunks: Buffer[] = [];
    for await (const c of item.body) chunks.push(c);
    out.push({ name: item.header.name, type: item.header.type, linkname: item.header.linkname, body: Buffer.concat(chunks).toString() });
  }
  return out;
}

/** The X-Docker-Container-Path-Stat header, decoded. */
function statHeader(headers: http.IncomingHttpHeaders): PathStat | undefined {
  const v = headers["x-docker-container-path-stat"];
  return typeof v === "string" ? (JSON.parse(Buffer.from(v, "base64").toString()) as PathStat) : undefined;
}

/** The message of an error answer, without what differs from one request to the next. */
function messageOf(body: string): string {
  let m: string;
  try {
    m = String((JSON.parse(body) as { message?: unknown }).message);
  } catch {
    m = body;
  }
  return m
    .replace(/\/proc\/\d+/g, "/proc/<pid>")
    .replace(/\.cove-cp-undo-[0-9a-f]+/g, ".cove-cp-undo-*")
    .replace(/put-\d+/g, "put-<i>")
    .slice(0, 160);
}

/** Polls cond until it holds; fails with what after timeoutMs. */
async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: () => Promise<string> | string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${await what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs fn up to rounds times, stopping at the time cap; returns how many rounds ran. */
async function race(rounds: number, capMs: number, fn: (i: number) => Promise<void>): Promise<number> {
  const deadline = Date.now() + capMs;
  let i = 0;
  for (; i < rounds && Date.now() < deadline; i++) await fn(i);
  return i;
}

/** Counts of the keys seen, as "a=3 b=5". */
function tally(counts: Map<string, number>): string {
  return [...counts].map(([k, v]) => `${k}=${v}`).join(" ") || "none";
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

interface Hostile {
  name: string;
  /** The container's first process on the host: /proc/<pid>/root is the container's root. */
  pid: number;
}

describe("docker cp and export against a container that swaps its names for symlinks to the host", { skip }, () => {
  let dir: string;
  let daemon: Daemon | undefined;
  let socket: string;
  let runtimeRoot: string;
  let env: NodeJS.ProcessEnv;
  let bin: string;
  let rootfs: string;
  /** A host directory that must stay empty. */
  let canary: string;
  /** A host directory (0700) with a 0600 file that starts with the token. */
  let secretDir: string;
  let secretFile: string;
  /**
   * What a hit looks for: the first 16 characters of the secret file's random text (64 bits), so
   * that a read cut short at the size of a container file (19 bytes or more) is caught as well.
   */
  let token: string;
  // the daemon logs to this array instead of the test output
  const logs: string[] = [];
  let n = 0;
  const unique = (tag: string) => `sec-${tag}-${process.pid}-${n++}`;
  const cove = (args: string[], input?: Buffer | string) => run(env, args, input);
  const ok = async (args: string[], input?: Buffer | string): Promise<string> => {
    const r = await cove(args, input);
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-sec-"));
    socket = path.join(dir, "cove.sock");
    runtimeRoot = `/run/cove-sec-${process.pid}`;
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: (l) => logs.push(l) });
    env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    rootfs = path.join(dir, "bb", "rootfs");
    await ok(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    bin = path.join(dir, "bin");
    await mkdir(bin);
    await sh("gcc", ["-static", "-O2", "-Wall", "-o", path.join(bin, "swapper"), path.join(PACKAGE_ROOT, "test", "fixtures", "swapper.c")]);
    canary = path.join(dir, "canary");
    await mkdir(canary);
    secretDir = path.join(dir, "secret");
    await mkdir(secretDir, { mode: 0o700 });
    secretFile = path.join(secretDir, "secret-file");
    const secret = randomBytes(16).toString("hex");
    token = secret.slice(0, 16);
    await writeFile(secretFile, `${secret} is the host's secret\n`, { mode: 0o600 });
    await utimes(secretFile, HOST_MTIME, HOST_MTIME);
    await utimes(secretDir, HOST_MTIME, HOST_MTIME);
  });

  after(async () => {
    if (daemon) {
      const ids = (await cove(["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
      if (ids.length) await cove(["rm", "-f", ...ids]);
      await daemon.close();
    }
    if (runtimeRoot) await rm(runtimeRoot, { recursive: true, force: true }).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Entries in the host canary: each one is a hit; they are removed so the next hit counts anew. */
  const canaryHits = async (): Promise<string[]> => {
    const names = await readdir(canary);
    for (const name of names) await rm(path.join(canary, name), { recursive: true, force: true });
    return names;
  };

  /** Undo directories of an extraction left in the host's /tmp. */
  const undoInTmp = async (): Promise<string[]> => (await readdir(os.tmpdir())).filter((f) => f.startsWith(".cove-cp-undo-"));

  /** Runs busybox with setup (then sleep) in a new container, the swapper's directory at /h. */
  const hostile = async (tag: string, setup: string): Promise<Hostile> => {
    const name = unique(tag);
    await ok(["run", "-d", "--name", name, "--network", "none", "-v", `${bin}:/h:ro`, "busybox", "sh", "-c", `set -e; ${setup}; touch /ready; exec sleep 100000`]);
    await waitFor(
      async () => (await cove(["exec", name, "test", "-f", "/ready"])).code === 0,
      30_000,
      async () => `the set-up of ${name}: ${(await cove(["logs", name])).stderr}`,
    );
    return { name, pid: Number((await ok(["inspect", "-f", "{{.State.Pid}}", name])).trim()) };
  };

  /**
   * Waits (up to 20 s) until the host sees name in the container's root as both a symlink and
   * something else: the swapper is exchanging it. lstat through /proc/<pid>/root never follows
   * the swapped name itself.
   */
  const flipping = async (c: Hostile, name: string): Promise<string> => {
    const seen = new Map<string, number>();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      for (let i = 0; i < 5000; i++) {
        try {
          const st = lstatSync(`/proc/${c.pid}/root${name}`);
          bump(seen, st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : st.isFile() ? "file" : "other");
        } catch (err) {
          bump(seen, (err as NodeJS.ErrnoException).code ?? "error");
        }
      }
      if (seen.has("symlink") && (seen.has("dir") || seen.has("file"))) return tally(seen);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`${name} in ${c.name} never flipped between a symlink and a file or directory (seen: ${tally(seen)}): the swapper is not running`);
  };

  /** Starts the swapper on a and b (detached exec, its pid in /swapper.pid); returns once a flips. */
  const startSwapper = async (c: Hostile, a: string, b: string): Promise<string> => {
    await ok(["exec", "-d", c.name, "sh", "-c", `echo $$ > /swapper.pid && exec ${SWAPPER} ${a} ${b}`]);
    return flipping(c, a);
  };

  /** Kills the swapper by its pid and waits until it is gone (or a zombie). */
  const stopSwapper = async (c: Hostile): Promise<void> => {
    await ok(["exec", c.name, "sh", "-c", 'p=$(cat /swapper.pid); kill -9 "$p"; while [ -e /proc/$p ] && [ "$(cut -d" " -f3 /proc/$p/stat 2>/dev/null)" != Z ]; do sleep 0.05; done']);
  };

  /** An API request; a connection closed before any answer is status 0 with the error. */
  const request = (method: string, p: string, body?: Buffer): Promise<ApiResponse & { error?: string }> =>
    api(socket, method, p, body).catch((err: Error) => ({ status: 0, headers: {}, body: "", raw: Buffer.alloc(0), complete: false, error: err.message }));

  /** What an answer that is not a 200 with a whole body was, for the tallies. */
  const failure = (r: ApiResponse & { error?: string }): string | undefined =>
    r.status === 0 ? `no answer (${r.error})` : !r.complete ? `${r.status} cut short` : r.status !== 200 ? `${r.status}${r.body ? ` ${messageOf(r.body)}` : ""}` : undefined;

  const removeContainer = async (c: Hostile | undefined) => {
    if (c) await cove(["rm", "-f", c.name]);
  };

  it("cp into a running container that swaps the destination with a symlink to a host directory writes nothing on the host", { timeout: 240_000 }, async (t) => {
    let c: Hostile | undefined;
    try {
      // /w is a directory, /wl a symlink to the host canary's path (which exists inside as well)
      c = await hostile("cp-in", `mkdir /w; ln -s ${canary} /wl; mkdir -p ${canary}`);
      const name = c.name;
      const flipsBefore = await startSwapper(c, "/w", "/wl");
      const statuses = new Map<string, number>();
      const hits: string[] = [];
      const undoOnHost: string[] = [];
      const rounds = await race(ROUNDS, RACE_MS, async (i) => {
        // "same" replaces the previous copy (an undo directory holds it meanwhile); put-<i> is new
        const r = await request("PUT", `/containers/${name}/archive?path=/w`, tarOf({ same: `round ${i}\n`, [`put-${i}`]: `round ${i}\n` }));
        bump(statuses, failure(r) ?? "200");
        const found = await canaryHits();
        if (found.length) hits.push(`round ${i}: ${found.join(", ")}`);
        undoOnHost.push(...found.filter((f) => f.startsWith(".cove-cp-undo-")));
      });
      const flipsAfter = await flipping(c, "/w");
      await stopSwapper(c);
      // where each copy landed inside: the directory (named /w or /wl now) or the canary's path inside
      const placed = (await ok(["exec", c.name, "find", "/", "-xdev", "-type", "f", "-name", "put-*"])).trim().split("\n").filter(Boolean);
      const viaDir = placed.filter((p) => /^\/wl?\/put-\d+$/.test(p)).length;
      const viaLink = placed.filter((p) => p.startsWith(`${canary}/put-`)).length;
      const undoInside = (await ok(["exec", c.name, "find", "/", "-xdev", "-name", ".cove-cp-undo-*"])).trim();
      undoOnHost.push(...(await undoInTmp()), ...(await sh("find", [canary, "-name", ".cove-cp-undo-*"])).trim().split("\n").filter(Boolean));
      t.diagnostic(`${rounds} PUTs, statuses ${tally(statuses)}; host hits ${hits.length}; undo directories on the host ${undoOnHost.length}, inside ${undoInside ? undoInside.split("\n").length : 0}`);
      t.diagnostic(`landed inside: ${viaDir} in the directory, ${viaLink} through the symlink; the name flipped before (${flipsBefore}) and after (${flipsAfter})`);
      assert.deepEqual(hits, [], `the host canary received files in ${hits.length} of ${rounds} copies`);
      assert.deepEqual(await readdir(canary), [], "the host canary is empty");
      assert.deepEqual(undoOnHost, [], "no undo directory is left on the host");
      assert.equal(undoInside, "", "no undo directory is left inside the container");
      assert.ok(rounds >= 50, `only ${rounds} copies ran within ${RACE_MS} ms`);
      assert.ok((statuses.get("200") ?? 0) >= rounds / 2, `most copies succeed: ${tally(statuses)}`);
      // both sides of the swap were hit: the race happened, and the symlink resolved inside
      assert.ok(viaDir > 0 && viaLink > 0, `copies landed ${viaDir} times in the directory and ${viaLink} times through the symlink`);
      assert.equal(viaDir + viaLink, statuses.get("200") ?? 0, `every successful copy is inside: ${placed.join(" ")}`);
    } finally {
      await removeContainer(c);
    }
  });

  /**
   * GETs (and HEADs) path while a and b swap; counts the answers holding the token and the
   * answers that show each side of the swap (classify names a side, or undefined: unexpected).
   */
  const readRace = async (
    c: Hostile,
    p: string,
    classify: (entries: Entry[]) => string | undefined,
  ): Promise<{ rounds: number; hits: number; sides: Map<string, number>; heads: number; headHits: number; headSides: Map<string, number> }> => {
    const sides = new Map<string, number>();
    let hits = 0;
    const rounds = await race(ROUNDS, RACE_MS / 2, async () => {
      const r = await request("GET", `/containers/${c.name}/archive?path=${encodeURIComponent(p)}`);
      if (r.raw.includes(token)) {
        hits++;
        return;
      }
      const s = statHeader(r.headers);
      if (s?.mtime.startsWith(HOST_MTIME_TEXT)) {
        hits++;
        return;
      }
      const failed = failure(r);
      if (failed) bump(sides, `error ${failed}`);
      else {
        const entries = await entriesOf(r.raw).catch((err: Error) => err);
        if (entries instanceof Error) bump(sides, `unexpected: an unreadable archive (${entries.message})`);
        else bump(sides, entries.length === 0 ? "empty archive" : (classify(entries) ?? `unexpected ${JSON.stringify(entries).slice(0, 300)}`));
      }
    });
    const headSides = new Map<string, number>();
    let headHits = 0;
    const heads = await race(ROUNDS, RACE_MS / 2, async () => {
      const r = await request("HEAD", `/containers/${c.name}/archive?path=${encodeURIComponent(p)}`);
      const s = statHeader(r.headers);
      // the host's secret file and directory carry HOST_MTIME and modes no container entry has
      if (s && (s.mtime.startsWith(HOST_MTIME_TEXT) || (s.mode & 0o777) === 0o600 || (s.mode & 0o777) === 0o700)) headHits++;
      else bump(headSides, r.status === 200 && s ? `stat ${s.name} ${(s.mode >>> 0).toString(8)} ${s.size}` : `error ${failure(r) ?? r.status}`);
    });
    return { rounds, hits, sides, heads, headHits, headSides };
  };

  const readRaceTest = async (
    t: { diagnostic(msg: string): void },
    tag: string,
    setup: string,
    a: string,
    b: string,
    p: string,
    classify: (entries: Entry[]) => string | undefined,
    wantSides: string[],
  ) => {
    let c: Hostile | undefined;
    try {
      c = await hostile(tag, setup);
      const flipsBefore = await startSwapper(c, a, b);
      const res = await readRace(c, p, classify);
      const flipsAfter = await flipping(c, a);
      t.diagnostic(`GET ${p}: ${res.rounds} requests, ${res.hits} with the host's secret; answers ${tally(res.sides)}`);
      t.diagnostic(`HEAD ${p}: ${res.heads} requests, ${res.headHits} with the host's stat; answers ${tally(res.headSides)}`);
      t.diagnostic(`${a} flipped before (${flipsBefore}) and after (${flipsAfter})`);
      assert.equal(res.hits, 0, `GET ${p} returned the host's secret ${res.hits} times in ${res.rounds}`);
      assert.equal(res.headHits, 0, `HEAD ${p} returned the host's stat ${res.headHits} times in ${res.heads}`);
      // a name swapped between the lookup and the read may fail the request or leave the archive
      // empty: that is the container's doing and reveals nothing; any other content is wrong
      assert.deepEqual([...res.sides.keys()].filter((k) => k.startsWith("unexpected")), [], `GET ${p}: only answers from inside the container`);
      assert.ok(res.rounds >= 50 && res.heads >= 50, `only ${res.rounds} GETs and ${res.heads} HEADs ran`);
      for (const side of wantSides) assert.ok(res.sides.has(side), `GET ${p} saw both sides of the swap (${side}): ${tally(res.sides)}`);
      assert.ok([...res.headSides.keys()].filter((k) => k.startsWith("stat ")).length >= 2, `HEAD ${p} saw both sides of the swap: ${tally(res.headSides)}`);
    } finally {
      await removeContainer(c);
    }
  };

  it("cp out of a running container that swaps a file with a symlink to a host secret never returns the secret (GET, HEAD)", { timeout: 240_000 }, async (t) => {
    await readRaceTest(
      t,
      "cp-out-file",
      `echo 'the container file' > /rfile; ln -s ${secretFile} /rlink; mkdir -p ${secretDir}; echo 'decoy in the container' > ${secretFile}`,
      "/rfile",
      "/rlink",
      "/rfile",
      (e) => {
        if (e.length !== 1 || e[0]?.name !== "rfile") return undefined;
        if (e[0].type === "file" && e[0].body === "the container file\n") return "file";
        if (e[0].type === "symlink" && e[0].linkname === secretFile) return "symlink";
        return undefined;
      },
      ["file", "symlink"],
    );
  });

  it("cp out of a running container that swaps a directory with a symlink to a host directory never returns the secret (GET, HEAD)", { timeout: 240_000 }, async (t) => {
    await readRaceTest(
      t,
      "cp-out-dir",
      `mkdir /rdir; echo 'the container dir file' > /rdir/secret-file; ln -s ${secretDir} /rdlink`,
      "/rdir",
      "/rdlink",
      "/rdir",
      (e) => {
        const names = e.map((x) => `${x.type}:${x.name}`).join(" ");
        if (names === "dir:rdir/ file:rdir/secret-file" && e[1]?.body === "the container dir file\n") return "dir";
        if (names === "symlink:rdir" && e[0]?.linkname === secretDir) return "symlink";
        return undefined;
      },
      ["dir", "symlink"],
    );
  });

  it("cp out of a running container that swaps a parent directory with a symlink to a host directory never returns the secret (GET, HEAD)", { timeout: 240_000 }, async (t) => {
    // the symlink resolves inside the container, where the secret's path holds a decoy
    await readRaceTest(
      t,
      "cp-out-parent",
      `mkdir /pdir; echo 'the container parent file' > /pdir/secret-file; ln -s ${secretDir} /pdlink; mkdir -p ${secretDir}; echo 'decoy in the container' > ${secretFile}`,
      "/pdir",
      "/pdlink",
      "/pdir/secret-file",
      (e) => {
        if (e.length !== 1 || e[0]?.name !== "secret-file" || e[0].type !== "file") return undefined;
        if (e[0].body === "the container parent file\n") return "directory";
        if (e[0].body === "decoy in the container\n") return "symlink";
        return undefined;
      },
      ["directory", "symlink"],
    );
  });

  it("export of a running container that swaps a file and a directory with symlinks to the host never holds the secret", { timeout: 240_000 }, async (t) => {
    let c: Hostile | undefined;
    try {
      c = await hostile(
        "export",
        `echo 'the container file' > /efile; ln -s ${secretFile} /eflink; mkdir /edir; echo 'the container dir file' > /edir/secret-file; ln -s ${secretDir} /edlink`,
      );
      const results: string[] = [];
      const name = c.name;
      const counts: { rounds: number; ok: number }[] = [];
      let hits = 0;
      let total = 0;
      for (const [a, b] of [
        ["/efile", "/eflink"],
        ["/edir", "/edlink"],
      ] as const) {
        const flipsBefore = await startSwapper(c, a, b);
        const sides = new Map<string, number>();
        const statuses = new Map<string, number>();
        const carriers = new Map<string, number>();
        let pairHits = 0;
        const rounds = await race(EXPORTS, EXPORT_MS, async () => {
          const r = await request("GET", `/containers/${name}/export`);
          bump(statuses, failure(r) ?? "200");
          if (r.raw.includes(token)) {
            pairHits++;
            // which entries carried it (a cut-short tar is named as such)
            const e = await entriesOf(r.raw).catch(() => []);
            bump(carriers, e.filter((x) => x.body.includes(token)).map((x) => x.name).join(",") || "an unreadable archive");
          } else if (r.status === 200) {
            const e = (await entriesOf(r.raw)).find((x) => x.name.replace(/^\.?\//, "").replace(/\/$/, "") === a.slice(1));
            bump(sides, e?.type ?? "missing");
          }
        });
        const flipsAfter = await flipping(c, a);
        await stopSwapper(c);
        hits += pairHits;
        total += rounds;
        results.push(`${a}<->${b}: ${rounds} exports, statuses ${tally(statuses)}, ${pairHits} with the host's secret (in ${tally(carriers)}); ${a} exported as ${tally(sides)}; flipped before (${flipsBefore}) and after (${flipsAfter})`);
        counts.push({ rounds, ok: statuses.get("200") ?? 0 });
      }
      for (const r of results) t.diagnostic(r);
      assert.equal(hits, 0, `the export held the host's secret ${hits} times in ${total}: ${results.join("; ")}`);
      for (const { rounds, ok: done } of counts) {
        assert.ok(rounds >= 5, `only ${rounds} exports ran within ${EXPORT_MS} ms`);
        assert.equal(done, rounds, `every export succeeds: ${results.join("; ")}`);
      }
    } finally {
      await removeContainer(c);
    }
  });

  it("cp into and out of a stopped container resolves its image's absolute and relative symlinks to host paths inside the container", { timeout: 240_000 }, async (t) => {
    // the image: etc2 -> <canary>, rel -> ../../..<canary>, sec -> <secret dir>, relsec likewise,
    // and those paths inside (the canary's empty, a decoy where the secret is)
    await symlink(canary, path.join(rootfs, "etc2"));
    await symlink(CLIMB + canary.slice(1), path.join(rootfs, "rel"));
    await symlink(secretDir, path.join(rootfs, "sec"));
    await symlink(CLIMB + secretDir.slice(1), path.join(rootfs, "relsec"));
    await mkdir(path.join(rootfs, canary), { recursive: true });
    await mkdir(path.join(rootfs, secretDir), { recursive: true });
    await writeFile(path.join(rootfs, secretFile), "decoy in the image\n", { mode: 0o644 });
    const imageTar = path.join(dir, "hostile-links.tar");
    await tarDirectory(rootfs, createWriteStream(imageTar));
    await ok(["import", "--change", 'CMD ["sh"]', imageTar, "hostile-links:latest"]);
    const name = unique("stopped");
    await ok(["create", "--name", name, "--network", "none", "hostile-links", "true"]);
    // hits: anything that reached the host; wrong: answers that are safe but not dockerd's
    const hits: string[] = [];
    const wrong: string[] = [];
    const check = async (what: string, body?: Buffer | string) => {
      const found = await canaryHits();
      if (found.length) hits.push(`${what}: the host canary got ${found.join(", ")}`);
      if (body !== undefined && (typeof body === "string" ? Buffer.from(body, "latin1") : body).includes(token)) hits.push(`${what}: returned the host's secret`);
      if ((await undoInTmp()).length) hits.push(`${what}: left an undo directory in ${os.tmpdir()}`);
    };
    const expectInside: string[] = [];
    const put = async (dest: string, files: Record<string, string>) => {
      const r = await request("PUT", `/containers/${name}/archive?path=${encodeURIComponent(dest)}`, tarOf(files));
      await check(`PUT ${dest} ${Object.keys(files).join(" ")}`);
      if (r.status === 200) expectInside.push(...Object.keys(files).map((f) => path.posix.basename(f)));
      else wrong.push(`PUT ${dest} ${Object.keys(files).join(" ")}: ${failure(r)}`);
    };
    // PUT into the symlinks themselves, with and without a trailing "/" or "/."
    for (const dest of ["/etc2", "/rel", "/etc2/", "/rel/."]) await put(dest, { [`put-${dest.replace(/\W/g, "")}-${expectInside.length}`]: `via ${dest}\n` });
    // tar entries whose parent is one of the symlinks, extracted at / (followed inside, as dockerd's chrooted untar does)
    await put("/", { "etc2/entry-abs": "entry\n" });
    await put("/", { "rel/entry-rel": "entry\n" });
    // the docker CLI (it stats the destination first, then copies)
    const src = path.join(dir, "cli-src");
    await writeFile(src, "from the CLI\n");
    for (const dest of ["/etc2/", "/rel/"]) {
      const res = await cove(["cp", src, `${name}:${dest}`]);
      await check(`docker cp to ${dest}`);
      if (res.code === 0) expectInside.push("cli-src");
      else wrong.push(`docker cp to ${dest}: ${res.stderr.trim()}`);
    }
    // what landed is inside the container, at the canary's path in its own root
    const listed = await request("GET", `/containers/${name}/archive?path=${encodeURIComponent(canary + "/.")}`);
    const inside = listed.status === 200 ? (await entriesOf(listed.raw)).map((e) => e.name.split("/").pop() ?? "").filter(Boolean) : [];
    for (const f of new Set(expectInside)) if (!inside.includes(f)) wrong.push(`${f} is not inside the container (found ${inside.join(" ")})`);
    // reads through the symlinks see the image's decoy (or the symlink itself), never the host's secret
    const reads: string[] = [];
    for (const p of ["/sec/secret-file", "/relsec/secret-file", "/sec/", "/relsec/.", "/sec", "/relsec"]) {
      const g = await request("GET", `/containers/${name}/archive?path=${encodeURIComponent(p)}`);
      await check(`GET ${p}`, g.raw);
      const e = failure(g) ? [] : await entriesOf(g.raw);
      const link = p === "/sec" || p === "/relsec";
      if (failure(g)) wrong.push(`GET ${p}: ${failure(g)}`);
      else if (link ? e.map((x) => x.type).join() !== "symlink" : !e.some((x) => x.body === "decoy in the image\n")) wrong.push(`GET ${p}: ${JSON.stringify(e)}`);
      const h = await request("HEAD", `/containers/${name}/archive?path=${encodeURIComponent(p)}`);
      const s = statHeader(h.headers);
      if (s?.mtime.startsWith(HOST_MTIME_TEXT)) hits.push(`HEAD ${p}: the host's stat`);
      reads.push(`${p}: GET ${failure(g) ?? e.map((x) => `${x.type}:${x.name}`).join(" ")}, HEAD ${s ? `${s.size}/${(s.mode >>> 0).toString(8)}` : failure(h)}`);
    }
    for (const args of [["cp", `${name}:/sec/secret-file`, "-"], ["cp", `${name}:/relsec/secret-file`, "-"], ["cp", "-L", `${name}:/sec`, "-"]]) {
      const out = await cove(args);
      await check(`docker ${args.join(" ")}`, out.stdout);
      if (out.code !== 0 || !out.stdout.includes("decoy in the image")) wrong.push(`docker ${args.join(" ")}: ${out.code} ${out.stderr.trim()}`);
    }
    const diff = await ok(["diff", name]);
    if (!new RegExp(`^A ${canary}/cli-src$`, "m").test(diff)) wrong.push(`docker diff shows no ${canary}/cli-src: ${diff}`);
    t.diagnostic(`host hits ${hits.length}${hits.length ? `: ${hits.join("; ")}` : ""}; inside ${canary}: ${inside.join(" ")}`);
    for (const l of reads) t.diagnostic(l);
    for (const w of wrong) t.diagnostic(`wrong: ${w}`);
    assert.deepEqual(hits, [], "nothing reached the host");
    assert.deepEqual(await readdir(canary), [], "the host canary is empty");
    assert.deepEqual(wrong, [], "the symlinks resolve inside the container, as dockerd resolves them");
  });
});

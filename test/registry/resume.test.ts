// A pull interrupted by a SIGKILL of the daemon resumes at the next start: a cove daemon in its
// own process pulls an image with a 48 MB random layer from Debian's docker-registry through a
// throttling proxy, is killed once the layer's ingest has recorded synced bytes, and is started
// again on the same root. The next pull continues with a Range request from where the bytes on
// disk end, and gives the image a pull that was never interrupted gives (ID, RepoDigests). An
// ingest nobody resumes goes with `docker image prune -a`, with the age limit at the next start,
// and at once when its data does not match its record. A layer whose unpack a crash interrupted
// leaves no snapshot behind.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, stat, truncate, utimes, writeFile } from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ImageService } from "../../src/images/service.js";
import { tarDirectory } from "../../src/snapshots/diff.js";
import { api } from "../support/docker-api.js";
import { kill9, startChildDaemon, type ChildDaemon } from "../support/child-daemon.js";
import { tearDownDaemon } from "../support/teardown.js";
import { tempDir } from "../images/fixtures.js";
import { registryAvailable, saveArchive, skopeoCopy, startRegistry, type Registry } from "./support.js";

const skip = process.getuid?.() !== 0 ? "needs root (snapshots)" : registryAvailable();
const BOUND_MS = 120_000;
const LAYER_BYTES = 48 * 1024 * 1024;

/** Waits for a condition, failing after a generous bound. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Throttle {
  host: string;
  /** Requests seen: "GET /v2/... range=bytes=N-". */
  seen: string[];
  /** Bytes per second for blob bodies; undefined: full speed. */
  rate: number | undefined;
  stop(): Promise<void>;
}

/** A proxy to the registry that sends blob bodies at `rate` bytes per second. */
async function startThrottle(target: string): Promise<Throttle> {
  const [thost, tport] = target.split(":") as [string, string];
  const t: Throttle = { host: "", seen: [], rate: 4 * 1024 * 1024, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    t.seen.push(`${req.method} ${req.url}${req.headers.range ? ` range=${req.headers.range}` : ""}`);
    const up = http.request({ host: thost, port: Number(tport), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      const isBlob = req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "");
      if (!isBlob) {
        ur.pipe(res);
        return;
      }
      ur.on("data", (c: Buffer) => {
        res.write(c);
        if (t.rate === undefined) return;
        ur.pause();
        setTimeout(() => ur.resume(), Math.ceil((c.length / t.rate) * 1000));
      });
      ur.on("end", () => res.end());
      ur.on("error", () => res.destroy());
    });
    up.on("error", () => res.destroy());
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  t.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return t;
}

/** A cove daemon in its own process, once it listens. */
async function startChild(root: string, socket: string, runtimeRoot: string): Promise<ChildDaemon> {
  const child = startChildDaemon(root, socket, runtimeRoot);
  await child.line(/listening on/);
  return child;
}

/** The ingest directories under a state root, with the size of their data and their record. */
async function ingests(root: string): Promise<{ name: string; dataBytes: number; recorded: number }[]> {
  const dir = path.join(root, "content", "ingest");
  const names = await readdir(dir).catch(() => [] as string[]);
  const out = [];
  for (const name of names) {
    const dataBytes = (await stat(path.join(dir, name, "data")).catch(() => undefined))?.size ?? -1;
    const recorded = Number((await readFile(path.join(dir, name, "written"), "utf8").catch(() => "0")) || 0);
    out.push({ name, dataBytes, recorded });
  }
  return out;
}

describe("a pull interrupted by a daemon SIGKILL", { skip, timeout: 900_000 }, () => {
  let dir = "";
  let reg: Registry | undefined;
  let proxy: Throttle | undefined;
  let child: ChildDaemon | undefined;
  let ref = "";
  let layerDigest = "";
  const at = (p: string) => path.join(dir, p);
  const sock = () => at("cove.sock");
  const start = async () => (child = await startChild(at("root"), sock(), at("run")));
  /** Starts a pull through the API and kills the daemon once the layer's ingest recorded synced bytes. */
  /** An API call to the daemon, bounded: a request that never answers fails with what the daemon logged. */
  const call = async (method: string, p: string): Promise<Awaited<ReturnType<typeof api>>> => {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${method} ${p} got no answer in ${BOUND_MS} ms; the daemon logged:\n${child?.out.slice(-60).join("\n")}`)), BOUND_MS);
    });
    try {
      return await Promise.race([api(sock(), method, p), bound]);
    } catch (err) {
      // a daemon that died (or never listened) says why in what it printed
      const exit = child ? ` (daemon exit code ${child.proc.exitCode}, signal ${child.proc.signalCode})` : " (no daemon)";
      throw new Error(`${method} ${p}: ${(err as Error).message}${exit}; the daemon printed:\n${child?.out.slice(-60).join("\n")}`);
    } finally {
      clearTimeout(timer);
    }
  };
  /** Fails at once when the daemon is gone, instead of waiting out a bound for it. */
  const alive = () => {
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) {
      throw new Error(`the daemon exited (code ${child.proc.exitCode}, signal ${child.proc.signalCode}); it printed:\n${child.out.slice(-60).join("\n")}`);
    }
  };

  const pullAndKill = async (): Promise<{ dataBytes: number; recorded: number }> => {
    proxy!.rate = 4 * 1024 * 1024;
    const [name, tag] = ref.split(/:(?=[^:]*$)/) as [string, string];
    const pulling = call("POST", `/images/create?fromImage=${encodeURIComponent(name)}&tag=${tag}`).catch(() => undefined);
    const ingest = await until("the layer's ingest to record synced bytes", async () => {
      alive();
      return (await ingests(at("root"))).find((i) => i.recorded > 0);
    });
    await kill9(child);
    await pulling;
    proxy!.rate = undefined;
    const after = (await ingests(at("root"))).find((i) => i.name === ingest.name);
    assert.ok(after, "the ingest outlives the daemon");
    assert.ok(after.dataBytes >= after.recorded && after.dataBytes < LAYER_BYTES, `a partial layer is on disk: ${JSON.stringify(after)}`);
    return after;
  };

  before(async () => {
    dir = await tempDir();
    const fixtures = await ImageService.open({ root: at("fixtures") });
    await mkdir(at("bigroot"));
    await writeFile(at("bigroot/random"), randomBytes(LAYER_BYTES));
    const tar = at("big.tar");
    await tarDirectory(at("bigroot"), createWriteStream(tar));
    await fixtures.importRootfs(createReadStream(tar), { reference: "big:1", changes: ['CMD ["/random"]'] });
    await saveArchive(fixtures, ["big:1"], at("big-archive.tar"));
    reg = await startRegistry(at("reg"));
    await skopeoCopy(`docker-archive:${at("big-archive.tar")}`, `docker://${reg.host}/big:1`);
    proxy = await startThrottle(reg.host);
    ref = `${proxy.host}/big:1`;
    const manifest = JSON.parse(await httpGet(`http://${reg.host}/v2/big/manifests/1`, "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")) as { layers: { digest: string; size: number }[] };
    layerDigest = manifest.layers[0]!.digest;
    assert.ok(manifest.layers[0]!.size > LAYER_BYTES / 2);
  });

  after(async () => {
    try {
      await kill9(child);
      await proxy?.stop();
      await reg?.stop();
    } finally {
      await tearDownDaemon(undefined, dir || undefined);
    }
  });

  it("the next pull after a restart continues with a Range request and gives the image an uninterrupted pull gives", async () => {
    await start();
    const partial = await pullAndKill();
    await start();
    // the restart kept the partial layer for the pull to resume
    assert.deepEqual(
      (await ingests(at("root"))).map((i) => i.dataBytes),
      [partial.dataBytes],
    );
    proxy!.seen.length = 0;
    const [name, tag] = ref.split(/:(?=[^:]*$)/) as [string, string];
    const pulled = await call("POST", `/images/create?fromImage=${encodeURIComponent(name)}&tag=${tag}`);
    assert.equal(pulled.status, 200, pulled.body);
    assert.doesNotMatch(pulled.body, /"error"/);
    const ranged = proxy!.seen.filter((l) => l.includes(`/blobs/${layerDigest}`));
    assert.deepEqual(ranged, [`GET /v2/big/blobs/${layerDigest} range=bytes=${partial.dataBytes}-`]);
    assert.deepEqual(await ingests(at("root")), [], "the ingest became the blob");

    // a pull that was never interrupted, into a root of its own
    const fresh = await ImageService.open({ root: at("fresh") });
    await fresh.pull(ref);
    const want = await fresh.inspect(ref);
    const got = JSON.parse((await call("GET", `/images/${encodeURIComponent(ref)}/json`)).body) as { Id: string; RepoDigests: string[]; RootFS: unknown };
    assert.equal(got.Id, want.Id);
    assert.deepEqual(got.RepoDigests, want.RepoDigests);
    assert.deepEqual(got.RootFS, want.RootFS);
  });

  it("a daemon killed while it unpacks a layer leaves no snapshot or staged layer half-made: the next start removes it, and a pull then completes", async () => {
    assert.equal((await call("DELETE", `/images/${encodeURIComponent(ref)}`)).status, 200);
    assert.deepEqual(await snapshotKeys(at("root")), [], "the image's layer went with it");
    proxy!.rate = undefined;
    const [name, tag] = ref.split(/:(?=[^:]*$)/) as [string, string];
    let killing: Promise<void> | undefined;
    await streamPull(sock(), `fromImage=${encodeURIComponent(name)}&tag=${tag}`, (m) => {
      if (!killing && m.status === "Extracting" && (m.progressDetail?.current ?? 0) < (m.progressDetail?.total ?? 0)) killing = kill9(child);
    });
    assert.ok(killing, "the pull reached the unpack");
    await killing;
    // a large layer unpacks on a worker into a staging directory, a small one into its extract- snapshot
    const leftover = (await snapshotKeys(at("root"))).filter((k) => k.startsWith("extract-"));
    const staged = (await readdir(at("root/snapshots/snapshots"))).filter((n) => n.startsWith("staging-"));
    assert.equal(leftover.length + (staged.length > 0 ? 1 : 0), 1, `the kill came while the layer was unpacked: ${JSON.stringify({ leftover, staged })}`);
    await start();
    assert.deepEqual(await snapshotKeys(at("root")), []);
    assert.deepEqual(await readdir(at("root/snapshots/snapshots")), []);
    if (leftover.length > 0) assert.ok(child!.out.some((l) => l.includes(`removed the snapshot ${leftover[0]!} of a layer whose unpack was interrupted`)), child!.out.join("\n"));
    const pulled = await call("POST", `/images/create?fromImage=${encodeURIComponent(name)}&tag=${tag}`);
    assert.doesNotMatch(pulled.body, /"error"/);
    assert.equal((await snapshotKeys(at("root"))).length, 1);
  });

  it("an ingest nobody resumes goes with `image prune -a`", async () => {
    assert.equal((await call("DELETE", `/images/${encodeURIComponent(ref)}`)).status, 200);
    await pullAndKill();
    await start();
    assert.equal((await ingests(at("root"))).length, 1);
    const pruned = await call("POST", `/images/prune?filters=${encodeURIComponent(JSON.stringify({ dangling: ["false"] }))}`);
    assert.equal(pruned.status, 200, pruned.body);
    assert.ok((JSON.parse(pruned.body) as { SpaceReclaimed: number }).SpaceReclaimed > 0, pruned.body);
    assert.deepEqual(await ingests(at("root")), []);
    assert.ok(child!.out.some((l) => /removed the idle ingest pull-sha256:.* on image prune/.test(l)), child!.out.join("\n"));
  });

  it("an ingest older than the age limit is removed at the next start", async () => {
    await pullAndKill();
    const [ingest] = await readdir(at("root/content/ingest"));
    const old = new Date(Date.now() - 25 * 60 * 60 * 1000);
    for (const f of await readdir(at(`root/content/ingest/${ingest}`))) await utimes(at(`root/content/ingest/${ingest}/${f}`), old, old);
    await start();
    assert.deepEqual(await ingests(at("root")), []);
    assert.ok(child!.out.some((l) => /removed the idle ingest pull-sha256:.*older than the age limit/.test(l)), child!.out.join("\n"));
  });

  it("an ingest whose data is shorter than its record is dropped with a log line at the next start", async () => {
    const partial = await pullAndKill();
    const [ingest] = await readdir(at("root/content/ingest"));
    await truncate(at(`root/content/ingest/${ingest}/data`), partial.recorded - 1);
    await start();
    assert.deepEqual(await ingests(at("root")), []);
    assert.ok(child!.out.some((l) => /dropped the partial ingest pull-sha256:.*fewer than the \d+ its record says were written/.test(l)), child!.out.join("\n"));
    // and the pull then downloads the layer whole
    proxy!.seen.length = 0;
    const [name, tag] = ref.split(/:(?=[^:]*$)/) as [string, string];
    const pulled = await call("POST", `/images/create?fromImage=${encodeURIComponent(name)}&tag=${tag}`);
    assert.doesNotMatch(pulled.body, /"error"/);
    assert.deepEqual(
      proxy!.seen.filter((l) => l.includes(`/blobs/${layerDigest}`)),
      [`GET /v2/big/blobs/${layerDigest}`],
    );
  });
});

/** The snapshot keys a state root's snapshot metadata names (the checkpoint with its journal replayed). */
async function snapshotKeys(root: string): Promise<string[]> {
  const dir = path.join(root, "snapshots");
  const meta = JSON.parse(await readFile(path.join(dir, "metadata.json"), "utf8").catch(() => '{"snapshots":{}}')) as { snapshots: Record<string, unknown> };
  const keys = new Set(Object.keys(meta.snapshots));
  for (const line of (await readFile(path.join(dir, "metadata.journal"), "utf8").catch(() => "")).split("\n")) {
    if (line === "") continue;
    let e: { op: string; key: string; name?: string };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue; // a line torn by the kill
    }
    if (e.op === "put") keys.add(e.key);
    else if (e.op === "del") keys.delete(e.key);
    else if (e.op === "commit") {
      keys.delete(e.key);
      keys.add(e.name as string);
    }
  }
  return [...keys].sort();
}

/** POST /images/create on a socket; calls onMessage with each progress message until the stream ends or breaks. */
function streamPull(socket: string, query: string, onMessage: (m: { status?: string; progressDetail?: { current?: number; total?: number } }) => void): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: socket, method: "POST", path: `/images/create?${query}` }, (res) => {
      let buf = "";
      res.on("data", (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line !== "") onMessage(JSON.parse(line) as { status?: string });
        }
      });
      res.on("error", () => resolve());
      res.on("close", () => resolve());
    });
    req.on("error", () => resolve());
    req.end();
  });
}

describe("a layer whose unpack a crash interrupted", { skip: process.getuid?.() !== 0 ? "needs root (snapshots)" : false }, () => {
  it("leaves no snapshot: the next start removes the active extract- snapshot and its directory", async () => {
    const dir = await tempDir();
    try {
      const svc = await ImageService.open({ root: dir });
      await svc.snapshots.prepare("extract-0123456789ab-sha256:feed", undefined);
      const upper = svc.snapshots.upperDir("extract-0123456789ab-sha256:feed");
      await writeFile(path.join(upper, "half-written"), "x");
      // a container's rootfs, also active, is not the unpack's to remove
      await svc.snapshots.prepare("container-rootfs", undefined);
      const reopened = await ImageService.open({ root: dir });
      assert.deepEqual(
        reopened.snapshots.list().map((s) => s.key),
        ["container-rootfs"],
      );
      await assert.rejects(stat(upper), { code: "ENOENT" });
    } finally {
      await tearDownDaemon(undefined, dir);
    }
  });
});

function httpGet(url: string, accept: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { Accept: accept } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode} ${body}`))));
      })
      .on("error", reject);
  });
}

// The API fuzzer: a daemon of its own (test/fuzz/fuzz-daemon.ts, in its own process and network
// namespace) with a few objects for path parameters to name (containers running, created and
// exited, an exec, a volume, a network, the busybox image), and a loop that sends one request at
// a time: every operation of the swagger and every route the daemon serves, in a seeded shuffled
// cycle, each request made from its own seed (random values per schema, or a mutation of a real
// client's request from seeds.ts). After every request the oracles:
//
//   alive      the daemon's process runs and answers /_ping
//   message    every 4xx/5xx answer (but HEAD's) carries {"message": "..."}, non-empty, and no
//              5xx message is a raw JavaScript error ("Cannot read properties of undefined")
//   typed      the daemon logged no unexpected (non-CoveError) error for the request
//   bounded    the answer completes within a bound; streaming endpoints (attach, logs, events,
//              stats, wait, exec start, pull, push, load, build, export, save) only have to
//              send their headers within it, and are closed after a short read
//   unchanged  a mutating request answered 4xx changed nothing (state.ts snapshots; every such
//              request, or a sample of them with stateCheck < 1)
//
// A finding names its request as seed:operation: `COVE_FUZZ_REPLAY=<seed>:<operation>` replays it.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { instanceLayout } from "../../src/common/instance.js";
import { unmountAll } from "../../src/snapshots/index.js";
import { encodeComponent, mutateBytes, mutateJSON, queryValue, randomJSON, randomString, Rng, SchemaValues } from "./generate.js";
import { SEEDS, type SeedRequest } from "./seeds.js";
import { loadSpec, type Operation, type Spec } from "./spec.js";
import { compare, getJSON, snapshot, type Snapshot, type StatePlaces } from "./state.js";

const CHILD = fileURLToPath(new URL("./fuzz-daemon.js", import.meta.url));

export interface FuzzOptions {
  /** A scratch directory of the run's own (the daemon's root, socket and exec root go under it). */
  dir: string;
  seed: number;
  /** Stop after this many requests, or after this many seconds, whichever comes first. */
  requests?: number;
  seconds?: number;
  /** The share of refused mutating requests whose state is compared (1: every one). */
  stateCheck?: number;
  /** Replay only these requests: "seed:operationId", as a finding names them. */
  replay?: string[];
  log?: (line: string) => void;
  /** Log every request with its answer's status. */
  verbose?: boolean;
}

export interface Finding {
  /** The request's own seed: COVE_FUZZ_REPLAY=<seed> sends it again. */
  seed: number;
  oracle: "alive" | "message" | "typed" | "bounded" | "unchanged";
  /** The operation (swagger operationId, or cove's route). */
  op: string;
  request: string;
  detail: string;
}

export interface FuzzReport {
  requests: number;
  seconds: number;
  /** Requests per endpoint class (first path segment) and per operation. */
  perClass: Record<string, number>;
  perOperation: Record<string, number>;
  statuses: Record<string, number>;
  stateChecks: number;
  /** The 5xx answers' messages, one per operation and message (not findings: they say what failed). */
  serverErrors: string[];
  /** Served routes no request reached (should be none after one cycle). */
  unreached: string[];
  findings: Finding[];
}

interface Built {
  seed: number;
  op: Operation;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
  chunked: boolean;
  how: string;
}

/** Operations whose answer is a stream that may legitimately stay open. */
const STREAMING = new Set(["ContainerAttach", "ContainerAttachWebsocket", "ContainerLogs", "ContainerStats", "SystemEvents", "ContainerWait", "ExecStart", "ContainerExport", "ImageGet", "ImageGetAll", "ImageCreate", "ImagePush", "ImageLoad", "ImageBuild", "ServiceLogs", "TaskLogs", "ContainerArchive", "PutContainerArchive"]);
/** How long an answer may take (a busy machine: containers start in seconds, not minutes). */
const ANSWER_BOUND_MS = 90_000;
/** How long a stream is read before the fuzzer closes it. */
const STREAM_READ_MS = 1500;
/** Messages that are a JavaScript engine's, not cove's: a bug that should have been a clear 4xx. */
const JS_INTERNAL = /Cannot read propert|is not a function|is not iterable|is not defined|Cannot destructure|Cannot convert (undefined|null|object)|Maximum call stack|Invalid array length|Invalid string length|\[object Object\]|of undefined|of null \(/;

/** One seed per request from the run's seed and the request's index. */
export function requestSeed(runSeed: number, index: number): number {
  let h = (runSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A ustar archive of the given files (the seeds' tar bodies). */
export function tarOf(files: Record<string, string>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const h = Buffer.alloc(512);
    const data = Buffer.from(content);
    h.write(name, 0, 100);
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(data.length.toString(8).padStart(11, "0") + "\0", 124);
    h.write("14700000000\0", 136);
    h.write("        ", 148);
    h.write("0", 156);
    h.write("ustar\0" + "00", 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

interface Fixtures {
  running: string;
  created: string;
  stopped: string;
  exec: string;
  image: string;
  imageId: string;
  network: string;
  networkId: string;
  volume: string;
  /** `docker save busybox`: a real body for /images/load. */
  saved: Buffer;
}

interface Answer {
  status: number;
  body: Buffer;
  complete: boolean;
  timedOut: boolean;
  error?: string;
}

function send(socket: string, b: Built, streaming: boolean, boundMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (a: Partial<Answer>) => {
      if (settled) return;
      settled = true;
      clearTimeout(bound);
      req.destroy();
      resolve({ status, body: Buffer.concat(chunks), complete: false, timedOut: false, ...a });
    };
    const req = http.request({ socketPath: socket, method: b.method, path: b.path, headers: b.headers, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      if (streaming && status < 300) setTimeout(() => finish({ complete: true }), STREAM_READ_MS);
      res.on("data", (c: Buffer) => {
        if (size < 1 << 20) chunks.push(c);
        size += c.length;
      });
      res.on("end", () => finish({ complete: true }));
      res.on("error", () => undefined);
      res.on("close", () => finish({ complete: res.complete }));
    });
    const bound = setTimeout(() => finish({ timedOut: true }), boundMs);
    req.on("error", (err) => finish({ error: err.message }));
    // an upgraded connection (attach, exec start with Upgrade: tcp) is a stream: read briefly
    req.on("upgrade", (res, sock) => {
      status = res.statusCode ?? 101;
      sock.on("data", (c: Buffer) => chunks.push(c));
      sock.on("error", () => undefined);
      setTimeout(() => {
        sock.destroy();
        finish({ complete: true });
      }, STREAM_READ_MS);
    });
    if (b.body && b.chunked && b.body.length > 1) {
      const cut = 1 + Math.floor(b.body.length / 2);
      req.write(b.body.subarray(0, cut));
      setImmediate(() => req.end(b.body!.subarray(cut)));
    } else req.end(b.body);
  });
}

export class Fuzzer {
  private child?: ChildProcessWithoutNullStreams;
  private logs: string[] = [];
  private routes: string[] = [];
  private spec!: Spec;
  private fx!: Fixtures;
  private baseline?: Snapshot;
  private readonly socket: string;
  private readonly root: string;
  private readonly execRoot: string;
  private readonly places: () => StatePlaces;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: FuzzOptions) {
    this.socket = path.join(opts.dir, "fz.sock");
    this.root = path.join(opts.dir, "root");
    // short: the containers' attach sockets live under it
    this.execRoot = path.join(opts.dir, "x");
    this.log = opts.log ?? (() => undefined);
    const cgroupParent = instanceLayout(this.root).cgroupParent;
    this.places = () => ({ socket: this.socket, root: this.root, execRoot: this.execRoot, cgroupParent, pid: this.child?.pid ?? 0 });
  }

  /** Starts the daemon (again, after a crash: the containers it left are adopted). */
  private async startDaemon(): Promise<void> {
    const resolv = path.join(this.opts.dir, "resolv.conf");
    await writeFile(resolv, "# no upstream: the fuzzed daemon reaches nothing beyond loopback\n");
    const child = spawn("unshare", ["-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", process.execPath, CHILD, this.root, this.socket, this.execRoot, resolv], { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    let partial = "";
    let ready: () => void = () => undefined;
    let routesSeen: (r: string[]) => void = () => undefined;
    const routes = new Promise<string[]>((r) => (routesSeen = r));
    const isReady = new Promise<void>((r) => (ready = r));
    const feed = (d: Buffer) => {
      partial += d.toString();
      const ls = partial.split("\n");
      partial = ls.pop() ?? "";
      for (const l of ls) {
        if (l.startsWith("routes ")) routesSeen(JSON.parse(l.slice(7)) as string[]);
        else if (l === "ready") ready();
        else this.logs.push(l);
      }
    };
    child.stdout.on("data", feed);
    child.stderr.on("data", feed);
    const exited = new Promise<never>((_, reject) => child.once("exit", (code, sig) => reject(new Error(`the fuzzed daemon exited (${code ?? sig}) before it was ready:\n${this.logs.slice(-30).join("\n")}`))));
    exited.catch(() => undefined);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the fuzzed daemon was not ready within 180 s:\n${this.logs.slice(-30).join("\n")}`)), 180_000).unref());
    this.routes = await Promise.race([routes, exited, timeout]);
    await Promise.race([isReady, exited, timeout]);
  }

  private alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  private async api(method: string, p: string, body?: unknown, raw?: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const payload = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
      const req = http.request({ socketPath: this.socket, method, path: p, headers: payload ? { "Content-Type": raw ? "application/x-tar" : "application/json" } : {}, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(payload);
    });
  }

  private async must(method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await this.api(method, p, body);
    if (r.status >= 300) throw new Error(`fixture: ${method} ${p}: ${r.status} ${r.text}`);
    return r.text.trim() === "" ? {} : (JSON.parse(r.text.trim().split("\n").pop() ?? "{}") as Record<string, unknown>);
  }

  /** Removes what fuzzed requests made and remakes the fixtures that changed. */
  private async restore(full: boolean): Promise<void> {
    const names = new Set(["/fz-running", "/fz-created", "/fz-exited"]);
    const containers = (await getJSON(this.socket, "/containers/json?all=1")) as { Id: string; Names: string[] }[];
    const fixture = (n: string) => containers.find((c) => c.Names.includes(n));
    for (const c of containers) if (full || !c.Names.some((n) => names.has(n))) await this.api("DELETE", `/containers/${c.Id}?force=1&v=1`);
    for (const n of (await getJSON(this.socket, "/networks")) as { Id: string; Name: string }[]) {
      if (!["bridge", "host", "none"].includes(n.Name) && (full || n.Name !== "fz-net")) await this.api("DELETE", `/networks/${n.Id}`);
    }
    for (const v of ((await getJSON(this.socket, "/volumes")) as { Volumes: { Name: string }[] | null }).Volumes ?? []) {
      if (full || v.Name !== "fz-vol") await this.api("DELETE", `/volumes/${encodeURIComponent(v.Name)}?force=1`);
    }
    for (const i of (await getJSON(this.socket, "/images/json?all=1")) as { Id: string; RepoTags: string[] | null }[]) {
      if (i.Id === this.fx?.imageId || (!this.fx && i.RepoTags?.includes("busybox:latest"))) {
        for (const t of i.RepoTags ?? []) if (t !== "busybox:latest") await this.api("DELETE", `/images/${encodeURIComponent(t)}`);
        continue;
      }
      await this.api("DELETE", `/images/${i.Id}?force=1`);
    }
    if ((await this.api("GET", "/images/busybox:latest/json")).status !== 200) {
      // untagged or removed: tag it again, or load what `save` gave at the start
      const tagged = this.fx ? await this.api("POST", `/images/${this.fx.imageId}/tag?repo=busybox&tag=latest`) : { status: 404 };
      if (tagged.status >= 300) await this.api("POST", "/images/load?quiet=1", undefined, this.fx.saved);
    }
    const image = (await this.must("GET", "/images/busybox:latest/json")).Id as string;
    if ((await this.api("GET", "/networks/fz-net")).status !== 200) await this.must("POST", "/networks/create", { Name: "fz-net", Driver: "bridge", IPAM: { Config: [{ Subnet: "10.251.200.0/24" }] }, Labels: { "fuzz.fixture": "1" } });
    if ((await this.api("GET", "/volumes/fz-vol")).status !== 200) await this.must("POST", "/volumes/create", { Name: "fz-vol", Labels: { "fuzz.fixture": "1" } });
    const network = (await this.must("GET", "/networks/fz-net")).Id as string;
    const want = async (name: string, cmd: string[], state: "running" | "created" | "exited") => {
      const c = full ? undefined : fixture(`/${name}`);
      if (c) {
        const info = (await this.must("GET", `/containers/${c.Id}/json`)) as { State: { Status: string }; HostConfig: { RestartPolicy?: { Name?: string } }; Config: { Labels?: Record<string, string> } };
        // a fuzzed update or rename the fixture no longer looks like itself: remake it
        if (info.State.Status === state && (info.HostConfig.RestartPolicy?.Name ?? "no") === "no" && info.Config.Labels?.["fuzz.fixture"] === "1") return c.Id;
        await this.api("DELETE", `/containers/${c.Id}?force=1`);
      }
      const created = await this.must("POST", `/containers/create?name=${name}`, {
        Image: "busybox:latest",
        Cmd: cmd,
        Labels: { "fuzz.fixture": "1" },
        HostConfig: { NetworkMode: "fz-net", Binds: ["fz-vol:/data"], Init: false },
      });
      const id = created.Id as string;
      if (state !== "created") await this.must("POST", `/containers/${id}/start`);
      if (state === "exited") await this.must("POST", `/containers/${id}/wait`);
      return id;
    };
    const running = await want("fz-running", ["sleep", "86400"], "running");
    const created = await want("fz-created", ["sleep", "1"], "created");
    const stopped = await want("fz-exited", ["true"], "exited");
    let exec = this.fx?.exec;
    if (!exec || (await this.api("GET", `/exec/${exec}/json`)).status !== 200 || this.fx.running !== running) {
      exec = (await this.must("POST", `/containers/${running}/exec`, { Cmd: ["true"], AttachStdout: true })).Id as string;
    }
    this.fx = { running, created, stopped, exec, image: "busybox:latest", imageId: image, network: "fz-net", networkId: network, volume: "fz-vol", saved: this.fx?.saved ?? Buffer.alloc(0) };
  }

  /**
   * A snapshot once the daemon's state has settled: the same twice in a row. An exited
   * container's network goes shortly after its wait answers, and a baseline taken in between
   * would blame the next request for it.
   */
  private async settled(): Promise<Snapshot> {
    let last = await snapshot(this.places());
    for (let n = 0; n < 20; n++) {
      await new Promise((r) => setTimeout(r, 250));
      const next = await snapshot(this.places());
      if (compare(last, next).length === 0) return next;
      last = next;
    }
    return last;
  }

  async setup(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    await this.startDaemon();
    this.spec = loadSpec(this.routes);
    await this.restore(true);
    const saved = await new Promise<Buffer>((resolve, reject) => {
      http.get({ socketPath: this.socket, path: "/images/get?names=busybox%3Alatest", agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks)));
        res.on("error", reject);
      }).on("error", reject);
    });
    this.fx.saved = saved;
    this.baseline = await this.settled();
  }

  /**
   * The oracles can fail: a volume made and removed behind the fuzzer's back shows in the state
   * comparison (returned: the lines that differ), and an answer without a message is one.
   */
  async selfCheck(): Promise<{ stateDiff: string[]; messageOracle: boolean }> {
    const before = await snapshot(this.places());
    await this.must("POST", "/volumes/create", { Name: "fz-selfcheck" });
    const after = await snapshot(this.places());
    await this.must("DELETE", "/volumes/fz-selfcheck");
    const stateDiff = compare(before, after);
    const back = compare(before, await snapshot(this.places()));
    if (back.length > 0) throw new Error(`the state did not come back after the self-check: ${back.join("; ")}`);
    return { stateDiff, messageOracle: JS_INTERNAL.test("Cannot read properties of undefined (reading 'Name')") };
  }

  /**
   * Everything the fuzzer made goes: containers, networks, the daemon, its mounts and directory.
   * Returns what went wrong on the way (a daemon that had to be killed), "" when nothing did.
   */
  async teardown(): Promise<string> {
    const child = this.child;
    let problem = "";
    if (child && this.alive()) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const killed = setTimeout(() => {
        problem = `the daemon did not stop within 120 s of SIGTERM; its last lines:\n${this.logs.slice(-20).join("\n")}`;
        child.kill("SIGKILL");
      }, 120_000);
      await gone;
      clearTimeout(killed);
    }
    for (const base of [this.root, this.execRoot]) {
      const mounts = (await import("node:fs/promises").then((f) => f.readFile("/proc/self/mountinfo", "utf8")))
        .split("\n")
        .map((l) => l.split(" ")[4] ?? "")
        .filter((m) => m.startsWith(base + "/"))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) {
        try {
          unmountAll(m, 2);
        } catch {
          // the rest may still come off
        }
      }
    }
    await rm(this.opts.dir, { recursive: true, force: true, maxRetries: 3 });
    return problem;
  }

  private pathValue(rng: Rng, opPath: string, name: string): string {
    const fx = this.fx;
    const kind = opPath.startsWith("/images") || opPath.startsWith("/distribution") ? "image" : opPath.startsWith("/networks") ? "network" : opPath.startsWith("/volumes") ? "volume" : opPath.startsWith("/exec") ? "exec" : opPath.startsWith("/containers") ? "container" : "other";
    const real: Record<string, string[]> = {
      image: [fx.image, fx.imageId, fx.imageId.replace("sha256:", "").slice(0, 12), "busybox", `busybox@${fx.imageId}`, "fz-absent:1", "localhost:1/a/b:c"],
      network: [fx.network, fx.networkId, fx.networkId.slice(0, 6), "bridge", "host", "none", "fz-absent"],
      volume: [fx.volume, "fz-absent"],
      exec: [fx.exec, fx.exec.slice(0, 8), "fz-absent"],
      container: [fx.running, fx.created, fx.stopped, "fz-running", "fz-exited", "fz-created", fx.running.slice(0, 5), "fz-absent", "/fz-running"],
      other: ["fz-absent", "x"],
    };
    const r = rng.next();
    const v = r < 0.6 ? rng.pick(real[kind] ?? real.other!) : r < 0.7 ? "" : randomString(rng);
    // {name:.*} parameters may hold slashes (image references), others are one segment
    const multi = name === "name" && kind === "image";
    return multi && rng.chance(0.7) ? v.split("/").map((s) => encodeComponent(rng, s)).join("/") : encodeComponent(rng, v);
  }

  private substitute(text: string): string {
    const fx = this.fx;
    return text.replace(/\{(running|created|stopped|exec|image|network|volume)\}/g, (_, k: keyof Fixtures) => String(fx[k]));
  }

  /** One request for the operation, from its own seed. */
  build(op: Operation, seed: number): Built {
    const rng = new Rng(seed);
    const values = new SchemaValues(rng, this.spec.definitions);
    const seeds = SEEDS.filter((s) => s.op === op.id);
    const seedReq: SeedRequest | undefined = seeds.length > 0 && rng.chance(0.65) ? rng.pick(seeds) : undefined;
    let how = seedReq ? "mutated" : "random";
    let method = op.method;
    if (rng.chance(0.03)) {
      method = rng.pick(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]);
      how += "+method";
    }
    // the path: the seed's (placeholders filled), or the template with chosen parameters
    let p: string;
    if (seedReq && rng.chance(0.8)) p = this.substitute(seedReq.path);
    else p = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => this.pathValue(rng, op.path, name));
    if (!p.startsWith("/v1.") && rng.chance(0.25)) p = `/v${rng.pick(["1.24", "1.25", "1.30", "1.41", "1.43", "1.44", "1.47", "1.12", "1.99", "1", "1.x", "2.0"])}${p}`;
    // the query
    const q: [string, string][] = [];
    if (seedReq?.query) {
      for (const [k, v] of Object.entries(seedReq.query)) for (const one of Array.isArray(v) ? v : [v]) q.push([k, this.substitute(one)]);
      for (let n = rng.int(3); n > 0 && q.length > 0; n--) {
        const i = rng.int(q.length);
        const [k, v] = q[i]!;
        const param = op.params.find((x) => x.name === k);
        const r = rng.int(4);
        if (r === 0) q.splice(i, 1);
        else if (r === 1) q[i] = [k, queryValue(rng, param?.type ?? "string", param?.enum)];
        else if (r === 2) q.push([k, queryValue(rng, param?.type ?? "string", param?.enum)]);
        else if (v.startsWith("{") || v.startsWith("[")) q[i] = [k, mutateBytes(rng, Buffer.from(v)).toString("latin1")];
      }
    } else {
      for (const param of op.params.filter((x) => x.in === "query")) {
        if (!rng.chance(0.4)) continue;
        const n = param.type === "array" ? 1 + rng.int(3) : rng.chance(0.1) ? 2 : 1;
        for (let i = 0; i < n; i++) q.push([param.name, queryValue(rng, param.type === "array" ? String(param.items?.type ?? "string") : param.type, param.enum)]);
      }
    }
    if (rng.chance(0.15)) q.push([randomString(rng).slice(0, 40), randomString(rng).slice(0, 100)]);
    if (q.length > 0) p += "?" + q.map(([k, v]) => `${encodeComponent(rng, k)}=${encodeComponent(rng, v)}`).join("&");
    // headers
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(seedReq?.headers ?? {})) headers[k] = this.substitute(v);
    for (const param of op.params.filter((x) => x.in === "header")) {
      if (rng.chance(0.3)) headers[param.name] = rng.pick([Buffer.from(JSON.stringify(randomJSON(rng, 2))).toString(rng.chance(0.5) ? "base64" : "base64url"), randomString(rng).replace(/[^\x20-\x7e]/g, ""), "!!!", ""]);
    }
    if (rng.chance(0.05) && /attach|exec\/\{[^}]+\}\/start/.test(op.path)) {
      headers.Connection = "Upgrade";
      headers.Upgrade = "tcp";
    }
    // the body
    let body: Buffer | undefined;
    if (seedReq?.raw) {
      const tar = seedReq.raw === "dockerfile-tar" ? tarOf({ Dockerfile: "FROM busybox:latest\nRUN true\nLABEL fuzz=1\n" }) : seedReq.op === "ImageLoad" ? this.fx.saved : tarOf({ "fz.txt": "hi\n" });
      body = rng.chance(0.6) ? mutateBytes(rng, tar) : tar;
    } else if (seedReq?.body !== undefined) {
      const doc = JSON.parse(this.substitute(JSON.stringify(seedReq.body))) as unknown;
      const mutated = rng.chance(0.85) ? mutateJSON(rng, doc, values) : doc;
      body = Buffer.from(JSON.stringify(mutated) ?? "");
      if (rng.chance(0.2)) body = mutateBytes(rng, body);
    } else if (op.body === "binary") {
      const r = rng.int(4);
      body = r === 0 ? tarOf({ [randomString(rng).slice(0, 90) || "x"]: randomString(rng) }) : r === 1 ? Buffer.from(Array.from({ length: rng.int(2048) }, () => rng.int(256))) : r === 2 ? tarOf({ "a/../../b": "x", "/abs": "y" }) : Buffer.alloc(0);
    } else if (op.body !== undefined) {
      body = Buffer.from(JSON.stringify(values.value(op.body)) ?? "");
      if (rng.chance(0.25)) body = mutateBytes(rng, body);
    } else if (rng.chance(0.08)) {
      body = Buffer.from(JSON.stringify(randomJSON(rng, 3)) ?? "");
      how += "+body";
    }
    if (body && headers["Content-Type"] === undefined) headers["Content-Type"] = rng.pick(["application/json", "application/json", "text/plain", "application/x-tar", "application/json; charset=utf-16", "multipart/form-data; boundary=x", "", "application/json, text/plain"]);
    if (rng.chance(0.03)) headers["Content-Type"] = ["application/json", "text/plain"];
    const chunked = !!body && rng.chance(0.3);
    return { seed, op, method, path: p, headers, ...(body ? { body } : {}), chunked, how };
  }

  private describe(b: Built): string {
    const body = b.body ? ` body(${b.body.length}${b.chunked ? ", chunked" : ""}): ${b.body.subarray(0, 300).toString("latin1").replace(/[^\x20-\x7e]/g, "?")}` : "";
    return `${b.method} ${b.path.length > 400 ? b.path.slice(0, 400) + "..." : b.path} [${b.op.id}, ${b.how}] headers ${JSON.stringify(b.headers).slice(0, 200)}${body}`;
  }

  async run(): Promise<FuzzReport> {
    const o = this.opts;
    const started = Date.now();
    const report: FuzzReport = { requests: 0, seconds: 0, perClass: {}, perOperation: {}, statuses: {}, stateChecks: 0, serverErrors: [], unreached: [], findings: [] };
    const reached = new Set<string>();
    const ops = this.spec.operations;
    const order = new Rng(o.seed);
    let cycle: Operation[] = [];
    const replay = o.replay ? [...o.replay] : undefined;
    const findingSeen = new Set<string>();
    const find = (f: Finding) => {
      const key = `${f.oracle} ${f.op} ${f.detail.slice(0, 120)}`;
      report.findings.push(f);
      if (!findingSeen.has(key)) this.log(`FINDING ${f.seed}:${f.op} ${f.oracle}: ${f.detail}\n  request: ${f.request}`);
      findingSeen.add(key);
    };
    for (let i = 0; ; i++) {
      if (replay) {
        if (replay.length === 0) break;
      } else {
        // by default two cycles: every operation twice
        if (i >= (o.requests ?? (o.seconds === undefined ? 2 * ops.length : Infinity))) break;
        if (o.seconds !== undefined && Date.now() - started > o.seconds * 1000) break;
      }
      let seed = requestSeed(o.seed, i);
      let op: Operation;
      if (replay) {
        const one = replay.shift()!;
        const at = one.indexOf(":");
        seed = Number(one.slice(0, at));
        const found = ops.find((x) => x.id === one.slice(at + 1));
        if (!found) throw new Error(`no operation ${one.slice(at + 1)} to replay`);
        op = found;
      } else {
        if (cycle.length === 0) {
          cycle = [...ops];
          for (let k = cycle.length - 1; k > 0; k--) {
            const j = order.int(k + 1);
            [cycle[k], cycle[j]] = [cycle[j]!, cycle[k]!];
          }
        }
        op = cycle.pop()!;
      }
      const b = this.build(op, seed);
      const desc = this.describe(b);
      const mutating = !["GET", "HEAD"].includes(b.method);
      const logMark = this.logs.length;
      // stop and restart with a negative t wait for the container as long as it takes (Docker's
      // "no timeout"): the fuzzer stops waiting, as a client would, without calling it a hang
      const waitsForever = (/^Container(Stop|Restart)$/.test(op.id) && /[?&]t=-/.test(b.path)) || op.id === "ContainerWait";
      const ans = await send(this.socket, b, STREAMING.has(op.id), waitsForever ? STREAM_READ_MS * 4 : ANSWER_BOUND_MS);
      report.requests++;
      reached.add(`${op.method} ${op.path}`);
      report.perOperation[op.id] = (report.perOperation[op.id] ?? 0) + 1;
      const cls = op.path.split("/")[1] ?? "";
      report.perClass[cls] = (report.perClass[cls] ?? 0) + 1;
      const statusKey = ans.timedOut ? "timeout" : ans.error ? "error" : `${Math.floor(ans.status / 100)}xx`;
      report.statuses[statusKey] = (report.statuses[statusKey] ?? 0) + 1;

      if (o.verbose) this.log(`#${i} seed=${seed} -> ${ans.status}${ans.error ? ` (${ans.error})` : ""} ${ans.body.subarray(0, 160).toString("latin1").replace(/[^\x20-\x7e]/g, "?")} <- ${desc.slice(0, 300)}`);
      if (ans.timedOut && !waitsForever) find({ seed, oracle: "bounded", op: op.id, request: desc, detail: `no complete answer within ${ANSWER_BOUND_MS} ms (status ${ans.status || "none"})` });
      // alive: the process, then /_ping
      const pong = await this.api("GET", "/_ping").then(
        (r) => r.status,
        () => 0,
      );
      if (!this.alive() || pong !== 200) {
        find({ seed, oracle: "alive", op: op.id, request: desc, detail: `the daemon ${this.alive() ? `answers /_ping with ${pong}` : "exited"}; its last lines:\n${this.logs.slice(-15).join("\n")}` });
        if (this.child && this.alive()) this.child.kill("SIGKILL");
        await new Promise((r) => setTimeout(r, 500));
        await this.startDaemon();
        await this.restore(false);
        this.baseline = await this.settled();
        continue;
      }
      if (ans.error && !ans.status && !STREAMING.has(op.id) && b.method !== "HEAD") {
        // the connection dropped without an answer (EPIPE: the daemon answered and closed while a body was still being sent)
        if (!/EPIPE/.test(ans.error)) find({ seed, oracle: "bounded", op: op.id, request: desc, detail: `no answer: ${ans.error}` });
      }
      // message
      if (ans.status >= 400 && b.method !== "HEAD" && ans.complete) {
        let message: unknown;
        try {
          message = (JSON.parse(ans.body.toString()) as { message?: unknown }).message;
        } catch {
          message = undefined;
        }
        const line = `${ans.status} ${op.id}: ${String(message).slice(0, 160)}`;
        if (ans.status >= 500 && !report.serverErrors.includes(line)) report.serverErrors.push(line);
        if (typeof message !== "string" || message.trim() === "") find({ seed, oracle: "message", op: op.id, request: desc, detail: `${ans.status} without a {"message"}: ${ans.body.subarray(0, 200).toString()}` });
        else if (JS_INTERNAL.test(message)) find({ seed, oracle: "message", op: op.id, request: desc, detail: `${ans.status} with a JavaScript error for a message: ${message.slice(0, 300)}` });
      }
      // typed: the router logs every error that is not a CoveError with its stack
      for (const l of this.logs.slice(logMark)) {
        const m = /^log: [A-Z]+ \S+: (\w*Error|\w+):? /.exec(l);
        if (m && m[1] !== "CoveError") find({ seed, oracle: "typed", op: op.id, request: desc, detail: `the daemon logged an unexpected error: ${l.slice(5).replace(/^(\S+ \S{0,80})\S*: /, "$1...: ").slice(0, 600)}` });
        if (/unhandled|uncaught/i.test(l)) find({ seed, oracle: "typed", op: op.id, request: desc, detail: `the daemon logged: ${l.slice(5, 400)}` });
      }
      // unchanged: a refused mutating request leaves the state as it was
      if (mutating && ans.status >= 400 && ans.status < 500 && this.baseline && new Rng(seed ^ 0x5eed).next() < (o.stateCheck ?? 1)) {
        report.stateChecks++;
        const after = await snapshot(this.places());
        const diff = compare(this.baseline, after);
        if (diff.length > 0) {
          find({ seed, oracle: "unchanged", op: op.id, request: desc, detail: `answered ${ans.status} ${ans.body.subarray(0, 200).toString().trim()} but changed:\n    ${diff.join("\n    ")}` });
          await this.restore(false);
          this.baseline = await this.settled();
        }
      } else if (mutating && (ans.status < 400 || ans.status >= 500 || !this.baseline)) {
        // accepted (or failed): put the fixtures back as they were, then a new baseline
        await this.restore(false);
        this.baseline = await this.settled();
      }
      if (i % 50 === 49) this.log(`${report.requests} requests, ${report.findings.length} findings, ${Math.round((Date.now() - started) / 1000)} s`);
    }
    report.seconds = Math.round((Date.now() - started) / 1000);
    const served = new Set(ops.filter((x) => x.served).map((x) => `${x.method} ${x.path}`));
    report.unreached = [...served].filter((r) => !reached.has(r));
    return report;
  }
}

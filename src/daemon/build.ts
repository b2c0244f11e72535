// POST /build, /build/prune and /build/cancel: Docker's image build (the legacy builder's API).
// The body is the build context as a tar (plain or compressed); it is extracted into a private
// directory under the state root, .dockerignore applied, the Dockerfile read and parsed, and the
// stages run by the build executor while its progress goes out as the JSON messages dockerd's
// legacy builder sends ({"stream":"Step 1/4 : FROM busybox\n"}, {"aux":{"ID":...}}, ...).
// A BuildKit build (version=2) is refused as by a dockerd without BuildKit. `remote` (a git URL,
// or an http(s) URL of a tarball or a Dockerfile) replaces the body, as with dockerd
// (src/build/remote-context.ts).

import { createHash, randomBytes } from "node:crypto";
import { chmodSync, closeSync, constants as fsc, copyFileSync, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync, realpathSync, rmdirSync, rmSync, symlinkSync, unlinkSync, writeSync } from "node:fs";
import { mkdir, mkdtemp, readFile, realpath, rm } from "node:fs/promises";
import path from "node:path";
import { Builder, dockerfileToSteps, formatEvent, unusedArgsWarning, type BuildOptions } from "../build/index.js";
import { DockerIgnore } from "../build/dockerfile/dockerignore.js";
import { parseStages } from "../build/dockerfile/instructions.js";
import { decodeDockerfile } from "../build/dockerfile/parser.js";
import { fetchGitContext, fetchHttpContext, isGitUrl, isHttpUrl, parseGitUrl } from "../build/remote-context.js";
import { CoveError, invalid, notFound } from "../common/errors.js";
import { bestEffort } from "../common/ignore.js";
import type { ContainerService } from "../containers/index.js";
import type { ImageService } from "../images/service.js";
import type { AuthConfig } from "../registry/auth.js";
import { decompress, readTar } from "../snapshots/index.js";
import { errorMessage, sendJSON, type RouteContext, type Router } from "./router.js";
import { JSONMessageStream } from "./stream.js";
import { checkBuildPruneQuery } from "./system.js";

export interface BuildRouteDeps {
  containers: ContainerService;
  images: ImageService;
  /** Settles once the daemon has removed the build containers a stopped daemon left. */
  leftoversRemoved: Promise<void>;
  log?: (msg: string) => void;
}

/** A JSON-object query parameter (buildargs, labels): string values; null values (ARG without =) are dropped. */
function jsonMap(c: RouteContext, name: string): Record<string, string> {
  const raw = c.query.get(name);
  if (raw === undefined || raw === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid(`${name} must be a JSON object of strings: ${raw}`, { code: "query.invalid", field: name });
  }
  if (v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw invalid(`${name} must be a JSON object of strings: ${raw}`, { code: "query.invalid", field: name });
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === null) continue;
    if (typeof x !== "string") throw invalid(`${name}: the value of ${k} must be a string`, { code: "query.invalid", field: name });
    out[k] = x;
  }
  return out;
}

function bool(c: RouteContext, name: string, dflt = false): boolean {
  const v = c.query.get(name);
  if (v === undefined || v === "") return dflt;
  if (/^(1|true|t)$/i.test(v)) return true;
  if (/^(0|false|f)$/i.test(v)) return false;
  throw invalid(`invalid value for ${name}: ${v}`, { code: "query.invalid", field: name });
}

function int(c: RouteContext, name: string): number | undefined {
  const v = c.query.get(name);
  if (v === undefined || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw invalid(`invalid value for ${name}: ${v}`, { code: "query.invalid", field: name });
  return Number(v);
}

/** X-Registry-Config: base64url JSON of registry → credentials. */
function registryConfig(header: string | undefined): Record<string, AuthConfig> {
  if (!header) return {};
  try {
    const v = JSON.parse(Buffer.from(header.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8")) as unknown;
    return v && typeof v === "object" ? (v as Record<string, AuthConfig>) : {};
  } catch {
    // as dockerd: credentials that cannot be read are no credentials
    return {};
  }
}

/**
 * X-Cove-Build-Session (sent by cove build for --secret and --ssh): base64 JSON
 * {"secrets": {id: base64 value}, "ssh": {id: socket path}}. A malformed one is refused: a build
 * must not run without the secrets it was given.
 */
function buildSession(header: string | undefined): { secrets: Record<string, Buffer>; ssh: Record<string, string> } {
  const out = { secrets: Object.create(null) as Record<string, Buffer>, ssh: Object.create(null) as Record<string, string> };
  if (header === undefined || header === "") return out;
  const bad = () => invalid("X-Cove-Build-Session must be base64 JSON of {secrets: {id: base64}, ssh: {id: path}}", { code: "build.session" });
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw bad();
  const { secrets = {}, ssh = {} } = v as { secrets?: unknown; ssh?: unknown };
  const record = (x: unknown): Record<string, unknown> => {
    if (!x || typeof x !== "object" || Array.isArray(x)) throw bad();
    return x as Record<string, unknown>;
  };
  for (const [id, val] of Object.entries(record(secrets))) {
    if (typeof val !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(val)) throw bad();
    out.secrets[id] = Buffer.from(val, "base64");
  }
  for (const [id, val] of Object.entries(record(ssh))) {
    if (typeof val !== "string" || !path.isAbsolute(val)) throw bad();
    out.ssh[id] = val;
  }
  return out;
}

/** The credentials X-Registry-Config holds for an image reference's registry. */
function authFor(configs: Record<string, AuthConfig>, image: string): AuthConfig | undefined {
  const first = image.split("/")[0]!;
  const domain = image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost") ? first : "docker.io";
  for (const [k, v] of Object.entries(configs)) {
    const host = k.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
    if (host === domain || (domain === "docker.io" && (host === "index.docker.io" || host === "registry-1.docker.io"))) return v;
  }
  return undefined;
}

/**
 * The stream, then zeros up to a whole block and an end-of-archive marker when it does not end
 * on one: the docker CLI's context for a Dockerfile outside the context ends right after the
 * last file's bytes (no padding, no marker), which dockerd accepts.
 */
async function* zeroEnded(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of src) {
    n += c.length;
    yield c;
  }
  if (n % 512 !== 0) yield Buffer.alloc(512 - (n % 512) + 1024);
}

/**
 * Extracts a context tar into dir: entries confined to it (no "..", nothing written through a
 * symlink that leads outside). Returns the sha256 of every regular file it wrote, by path, taken
 * as the bytes went by, so that the builder need not read the files again to key its cache.
 *
 * The file system calls are synchronous: a context is many small files, each a few microseconds
 * of kernel work, and a round trip through libuv's thread pool per call costs more than the call
 * (on a busy machine, much more). Only the body stream is awaited.
 */
export async function extractContext(body: AsyncIterable<Buffer>, dir: string): Promise<Map<string, string>> {
  const root = await realpath(dir);
  const digests = new Map<string, string>();
  // directories checked to be real directories inside root (no symlink on the way)
  let checked = new Set<string>([root]);
  const ensureDir = (d: string): void => {
    if (checked.has(d)) return;
    ensureDir(path.dirname(d));
    const st = lstatSync(d, { throwIfNoEntry: false });
    if (!st) mkdirSync(d, { mode: 0o755 });
    else if (st.isSymbolicLink()) {
      // an entry below a symlink of the context: written through it only when it stays inside
      const r = realpathSync(d);
      if (r !== root && !r.startsWith(root + path.sep)) throw invalid(`the build context has an entry that leads outside it through a symlink: ${path.relative(root, d)}`, { code: "build.context-invalid" });
      return;
    } else if (!st.isDirectory()) throw invalid(`the build context has an entry below a file: ${path.relative(root, d)} is not a directory`, { code: "build.context-invalid" });
    checked.add(d);
  };
  for await (const { header: h, body: data } of readTar(zeroEnded(decompress(body, "auto")))) {
    const rel = path.posix.normalize(h.name.replace(/^\/+/, ""));
    if (rel === "." || rel === "" || rel === "./") {
      for await (const _ of data) void _;
      continue;
    }
    if (rel === ".." || rel.startsWith("../")) throw invalid(`the build context has an entry outside it: ${h.name}`, { code: "build.context-invalid" });
    const target = path.join(root, rel.replace(/\/$/, ""));
    ensureDir(path.dirname(target));
    const replace = () => {
      const st = lstatSync(target, { throwIfNoEntry: false });
      if (!st || (st.isDirectory() && h.type === "dir")) return;
      rmSync(target, { recursive: true, force: true });
      digests.delete(target);
      // what was checked below a replaced directory is no longer there
      if (st.isDirectory()) checked = new Set([root]);
    };
    switch (h.type) {
      case "dir":
        replace();
        if (!lstatSync(target, { throwIfNoEntry: false })) mkdirSync(target, { mode: h.mode & 0o7777 });
        chmodSync(target, h.mode & 0o7777);
        break;
      case "file": {
        replace();
        const fd = openSync(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, h.mode & 0o7777);
        const hash = createHash("sha256");
        try {
          for await (const chunk of data) {
            hash.update(chunk);
            for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
          }
          fchmodSync(fd, h.mode & 0o7777);
        } finally {
          closeSync(fd);
        }
        digests.set(target, hash.digest("hex"));
        break;
      }
      case "symlink":
        replace();
        symlinkSync(h.linkname, target);
        break;
      case "link": {
        const from = path.join(root, path.posix.normalize(h.linkname.replace(/^\/+/, "")));
        if (!from.startsWith(root + path.sep)) throw invalid(`the build context has a hard link outside it: ${h.name} -> ${h.linkname}`, { code: "build.context-invalid" });
        ensureDir(path.dirname(from));
        replace();
        copyFileSync(from, target, fsc.COPYFILE_EXCL);
        const known = digests.get(from);
        if (known !== undefined) digests.set(target, known);
        break;
      }
      default:
        // devices, fifos: nothing a COPY can take
        break;
    }
    for await (const _ of data) void _;
  }
  return digests;
}

/** Removes what .dockerignore excludes (a directory only when nothing in it is kept); synchronous calls, as the extraction. */
function applyIgnore(dir: string, ignore: DockerIgnore, rel = ""): boolean {
  let kept = false;
  for (const name of readdirSync(path.join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const abs = path.join(dir, r);
    const st = lstatSync(abs);
    if (st.isDirectory()) {
      const keptInside = applyIgnore(dir, ignore, r);
      if (!keptInside && ignore.excludes(r)) rmdirSync(abs);
      else kept = true;
    } else if (ignore.excludes(r)) unlinkSync(abs);
    else kept = true;
  }
  return kept;
}

/** The Dockerfile's text: the path given (inside the context), "Dockerfile" (or "dockerfile") by default. */
async function readDockerfile(dir: string, name: string): Promise<string> {
  const candidates = name === "" || name === "Dockerfile" ? ["Dockerfile", "dockerfile"] : [name];
  for (const n of candidates) {
    const rel = path.posix.normalize(n.replace(/^\/+/, ""));
    if (rel === ".." || rel.startsWith("../")) throw invalid(`the Dockerfile (${n}) must be within the build context`, { code: "build.dockerfile" });
    const abs = path.join(dir, rel);
    try {
      const real = await realpath(abs);
      if (!real.startsWith((await realpath(dir)) + path.sep)) throw invalid(`the Dockerfile (${n}) must be within the build context`, { code: "build.dockerfile" });
      return decodeDockerfile(await readFile(real));
    } catch (err) {
      if (err instanceof CoveError) throw err;
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  throw notFound(`Cannot locate specified Dockerfile: ${name || "Dockerfile"}`, { code: "build.dockerfile" });
}

/** dockerd's error line for a failed build: a RUN's exit code as errorDetail.code. */
function errorLine(out: JSONMessageStream, err: unknown): void {
  const message = errorMessage(err);
  const code = /returned a non-zero code: (\d+)$/.exec(message);
  out.write({ errorDetail: { ...(code ? { code: Number(code[1]) } : {}), message }, error: message });
}

export function buildRoutes(router: Router, deps: BuildRouteDeps): void {
  const builder = Builder.open(deps.containers, deps.images);
  const running = new Map<string, AbortController>();

  router.post("/build", async (c) => {
    if (c.query.get("version") === "2") {
      c.req.resume();
      throw invalid("buildkit not supported by daemon", { code: "build.buildkit", hint: "build with the legacy builder: DOCKER_BUILDKIT=0 docker build ..." });
    }
    // remote: a git repository or an http(s) tarball or Dockerfile instead of the body (dockerd's rules)
    const remote = c.query.get("remote") ?? "";
    if (remote !== "") {
      c.req.resume();
      if (!isGitUrl(remote) && !isHttpUrl(remote)) throw invalid(`remoteURL (${remote}) could not be recognized as URL`, { code: "build.remote", hint: "give an http(s) URL of a tarball or Dockerfile, or a git URL (https://host/repo.git#ref:subdir, git://...)" });
      if (isGitUrl(remote)) parseGitUrl(remote);
    }
    // everything the query says is checked before the context is read
    const tags = c.query.all("t").filter((t) => t !== "");
    const buildArgs = jsonMap(c, "buildargs");
    const labels = jsonMap(c, "labels");
    const quiet = bool(c, "q");
    const noCache = bool(c, "nocache");
    const pull = bool(c, "pull");
    bool(c, "rm", true);
    bool(c, "forcerm");
    const target = c.query.get("target") ?? "";
    const host: NonNullable<BuildOptions["runHostConfig"]> = {};
    const network = c.query.get("networkmode") ?? "";
    if (network !== "" && network !== "default") host.NetworkMode = network;
    const extraHosts = c.query.get("extrahosts") ?? "";
    if (extraHosts !== "") host.ExtraHosts = extraHosts.split(",").filter((h) => h !== "");
    const numbers = { shmsize: "ShmSize", memory: "Memory", memswap: "MemorySwap", cpushares: "CpuShares", cpuquota: "CpuQuota", cpuperiod: "CpuPeriod" } as const;
    for (const [q, field] of Object.entries(numbers)) {
      const n = int(c, q);
      if (n !== undefined && n !== 0) (host as Record<string, unknown>)[field] = n;
    }
    for (const [q, field] of [["cpusetcpus", "CpusetCpus"], ["cpusetmems", "CpusetMems"]] as const) {
      const v = c.query.get(q);
      if (v) (host as Record<string, unknown>)[field] = v;
    }
    const registry = registryConfig(c.req.headers["x-registry-config"] as string | undefined);
    const session = buildSession(c.req.headers["x-cove-build-session"] as string | undefined);
    const buildId = c.query.get("buildid") ?? randomBytes(16).toString("hex");
    await deps.leftoversRemoved;

    const tmpRoot = path.join(deps.containers.root, "tmp");
    await mkdir(tmpRoot, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(path.join(tmpRoot, "build-"));
    const abort = new AbortController();
    running.set(buildId, abort);
    c.signal.addEventListener("abort", () => abort.abort(new Error("the client went away")), { once: true });
    const out = new JSONMessageStream(c.res);
    let failed: { err: unknown } | undefined;
    try {
      // the context: the body, a git checkout, or a downloaded archive; a downloaded Dockerfile has none
      let context = dir;
      let remoteDockerfile: string | undefined;
      let contextDigests: Map<string, string> | undefined;
      if (remote === "") contextDigests = await extractContext(c.req as unknown as AsyncIterable<Buffer>, dir);
      else if (isGitUrl(remote)) context = await fetchGitContext(remote, dir, { signal: abort.signal });
      else {
        if (!quiet) out.write({ status: `Downloading build context from remote url: ${remote}` });
        const got = await fetchHttpContext(remote, abort.signal);
        if (got.kind === "archive") contextDigests = await extractContext(got.body, dir);
        else remoteDockerfile = decodeDockerfile(got.text);
      }
      const dockerfileName = c.query.get("dockerfile") ?? "Dockerfile";
      const text = remoteDockerfile ?? (await readDockerfile(context, dockerfileName));
      const ignoreText = await readFile(path.join(context, ".dockerignore"), "utf8").catch(() => undefined);
      if (ignoreText !== undefined) applyIgnore(context, DockerIgnore.parse(ignoreText));
      const plan = dockerfileToSteps(parseStages(text, dockerfileName || "Dockerfile"), { buildArgs, target });
      const fetchBase = async (image: string) => {
        const auth = authFor(registry, image);
        await deps.images.pull(image, {
          ...(auth ? { auth } : {}),
          signal: abort.signal,
          onProgress: (m) => {
            if (quiet) return;
            out.write({ status: m.status, ...(m.id !== undefined ? { id: m.id } : {}) });
          },
        });
      };
      const opts: BuildOptions = { preamble: plan.preamble, context, ...(contextDigests ? { contextDigests } : {}), buildArgs, noCache, tags, labels, signal: abort.signal, pull, fetchBase, runHostConfig: host, secrets: session.secrets, ssh: session.ssh };
      const it = builder.build(plan.stages, opts);
      let id = "";
      for (;;) {
        const r = await it.next();
        if (r.done) {
          id = r.value;
          break;
        }
        const e = r.value;
        if (e.type === "built") {
          out.aux({ ID: e.id });
          const unused = plan.unusedArgs();
          if (unused.length > 0 && !quiet) out.stream(unusedArgsWarning(unused));
        }
        if (quiet) continue;
        if (e.type === "output") out.stream(e.data.toString("utf8"));
        else out.stream(formatEvent(e));
      }
      if (quiet) out.stream(`${id}\n`);
    } catch (err) {
      if (!out.started && err instanceof CoveError && !(err.code ?? "").startsWith("build.") && err.code !== "dockerfile.invalid") failed = { err };
      else errorLine(out, err);
    } finally {
      running.delete(buildId);
    }
    // the answer is complete before the context is removed: the client need not wait for that
    if (!failed) out.end();
    await bestEffort(`remove the build context ${dir}`, rm(dir, { recursive: true, force: true }));
    if (failed) throw failed.err;
  });

  router.post("/build/cancel", (c) => {
    const id = c.query.get("id") ?? "";
    running.get(id)?.abort(new Error("the build was cancelled"));
    c.res.writeHead(200).end();
  });

  // docker builder prune and docker system prune: the query checked as dockerd checks it
  router.post("/build/prune", async (c) => {
    c.req.resume();
    checkBuildPruneQuery(c.query.filters(), (k) => c.query.get(k));
    // the step cache is an index of images the builds made (the images stay, untagged ones go
    // with docker image prune): forgetting it reclaims no space of its own; the RUN
    // --mount=type=cache directories no build is using are removed and their bytes counted
    const keys = await builder.pruneCache();
    const mounts = await builder.pruneCacheMounts();
    sendJSON(c.res, 200, { CachesDeleted: [...keys, ...mounts.removed.map((m) => `cache-mount:${m}`)], SpaceReclaimed: mounts.bytes });
  });
}

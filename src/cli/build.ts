// `cove build [OPTIONS] PATH | -`: sends the build context (a directory, as a tar, .dockerignore
// applied as the docker CLI applies it) to the daemon's POST /build and prints its progress as
// the docker CLI prints the legacy builder's stream. `cove build --print-ast FILE` parses a
// Dockerfile and prints its syntax tree in the notation of BuildKit's parser test data.

import { randomBytes } from "node:crypto";
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { lstat, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { DockerIgnore } from "../build/dockerfile/dockerignore.js";
import { DockerfileError } from "../build/dockerfile/errors.js";
import { fetchGitContext, isFileGitUrl, isGitUrl, isHttpUrl } from "../build/remote-context.js";
import { decodeDockerfile, dumpAst, parseDockerfile } from "../build/dockerfile/parser.js";
import { CoveError } from "../common/errors.js";
import { jsonLines, type ProgressMessage } from "../client/stream.js";
// the tar encoder alone: the snapshot subsystem's entry would load its store and native addon
import { encodeHeader } from "../snapshots/tar.js";
import type { EngineClient } from "../client/engine.js";
import { connect } from "./daemon-client.js";
import { parseOutput, writeOutput, type BuildOutput } from "./build-output.js";
import { parseUlimit } from "./container-opts.js";
import { parseBool, ramInBytes } from "../docker/index.js";

export const BUILD_USAGE = `usage: cove build [OPTIONS] PATH | URL | -
       cove build --print-ast FILE

Build an image from a Dockerfile: PATH is the build context (a directory); - reads a
Dockerfile (no context) or a context tar from standard input. URL is a git repository
(https://host/repo.git#REF:SUBDIR, git://host/repo#REF, git@host:repo, file:///path/repo#REF)
or an http(s) URL of a context tarball or a Dockerfile; the daemon fetches it (a file://
repository is cloned here and sent as a directory).

  -t, --tag NAME[:TAG]     name the image (repeatable)
  -f, --file FILE          the Dockerfile (default PATH/Dockerfile); may be outside PATH
      --build-arg K=V      a build argument (repeatable; K alone takes $K)
      --target STAGE       build this stage and the stages it needs (others are skipped)
  -o, --output DEST        also write the final stage's files: DIR (or type=local,dest=DIR), a
                           tar archive (type=tar,dest=FILE), or - (a tar on standard output;
                           the progress then goes to standard error)
      --no-cache           run every step
      --pull               pull the base images again
      --label K=V          a label of the image (repeatable)
      --iidfile FILE       write the image ID to FILE
  -q, --quiet              print only the image ID
      --network MODE       network of the RUN steps (default, none, host)
      --secret id=ID[,src=FILE|,env=VAR]
                           a secret RUN --mount=type=secret can read (repeatable); with neither
                           src nor env, the environment variable named ID; never kept in the image
      --ssh ID[=SOCKET]    an SSH agent socket RUN --mount=type=ssh can use (repeatable; default
                           is $SSH_AUTH_SOCK); the daemon must run on this machine
      --progress MODE      auto, plain or tty: the builder's lines as the legacy builder prints them
      --add-host HOST:IP   an /etc/hosts entry of the RUN steps (repeatable)
      --cache-from IMAGE   an image to take cached steps from (repeatable)
      --cgroup-parent CG   parent cgroup of the RUN steps' containers
      --cpu-period N, --cpu-quota N, -c, --cpu-shares N, --cpuset-cpus CPUS, --cpuset-mems MEMS
                           CPU limits of the RUN steps, as docker run takes them
  -m, --memory BYTES, --memory-swap BYTES
                           memory limit (and memory plus swap; -1 for unlimited swap) of the RUN steps
      --shm-size BYTES     size of /dev/shm in the RUN steps
      --ulimit NAME=SOFT[:HARD]
                           a ulimit of the RUN steps (repeatable)
      --platform OS/ARCH   the platform of the base images
      --security-opt OPT   a security option of the RUN steps (repeatable)
      --isolation MODE     container isolation (only "default" on Linux)
      --rm                 remove the steps' containers after a successful build (default true)
      --force-rm           remove them after a failed one too
      --compress, --disable-content-trust
                           accepted as the docker CLI takes them (no effect with cove)
  --print-ast FILE         parse FILE (a Dockerfile, or - for standard input) and print its syntax
                           tree, one instruction per line, as BuildKit's parser test data writes it;
                           exits 1 with the error's position when the Dockerfile does not parse`;

async function readInput(file: string): Promise<string> {
  if (file !== "-") return decodeDockerfile(await readFile(file));
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return decodeDockerfile(Buffer.concat(chunks));
}

export async function buildMain(args: string[], root = "/var/lib/cove", rootGiven = false): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(BUILD_USAGE + "\n");
    return 0;
  }
  let file: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--print-ast") {
      if (args[i + 1] === undefined) {
        process.stderr.write(`cove build: --print-ast needs a file (a Dockerfile, or - for standard input)\n${BUILD_USAGE}\n`);
        return 125;
      }
      file = args[++i]!;
    } else if (a.startsWith("--print-ast=")) file = a.slice("--print-ast=".length);
    else rest.push(a);
  }
  if (file === undefined) return runBuild(rest, { client: () => connect(root, process.env, { rootGiven }), stdout: process.stdout, stderr: process.stderr });
  if (rest.length > 0) {
    process.stderr.write(`cove build: --print-ast takes no other arguments (got ${rest.join(" ")})\n`);
    return 125;
  }
  let text: string;
  try {
    text = await readInput(file);
  } catch (err) {
    process.stderr.write(`cove build: cannot read ${file}: ${(err as Error).message}\n`);
    return 125;
  }
  const name = file === "-" ? "Dockerfile" : file;
  try {
    // the raw parse only, as BuildKit's parser test data is: an unknown instruction still
    // dumps (as `(form "")`); the build itself will reject it
    const parsed = parseDockerfile(text, name);
    process.stdout.write(dumpAst(parsed.nodes));
    for (const w of parsed.warnings) process.stderr.write(`${name}:${w.line}: warning: ${w.message}\n`);
    return 0;
  } catch (err) {
    if (err instanceof DockerfileError) {
      process.stderr.write(err.describe() + "\n");
      return 1;
    }
    throw err;
  }
}

interface BuildFlags {
  tags: string[];
  file?: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  iidfile?: string;
  quiet: boolean;
  network?: string;
  progress: string;
  context?: string;
  /** --secret: id → where the value comes from. */
  secrets: Record<string, { file?: string; env?: string }>;
  /** --ssh: id → agent socket path. */
  ssh: Record<string, string>;
  /** The docker CLI's other build flags, as the /build query parameters it sends for them. */
  query: Record<string, string | string[]>;
  /** --rm (default true) and --force-rm. */
  rm: boolean;
  /** -o/--output: the final stage's files as a directory or a tar. */
  output?: BuildOutput;
  forceRm: boolean;
}

class UsageError extends Error {}

function parseFlags(args: string[]): BuildFlags {
  const f: BuildFlags = {
    tags: [],
    buildArgs: {},
    labels: {},
    noCache: false,
    pull: false,
    quiet: false,
    progress: "auto",
    secrets: Object.create(null) as BuildFlags["secrets"],
    ssh: Object.create(null) as BuildFlags["ssh"],
    query: {},
    rm: true,
    forceRm: false,
  };
  const cacheFrom: string[] = [];
  const ulimits: ReturnType<typeof parseUlimit>[] = [];
  const kv = (v: string, into: Record<string, string>, envFallback: boolean) => {
    const i = v.indexOf("=");
    if (i < 0) {
      if (envFallback) {
        if (process.env[v] !== undefined) into[v] = process.env[v]!;
        return;
      }
      into[v] = "";
      return;
    }
    into[v.slice(0, i)] = v.slice(i + 1);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = args[++i];
      if (v === undefined) throw new UsageError(`flag needs an argument: ${name}`);
      return v;
    };
    const bool = (): boolean => {
      if (eq < 0) return true;
      try {
        return parseBool(a.slice(eq + 1));
      } catch (err) {
        throw new UsageError(`invalid argument ${JSON.stringify(a.slice(eq + 1))} for "${name}" flag: ${(err as Error).message}`);
      }
    };
    const bytes = (v: string): string => {
      if (name === "--memory-swap" && v === "-1") return "-1";
      try {
        return String(ramInBytes(v));
      } catch (err) {
        throw new UsageError(`invalid argument ${JSON.stringify(v)} for "${name}" flag: ${(err as Error).message}`);
      }
    };
    const int = (v: string): string => {
      if (!/^-?\d+$/.test(v)) throw new UsageError(`invalid argument ${JSON.stringify(v)} for "${name}" flag: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
      return v;
    };
    const list = (key: string, v: string) => {
      const cur = f.query[key];
      f.query[key] = Array.isArray(cur) ? [...cur, v] : [v];
    };
    switch (name) {
      case "--add-host":
        list("extrahosts", value());
        break;
      case "--cache-from":
        cacheFrom.push(value());
        break;
      case "--cgroup-parent":
        f.query.cgroupparent = value();
        break;
      case "--cpu-period":
        f.query.cpuperiod = int(value());
        break;
      case "--cpu-quota":
        f.query.cpuquota = int(value());
        break;
      case "-c":
      case "--cpu-shares":
        f.query.cpushares = int(value());
        break;
      case "--cpuset-cpus":
        f.query.cpusetcpus = value();
        break;
      case "--cpuset-mems":
        f.query.cpusetmems = value();
        break;
      case "-m":
      case "--memory":
        f.query.memory = bytes(value());
        break;
      case "--memory-swap":
        f.query.memswap = bytes(value());
        break;
      case "--shm-size":
        f.query.shmsize = bytes(value());
        break;
      case "--ulimit": {
        const v = value();
        try {
          ulimits.push(parseUlimit(v));
        } catch (err) {
          throw new UsageError(`invalid argument ${JSON.stringify(v)} for "--ulimit" flag: ${(err as Error).message}`);
        }
        break;
      }
      case "--platform":
        f.query.platform = value();
        break;
      case "--isolation": {
        const v = value();
        if (v !== "" && v !== "default") f.query.isolation = v;
        break;
      }
      case "--security-opt":
        list("securityopt", value());
        break;
      case "--rm":
        f.rm = bool();
        break;
      case "--force-rm":
        f.forceRm = bool();
        break;
      case "--compress":
      case "--disable-content-trust":
        // the context goes over a local socket uncompressed; cove does not sign or verify images
        bool();
        break;
      case "--squash":
        throw new UsageError(`"--squash" is only supported on a Docker daemon with experimental features enabled (cove's builder does not squash)`);
      case "-t":
      case "--tag":
        f.tags.push(value());
        break;
      case "-f":
      case "--file":
        f.file = value();
        break;
      case "--build-arg":
        kv(value(), f.buildArgs, true);
        break;
      case "--label":
        kv(value(), f.labels, false);
        break;
      case "--target":
        f.target = value();
        break;
      case "-o":
      case "--output": {
        if (f.output !== undefined) throw new UsageError("only one --output is supported");
        try {
          f.output = parseOutput(value());
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        break;
      }
      case "--no-cache":
        f.noCache = true;
        break;
      case "--pull":
        f.pull = true;
        break;
      case "--iidfile":
        f.iidfile = value();
        break;
      case "-q":
      case "--quiet":
        f.quiet = true;
        break;
      case "--network":
        f.network = value();
        break;
      case "--secret": {
        const v = value();
        const fields = Object.create(null) as Record<string, string>;
        for (const part of v.split(",")) {
          const eq = part.indexOf("=");
          if (eq <= 0) throw new UsageError(`invalid --secret ${JSON.stringify(v)}: give id=ID[,src=FILE|,env=VAR]`);
          const k = part.slice(0, eq).toLowerCase();
          if (!["id", "src", "source", "env", "type"].includes(k)) throw new UsageError(`invalid --secret ${JSON.stringify(v)}: unexpected key ${JSON.stringify(k)} (id, src, env, type)`);
          fields[k === "source" ? "src" : k] = part.slice(eq + 1);
        }
        const id = fields.id ?? "";
        if (id === "") throw new UsageError(`invalid --secret ${JSON.stringify(v)}: an id is required (id=ID)`);
        const type = fields.type;
        if (type !== undefined && type !== "file" && type !== "env") throw new UsageError(`invalid --secret ${JSON.stringify(v)}: type is file or env`);
        if (fields.src !== undefined && fields.env !== undefined) throw new UsageError(`invalid --secret ${JSON.stringify(v)}: give src or env, not both`);
        if (type === "env") f.secrets[id] = { env: fields.env ?? fields.src ?? id };
        else if (fields.src !== undefined) f.secrets[id] = { file: fields.src };
        else if (fields.env !== undefined) f.secrets[id] = { env: fields.env };
        else if (type === "file") throw new UsageError(`invalid --secret ${JSON.stringify(v)}: src=FILE is required with type=file`);
        else f.secrets[id] = { env: id };
        break;
      }
      case "--ssh": {
        const v = value();
        const eq = v.indexOf("=");
        const id = eq < 0 ? v : v.slice(0, eq);
        if (id === "" || !/^[A-Za-z0-9_.-]+$/.test(id)) throw new UsageError(`invalid --ssh ${JSON.stringify(v)}: give ID[=SOCKET] (default=$SSH_AUTH_SOCK)`);
        const sock = eq < 0 ? process.env.SSH_AUTH_SOCK : v.slice(eq + 1);
        if (sock === undefined || sock === "") throw new UsageError(`invalid --ssh ${JSON.stringify(v)}: no socket given and SSH_AUTH_SOCK is not set`);
        if (sock.includes(",")) throw new UsageError(`invalid --ssh ${JSON.stringify(v)}: one agent socket per id (key files are not supported)`);
        f.ssh[id] = path.resolve(sock);
        break;
      }
      case "--progress": {
        const p = value();
        if (!["auto", "plain", "tty"].includes(p)) throw new UsageError(`invalid --progress ${JSON.stringify(p)}: auto, plain or tty`);
        f.progress = p;
        break;
      }
      default:
        if (a.startsWith("-") && a !== "-") throw new UsageError(`unknown flag: ${a}`);
        if (f.context !== undefined) throw new UsageError(`"cove build" requires exactly 1 argument (got ${f.context} and ${a})`);
        f.context = a;
    }
  }
  if (f.context === undefined) throw new UsageError(`"cove build" requires exactly 1 argument: the build context (a directory, or -)`);
  if (cacheFrom.length) f.query.cachefrom = JSON.stringify(cacheFrom);
  if (ulimits.length) f.query.ulimits = JSON.stringify(ulimits);
  return f;
}

/** A tar entry: header and, for a file, its content from disk. */
async function* entry(name: string, abs: string): AsyncGenerator<Buffer> {
  // synchronous calls: a context is many small files, and a thread-pool round trip per call
  // costs more than the call
  const st = lstatSync(abs);
  const base = { uid: 0, gid: 0, mode: st.mode & 0o7777, mtimeSec: Math.floor(st.mtimeMs / 1000) };
  if (st.isDirectory()) yield encodeHeader({ ...base, name: `${name}/`, type: "dir", size: 0 });
  else if (st.isSymbolicLink()) yield encodeHeader({ ...base, name, type: "symlink", size: 0, linkname: readlinkSync(abs) });
  else if (st.isFile()) {
    const changed = (n: number) => new CoveError("invalid", `${abs} ${n > st.size ? "grew" : "shrank"} while it was sent: build again`, { code: "cli.build-context" });
    yield encodeHeader({ ...base, name, type: "file", size: st.size });
    if (st.size <= SMALL_FILE) {
      const data = readFileSync(abs);
      if (data.length !== st.size) throw changed(data.length);
      yield data;
    } else {
      let n = 0;
      for await (const c of createReadStream(abs)) {
        const b = c as Buffer;
        n += b.length;
        if (n > st.size) throw changed(n);
        yield b;
      }
      if (n !== st.size) throw changed(n);
    }
    const pad = (512 - (st.size % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
}

const SMALL_FILE = 1 << 20;

/** The chunks gathered into pieces of about `size` bytes: one socket write per piece, not per tar header. */
async function* gathered(src: AsyncIterable<Buffer>, size = 256 << 10): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of src) {
    parts.push(c);
    n += c.length;
    if (n >= size) {
      yield Buffer.concat(parts);
      parts = [];
      n = 0;
    }
  }
  if (n > 0) yield Buffer.concat(parts);
}

/** The context directory as a tar, .dockerignore applied (the Dockerfile and .dockerignore always sent); `extra` entries added. */
async function* contextTar(dir: string, ignore: DockerIgnore, dockerfile: string, extra: { name: string; data: Buffer }[]): AsyncGenerator<Buffer> {
  const replaced = new Set(extra.map((e) => e.name));
  const walk = async function* (rel: string): AsyncGenerator<Buffer> {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (replaced.has(r)) continue;
      const abs = path.join(dir, r);
      const st = lstatSync(abs);
      const sent = ignore.sentWithContext(r, dockerfile);
      if (st.isDirectory()) {
        // an excluded directory may still hold a re-included path (a "!" pattern)
        if (!sent && !ignore.hasExclusions()) continue;
        if (sent) yield* entry(r, abs);
        yield* walk(r);
      } else if (sent) yield* entry(r, abs);
    }
  };
  yield* walk("");
  for (const e of extra) {
    yield encodeHeader({ name: e.name, type: "file", mode: 0o600, uid: 0, gid: 0, size: e.data.length, mtimeSec: Math.floor(Date.now() / 1000) });
    yield e.data;
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024);
}

/** The request header that carries --secret values and --ssh sockets to cove's /build (base64 JSON). */
export const SESSION_HEADER = "X-Cove-Build-Session";
/** How many bytes of secrets fit in the header (the daemon reads headers of up to 16 KiB in all). */
const MAX_SECRET_BYTES = 8 << 10;

/** --secret values (read now) and --ssh sockets, as the session header's value. */
async function sessionHeader(f: BuildFlags): Promise<string> {
  const secrets = Object.create(null) as Record<string, string>;
  let total = 0;
  for (const [id, from] of Object.entries(f.secrets)) {
    let data: Buffer;
    if (from.file !== undefined) {
      try {
        data = await readFile(from.file);
      } catch (err) {
        throw new Error(`cannot read the secret ${id} from ${from.file}: ${(err as Error).message}`);
      }
    } else {
      const v = process.env[from.env!];
      if (v === undefined) throw new Error(`the secret ${id}: the environment variable ${from.env} is not set`);
      data = Buffer.from(v);
    }
    total += data.length;
    if (total > MAX_SECRET_BYTES) throw new Error(`the secrets given are ${total} bytes or more: cove build sends at most ${MAX_SECRET_BYTES} bytes of secrets`);
    secrets[id] = data.toString("base64");
  }
  return Buffer.from(JSON.stringify({ secrets, ssh: f.ssh })).toString("base64");
}

function looksLikeArchive(b: Buffer): boolean {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true; // gzip
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return true; // zstd
  if (b.length >= 6 && b.subarray(0, 3).toString("latin1") === "BZh") return true;
  return b.length >= 262 && b.subarray(257, 262).toString("latin1") === "ustar";
}

/** Where a build talks to and writes: the cove command's own, or compose's. */
export interface BuildIO {
  client: () => Promise<EngineClient>;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
}

/** `cove build ARGS...` (without --print-ast), through io: what compose builds with too. */
export async function runBuild(args: string[], io: BuildIO): Promise<number> {
  let f: BuildFlags;
  try {
    f = parseFlags(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`cove build: ${err.message}\nSee 'cove build --help'.\n`);
    return 125;
  }
  const toStdout = f.output?.type === "tar" && f.output.dest === "-";
  if (toStdout && io.stdout.isTTY === true) {
    io.stderr.write(`cove build: refusing to write a tar archive to a terminal: redirect standard output, or give --output type=tar,dest=FILE\n`);
    return 125;
  }
  // with the files on standard output, what would go there goes to standard error
  const progressOut: BuildIO["stdout"] = toStdout ? io.stderr : io.stdout;
  // a file:// repository is cloned here (the daemon reads no files of its host for a client) and
  // built as a directory; other URLs go to the daemon as /build's remote parameter
  let cloned: string | undefined;
  try {
    if (isFileGitUrl(f.context!)) {
      cloned = await mkdtemp(path.join(os.tmpdir(), "cove-build-git-"));
      try {
        f.context = await fetchGitContext(f.context!, cloned, { allowFile: true });
      } catch (err) {
        if (!(err instanceof CoveError)) throw err;
        io.stderr.write(`cove build: unable to prepare context: ${err.message}\n`);
        return 1;
      }
    }
    return await sendBuild(f, io, progressOut);
  } finally {
    if (cloned !== undefined) await rm(cloned, { recursive: true, force: true });
  }
}

/** The context (a directory, standard input, or a URL for the daemon to fetch) sent to POST /build, its progress shown. */
async function sendBuild(f: BuildFlags, io: BuildIO, progressOut: BuildIO["stdout"]): Promise<number> {
  let body: Readable;
  let dockerfile: string | undefined;
  let remote: string | undefined;
  const isDir = await lstat(f.context!).then((st) => st.isDirectory(), () => false);
  if (!isDir && (isGitUrl(f.context!) || isHttpUrl(f.context!))) {
    remote = f.context!;
    body = Readable.from([]);
    dockerfile = f.file;
  } else if (f.context === "-") {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const input = Buffer.concat(chunks);
    if (looksLikeArchive(input)) {
      body = Readable.from([input]);
      if (f.file !== undefined) dockerfile = f.file;
    } else {
      // a Dockerfile alone: the context holds only it
      dockerfile = "Dockerfile";
      body = Readable.from(contextTarOf([{ name: "Dockerfile", data: input }]));
    }
  } else {
    const dir = f.context!;
    let real: string;
    try {
      real = await realpath(dir);
      if (!(await lstat(real)).isDirectory()) throw new Error("not a directory");
    } catch (err) {
      io.stderr.write(`cove build: unable to prepare context: path ${JSON.stringify(dir)} not found or not a directory (${(err as Error).message})\n`);
      return 1;
    }
    const ignoreText = await readFile(path.join(real, ".dockerignore"), "utf8").catch(() => "");
    const extra: { name: string; data: Buffer }[] = [];
    let ignore: DockerIgnore;
    try {
      ignore = DockerIgnore.parse(ignoreText);
    } catch (err) {
      if (err instanceof DockerfileError) {
        io.stderr.write(`cove build: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
    dockerfile = "Dockerfile";
    if (f.file !== undefined) {
      const abs = f.file === "-" ? undefined : path.resolve(f.file);
      const inside = abs !== undefined && (await realpath(abs).catch(() => abs)).startsWith(real + path.sep);
      if (inside) dockerfile = path.relative(real, await realpath(abs)).split(path.sep).join("/");
      else {
        // a Dockerfile outside the context goes in under a name of its own, left out of COPY
        // by the .dockerignore sent with it, as the docker CLI does
        let data: Buffer;
        try {
          data = abs === undefined ? await readStdin() : await readFile(abs);
        } catch (err) {
          io.stderr.write(`cove build: cannot read the Dockerfile ${f.file}: ${(err as Error).message}\n`);
          return 1;
        }
        dockerfile = `.dockerfile.${randomBytes(10).toString("hex")}`;
        extra.push({ name: dockerfile, data });
        // (as the docker CLI: .dockerignore itself is left out too when the context had none)
        const added = ignoreText === "" ? `.dockerignore\n${dockerfile}` : `${ignoreText}\n${dockerfile}\n`;
        extra.push({ name: ".dockerignore", data: Buffer.from(added) });
        ignore = DockerIgnore.parse(added);
      }
    }
    body = Readable.from(gathered(contextTar(real, ignore, dockerfile, extra)));
  }
  const query: Record<string, string | string[] | boolean | undefined> = {
    t: f.tags,
    dockerfile,
    buildargs: JSON.stringify(f.buildArgs),
    labels: JSON.stringify(f.labels),
    target: f.target,
    nocache: f.noCache,
    pull: f.pull,
    q: f.quiet,
    rm: f.rm,
    ...(f.forceRm ? { forcerm: true } : {}),
    networkmode: f.network,
    remote,
    ...f.query,
  };
  const headers: Record<string, string> = remote === undefined ? { "Content-Type": "application/x-tar" } : {};
  if (Object.keys(f.secrets).length > 0 || Object.keys(f.ssh).length > 0) {
    let session: string;
    try {
      session = await sessionHeader(f);
    } catch (err) {
      io.stderr.write(`cove build: ${(err as Error).message}\n`);
      return 1;
    }
    headers[SESSION_HEADER] = session;
  }
  const client = await io.client();
  const res = await client.stream("POST", "/build", { query, body, headers });
  let id = "";
  const live = f.progress === "tty" || (f.progress === "auto" && progressOut.isTTY === true);
  const view = live ? new StepView((t) => progressOut.write(t), progressOut.isTTY === true) : undefined;
  try {
    for await (const m of jsonLines<ProgressMessage & { aux?: { ID?: string } }>(res)) {
      if (m.error !== undefined || m.errorDetail?.message !== undefined) {
        view?.fail();
        io.stderr.write(`${m.errorDetail?.message ?? m.error}\n`);
        return 1;
      }
      if (m.aux?.ID) id = m.aux.ID;
      if (f.quiet) continue;
      const text = m.stream ?? (m.status !== undefined ? `${m.id ? `${m.id}: ` : ""}${m.status}\n` : undefined);
      if (text === undefined) continue;
      if (view) view.text(text);
      else progressOut.write(text);
    }
  } finally {
    view?.stop();
  }
  if (f.output !== undefined) {
    try {
      await writeOutput(client, id, f.output, io.stdout);
    } catch (err) {
      io.stderr.write(`cove build: ${(err as Error).message}\n`);
      return 1;
    }
  }
  if (f.quiet) progressOut.write(`${id}\n`);
  if (f.iidfile !== undefined) await writeFile(f.iidfile, id);
  return 0;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function* contextTarOf(files: { name: string; data: Buffer }[]): AsyncGenerator<Buffer> {
  for (const e of files) {
    yield encodeHeader({ name: e.name, type: "file", mode: 0o644, uid: 0, gid: 0, size: e.data.length, mtimeSec: Math.floor(Date.now() / 1000) });
    yield e.data;
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024);
}

/**
 * --progress=tty: one line per step, "[3/7] RUN make" with its time running, then "CACHED" or
 * "DONE 1.2s" when the next step starts; a step's output goes below its line, indented. On a
 * terminal the running step's line is redrawn in place every 100 ms while nothing is printed
 * below it.
 */
export class StepView {
  private step: { label: string; started: number; cached: boolean; below: boolean } | undefined;
  private partial = "";
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (s: string) => void,
    private readonly terminal: boolean,
    private readonly now: () => number = Date.now,
  ) {
    if (terminal) this.timer = setInterval(() => this.redraw(), 100).unref();
  }

  private elapsed(): string {
    return `${((this.now() - this.step!.started) / 1000).toFixed(1)}s`;
  }

  private redraw(): void {
    if (!this.step || this.step.below) return;
    this.write(`\r\x1b[2K${this.step.label} ${this.elapsed()}`);
  }

  private finish(word?: string): void {
    if (!this.step) return;
    const status = word ?? (this.step.cached ? "CACHED" : `DONE ${this.elapsed()}`);
    const { label, below } = this.step;
    if (below) this.write(` => ${label} ${status}\n`);
    else this.write(`${this.terminal ? "\r\x1b[2K" : ""}${label} ${status}\n`);
    this.step = undefined;
  }

  /** A chunk of the builder's text: lines are sorted into step lines, markers and output. */
  text(chunk: string): void {
    this.partial += chunk;
    let i: number;
    while ((i = this.partial.indexOf("\n")) >= 0) {
      const line = this.partial.slice(0, i);
      this.partial = this.partial.slice(i + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    const step = /^Step (\d+)\/(\d+) : (.*)$/.exec(line);
    if (step) {
      this.finish();
      this.step = { label: `[${step[1]}/${step[2]}] ${step[3]}`, started: this.now(), cached: false, below: false };
      if (this.terminal) this.write(`${this.step.label} 0.0s`);
      return;
    }
    if (line === " ---> Using cache") {
      if (this.step) this.step.cached = true;
      return;
    }
    // the builder's bookkeeping lines are what the step line shows already
    if (/^ ---> /.test(line) || /^Removing intermediate container /.test(line)) return;
    if (/^Successfully (built|tagged) /.test(line)) {
      this.finish();
      this.write(`${line}\n`);
      return;
    }
    if (this.step && !this.step.below) {
      if (this.terminal) this.write("\n");
      else this.write(`${this.step.label}\n`);
      this.step.below = true;
    }
    this.write(`${this.step ? "  " : ""}${line}\n`);
  }

  /** The build failed: the running step's line says so. */
  fail(): void {
    this.finish("ERROR");
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.finish();
  }
}

// Build contexts named by a URL, as dockerd's /build takes them in its `remote` parameter:
//   - a git repository: https://host/path.git, git://host/path, git@host:path, github.com/path,
//     with an optional "#ref:subdir" fragment (the ref to check out, then the directory of the
//     checkout that is the context). It is fetched with the git command into a directory the
//     caller owns: `git init`, `git fetch [--depth 1] origin -- REF` (shallow unless the server
//     speaks git's dumb HTTP protocol, which cannot), a checkout of the ref (or of what the fetch
//     got, for a commit ID), submodules too. The checkout keeps its .git directory, as dockerd's
//     does. Without a ref the repository's HEAD is built (dockerd 20.10 asks for "master", which
//     fails on a repository whose default branch is another; BuildKit takes HEAD too);
//   - an http(s) URL of anything else: a tar archive (plain or compressed) that is the context, or
//     a Dockerfile (text/plain, or text sniffed when the server says nothing or octet-stream),
//     built with no context at all.
// git runs with the caller's environment stripped to PATH, no system or user configuration, no
// prompts and no transport a URL alone could choose (ext::, fd::): a URL must not run commands.
// file:// repositories are fetched the same way; only the CLI offers them (a daemon must not read
// its own host's files for a client).

import { execFile } from "node:child_process";
import { realpath, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { invalid } from "../common/errors.js";

/** dockerd's test for a git URL (urlutil.IsGitURL). */
export function isGitUrl(s: string): boolean {
  if (/^https?:\/\//i.test(s) && /\.git(?:#.+)?$/.test(s)) return true;
  return s.startsWith("git://") || s.startsWith("github.com/") || s.startsWith("git@");
}

/** A file:// git repository (cove's CLI clones it itself). */
export const isFileGitUrl = (s: string): boolean => s.startsWith("file://");

export const isHttpUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** A git URL split as dockerd splits it: the remote, the ref (undefined: HEAD) and the subdirectory. */
export function parseGitUrl(url: string): { remote: string; ref?: string; subdir?: string } {
  let remote = url;
  if (!isHttpUrl(url) && !url.startsWith("git://") && !url.startsWith("git@") && !isFileGitUrl(url)) remote = `https://${url}`;
  let fragment = "";
  const hash = remote.indexOf("#");
  if (hash >= 0) {
    fragment = remote.slice(hash + 1);
    remote = remote.slice(0, hash);
  }
  const colon = fragment.indexOf(":");
  const ref = colon >= 0 ? fragment.slice(0, colon) : fragment;
  const subdir = colon >= 0 ? fragment.slice(colon + 1) : "";
  if (ref.startsWith("-")) throw invalid(`invalid refspec: ${ref}`, { code: "build.remote" });
  if (remote.startsWith("-")) throw invalid(`invalid git URL: ${url}`, { code: "build.remote" });
  return { remote, ...(ref !== "" ? { ref } : {}), ...(subdir !== "" ? { subdir } : {}) };
}

const GIT_ENV = (allowFile: boolean): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
  HOME: "/nonexistent",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_PROTOCOL_FROM_USER: "0",
  // a submodule must not reach the daemon's own files either
  GIT_ALLOW_PROTOCOL: allowFile ? "file:git:http:https:ssh" : "git:http:https:ssh",
  GIT_SSH_COMMAND: "ssh -o BatchMode=yes",
  LC_ALL: "C",
});

function git(args: string[], cwd: string, opts: GitOptions): Promise<string> {
  const { signal, allowFile = false } = opts;
  return new Promise((resolve, reject) => {
    execFile("git", args, { cwd, env: GIT_ENV(allowFile), maxBuffer: 16 << 20, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        return reject(invalid("a git URL needs the git command, which is not installed where the build runs", { code: "build.git-missing", hint: "install git (apt-get install git)" }));
      }
      if (err.name === "AbortError") return reject(err);
      reject(Object.assign(new Error(`${stderr || stdout}`.trim() || err.message), { cause: err }));
    });
  });
}

export interface GitOptions {
  signal?: AbortSignal;
  /** file:// remotes and submodules (the CLI, on the user's own machine); never for the daemon. */
  allowFile?: boolean;
}

/** Whether git may fetch shallow from the remote: not from a dumb HTTP server (dockerd's test). */
async function supportsShallow(remote: string, signal?: AbortSignal): Promise<boolean> {
  if (!isHttpUrl(remote)) return true;
  try {
    const res = await fetch(`${remote}/info/refs?service=git-upload-pack`, { ...(signal ? { signal } : {}) });
    await res.body?.cancel();
    return res.headers.get("content-type") === "application/x-git-upload-pack-advertisement";
  } catch {
    return false;
  }
}

/**
 * Fetches the repository a git URL names into `dir` (an empty directory the caller owns) and
 * returns the context directory: the checkout, or its subdirectory the URL names.
 */
export async function fetchGitContext(url: string, dir: string, opts: GitOptions = {}): Promise<string> {
  const { remote, ref, subdir } = parseGitUrl(url);
  const signal = opts.signal;
  if (isFileGitUrl(remote) && !opts.allowFile) throw invalid(`remoteURL (${url}) could not be recognized as URL`, { code: "build.remote", hint: "a file:// repository is read where the build runs: build it with cove build, which clones it on your side" });
  const want = ref ?? "HEAD";
  await git(["init", "-q"], dir, opts);
  await git(["remote", "add", "origin", "--", remote], dir, opts);
  const fetchArgs = ["fetch", "-q", ...((await supportsShallow(remote, signal)) ? ["--depth", "1"] : []), "origin", "--", want];
  try {
    await git(fetchArgs, dir, opts);
  } catch (err) {
    if (err instanceof Error && err.name === "AbortError") throw err;
    throw invalid(`error fetching: ${(err as Error).message}`, { code: "build.remote", hint: `check that ${remote} is a git repository the daemon can reach and that it has ${ref ? `the ref ${ref}` : "a HEAD"}` });
  }
  // a branch or tag by its name when the fetch made it one; what the fetch got otherwise
  try {
    if (ref === undefined) throw new Error("no ref");
    await git(["checkout", "-q", ref, "--"], dir, opts);
  } catch {
    try {
      await git(["checkout", "-q", "FETCH_HEAD", "--"], dir, opts);
    } catch (err) {
      throw invalid(`error checking out ${want}: ${(err as Error).message}`, { code: "build.remote" });
    }
  }
  if (await stat(path.join(dir, ".gitmodules")).catch(() => undefined)) {
    try {
      await git(["submodule", "update", "--init", "--recursive", "--depth=1"], dir, opts);
    } catch (err) {
      throw invalid(`error initializing submodules: ${(err as Error).message}`, { code: "build.remote" });
    }
  }
  if (subdir === undefined) return dir;
  const root = await realpath(dir);
  let sub: string;
  try {
    sub = await realpath(path.join(root, subdir));
  } catch {
    throw invalid(`error setting git context, ${JSON.stringify(subdir)} does not exist in ${remote} at ${want}`, { code: "build.remote" });
  }
  if (sub !== root && !sub.startsWith(root + path.sep)) throw invalid(`error setting git context, ${JSON.stringify(subdir)} not within git root`, { code: "build.remote" });
  if (!(await stat(sub)).isDirectory()) throw invalid(`error setting git context, not a directory: ${subdir}`, { code: "build.remote" });
  return sub;
}

/** What an http(s) context URL gave: a context archive to extract, or a Dockerfile alone. */
export type HttpContext = { kind: "archive"; body: AsyncIterable<Buffer> } | { kind: "dockerfile"; text: Buffer };

/** The largest Dockerfile a URL may give (it is read into memory). */
const MAX_DOCKERFILE = 16 << 20;

/** Go's http.DetectContentType, for the one question asked here: text/plain or not. */
function looksLikeText(b: Buffer): boolean {
  const head = b.subarray(0, 512);
  // gzip, zstd, bzip2, xz: archives; a tar header has NULs
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return false;
  for (const c of head) if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d && c !== 0x1b) return false;
  return head.length > 0;
}

/** GETs an http(s) context URL (dockerd's words for what fails). */
export async function fetchHttpContext(url: string, signal?: AbortSignal): Promise<HttpContext> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow", ...(signal ? { signal } : {}) });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw invalid(`error downloading remote context ${url}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`, { code: "build.remote" });
  }
  if (!res.ok || !res.body) {
    const body = (await res.text().catch(() => "")).slice(0, 512);
    throw invalid(`error downloading remote context ${url}: failed to GET ${url} with status ${res.status} ${res.statusText}: ${body}`.trimEnd(), { code: "build.remote" });
  }
  const reader = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
  const it = reader[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // the first bytes decide, as dockerd's inspectResponse does with the Content-Type
  const first: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < 512) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    first.push(r.value);
    have += r.value.length;
  }
  const preamble = Buffer.concat(first);
  if (preamble.length === 0) throw invalid(`error detecting content type for remote ${url}: empty response`, { code: "build.remote" });
  const declared = (res.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const type = declared === "" || declared === "application/octet-stream" ? (looksLikeText(preamble) ? "text/plain" : "application/octet-stream") : declared;
  const rest = async function* (): AsyncGenerator<Buffer> {
    yield preamble;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  };
  if (type !== "text/plain") return { kind: "archive", body: rest() };
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of rest()) {
    n += c.length;
    if (n > MAX_DOCKERFILE) {
      reader.destroy();
      throw invalid(`the Dockerfile at ${url} is larger than ${MAX_DOCKERFILE} bytes`, { code: "build.remote" });
    }
    chunks.push(c);
  }
  return { kind: "dockerfile", text: Buffer.concat(chunks) };
}

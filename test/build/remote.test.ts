// Build contexts named by URL, beside Debian's dockerd: POST /build?remote= with an http URL of a
// context tarball, of a Dockerfile, and a git repository served on loopback (git's dumb HTTP
// protocol by a static server, git:// by `git daemon --inetd` behind a loopback listener), with
// #ref:subdir; cove's CLI (`cove build URL`, and file:// repositories it clones itself). The
// same remote gives the same files, config and history on both daemons; bad URLs fail clearly on
// both and leave no image.

import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it, type TestContext } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { api, run, dockerCliSkip, type Result } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const exec = promisify(execFile);
const COVE_MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const gitMissing = await exec("git", ["--version"]).then(
  () => undefined,
  () => "git is not installed (apt-get install git)",
);
const skip = process.getuid?.() !== 0 ? "needs root" : ((await dockerCliSkip()) || gitMissing) ?? false;
const peerSkip = dockerdAvailable();

const CONTEXT_DOCKERFILE = `FROM busybox
COPY . /ctx/
RUN cat /ctx/hello.txt > /seen
CMD ["cat", "/seen"]
`;

const git = (cwd: string, args: string[]) => exec("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd, env: { PATH: process.env.PATH, HOME: cwd, GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" } });

describe("build contexts from URLs (remote) beside dockerd", { skip }, () => {
  let dir: string;
  let daemon: Daemon;
  let socket: string;
  let runtimeRoot: string;
  let peer: Dockerd | undefined;
  let coveEnv: NodeJS.ProcessEnv;
  let http: HttpServer | undefined;
  let gitd: NetServer | undefined;
  const gitChildren = new Set<ChildProcess>();
  let web = "";
  let gitUrl = "";
  let work = "";
  const docker = (env: NodeJS.ProcessEnv, args: string[]) => run(env, args);
  const ok = (r: Result, what: string) => {
    assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const cove = (args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [COVE_MAIN, ...args], { env: { PATH: process.env.PATH, HOME: dir, COVE_HOST: `unix://${socket}` }, timeout: 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr } as Result);
      });
    });
  /** POST /build?remote=URL on a daemon's socket: the status and the stream's messages. */
  const remoteBuild = async (sock: string, remote: string, query: Record<string, string> = {}) => {
    const q = new URLSearchParams({ remote, ...query });
    const r = await api(sock, "POST", `/v1.41/build?${q.toString()}`);
    const messages = r.status === 200 ? r.body.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { stream?: string; error?: string; aux?: { ID: string } }) : [];
    const error = r.status !== 200 ? (JSON.parse(r.body) as { message: string }).message : messages.find((m) => m.error !== undefined)?.error;
    return { status: r.status, messages, error, output: messages.map((m) => m.stream ?? "").join("") };
  };
  const summary = async (env: NodeJS.ProcessEnv, ref: string, cmd: string) => {
    const config = JSON.parse(ok(await docker(env, ["image", "inspect", "--format", "{{json .Config}}", ref]), "inspect")) as Record<string, unknown>;
    const history = ok(await docker(env, ["history", "--no-trunc", "--format", "{{.CreatedBy}}", ref]), "history").replace(/(file|dir|multi):[0-9a-f]{64}/g, "$1:<hash>");
    const files = ok(await docker(env, ["run", "--rm", "--network", "none", "--entrypoint", "sh", ref, "-c", cmd]), "run");
    return { config: { Env: config.Env, Cmd: config.Cmd, WorkingDir: config.WorkingDir, Labels: config.Labels }, history, files };
  };
  /** The same remote built by both daemons through the API, then compared. */
  const compare = async (t: TestContext, remote: string, tag: string, cmd: string, query: Record<string, string> = {}) => {
    const c = await remoteBuild(socket, remote, { t: tag, ...query });
    assert.equal(c.error, undefined, `cove: ${c.error}\n${c.output}`);
    const mine = await summary(coveEnv, tag, cmd);
    if (!peer) {
      t.diagnostic(`not compared with dockerd: ${peerSkip ?? "it did not start"}`);
      return mine;
    }
    const d = await remoteBuild(peer.socket, remote, { t: tag, ...query });
    assert.equal(d.error, undefined, `dockerd: ${d.error}\n${d.output}`);
    assert.deepEqual(mine, await summary(peer.env, tag, cmd));
    return mine;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-remote-"));
    socket = path.join(dir, "cove.sock");
    runtimeRoot = `/run/cove-remote-${process.pid}`;
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: () => undefined });
    coveEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_BUILDKIT: "0", DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    ok(await docker(coveEnv, ["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]), "import");
    if (!peerSkip) {
      peer = await startDockerd({ dir: path.join(dir, "dockerd") });
      peer.env.DOCKER_BUILDKIT = "0";
      ok(await docker(peer.env, ["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]), "dockerd import");
    }

    // served files: a context tarball, a Dockerfile, and a bare repository for dumb HTTP
    const served = path.join(dir, "served");
    const ctx = path.join(dir, "ctx");
    await mkdir(path.join(ctx, "sub"), { recursive: true });
    await mkdir(served, { recursive: true });
    await writeFile(path.join(ctx, "Dockerfile"), CONTEXT_DOCKERFILE);
    await writeFile(path.join(ctx, "hello.txt"), "hello from a tarball\n");
    await writeFile(path.join(ctx, "ignored.log"), "never sent\n");
    await writeFile(path.join(ctx, ".dockerignore"), "*.log\n");
    await writeFile(path.join(ctx, "sub/Dockerfile.alt"), "FROM busybox\nCOPY hello.txt /alt\n");
    await exec("tar", ["-C", ctx, "-czf", path.join(served, "ctx.tar.gz"), "."]);
    await writeFile(path.join(served, "Dockerfile"), "FROM busybox\nRUN echo from a URL Dockerfile > /u\nLABEL from=url\n");

    // the repository: main has v1 (tag) then a second commit; app/ is the subdirectory built
    work = path.join(dir, "work");
    await mkdir(path.join(work, "app"), { recursive: true });
    await git(work, ["init", "-q", "-b", "main"]);
    await writeFile(path.join(work, "app/Dockerfile"), "FROM busybox\nCOPY msg.txt /msg\nRUN wc -c < /msg > /len\n");
    await writeFile(path.join(work, "app/msg.txt"), "version one\n");
    await writeFile(path.join(work, "Dockerfile"), "FROM busybox\nCOPY app/msg.txt /root-msg\n");
    await git(work, ["add", "-A"]);
    await git(work, ["commit", "-q", "-m", "one"]);
    await git(work, ["tag", "v1"]);
    await writeFile(path.join(work, "app/msg.txt"), "version two, longer\n");
    await git(work, ["commit", "-q", "-am", "two"]);
    const repos = path.join(dir, "repos");
    await mkdir(repos);
    await git(dir, ["clone", "-q", "--bare", work, path.join(repos, "repo.git")]);
    await git(path.join(repos, "repo.git"), ["update-server-info"]);

    http = createHttpServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const p = decodeURIComponent(url.pathname);
      const file = p.startsWith("/git/") ? path.join(repos, p.slice(5)) : path.join(served, p);
      if (!file.startsWith(served + path.sep) && !file.startsWith(repos + path.sep)) return void res.writeHead(403).end();
      stat(file).then(
        (st) => {
          if (!st.isFile()) return void res.writeHead(404).end("not found\n");
          const type = p === "/Dockerfile" ? "text/plain; charset=utf-8" : "application/octet-stream";
          res.writeHead(200, { "Content-Type": type, "Content-Length": st.size });
          createReadStream(file).pipe(res);
        },
        () => res.writeHead(404).end("not found\n"),
      );
    });
    await new Promise<void>((r) => http!.listen(0, "127.0.0.1", r));
    const addr = http.address();
    web = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    // git:// : one `git daemon --inetd` per connection
    gitd = createNetServer((sock) => {
      const child = spawn("git", ["daemon", "--inetd", "--export-all", `--base-path=${repos}`, repos], { stdio: ["pipe", "pipe", "ignore"] });
      gitChildren.add(child);
      child.on("exit", () => {
        gitChildren.delete(child);
        sock.end();
      });
      sock.on("error", () => child.kill());
      sock.pipe(child.stdin);
      child.stdout.pipe(sock);
    });
    await new Promise<void>((r) => gitd!.listen(0, "127.0.0.1", r));
    const gaddr = gitd.address();
    gitUrl = `git://127.0.0.1:${typeof gaddr === "object" && gaddr ? gaddr.port : 0}`;
  });

  after(async () => {
    if (daemon) {
      const ids = (await docker(coveEnv, ["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
      if (ids.length) await docker(coveEnv, ["rm", "-f", ...ids]);
      await daemon.close();
    }
    await peer?.stop();
    for (const c of gitChildren) c.kill();
    if (http) await new Promise((r) => http!.close(r));
    if (gitd) await new Promise((r) => gitd!.close(r));
    await rm(runtimeRoot, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("an http URL of a context tarball: extracted, .dockerignore applied, dockerfile= inside it", async (t) => {
    // dockerd's legacy builder leaves .dockerignore to the client (the docker CLI filters what it
    // sends), so a remote tarball's ignored files reach its COPY; cove applies it to every
    // context, as BuildKit does: the *.log file is compared apart
    const mine = await compare(t, `${web}/ctx.tar.gz`, "remote-tar", "find /ctx ! -name '*.log' | sort; cat /seen");
    assert.equal(mine.files, "/ctx\n/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/hello.txt\n/ctx/sub\n/ctx/sub/Dockerfile.alt\nhello from a tarball\n");
    assert.equal((await summary(coveEnv, "remote-tar", "ls /ctx/ignored.log 2>&1 || true")).files, "ls: /ctx/ignored.log: No such file or directory\n");
    const alt = await compare(t, `${web}/ctx.tar.gz`, "remote-alt", "cat /alt", { dockerfile: "sub/Dockerfile.alt" });
    assert.equal(alt.files, "hello from a tarball\n");
    // cove's CLI sends the URL to the daemon as remote=
    const r = await cove(["build", "--progress", "plain", "-t", "remote-cli", `${web}/ctx.tar.gz`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Successfully tagged remote-cli:latest/);
  });

  it("an http URL of a Dockerfile: built with no context", async (t) => {
    const mine = await compare(t, `${web}/Dockerfile`, "remote-df", "cat /u");
    assert.equal(mine.files, "from a URL Dockerfile\n");
    assert.deepEqual(mine.config.Labels, { from: "url" });
  });

  it("a git repository over git's dumb HTTP and over git://, with #ref:subdir", async (t) => {
    const v1 = await compare(t, `${web}/git/repo.git#v1:app`, "git-http-v1", "cat /msg /len");
    assert.equal(v1.files, "version one\n12\n");
    const main = await compare(t, `${gitUrl}/repo.git#main:app`, "git-daemon-main", "cat /msg /len");
    assert.equal(main.files, "version two, longer\n20\n");
    const rootCtx = await compare(t, `${gitUrl}/repo.git#v1`, "git-daemon-root", "cat /root-msg");
    assert.equal(rootCtx.files, "version one\n");
    // without a ref: the repository's HEAD (main here), through cove's CLI
    const r = await cove(["build", "--progress", "plain", "-t", "git-head", `${gitUrl}/repo.git#:app`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await summary(coveEnv, "git-head", "cat /msg")).files, "version two, longer\n");
  });

  it("ADD of a git URL adds the repository's tree at its ref (without .git unless --keep-git-dir), as BuildKit does", async () => {
    const local = path.join(dir, "add-git");
    await mkdir(local, { recursive: true });
    await writeFile(
      path.join(local, "Dockerfile"),
      `FROM busybox\nADD ${gitUrl}/repo.git#v1:app /app\nADD --keep-git-dir=true ${web}/git/repo.git#main /whole\nRUN cat /app/msg.txt; ls -a /app | tr '\\n' ' '; test -d /whole/.git && cat /whole/app/msg.txt\n`,
    );
    const r = await cove(["build", "--progress", "plain", "-t", "add-git", local]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await summary(coveEnv, "add-git", "cat /app/msg.txt; ls -a /app; test -d /whole/.git && cat /whole/app/msg.txt")).files, "version one\n.\n..\nDockerfile\nmsg.txt\nversion two, longer\n");
    // a ref that does not exist fails the step with git's reason, and leaves no image
    await writeFile(path.join(local, "Dockerfile"), `FROM busybox\nADD ${gitUrl}/repo.git#nosuch /app\n`);
    const bad = await cove(["build", "--progress", "plain", "-t", "add-git-bad", local]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /error fetching: .*nosuch/s);
    assert.equal((await docker(coveEnv, ["images", "-q", "add-git-bad"])).stdout.trim(), "");
  });

  it("cove build file:///repo#ref:subdir clones on the client's side", async () => {
    const r = await cove(["build", "--progress", "plain", "-t", "git-file", `file://${work}#v1:app`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await summary(coveEnv, "git-file", "cat /msg")).files, "version one\n");
    const bad = await cove(["build", "-t", "git-file-bad", `file://${work}#nosuch`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unable to prepare context: error fetching: .*nosuch/s);
  });

  it("bad remotes fail clearly on both daemons and leave no image", async () => {
    // the error cove gives, and dockerd's when it words it otherwise
    const cases: [string, RegExp, RegExp?][] = [
      [`${web}/missing.tar`, /error downloading remote context http:\/\/127\.0\.0\.1:\d+\/missing\.tar: .*404/],
      [`${gitUrl}/repo.git#nosuch:app`, /error fetching: .*nosuch/s],
      [`${gitUrl}/repo.git#v1:nope`, /error setting git context, "nope" does not exist in git:\/\/.* at v1/, /stat .*\/nope: no such file or directory/],
      ["file:///etc", /remoteURL \(file:\/\/\/etc\) could not be recognized as URL/],
      [`${gitUrl}/repo.git#--upload-pack=touch`, /invalid refspec: --upload-pack=touch/],
    ];
    for (const [remote, why, dockerdWhy] of cases) {
      const c = await remoteBuild(socket, remote, { t: "bad-remote" });
      assert.match(c.error ?? "", why, `cove, ${remote}`);
      if (peer) {
        const d = await remoteBuild(peer.socket, remote, { t: "bad-remote" });
        assert.match(d.error ?? "", dockerdWhy ?? why, `dockerd, ${remote}`);
      }
    }
    assert.equal(ok(await docker(coveEnv, ["images", "-q", "bad-remote"]), "images").trim(), "");
    // a subdirectory that climbs out of the checkout
    const out = await remoteBuild(socket, `${gitUrl}/repo.git#v1:../..`, { t: "bad-remote" });
    assert.match(out.error ?? "", /not within git root|does not exist/);
  });
});

// The Dockerfile features of BuildKit that cove's builder runs, on a private cove daemon: heredocs
// in RUN and COPY, RUN --mount (cache kept across builds and pruned by docker builder prune, bind
// from the context and from a stage, tmpfs, secret, ssh), ADD --checksum, and MAINTAINER (beside
// dockerd's legacy builder, which knows it). Builds go through cove's own CLI (it sends --secret and
// --ssh) and the docker CLI; what each asserts is the image's files, config, history and layers.
// A secret's bytes must be in no layer of `docker save`, in no history line and no config.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Readable } from "node:stream";
import Docker from "dockerode";
import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it, type TestContext } from "node:test";
import type { Daemon } from "../../src/daemon/index.js";
import { startBuildTestDaemon } from "./daemon.js";
import { readTar } from "../../src/snapshots/index.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { run, type Result, dockerCliSkip } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const exec = promisify(execFile);
const COVE_MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const skip = process.getuid?.() !== 0 ? "needs root" : await dockerCliSkip();
const peerSkip = dockerdAvailable();

const HEREDOCS = `FROM busybox
ENV WHO=cove
RUN <<EOF
echo one > /h1
echo "$WHO" >> /h1
EOF
RUN <<EOF
#!/bin/sh -e
echo "script $0 $WHO" > /h2
EOF
RUN <<-EOF
\techo tabs > /h3
\tEOF
RUN <<A cat > /f1 && <<'B' cat > /f2
a $WHO
A
b $WHO
B
COPY <<EOF /c1
hello $WHO "q"
EOF
COPY --chmod=0600 <<a.txt <<'b.txt' /dir/
A $WHO
a.txt
B $WHO
b.txt
`;

const CACHE = `FROM busybox
ARG N
RUN --mount=type=cache,target=/cache,id=c1 echo run$N >> /cache/log && cat /cache/log > /seen
RUN --mount=type=cache,target=/c2,uid=1000,gid=1000,mode=0700,sharing=locked stat -c '%u %g %a' /c2 > /perm && echo $N > /c2/n
`;

const BIND = `FROM busybox AS src
RUN mkdir /out && echo fromstage > /out/f
FROM busybox
RUN --mount=type=bind,source=data,target=/m cat /m/x.txt > /b1
RUN --mount=type=bind,from=src,source=/out,target=/o cat /o/f > /b2
RUN --mount=type=bind,source=data,target=/w,rw echo changed > /w/x.txt && cat /w/x.txt > /b3
RUN --mount=type=bind,source=data,target=/r sh -c 'touch /r/new 2>/dev/null && echo writable > /b4 || echo readonly > /b4'
RUN --mount=type=tmpfs,target=/t,size=1m echo t > /t/f && df -k /t | tail -1 | awk '{print $2}' > /b5
RUN --network=none sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /ifs"
RUN --mount=type=cache,target=/seeded,from=src,source=/out,id=seeded cat /seeded/f > /b6 && echo more > /seeded/g
RUN --mount=type=cache,target=/seeded,from=src,source=/out,id=seeded cat /seeded/g > /b7
`;

const SECRET = `FROM busybox
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len && stat -c '%a %u' /run/secrets/tok > /smode
RUN --mount=type=secret,id=tok,env=TOK,target=/s/t sh -c 'test "$TOK" = "$(cat /s/t)" && echo same > /env-same'
RUN --mount=type=secret,id=missing echo ok > /missing-ok
RUN --mount=type=ssh sh -c 'test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /ssh'
`;

const MAINTAINER = `FROM busybox
MAINTAINER Jane Doe <jane@example.com>
RUN echo m > /m
LABEL a=b
`;

describe("BuildKit's Dockerfile features in cove build", { skip }, () => {
  let dir: string;
  let ctx: string;
  let daemon: Daemon;
  let socket: string;
  let runtimeRoot: string;
  let root: string;
  let peer: Dockerd | undefined;
  let dockerEnv: NodeJS.ProcessEnv;
  let http: HttpServer | undefined;
  let agent: NetServer | undefined;
  let base = "";
  const docker = (args: string[]) => run(dockerEnv, args);
  const ok = (r: Result, what: string) => {
    assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  /** cove's own CLI against the daemon (it sends --secret and --ssh), with extra environment. */
  const cove = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [COVE_MAIN, ...args], { env: { PATH: process.env.PATH, HOME: dir, COVE_HOST: `unix://${socket}`, ...env }, timeout: 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr } as Result);
      });
    });
  const build = async (file: string, tag: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) => {
    await writeFile(path.join(ctx, "Dockerfile"), file);
    return cove(["build", "--progress", "plain", "-t", tag, ...extra, ctx], env);
  };
  const cat = async (ref: string, cmd: string) => ok(await docker(["run", "--rm", "--network", "none", "--entrypoint", "sh", ref, "-c", cmd]), `run ${cmd}`);
  const images = async () => ok(await docker(["images", "-a", "--format", "{{.Repository}}:{{.Tag}}"]), "images");

  before(async () => {
    ({ dir, socket, root, runtimeRoot, daemon, dockerEnv } = await startBuildTestDaemon("buildkit"));
    ctx = path.join(dir, "ctx");
    await mkdir(path.join(ctx, "data"), { recursive: true });
    await writeFile(path.join(ctx, "data/x.txt"), "ctx\n");
    http = createHttpServer((req, res) => {
      if (req.url === "/file.txt") res.writeHead(200, { "Content-Type": "text/plain" }).end("downloaded\n");
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => http!.listen(0, "127.0.0.1", r));
    const addr = http.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });

  after(async () => {
    if (daemon) {
      const ids = (await docker(["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
      if (ids.length) await docker(["rm", "-f", ...ids]);
      await daemon.close();
    }
    await peer?.stop();
    if (http) await new Promise((r) => http!.close(r));
    if (agent) await new Promise((r) => agent!.close(r));
    await rm(runtimeRoot, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs RUN heredocs (plain, #! scripts, <<- tabs, several feeding commands) and makes COPY heredoc files", async () => {
    ok(await build(HEREDOCS, "heredocs"), "build");
    assert.equal(await cat("heredocs", "cat /h1 /h2 /h3"), "one\ncove\nscript /dev/pipes/EOF cove\ntabs\n");
    // a quoted delimiter keeps $WHO for the shell... which has none of its own there: the text stays
    assert.equal(await cat("heredocs", "cat /f1 /f2"), "a cove\nb $WHO\n");
    assert.equal(await cat("heredocs", "cat /c1; stat -c '%a %u' /c1"), 'hello cove "q"\n644 0\n');
    assert.equal(await cat("heredocs", "cat /dir/a.txt /dir/b.txt; stat -c '%a' /dir/a.txt /dir/b.txt"), "A cove\nB $WHO\n600\n600\n");
    // the scripts' mount is no part of the image
    const names = (await layers("heredocs")).flatMap((l) => l.names);
    assert.ok(!names.some((n) => n.includes("pipes")), names.join("\n"));
    // a rebuild is all cache hits
    const again = ok(await build(HEREDOCS, "heredocs"), "rebuild");
    assert.equal(again.split("\n").filter((l) => l.includes("Using cache")).length, 7, again);
  });

  it("builds heredocs and cache mounts for dockerode and the Python docker library too", async () => {
    await writeFile(path.join(ctx, "Dockerfile"), "FROM busybox\nRUN --mount=type=cache,target=/c <<EOF\necho client >> /c/log\ncp /c/log /log\nEOF\nCOPY <<EOF /note\nfrom a client\nEOF\n");
    const client = new Docker({ socketPath: socket });
    const tar = (await exec("tar", ["-C", ctx, "-c", "Dockerfile"], { encoding: "buffer", maxBuffer: 16 << 20 })).stdout;
    const stream = await client.buildImage(Readable.from([tar]) as unknown as NodeJS.ReadableStream, { t: "viaclient:dockerode" });
    const msgs = await new Promise<Record<string, unknown>[]>((resolve, reject) => client.modem.followProgress(stream, (err: Error | null, res: Record<string, unknown>[]) => (err ? reject(err) : resolve(res))));
    assert.ok(msgs.some((m) => m.stream === "Successfully tagged viaclient:dockerode\n"), JSON.stringify(msgs));
    const py = `import docker, sys
c = docker.DockerClient(base_url="unix://${socket}")
img, logs = c.images.build(path=sys.argv[1], tag="viaclient:python", nocache=True)
print(c.containers.run(img.id, ["sh", "-c", "cat /log /note"], remove=True, network_mode="none").decode(), end="")`;
    const { stdout } = await exec("python3", ["-c", py, ctx]);
    // the second build (no cache for its steps) sees the first one's cache mount
    assert.equal(stdout, "client\nclient\nfrom a client\n");
    assert.equal(await cat("viaclient:dockerode", "cat /log /note"), "client\nfrom a client\n");
    ok(await docker(["builder", "prune", "-f"]), "prune");
  });

  it("keeps a cache mount across builds, out of the image, with its owner and mode; docker builder prune removes it", async () => {
    ok(await build(CACHE, "cached:1", ["--build-arg", "N=1"]), "first build");
    ok(await build(CACHE, "cached:2", ["--build-arg", "N=2"]), "second build");
    assert.equal(await cat("cached:1", "cat /seen"), "run1\n");
    // the mount points are gone again: the image has no /cache or /c2
    assert.equal(await cat("cached:2", "cat /seen; cat /perm; ls -d /cache /c2 2>&1 | grep -c 'No such file'"), "run1\nrun2\n1000 1000 700\n2\n");
    // docker system df counts the two cache directories (c1 and /c2) as build cache
    const df = ok(await docker(["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]), "system df");
    assert.match(df, /^Build Cache 2$/m);
    const pruned = ok(await docker(["builder", "prune", "-f"]), "prune");
    const reclaimed = /Total(?: reclaimed space)?:\s*(\S+)/.exec(pruned);
    assert.ok(reclaimed && reclaimed[1] !== "0B", pruned);
    assert.deepEqual(await readdir(path.join(root, "build", "cache-mounts")), []);
    assert.match(ok(await docker(["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]), "system df"), /^Build Cache 0$/m);
    ok(await build(CACHE, "cached:3", ["--build-arg", "N=3"]), "build after prune");
    assert.equal(await cat("cached:3", "cat /seen"), "run3\n");
    // cove's own builder prune does the same
    const mine = await cove(["builder", "prune", "-f"]);
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(mine.stdout, /^Deleted build cache objects:\n(.+\n)+\nTotal reclaimed space: [1-9][0-9.]*k?B\n$/, mine.stdout);
    assert.deepEqual(await readdir(path.join(root, "build", "cache-mounts")), []);
  });

  it("binds context paths (read-only, or rw with writes discarded) and a stage's paths, seeds a cache from a stage, mounts a tmpfs, runs --network=none", async () => {
    ok(await build(BIND, "bound"), "build");
    assert.equal(await cat("bound", "cat /b1 /b2 /b3 /b4 /b5 /ifs /b6 /b7"), "ctx\nfromstage\nchanged\nreadonly\n1024\nlo\nfromstage\nmore\n");
    assert.equal(await cat("bound", "ls -d /m /o /w /r /t 2>&1 | grep -c 'No such file'"), "5\n");
    assert.equal(await readFile(path.join(ctx, "data/x.txt"), "utf8"), "ctx\n");
    // the bound content is an input of the step's cache key
    await writeFile(path.join(ctx, "data/x.txt"), "ctx2\n");
    ok(await build(BIND, "bound"), "rebuild");
    assert.equal(await cat("bound", "cat /b1"), "ctx2\n");
    await writeFile(path.join(ctx, "data/x.txt"), "ctx\n");
    // a source outside the context is refused and nothing is tagged
    const out = await build("FROM busybox\nRUN --mount=type=bind,source=../..,target=/x ls /x\n", "escaped");
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /outside the build context/);
    assert.ok(!(await images()).includes("escaped"));
  });

  it("gives secrets to the steps that mount them, never to a layer, the history or the config; mounts an SSH agent socket", async () => {
    const secret = `s3cr3t-${randomBytes(12).toString("hex")}`;
    const file = path.join(dir, "tok");
    await writeFile(path.join(dir, "tok"), secret);
    const sock = path.join(dir, "agent.sock");
    agent = createNetServer((c) => c.end());
    await new Promise<void>((r) => agent!.listen(sock, r));
    ok(await build(SECRET, "secret:file", ["--secret", `id=tok,src=${file}`, "--ssh", `default=${sock}`]), "build with a file secret");
    assert.equal(await cat("secret:file", "cat /len /smode /env-same /missing-ok /ssh"), `${secret.length}\n400 0\nsame\nok\n/run/buildkit/ssh_agent.0\n`);
    // the same from an environment variable, and nothing of it anywhere in the images
    ok(await build(SECRET, "secret:env", ["--no-cache", "--secret", "id=tok,env=MY_TOKEN", "--ssh", `default=${sock}`], { MY_TOKEN: secret }), "build with an env secret");
    for (const ref of ["secret:file", "secret:env"]) {
      const all = await layers(ref);
      for (const l of all) assert.ok(!l.data.includes(secret), `the secret is in layer ${l.name} of ${ref}`);
      // nor are the mount points of the secret and the agent socket
      const names = all.flatMap((l) => l.names);
      assert.ok(!names.some((n) => /^(\.\/)?(run|s)\//.test(n)), names.join("\n"));
      const hist = ok(await docker(["history", "--no-trunc", "--format", "{{json .}}", ref]), "history");
      assert.ok(!hist.includes(secret) && hist.includes("/run/secrets/tok"), hist);
      const inspect = ok(await docker(["image", "inspect", ref]), "inspect");
      assert.ok(!inspect.includes(secret) && !inspect.includes("MY_TOKEN"), inspect);
    }
    // a required secret or agent that was not given fails the step with what to do
    const missing = await build("FROM busybox\nRUN --mount=type=secret,id=nope,required true\n", "nosecret");
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /secret nope not found: give it with --secret id=nope,src=FILE/);
    const noAgent = await build("FROM busybox\nRUN --mount=type=ssh,required=true true\n", "noagent");
    assert.match(noAgent.stderr, /no SSH agent socket was given for default: build with --ssh default=\$SSH_AUTH_SOCK/);
    assert.ok(!/nosecret|noagent/.test(await images()));
    const badFlag = await cove(["build", "--secret", "src=/x", ctx]);
    assert.equal(badFlag.code, 125);
    assert.match(badFlag.stderr, /an id is required/);
  });

  it("verifies ADD --checksum of a URL: the right digest adds the file, a wrong one fails the build and tags nothing", async () => {
    const sum = `sha256:${createHash("sha256").update("downloaded\n").digest("hex")}`;
    ok(await build(`FROM busybox\nADD --checksum=${sum} ${base}/file.txt /got\n`, "checked"), "build");
    assert.equal(await cat("checked", "cat /got"), "downloaded\n");
    const wrong = `sha256:${"0".repeat(64)}`;
    const bad = await build(`FROM busybox\nADD --checksum=${wrong} ${base}/file.txt /got\n`, "unchecked");
    assert.notEqual(bad.code, 0);
    assert.ok(bad.stderr.includes(`checksum mismatch: the content's digest is ${sum}, not ${wrong}`), bad.stderr);
    assert.ok(!(await images()).includes("unchecked"));
  });

  it("records each step's image as dockerd's legacy builder does: history shows their IDs, docker images hides them, rmi removes them with the image", async (t: TestContext) => {
    const HIST = "FROM busybox\nENV A=1\nRUN echo x > /x\nCOPY data/x.txt /y\n";
    await writeFile(path.join(ctx, "Dockerfile"), HIST);
    const check = async (r: typeof docker, what: string) => {
      const out = ok(await r(["build", "--no-cache", "-t", "hist", ctx]), `${what} build`);
      // " ---> <id>" after each step: the base image's, then the three steps'
      const shown = [...out.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].map((m) => m[1]!);
      assert.equal(shown.length, 4, out);
      const ids = ok(await r(["history", "--format", "{{.ID}}", "hist"]), `${what} history`).trim().split("\n");
      assert.deepEqual(ids, [...shown].reverse(), `${what}: ${ids.join(" ")}`);
      const parent = ok(await r(["image", "inspect", "--format", "{{.Parent}}", "hist"]), `${what} inspect`).trim();
      assert.equal(parent.replace("sha256:", "").slice(0, 12), shown[2]);
      const listed = ok(await r(["images", "-q"]), `${what} images`);
      const listedAll = ok(await r(["images", "-a", "-q"]), `${what} images -a`);
      for (const id of shown.slice(1, 3)) {
        assert.ok(!listed.includes(id), `${what}: intermediate ${id} listed without -a:\n${listed}`);
        assert.ok(listedAll.includes(id), `${what}: intermediate ${id} not listed with -a:\n${listedAll}`);
      }
      assert.ok(!ok(await r(["images", "-q", "--filter", "dangling=true"]), `${what} dangling`).includes(shown[1]!));
      const removed = ok(await r(["rmi", "hist"]), `${what} rmi`);
      // the image, then its parents, newest first (dockerd also lists the layers it removed)
      const deleted = [...removed.matchAll(/^Deleted: sha256:([0-9a-f]{12})/gm)].map((m) => m[1]!).filter((id) => shown.includes(id));
      assert.deepEqual(deleted, [...shown.slice(1)].reverse(), removed);
      const after = ok(await r(["images", "-a", "-q"]), `${what} images -a after rmi`);
      for (const id of shown.slice(1)) assert.ok(!after.includes(id), `${what}: ${id} left after rmi:\n${after}`);
      assert.ok(after.includes(shown[0]!), `${what}: the base image went too`);
      return { history: ids.length, deleted: deleted.length };
    };
    const mine = await check(docker, "cove");
    if (peerSkip) return t.skip(`not compared with dockerd: ${peerSkip}`);
    assert.deepEqual(mine, await check(await peerDocker(), "dockerd"));
  });

  it("takes MAINTAINER as dockerd's legacy builder does: the author of the stage's images, a #(nop) history line", async (t: TestContext) => {
    await writeFile(path.join(ctx, "Dockerfile"), MAINTAINER);
    ok(await docker(["build", "-t", "maint", ctx]), "docker build");
    const author = (r: typeof docker) => r(["image", "inspect", "--format", "{{.Author}}", "maint"]);
    const history = async (r: typeof docker) => ok(await r(["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "maint"]), "history");
    assert.equal(ok(await author(docker), "inspect"), "Jane Doe <jane@example.com>\n");
    assert.match(await history(docker), /^\/bin\/sh -c #\(nop\) {2}MAINTAINER Jane Doe <jane@example.com>\|$/m);
    if (peerSkip) return t.skip(`not compared with dockerd: ${peerSkip}`);
    const theirs = await peerDocker();
    ok(await theirs(["build", "-t", "maint", ctx]), "dockerd build");
    assert.equal(ok(await author(docker), "inspect"), ok(await author(theirs), "dockerd inspect"));
    assert.equal(await history(docker), await history(theirs));
  });

  /** The docker CLI against Debian's dockerd (started on first use, with the same busybox). */
  async function peerDocker(): Promise<(args: string[]) => Promise<Result>> {
    if (!peer) {
      peer = await startDockerd({ dir: path.join(dir, "dockerd") });
      peer.env.DOCKER_BUILDKIT = "0";
      ok(await run(peer.env, ["import", "--change", 'CMD ["sh"]', await busyboxRootfsTar(path.join(dir, "bb2")), "busybox:latest"]), "dockerd import");
    }
    const env = peer.env;
    return (args: string[]) => run(env, args);
  }

  /** Every layer of an image as `docker save` writes it, uncompressed: its name, its entries' names and its bytes. */
  async function layers(ref: string): Promise<{ name: string; names: string[]; data: Buffer }[]> {
    const out = path.join(dir, `save-${randomBytes(4).toString("hex")}.tar`);
    ok(await docker(["save", "-o", out, ref]), "save");
    const blobs: { name: string; data: Buffer }[] = [];
    try {
      for await (const item of readTar(createChunks(await readFile(out)))) {
        const parts: Buffer[] = [];
        for await (const c of item.body) parts.push(c);
        if (item.header.type === "file") blobs.push({ name: item.header.name, data: Buffer.concat(parts) });
      }
    } finally {
      await rm(out, { force: true });
    }
    const result: { name: string; names: string[]; data: Buffer }[] = [];
    for (const b of blobs) {
      const data = b.data[0] === 0x1f && b.data[1] === 0x8b ? gunzipSync(b.data) : b.data;
      if (data.length < 512 || data.subarray(257, 262).toString("latin1") !== "ustar") continue;
      const names: string[] = [];
      for await (const item of readTar(createChunks(data))) {
        names.push(item.header.name);
        for await (const _ of item.body) void _;
      }
      result.push({ name: b.name, names, data });
    }
    assert.ok(result.length > 0, `no layers found in the save of ${ref}`);
    return result;
  }
});

async function* createChunks(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

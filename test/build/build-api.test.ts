// docker build against cove's socket (POST /build) beside Debian's dockerd and its legacy builder
// (DOCKER_BUILDKIT=0): the same Dockerfiles give the same progress lines (IDs aside), the same
// image config, history and files; a failing RUN fails the same way and tags nothing; a broken
// Dockerfile is refused at its line; a rebuild is all cache hits; docker builder prune answers;
// dockerode and the Python docker library build through the API. RUN steps use the offline
// busybox image; nothing reaches the network.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it, type TestContext } from "node:test";
import Docker from "dockerode";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { api, run, type Result, dockerCliSkip } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const exec = promisify(execFile);
const COVE_MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** Runs cove's own CLI (src/cli/main.ts) against the daemon on socket. */
function coveCli(socket: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [COVE_MAIN, ...args], { env: { ...process.env, COVE_HOST: `unix://${socket}`, DOCKER_HOST: `unix://${socket}` }, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr } as Result);
    });
  });
}
const skip = process.getuid?.() !== 0 ? "needs root" : await dockerCliSkip();
const peerSkip = dockerdAvailable();

/** The main Dockerfile: global ARGs in FROM, a builder stage, ENV/ARG substitution, COPY --from, .dockerignore. */
const MAIN = `ARG BASE=busybox
ARG WHO_DEFAULT=nobody
FROM \${BASE} AS builder
ARG WHO=world
ENV GREETING=hello
RUN echo "$GREETING $WHO" > /greet && echo built $WHO
FROM $BASE
ARG WHO
ARG WHO_DEFAULT
ENV DIR=/app NAME=\${WHO:-none}
WORKDIR $DIR
COPY --from=builder /greet ./
COPY . src/
LABEL who=$WHO dir="$DIR" default=$WHO_DEFAULT
EXPOSE \${PORT:-8080}/udp
VOLUME $DIR/data
STOPSIGNAL SIGINT
RUN echo "run sees $WHO and $NAME" && ls src | sort
CMD ["cat", "/app/greet"]
`;

const ONBASE = `FROM busybox
ONBUILD RUN echo triggered > /t
ONBUILD COPY a.txt /onb/
`;

const ONCHILD = `FROM onbase-test
RUN cat /t /onb/a.txt
`;

/** A build's output lines with IDs and sizes made comparable. */
function lines(out: string): string[] {
  return out
    .replace(/\b[0-9a-f]{12}\b/g, "<id>")
    .replace(/sha256:[0-9a-f]{64}/g, "sha256:<id>")
    .replace(/Sending build context to Docker daemon\s+\S+/g, "Sending build context to Docker daemon <size>")
    .split("\n")
    .filter((l) => l !== "");
}

describe("docker build through cove's /build beside dockerd's legacy builder", { skip }, () => {
  let dir: string;
  let ctx: string;
  let daemon: Daemon;
  let socket: string;
  let runtimeRoot: string;
  let peer: Dockerd | undefined;
  let coveEnv: NodeJS.ProcessEnv;
  const logs: string[] = [];
  const cove = (args: string[], input?: Buffer | string) => run(coveEnv, args, input);
  const dockerd = (args: string[], input?: Buffer | string) => run(peer!.env, args, input);
  const ok = (r: Result, what: string) => {
    assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const notCompared = (t: TestContext) => {
    if (!peer) t.skip(`not compared with dockerd: ${peerSkip ?? "it did not start"}`);
  };
  /** The same docker command against both (dockerd only when present). */
  const both = async (args: string[], input?: Buffer | string): Promise<[Result, Result | undefined]> => [await cove(args, input), peer ? await dockerd(args, input) : undefined];
  const inspectConfig = async (runner: typeof cove, ref: string) => {
    const c = JSON.parse(ok(await runner(["image", "inspect", "--format", "{{json .Config}}", ref]), "inspect")) as Record<string, unknown>;
    const pick = ["Env", "Cmd", "Entrypoint", "WorkingDir", "Labels", "ExposedPorts", "Volumes", "User", "StopSignal", "OnBuild"];
    return Object.fromEntries(pick.map((k) => [k, c[k] ?? null]));
  };
    // COPY's source digests are cove's own (dockerd's are tarsums): compared without them
  const history = async (runner: typeof cove, ref: string) =>
    ok(await runner(["history", "--no-trunc", "--format", "{{.CreatedBy}}", ref]), "history")
      .replace(/(file|dir|multi):[0-9a-f]{64}/g, "$1:<hash>")
      .split("\n");
  const files = async (runner: typeof cove, ref: string, cmd: string) => ok(await runner(["run", "--rm", "--network", "none", "--entrypoint", "sh", ref, "-c", cmd]), "run");

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-buildapi-"));
    socket = path.join(dir, "cove.sock");
    runtimeRoot = `/run/cove-buildapi-${process.pid}`;
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: (l) => logs.push(l) });
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_BUILDKIT: "0" };
    coveEnv = { ...env, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    ok(await cove(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]), "import");
    if (!peerSkip) {
      peer = await startDockerd({ dir: path.join(dir, "dockerd") });
      peer.env.DOCKER_BUILDKIT = "0";
      ok(await dockerd(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]), "dockerd import");
    }
    ctx = path.join(dir, "ctx");
    await mkdir(path.join(ctx, "secret"), { recursive: true });
    await mkdir(path.join(ctx, "keep"), { recursive: true });
    await writeFile(path.join(ctx, "Dockerfile"), MAIN);
    await writeFile(path.join(ctx, "Dockerfile.onbase"), ONBASE);
    await writeFile(path.join(ctx, "Dockerfile.onchild"), ONCHILD);
    await writeFile(path.join(ctx, "Dockerfile.fail"), "FROM busybox\nRUN echo before && false\n");
    await writeFile(path.join(ctx, "Dockerfile.bad"), "FROM busybox\nRUN true\nNOSUCH thing\n");
    await writeFile(path.join(ctx, "a.txt"), "a\n");
    await writeFile(path.join(ctx, "x.log"), "log\n");
    await writeFile(path.join(ctx, "secret/s"), "s\n");
    await writeFile(path.join(ctx, "keep/k"), "k\n");
    await writeFile(path.join(ctx, ".dockerignore"), "*.log\nsecret\nDockerfile.*\n");
  });

  after(async () => {
    if (daemon) {
      const ids = (await cove(["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
      if (ids.length) await cove(["rm", "-f", ...ids]);
      await daemon.close();
    }
    await peer?.stop();
    await rm(runtimeRoot, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("a multi-stage Dockerfile with build args: same stream, config, history and files as dockerd", async (t) => {
    const args = ["build", "-t", "main-test", "-t", "main-test:two", "--build-arg", "WHO=cove", "--build-arg", "EXTRA=1", "--label", "extra=yes", ctx];
    const [c, d] = await both(args);
    ok(c, "cove build");
    const got = lines(c.stdout);
    assert.ok(got.includes("Step 1/20 : ARG BASE=busybox") && got.includes("Step 3/20 : FROM ${BASE} AS builder"), c.stdout);
    assert.ok(got.includes("built cove"), c.stdout);
    assert.ok(got.includes("[Warning] One or more build-args [EXTRA] were not consumed"), c.stdout);
    assert.ok(got.includes("Successfully tagged main-test:latest") && got.includes("Successfully tagged main-test:two"), c.stdout);
    const config = await inspectConfig(cove, "main-test");
    assert.deepEqual(config.Labels, { who: "cove", dir: "/app", default: "nobody", extra: "yes" });
    assert.equal(await files(cove, "main-test", "cat /app/greet; find /app | sort"), "hello cove\n/app\n/app/data\n/app/greet\n/app/src\n/app/src/.dockerignore\n/app/src/Dockerfile\n/app/src/a.txt\n/app/src/keep\n/app/src/keep/k\n");
    notCompared(t);
    ok(d!, "dockerd build");
    assert.deepEqual(got, lines(d!.stdout));
    assert.deepEqual(config, await inspectConfig(dockerd, "main-test"));
    assert.deepEqual(await history(cove, "main-test"), await history(dockerd, "main-test"));
    const cmd = "find / -xdev -newer /bin -path /proc -prune -o -print | grep -v -e ^/proc -e ^/etc -e ^/dev -e ^/sys | sort; cat /app/greet";
    assert.equal(await files(cove, "main-test", cmd), await files(dockerd, "main-test", cmd));
  });

  it("a rebuild is all cache hits; --no-cache runs every step again", async () => {
    const args = ["build", "-t", "main-test", "--build-arg", "WHO=cove", ctx];
    const first = ok(await cove(args), "build");
    const again = lines(ok(await cove(args), "rebuild"));
    const steps = again.filter((l) => l.startsWith("Step ")).length;
    // FROM and the global ARGs make no image of their own
    const froms = again.filter((l) => / : FROM /.test(l)).length;
    assert.equal(again.filter((l) => l === " ---> Using cache").length, steps - froms - 2, again.join("\n"));
    assert.equal(again.filter((l) => l.startsWith(" ---> Running in")).length, 0);
    assert.equal(lines(first).at(-2), again.at(-2), "the same image");
    const fresh = lines(ok(await cove(["build", "--no-cache", ...args.slice(1)]), "no-cache build"));
    assert.equal(fresh.filter((l) => l === " ---> Using cache").length, 0);
  });

  it("--target builds the stages up to the target, as dockerd's legacy builder", async (t) => {
    const args = ["build", "--target", "builder", "-t", "target-test", ctx];
    const [c, d] = await both(args);
    ok(c, "cove build --target");
    assert.equal(await files(cove, "target-test", "cat /greet"), "hello world\n");
    const bad = await cove(["build", "--target", "nosuch", ctx]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /failed to reach build target nosuch in Dockerfile/);
    notCompared(t);
    ok(d!, "dockerd build --target");
    assert.deepEqual(lines(c.stdout).filter((l) => l !== " ---> Using cache"), lines(d!.stdout).filter((l) => l !== " ---> Using cache"));
    assert.deepEqual(await history(cove, "target-test"), await history(dockerd, "target-test"));
  });

  it("ONBUILD triggers of the base image run after FROM, as with dockerd", async (t) => {
    for (const runner of peer ? [cove, dockerd] : [cove]) {
      ok(await runner(["build", "-f", path.join(ctx, "Dockerfile.onbase"), "-t", "onbase-test", ctx]), "base build");
    }
    const args = ["build", "--no-cache", "-f", path.join(ctx, "Dockerfile.onchild"), "-t", "onchild-test", ctx];
    const [c, d] = await both(args);
    const got = lines(ok(c, "child build"));
    assert.ok(got.includes("# Executing 2 build triggers"), c.stdout);
    assert.ok(got.includes("triggered") && got.includes("a"), c.stdout);
    assert.equal((await inspectConfig(cove, "onchild-test")).OnBuild, null);
    notCompared(t);
    assert.deepEqual(got, lines(ok(d!, "dockerd child build")));
    assert.deepEqual(await inspectConfig(cove, "onchild-test"), await inspectConfig(dockerd, "onchild-test"));
    assert.deepEqual(await history(cove, "onchild-test"), await history(dockerd, "onchild-test"));
  });

  it("a failing RUN: dockerd's error and exit code, nothing tagged", async (t) => {
    const args = ["build", "-f", path.join(ctx, "Dockerfile.fail"), "-t", "fail-test", ctx];
    const [c, d] = await both(args);
    assert.equal(c.code, 1, c.stderr);
    assert.match(c.stderr, /The command '\/bin\/sh -c echo before && false' returned a non-zero code: 1/);
    assert.equal((await cove(["image", "inspect", "fail-test"])).code, 1);
    assert.equal((await cove(["ps", "-aq"])).stdout.trim(), "", "no build container left");
    notCompared(t);
    assert.equal(c.code, d!.code);
    assert.equal(c.stderr.replace(/^DEPRECATED[^]*?\n\n/, ""), d!.stderr.replace(/^DEPRECATED[^]*?\n\n/, ""));
    assert.deepEqual(lines(c.stdout).filter((l) => !l.startsWith(" ---> ")), lines(d!.stdout).filter((l) => !l.startsWith(" ---> ")));
  });

  it("a broken Dockerfile is refused at its line, and the raw API answers as the CLI shows", async () => {
    const r = await cove(["build", "-f", path.join(ctx, "Dockerfile.bad"), ctx]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /:3:1: unknown instruction: NOSUCH/i);
  });

  it("docker builder prune -f forgets the build cache: the next build runs every step", async () => {
    const args = ["build", "-t", "main-test", "--build-arg", "WHO=cove", ctx];
    ok(await cove(args), "build");
    const p = ok(await cove(["builder", "prune", "-f"]), "builder prune");
    assert.match(p, /Total reclaimed space: 0B/);
    const after = lines(ok(await cove(args), "build after prune"));
    assert.equal(after.filter((l) => l === " ---> Using cache").length, 0, after.join("\n"));
  });

  it("dockerode's buildImage (a tar stream) and the Python docker library build", async () => {
    const client = new Docker({ socketPath: socket });
    const tar = (await exec("tar", ["-C", ctx, "-c", "."], { encoding: "buffer", maxBuffer: 16 << 20 })).stdout;
    const stream = await client.buildImage(Readable.from([tar]) as unknown as NodeJS.ReadableStream, { t: "dockerode-test", dockerfile: "Dockerfile.onbase" });
    const msgs = await new Promise<Record<string, unknown>[]>((resolve, reject) => client.modem.followProgress(stream, (err: Error | null, res: Record<string, unknown>[]) => (err ? reject(err) : resolve(res))));
    assert.ok(msgs.some((m) => m.stream === "Successfully tagged dockerode-test:latest\n"), JSON.stringify(msgs));
    assert.ok(msgs.some((m) => typeof (m.aux as { ID?: string } | undefined)?.ID === "string"));
    const py = `import docker, sys
c = docker.DockerClient(base_url="unix://${socket}")
img, logs = c.images.build(path=sys.argv[1], tag="python-test", dockerfile="Dockerfile.onbase")
print("python-test:latest" in img.tags, img.id)`;
    const { stdout } = await exec("python3", ["-c", py, ctx]);
    assert.match(stdout, /^True sha256:[0-9a-f]{64}\n$/);
  });

  it("cove build: the docker CLI's lines, -f outside the context, --build-arg, --iidfile, -q", async () => {
    const outside = path.join(dir, "Dockerfile.outside");
    await writeFile(outside, "FROM busybox\nARG WHO\nCOPY . /ctx/\nRUN ls -A /ctx | sort && echo $WHO\n");
    const args = ["build", "--no-cache", "-f", outside, "--build-arg", "WHO=cli", "-t", "cli-test", ctx];
    const viaCove = await coveCli(socket, args);
    assert.equal(viaCove.code, 0, viaCove.stderr);
    const viaDocker = ok(await cove(args), "docker build");
    // the same lines as the docker CLI prints (it adds the context's size first)
    assert.deepEqual(lines(viaCove.stdout), lines(viaDocker).slice(1));
    assert.ok(lines(viaCove.stdout).includes("cli"), viaCove.stdout);
    // neither the outside Dockerfile nor ignored files are in the context
    assert.equal(ok(await cove(["run", "--rm", "--network", "none", "cli-test", "ls", "-A", "/ctx"]), "run"), ".dockerignore\nDockerfile\na.txt\nkeep\n");
    const iid = path.join(dir, "iid");
    const quiet = await coveCli(socket, ["build", "-q", "--iidfile", iid, "-f", path.join(ctx, "Dockerfile.onbase"), ctx]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.match(quiet.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(await readFile(iid, "utf8"), quiet.stdout.trim());
    const failed = await coveCli(socket, ["build", "-f", path.join(ctx, "Dockerfile.fail"), "-t", "cli-fail", ctx]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /The command '\/bin\/sh -c echo before && false' returned a non-zero code: 1/);
  });

  it("docker build without DOCKER_BUILDKIT=0: the docker CLI does with cove what it does with a dockerd without BuildKit", async (t) => {
    const env = (e: NodeJS.ProcessEnv) => Object.fromEntries(Object.entries(e).filter(([k]) => k !== "DOCKER_BUILDKIT"));
    const args = ["build", "-q", "-f", path.join(ctx, "Dockerfile.onbase"), ctx];
    const c = await run(env(coveEnv), args);
    // without buildx the CLI warns and builds with the legacy builder (cove's /_ping says Builder-Version 1)
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.match(c.stderr, /DEPRECATED: The legacy builder is deprecated/);
    // a BuildKit build asked for through the API is refused in moby's words for a daemon without
    // BuildKit (Debian's dockerd has BuildKit inside and builds it even with the feature off)
    const tar = (await exec("tar", ["-C", ctx, "-c", "Dockerfile.onbase"], { encoding: "buffer" })).stdout;
    const bk = await api(socket, "POST", "/v1.41/build?version=2&dockerfile=Dockerfile.onbase", tar, { "Content-Type": "application/x-tar" });
    assert.equal(bk.status, 400);
    assert.match((JSON.parse(bk.body) as { message: string }).message, /^buildkit not supported by daemon\n {2}hint: build with the legacy builder: DOCKER_BUILDKIT=0/);
    notCompared(t);
    const d = await run(env(peer!.env), args);
    assert.equal(c.code, d.code, d.stderr);
    assert.equal(c.stderr, d.stderr);
  });

  it("bad requests: a clear error, no image, no leftovers", async (t) => {
    const tar = (await exec("tar", ["-C", ctx, "-c", "a.txt"], { encoding: "buffer" })).stdout;
    const post = (sock: string, q: string, body: Buffer) => api(sock, "POST", `/v1.41/build?${q}`, body, { "Content-Type": "application/x-tar" });
    const before = ok(await cove(["images", "-q", "-a"]), "images");
    const badArgs = await post(socket, "buildargs=notjson&t=bad-test", tar);
    assert.equal(badArgs.status, 400);
    assert.match(badArgs.body, /buildargs must be a JSON object of strings/);
    const garbage = await post(socket, "t=bad-test", Buffer.from("this is no tar archive at all".repeat(40)));
    assert.match(garbage.body, /"error"|"message"/);
    const noDockerfile = await post(socket, "t=bad-test", tar);
    const errorOf = (body: string) => body.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { error?: string; message?: string }).map((m) => m.error ?? m.message).filter(Boolean)[0];
    assert.equal(errorOf(noDockerfile.body), "Cannot locate specified Dockerfile: Dockerfile");
    assert.equal(ok(await cove(["images", "-q", "-a"]), "images"), before, "no image made");
    assert.equal((await cove(["image", "inspect", "bad-test"])).code, 1);
    assert.deepEqual(await readdir(path.join(dir, "root", "tmp")).catch(() => []), [], "no context left behind");
    notCompared(t);
    const d = await post(peer!.socket, "t=bad-test", tar);
    assert.equal(errorOf(d.body), errorOf(noDockerfile.body));
  });

  it("cove build on a terminal: a live line per step, with its time or CACHED", async () => {
    const args = ["build", "-f", path.join(ctx, "Dockerfile.onbase"), "-t", "tty-test", ctx];
    assert.equal((await coveCli(socket, args)).code, 0);
    // script gives the command a pseudo-terminal
    const cmd = [process.execPath, COVE_MAIN, ...args].map((a) => `'${a}'`).join(" ");
    const { stdout } = await exec("script", ["-qec", cmd, "/dev/null"], { env: { ...process.env, COVE_HOST: `unix://${socket}`, DOCKER_HOST: `unix://${socket}` } });
    // the line is cleared (ESC [2K) and rewritten when the step ends
    assert.ok(stdout.includes("\r\x1b[2K[1/3] FROM busybox DONE "), JSON.stringify(stdout));
    assert.match(stdout, /\[2\/3\] ONBUILD RUN echo triggered > \/t CACHED/);
    assert.match(stdout, /Successfully tagged tty-test:latest/);
  });

  it("--add-host and --shm-size reach the RUN containers; RUN --network=none keeps the shm size", async () => {
    const df = "FROM busybox\nRUN grep -c 'myhost' /etc/hosts && df -k /dev/shm | tail -1 | awk '{print \"shm\", $2}'\nRUN --network=none df -k /dev/shm | tail -1 | awk '{print \"shm\", $2}'\n";
    const args = ["build", "--no-cache", "--add-host", "myhost:10.1.2.3", "--shm-size", "70m", "-"];
    const c = lines(ok(await cove(args, df), "build with host settings"));
    assert.ok(c.includes("1"), c.join("\n"));
    assert.deepEqual(c.filter((l) => l.startsWith("shm ")), [`shm ${70 * 1024}`, `shm ${70 * 1024}`], c.join("\n"));
  });
});

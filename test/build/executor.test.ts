// The build executor on the real container and image services (no daemon): typed steps on the
// offline busybox image become an image whose config, history and files match what Debian's
// dockerd (its legacy builder, DOCKER_BUILDKIT=0) makes of the equivalent Dockerfile; a rebuild
// is all cache hits, a changed COPY source invalidates exactly the steps from it on, and bad
// input (a failing RUN, a missing or escaping COPY source, an abort) leaves no container and no
// tag behind.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { chmod, mkdir, readFile, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { createReadStream, createWriteStream } from "node:fs";
import { finished } from "node:stream/promises";
import { BuildCache, Builder, formatEvent, removeBuildLeftovers, type BuildEvent, type BuildOptions, type Stage, type Step } from "../../src/build/index.js";
import { ContainerService } from "../../src/containers/index.js";
import { ImageService } from "../../src/images/service.js";
import { readTar } from "../../src/snapshots/index.js";
import { setup, type Harness } from "../containers/harness.js";
import { findBusybox } from "../images/fixtures.js";
import { run as runDocker } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const run = promisify(execFile);
const skip = process.getuid?.() !== 0 ? "needs root (namespaces, cgroups, overlay)" : !(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined;
const peerSkip = skip ?? dockerdAvailable();

/** The stage under test, step by step beside the Dockerfile line dockerd builds. */
const STEPS: [Step, string][] = [
  [{ kind: "arg", name: "V", default: "1" }, "ARG V=1"],
  [{ kind: "env", vars: [["A", "b"], ["C", "d e"]] }, 'ENV A=b C="d e"'],
  [{ kind: "run", command: "echo hi > /hi && echo out" }, "RUN echo hi > /hi && echo out"],
  [{ kind: "run", command: ["sh", "-c", "echo exec; echo $V-$A >/v; echo err >&2"] }, 'RUN ["sh", "-c", "echo exec; echo $V-$A >/v; echo err >&2"]'],
  [{ kind: "copy", sources: ["a.txt"], dest: "/dst" }, "COPY a.txt /dst"],
  [{ kind: "copy", sources: ["*.txt"], dest: "/globs/" }, "COPY *.txt /globs/"],
  [{ kind: "copy", sources: ["dir"], dest: "/new/d2", chown: "1:2" }, "COPY --chown=1:2 dir /new/d2"],
  [{ kind: "copy", sources: ["dir/", "a.txt"], dest: "/multi/", chown: "nobody:nogroup" }, "COPY --chown=nobody:nogroup dir/ a.txt /multi/"],
  [{ kind: "workdir", path: "/app" }, "WORKDIR /app"],
  [{ kind: "workdir", path: "/bin" }, "WORKDIR /bin"],
  [{ kind: "run", command: "pwd > /app/pwd" }, "RUN pwd > /app/pwd"],
  [{ kind: "workdir", path: "sub" }, "WORKDIR sub"],
  [{ kind: "copy", sources: ["b.txt"], dest: "rel.txt" }, "COPY b.txt rel.txt"],
  [{ kind: "volume", paths: ["/data"] }, "VOLUME /data"],
  [{ kind: "copy", sources: ["a.txt"], dest: "/data/" }, "COPY a.txt /data/"],
  [{ kind: "run", command: "echo lost > /data/lost" }, "RUN echo lost > /data/lost"],
  [{ kind: "user", user: "nobody" }, "USER nobody"],
  [{ kind: "label", labels: [["k", "v"], ["x y", "z"]] }, 'LABEL k=v "x y"=z'],
  [{ kind: "expose", ports: ["80", "53/udp"] }, "EXPOSE 80 53/udp"],
  [{ kind: "cmd", command: ["-c", "echo hi"] }, 'CMD ["-c", "echo hi"]'],
  [{ kind: "entrypoint", command: ["sh"] }, 'ENTRYPOINT ["sh"]'],
  [{ kind: "stopsignal", signal: "SIGINT" }, "STOPSIGNAL SIGINT"],
  [{ kind: "healthcheck", healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 5e9 } }, "HEALTHCHECK --interval=5s CMD true"],
  [{ kind: "onbuild", instruction: "RUN echo on" }, "ONBUILD RUN echo on"],
  [{ kind: "shell", shell: ["/bin/sh", "-xc"] }, 'SHELL ["/bin/sh", "-xc"]'],
  [{ kind: "run", command: "echo shell; id -u > /tmp/uid" }, "RUN echo shell; id -u > /tmp/uid"],
];

const stage = (): Stage => ({ base: { image: "busybox" }, text: "FROM busybox", steps: STEPS.map(([s, text]) => ({ ...s, text }) as Step) });
const DOCKERFILE = ["FROM busybox", ...STEPS.map(([, line]) => line)].join("\n") + "\n";
/** Where the build writes: the files compared with dockerd's. */
const BUILT = ["hi", "v", "dst", "globs", "new", "multi", "app", "bin/sub", "tmp/uid", "data"];

/** A second build: two stages, COPY --from a stage and an image, ADD of a local archive and a plain file. */
const MULTI: Stage[] = [
  {
    name: "builder",
    base: { image: "busybox" },
    text: "FROM busybox AS builder",
    steps: [{ kind: "run", command: "mkdir -p /out/deep && echo built > /out/file && ln -s file /out/link && echo d > /out/deep/d", text: "RUN mkdir -p /out/deep && echo built > /out/file && ln -s file /out/link && echo d > /out/deep/d" }],
  },
  {
    base: { image: "busybox" },
    text: "FROM busybox",
    steps: [
      { kind: "copy", sources: ["/out"], dest: "/copied", from: "builder", text: "COPY --from=builder /out /copied" },
      { kind: "copy", sources: ["/out/file"], dest: "/single", from: "builder", chown: "1:2", text: "COPY --from=builder --chown=1:2 /out/file /single" },
      { kind: "copy", sources: ["/etc/group"], dest: "/img/", from: "busybox", text: "COPY --from=busybox /etc/group /img/" },
      { kind: "add", sources: ["arch.tar.gz"], dest: "/ex", text: "ADD arch.tar.gz /ex" },
      { kind: "add", sources: ["a.txt"], dest: "/adda", text: "ADD a.txt /adda" },
    ],
  },
];
/** A third: FROM scratch, filled from the builder stage and the context. */
const SCRATCH: Stage[] = [
  MULTI[0]!,
  {
    base: { scratch: true },
    text: "FROM scratch",
    steps: [
      { kind: "copy", sources: ["/out"], dest: "/app", from: "builder", text: "COPY --from=builder /out /app" },
      { kind: "copy", sources: ["a.txt"], dest: "/", text: "COPY a.txt /" },
      { kind: "env", vars: [["X", "y"]], text: "ENV X=y" },
      { kind: "workdir", path: "/w", text: "WORKDIR /w" },
      { kind: "cmd", command: ["/app/file"], text: 'CMD ["/app/file"]' },
    ],
  },
];
const SCRATCH_FILE = SCRATCH.flatMap((st) => [st.text!, ...st.steps.map((x) => x.text!)]).join("\n") + "\n";
const SCRATCH_BUILT = ["app", "a.txt", "w"];
const MULTI_FILE = MULTI.flatMap((st) => [st.text!, ...st.steps.map((x) => x.text!)]).join("\n") + "\n";
const MULTI_BUILT = ["copied", "single", "img", "ex", "adda"];

async function makeContext(dir: string): Promise<void> {
  await mkdir(path.join(dir, "dir/sub"), { recursive: true });
  await writeFile(path.join(dir, "a.txt"), "a\n");
  await writeFile(path.join(dir, "b.txt"), "b\n");
  await writeFile(path.join(dir, "dir/x"), "x\n");
  await chmod(path.join(dir, "dir/x"), 0o640);
  await writeFile(path.join(dir, "dir/sub/y"), "y\n");
  await symlink("x", path.join(dir, "dir/link"));
  await writeFile(path.join(dir, "Dockerfile"), DOCKERFILE);
  await writeFile(path.join(dir, "Dockerfile.multi"), MULTI_FILE);
  await writeFile(path.join(dir, "Dockerfile.scratch"), SCRATCH_FILE);
  // an archive ADD unpacks: a directory, a file with its own owner and mode, a symlink
  const src = path.join(dir, "..", "archsrc");
  await mkdir(path.join(src, "t"), { recursive: true });
  await writeFile(path.join(src, "t/f"), "in archive\n");
  await chmod(path.join(src, "t/f"), 0o604);
  await symlink("f", path.join(src, "t/l"));
  await run("tar", ["-czf", path.join(dir, "arch.tar.gz"), "--owner=7", "--group=8", "-C", src, "t"]);
}

/** Runs a build to its end: the events and the image ID, or the error with the events before it. */
async function build(b: Builder, stages: Stage[], opts: BuildOptions): Promise<{ events: BuildEvent[]; id?: string; error?: Error }> {
  const events: BuildEvent[] = [];
  const it = b.build(stages, opts);
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return { events, id: r.value };
      events.push(r.value);
    }
  } catch (err) {
    return { events, error: err as Error };
  }
}

const text = (events: BuildEvent[]) => events.map(formatEvent).join("");
const hashless = (s: string) => s.replace(/(file|dir|multi):[0-9a-f]{64}/g, "$1:<hash>");

interface Listed {
  type: string;
  mode: string;
  owner: string;
  size: number;
  link: string;
  body: string;
}

/** An image filesystem export (tar bytes) as path → entry, for the paths the build wrote. */
async function listing(tar: AsyncIterable<Buffer>, built: string[] = BUILT): Promise<Map<string, Listed>> {
  const out = new Map<string, Listed>();
  for await (const { header, body } of readTar(tar)) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    const name = header.name.replace(/^\.?\//, "").replace(/\/$/, "");
    if (!built.some((p) => name === p || name.startsWith(`${p}/`))) continue;
    out.set(name, { type: header.type, mode: (header.mode & 0o7777).toString(8), owner: `${header.uid}:${header.gid}`, size: header.size, link: header.linkname, body: Buffer.concat(chunks).toString() });
  }
  return out;
}

/** A docker-archive's image config: its container config, and its history as created_by (hashes blanked) with empty_layer. */
async function savedConfig(file: string): Promise<{ config: Record<string, unknown>; history: string[] }> {
  const manifest = JSON.parse((await run("tar", ["-xOf", file, "manifest.json"])).stdout) as { Config: string }[];
  const config = JSON.parse((await run("tar", ["-xOf", file, manifest[0]!.Config], { maxBuffer: 1 << 26 })).stdout) as {
    config: Record<string, unknown>;
    history: { created_by?: string; empty_layer?: boolean }[];
  };
  return { config: config.config, history: config.history.map((h) => `${h.empty_layer ? "empty " : "layer "}${hashless(h.created_by ?? "")}`) };
}

const CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell"] as const;

describe("the build executor", { skip }, () => {
  let h: Harness;
  let ctx: string;
  let builder: Builder;
  let builtId = "";
  let firstEvents: BuildEvent[] = [];

  const containersLeft = async () => (await h.svc.list({ all: true })).map((c) => c.Id);

  before(async () => {
    h = await setup();
    ctx = path.join(h.base, "ctx");
    await makeContext(ctx);
    builder = Builder.open(h.svc, h.images);
  });
  after(async () => {
    await h?.cleanup();
  });

  it("builds a stage of RUN, COPY and config steps into a tagged image with their config and files", async () => {
    const r = await build(builder, [stage()], { context: ctx, tags: ["cove-build:1"] });
    assert.ifError(r.error);
    builtId = r.id!;
    firstEvents = r.events;
    const out = text(r.events);
    assert.match(out, /^Step 1\/27 : FROM busybox\n ---> [0-9a-f]{12}\nStep 2\/27 : ARG V=1\n/);
    assert.match(out, /Step 4\/27 : RUN echo hi > \/hi && echo out\n ---> Running in [0-9a-f]{12}\nout\nRemoving intermediate container/);
    assert.match(out, /\nexec\n/);
    assert.match(out, /\nerr\n/);
    assert.match(out, /\+ echo shell\n/, "SHELL's -x shows");
    assert.match(out, /\nshell\n/);
    assert.ok(out.endsWith(`Successfully built ${builtId.slice(7, 19)}\nSuccessfully tagged cove-build:1\n`), out.slice(-200));
    assert.equal(r.events.filter((e) => e.type === "cache-hit").length, 0);
    assert.deepEqual(await containersLeft(), [], "every build container is removed");

    const img = await h.images.inspect("cove-build:1");
    assert.equal(img.Id, builtId);
    assert.deepEqual(img.Config.Env, ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=b", "C=d e"], "ARG stays out of the image's env");
    assert.deepEqual(img.Config.Entrypoint, ["sh"]);
    assert.deepEqual(img.Config.Cmd, ["-c", "echo hi"], "a CMD of this stage survives the ENTRYPOINT after it");
    assert.equal(img.Config.WorkingDir, "/bin/sub");
    assert.equal(img.Config.User, "nobody");

    const { Id: cid } = await h.svc.create({ Image: builtId, Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
    try {
      const tar = new PassThrough();
      const files = listing(tar);
      await h.svc.export(cid, tar);
      const l = await files;
      assert.equal(l.get("hi")?.body, "hi\n");
      assert.equal(l.get("v")?.body, "1-b\n", "RUN sees the build argument and the env");
      assert.equal(l.get("app/pwd")?.body, "/bin\n", "RUN runs in the WORKDIR");
      assert.equal(l.get("tmp/uid")?.body, "65534\n", "RUN runs as the USER");
      assert.deepEqual(l.get("dst"), { type: "file", mode: "644", owner: "0:0", size: 2, link: "", body: "a\n" });
      assert.deepEqual([...l.keys()].filter((k) => k.startsWith("globs/")).sort(), ["globs/a.txt", "globs/b.txt"]);
      assert.deepEqual(l.get("new/d2"), { type: "dir", mode: "755", owner: "1:2", size: 0, link: "", body: "" });
      assert.deepEqual(l.get("new/d2/x"), { type: "file", mode: "640", owner: "1:2", size: 2, link: "", body: "x\n" });
      assert.equal(l.get("new/d2/link")?.link, "x", "a symlink inside a copied directory stays a symlink");
      assert.equal(l.get("new")?.owner, "0:0", "parents made for the destination are root's");
      assert.equal(l.get("multi/sub/y")?.owner, "65534:65534", "--chown=user:group takes their ids from the image's passwd and group");
      assert.equal(l.get("bin/sub/rel.txt")?.body, "b\n", "a relative destination is under the WORKDIR");
      assert.equal(l.get("data/a.txt")?.body, "a\n", "a COPY into a VOLUME's path stays in the image");
      assert.equal(l.has("data/lost"), false, "a RUN's writes into a VOLUME are lost");
    } finally {
      await h.svc.remove(cid, { force: true });
    }
  });

  it("gives the same step lines, config, history and files as dockerd's legacy builder, for one stage, for two with COPY --from and ADD, and FROM scratch", { skip: peerSkip }, async () => {
    assert.ok(builtId, "the first test built the image");
    let dockerd: Dockerd | undefined;
    try {
      dockerd = await startDockerd({ dir: path.join(h.base, "dockerd") });
      const d = dockerd;
      const ok = async (args: string[]): Promise<string> => {
        const r = await d.docker(args);
        assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
        return r.stdout;
      };
      // the same base image in both
      const base = path.join(h.base, "busybox.tar");
      const bout = createWriteStream(base);
      await h.images.save(["busybox:latest"], bout);
      if (!bout.writableFinished) await finished(bout);
      await ok(["load", "-i", base]);
      const compare = async (stages: Stage[], dockerfile: string, tag: string, ourId: string, ourEvents: BuildEvent[], built: string[]) => {
        // the legacy builder, whatever the CLI would pick
        const b = await runDocker({ ...d.env, DOCKER_BUILDKIT: "0" }, ["build", "-f", path.join(ctx, dockerfile), "-t", tag, ctx]);
        assert.equal(b.code, 0, `docker build failed (${b.code}): ${b.stderr}`);
        // the step lines, as dockerd prints them
        const steps = (x: string) => x.split("\n").filter((l) => l.startsWith("Step "));
        assert.deepEqual(steps(text(ourEvents)), steps(b.stdout));
        if (stages.some((st) => "scratch" in st.base)) assert.match(b.stdout, /Step \d+\/\d+ : FROM scratch\n ---> \n/);

        const theirSave = path.join(h.base, "peer.tar");
        await ok(["save", "-o", theirSave, tag]);
        await h.images.tag(ourId, "cove-compare:1");
        const ourSave = path.join(h.base, "ours.tar");
        const out = createWriteStream(ourSave);
        await h.images.save(["cove-compare:1"], out);
        if (!out.writableFinished) await finished(out);
        // the image configs as stored (what inspect shows is each daemon's view of them)
        const theirs = await savedConfig(theirSave);
        const ours = await savedConfig(ourSave);
        // dockerd writes every field of Go's struct ("" and null included), cove only those set
        const unset = (v: unknown) => (v === undefined || v === "" || (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) ? null : v);
        for (const f of CONFIG_FIELDS) assert.deepEqual(unset(ours.config[f]), unset(theirs.config[f]), `config.${f}`);
        assert.deepEqual(ours.history, theirs.history);

        // the files the build wrote, as `docker export` lists them (times aside)
        const cid = (await ok(["create", "--network", "none", tag, "true"])).trim();
        const theirTar = path.join(h.base, "peer-export.tar");
        await ok(["export", "-o", theirTar, cid]);
        const { Id: ourCid } = await h.svc.create({ Image: ourId, Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
        try {
          const tar = new PassThrough();
          const ourFiles = listing(tar, built);
          await h.svc.export(ourCid, tar);
          const mine = Object.fromEntries(await ourFiles);
          assert.ok(Object.keys(mine).length >= built.length, Object.keys(mine).join(" "));
          assert.deepEqual(mine, Object.fromEntries(await listing(createReadStream(theirTar), built)));
        } finally {
          await h.svc.remove(ourCid, { force: true });
        }
      };
      await compare([stage()], "Dockerfile", "peer:1", builtId, firstEvents, BUILT);
      const multi = await build(builder, MULTI, { context: ctx });
      assert.ifError(multi.error);
      await compare(MULTI, "Dockerfile.multi", "peer:2", multi.id!, multi.events, MULTI_BUILT);
      const fromScratch = await build(builder, SCRATCH, { context: ctx });
      assert.ifError(fromScratch.error);
      assert.match(text(fromScratch.events), /Step 3\/8 : FROM scratch\n ---> \nStep 4\/8/);
      await compare(SCRATCH, "Dockerfile.scratch", "peer:3", fromScratch.id!, fromScratch.events, SCRATCH_BUILT);
      assert.equal((await h.images.inspect(fromScratch.id!)).RootFS.Layers.length, 3, "scratch has no layer of its own");
    } finally {
      await dockerd?.stop();
    }
  });

  it("rebuilds from the cache alone, and a changed COPY source invalidates exactly the steps from it on", async () => {
    assert.ok(builtId, "the first test built the image");
    // a new mtime is no change
    await utimes(path.join(ctx, "a.txt"), new Date(), new Date(Date.now() - 3600_000));
    const again = await build(builder, [stage()], { context: ctx });
    assert.ifError(again.error);
    assert.equal(again.id, builtId);
    assert.equal(again.events.filter((e) => e.type === "cache-hit").length, STEPS.length);
    assert.ok(!again.events.some((e) => e.type === "running"), "no container ran");

    // the cache file alone (what a restarted daemon reads) still knows every step
    const copyRoot = path.join(h.base, "cache-copy");
    await mkdir(path.join(copyRoot, "build"), { recursive: true });
    await writeFile(path.join(copyRoot, "build/cache.json"), await readFile(path.join(h.svc.root, "build/cache.json")));
    const reopened = new Builder(h.svc, h.images, BuildCache.forRoot(copyRoot));
    const third = await build(reopened, [stage()], { context: ctx });
    assert.equal(third.id, builtId);
    assert.equal(third.events.filter((e) => e.type === "cache-hit").length, STEPS.length);

    // b.txt is first read by "COPY *.txt /globs/" (step 7 of 27)
    await writeFile(path.join(ctx, "b.txt"), "B\n");
    try {
      const changed = await build(builder, [stage()], { context: ctx });
      assert.ifError(changed.error);
      assert.notEqual(changed.id, builtId);
      const hitAt: number[] = [];
      let current = 0;
      for (const e of changed.events) {
        if (e.type === "step") current = e.index;
        if (e.type === "cache-hit") hitAt.push(current);
      }
      assert.deepEqual(hitAt, [2, 3, 4, 5, 6]);
      const noCache = await build(builder, [stage()], { context: ctx, noCache: true });
      assert.ifError(noCache.error);
      assert.equal(noCache.events.filter((e) => e.type === "cache-hit").length, 0, "--no-cache runs every step");
    } finally {
      await writeFile(path.join(ctx, "b.txt"), "b\n");
    }
    assert.deepEqual(await containersLeft(), []);
    const n = await BuildCache.forRoot(h.svc.root).prune();
    assert.ok(n > 0);
    const afterPrune = await build(builder, [{ base: { image: "busybox" }, steps: [STEPS[1]![0]] }], { context: ctx });
    assert.equal(afterPrune.events.filter((e) => e.type === "cache-hit").length, 0, "prune forgets the cache");
  });

  it("copies with --chmod and --exclude", async () => {
    const r = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "copy", sources: ["dir"], dest: "/c/", chmod: "0700", exclude: ["dir/sub"] }] }], { context: ctx });
    assert.ifError(r.error);
    const { Id: cid } = await h.svc.create({ Image: r.id!, Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
    try {
      const files = new Map<string, string>();
      for await (const { header, body } of readTar(await exportOf(cid))) {
        for await (const _ of body) void _;
        if (header.name.replace(/^\.?\//, "").startsWith("c/")) files.set(header.name.replace(/^\.?\//, "").replace(/\/$/, ""), (header.mode & 0o7777).toString(8));
      }
      // the copied files take the mode; the directory made for them is 0755, as any made for a COPY
      assert.deepEqual(Object.fromEntries(files), { c: "755", "c/link": "777", "c/x": "700" });
    } finally {
      await h.svc.remove(cid, { force: true });
    }
  });

  /** The files of an image under the given top-level paths: path → [mode, owner, content or link target]. */
  async function filesOf(id: string, under: string[]): Promise<Record<string, string>> {
    const { Id: cid } = await h.svc.create({ Image: id, Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
    try {
      const l = await listing(await exportOf(cid), under);
      return Object.fromEntries([...l].map(([k, v]) => [k, `${v.type} ${v.mode} ${v.owner} ${v.type === "symlink" ? v.link : v.body}`]));
    } finally {
      await h.svc.remove(cid, { force: true });
    }
  }

  it("copies with --parents, builds FROM an earlier stage, and runs RUN on the network it names", async () => {
    const hostNets = async () => (await run("sh", ["-c", "ls /sys/class/net"])).stdout.split("\n").filter((n) => n !== "");
    const before = await hostNets();
    const r = await build(
      builder,
      [
        { name: "first", base: { image: "busybox" }, steps: [{ kind: "copy", sources: ["dir/sub/y", "a.txt"], dest: "/par/", parents: true }] },
        {
          base: { stage: "first" },
          steps: [
            { kind: "run", command: "cat /par/dir/sub/y > /seen" },
            { kind: "run", command: "ls /sys/class/net | sort | tr '\\n' ' ' > /net-none", network: "none" },
            { kind: "run", command: "ls /sys/class/net | sort | tr '\\n' ' ' > /net-host", network: "host" },
          ],
        },
      ],
      { context: ctx, noCache: true },
    );
    assert.ifError(r.error);
    const files = await filesOf(r.id!, ["par", "seen", "net-none", "net-host"]);
    assert.equal(files["par/dir/sub/y"], "file 644 0:0 y\n");
    assert.equal(files["par/a.txt"], "file 644 0:0 a\n");
    assert.equal(files["seen"], "file 644 0:0 y\n");
    assert.equal(files["net-none"], "file 644 0:0 lo ");
    // the host's interfaces: those there before and after the build (other work on the machine
    // adds and removes veths meanwhile) must all have been seen by the RUN on the host network
    const after = await hostNets();
    const stable = before.filter((n) => after.includes(n));
    const seen = files["net-host"]!.replace(/^file 644 0:0 /, "").trim().split(" ");
    assert.ok(stable.includes("lo") && stable.length > 1, stable.join(" "));
    for (const n of stable) assert.ok(seen.includes(n), `${n} not seen on the host network: ${seen.join(" ")}`);
    assert.deepEqual(await containersLeft(), []);
  });

  it("downloads ADD URLs (mode 0600, the server's time) and refuses URLs in COPY", async () => {
    const http = await import("node:http");
    let gets = 0;
    const server = http.createServer((req, res) => {
      gets++;
      if (req.url === "/files/hello.txt") {
        res.writeHead(200, { "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT" });
        res.end("hello\n");
      } else {
        res.writeHead(404, "Not Found");
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as import("node:net").AddressInfo).port;
      const url = `http://127.0.0.1:${port}/files/hello.txt`;
      const steps: Step[] = [{ kind: "add", sources: [url], dest: "/dl/" }];
      const r = await build(builder, [{ base: { image: "busybox" }, steps }], { context: ctx });
      assert.ifError(r.error);
      const { Id: cid } = await h.svc.create({ Image: r.id!, Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
      try {
        for await (const { header, body } of readTar(await exportOf(cid))) {
          const chunks: Buffer[] = [];
          for await (const c of body) chunks.push(c);
          if (header.name.replace(/^\.?\//, "") !== "dl/hello.txt") continue;
          assert.equal((header.mode & 0o7777).toString(8), "600");
          assert.equal(header.mtime.sec, Date.parse("2015-10-21T07:28:00Z") / 1000);
          assert.equal(Buffer.concat(chunks).toString(), "hello\n");
        }
      } finally {
        await h.svc.remove(cid, { force: true });
      }
      // downloaded again, the same content: a cache hit
      const again = await build(builder, [{ base: { image: "busybox" }, steps }], { context: ctx });
      assert.equal(again.id, r.id);
      assert.equal(gets, 2);
      const missing = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "add", sources: [`http://127.0.0.1:${port}/nope`], dest: "/x" }] }], { context: ctx });
      assert.equal(missing.error?.message, `failed to GET http://127.0.0.1:${port}/nope with status 404 Not Found`);
      const copyUrl = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "copy", sources: [url], dest: "/x" }] }], { context: ctx });
      assert.equal(copyUrl.error?.message, "COPY failed: source can't be a URL for COPY");
    } finally {
      server.close();
    }
    assert.deepEqual(await containersLeft(), []);
  });

  async function exportOf(cid: string): Promise<AsyncIterable<Buffer>> {
    const chunks: Buffer[] = [];
    const tar = new PassThrough();
    tar.on("data", (c: Buffer) => chunks.push(c));
    await h.svc.export(cid, tar);
    return (async function* () {
      yield Buffer.concat(chunks);
    })();
  }

  it("adds --label as a last LABEL step, and checks every tag before it builds", async () => {
    const r = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "env", vars: [["E", "1"]] }] }], { context: ctx, labels: { "org.x": "1 2" }, tags: ["cove-label", "localhost:5000/a/b:v1"] });
    assert.ifError(r.error);
    assert.match(text(r.events), /Step 3\/3 : LABEL org.x=1 2\n/);
    assert.deepEqual((await h.images.inspect(r.id!)).Config.Labels, { "org.x": "1 2" });
    assert.deepEqual(
      r.events.filter((e) => e.type === "tagged").map(formatEvent),
      ["Successfully tagged cove-label:latest\n", "Successfully tagged localhost:5000/a/b:v1\n"],
    );
    assert.equal((await h.images.inspect("localhost:5000/a/b:v1")).Id, r.id);
    const bad = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "run", command: "true" }] }], { context: ctx, tags: ["cove-good:1", "Bad:Tag"] });
    assert.match(bad.error?.message ?? "", /must be lowercase/);
    assert.deepEqual(bad.events, [], "nothing ran");
    await assert.rejects(h.images.inspect("cove-good:1"), /No such image|not found/i);
  });

  it("fails a RUN with dockerd's message and its output, leaving no container and no tag", async () => {
    const r = await build(
      builder,
      [{ base: { image: "busybox" }, steps: [{ kind: "run", command: "echo made > /f" }, { kind: "run", command: "echo oops; exit 3" }] }],
      { context: ctx, tags: ["cove-fail:1"], noCache: true },
    );
    assert.ok(r.error);
    assert.equal(r.error.message, "The command '/bin/sh -c echo oops; exit 3' returned a non-zero code: 3");
    assert.match(text(r.events), /\noops\n$/);
    assert.deepEqual(await containersLeft(), []);
    await assert.rejects(h.images.inspect("cove-fail:1"), /No such image|not found/i);
  });

  it("refuses a missing COPY source and one that escapes the context through a symlink", async () => {
    const missing = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "copy", sources: ["nope"], dest: "/x" }] }], { context: ctx, tags: ["cove-fail:2"] });
    assert.equal(missing.error?.message, "COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist");
    const noMatch = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "copy", sources: ["*.none"], dest: "/x/" }] }], { context: ctx });
    assert.equal(noMatch.error?.message, "COPY failed: no source files were specified");
    // a user name alone means its group of the same name too, which busybox's /etc/group lacks (dockerd's words)
    const noGroup = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "copy", sources: ["a.txt"], dest: "/x", chown: "nobody" }] }], { context: ctx });
    assert.equal(noGroup.error?.message, "unable to convert uid/gid chown string to host mapping: can't find gid for group nobody: no such group: nobody");
    await symlink("/etc/passwd", path.join(ctx, "escape"));
    await symlink("../../..", path.join(ctx, "dir/up"));
    try {
      for (const src of ["escape", "dir/up", "dir/up/etc/passwd", "dir/up/nothing/here", "../outside", "*cape"]) {
        const r = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "copy", sources: [src], dest: "/x" }] }], { context: ctx, tags: ["cove-fail:3"] });
        assert.match(r.error?.message ?? "", /^COPY failed: forbidden path outside the build context/, src);
      }
      const multi = await build(builder, [{ base: { image: "busybox" }, steps: [{ kind: "copy", sources: ["a.txt", "b.txt"], dest: "/x" }] }], { context: ctx });
      assert.equal(multi.error?.message, "When using COPY with more than one source file, the destination must be a directory and end with a /");
    } finally {
      await run("rm", ["-f", path.join(ctx, "escape"), path.join(ctx, "dir/up")]);
    }
    assert.deepEqual(await containersLeft(), []);
    for (const t of ["cove-fail:2", "cove-fail:3"]) await assert.rejects(h.images.inspect(t), /No such image|not found/i);
    assert.equal(await readFile("/etc/passwd", "utf8").then(() => true), true);
  });

  it("kills and removes the running step's container when the build is aborted", async () => {
    const controller = new AbortController();
    const it = builder.build([{ base: { image: "busybox" }, steps: [{ kind: "run", command: "echo started; sleep 600" }] }], { context: ctx, tags: ["cove-fail:4"], signal: controller.signal, noCache: true });
    let error: unknown;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        // once the command has printed, it runs: abort then
        if (r.value.type === "output" && r.value.data.toString() === "started\n") controller.abort();
      }
    } catch (err) {
      error = err;
    }
    assert.equal((error as Error | undefined)?.name, "AbortError");
    assert.deepEqual(await containersLeft(), []);
    await assert.rejects(h.images.inspect("cove-fail:4"), /No such image|not found/i);
  });

  // last: it replaces the services (a new process's view of the root)
  it("removes the build container a killed build process left once the services are opened again", async () => {
    await h.svc.close();
    const child = spawn(process.execPath, [fileURLToPath(new URL("./build-child.js", import.meta.url)), h.root, h.runtimeRoot, ctx], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const exited = once(child, "exit");
    try {
      // the RUN's command runs: the child says so
      const running = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`the build child never ran its step: ${err}`)), 120_000);
        child.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          const m = /RUNNING ([0-9a-f]{64})\n/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        void exited.then(() => reject(new Error(`the build child exited: ${err}`)));
      });
      child.kill("SIGKILL");
      await exited;
      h.images = await ImageService.open({ root: h.root });
      h.svc = await ContainerService.open({ root: h.root, runtimeRoot: h.runtimeRoot, images: h.images });
      assert.deepEqual(await containersLeft(), [running], "the step's container outlived its build");
      assert.equal((await h.svc.inspect(running)).State.Running, true);
      const removed = await removeBuildLeftovers(h.svc);
      assert.equal(removed.length, 1);
      assert.match(removed[0]!, /^cove-build-[0-9a-f]{16}$/);
      assert.deepEqual(await containersLeft(), []);
      assert.deepEqual(await removeBuildLeftovers(h.svc), [], "the journal is empty afterwards");
      await assert.rejects(h.images.inspect("cove-killed:1"), /No such image|not found/i);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});

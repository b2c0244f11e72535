// dockerode (the Node client most Docker tooling builds on) as a peer: it drives a private cove
// daemon (temp socket, root and runtime root; busybox imported offline; containers without a
// network) through create, start, logs (follow and not), exec (with and without a TTY, with
// stdin), attach (hijacked, demultiplexed with docker-modem's demuxStream), wait and remove, and
// lists and inspects images. Errors arrive as dockerode reports them: statusCode and message.
// The same scenarios run against Debian's dockerd (private socket and root), so each expectation
// is Docker's behaviour, not only cove's.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Duplex, type Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { unmountAll } from "../../src/snapshots/index.js";
import { busyboxRootfsTar, findBusybox, importBusybox, tempDir } from "../images/fixtures.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { demux } from "../support/dockerode.js";

const skip = process.getuid?.() !== 0 ? "needs root (containers)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

/** A daemon under test: its socket, the busybox image's ID, and how to stop it. */
interface Target {
  socket: string;
  imageId: string;
  stop(): Promise<void>;
}

/** cove's daemon in process on a temp root, with busybox imported offline. */
async function startCove(dir: string): Promise<Target> {
  const daemon: Daemon = await startDaemon({ root: path.join(dir, "root"), socket: path.join(dir, "api.sock"), runtimeRoot: path.join(dir, "r"), log: () => undefined });
  const imageId = await importBusybox(daemon.images);
  return {
    socket: daemon.socket,
    imageId,
    stop: async () => {
      for (const c of await daemon.containers.list({ all: true })) await daemon.containers.remove(c.Id, { force: true }).catch(() => undefined);
      await daemon.close();
    },
  };
}

/** Debian's dockerd on a private socket and root, with the same busybox tree imported. */
async function startDocker(dir: string): Promise<Target> {
  const dockerd: Dockerd = await startDockerd({ dir: path.join(dir, "d") });
  try {
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    const r = await dockerd.docker(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    assert.equal(r.code, 0, r.stderr);
    return { socket: dockerd.socket, imageId: r.stdout.trim(), stop: () => dockerd.stop() };
  } catch (err) {
    await dockerd.stop();
    throw err;
  }
}

const TARGETS: { name: string; start: (dir: string) => Promise<Target>; skip: string | false }[] = [
  { name: "cove's daemon", start: startCove, skip },
  { name: "Debian's dockerd (the reference)", start: startDocker, skip: skip || (dockerdAvailable() ?? false) },
];

/** Everything a raw (TTY) stream carries until it ends. */
function collect(stream: Readable): Promise<string> {
  let text = "";
  stream.on("data", (d: Buffer) => (text += d.toString()));
  return new Promise((resolve, reject) => {
    stream.on("end", () => resolve(text));
    stream.on("close", () => resolve(text));
    stream.on("error", reject);
  });
}

/** dockerode's error for a failed request: the HTTP status and the daemon's message. */
async function failure(p: Promise<unknown>): Promise<{ statusCode: number; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { statusCode?: number; json?: { message?: string } | null; message: string };
    return { statusCode: e.statusCode ?? 0, message: e.json?.message ?? e.message };
  }
  throw new Error("the request succeeded");
}

for (const target of TARGETS) describe(`dockerode drives ${target.name}`, { skip: target.skip }, () => {
  let dir = "";
  let daemon: Target | undefined;
  let docker: Docker;
  let imageId = "";
  const isCove = target.start === startCove;
  const noNetwork = { NetworkMode: "none" };

  before(async () => {
    dir = await tempDir();
    daemon = await target.start(dir);
    imageId = daemon.imageId;
    docker = new Docker({ socketPath: daemon.socket });
  });

  after(async () => {
    await daemon?.stop();
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => dir && m.startsWith(dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) unmountAll(m, 2);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("pings, and reads the version", async () => {
    assert.equal(String(await docker.ping()), "OK");
    const v = await docker.version();
    if (isCove) assert.equal(v.ApiVersion, "1.47");
    assert.equal(v.Os, "linux");
  });

  it("lists and inspects images", async () => {
    const images = await docker.listImages();
    assert.deepEqual(
      images.map((i) => [i.Id, i.RepoTags]),
      [[imageId, ["busybox:latest"]]],
    );
    const info = await docker.getImage("busybox").inspect();
    assert.equal(info.Id, imageId);
    assert.deepEqual(info.Config.Cmd, ["sh"]);
    assert.equal(info.Os, "linux");
    const missing = await failure(docker.getImage("nosuch:1").inspect());
    assert.equal(missing.statusCode, 404);
    // Debian's dockerd prefixes its own "no such image: nosuch:1: "
    assert.match(missing.message, /(^|: )No such image: nosuch:1$/);
  });

  it("creates, starts, waits for and reads the logs of a container, then removes it", async () => {
    const container = await docker.createContainer({
      Image: "busybox",
      Cmd: ["sh", "-c", "echo to stdout; echo to stderr >&2; exit 4"],
      name: `dockerode-${process.pid}`,
      HostConfig: noNetwork,
    });
    try {
      // as with dockerd, "not-running" (the default) answers at once for a created container:
      // waiting before start needs next-exit, as the docker CLI's run uses
      assert.equal((await container.wait()).StatusCode, 0);
      const waiting = container.wait({ condition: "next-exit" });
      await container.start();
      const exit = (await waiting) as { StatusCode: number; Error?: { Message: string } | null };
      assert.equal(exit.StatusCode, 4);
      assert.equal(exit.Error?.Message ?? "", "");
      const inspect = await container.inspect();
      assert.equal(inspect.Name, `/dockerode-${process.pid}`);
      assert.equal(inspect.State.Status, "exited");
      assert.equal(inspect.State.ExitCode, 4);

      // without follow, dockerode hands back the multiplexed bytes
      const raw = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
      assert.ok(Buffer.isBuffer(raw));
      const logs = await demux(docker, new PassThrough().end(raw));
      assert.deepEqual(logs, { stdout: "to stdout\n", stderr: "to stderr\n" });

      await container.remove();
      const gone = await failure(container.inspect());
      assert.equal(gone.statusCode, 404);
      assert.match(gone.message, /^No such container: /);
    } finally {
      // a failed assertion must not leave the named container for the tests after this one
      await container.remove({ force: true }).catch(() => undefined);
    }
  });

  it("runs a container with its run() helper (attach, start, wait)", async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = "";
    let stderr = "";
    out.on("data", (d: Buffer) => (stdout += d.toString()));
    err.on("data", (d: Buffer) => (stderr += d.toString()));
    const [result, container] = (await docker.run("busybox", ["sh", "-c", "echo hi; echo oops >&2; exit 2"], [out, err], { Tty: false, HostConfig: noNetwork })) as [
      { StatusCode: number },
      Docker.Container,
    ];
    try {
      assert.equal(result.StatusCode, 2);
      assert.equal(stdout, "hi\n");
      assert.equal(stderr, "oops\n");
    } finally {
      await container.remove();
    }
  });

  it("follows logs until the container exits", async () => {
    const container = await docker.createContainer({ Image: "busybox", Cmd: ["sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.3; done; echo bye >&2"], HostConfig: noNetwork });
    try {
      await container.start();
      const stream = (await container.logs({ stdout: true, stderr: true, follow: true })) as unknown as Readable;
      assert.deepEqual(await demux(docker, stream), { stdout: "tick 1\ntick 2\ntick 3\n", stderr: "bye\n" });
    } finally {
      await container.remove({ force: true });
    }
  });

  it("execs without a TTY (demultiplexed, exit code in inspect), with a TTY, and with stdin", async () => {
    const container = await docker.createContainer({ Image: "busybox", Cmd: ["sleep", "600"], HostConfig: noNetwork });
    try {
      await container.start();

      const plain = await container.exec({ Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], AttachStdout: true, AttachStderr: true });
      const plainStream = (await plain.start({ hijack: true, stdin: false })) as Duplex;
      assert.deepEqual(await demux(docker, plainStream), { stdout: "out\n", stderr: "err\n" });
      const plainInfo = await plain.inspect();
      assert.equal(plainInfo.Running, false);
      assert.equal(plainInfo.ExitCode, 3);

      const tty = await container.exec({ Cmd: ["sh", "-c", "tty; echo on a terminal; exit 5"], AttachStdout: true, AttachStderr: true, Tty: true });
      const ttyStream = (await tty.start({ hijack: true, stdin: false, Tty: true })) as Duplex;
      assert.equal(await collect(ttyStream), "/dev/pts/0\r\non a terminal\r\n");
      const ttyInfo = await tty.inspect();
      assert.equal(ttyInfo.ExitCode, 5);
      assert.equal((ttyInfo.ProcessConfig as { tty?: boolean }).tty, true);

      const withStdin = await container.exec({ Cmd: ["sh", "-c", "read line; echo got $line"], AttachStdin: true, AttachStdout: true, AttachStderr: true });
      const stdinStream = (await withStdin.start({ hijack: true, stdin: true })) as Duplex;
      const reading = demux(docker, stdinStream);
      stdinStream.write("hello\n");
      assert.deepEqual(await reading, { stdout: "got hello\n", stderr: "" });
      assert.equal((await withStdin.inspect()).ExitCode, 0);
    } finally {
      await container.remove({ force: true });
    }
  });

  it("attaches to a container's stdio (hijacked), sends stdin, and waits for its exit", async () => {
    const container = await docker.createContainer({
      Image: "busybox",
      Cmd: ["sh", "-c", "while read line; do echo echo: $line; done; echo stdin closed >&2"],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: noNetwork,
    });
    try {
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
      const reading = demux(docker, stream);
      await container.start();
      stream.write("one\n");
      stream.write("two\n");
      stream.end();
      assert.deepEqual(await reading, { stdout: "echo: one\necho: two\n", stderr: "stdin closed\n" });
      assert.equal(((await container.wait()) as { StatusCode: number }).StatusCode, 0);
    } finally {
      await container.remove({ force: true });
    }
  });

  it("tags, shows history, saves, removes, loads and prunes images", async () => {
    const image = docker.getImage("busybox");
    await image.tag({ repo: "dockerode/bb", tag: "1" });
    assert.deepEqual((await docker.getImage("dockerode/bb:1").inspect()).RepoTags.sort(), ["busybox:latest", "dockerode/bb:1"]);
    const history = await image.history();
    assert.equal(history.length, 1);
    assert.equal(history[0].Id, imageId);

    const archive = (await image.get()) as unknown as Readable;
    const chunks: Buffer[] = [];
    for await (const c of archive) chunks.push(c as Buffer);
    const saved = Buffer.concat(chunks);
    assert.ok(saved.length > 100_000);

    assert.deepEqual(await docker.getImage("dockerode/bb:1").remove(), [{ Untagged: "dockerode/bb:1" }]);
    const removed = (await image.remove()) as { Untagged?: string; Deleted?: string }[];
    assert.deepEqual(removed[0], { Untagged: "busybox:latest" });
    assert.ok(removed.some((r) => r.Deleted === imageId));
    assert.deepEqual(await docker.listImages(), []);

    const loading = (await docker.loadImage(new PassThrough().end(saved), { quiet: true })) as unknown as Readable;
    let progress = "";
    for await (const c of loading) progress += String(c);
    assert.match(progress, /Loaded image: busybox:latest/);
    assert.equal((await image.inspect()).Id, imageId);

    const pruned = await docker.pruneImages();
    assert.deepEqual(pruned.ImagesDeleted ?? [], [], "nothing dangling");
    assert.equal(pruned.SpaceReclaimed, 0);
    const df = await docker.df();
    assert.deepEqual(
      (df.Images as { Id: string }[]).map((i) => i.Id),
      [imageId],
    );
  });

  it("streams events, filtered by type and container", async () => {
    const name = `dockerode-events-${process.pid}`;
    const stream = (await docker.getEvents({ filters: { type: ["container"], container: [name] } })) as unknown as Readable;
    const actions: string[] = [];
    const seen = new Promise<void>((resolve, reject) => {
      let rest = "";
      stream.on("data", (d: Buffer) => {
        rest += d.toString();
        let nl: number;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const ev = JSON.parse(rest.slice(0, nl)) as { Action: string; Actor: { Attributes: { name: string } } };
          rest = rest.slice(nl + 1);
          assert.equal(ev.Actor.Attributes.name, name);
          actions.push(ev.Action);
          if (ev.Action === "destroy") resolve();
        }
      });
      stream.on("error", reject);
      setTimeout(() => reject(new Error(`no destroy event within a minute; saw ${actions.join(", ")}`)), 60_000).unref();
    });
    let containerId: string | undefined;
    try {
      // another container's events do not pass the filter
      const other = await docker.createContainer({ Image: "busybox", Cmd: ["true"], HostConfig: noNetwork });
      await other.remove();
      const container = await docker.createContainer({ Image: "busybox", Cmd: ["true"], name, HostConfig: noNetwork });
      containerId = container.id;
      const exited = container.wait({ condition: "next-exit" });
      await container.start();
      await exited;
      await container.remove();
      await seen;
    } finally {
      stream.destroy();
      if (containerId) await docker.getContainer(containerId).remove({ force: true }).catch(() => undefined);
    }
    assert.deepEqual(actions, ["create", "start", "die", "destroy"]);
  });

  it("reports Docker's errors: unknown image on create, removing a running container", async () => {
    const noImage = await failure(docker.createContainer({ Image: "nosuch:1", Cmd: ["true"] }));
    assert.equal(noImage.statusCode, 404);
    assert.equal(noImage.message, "No such image: nosuch:1");

    const container = await docker.createContainer({ Image: "busybox", Cmd: ["sleep", "600"], HostConfig: noNetwork });
    try {
      await container.start();
      const busy = await failure(container.remove());
      assert.equal(busy.statusCode, 409);
      // cove speaks Docker 28's wording; Debian's dockerd (the reference here) is older
      if (isCove) assert.match(busy.message, /^cannot remove container "\/[a-z_]+": container is running: stop the container before removing or force remove$/);
      else assert.match(busy.message, /^You cannot remove a running container [0-9a-f]{64}\. Stop the container before attempting removal or force remove$/);
    } finally {
      await container.remove({ force: true });
    }
    assert.deepEqual(await docker.listContainers({ all: true }), []);
  });
});

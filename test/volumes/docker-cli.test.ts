// Differential: the docker CLI v28 runs the same volume and mount scenarios against cove's daemon
// and against Debian's dockerd (test/support/dockerd.ts), and the outputs, messages and exit codes
// must agree once paths, IDs and times are normalized. Both daemons are driven at API 1.41 (what
// dockerd 20.10 speaks), so prune has the same meaning on both; cove's 1.42+ behaviour (anonymous
// volumes only, the anonymous label) is checked on its own at the end. Each test starts from
// daemons without containers or volumes, whatever the test before it left.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const DOCKER = "/usr/local/bin/docker";
const skip = dockerdAvailable() ?? false;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("docker volume and docker run -v: cove against dockerd", { skip }, () => {
  let dir: string;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  let coveRoot: string;
  let dockerRoot: string;
  let hostDir: string;

  const runDocker = (env: NodeJS.ProcessEnv, args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(DOCKER, args, { env, timeout: 120_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  const coveEnv = (version = "1.41"): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    DOCKER_CONFIG: path.join(dir, "cove-cli"),
    DOCKER_HOST: `unix://${daemon!.socket}`,
    DOCKER_API_VERSION: version,
  });
  const onCove = (args: string[], version?: string) => runDocker(coveEnv(version), args);
  const onDocker = (args: string[]) => runDocker({ ...dockerd!.env, DOCKER_API_VERSION: "1.41" }, args);

  /** Paths, IDs and times differ between the daemons by nature, and cove adds hints; everything else must not. */
  const normalize = (text: string, root: string): string =>
    text
      .replace(/^ {2}hint: .*\n/gm, "") // cove's own advice after Docker's message
      .split(root)
      .join("<root>")
      .replace(/\b[0-9a-f]{64}\b/g, "<id>")
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, "<time>")
      // busybox ls -l: "Dec  2 08:29" (this year) or "May  7  2025"; the two runs may fall in different minutes
      .replace(/\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d (\d\d:\d\d| \d{4})\b/g, "<time>");

  /**
   * `volume ls` sorts by name, and an anonymous volume's name is a random ID: once masked, its row
   * may sit anywhere among the named ones. Its rows go last (in their own order); the named
   * volumes keep theirs, which must agree.
   */
  const idRowsLast = (text: string): string => {
    const lines = text.split("\n");
    const last = lines.pop() ?? "";
    return [...lines.filter((l) => !l.includes("<id>")), ...lines.filter((l) => l.includes("<id>")), last].join("\n");
  };

  /** Runs args on both daemons and compares; returns cove's result. */
  const same = async (args: string[], opts: { sortLines?: boolean; json?: (v: unknown) => unknown } = {}): Promise<Result> => {
    const [c, d] = [await onCove(args), await onDocker(args)];
    const listing = args[0] === "volume" && (args[1] === "ls" || args[1] === "list");
    const shape = (r: Result, root: string) => {
      let out = normalize(r.stdout, root);
      if (opts.json) out = JSON.stringify(opts.json(JSON.parse(out)));
      if (listing) out = idRowsLast(out);
      if (opts.sortLines) out = out.split("\n").sort().join("\n");
      return { code: r.code, stdout: out, stderr: normalize(r.stderr, root) };
    };
    assert.deepEqual(shape(c, coveRoot), shape(d, dockerRoot), `docker ${args.join(" ")}`);
    return c;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cvd-"));
    hostDir = path.join(dir, "host");
    await mkdir(hostDir);
    coveRoot = path.join(dir, "cove");
    daemon = await startDaemon({ root: coveRoot, socket: path.join(dir, "cove.sock"), runtimeRoot: path.join(dir, "rt"), log: () => undefined });
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
    dockerRoot = path.join(dir, "d", "data");
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    for (const r of [await onCove(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]), await onDocker(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"])]) {
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async () => {
    try {
      if (daemon) {
        for (const c of await daemon.containers.list({ all: true })) await daemon.containers.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
        await daemon.close();
      }
    } finally {
      await dockerd?.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  });

  // what a test made goes whether it passed or failed, so the next one starts from empty daemons
  afterEach(async () => {
    const sides: [boolean, (args: string[]) => Promise<Result>][] = [
      [daemon !== undefined, (args) => onCove(args)],
      [dockerd !== undefined, (args) => onDocker(args)],
    ];
    for (const [up, run] of sides) {
      if (!up) continue;
      const ids = (await run(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
      if (ids.length) await run(["rm", "-f", "-v", ...ids]);
      const volumes = (await run(["volume", "ls", "-q"])).stdout.split("\n").filter(Boolean);
      if (volumes.length) await run(["volume", "rm", "-f", ...volumes]);
    }
  });

  it("volume create, inspect, ls and their errors", async () => {
    await same(["volume", "create", "ab"]);
    await same(["volume", "create", "ab"]);
    await same(["volume", "create", "bad/name"]);
    await same(["volume", "create", "a"]);
    await same(["volume", "create", "--opt", "foo=bar", "badopt"]);
    await same(["volume", "create", "--opt", "type=tmpfs", "badtv"]);
    await same(["volume", "create", "--opt", "o=size=1m", "badtv2"]);
    await same(["volume", "create", "--opt", "size=1m", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "quota"]);
    await same(["volume", "create", "-d", "nodriver", "x1"]);
    // before lv: the docker CLI joins a volume's labels in Go's random map order
    await same(["volume", "ls", "--format", "json"]);
    await same(["volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Labels}} {{.Scope}} {{.Mountpoint}}"]);
    await same(["volume", "create", "--label", "k=v", "--label", "k2", "lv"]);
    await same(["volume", "inspect", "lv"]);
    await same(["volume", "inspect", "ab", "nope"]);
    await same(["volume", "inspect", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{.Labels}} {{index .Labels \"k\"}}", "lv"]);
    await same(["volume", "ls"]);
    await same(["volume", "ls", "-q"]);
    await same(["volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{.Label \"k\"}}"]);
    await same(["volume", "ls", "-f", "label=k=v"]);
    await same(["volume", "ls", "-f", "label=k2", "-f", "driver=local"]);
    await same(["volume", "ls", "-f", "name=l"]);
    await same(["volume", "ls", "-f", "dangling=maybe"]);
    await same(["volume", "ls", "-f", "bogus=1"]);
    await same(["volume", "rm", "lv", "nope"]);
    await same(["volume", "rm", "-f", "nope"]);
  });

  it("run -v: data shared between containers, in-use removal, inspect's Mounts", async () => {
    await same(["run", "--name", "w1", "--network", "none", "-v", "ab:/data", "busybox", "sh", "-c", "echo hi > /data/f"]);
    await same(["run", "--rm", "--network", "none", "--mount", "type=volume,src=ab,dst=/v,readonly", "busybox", "sh", "-c", "cat /v/f; touch /v/g || true"]);
    await same(["volume", "rm", "ab"]);
    await same(["volume", "rm", "-f", "ab"]);
    await same(["volume", "ls", "-f", "dangling=false"]);
    const mounts = (v: unknown) => (v as { Destination: string }[]).sort((a, b) => a.Destination.localeCompare(b.Destination));
    await same(["inspect", "--format", "{{json .Mounts}}", "w1"], { json: mounts });
    await same([
      "run",
      "--name",
      "w2",
      "--network",
      "none",
      "-v",
      "nv2:/x:ro",
      "-v",
      `${hostDir}:/b`,
      "-v",
      "/tmp:/under-root",
      "--mount",
      "type=volume,dst=/y",
      "--mount",
      `type=bind,src=${hostDir},dst=/c,readonly`,
      "--mount",
      "type=volume,src=nc,dst=/z,volume-nocopy",
      "-v",
      "cp:/usr",
      "-v",
      "nc2:/etc2:nocopy",
      "--mount",
      "type=tmpfs,dst=/t",
      "--volumes-from",
      "w1:ro",
      "busybox",
      "true",
    ]);
    await same(["inspect", "--format", "{{json .Mounts}}", "w2"], { json: mounts });
    await same(["run", "--rm", "--network", "none", "-v", "cp:/v", "busybox", "sh", "-c", "ls -lnR /v | head -5; stat -c '%a %u' /v"]);
    await same(["rm", "w2"]);
    await same(["rm", "-v", "w1"]);
  });

  it("anonymous volumes from -v /path and the image's VOLUME go with rm -v", async () => {
    await same(["run", "--name", "an1", "--network", "none", "-v", "/anon", "busybox", "true"]);
    await same(["inspect", "--format", "{{json .Mounts}}", "an1"]);
    await same(["rm", "-v", "an1"]);
    await same(["volume", "ls", "-q"], { sortLines: true });
  });

  it("local driver options: tmpfs, a bind of a host path, nfs", async () => {
    await same(["volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m,uid=1000,mode=0700", "tv"]);
    await same(["volume", "inspect", "tv"]);
    await same(["run", "--rm", "--network", "none", "-v", "tv:/t", "busybox", "sh", "-c", "stat -c '%a %u' /t; grep ' /t ' /proc/mounts"]);
    await same(["volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", `device=${path.join(hostDir, "missing")}`, "bindv"]);
    await same(["run", "--rm", "--network", "none", "-v", "bindv:/x", "busybox", "true"]);
    await same(["volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", `device=${hostDir}`, "bindok"]);
    await same(["run", "--rm", "--network", "none", "-v", "bindok:/x", "busybox", "sh", "-c", "echo through > /x/bound"]);
    await same(["run", "--rm", "--network", "none", "-v", "bindok:/x", "busybox", "cat", "/x/bound"]);
    await same(["volume", "create", "--opt", "type=nfs", "--opt", "o=addr=127.0.0.1", "--opt", "device=:/x", "nfsv"]);
    await same(["run", "--rm", "--network", "none", "-v", "nfsv:/x", "busybox", "true"]);
    for (const v of ["tv", "bindv", "bindok", "nfsv"]) await same(["volume", "rm", v]);
  });

  it("malformed mounts get Docker's messages", async () => {
    const bad: string[][] = [
      ["--mount", `type=bind,src=${path.join(hostDir, "missing")},dst=/x`],
      ["--mount", "type=bind,src=rel,dst=/x"],
      ["--mount", "type=bind,dst=/x"],
      ["--mount", "type=tmpfs,src=foo,dst=/x"],
      ["--mount", "type=bogus,dst=/x"],
      ["--mount", "type=bind,src=/tmp,dst=/x,bind-propagation=bogus"],
      ["--mount", "type=volume,src=bad$n,dst=/x"],
      ["-v", "rel/x:/x"],
      ["-v", "bad$name:/x"],
      ["-v", "/tmp:rel"],
      ["-v", "/tmp:/"],
      ["-v", "/tmp:/x", "-v", "/var:/x"],
      ["-v", "/tmp:/x", "--mount", "type=tmpfs,dst=/x"],
      ["--tmpfs", "/x", "-v", "/tmp:/x"],
      ["-v", "/tmp:/x:bogus"],
      ["-v", "/tmp:/x:ro,rw"],
      ["-v", "a:b:c:d"],
      ["-v", "/tmp:/x:nocopy"],
      ["-v", "nv3:/x:rshared"],
      [`-v`, `${hostDir}:/x:rshared`],
      ["-v", `${dir}:/x:rprivate`],
      ["--volumes-from", "nosuch"],
    ];
    for (const flags of bad) await same(["run", "--rm", "--network", "none", ...flags, "busybox", "true"]);
    await same(["volume", "ls", "-q"], { sortLines: true });
  });

  it("volume prune and system df count the same volumes", async () => {
    // unused ones for prune to find: a named volume and an anonymous one its container left behind
    await same(["volume", "create", "loose"]);
    await same(["run", "--name", "gone", "--network", "none", "-v", "/anonloose", "busybox", "true"]);
    await same(["rm", "gone"]);
    await same(["volume", "create", "--label", "keep=yes", "kept"]);
    await same(["run", "--name", "holder", "--network", "none", "-v", "held:/h", "-v", "/anonheld", "busybox", "true"]);
    await same(["volume", "prune", "-f", "--filter", "label=keep=no"]);
    await same(["volume", "prune", "-f", "--filter", "label!=keep"], { sortLines: true });
    await same(["volume", "ls", "-q"], { sortLines: true });
    const row = (r: Result) => r.stdout.split("\n").find((l) => l.startsWith("Local Volumes"));
    const [c, d] = [await onCove(["system", "df"]), await onDocker(["system", "df"])];
    assert.equal(row(c), row(d));
    const verbose = (r: Result) => r.stdout.slice(r.stdout.indexOf("Local Volumes space usage:"), r.stdout.indexOf("Build cache usage:"));
    const [cv, dv] = [await onCove(["system", "df", "-v"]), await onDocker(["system", "df", "-v"])];
    assert.equal(normalize(verbose(cv), coveRoot).split("\n").sort().join("\n"), normalize(verbose(dv), dockerRoot).split("\n").sort().join("\n"));
    await same(["rm", "-v", "holder"]);
    await same(["volume", "prune", "-f"], { sortLines: true });
    await same(["volume", "ls", "-q"]);
  });

  it("API 1.42+: anonymous volumes carry Docker 23's label and prune spares named volumes unless --all", async () => {
    const a = await onCove(["volume", "create"], "1.47");
    assert.equal(a.code, 0, a.stderr);
    const anon = a.stdout.trim();
    assert.match(anon, /^[0-9a-f]{64}$/);
    const lbl = await onCove(["volume", "inspect", "--format", "{{json .Labels}}", anon], "1.47");
    assert.equal(lbl.stdout, '{"com.docker.volume.anonymous":""}\n');
    assert.equal((await onCove(["volume", "create", "named47"], "1.47")).code, 0);
    const p = await onCove(["volume", "prune", "-f"], "1.47");
    assert.equal(p.stdout, `Deleted Volumes:\n${anon}\n\nTotal reclaimed space: 0B\n`);
    const all = await onCove(["volume", "prune", "-f", "--all"], "1.47");
    assert.equal(all.stdout, `Deleted Volumes:\nnamed47\n\nTotal reclaimed space: 0B\n`);
  });
});

// `cove volume ...` against the docker CLI v28: both talk to the same cove daemon, so for each
// command they must print the same thing, to the same stream, with the same exit code.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";

const DOCKER = "/usr/local/bin/docker";
const COVE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const skip = !existsSync(DOCKER) ? `${DOCKER} is missing` : process.getuid?.() !== 0 ? "needs root" : false;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("cove volume commands match the docker CLI", { skip }, () => {
  let dir: string;
  let daemon: Daemon;

  const exec = (file: string, args: string[], input = ""): Promise<Result> =>
    new Promise((resolve) => {
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${daemon.socket}` };
      const child = execFile(file, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      child.stdin?.on("error", () => undefined); // EPIPE: the command exited without reading its input
      child.stdin?.end(input);
    });
  const cove = (args: string[], input?: string) => exec(process.execPath, [COVE, ...args], input);
  const docker = (args: string[], input?: string) => exec(DOCKER, args, input);
  const volumes = () => daemon.containers.volumes;

  /** Runs setup, then cove; runs setup again, then docker; the two results must be equal. */
  const same = async (args: string[], opts: { setup?: () => Promise<void>; input?: string } = {}): Promise<Result> => {
    await opts.setup?.();
    const c = await cove(args, opts.input);
    await opts.setup?.();
    const d = await docker(args, opts.input);
    assert.deepEqual(c, d, `volume ${args.join(" ")}`);
    return c;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cvc-"));
    daemon = await startDaemon({ root: path.join(dir, "root"), socket: path.join(dir, "cove.sock"), runtimeRoot: path.join(dir, "rt"), log: () => undefined });
  });
  after(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  it("create, ls and inspect print what docker prints", async () => {
    await same(["volume", "create", "first"]);
    await same(["volume", "create", "--label", "tier=db", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "second"]);
    await same(["volume", "create", "--name", "third"]);
    await same(["volume", "create", "bad/x"]);
    await same(["volume", "create", "-o", "foo=bar", "badopt"]);
    await same(["volume", "ls"]);
    await same(["volume", "list", "-q"]);
    await same(["volume", "ls", "--format", "json"]);
    await same(["volume", "ls", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Mountpoint}}"]);
    await same(["volume", "ls", "--format", "{{.Name}} {{.Label \"tier\"}}"]);
    await same(["volume", "ls", "-f", "label=tier=db"]);
    await same(["volume", "ls", "-f", "dangling=true", "-q"]);
    await same(["volume", "ls", "-f", "name=ir"]);
    await same(["volume", "ls", "-f", "bogus=1"]);
    await same(["volume", "inspect", "second"]);
    await same(["volume", "inspect", "first", "nope"]);
    await same(["volume", "inspect", "nope"]);
    await same(["volume", "inspect", "--format", "{{.Name}} {{.Driver}} {{.Options}} {{.Labels}} {{json .Labels}}", "second"]);
  });

  it("rm and prune print what docker prints", async () => {
    const recreate = async () => {
      for (const n of ["r1", "r2"]) await volumes().create({ Name: n });
    };
    await same(["volume", "rm", "r1", "nope", "r2"], { setup: recreate });
    await same(["volume", "rm", "-f", "nope"]);
    const anonymous = async () => {
      for (const v of volumes().list().Volumes) await volumes().remove(v.Name);
      await volumes().create({ Name: "named" });
      // a fixed name: a random one would differ between the two runs
      await volumes().create({ Name: "a".repeat(64) }, { anonymous: true });
    };
    const pruned = await same(["volume", "prune", "-f"], { setup: anonymous });
    assert.equal(pruned.stdout, `Deleted Volumes:\n${"a".repeat(64)}\n\nTotal reclaimed space: 0B\n`);
    await same(["volume", "prune", "-a", "-f", "--filter", "label!=keep"], { setup: anonymous });
    await same(["volume", "prune"], { setup: anonymous, input: "n\n" });
    await same(["volume", "prune", "--all"], { setup: anonymous, input: "y\n" });
    await same(["volume", "ls", "-q"]);
  });

  it("docker events shows the volume events the daemon publishes", async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    assert.equal((await docker(["volume", "create", "evv"])).code, 0);
    assert.equal((await docker(["volume", "rm", "evv"])).code, 0);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const ev = await docker(["events", "--since", since, "--until", until, "--filter", "type=volume", "--filter", "volume=evv", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}"]);
    assert.equal(ev.stdout, "volume create evv local\nvolume destroy evv local\n", ev.stderr);
  });

  it("system df counts the volumes as docker's does", async () => {
    await volumes().create({ Name: "dfa" });
    await volumes().create({ Name: "dfb" });
    const { writeFile } = await import("node:fs/promises");
    await writeFile(path.join(volumes().mountpoint("dfa"), "f"), "x".repeat(1500));
    const row = (r: Result) => r.stdout.split("\n").find((l) => l.startsWith("Local Volumes"));
    const section = (r: Result) => r.stdout.slice(r.stdout.indexOf("Local Volumes space usage:"), r.stdout.indexOf("Build cache usage:"));
    const c = await cove(["--root", path.join(dir, "root"), "system", "df"]);
    const d = await docker(["system", "df"]);
    assert.equal(row(c), row(d));
    assert.match(row(c) ?? "", /^Local Volumes\s+2\s+0\s+1\.5kB\s+1\.5kB \(100%\)$/);
    const cv = await cove(["--root", path.join(dir, "root"), "system", "df", "-v"]);
    const dv = await docker(["system", "df", "-v"]);
    assert.equal(section(cv), section(dv));
    for (const n of ["dfa", "dfb"]) await volumes().remove(n);
  });
});

// docker cp and cove cp through mounts. The docker CLI v28 copies into and out of a named volume,
// a bind mount, a tmpfs and read-only mounts of a running container and of a stopped one, against
// cove and against Debian's dockerd; messages, exit codes, the files that arrive (in the container,
// in the volume, on the host) and the archives that come out must agree. Then cove's own cp runs
// the same copies against cove and must print and change what docker cp prints and changes.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const DOCKER = "/usr/local/bin/docker";
const COVE = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const skip = dockerdAvailable() ?? false;
/** What the docker CLI's tar writer logs, or not, as its goroutines race, when a copy in stops early. */
const CLI_PIPE_NOISE = /^time=".*" level=error msg="Can't (add file .* to tar|close tar writer): io: read\/write on closed pipe"\n/gm;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd, timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A tar's member list (names, types, sizes, owners): `tar -tv` without dates. */
function tarListing(tar: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("tar", ["-tvf", "-", "--numeric-owner"], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.on("error", reject);
    child.on("close", () => resolve(Buffer.concat(out).toString().split("\n").map((l) => l.replace(/\s+\d{4}-\d\d-\d\d \d\d:\d\d/, "")).sort().join("\n")));
    child.stdin?.on("error", () => undefined); // EPIPE: the command exited without reading its input
    child.stdin.end(tar);
  });
}

/** Every file under dir as "path mode size content". */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      const st = await stat(p);
      const rel = path.relative(dir, p);
      if (e.isDirectory()) {
        out.push(`${rel}/ ${(st.mode & 0o7777).toString(8)}`);
        await walk(p);
      } else out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${await readFile(p, "utf8")}`);
    }
  };
  await walk(dir);
  return out;
}

describe("docker cp through volumes, binds and tmpfs: cove against dockerd, and cove cp", { skip }, () => {
  let dir: string;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  const who = ["cove", "dockerd"] as const;
  type Who = (typeof who)[number];
  const hostDirs: Record<Who, { bind: string; bindro: string; out: string }> = {} as never;
  let src: string;

  const envOf = (w: Who): NodeJS.ProcessEnv =>
    w === "cove" ? { PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: path.join(dir, "cove-cli"), DOCKER_HOST: `unix://${daemon!.socket}` } : { ...dockerd!.env };
  const docker = (w: Who, args: string[]) => exec(DOCKER, args, envOf(w), src);
  const ok = async (w: Who, args: string[]) => {
    const r = await docker(w, args);
    assert.equal(r.code, 0, `${w}: docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  /** Paths and IDs differ by nature; the docker CLI's own tar writer logs a closed pipe or not as its goroutines race. */
  const norm = (w: Who, s: string) =>
    s
      .replace(CLI_PIPE_NOISE, "")
      .split(dir)
      .join("<dir>").replaceAll(`/${w}/`, "/<who>/").replace(/\b[0-9a-f]{64}\b/g, "<id>");
  /** Runs args (with {bind}, {bindro}, {out} filled in per daemon) on both; compares code and output. */
  const same = async (args: string[]) => {
    const res = {} as Record<Who, Result>;
    for (const w of who) {
      const filled = args.map((a) => a.replace("{bind}", hostDirs[w].bind).replace("{bindro}", hostDirs[w].bindro).replace("{out}", hostDirs[w].out));
      const r = await docker(w, filled);
      res[w] = { code: r.code, stdout: norm(w, r.stdout), stderr: norm(w, r.stderr) };
    }
    assert.deepEqual(res.cove, res.dockerd, `docker ${args.join(" ")}`);
    return res.cove;
  };

  /** docker cp CONTAINER:PATH - on both: the same status, and archives with the same members, modes, sizes and owners. */
  const sameTar = async (ref: string) => {
    const res = {} as Record<Who, { code: number; listing: string; stderr: string }>;
    for (const w of who) {
      const r = await new Promise<{ code: number; stdout: Buffer; stderr: string }>((resolve) => {
        execFile(DOCKER, ["cp", ref, "-"], { env: envOf(w), encoding: "buffer", timeout: 120_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr: stderr.toString() });
        });
      });
      res[w] = { code: r.code, listing: await tarListing(r.stdout), stderr: norm(w, r.stderr) };
    }
    assert.deepEqual(res.cove, res.dockerd, `docker cp ${ref} -`);
    assert.ok(res.cove.code !== 0 || res.cove.listing.trim() !== "", `docker cp ${ref} -: an empty archive`);
  };

  const mounts = ["-v", "cpvol-{name}:/vol", "-v", "{bind}:/bind", "-v", "cpro-{name}:/ro:ro", "--mount", "type=bind,src={bindro},dst=/bindro,readonly", "--tmpfs", "/tmpfs"];
  const withMounts = (name: string) => mounts.map((m) => m.replace("{name}", name));

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cvcp-"));
    src = path.join(dir, "src");
    await mkdir(path.join(src, "tree", "sub"), { recursive: true });
    await writeFile(path.join(src, "file.txt"), "hello\n", { mode: 0o640 });
    await writeFile(path.join(src, "tree", "a"), "a\n");
    await writeFile(path.join(src, "tree", "sub", "b"), "b\n", { mode: 0o600 });
    for (const w of who) {
      hostDirs[w] = { bind: path.join(dir, w, "bind"), bindro: path.join(dir, w, "bindro"), out: path.join(dir, w, "out") };
      for (const d of Object.values(hostDirs[w])) await mkdir(d, { recursive: true });
      await writeFile(path.join(hostDirs[w].bindro, "ro.txt"), "read only\n");
    }
    daemon = await startDaemon({ root: path.join(dir, "cove"), socket: path.join(dir, "cove.sock"), runtimeRoot: path.join(dir, "rt"), log: () => undefined });
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    for (const w of who) await ok(w, ["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
  });

  after(async () => {
    try {
      for (const w of who) {
        if (w === "dockerd" && !dockerd) continue;
        if (w === "cove" && !daemon) continue;
        const ids = (await docker(w, ["ps", "-aq"])).stdout.split("\n").filter(Boolean);
        if (ids.length) await docker(w, ["rm", "-f", "-v", ...ids]);
        await docker(w, ["volume", "prune", "-af"]);
      }
    } finally {
      try {
        await daemon?.close();
      } finally {
        await dockerd?.stop();
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      }
    }
  });

  it("into and out of a running container's volume, bind mount and tmpfs; read-only mounts refused", async () => {
    for (const w of who) {
      const args = withMounts("run").map((m) => m.replace("{bind}", hostDirs[w].bind).replace("{bindro}", hostDirs[w].bindro));
      await ok(w, ["run", "-d", "--name", "cprun", "--network", "none", ...args, "busybox", "sleep", "300"]);
    }
    for (const target of ["/vol", "/bind"]) {
      await same(["cp", "file.txt", `cprun:${target}/`]);
      await same(["cp", "tree", `cprun:${target}/tree`]);
      await same(["exec", "cprun", "sh", "-c", `cd ${target} && ls -lnR . | grep -v '^total' | sed 's/ [A-Z][a-z][a-z] .* / /'; cat file.txt tree/a tree/sub/b`]);
      await same(["cp", `cprun:${target}/tree`, "{out}/" + target.slice(1)]);
      await sameTar(`cprun:${target}/file.txt`);
    }
    // A running container's tmpfs: cove copies into the tmpfs the container sees, both ways.
    // dockerd writes beneath it, where the container never sees the file (its documented
    // limitation, moby/moby#22020), so here cove is checked on its own.
    await ok("cove", ["cp", "file.txt", "cprun:/tmpfs/"]);
    await ok("cove", ["cp", "tree", "cprun:/tmpfs/tree"]);
    assert.equal(await ok("cove", ["exec", "cprun", "sh", "-c", "grep ' /tmpfs ' /proc/mounts | cut -d' ' -f3; cat /tmpfs/file.txt /tmpfs/tree/sub/b; stat -c '%a %u' /tmpfs/file.txt /tmpfs/tree/sub/b"]), "tmpfs\nhello\nb\n640 0\n600 0\n");
    await ok("cove", ["exec", "cprun", "sh", "-c", "echo made inside > /tmpfs/inside"]);
    await ok("cove", ["cp", "cprun:/tmpfs/inside", path.join(hostDirs.cove.out, "inside")]);
    assert.equal(await readFile(path.join(hostDirs.cove.out, "inside"), "utf8"), "made inside\n");
    await rm(path.join(hostDirs.cove.out, "inside"));
    // what came out, and what landed on the host through the bind mount
    for (const w of who) assert.deepEqual(await tree(hostDirs[w].out), await tree(hostDirs.dockerd.out), `${w}: files copied out`);
    assert.deepEqual(await tree(hostDirs.cove.bind), await tree(hostDirs.dockerd.bind));
    assert.deepEqual(await tree(hostDirs.cove.bind), ["file.txt 640 0:0 hello\n", "tree/ 755", "tree/a 644 0:0 a\n", "tree/sub/ 755", "tree/sub/b 600 0:0 b\n"]);
    // the archive of a mount's directory, as docker cp - streams it
    await sameTar("cprun:/vol/tree");
    // read-only mounts: Docker's message, nothing written
    await same(["cp", "file.txt", "cprun:/ro/"]);
    await same(["cp", "file.txt", "cprun:/bindro/"]);
    await same(["cp", "file.txt", "cprun:/bindro/sub/"]);
    await sameTar("cprun:/bindro/ro.txt");
    await same(["exec", "cprun", "ls", "/ro", "/bindro"]);
    for (const w of who) assert.deepEqual(await readdir(hostDirs[w].bindro), ["ro.txt"]);
  });

  it("into and out of a stopped container's mounts: the same files the container sees when it starts", async () => {
    for (const w of who) {
      await rm(hostDirs[w].out, { recursive: true, force: true });
      await mkdir(hostDirs[w].out);
      const args = withMounts("stopped").map((m) => m.replace("{bind}", hostDirs[w].bind).replace("{bindro}", hostDirs[w].bindro));
      await ok(w, ["create", "--name", "cpstop", "--network", "none", ...args, "busybox", "sh", "-c", "cat /vol/x.txt /bind/x.txt; ls /tmpfs"]);
    }
    // before the first start
    await same(["cp", "file.txt", "cpstop:/vol/x.txt"]);
    await same(["cp", "file.txt", "cpstop:/bind/x.txt"]);
    await same(["cp", "file.txt", "cpstop:/tmpfs/"]);
    await same(["cp", "file.txt", "cpstop:/ro/"]);
    await same(["cp", "file.txt", "cpstop:/bindro/"]);
    await sameTar("cpstop:/vol/x.txt");
    await same(["cp", "cpstop:/bindro", "{out}/bindro"]);
    await same(["start", "-a", "cpstop"]);
    // after it ran: the volume kept the file, the tmpfs hid whatever was under it
    await same(["cp", "tree", "cpstop:/vol/"]);
    await same(["cp", "tree", "cpstop:/tmpfs/"]);
    await same(["cp", "cpstop:/vol/tree", "{out}/voltree"]);
    await sameTar("cpstop:/tmpfs/tree/sub/b");
    await same(["cp", "file.txt", "cpstop:/ro/"]);
    await same(["run", "--rm", "--network", "none", "-v", "cpvol-stopped:/v", "busybox", "sh", "-c", "ls -ln /v | grep -v '^total' | sed 's/ [A-Z][a-z][a-z] .* / /'; cat /v/x.txt /v/tree/sub/b"]);
    for (const w of who) assert.deepEqual(await tree(hostDirs[w].out), await tree(hostDirs.dockerd.out), `${w}: files copied out`);
    assert.deepEqual(await tree(hostDirs.cove.bind), await tree(hostDirs.dockerd.bind));
  });

  it("cove cp prints and changes what docker cp does against the same daemon", async () => {
    const coveCp = (args: string[]) => exec(process.execPath, [COVE, "cp", ...args], { PATH: process.env.PATH, HOME: dir, COVE_HOST: `unix://${daemon!.socket}` }, src);
    const dockerCp = (args: string[]) => docker("cove", ["cp", ...args]);
    // each CLI gets a container of its own with the same mounts, so both start from the same state
    for (const k of ["docker", "cove"]) {
      const args = withMounts(`cli${k}`).map((m) => m.replace("{bind}", hostDirs.cove.bind).replace("{bindro}", hostDirs.cove.bindro));
      await ok("cove", ["run", "-d", "--name", `cli${k}`, "--network", "none", ...args, "busybox", "sleep", "300"]);
    }
    const outs = { docker: path.join(dir, "cli-docker"), cove: path.join(dir, "cli-cove") };
    for (const d of Object.values(outs)) await mkdir(d);
    const cases = (out: string, ctr: string) => [
      ["file.txt", `${ctr}:/vol/f1`],
      ["tree", `${ctr}:/tmpfs/t`],
      ["tree/.", `${ctr}:/bind/`],
      [`${ctr}:/vol/f1`, `${out}/f1`],
      [`${ctr}:/tmpfs/t`, `${out}/t`],
      [`${ctr}:/bindro/ro.txt`, `${out}/ro.txt`],
      ["file.txt", `${ctr}:/ro/`],
      ["file.txt", `${ctr}:/bindro/`],
      ["file.txt", `${ctr}:/nope/dir/`],
      [`${ctr}:/vol/missing`, out],
    ];
    const results: Record<"docker" | "cove", Result[]> = { docker: [], cove: [] };
    for (const [k, run] of [["docker", dockerCp], ["cove", coveCp]] as const) {
      for (const c of cases(outs[k], `cli${k}`)) {
        const r = await run(c);
        results[k].push({ code: r.code, stdout: r.stdout, stderr: r.stderr.replace(CLI_PIPE_NOISE, "").split(outs[k]).join("<out>").replaceAll(`cli${k}`, "<ctr>") });
      }
    }
    assert.deepEqual(results.cove, results.docker);
    assert.deepEqual(await tree(outs.cove), await tree(outs.docker));
    assert.deepEqual(await tree(outs.cove), ["f1 640 0:0 hello\n", "ro.txt 644 0:0 read only\n", "t/ 755", "t/a 644 0:0 a\n", "t/sub/ 755", "t/sub/b 600 0:0 b\n"]);
  });
});

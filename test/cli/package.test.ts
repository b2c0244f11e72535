// cove as users install it: `npm pack` makes a package (prepack builds dist/ and the native
// parts and records the commit) that `npm install -g` installs with nothing downloaded, `cove`
// on PATH and `cove version` naming the build's commit; elsewhere than Linux x86-64, or asked to,
// its install script builds the native parts with gcc. And the set-up's `cove` command
// (scripts/install-command.sh) that runs a checkout.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

const hasGit = existsSync(path.join(REPO, ".git"));
const gcc = ["/usr/bin/gcc", "/usr/local/bin/gcc"].some((p) => existsSync(p));

describe("the cove package", { skip: !hasGit ? "needs the git checkout (for npm pack and its commit)" : false }, () => {
  let dir = "";
  let tgz = "";
  let commit = "";

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-pack-"));
    commit = execFileSync("git", ["-C", REPO, "rev-parse", "--short=7", "HEAD"], { encoding: "utf8" }).trim();
    const pack = await exec("npm", ["pack", "--pack-destination", dir, "--loglevel=error"], { cwd: REPO });
    assert.equal(pack.code, 0, pack.stderr);
    tgz = path.join(dir, pack.stdout.trim().split("\n").pop()!);
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("holds the compiled CLI, the native parts and their sources, and no tests", async () => {
    const files = execFileSync("tar", ["-tzf", tgz], { encoding: "utf8", maxBuffer: 64 << 20 }).split("\n");
    for (const f of ["package/dist/src/cli/main.js", "package/dist/runtime/cove-runtime.cjs", "package/scripts/cove-runtime-launcher.sh", "package/dist/build-info.json", "package/build/cove-shim", "package/build/cove-init", "package/build/cove.node", "package/src/native/shim/main.c", "package/scripts/build-native.sh", "package/scripts/install-native.sh", "package/node_modules/ajv/package.json", "package/src/cri/api.proto", "package/node_modules/@grpc/grpc-js/package.json", "package/node_modules/@xterm/xterm/package.json", "package/node_modules/@xterm/addon-fit/package.json"]) {
      assert.ok(files.includes(f), `${f} in the package`);
    }
    assert.deepEqual(
      files.filter((f) => /^package\/dist\/.*\.test\.js$|^package\/(dist\/)?test\//.test(f)),
      [],
    );
    // a startup snapshot only starts the node that made it: the install step builds it
    assert.ok(!files.some((f) => f.endsWith(".blob") || f.endsWith(".blob.node")), "no startup snapshot in the package");
    const info = JSON.parse(execFileSync("tar", ["-xzOf", tgz, "package/dist/build-info.json"], { encoding: "utf8" }));
    assert.match(info.commit, new RegExp(`^${commit}(-dirty)?$`));
  });

  it("installs with npm install -g offline, and cove version shows the commit", async () => {
    const prefix = path.join(dir, "prefix");
    const install = await exec("npm", ["install", "-g", tgz, "--prefix", prefix, "--offline", "--allow-scripts=cove", "--no-audit", "--no-fund", "--foreground-scripts"]);
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout + install.stderr, /cove: using the prebuilt native parts \(linux-x64\)/);
    const bin = path.join(prefix, "bin", "cove");
    const v = await exec(bin, ["--version"], { env: { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` } });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`^cove version 0\\.1\\.0, build ${commit}(-dirty)?\\n$`));
    // `cove version` prints the client's part and the commit even when no daemon answers
    const full = await exec(bin, ["version"], { env: { COVE_HOST: `unix://${path.join(dir, "none.sock")}` } });
    assert.equal(full.code, 1);
    assert.match(full.stdout, new RegExp(`^ Git commit: +${commit}(-dirty)?$`, "m"));
    assert.match(full.stderr, /Cannot connect to the Docker daemon at unix:\/\/.*none\.sock/);
    const help = await exec(bin, ["system", "install", "--help"]);
    assert.match(help.stdout, /^Usage: {2}cove system install \[OPTIONS\]/);
    // the runtime's command line alone, for containerd, CRI-O and podman: from the startup
    // snapshot the install built, from the bundle without it
    assert.match(install.stdout + install.stderr, /cove: built cove-runtime's startup snapshot for node v\d+/);
    const runtimeDir = path.join(prefix, "lib", "node_modules", "cove", "dist", "runtime");
    const nodePath = { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` };
    for (const form of ["snapshot", "bundle"]) {
      if (form === "bundle") await rm(path.join(runtimeDir, "cove-runtime.blob"));
      const traced = await exec("bash", ["-x", path.join(prefix, "bin", "cove-runtime"), "--version"], { env: nodePath });
      assert.equal(traced.code, 0, traced.stderr);
      assert.match(traced.stdout, /^cove runtime version 0\.1\.0\nspec: /);
      const ran = /^\+ exec .*$/m.exec(traced.stderr)?.[0] ?? "";
      assert.match(ran, form === "snapshot" ? /--snapshot-blob \S+\/dist\/runtime\/cove-runtime\.blob -- --version$/ : /\/dist\/runtime\/cove-runtime\.cjs --version$/, traced.stderr);
    }
  });

  it("builds the native parts with gcc at install when asked or when no prebuilt fits", { skip: !gcc ? "gcc is missing" : false }, async () => {
    const prefix = path.join(dir, "prefix-built");
    const started = Date.now();
    const install = await exec("npm", ["install", "-g", tgz, "--prefix", prefix, "--offline", "--allow-scripts=cove", "--no-audit", "--no-fund", "--foreground-scripts"], { env: { COVE_BUILD_NATIVE: "1" } });
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout + install.stderr, /cove: building the native parts with gcc/);
    const pkg = path.join(prefix, "lib", "node_modules", "cove");
    for (const f of ["build/cove-shim", "build/cove-init", "build/cove.node"]) {
      // npm packs every file with a fixed 1985 time: a fresh file was built here
      assert.ok((await stat(path.join(pkg, f))).mtimeMs >= started - 1000, `${f} was built at install`);
    }
    const v = await exec(path.join(prefix, "bin", "cove"), ["--version"]);
    assert.equal(v.code, 0, v.stderr);
  });
});

describe("the set-up's cove command", () => {
  let dir = "";

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-command-"));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs this checkout, is rewritten when run again, and leaves another cove alone", async () => {
    const bin = path.join(dir, "bin");
    const first = await exec("bash", [path.join(REPO, "scripts/install-command.sh"), bin]);
    assert.equal(first.code, 0, first.stderr);
    const v = await exec(path.join(bin, "cove"), ["--version"]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^cove version 0\.1\.0, build [0-9a-f]{7}/);
    // and cove-runtime, the runtime's runc-style command line alone
    const state = await exec(path.join(bin, "cove-runtime"), ["--root", path.join(dir, "no-runtime-root"), "state", "nothing"]);
    assert.equal(state.code, 1);
    assert.match(state.stderr, /container "nothing" does not exist/);
    assert.equal((await exec("bash", [path.join(REPO, "scripts/install-command.sh"), bin])).code, 0);

    const other = path.join(dir, "other");
    await mkdir(other);
    await writeFile(path.join(other, "cove"), "#!/bin/sh\necho another cove\n", { mode: 0o755 });
    const kept = await exec("bash", [path.join(REPO, "scripts/install-command.sh"), other]);
    assert.equal(kept.code, 0);
    assert.match(kept.stderr, /is another cove \(not written by cove.s scripts\): left as it is/);
    assert.equal(await readFile(path.join(other, "cove"), "utf8"), "#!/bin/sh\necho another cove\n");
  });

  it("says what to do when its checkout has moved", async () => {
    // a checkout elsewhere, not built: its command points there and says so
    const moved = path.join(dir, "moved checkout");
    await mkdir(path.join(moved, "scripts"), { recursive: true });
    for (const f of ["install-command.sh", "write-launcher.sh"]) await cp(path.join(REPO, "scripts", f), path.join(moved, "scripts", f));
    const bin = path.join(dir, "bin-moved");
    assert.equal((await exec("bash", [path.join(moved, "scripts/install-command.sh"), bin])).code, 0);
    const r = await exec(path.join(bin, "cove"), ["ps"]);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /moved checkout\/dist\/src\/cli\/main\.js is missing: the checkout moved or is not built; run scripts\/setup\.sh in it/);
  });
});

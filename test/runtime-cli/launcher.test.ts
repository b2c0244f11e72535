// cove-runtime as containerd, CRI-O and podman start it: the launcher scripts/install-command.sh
// writes, which runs the runtime's startup snapshot when the node it runs made it, else its
// one-file bundle, else the compiled modules (scripts/build-runtime.js, scripts/write-launcher.sh).
// Each form runs a busybox container to its end, and the launcher falls back when the blob is
// missing or was made by another node, and when the bundle is missing or older than the last
// TypeScript build. The launcher runs a copy of the checkout's layout in a temp directory (its
// own dist/runtime built here, the rest linked), so the checkout's own forms are left as they are.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { BUSYBOX, IS_ROOT, makeBundle, PACKAGE_ROOT, type Bundle } from "../fixtures/bundle.js";

const BUNDLE_ENTRY = path.join(PACKAGE_ROOT, "dist", "src", "cli", "runtime-bundle.js");

function skipReason(): string | undefined {
  if (!IS_ROOT) return "needs root (it runs containers)";
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static)`;
  if (!existsSync(BUNDLE_ENTRY)) return `${BUNDLE_ENTRY} is missing: build first (npx tsc -p .)`;
  if (!existsSync(path.join(PACKAGE_ROOT, "node_modules", "esbuild"))) return "esbuild is missing: npm install (a devDependency)";
  if (!(process.env.PATH ?? "/usr/bin").split(":").some((d) => existsSync(path.join(d, "gcc")))) return "gcc is missing: it builds the probe the bundle carries";
  return undefined;
}

interface BuildRuntime {
  bundle(entry: string, outfile: string): Promise<string>;
  snapshot(script: string, blob: string): string;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** What the launcher ran: its exec line from bash's trace. */
  exec: string;
}

describe("cove-runtime's launcher", { skip: skipReason() }, () => {
  let base = "";
  let checkout = "";
  let launcher = "";
  let root = "";
  let bundle: Bundle | undefined;
  let runtimeDir = "";
  let n = 0;

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), "cove-test-launcher-"));
    checkout = path.join(base, "checkout");
    runtimeDir = path.join(checkout, "dist", "runtime");
    await mkdir(path.join(checkout, "scripts"), { recursive: true });
    await mkdir(runtimeDir, { recursive: true });
    for (const f of ["install-command.sh", "write-launcher.sh"]) await copyFile(path.join(PACKAGE_ROOT, "scripts", f), path.join(checkout, "scripts", f));
    await copyFile(path.join(PACKAGE_ROOT, "package.json"), path.join(checkout, "package.json"));
    // the bundle finds the package root above itself, and the native parts there
    await symlink(path.join(PACKAGE_ROOT, "build"), path.join(checkout, "build"));
    await symlink(path.join(PACKAGE_ROOT, "dist", "src"), path.join(checkout, "dist", "src"));
    await writeFile(path.join(checkout, "dist", ".tsbuildinfo"), "{}");
    await buildForms();
    const bin = path.join(base, "bin");
    execFileSync("bash", [path.join(checkout, "scripts", "install-command.sh"), bin], { stdio: "ignore" });
    launcher = path.join(bin, "cove-runtime");
    root = path.join(base, "root");
    bundle = await makeBundle((spec) => {
      spec.process!.args = ["/bin/sh", "-c", "echo hello from $(hostname); exit 3"];
    });
  });

  after(async () => {
    if (root) for (let i = 0; i < n; i++) spawnSync(launcher, ["--root", root, "delete", "--force", `c${i}`], { stdio: "ignore" });
    await bundle?.cleanup();
    if (base) await rm(base, { recursive: true, force: true });
  });

  /** The bundle and the snapshot, built as the build builds them, into the copy's dist/runtime. */
  async function buildForms(): Promise<void> {
    const build = (await import(pathToFileURL(path.join(PACKAGE_ROOT, "scripts", "build-runtime.js")).href)) as BuildRuntime;
    const script = await build.bundle(BUNDLE_ENTRY, path.join(runtimeDir, "cove-runtime.cjs"));
    build.snapshot(script, path.join(runtimeDir, "cove-runtime.blob"));
    // both newer than the last TypeScript build
    const past = new Date(Date.now() - 60_000);
    await utimes(path.join(checkout, "dist", ".tsbuildinfo"), past, past);
  }

  /**
   * Runs the launcher under bash -x, its stdout and stderr going to files: a created container
   * keeps the caller's stdio, so pipes would stay open as long as it runs.
   */
  function launch(args: string[]): Ran {
    const out = path.join(base, `out-${n}`);
    const err = path.join(base, `err-${n}`);
    const fds = [openSync(out, "w"), openSync(err, "w")];
    try {
      const r = spawnSync("bash", ["-x", launcher, "--root", root, ...args], { stdio: ["ignore", fds[0], fds[1]], timeout: 120_000 });
      const stderr = readFileSync(err, "utf8");
      const exec = /^\+ exec (.*)$/m.exec(stderr)?.[1] ?? "";
      return { code: r.status, stdout: readFileSync(out, "utf8"), stderr, exec };
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** `cove-runtime run` of the bundle through the launcher: the container's output and exit code come back. */
  function runContainer(form: RegExp): void {
    const r = launch(["run", "--bundle", bundle!.dir, `c${n++}`]);
    assert.match(r.exec, form, r.stderr);
    assert.equal(r.stdout, "hello from cove-test\n", r.stderr);
    assert.equal(r.code, 3, r.stderr);
  }

  const SNAPSHOT = /--snapshot-blob \S+\/dist\/runtime\/cove-runtime\.blob -- --root /;
  const BUNDLE = /\/dist\/runtime\/cove-runtime\.cjs --root /;
  const MODULES = /\/dist\/src\/cli\/runtime-main\.js --root /;

  it("runs a container from the startup snapshot, and each step of its life", () => {
    runContainer(SNAPSHOT);
    // containerd's sequence, one process per step
    const id = `c${n++}`;
    const sleeping = path.join(base, "sleeping");
    execFileSync("mkdir", ["-p", sleeping]);
    const spec = { ...bundle!.spec, root: { path: bundle!.rootfs, readonly: true }, process: { ...bundle!.spec.process!, args: ["/bin/sleep", "600"] } };
    execFileSync("tee", [path.join(sleeping, "config.json")], { input: JSON.stringify(spec), stdio: ["pipe", "ignore", "inherit"] });
    const create = launch(["create", "--bundle", sleeping, id]);
    assert.equal(create.code, 0, create.stderr);
    assert.match(create.exec, SNAPSHOT);
    assert.equal((JSON.parse(launch(["state", id]).stdout) as { status: string }).status, "created");
    assert.equal(launch(["start", id]).code, 0);
    const running = JSON.parse(launch(["state", id]).stdout) as { status: string; pid: number };
    assert.equal(running.status, "running");
    // exec imports node:crypto on demand: the snapshot's code must not import() anything
    const exec = launch(["exec", id, "/bin/sh", "-c", "exit 5"]);
    assert.equal(exec.code, 5, exec.stderr);
    assert.equal(launch(["kill", id, "KILL"]).code, 0);
    const deleted = launch(["delete", "--force", id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = launch(["state", id]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /container "c\d+" does not exist/);
  });

  it("falls back to the bundle when the blob was made by another node", async () => {
    // the stamp carries the modification time of the node that made the blob
    const stamp = path.join(runtimeDir, "cove-runtime.blob.node");
    await utimes(stamp, new Date(0), new Date(0));
    runContainer(BUNDLE);
  });

  it("falls back to the bundle when the blob is missing", async () => {
    await buildForms();
    runContainer(SNAPSHOT);
    await rm(path.join(runtimeDir, "cove-runtime.blob"));
    runContainer(BUNDLE);
  });

  it("falls back to the modules when the bundle is older than the last TypeScript build, or missing", async () => {
    await buildForms();
    runContainer(SNAPSHOT);
    const future = new Date(Date.now() + 60_000);
    await utimes(path.join(checkout, "dist", ".tsbuildinfo"), future, future);
    runContainer(MODULES);
    await buildForms();
    await rm(path.join(runtimeDir, "cove-runtime.cjs"));
    runContainer(MODULES);
  });
});

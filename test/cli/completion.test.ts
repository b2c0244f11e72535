// Shell completion as a user gets it: bash sources `cove completion bash`, and _cove fills
// COMPREPLY with commands and flags from the command table and with the names of the
// containers, images and volumes of the daemon the CLI talks to (a private one here).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { tearDownDaemon } from "../support/teardown.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

const busybox = await findBusybox();
const skip = process.getuid?.() !== 0 ? "needs root (containers)" : !busybox ? "busybox-static is not installed" : !existsSync("/bin/bash") ? "bash is missing" : false;

describe("shell completion", { skip }, () => {
  let dir = "";
  let daemon: Daemon | undefined;
  let env: NodeJS.ProcessEnv = {};

  /** COMPREPLY after bash completes `cove WORDS...` (the last word being typed). */
  const complete = async (...words: string[]): Promise<string[]> => {
    const quoted = ["cove", ...words].map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(" ");
    const script = `source <(cove completion bash) && COMP_WORDS=(${quoted}) && COMP_CWORD=${words.length} && _cove && printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await exec("/bin/bash", ["-c", script], env);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter((l) => l !== "");
  };

  before(async () => {
    dir = await tempDir();
    const socket = path.join(dir, "api.sock");
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot: path.join(dir, "r"), log: () => undefined });
    // `cove` on PATH, as the README's set-up puts it there
    await writeFile(path.join(dir, "cove"), `#!/bin/sh\nexec ${process.execPath} ${MAIN} "$@"\n`);
    await chmod(path.join(dir, "cove"), 0o755);
    env = { PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: dir, COVE_HOST: `unix://${socket}` };
    const imported = await exec(process.execPath, [MAIN, "import", "-c", 'CMD ["sh"]', await busyboxRootfsTar(dir), "busybox:latest"], env);
    assert.equal(imported.code, 0, imported.stderr);
    await daemon.containers.create({ Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { NetworkMode: "none" } }, { name: "web-running" });
    await daemon.containers.start("web-running");
    await daemon.containers.create({ Image: "busybox", Cmd: ["true"], HostConfig: { NetworkMode: "none" } }, { name: "web-stopped" });
    await daemon.containers.create({ Image: "busybox", Cmd: ["true"], HostConfig: { NetworkMode: "none" } }, { name: "db" });
    await daemon.containers.volumes.create({ Name: "data-one" });
  });

  after(async () => {
    await tearDownDaemon(daemon, dir);
  });

  it("completes commands and subcommands from the command table", async () => {
    assert.deepEqual(await complete("ru"), ["run", "runtime"]);
    const all = await complete("");
    for (const c of ["run", "ps", "images", "volume", "network", "context", "completion", "system", "daemon"]) assert.ok(all.includes(c), `${c} in ${all.join(" ")}`);
    assert.ok(!all.includes("__complete"), "the hidden command is not offered");
    assert.deepEqual(await complete("context", ""), ["create", "inspect", "list", "ls", "remove", "rm", "show", "use"]);
    assert.deepEqual(await complete("system", "in"), ["info", "install"]);
  });

  it("completes flags from each command's spec", async () => {
    assert.deepEqual(await complete("rm", "--f"), ["--force"]);
    assert.ok((await complete("ps", "--")).includes("--all"));
    assert.ok((await complete("ps", "--")).includes("--help"));
    assert.deepEqual(await complete("--ro"), ["--root"]);
  });

  it("completes container names from the daemon, narrowed by what the command acts on", async () => {
    assert.deepEqual(await complete("rm", ""), ["db", "web-running", "web-stopped"]);
    assert.deepEqual(await complete("rm", "we"), ["web-running", "web-stopped"]);
    assert.deepEqual(await complete("rm", "-f", "web-running", "d"), ["db"]);
    assert.deepEqual(await complete("stop", ""), ["web-running"]);
    assert.deepEqual(await complete("start", "web"), ["web-stopped"]);
    assert.deepEqual(await complete("logs", "--tail", "5", "db"), ["db"]);
    // a flag's value is not a container: --tail takes a number
    assert.deepEqual(await complete("logs", "--tail", ""), []);
  });

  it("completes image and volume names, and names after a colon as bash splits them", async () => {
    assert.deepEqual(await complete("rmi", "bu"), ["busybox:latest"]);
    // bash's words for `cove run busybox:` are (cove run busybox :): the answer replaces ":"
    assert.deepEqual(await complete("run", "busybox", ":"), [":latest"]);
    assert.deepEqual(await complete("run", "-d", ""), ["busybox:latest"]);
    // after the image comes the container's own command: left to the shell
    assert.deepEqual(await complete("run", "busybox", ""), []);
    assert.deepEqual(await complete("volume", "rm", ""), ["data-one"]);
    assert.deepEqual(await complete("run", "-v", "da"), ["data-one"]);
    assert.deepEqual(await complete("volume", "create", ""), [], "a new volume's name is not completed");
  });

  it("offers no names, and no error, when no daemon answers", async () => {
    const saved = env;
    env = { ...env, COVE_HOST: `unix://${path.join(dir, "nobody.sock")}` };
    try {
      assert.deepEqual(await complete("rm", ""), []);
      assert.deepEqual(await complete("rm", "--f"), ["--force"]);
    } finally {
      env = saved;
    }
  });

  it("prints scripts for zsh and fish, and refuses other shells", async () => {
    const zsh = await exec(process.execPath, [MAIN, "completion", "zsh"], env);
    assert.equal(zsh.code, 0);
    assert.match(zsh.stdout, /^#compdef cove/);
    const fish = await exec(process.execPath, [MAIN, "completion", "fish"], env);
    assert.match(fish.stdout, /complete -c cove -f -a '\(__cove_complete\)'/);
    const bad = await exec(process.execPath, [MAIN, "completion", "tcsh"], env);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /unsupported shell "tcsh": cove completes bash, zsh and fish/);
    const none = await exec(process.execPath, [MAIN, "completion"], env);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /"cove completion" requires exactly 1 argument/);
  });
});

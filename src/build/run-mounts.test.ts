import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CacheMounts } from "./cache-mounts.js";
import { prepareRunMounts, type RunMountDeps } from "./run-mounts.js";
import type { RunMount } from "./steps.js";

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

describe("prepareRunMounts", () => {
  let dir: string;
  let deps: RunMountDeps;
  let agent: Server;
  let sock: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-runmounts-"));
    const context = path.join(dir, "ctx");
    await mkdir(path.join(context, "data"), { recursive: true });
    await writeFile(path.join(context, "data/x"), "x");
    await symlink("/etc", path.join(context, "out"));
    sock = path.join(dir, "agent.sock");
    agent = createServer();
    await new Promise<void>((r) => agent.listen(sock, r));
    deps = {
      tmp: path.join(dir, "tmp"),
      context,
      secrets: { tok: Buffer.from("value") },
      ssh: { default: sock, file: path.join(context, "data/x") },
      workdir: "/app",
      cacheMounts: CacheMounts.forRoot(path.join(dir, "root")),
      extract: async (from, source, into) => {
        const d = path.join(into, "src");
        await mkdir(d);
        await writeFile(path.join(d, "from"), `${from}:${source}`);
        return d;
      },
    };
  });
  after(async () => {
    await new Promise((r) => agent.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const m = (x: Partial<RunMount> & { type: RunMount["type"] }): RunMount => ({ readonly: true, ...x });

  it("makes bind, cache, tmpfs, secret and ssh mounts with their environment, and removes its private directories on release", async () => {
    const p = await prepareRunMounts(
      [
        m({ type: "bind", source: "data", target: "rel" }),
        m({ type: "bind", source: "data", target: "/rw", readonly: false }),
        m({ type: "bind", from: "stage", source: "/out", target: "/o" }),
        m({ type: "cache", id: "c", target: "/c", readonly: false, uid, gid }),
        m({ type: "tmpfs", target: "/t", size: 1 << 20, readonly: false }),
        m({ type: "secret", id: "tok", target: "/run/secrets/tok", env: "TOK", uid, gid }),
        m({ type: "ssh", id: "default" }),
      ],
      [{ name: "EOF", data: "#!/bin/sh\n", mode: 0o755 }],
      deps,
    );
    assert.deepEqual(
      p.mounts.map((x) => [x.Type, x.Target, x.ReadOnly]),
      [
        ["bind", "/dev/pipes", true],
        ["bind", "/app/rel", true],
        ["bind", "/rw", false],
        ["bind", "/o", true],
        ["bind", "/c", false],
        ["tmpfs", "/t", false],
        ["bind", "/run/secrets/tok", true],
        ["bind", "/run/buildkit/ssh_agent.0", false],
      ],
    );
    assert.deepEqual(p.env, ["TOK=value", "SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0"]);
    const [pipes, ro, rw, o, , tmpfs, secret, ssh] = p.mounts;
    assert.equal((await stat(path.join(pipes!.Source!, "EOF"))).mode & 0o777, 0o755);
    assert.equal(ro!.Source, path.join(deps.context, "data"));
    // rw: a copy, so the step's writes never reach the context
    assert.notEqual(rw!.Source, ro!.Source);
    assert.equal(await readFile(path.join(rw!.Source!, "x"), "utf8"), "x");
    assert.equal(await readFile(path.join(o!.Source!, "from"), "utf8"), "stage:/out");
    assert.equal(tmpfs!.TmpfsOptions?.SizeBytes, 1 << 20);
    assert.equal(await readFile(secret!.Source!, "utf8"), "value");
    assert.equal((await stat(secret!.Source!)).mode & 0o777, 0o400);
    assert.equal(ssh!.Source, sock);
    await p.release();
    assert.deepEqual(await readdir(deps.tmp), []);
  });

  it("leaves out a secret or agent not given, and refuses them when required, with what to do", async () => {
    const p = await prepareRunMounts([m({ type: "secret", id: "nope", target: "/s" }), m({ type: "ssh", id: "other" }), m({ type: "secret", id: "toString", target: "/t" }), m({ type: "ssh", id: "constructor" })], [], deps);
    assert.deepEqual([p.mounts, p.env], [[], []]);
    await p.release();
    await assert.rejects(prepareRunMounts([m({ type: "secret", id: "nope", target: "/s", required: true })], [], deps), /secret nope not found: give it with --secret id=nope,src=FILE/);
    await assert.rejects(prepareRunMounts([m({ type: "ssh", id: "other", required: true })], [], deps), /no SSH agent socket was given for other: build with --ssh other=\$SSH_AUTH_SOCK/);
  });

  it("refuses a bind source leaving the context, an agent that is no socket, a bad env name and two mounts at one target, keeping nothing", async () => {
    await assert.rejects(prepareRunMounts([m({ type: "bind", source: "../x", target: "/x" })], [], deps), /source \.\.\/x is outside the build context/);
    await assert.rejects(prepareRunMounts([m({ type: "bind", source: "out", target: "/x" })], [], deps), /source out leads outside the build context/);
    await assert.rejects(prepareRunMounts([m({ type: "bind", source: "nothing", target: "/x" })], [], deps), /source nothing: no such file or directory in the build context/);
    await assert.rejects(prepareRunMounts([m({ type: "ssh", id: "file" })], [], deps), /is not a socket/);
    await assert.rejects(prepareRunMounts([m({ type: "secret", id: "tok", env: "1BAD" })], [], deps), /invalid environment variable name "1BAD"/);
    await assert.rejects(prepareRunMounts([m({ type: "secret", id: "tok", target: "/x" }), m({ type: "tmpfs", target: "/x" })], [], deps), /two mounts at \/x/);
    const locked = (target: string) => m({ type: "cache", id: "same", target, sharing: "locked", readonly: false, uid, gid });
    await assert.rejects(prepareRunMounts([locked("/a"), locked("/b")], [], deps), /the cache same is mounted twice in one step with sharing=locked/);
    // the first lease was given back: the cache can be taken again at once
    const again = await prepareRunMounts([locked("/a")], [], deps);
    await again.release();
    assert.deepEqual(await readdir(deps.tmp), []);
  });
});

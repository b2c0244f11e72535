// The Dockerfile features only BuildKit knows (RUN --mount of every type, COPY --chmod, heredocs),
// built by cove's daemon and by Debian's buildah (its storage in the test's directory, vfs
// driver, runc isolation, no network, the base image committed from the same busybox tree):
// (a rw bind mount is left out: buildah 1.28 writes its changes through to the build context,
// where BuildKit and cove discard them; buildkit.test.ts checks cove's)
// the final images have the same files (path, type, mode, owner, content, link target; never
// times) and the same config. What buildah leaves of its RUN containers in the image (the mount
// points /dev, /proc, /sys, /run/secrets, /etc/hostname... that BuildKit and cove leave out) is
// the one difference allowed, and only where cove has nothing at that path.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { after, before, describe, it, type TestContext } from "node:test";
import type { Daemon } from "../../src/daemon/index.js";
import { startBuildTestDaemon } from "./daemon.js";
import { readTar } from "../../src/snapshots/index.js";
import { run, dockerCliSkip, type Result } from "../support/docker-api.js";

const exec = promisify(execFile);
const buildahMissing = await exec("buildah", ["--version"]).then(
  () => undefined,
  () => "buildah is not installed (apt-get install buildah)",
);
const skip = process.getuid?.() !== 0 ? "needs root" : ((await dockerCliSkip()) || buildahMissing) ?? false;

/**
 * Paths buildah's RUN containers leave in the image as mount points (its own, and "s", the
 * directory made for the secret's target /s/tok); cove, as BuildKit, removes what it made.
 */
const BUILDAH_MOUNT_POINTS = new Set(["dev", "proc", "sys", "run", "run/secrets", "etc/hostname", "etc/hosts", "etc/resolv.conf", ".containerenv", "s"]);

const MOUNTS = (cacheId: string) => `FROM busybox AS src
RUN mkdir /out && echo fromstage > /out/f && ln -s f /out/link
FROM busybox
ENV WHO=cove
RUN --mount=type=cache,target=/cache,id=${cacheId} echo "run $WHO" >> /cache/log && cat /cache/log > /seen
RUN --mount=type=cache,target=/c2,id=${cacheId}-2,uid=1000,gid=1000,mode=0700 stat -c '%u %g %a' /c2 > /perm
RUN --mount=type=bind,source=data,target=/m cat /m/x.txt > /b1
RUN --mount=type=bind,from=src,source=/out,target=/o cat /o/f /o/link > /b2
RUN --mount=type=tmpfs,target=/t echo t > /t/f && cat /t/f > /b4
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len
RUN --mount=type=secret,id=tok,target=/s/tok stat -c '%a %u' /s/tok > /smode
WORKDIR /app
COPY --chmod=0640 data/x.txt /app/x
COPY --chmod=0751 data /app/data
USER nobody
CMD ["cat", "/seen"]
`;

const HEREDOCS = `FROM busybox
ENV WHO=cove
RUN <<EOF
echo one > /h1
echo "$WHO" >> /h1
EOF
RUN <<EOF
#!/bin/sh -e
echo "script $WHO" > /h2
EOF
COPY <<EOF /c1
hello $WHO
EOF
`;

interface Entry {
  type: string;
  mode: string;
  owner: string;
  content: string;
}

/** A tar's entries by path (no leading ./ or /), times left out. */
async function listing(tar: AsyncIterable<Buffer>): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for await (const { header: h, body } of readTar(tar)) {
    const hash = createHash("sha256");
    for await (const c of body) hash.update(c);
    const name = h.name.replace(/^\.?\/+/, "").replace(/\/$/, "");
    if (name === "" || name === ".") continue;
    out.set(name, { type: h.type, mode: (h.mode & 0o7777).toString(8), owner: `${h.uid}:${h.gid}`, content: h.type === "symlink" || h.type === "link" ? `-> ${h.linkname}` : h.type === "file" ? hash.digest("hex") : "" });
  }
  return out;
}

describe("BuildKit-only Dockerfile features: cove beside buildah", { skip }, () => {
  let dir: string;
  let ctx: string;
  let daemon: Daemon;
  let socket: string;
  let runtimeRoot: string;
  let dockerEnv: NodeJS.ProcessEnv;
  let bhArgs: string[];
  let secretFile: string;
  const secret = `s3cr3t-${randomBytes(8).toString("hex")}`;
  const docker = (args: string[]) => run(dockerEnv, args);
  const ok = (r: Result, what: string) => {
    assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const buildah = async (args: string[]) => (await exec("buildah", [...bhArgs, ...args], { maxBuffer: 64 << 20 })).stdout;
  const coveCli = (args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      const main = new URL("../../src/cli/main.js", import.meta.url).pathname;
      execFile(process.execPath, [main, ...args], { env: { PATH: process.env.PATH, HOME: dir, COVE_HOST: `unix://${socket}` }, timeout: 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr } as Result);
      });
    });

  /** Builds `dockerfile` with both; returns each image's files and config. */
  const buildBoth = async (dockerfile: string, tag: string) => {
    await writeFile(path.join(ctx, "Dockerfile"), dockerfile);
    await writeFile(path.join(ctx, "data/x.txt"), "ctx\n");
    ok(await coveCli(["build", "--progress", "plain", "--secret", `id=tok,src=${secretFile}`, "-t", tag, ctx]), "cove build");
    await buildah(["bud", "--isolation", "oci", "--network", "none", "--pull-never", "--layers=false", "--secret", `id=tok,src=${secretFile}`, "-t", tag, ctx]);
    // cove: a created container's filesystem (docker export); buildah: its mounted container, tarred
    const cid = ok(await docker(["create", tag]), "create").trim();
    const coveTar = Buffer.from(ok(await docker(["export", cid]), "export"), "latin1");
    ok(await docker(["rm", cid]), "rm");
    const bctr = (await buildah(["from", "--pull-never", tag])).trim();
    let bhTar: Buffer;
    try {
      const mnt = (await buildah(["mount", bctr])).trim();
      bhTar = (await exec("tar", ["--numeric-owner", "--xattrs", "-C", mnt, "-cf", "-", "."], { encoding: "buffer", maxBuffer: 256 << 20 })).stdout;
    } finally {
      await buildah(["umount", bctr]).catch(() => undefined);
      await buildah(["rm", bctr]);
    }
    const coveConfig = JSON.parse(ok(await docker(["image", "inspect", "--format", "{{json .Config}}", tag]), "inspect")) as Record<string, unknown>;
    const bh = JSON.parse(await buildah(["inspect", "--type", "image", tag])) as { OCIv1: { config: Record<string, unknown> } };
    return { cove: { files: await listing(Readable.from([coveTar])), tar: coveTar, config: coveConfig }, buildah: { files: await listing(Readable.from([bhTar])), tar: bhTar, config: bh.OCIv1.config } };
  };

  const compareFiles = (cove: Map<string, Entry>, bh: Map<string, Entry>) => {
    const differences: string[] = [];
    for (const p of new Set([...cove.keys(), ...bh.keys()])) {
      const c = cove.get(p);
      const b = bh.get(p);
      if (!c && BUILDAH_MOUNT_POINTS.has(p)) continue;
      if (JSON.stringify(c) !== JSON.stringify(b)) differences.push(`${p}: cove ${JSON.stringify(c)} buildah ${JSON.stringify(b)}`);
    }
    assert.deepEqual(differences, []);
  };
  const compareConfig = (cove: Record<string, unknown>, bh: Record<string, unknown>) => {
    const pick = (c: Record<string, unknown>) => ({
      Env: c.Env ?? [],
      Cmd: c.Cmd ?? null,
      Entrypoint: c.Entrypoint ?? null,
      WorkingDir: c.WorkingDir ?? "",
      User: c.User ?? "",
      // buildah signs its images with a label of its own version
      Labels: Object.fromEntries(Object.entries((c.Labels ?? {}) as Record<string, string>).filter(([k]) => k !== "io.buildah.version")),
      ExposedPorts: c.ExposedPorts ?? {},
      Volumes: c.Volumes ?? {},
    });
    assert.deepEqual(pick(cove), pick(bh));
  };

  before(async () => {
    let tar: string;
    ({ dir, socket, runtimeRoot, daemon, dockerEnv, busyboxTar: tar } = await startBuildTestDaemon("buildah"));
    bhArgs = ["--root", path.join(dir, "buildah-root"), "--runroot", path.join(dir, "buildah-run"), "--storage-driver", "vfs"];
    // the same tree as buildah's busybox (localhost/busybox:latest, which FROM busybox finds)
    const base = (await buildah(["from", "scratch"])).trim();
    try {
      await buildah(["add", base, tar, "/"]);
      await buildah(["config", "--cmd", '["sh"]', base]);
      await buildah(["commit", "-q", base, "busybox"]);
    } finally {
      await buildah(["rm", base]);
    }
    ctx = path.join(dir, "ctx");
    await mkdir(path.join(ctx, "data"), { recursive: true });
    await writeFile(path.join(ctx, "data/x.txt"), "ctx\n");
    secretFile = path.join(dir, "secret");
    await writeFile(secretFile, secret, { mode: 0o600 });
  });

  after(async () => {
    if (daemon) {
      const ids = (await docker(["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
      if (ids.length) await docker(["rm", "-f", ...ids]);
      await docker(["builder", "prune", "-f"]);
      await daemon.close();
    }
    if (dir) {
      // buildah's containers and images, then its storage (vfs: plain directories, no mounts)
      await exec("buildah", [...bhArgs, "rm", "--all"]).catch(() => undefined);
      await exec("buildah", [...bhArgs, "rmi", "--all", "--force"]).catch(() => undefined);
      const mounts = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").filter((l) => l.includes(dir));
      for (const m of mounts.reverse()) await exec("umount", ["-l", m.split(" ")[4]!]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
    await rm(runtimeRoot, { recursive: true, force: true });
  });

  it("RUN --mount (cache with owner and mode, bind from the context and from a stage, tmpfs, secret) and COPY --chmod: same files and config", async () => {
    const got = await buildBoth(MOUNTS(`bh-${randomBytes(4).toString("hex")}`), "mounts");
    compareFiles(got.cove.files, got.buildah.files);
    compareConfig(got.cove.config, got.buildah.config);
    // what the steps saw, beyond equality: each mount did its work
    const text = (p: string) => {
      const e = got.cove.files.get(p);
      assert.ok(e && e.type === "file", `${p} is missing`);
      return e.content;
    };
    const sha = (s: string) => createHash("sha256").update(s).digest("hex");
    assert.equal(text("seen"), sha("run cove\n"));
    assert.equal(text("perm"), sha("1000 1000 700\n"));
    assert.equal(text("b2"), sha("fromstage\nfromstage\n"));
    assert.equal(text("len"), sha(`${secret.length}\n`));
    // the secret is in neither image
    assert.ok(!got.cove.tar.includes(secret) && !got.buildah.tar.includes(secret));
  });

  it("heredocs in RUN and COPY: same files and config (when buildah knows heredocs)", async (t: TestContext) => {
    // buildah learned heredocs in 1.33; Debian 12 has 1.28
    await writeFile(path.join(ctx, "Dockerfile"), "FROM busybox\nCOPY <<EOF /probe\nx\nEOF\n");
    const probe = await buildah(["bud", "--isolation", "oci", "--network", "none", "--pull-never", "-t", "probe", ctx]).then(
      () => true,
      () => false,
    );
    if (!probe) {
      const version = (await exec("buildah", ["--version"])).stdout.trim();
      t.skip(`${version} does not know heredocs (buildah 1.33 and later do): cove's heredocs are checked against their expected files in buildkit.test.ts`);
      return;
    }
    const got = await buildBoth(HEREDOCS, "heredocs");
    compareFiles(got.cove.files, got.buildah.files);
    compareConfig(got.cove.config, got.buildah.config);
  });
});

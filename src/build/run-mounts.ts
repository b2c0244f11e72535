// What a RUN step's container gets for its --mount flags and heredoc scripts: --mount entries of
// its HostConfig and environment variables, all of them for that container only. Nothing a mount
// holds is committed: the image gets the container's own changes (an empty mount point at most).
//
//   bind    from the context: the path resolved inside it (a symlink may not lead out), bound
//           read-only, or a copy when rw (writes are discarded with it); from a stage or an image:
//           the path extracted from it into a private directory (writes discarded with it)
//   cache   a directory of the build cache area (cache-mounts.ts), kept across builds
//   tmpfs   a tmpfs of the given size
//   secret  the value the build was given under that id, as a file (mode 0400 by default) in a
//           private directory, and/or an environment variable (env=); a missing secret fails the
//           step when required, otherwise the mount is left out (BuildKit's rule)
//   ssh     the agent socket the build was given under that id (--ssh default=$SSH_AUTH_SOCK),
//           SSH_AUTH_SOCK pointing at it; a missing one fails the step when required
// The private directories live under <root>/tmp (named runmount-*) and are removed by release(),
// which the executor calls once the step's container is gone, whatever happened; those a killed
// daemon left are removed with the other build leftovers at the next start.

import { chmod, chown, cp, lstat, mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { invalid, isErrno, notFound } from "../common/errors.js";
import { bestEffort } from "../common/ignore.js";
import type { Mount as MountSpec } from "../docker/index.js";
import type { CacheMountLease, CacheMounts } from "./cache-mounts.js";
import type { RunFile, RunMount } from "./steps.js";

/** The names of the private directories under <root>/tmp start with this. */
export const RUN_MOUNT_PREFIX = "runmount-";

export interface RunMountDeps {
  /** <root>/tmp: where the private directories are made. */
  tmp: string;
  /** The build context (bind mounts without from). */
  context: string;
  /** --secret values by id. */
  secrets: Readonly<Record<string, Buffer>>;
  /** --ssh agent sockets by id. */
  ssh: Readonly<Record<string, string>>;
  /** The stage's working directory: relative targets are under it. */
  workdir: string;
  cacheMounts: CacheMounts;
  /** Copies `source` of `from` (a stage or an image) into the empty directory `into`; returns the host path of the copy. */
  extract(from: string, source: string, into: string): Promise<string>;
}

export interface PreparedMounts {
  mounts: MountSpec[];
  env: string[];
  release(): Promise<void>;
}

/** The mounts and environment of one RUN's container; on failure everything made so far is released. */
export async function prepareRunMounts(mounts: readonly RunMount[], files: readonly RunFile[], deps: RunMountDeps): Promise<PreparedMounts> {
  const out: MountSpec[] = [];
  const env: string[] = [];
  const dirs: string[] = [];
  const leases: CacheMountLease[] = [];
  const release = async () => {
    for (const l of leases) l.release();
    for (const d of dirs) await bestEffort(`remove the build mount directory ${d}`, rm(d, { recursive: true, force: true }));
  };
  const privateDir = async (prefix: string) => {
    await mkdir(deps.tmp, { recursive: true, mode: 0o700 });
    const d = await mkdtemp(path.join(deps.tmp, RUN_MOUNT_PREFIX + prefix));
    dirs.push(d);
    return d;
  };
  const targetOf = (t: string) => path.posix.resolve(deps.workdir || "/", t);
  try {
    const seen = new Set<string>();
    const claim = (t: string) => {
      if (seen.has(t)) throw invalid(`RUN --mount: two mounts at ${t}`, { code: "build.mount" });
      seen.add(t);
    };
    if (files.length > 0) {
      const d = await privateDir("pipes-");
      for (const f of files) {
        const file = path.join(d, f.name);
        await writeFile(file, f.data, { mode: f.mode });
        await chmod(file, f.mode);
      }
      claim("/dev/pipes");
      out.push({ Type: "bind", Source: d, Target: "/dev/pipes", ReadOnly: true });
    }
    const cacheIds = new Set<string>();
    let sshN = 0;
    let sshEnv = false;
    for (const m of mounts) {
      switch (m.type) {
        case "bind": {
          const target = targetOf(m.target!);
          claim(target);
          let source: string;
          if (m.from === undefined) {
            source = await inContext(deps.context, m.source ?? "/");
            if (!m.readonly) {
              const d = await privateDir("bind-");
              const copy = path.join(d, "src");
              await cp(source, copy, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
              source = copy;
            }
          } else source = await deps.extract(m.from, m.source ?? "/", await privateDir("bind-"));
          out.push({ Type: "bind", Source: source, Target: target, ReadOnly: m.readonly });
          break;
        }
        case "cache": {
          const target = targetOf(m.target!);
          claim(target);
          const id = m.id ?? target;
          if (m.sharing === "locked" && cacheIds.has(id)) throw invalid(`RUN --mount=type=cache: the cache ${id} is mounted twice in one step with sharing=locked, which would wait for itself`, { code: "build.mount" });
          cacheIds.add(id);
          const seed = m.from === undefined ? undefined : async (dir: string) => {
            const tmp = await privateDir("seed-");
            const got = await deps.extract(m.from!, m.source ?? "/", tmp);
            await cp(got, dir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
          };
          const lease = await deps.cacheMounts.acquire({ id, sharing: m.sharing ?? "shared", mode: m.mode ?? 0o755, uid: m.uid ?? 0, gid: m.gid ?? 0, ...(seed ? { seed } : {}) });
          leases.push(lease);
          out.push({ Type: "bind", Source: lease.dir, Target: target, ReadOnly: m.readonly });
          break;
        }
        case "tmpfs": {
          const target = targetOf(m.target!);
          claim(target);
          out.push({ Type: "tmpfs", Target: target, ReadOnly: m.readonly, TmpfsOptions: { ...(m.size ? { SizeBytes: m.size } : {}), Options: [["exec"]] } });
          break;
        }
        case "secret": {
          const id = m.id!;
          const value = Object.hasOwn(deps.secrets, id) ? deps.secrets[id] : undefined;
          if (value === undefined) {
            if (m.required) throw notFound(`RUN --mount=type=secret: secret ${id} not found: give it with --secret id=${id},src=FILE`, { code: "build.secret" });
            break;
          }
          if (m.env !== undefined) {
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(m.env)) throw invalid(`RUN --mount=type=secret: invalid environment variable name ${JSON.stringify(m.env)}`, { code: "build.secret" });
            env.push(`${m.env}=${value.toString("utf8")}`);
          }
          if (m.target === undefined) break;
          const target = targetOf(m.target);
          claim(target);
          const d = await privateDir("secret-");
          const file = path.join(d, "secret");
          await writeFile(file, value, { mode: 0o600 });
          await chown(file, m.uid ?? 0, m.gid ?? 0);
          await chmod(file, m.mode ?? 0o400);
          out.push({ Type: "bind", Source: file, Target: target, ReadOnly: true });
          break;
        }
        case "ssh": {
          const id = m.id ?? "default";
          const sock = Object.hasOwn(deps.ssh, id) ? deps.ssh[id] : undefined;
          const n = sshN++;
          if (sock === undefined) {
            if (m.required) throw notFound(`RUN --mount=type=ssh: no SSH agent socket was given for ${id}: build with --ssh ${id}=$SSH_AUTH_SOCK`, { code: "build.ssh" });
            break;
          }
          let st;
          try {
            st = await lstat(sock);
          } catch (err) {
            if (isErrno(err, "ENOENT", "ENOTDIR")) throw notFound(`RUN --mount=type=ssh: the SSH agent socket ${sock} given for ${id} does not exist`, { code: "build.ssh" });
            throw err;
          }
          if (!st.isSocket()) throw invalid(`RUN --mount=type=ssh: ${sock} given for ${id} is not a socket`, { code: "build.ssh" });
          const target = targetOf(m.target ?? `/run/buildkit/ssh_agent.${n}`);
          claim(target);
          out.push({ Type: "bind", Source: sock, Target: target, ReadOnly: false });
          if (!sshEnv) env.push(`SSH_AUTH_SOCK=${target}`);
          sshEnv = true;
          break;
        }
      }
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { mounts: out, env, release };
}

/** A path of the context, resolved (symlinks too) without leaving it. */
async function inContext(context: string, source: string): Promise<string> {
  const root = await realpath(context);
  const rel = path.posix.normalize(source.replace(/^\/+/, "") || ".");
  if (rel === ".." || rel.startsWith("../")) throw invalid(`RUN --mount=type=bind: source ${source} is outside the build context`, { code: "build.mount" });
  let real: string;
  try {
    real = await realpath(path.join(root, rel));
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) throw notFound(`RUN --mount=type=bind: source ${source}: no such file or directory in the build context`, { code: "build.mount" });
    throw err;
  }
  if (real !== root && !real.startsWith(root + path.sep)) throw invalid(`RUN --mount=type=bind: source ${source} leads outside the build context`, { code: "build.mount" });
  return real;
}

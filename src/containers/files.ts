// A container's files, all through src/fsroot: diff, export, docker cp both ways, and commit.

import { randomBytes } from "node:crypto";
import { closeSync, createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { conflict, CoveError, invalid, isErrno, notFound, unsupported } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { diffLayer, tarDirectory } from "../snapshots/index.js";
import { containerAbsPath, fileMountTarget, kernelMountPoints, locate, openProcessRoot, pathStat, writeArchive, type PathStat } from "./archive.js";
import { extractInto } from "./extract.js";
import { bindMount, Dir, FileStat } from "../fsroot/index.js";
import { addon } from "../native/addon.js";
import { INIT_LAYER_PARENTS, isInitLayerEntry, overlayChanges, type Change } from "./changes.js";
import { commitConfig, END_OF_ARCHIVE_SIZE, type CommitOptions } from "./commit.js";
import { type MountEntry } from "./mounts.js";
import { readProcFile } from "./host.js";
import { resolveUser } from "./user.js";
import { makeWorkingDir } from "./startfs.js";
import { containerOwner, hostOwner, rootOwner } from "./userns.js";
import { Live } from "./core.js";
import { overlayDirs } from "./rootfs.js";
import type { ContainerCore } from "./core.js";

export class Files {
  constructor(private readonly core: ContainerCore) {}

  /** docker diff: the changes in the container's writable layer (null when there are none, as dockerd). */
  async changes(ref: string): Promise<Change[] | null> {
    const c = this.core.find(ref);
    const dirs = overlayDirs(c.rec.RootfsMounts);
    if (!dirs.UpperDir) return null;
    const ns = c.rec.UserNamespace;
    const out = await overlayChanges(dirs.UpperDir, dirs.LowerDir ? dirs.LowerDir.split(":") : [], undefined, ns ? containerOwner(ns) : undefined);
    return out.length ? out : null;
  }

  /** docker export: the container's filesystem as a tar, written to out (which is ended). */
  async export(ref: string, out: Writable): Promise<void> {
    const c = this.core.find(ref);
    const ns = c.rec.UserNamespace;
    if (ns) {
      // its layers seen through its mapping and its own layer in host ids: the tar records the
      // container's view of every owner
      await this.withRoot(c, async () => {
        await tarDirectory(this.core.rootfsPath(c), out, { owner: containerOwner(ns) });
      }, { rootfsOnly: true });
    } else await this.core.images.exportRootfs(c.rec.ID, out);
    this.core.event(c, "export");
  }

  /**
   * Runs fn with the container's root as a directory fd (src/fsroot): /proc/<pid>/root of a
   * running container (with its mounts), else its rootfs mounted for the call (a start waits
   * meanwhile) with its volumes and binds, or without them when rootfsOnly (the builder's view: a
   * COPY into a VOLUME's path lands in the image, as with dockerd's builder). Everything fn does
   * inside goes through that fd.
   */
  async withRoot<T>(c: Live, fn: (root: Dir, running: boolean, pid: number) => Promise<T>, opts: { rootfsOnly?: boolean } = {}): Promise<T> {
    const running = async (pid: number) => {
      const root = openProcessRoot(pid, c.rec.ID);
      try {
        return await fn(root, true, pid);
      } finally {
        root.close();
      }
    };
    if (c.rec.State.Running && c.rec.State.Pid && !c.rec.State.Restarting) return running(c.rec.State.Pid);
    return this.core.exclusive(c, async () => {
      if (c.rec.State.Running && c.rec.State.Pid) return running(c.rec.State.Pid);
      if (c.rec.State.Status === "removing") throw conflict(`container ${c.rec.ID} is being removed`, { code: "container.removing" });
      const rootfs = this.core.rootfsPath(c);
      const wasMounted = await this.core.host.isMountpoint(rootfs);
      if (!wasMounted) await this.core.mountRootfs(c);
      try {
        const root = Dir.open(rootfs);
        try {
          if (!wasMounted && !opts.rootfsOnly) await this.mountVolumesForCopy(c, root);
          return await fn(root, false, 0);
        } finally {
          root.close();
        }
      } finally {
        // a lazy unmount of the rootfs takes the volumes mounted in it along
        if (!wasMounted && !c.rec.State.Running) this.core.unmountRootfs(c);
      }
    });
  }

  /**
   * Mounts a stopped container's bind mounts and volumes into its mounted rootfs, as dockerd does
   * for docker cp, so copies reach the same files the container sees. Destinations are resolved in
   * the container's scope; missing ones are created as the runtime would create them at start.
   */
  async mountVolumesForCopy(c: Live, root: Dir): Promise<void> {
    for (const m of c.rec.MountPoints) {
      if ((m.Type !== "bind" && m.Type !== "volume") || !m.Source || !m.Destination) continue;
      let isDir: boolean;
      try {
        isDir = (await stat(m.Source)).isDirectory();
      } catch (err) {
        // missing: created at start, if ever; anything else is logged, and the copy goes on
        // without that mount, as it would without a missing one
        if (!isErrno(err, "ENOENT", "ENOTDIR")) ignored(`mount ${m.Source} into container ${c.rec.ID} for a copy`, err, this.core.log);
        continue;
      }
      // a volume's subpath is opened inside the volume: the mount takes exactly that directory
      let source: string | number = m.Source;
      if (m.Type === "volume" && m.Subpath) {
        const vol = Dir.open(m.Source);
        try {
          source = vol.openInRoot(m.Subpath, addon().at.O_PATH);
        } catch (err) {
          if (err instanceof CoveError) throw err; // no openat2: nothing here is safe
          // a missing subpath fails the start, not a copy
          if (!isErrno(err, "ENOENT", "ENOTDIR")) ignored(`open subpath ${m.Subpath} of volume ${m.Name ?? m.Source} for a copy from container ${c.rec.ID}`, err, this.core.log);
          continue;
        } finally {
          vol.close();
        }
        isDir = new FileStat(addon().fstatat(source, "", addon().at.AT_EMPTY_PATH)).isDirectory();
      }
      try {
        const target = isDir ? root.mkdirAll(m.Destination) : fileMountTarget(root, m.Destination);
        try {
          bindMount(source, target.fd, { recursive: true, readonly: !m.RW });
        } finally {
          target.close();
        }
      } finally {
        if (typeof source === "number") closeSync(source);
      }
    }
  }

  /** HEAD /archive: the stat of a path inside the container (rootfsOnly: see withRoot). */
  async archiveStat(ref: string, p: string, opts: { rootfsOnly?: boolean } = {}): Promise<PathStat> {
    const c = this.core.find(ref);
    return this.withRoot(c, async (root) => {
      const loc = locate(root, p, ref);
      try {
        return pathStat(root, loc);
      } finally {
        loc.dir.close();
      }
    }, opts);
  }

  /** GET /archive: calls onStat with the path's stat, then writes its tar to out (which is ended). rootfsOnly: see withRoot. */
  async archiveGet(ref: string, p: string, out: Writable, onStat: (stat: PathStat) => void, opts: { rootfsOnly?: boolean } = {}): Promise<void> {
    const c = this.core.find(ref);
    await this.withRoot(c, async (root, running, pid) => {
      const loc = locate(root, p, ref);
      try {
        const stat = pathStat(root, loc);
        // a running container's root shows its /proc, /sys and /dev: their contents stay out
        const noDescend = running ? kernelMountPoints(await readProcFile(`/proc/${pid}/mountinfo`)) : undefined;
        onStat(stat);
        const ns = c.rec.UserNamespace;
        await writeArchive(loc, out, { ...(noDescend ? { noDescend } : {}), ...(ns ? { owner: containerOwner(ns) } : {}) });
      } finally {
        loc.dir.close();
      }
    }, opts);
    this.core.event(c, "archive-path");
  }

  /** PUT /archive: extracts a tar into directory p of the container (rootfsOnly: see withRoot). */
  async archivePut(ref: string, p: string, input: Readable, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean; rootfsOnly?: boolean } = {}): Promise<void> {
    const c = this.core.find(ref);
    await this.withRoot(
      c,
      async (root) => {
        const absPath = containerAbsPath(p);
        let dest: Dir;
        try {
          dest = root.dirInRoot(absPath);
        } catch (err) {
          if (isErrno(err, "ENOENT", "ELOOP")) throw notFound(`Could not find the file ${p} in container ${ref}`, { code: "archive.not-found" });
          if (isErrno(err, "ENOTDIR")) throw invalid("extraction point is not a directory", { code: "archive.not-directory" });
          throw err;
        }
        dest.close();
        const inRoot = root.walk(absPath).resolved;
        // without its mounts, the rootfs holds every path
        const mount = opts.rootfsOnly ? undefined : this.mountAt(c, inRoot);
        if (mount && !mount.RW) throw invalid("mounted volume is marked read-only", { code: "archive.read-only" });
        if (!mount && c.hc.ReadonlyRootfs) throw invalid("container rootfs is marked read-only", { code: "archive.read-only" });
        let owner: { uid: number; gid: number } | undefined;
        // copyUIDGID gives everything to the container's user; with no user set the tar's owners stay (as dockerd)
        if (opts.copyUIDGID && c.rec.Config.User) {
          const read = (f: string) => root.readFileInRoot(f, 16 << 20)?.toString("utf8");
          const u = resolveUser(c.rec.Config.User ?? "", read("/etc/passwd"), read("/etc/group"), []);
          owner = { uid: u.uid, gid: u.gid };
        }
        const ns = c.rec.UserNamespace;
        await extractInto(input, root, inRoot, { noOverwriteDirNonDir: !!opts.noOverwriteDirNonDir, ...(owner ? { owner } : {}), ...(ns ? { toHost: hostOwner(ns) } : {}) });
      },
      { rootfsOnly: !!opts.rootfsOnly },
    );
    this.core.event(c, "extract-to-dir");
  }

  /**
   * Makes the container's working directory in its filesystem now, as its start would (mode 0755,
   * owned by root, symlinks followed inside the root): the builder's WORKDIR, as dockerd's
   * ContainerCreateWorkdir, in the rootfs (not in a volume there). A container without a working
   * directory is left alone.
   */
  async createWorkdir(ref: string): Promise<void> {
    const c = this.core.find(ref);
    const wd = c.rec.Config.WorkingDir;
    if (!wd) return;
    const ns = c.rec.UserNamespace;
    await this.withRoot(c, async (root) => makeWorkingDir(root, wd, ns ? rootOwner(ns) : undefined), { rootfsOnly: true });
  }

  /**
   * A regular file of the container's rootfs (resolved inside its root, volumes not mounted), at
   * most maxBytes, or undefined when it does not exist: /etc/passwd and /etc/group for the
   * builder's --chown names.
   */
  async readFile(ref: string, p: string, maxBytes: number): Promise<Buffer | undefined> {
    const c = this.core.find(ref);
    return this.withRoot(c, async (root) => root.readFileInRoot(containerAbsPath(p), maxBytes), { rootfsOnly: true });
  }

  /**
   * The builder's mount stubs, before a start: of each path (a mount target), whether it and
   * which of its parents are missing from the container's rootfs (resolved inside its root),
   * deepest first. These are what the start creates as mount points.
   */
  async missingPaths(ref: string, paths: string[]): Promise<string[]> {
    const c = this.core.find(ref);
    return this.withRoot(
      c,
      async (root) => {
        const out: string[] = [];
        for (const target of paths) {
          for (let p = path.posix.normalize("/" + target); p !== "/" && !out.includes(p); p = path.posix.dirname(p)) {
            if (!missingIn(root, p)) break;
            out.push(p);
          }
        }
        return out;
      },
      { rootfsOnly: true },
    );
  }

  /**
   * The builder's mount stubs, after the step: removes each path that is an empty directory or
   * an empty regular file, in order, inside the container's rootfs (BuildKit's stub cleaner), so
   * an image gets no leftover mount point of a RUN --mount. Anything else there stays.
   */
  async removeEmpty(ref: string, paths: string[]): Promise<void> {
    const c = this.core.find(ref);
    await this.withRoot(
      c,
      async (root) => {
        for (const p of paths) {
          let parent: { dir: Dir; name: string };
          try {
            parent = root.parentInRoot(p);
          } catch (err) {
            if (isErrno(err, "ENOENT", "ENOTDIR")) continue;
            throw err;
          }
          try {
            const { dir, name } = parent;
            if (name === "") continue;
            const st = dir.tryLstatQuiet(name);
            if (!st) continue;
            if (st.isDirectory()) {
              const sub = dir.child(name);
              let empty: boolean;
              try {
                empty = sub.list().length === 0;
              } finally {
                sub.close();
              }
              if (empty) dir.rmdir(name);
            } else if (st.isFile() && st.size === 0n) dir.unlink(name);
          } finally {
            parent.dir.close();
          }
        }
      },
      { rootfsOnly: true },
    );
  }

  /** The mount (bind, volume, tmpfs) a path of the container lies in, the deepest one. */
  mountAt(c: Live, inRoot: string): MountEntry | undefined {
    let best: MountEntry | undefined;
    for (const m of c.rec.MountPoints) {
      const d = path.posix.normalize(m.Destination).replace(/\/+$/, "") || "/";
      if (inRoot === d || inRoot.startsWith(d === "/" ? "/" : d + "/")) if (!best || d.length > best.Destination.length) best = m;
    }
    return best;
  }

  /** docker commit: the container's changes as a new layer on its image; returns the image ID. */
  async commit(ref: string, opts: CommitOptions = {}): Promise<{ Id: string }> {
    const c = this.core.find(ref);
    const changes = opts.changes ?? [];
    // the new config: the request's (else the container's) with the changes, gaps filled from the container's
    if (opts.exactConfig && !opts.config) throw invalid("an exact commit needs the image's config", { code: "commit.invalid" });
    const config = opts.exactConfig && opts.config ? structuredClone(opts.config) : commitConfig(opts.config, changes, c.rec.Config);
    const reference = opts.repo ? (opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo) : undefined;
    if (!reference && opts.tag) throw invalid("tag requires a repository name (repo)", { code: "reference.invalid" });
    const dirs = overlayDirs(c.rec.RootfsMounts);
    if (!dirs.UpperDir) throw unsupported(`container ${c.rec.ID} has no writable layer to commit`, { code: "commit.no-layer" });
    // paused as `docker pause` does (state and events too), so nothing writes while the layer is
    // read. Docker commits whatever state the container is in: one that exits meanwhile (a `true`
    // started just before) is committed as it is, without the pause
    let pausedHere = false;
    if (opts.pause !== false && c.rec.State.Running && !c.rec.State.Paused && !c.rec.State.Restarting) {
      await this.core.bestEffort(`pause container ${c.rec.ID} for its commit`, this.core.m.control.pause(c.rec.ID));
      pausedHere = c.rec.State.Paused;
    }
    const unpause = () => (pausedHere && c.rec.State.Paused ? this.core.bestEffort(`unpause container ${c.rec.ID} after its commit`, this.core.m.control.unpause(c.rec.ID)) : Promise.resolve());
    const tmp = path.join(this.core.root, "tmp");
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    const layerFile = path.join(tmp, `commit-${randomBytes(8).toString("hex")}.tar`);
    let id: string;
    try {
      const lowers = dirs.LowerDir ? dirs.LowerDir.split(":") : [];
      const diff = await diffLayer(dirs.UpperDir, lowers, createWriteStream(layerFile, { mode: 0o600 }), {
        skip: (rel, st, list) => isInitLayerEntry(`/${rel}`, st, list),
        // the directories copied up only to hold the init entries (dockerd's init layer) are no change
        carrier: (rel) => INIT_LAYER_PARENTS.has(`/${rel}`),
        // a container in a user namespace keeps its layer in host ids: the image records its own
        ...(c.rec.UserNamespace ? { owner: containerOwner(c.rec.UserNamespace) } : {}),
      });
      await unpause();
      const empty = diff.size <= END_OF_ARCHIVE_SIZE;
      id = await this.core.images.commit(c.rec.Image, empty ? undefined : () => createReadStream(layerFile), {
        config,
        ...(reference ? { reference } : {}),
        ...(opts.author ? { author: opts.author } : {}),
        ...(opts.comment ? { comment: opts.comment } : {}),
        createdBy: opts.createdBy ?? [c.rec.Path, ...c.rec.Args].join(" "),
        container: c.rec.ID,
        containerConfig: opts.containerConfig ?? c.rec.Config,
        ...(opts.recordParent ? { recordParent: true } : {}),
      });
    } catch (err) {
      await unpause();
      throw err;
    } finally {
      await rm(layerFile, { force: true });
    }
    this.core.event(c, "commit", { comment: opts.comment ?? "", imageID: id, imageRef: reference ?? "" });
    if (reference) {
      const timeNano = BigInt(Date.now()) * 1_000_000n;
      try {
        this.core.emit({ Type: "image", Action: "tag", Actor: { ID: id, Attributes: { name: reference } }, time: Number(timeNano / 1_000_000_000n), timeNano });
      } catch (err) {
        // a listener's failure is not the commit's
        ignored(`deliver the tag event of image ${id}`, err, this.core.log);
      }
    }
    return { Id: id };
  }
}

/** Whether nothing is at p in root (p's parent resolved inside root; a missing parent means p is missing). */
function missingIn(root: Dir, p: string): boolean {
  let parent: { dir: Dir; name: string };
  try {
    parent = root.parentInRoot(p);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return true;
    throw err;
  }
  try {
    return parent.name !== "" && parent.dir.tryLstatQuiet(parent.name) === undefined;
  } finally {
    parent.dir.close();
  }
}

// The volume service with Docker's `local` driver. Each volume is a directory:
//
//   <root>/volumes/<name>/volume.json   name, driver, options, labels, creation time (atomic write)
//   <root>/volumes/<name>/_data         the data, or the mount point of the volume's device
//
// A volume whose options name a device (tmpfs, a bind of a host path, nfs) is mounted when the
// first container starts with it and unmounted when the last one stops. Which containers refer to
// a volume (their mount points) is kept in memory: the container service declares its references
// when it loads containers, so nothing here can go stale after a crash. At start the container
// service adopts the running containers and then calls reconcile(), which unmounts devices that
// no running container holds any more.

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { conflict, CoveError, invalid, isErrno, notFound } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { ignoring } from "../common/ignore.js";
import { treeSize } from "../fsroot/index.js";
import { unmountAll } from "../snapshots/index.js";
import { mountLocal, needsMount, validateLocalOptions, validateVolumeName } from "./local.js";
import { ANONYMOUS_LABEL, type Volume, type VolumeCreateRequest, type VolumeEvent, type VolumeListResponse, type VolumePruneResponse } from "./types.js";

export interface VolumeServiceOptions {
  /** The engine's state root; volumes live in <root>/volumes. */
  root: string;
  events?: (e: VolumeEvent) => void;
}

interface VolumeRecord {
  Name: string;
  Driver: "local";
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
}

/** Who holds a volume's device mounted: container IDs, with what they mounted it for. */
interface Holder {
  destination: string;
}

const FILTERS = ["dangling", "driver", "label", "name"];
const PRUNE_FILTERS = ["label", "label!", "all", "until"];

/** Docker's CreatedAt: RFC 3339 in seconds. */
function createdAt(d = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, "Z");
}

function labelMatches(labels: Record<string, string> | null, expr: string): boolean {
  const eq = expr.indexOf("=");
  const key = eq < 0 ? expr : expr.slice(0, eq);
  if (!labels || !(key in labels)) return false;
  return eq < 0 || labels[key] === expr.slice(eq + 1);
}

function parseBoolFilter(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw invalid(`Invalid filter '${key}=[${value}]'`, { code: "filter.invalid", field: `filters.${key}` });
}

function isMounted(target: string): boolean {
  try {
    const lines = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
    return lines.some((l) => l.split(" ")[4] === target);
  } catch {
    return false;
  }
}

export class VolumeService {
  readonly root: string;
  private readonly emit: (e: VolumeEvent) => void;
  private readonly volumes = new Map<string, VolumeRecord>();
  /** name → container IDs whose mount points name the volume. */
  private readonly refs = new Map<string, Set<string>>();
  /** name → containers holding the volume's device mounted. */
  private readonly holders = new Map<string, Map<string, Holder>>();
  /** Serializes the operations that change a volume (create/remove/mount/unmount). */
  private readonly locks = new Map<string, Promise<unknown>>();

  private constructor(opts: VolumeServiceOptions) {
    this.root = opts.root;
    this.emit = opts.events ?? (() => undefined);
  }

  static async open(opts: VolumeServiceOptions): Promise<VolumeService> {
    const svc = new VolumeService(opts);
    await mkdir(svc.dir(), { recursive: true, mode: 0o701 });
    await svc.load();
    return svc;
  }

  private dir(name?: string): string {
    return name === undefined ? path.join(this.root, "volumes") : path.join(this.root, "volumes", name);
  }

  /** The volume's data directory (its Mountpoint). */
  mountpoint(name: string): string {
    return path.join(this.dir(name), "_data");
  }

  /**
   * Copy-up's mark beside the data: present while the image's content is being copied in, so a
   * copy cut by a crash is seen (the data is partial, not the user's) and done again.
   */
  private copyUpMark(name: string): string {
    return path.join(this.dir(name), "copy-up");
  }

  private readonly copyUps = new Map<string, Promise<unknown>>();

  /**
   * Runs a copy-up into the volume after any other one into it has ended: two containers made
   * at once with the same new volume must not both fill it (nor one clear what the other copies).
   */
  async serialCopyUp<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.copyUps.get(name) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const settled = mine.catch(() => undefined);
    this.copyUps.set(name, settled);
    try {
      return await mine;
    } finally {
      if (this.copyUps.get(name) === settled) this.copyUps.delete(name);
    }
  }

  /** Whether a copy-up into the volume began and never finished (a crash cut it). */
  copyUpUnfinished(name: string): boolean {
    return existsSync(this.copyUpMark(name));
  }

  async beginCopyUp(name: string): Promise<void> {
    await writeFileAtomic(this.copyUpMark(name), "");
  }

  async endCopyUp(name: string): Promise<void> {
    await rm(this.copyUpMark(name), { force: true });
  }

  private async load(): Promise<void> {
    for (const name of await readdir(this.dir())) {
      if (name.startsWith(".")) continue;
      let rec: VolumeRecord;
      try {
        rec = JSON.parse(await readFile(path.join(this.dir(name), "volume.json"), "utf8")) as VolumeRecord;
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
        // a create that died before its metadata was written: nothing refers to it
        if (!isMounted(this.mountpoint(name))) await rm(this.dir(name), { recursive: true, force: true }).catch(ignoring(`remove the directory of half-created volume ${name}`));
        continue;
      }
      this.volumes.set(rec.Name, rec);
    }
  }

  private serialized<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    // the caller gets the failure through next; the chain only keeps the order
    const settled = next.catch(() => undefined);
    this.locks.set(name, settled);
    void settled.then(() => {
      if (this.locks.get(name) === settled) this.locks.delete(name);
    });
    return next;
  }

  private event(action: VolumeEvent["Action"], name: string, attrs: Record<string, string> = {}): void {
    this.emit({ Type: "volume", Action: action, Actor: { ID: name, Attributes: { driver: "local", ...attrs } } });
  }

  private view(rec: VolumeRecord): Volume {
    return {
      CreatedAt: rec.CreatedAt,
      Driver: rec.Driver,
      Labels: rec.Labels ? { ...rec.Labels } : null,
      Mountpoint: this.mountpoint(rec.Name),
      Name: rec.Name,
      Options: rec.Options ? { ...rec.Options } : null,
      Scope: "local",
    };
  }

  private get(name: string): VolumeRecord {
    const rec = this.volumes.get(name);
    if (!rec) throw notFound(`get ${name}: no such volume`, { code: "volume.not-found" });
    return rec;
  }

  has(name: string): boolean {
    return this.volumes.has(name);
  }

  // ---------------------------------------------------------------- create, inspect, list

  /**
   * docker volume create. Without a name the volume is anonymous (64 hex characters, the anonymous
   * label). Creating an existing volume returns it, as Docker does, unless the driver differs.
   */
  async create(req: VolumeCreateRequest = {}, opts: { anonymous?: boolean } = {}): Promise<Volume> {
    return (await this.createFor(undefined, req, opts)).volume;
  }

  /**
   * create for a container's mount: the volume is referenced by containerId in the same step, so
   * it cannot be removed between its creation and the container's; `created` tells whether this
   * call made it (the caller undoes only what it made).
   */
  async createFor(containerId: string | undefined, req: VolumeCreateRequest = {}, opts: { anonymous?: boolean } = {}): Promise<{ volume: Volume; created: boolean }> {
    const driver = req.Driver || "local";
    const anonymous = opts.anonymous || !req.Name;
    const name = req.Name || randomBytes(32).toString("hex");
    validateVolumeName(name);
    if (driver !== "local") {
      throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`, { code: "volume.driver", hint: "cove has the local volume driver only" });
    }
    const options = req.DriverOpts && Object.keys(req.DriverOpts).length ? { ...req.DriverOpts } : null;
    validateLocalOptions(name, options ?? {});
    return this.serialized(name, async () => {
      const existing = this.volumes.get(name);
      if (existing) {
        if (containerId) this.reference(name, containerId);
        return { volume: this.view(existing), created: false };
      }
      const labels: Record<string, string> = { ...(req.Labels ?? {}) };
      if (anonymous) labels[ANONYMOUS_LABEL] = "";
      const rec: VolumeRecord = { Name: name, Driver: "local", CreatedAt: createdAt(), Labels: Object.keys(labels).length ? labels : null, Options: options };
      const dir = this.dir(name);
      try {
        await mkdir(dir, { mode: 0o701 });
        await mkdir(this.mountpoint(name), { mode: 0o755 });
        await writeFileAtomic(path.join(dir, "volume.json"), JSON.stringify(rec), 0o600);
      } catch (err) {
        await rm(dir, { recursive: true, force: true }).catch(ignoring(`remove the directory of volume ${name} after its create failed`));
        throw err;
      }
      this.volumes.set(name, rec);
      if (containerId) this.reference(name, containerId);
      this.event("create", name);
      return { volume: this.view(rec), created: true };
    });
  }

  /** docker volume inspect. */
  inspect(name: string): Volume {
    return this.view(this.get(name));
  }

  /** Container IDs that refer to the volume. */
  users(name: string): string[] {
    return [...(this.refs.get(name) ?? [])];
  }

  private matches(rec: VolumeRecord, filters: Record<string, string[]>): boolean {
    for (const v of filters.dangling ?? []) {
      const dangling = parseBoolFilter("dangling", v);
      if (dangling !== (this.users(rec.Name).length === 0)) return false;
    }
    if (filters.driver?.length && !filters.driver.some((d) => d === rec.Driver)) return false;
    if (filters.name?.length && !filters.name.some((n) => safeRegExp(n).test(rec.Name))) return false;
    for (const l of filters.label ?? []) if (!labelMatches(rec.Labels, l)) return false;
    for (const l of filters["label!"] ?? []) if (labelMatches(rec.Labels, l)) return false;
    return true;
  }

  /** GET /volumes with Docker's filters (dangling, driver, label, name). */
  list(filters: Record<string, string[]> = {}): VolumeListResponse {
    for (const k of Object.keys(filters)) if (!FILTERS.includes(k)) throw invalid(`Invalid filter '${k}'`, { code: "filter.invalid", field: `filters.${k}` });
    const out = [...this.volumes.values()].filter((r) => this.matches(r, filters)).map((r) => this.view(r));
    out.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    return { Volumes: out, Warnings: null };
  }

  /** Every volume with its usage (/system/df). */
  async df(): Promise<Volume[]> {
    const out: Volume[] = [];
    for (const rec of this.volumes.values()) {
      out.push({ ...this.view(rec), UsageData: { Size: await treeSize(this.mountpoint(rec.Name)), RefCount: this.users(rec.Name).length } });
    }
    return out;
  }

  // ---------------------------------------------------------------- remove, prune

  /** docker volume rm: refused while a container refers to it; force ignores a missing volume. */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    if (!this.volumes.has(name)) {
      if (opts.force) return;
      throw notFound(`get ${name}: no such volume`, { code: "volume.not-found" });
    }
    await this.serialized(name, async () => {
      if (!this.volumes.has(name)) return;
      const users = this.users(name);
      if (users.length) throw conflict(`remove ${name}: volume is in use - [${users.sort().join(", ")}]`, { code: "volume.in-use", hint: "remove the containers that use it first (docker rm), then the volume" });
      const dir = this.dir(name);
      // one not mounted is fine; one that stays mounted stops the removal before anything changed,
      // so the recursive removal below never reaches into a filesystem still mounted there
      unmountAll(this.mountpoint(name), 2 /* MNT_DETACH */);
      this.holders.delete(name);
      // metadata first: a crash after this leaves a directory that load() clears
      await rm(path.join(dir, "volume.json"), { force: true });
      this.volumes.delete(name);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      this.event("destroy", name);
    });
  }

  /**
   * docker volume prune: unused volumes matching the filters. With API 1.42+ (Docker 23+) only
   * anonymous volumes unless `all`; older clients get every unused volume, as dockerd gives them.
   */
  async prune(filters: Record<string, string[]> = {}, opts: { all?: boolean } = {}): Promise<VolumePruneResponse> {
    for (const k of Object.keys(filters)) if (!PRUNE_FILTERS.includes(k)) throw invalid(`Invalid filter '${k}'`, { code: "filter.invalid", field: `filters.${k}` });
    if (filters.until?.length) throw invalid(`Invalid filter 'until'`, { code: "filter.invalid", hint: "volume prune has no until filter" });
    let all = !!opts.all;
    for (const v of filters.all ?? []) all = parseBoolFilter("all", v);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const rec of [...this.volumes.values()]) {
      if (this.users(rec.Name).length) continue;
      if (!all && !(rec.Labels && ANONYMOUS_LABEL in rec.Labels)) continue;
      if ((filters.label ?? []).some((l) => !labelMatches(rec.Labels, l))) continue;
      if ((filters["label!"] ?? []).some((l) => labelMatches(rec.Labels, l))) continue;
      const size = await treeSize(this.mountpoint(rec.Name));
      try {
        await this.remove(rec.Name);
      } catch (err) {
        if (err instanceof CoveError && (err.kind === "conflict" || err.kind === "not-found")) continue; // taken or removed meanwhile
        throw err;
      }
      deleted.push(rec.Name);
      reclaimed += size;
    }
    this.emit({ Type: "volume", Action: "prune", Actor: { ID: "", Attributes: { reclaimed: String(reclaimed) } } });
    return { VolumesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  // ---------------------------------------------------------------- references and mounts

  /** A container's mount point names the volume (at create, and when the container service loads). */
  reference(name: string, containerId: string): void {
    this.get(name);
    let set = this.refs.get(name);
    if (!set) this.refs.set(name, (set = new Set()));
    set.add(containerId);
  }

  /** The container is gone. */
  dereference(name: string, containerId: string): void {
    const set = this.refs.get(name);
    if (!set) return;
    set.delete(containerId);
    if (set.size === 0) this.refs.delete(name);
  }

  /**
   * A container starts with the volume: mounts its device on first use and returns the data
   * directory. `quiet` skips the mount event (the daemon adopting a running container).
   */
  async acquire(name: string, containerId: string, use: { destination: string; rw: boolean; propagation: string }, quiet = false): Promise<string> {
    return this.serialized(name, async () => {
      const rec = this.get(name);
      const target = this.mountpoint(name);
      let held = this.holders.get(name);
      if (needsMount(rec.Options) && (!held || held.size === 0) && !isMounted(target)) {
        await mkdir(target, { recursive: true, mode: 0o755 });
        await mountLocal(rec.Options!, target);
      }
      if (!held) this.holders.set(name, (held = new Map()));
      held.set(containerId, { destination: use.destination });
      if (!quiet) this.event("mount", name, { container: containerId, destination: use.destination, "read/write": String(use.rw), propagation: use.propagation });
      return target;
    });
  }

  /** The container stopped: unmounts the device when no other container holds it. */
  async release(name: string, containerId: string, quiet = false): Promise<void> {
    await this.serialized(name, async () => {
      const held = this.holders.get(name);
      if (!held?.has(containerId)) return;
      held.delete(containerId);
      if (held.size === 0) {
        this.holders.delete(name);
        const rec = this.volumes.get(name);
        if (rec && needsMount(rec.Options)) this.unmount(name);
      }
      if (!quiet) this.event("unmount", name, { container: containerId });
    });
  }

  private unmount(name: string): void {
    try {
      unmountAll(this.mountpoint(name), 0);
    } catch {
      // busy (a process outside cove uses it): detach it so the next mount starts clean
      unmountAll(this.mountpoint(name), 2 /* MNT_DETACH */);
    }
  }

  /** After the container service adopted the running containers: unmount devices nobody holds. */
  async reconcile(): Promise<string[]> {
    const released: string[] = [];
    for (const rec of this.volumes.values()) {
      if (!needsMount(rec.Options) || (this.holders.get(rec.Name)?.size ?? 0) > 0) continue;
      if (!isMounted(this.mountpoint(rec.Name))) continue;
      await this.serialized(rec.Name, async () => this.unmount(rec.Name));
      released.push(rec.Name);
    }
    return released;
  }

  /** Whether the volume's data directory exists (a missing one means the volume was removed on disk). */
  async exists(name: string): Promise<boolean> {
    try {
      return (await stat(this.mountpoint(name))).isDirectory();
    } catch {
      return false;
    }
  }
}

/**
 * Every volume under root with its usage, read without a service and without changing anything
 * (the CLI's system df, which may run beside a daemon): refCounts gives each volume's containers.
 */
export async function volumeUsage(root: string, refCounts: Map<string, number>): Promise<Volume[]> {
  const dir = path.join(root, "volumes");
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return [];
  }
  const out: Volume[] = [];
  for (const name of names) {
    let rec: VolumeRecord;
    try {
      rec = JSON.parse(await readFile(path.join(dir, name, "volume.json"), "utf8")) as VolumeRecord;
    } catch {
      continue; // being created or removed
    }
    const data = path.join(dir, name, "_data");
    out.push({
      CreatedAt: rec.CreatedAt,
      Driver: rec.Driver,
      Labels: rec.Labels,
      Mountpoint: data,
      Name: rec.Name,
      Options: rec.Options,
      Scope: "local",
      UsageData: { Size: await treeSize(data), RefCount: refCounts.get(rec.Name) ?? 0 },
    });
  }
  return out;
}

/** Docker's name filter is a regular expression; a malformed one matches literally. */
function safeRegExp(text: string): RegExp {
  try {
    return new RegExp(text);
  } catch {
    return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  }
}

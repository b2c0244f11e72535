// A container's mounts as Docker registers them (moby's registerMountPoints): --volumes-from,
// then -v (HostConfig.Binds), then --mount (HostConfig.Mounts), then the image's VOLUMEs and -v
// /path (Config.Volumes) as anonymous volumes where nothing else is mounted. planMounts validates
// and describes them with Docker's error texts (pure); the container service creates the volumes
// they name, stores the entries as the container's mount points, and turns them into OCI mounts
// at each start (ociMounts).

import { lstatSync, readFileSync, realpathSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fromErrno, invalid, isErrno, notFound } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import type { Mount } from "../runtime/spec.js";
import type { HostConfig, MountPoint, MountSpec } from "./types.js";

export const PROPAGATIONS = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];
const DEFAULT_PROPAGATION = "rprivate";

/** A mount point as the container record keeps it: inspect's fields plus what a start needs. */
export interface MountEntry extends MountPoint {
  /** A volume the user named (rm -v keeps it); anonymous ones are removed with the container. */
  Named?: boolean;
  /** Copy the image's content at Destination into the volume while it is empty. */
  CopyData?: boolean;
  /** volume-subpath: mount this directory of the volume. */
  Subpath?: string;
  /** bind-nonrecursive. */
  NonRecursive?: boolean;
  /** -v creates a missing host path (--mount does not). */
  CreateSource?: boolean;
  /** The volume to create on demand: its driver options and labels (--mount volume-opt/volume-label). */
  VolumeDriverOpts?: Record<string, string>;
  VolumeLabels?: Record<string, string>;
  /** tmpfs mount options (size, mode) for --mount type=tmpfs. */
  TmpfsOptions?: string[];
  /** rslave chosen by cove for a bind of its own root (falls back to rprivate when the source cannot propagate). */
  ImplicitPropagation?: boolean;
}

/** How many containers under root name each volume in their mount points (read from their records). */
export async function volumeRefCounts(root: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const dir = path.join(root, "containers");
  let ids: string[];
  try {
    ids = await readdir(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return counts; // no container was ever created under root
    throw fromErrno(err, `listing ${dir}`);
  }
  for (const id of ids) {
    if (id.startsWith(".")) continue; // a removed container's directory, on its way out
    let rec: { MountPoints?: MountEntry[] };
    try {
      rec = JSON.parse(await readFile(path.join(dir, id, "config.v2.json"), "utf8")) as { MountPoints?: MountEntry[] };
    } catch (err) {
      // a create that died before its record was written names no volume; a record that cannot
      // be read is logged and counts for none
      if (!isErrno(err, "ENOENT")) ignored(`read the record of container ${id} to count its volumes`, err);
      continue;
    }
    const names = new Set((rec.MountPoints ?? []).filter((m) => m.Type === "volume" && m.Name).map((m) => m.Name!));
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  return counts;
}

/** inspect's view of an entry. */
export function publicMountPoint(e: MountEntry): MountPoint {
  const p: MountPoint = { Type: e.Type, Source: e.Source, Destination: e.Destination, Mode: e.Mode, RW: e.RW, Propagation: e.Propagation };
  if (e.Type === "volume") return { Type: e.Type, Name: e.Name ?? "", Source: e.Source, Destination: e.Destination, Driver: e.Driver ?? "local", Mode: e.Mode, RW: e.RW, Propagation: e.Propagation };
  return p;
}

export interface PlanInput {
  hostConfig: HostConfig;
  /** Config.Volumes (the image's VOLUMEs merged with the user's -v /path). */
  volumes?: Record<string, unknown> | null;
  /** A container's mount points for --volumes-from (throws when there is no such container). */
  mountsOf?: (ref: string) => MountEntry[];
  /** Whether a host path exists (default: lstat). */
  exists?: (p: string) => boolean;
  /** The engine's state root: binds that contain it or lie in it must not hold its mounts privately. */
  daemonRoot?: string;
}

function within(child: string, parent: string): boolean {
  return child === parent || parent === "/" || child.startsWith(parent + "/");
}

/**
 * A bind whose source contains the engine's root (or lies inside it) would keep private copies of
 * the root's mounts (container rootfs, volume devices) alive in the container, so they could not
 * be unmounted: such binds default to rslave and refuse private propagation, as Docker's do.
 */
function guardDaemonRoot(e: MountEntry, explicit: boolean, root: string | undefined): void {
  if (!root || e.Type !== "bind") return;
  const src = path.posix.normalize(e.Source);
  if (!within(src, root) && !within(root, src)) return;
  if (!explicit) {
    e.Propagation = "rslave";
    e.ImplicitPropagation = true;
    return;
  }
  if (e.Propagation !== "rslave" && e.Propagation !== "rshared") {
    throw invalid(`invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: "${root}", bind mount source: "${e.Source}", propagation: "${e.Propagation}"`, {
      code: "container.mount",
      field: "HostConfig.Mounts",
    });
  }
}

const MODE_CLASSES: Record<string, string> = {
  rw: "rw",
  ro: "rw",
  z: "label",
  Z: "label",
  nocopy: "copy",
  consistent: "consistency",
  cached: "consistency",
  delegated: "consistency",
  ...Object.fromEntries(PROPAGATIONS.map((p) => [p, "propagation"])),
};

/** Docker's ValidMountMode: known words, at most one of each kind. */
function validMode(mode: string): boolean {
  if (mode === "") return true;
  const seen = new Set<string>();
  for (const word of mode.split(",")) {
    const cls = MODE_CLASSES[word];
    if (!cls || seen.has(cls)) return false;
    seen.add(cls);
  }
  return true;
}

function cleanTarget(t: string): string {
  return path.posix.normalize(t).replace(/(.)\/+$/, "$1");
}

function hostExists(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

/** Validates and describes the container's mounts (no side effects). */
export function planMounts(input: PlanInput): MountEntry[] {
  const hc = input.hostConfig;
  const exists = input.exists ?? hostExists;
  const byDest = new Map<string, MountEntry>();
  const claimed = new Set<string>();
  const claim = (dest: string) => {
    if (claimed.has(dest)) throw invalid(`Duplicate mount point: ${dest}`, { code: "container.mount-duplicate", field: "HostConfig.Mounts" });
    claimed.add(dest);
  };

  // --volumes-from: the other container's mount points; the binds and mounts below replace them
  for (const spec of hc.VolumesFrom ?? []) {
    const [ref = "", mode = "", extra] = spec.split(":");
    if (extra !== undefined || !ref) throw invalid(`invalid volumes-from specification: '${spec}'`, { code: "container.volumes-from", field: "HostConfig.VolumesFrom" });
    if (mode !== "" && mode !== "ro" && mode !== "rw" && !validMode(mode)) throw invalid(`invalid mode: ${mode}`, { code: "container.volumes-from", field: "HostConfig.VolumesFrom" });
    if (!input.mountsOf) throw notFound(`No such container: ${ref}`);
    for (const m of input.mountsOf(ref)) {
      if (m.Type === "tmpfs") continue;
      const rw = m.RW && !mode.split(",").includes("ro");
      byDest.set(m.Destination, { ...m, Mode: "", RW: rw, CopyData: false, CreateSource: false });
    }
  }

  for (const bind of hc.Binds ?? []) {
    const e = parseBind(bind);
    claim(e.Destination);
    guardDaemonRoot(e, e.Mode.split(",").some((w) => PROPAGATIONS.includes(w)), input.daemonRoot);
    if (e.Type === "bind" && !exists(e.Source)) e.CreateSource = true;
    byDest.set(e.Destination, e);
  }

  for (const m of hc.Mounts ?? []) {
    const e = parseMountSpec(m, exists);
    claim(e.Destination);
    guardDaemonRoot(e, !!m.BindOptions?.Propagation, input.daemonRoot);
    byDest.set(e.Destination, e);
  }

  for (const dst of Object.keys(hc.Tmpfs ?? {})) claim(cleanTarget(dst));

  // the image's VOLUMEs and -v /path: anonymous volumes where nothing is mounted yet
  for (const dst of Object.keys(input.volumes ?? {})) {
    if (!path.posix.isAbsolute(dst)) throw invalid(`invalid mount config for type "volume": invalid mount path: '${dst}' mount path must be absolute`, { code: "container.mount", field: "Config.Volumes" });
    const d = cleanTarget(dst);
    if (d === "/") throw invalid(`invalid mount config for type "volume": invalid specification: destination can't be '/'`, { code: "container.mount", field: "Config.Volumes" });
    if (byDest.has(d) || claimed.has(d)) continue;
    byDest.set(d, { Type: "volume", Name: "", Source: "", Destination: d, Driver: "local", Mode: "", RW: true, Propagation: "", Named: false, CopyData: true });
  }
  return [...byDest.values()];
}

function specError(spec: string, type: string, reason: string) {
  return invalid(`invalid volume specification: '${spec}': invalid mount config for type "${type}": ${reason}`, { code: "container.bind", field: "HostConfig.Binds" });
}

/** One -v spec: [source:]destination[:mode]. */
export function parseBind(spec: string): MountEntry {
  const parts = spec.split(":");
  if (parts.length === 0 || parts.length > 3 || parts.some((p) => p === "")) throw invalid(`invalid volume specification: '${spec}'`, { code: "container.bind", field: "HostConfig.Binds" });
  if (parts.length === 1) {
    // just a destination: an anonymous volume
    const d = parts[0]!;
    if (!path.posix.isAbsolute(d)) throw specError(spec, "volume", `invalid mount path: '${d}' mount path must be absolute`);
    if (cleanTarget(d) === "/") throw specError(spec, "volume", "invalid specification: destination can't be '/'");
    return { Type: "volume", Name: "", Source: "", Destination: cleanTarget(d), Driver: "local", Mode: "", RW: true, Propagation: "", Named: false, CopyData: true };
  }
  const [src, dst, mode = ""] = parts as [string, string, string?];
  if (!validMode(mode)) throw invalid(`invalid mode: ${mode}`, { code: "container.bind", field: "HostConfig.Binds" });
  const words = mode.split(",").filter(Boolean);
  const ro = words.includes("ro");
  const propagation = words.find((w) => PROPAGATIONS.includes(w));
  const type = path.posix.isAbsolute(src) ? "bind" : "volume";
  if (!path.posix.isAbsolute(dst)) throw specError(spec, type, `invalid mount path: '${dst}' mount path must be absolute`);
  if (cleanTarget(dst) === "/") throw specError(spec, type, "invalid specification: destination can't be '/'");
  if (type === "bind") {
    if (words.includes("nocopy")) throw specError(spec, "bind", "field VolumeOptions must not be specified");
    return { Type: "bind", Source: path.posix.normalize(src), Destination: cleanTarget(dst), Mode: mode, RW: !ro, Propagation: propagation ?? DEFAULT_PROPAGATION };
  }
  if (propagation) throw specError(spec, "volume", "field BindOptions must not be specified");
  return { Type: "volume", Name: src, Source: "", Destination: cleanTarget(dst), Driver: "local", Mode: mode || "z", RW: !ro, Propagation: "", Named: true, CopyData: !words.includes("nocopy") };
}

/** One --mount (HostConfig.Mounts entry), with moby's validateMountConfig messages. */
export function parseMountSpec(m: MountSpec, exists: (p: string) => boolean = hostExists): MountEntry {
  const type = m.Type as string;
  const fail = (reason: string) => invalid(`invalid mount config for type "${type}": ${reason}`, { code: "container.mount", field: "HostConfig.Mounts" });
  if (!["bind", "volume", "tmpfs"].includes(type)) {
    if (["npipe", "cluster", "image"].includes(type)) throw invalid(`mount type "${type}" is not supported by cove`, { code: "container.mount", field: "HostConfig.Mounts" });
    throw fail("mount type unknown");
  }
  if (!m.Target) throw fail("field Target must not be empty");
  if (!path.posix.isAbsolute(m.Target)) throw fail(`invalid mount path: '${m.Target}' mount path must be absolute`);
  const dst = cleanTarget(m.Target);
  if (dst === "/") throw fail("invalid specification: destination can't be '/'");
  const extra = (field: string) => fail(`field ${field} must not be specified`);
  const volOpts = m.VolumeOptions as { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> }; Subpath?: string } | undefined;
  if (type === "bind") {
    if (m.VolumeOptions) throw extra("VolumeOptions");
    if (m.TmpfsOptions) throw extra("TmpfsOptions");
    const src = m.Source ?? "";
    if (!src) throw fail("field Source must not be empty");
    if (!path.posix.isAbsolute(src)) throw fail(`invalid mount path: '${src}' mount path must be absolute`);
    const propagation = m.BindOptions?.Propagation || DEFAULT_PROPAGATION;
    if (!PROPAGATIONS.includes(propagation)) throw fail(`invalid propagation mode: ${propagation}`);
    const e: MountEntry = { Type: "bind", Source: path.posix.normalize(src), Destination: dst, Mode: "", RW: !m.ReadOnly, Propagation: propagation };
    if (m.BindOptions?.NonRecursive) e.NonRecursive = true;
    if (!exists(src)) {
      if (!m.BindOptions?.CreateMountpoint) throw fail(`bind source path does not exist: ${src}`);
      e.CreateSource = true;
    }
    return e;
  }
  if (type === "volume") {
    if (m.BindOptions) throw extra("BindOptions");
    if (m.TmpfsOptions) throw extra("TmpfsOptions");
    const e: MountEntry = { Type: "volume", Name: m.Source ?? "", Source: "", Destination: dst, Driver: volOpts?.DriverConfig?.Name || "local", Mode: "z", RW: !m.ReadOnly, Propagation: "", Named: !!m.Source, CopyData: !volOpts?.NoCopy };
    if (volOpts?.DriverConfig?.Options && Object.keys(volOpts.DriverConfig.Options).length) e.VolumeDriverOpts = { ...volOpts.DriverConfig.Options };
    if (volOpts?.Labels && Object.keys(volOpts.Labels).length) e.VolumeLabels = { ...volOpts.Labels };
    if (volOpts?.Subpath) {
      const sub = path.posix.normalize(volOpts.Subpath);
      if (path.posix.isAbsolute(sub) || sub === ".." || sub.startsWith("../")) throw fail(`subpath must be a relative path within the volume: ${volOpts.Subpath}`);
      if (sub !== ".") e.Subpath = sub;
    }
    return e;
  }
  // tmpfs
  if (m.Source) throw extra("Source");
  if (m.BindOptions) throw extra("BindOptions");
  if (m.VolumeOptions) throw extra("VolumeOptions");
  const opts: string[] = [];
  const size = m.TmpfsOptions?.SizeBytes ?? 0;
  if (size < 0) throw fail(`invalid tmpfs size: ${size}`);
  if (size) opts.push(`size=${Math.floor(size / 1024)}k`);
  if (m.TmpfsOptions?.Mode) opts.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
  for (const o of m.TmpfsOptions?.Options ?? []) opts.push(o.length > 1 ? `${o[0]}=${o[1]}` : `${o[0]}`);
  return { Type: "tmpfs", Source: "", Destination: dst, Mode: "", RW: !m.ReadOnly, Propagation: "", TmpfsOptions: opts };
}

/** The OCI mounts of --tmpfs (HostConfig.Tmpfs), which Docker keeps out of the mount points. */
export function tmpfsFlagMounts(hc: HostConfig): Mount[] {
  const out: Mount[] = [];
  for (const [dst, optText] of Object.entries(hc.Tmpfs ?? {})) {
    let opts = ["noexec", "nosuid", "nodev"];
    for (const o of optText.split(",").filter(Boolean)) {
      const negate: Record<string, string> = { exec: "noexec", suid: "nosuid", dev: "nodev" };
      if (negate[o]) opts = opts.filter((x) => x !== negate[o]);
      else if (!opts.includes(o)) opts.push(o);
    }
    out.push({ destination: cleanTarget(dst), type: "tmpfs", source: "tmpfs", options: opts });
  }
  return out;
}

/** An entry as an OCI mount; volumeSource gives a volume's host directory (subpath included). */
export function ociMount(e: MountEntry, volumeSource?: string): Mount {
  if (e.Type === "tmpfs") {
    return { destination: e.Destination, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", ...(e.RW ? [] : ["ro"]), ...(e.TmpfsOptions ?? [])] };
  }
  const source = e.Type === "volume" ? volumeSource ?? e.Source : e.Source;
  return { destination: e.Destination, type: "bind", source, options: [e.NonRecursive ? "bind" : "rbind", e.RW ? "rw" : "ro", e.Propagation || DEFAULT_PROPAGATION] };
}

/**
 * rshared/rslave binds need a source mount that propagates (Docker checks the same): the mount
 * holding source, from /proc/self/mountinfo.
 */
export function checkSourcePropagation(source: string, propagation: string, mountinfo?: string): void {
  const shared = propagation === "shared" || propagation === "rshared";
  const slave = propagation === "slave" || propagation === "rslave";
  if (!shared && !slave) return;
  let real = source;
  try {
    real = realpathSync(source);
  } catch (err) {
    // missing: created later by the start, or reported by the runtime
    if (isErrno(err, "ENOENT", "ENOTDIR")) return;
    throw fromErrno(err, `resolving bind mount source ${source}`);
  }
  const text = mountinfo ?? readFileSync("/proc/self/mountinfo", "utf8");
  let best: { point: string; optional: string[] } | undefined;
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const point = (f[4] ?? "").replace(/\\040/g, " ");
    if (!point) continue;
    const inside = point === "/" || real === point || real.startsWith(point + "/");
    if (!inside || (best && best.point.length > point.length)) continue;
    const sep = f.indexOf("-");
    best = { point, optional: f.slice(6, sep < 0 ? undefined : sep) };
  }
  if (!best) return;
  const isShared = best.optional.some((o) => o.startsWith("shared:"));
  const isSlave = best.optional.some((o) => o.startsWith("master:"));
  if (shared && !isShared) {
    throw invalid(`path ${source} is mounted on ${best.point} but it is not a shared mount`, { code: "container.propagation", hint: `make it shared first: mount --make-rshared ${best.point}` });
  }
  if (slave && !isShared && !isSlave) {
    throw invalid(`path ${source} is mounted on ${best.point} but it is not a shared or slave mount`, { code: "container.propagation", hint: `make it shared first: mount --make-rshared ${best.point}` });
  }
}

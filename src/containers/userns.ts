// User namespaces for containers of a root daemon: which ids a container's root is on the host.
//
// `cove daemon --userns-remap` names an account ("default" makes cove-remap) whose subordinate
// ranges (/etc/subuid, /etc/subgid) give containers their ids: every container maps its ids
// 0-65535 onto the account's first 65536 (Docker maps the account's ranges the same way; its
// dockremap has exactly 65536). `--userns=host` opts a container out. `--userns=auto[:size=N]`
// (as Podman) gives a container a range of its own, N ids (default 65536), taken from the
// account's ids after those first 65536 and not overlapping any other container's; the range is
// recorded with the container and is free again once it is removed.
//
// The mapping is fixed at create and kept in the container's record (UserNamespace): the image's
// layers are seen through idmapped mounts of that mapping, the writable layer and the container's
// own files are owned by the mapped ids on the host, and commit, export and cp translate between
// the host's ids and the container's.

import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { CoveError, invalid, unsupported } from "../common/errors.js";
import type { IdMapping } from "../runtime/spec.js";

/** A container's user namespace: OCI uid and gid mappings (container id → host id). */
export interface IdMap {
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
}

/** A range of host ids. */
export interface IdRange {
  start: number;
  size: number;
}

/** The account `--userns-remap` names, with its subordinate ranges. */
export interface RemapAccount {
  user: string;
  group: string;
  uids: IdRange[];
  gids: IdRange[];
}

/** What the daemon gives the container service: the remapping every container gets, and where auto ranges come from. */
export interface UsernsSettings {
  /** The account's name (for /info and errors). */
  account: string;
  /** The mapping of containers that name no --userns (undefined: they run in the host's). */
  remap?: IdMap;
  /** Host id ranges --userns=auto takes from. */
  pool: { uids: IdRange[]; gids: IdRange[] };
  /**
   * How image layers get the mapping: idmapped mounts, with chowned copies where the kernel
   * refuses them (default), or chowned copies always.
   */
  layers?: "idmap" | "copy";
}

/** The account "default" makes. */
export const DEFAULT_REMAP_USER = "cove-remap";
/** The ids a remapped container gets (a 16-bit id space, as Docker's dockremap). */
export const REMAP_SIZE = 65536;
/** The ids cove-remap gets: 65536 for the remapping, the rest for --userns=auto (64 containers of 65536). */
export const DEFAULT_ACCOUNT_SIZE = REMAP_SIZE * 65;
/** Where cove looks for free subordinate ids (as Docker: above the ids of ordinary users). */
const FIRST_SUBORDINATE_ID = 100000;
/** What an id outside the mapping shows as (the kernel's overflow id). */
export const OVERFLOW_ID = 65534;
const MAX_ID = 2 ** 32 - 1;

/** A container's --userns, parsed: "" (the daemon's remapping, if any), "host", or "auto[:size=N]". */
export type UsernsMode = { kind: "default" } | { kind: "host" } | { kind: "auto"; size: number };

export const SUPPORTED_USERNS_MODES = '"host", "auto" and "auto:size=N"';

export function parseUsernsMode(mode: string | undefined): UsernsMode {
  const m = mode ?? "";
  if (m === "") return { kind: "default" };
  if (m === "host") return { kind: "host" };
  if (m === "auto" || m.startsWith("auto:")) {
    let size = REMAP_SIZE;
    for (const opt of m === "auto" ? [] : m.slice("auto:".length).split(",")) {
      const [k, v] = opt.split("=", 2) as [string, string | undefined];
      if (k === "size" && v !== undefined && /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= MAX_ID) size = Number(v);
      else throw invalid(`invalid user namespace mode "${m}": auto takes only size=N (N ids, 1 or more)`, { code: "container.userns", field: "HostConfig.UsernsMode" });
    }
    return { kind: "auto", size };
  }
  throw invalid(`user namespace mode "${m}" is not supported: cove supports ${SUPPORTED_USERNS_MODES}`, {
    code: "container.userns",
    field: "HostConfig.UsernsMode",
    hint: "use --userns=auto for a user namespace of the container's own, or --userns=host for none",
  });
}

/** `--userns-remap` / daemon.json "userns-remap": "default", "user", "user:group", "uid", "uid:gid". */
export function parseRemapSetting(value: string): { user: string; group?: string } {
  const parts = value.split(":");
  const ok = (s: string | undefined) => s !== undefined && /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(s);
  if (parts.length > 2 || !ok(parts[0]) || (parts.length === 2 && !ok(parts[1]))) {
    throw invalid(`invalid userns-remap "${value}": give "default", a user, user:group, uid or uid:gid`, { code: "daemon.userns-remap", field: "userns-remap" });
  }
  if (parts[0] === "default") {
    if (parts.length === 2) throw invalid(`invalid userns-remap "${value}": "default" takes no group`, { code: "daemon.userns-remap", field: "userns-remap" });
    return { user: DEFAULT_REMAP_USER };
  }
  return parts.length === 2 ? { user: parts[0]!, group: parts[1]! } : { user: parts[0]! };
}

/** The ranges /etc/subuid (or subgid) text gives name (or its numeric id). */
export function subordinateRanges(text: string, name: string, id?: number): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split("\n")) {
    const [who, start, size] = line.trim().split(":");
    if (who === undefined || start === undefined || size === undefined || !/^\d+$/.test(start) || !/^\d+$/.test(size)) continue;
    if (who === name || (id !== undefined && who === String(id))) out.push({ start: Number(start), size: Number(size) });
  }
  return out;
}

/** Every range of a subordinate id file, whoever owns it. */
function allRanges(text: string): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split("\n")) {
    const [, start, size] = line.trim().split(":");
    if (start !== undefined && size !== undefined && /^\d+$/.test(start) && /^\d+$/.test(size)) out.push({ start: Number(start), size: Number(size) });
  }
  return out;
}

/** The first start at or above from where size ids overlap none of taken (Docker's findNextRangeStart). */
export function firstFreeStart(taken: readonly IdRange[], size: number, from = FIRST_SUBORDINATE_ID): number {
  const sorted = [...taken].sort((a, b) => a.start - b.start);
  let start = from;
  for (const r of sorted) {
    if (r.start + r.size <= start) continue;
    if (r.start >= start + size) break;
    start = r.start + r.size;
  }
  if (start + size - 1 > MAX_ID) throw unsupported(`no ${size} free subordinate ids are left below 2^32`, { code: "daemon.userns-remap" });
  return start;
}

/** The first count ids of ranges, as mappings from container id 0 up. */
export function mapFirst(ranges: readonly IdRange[], count: number): IdMapping[] {
  const out: IdMapping[] = [];
  let next = 0;
  for (const r of ranges) {
    if (next >= count) break;
    const size = Math.min(r.size, count - next);
    out.push({ containerID: next, hostID: r.start, size });
    next += size;
  }
  return out;
}

/** ranges without their first count ids. */
export function skipFirst(ranges: readonly IdRange[], count: number): IdRange[] {
  const out: IdRange[] = [];
  let left = count;
  for (const r of ranges) {
    const skip = Math.min(left, r.size);
    left -= skip;
    if (r.size > skip) out.push({ start: r.start + skip, size: r.size - skip });
  }
  return out;
}

/** The first size ids of pool that overlap none of taken, or undefined when none are left. */
export function allocateRange(pool: readonly IdRange[], taken: readonly IdRange[], size: number): IdRange | undefined {
  for (const r of pool) {
    const inside = taken.filter((t) => t.start < r.start + r.size && t.start + t.size > r.start);
    try {
      const start = firstFreeStart(inside, size, r.start);
      if (start + size <= r.start + r.size) return { start, size };
    } catch (err) {
      if (!(err instanceof CoveError)) throw err;
    }
  }
  return undefined;
}

/** The host ranges a mapping takes. */
export function hostRanges(maps: readonly IdMapping[]): IdRange[] {
  return maps.map((m) => ({ start: m.hostID, size: m.size }));
}

/** The host id of a container id, or undefined when the mapping does not cover it. */
export function toHost(maps: readonly IdMapping[], id: number): number | undefined {
  const m = maps.find((x) => id >= x.containerID && id < x.containerID + x.size);
  return m ? m.hostID + (id - m.containerID) : undefined;
}

/** The container id of a host id, or undefined when the mapping does not cover it. */
export function toContainer(maps: readonly IdMapping[], id: number): number | undefined {
  const m = maps.find((x) => id >= x.hostID && id < x.hostID + x.size);
  return m ? m.containerID + (id - m.hostID) : undefined;
}

/** The host uid and gid of the container's root. */
export function rootOwner(map: IdMap): { uid: number; gid: number } {
  const uid = toHost(map.uidMappings, 0);
  const gid = toHost(map.gidMappings, 0);
  if (uid === undefined || gid === undefined) throw invalid("the user namespace does not map root (id 0)", { code: "container.userns" });
  return { uid, gid };
}

/** Host owner → the container's view (what a layer tar records); ids outside the mapping show as the overflow id. */
export function containerOwner(map: IdMap): (uid: number, gid: number) => { uid: number; gid: number } {
  return (uid, gid) => ({ uid: toContainer(map.uidMappings, uid) ?? OVERFLOW_ID, gid: toContainer(map.gidMappings, gid) ?? OVERFLOW_ID });
}

/** Container owner → host owner (what a file copied in gets); an id the mapping does not cover is refused. */
export function hostOwner(map: IdMap): (uid: number, gid: number) => { uid: number; gid: number } {
  return (uid, gid) => {
    const hu = toHost(map.uidMappings, uid);
    const hg = toHost(map.gidMappings, gid);
    if (hu === undefined) throw invalid(`Container ID ${uid} cannot be mapped to a host ID: the container's user namespace maps ids 0-${sizeOf(map.uidMappings) - 1}`, { code: "container.userns-id" });
    if (hg === undefined) throw invalid(`Container ID ${gid} cannot be mapped to a host ID: the container's user namespace maps ids 0-${sizeOf(map.gidMappings) - 1}`, { code: "container.userns-id" });
    return { uid: hu, gid: hg };
  };
}

function sizeOf(maps: readonly IdMapping[]): number {
  return maps.reduce((n, m) => Math.max(n, m.containerID + m.size), 0);
}

/** uid_map / gid_map text. */
export function mapText(maps: readonly IdMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
}

/**
 * Docker's rules for a container in the daemon's user namespace (moby's
 * verifyPlatformContainerSettings): privileged, the host's network or the host's pid namespace
 * need --userns=host. cove applies them to --userns=auto too.
 */
export function checkUsernsCombination(hc: { Privileged?: boolean; NetworkMode?: string; PidMode?: string }): void {
  const hint = "add --userns=host to run this container without a user namespace";
  if (hc.Privileged) throw invalid("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode", { code: "container.userns-privileged", hint });
  if (hc.NetworkMode === "host") throw invalid("cannot share the host's network namespace when user namespaces are enabled", { code: "container.userns-host-net", hint });
  if (hc.PidMode === "host") throw invalid("cannot share the host PID namespace when user namespaces are enabled", { code: "container.userns-host-pid", hint });
}

// ---------------------------------------------------------------- the account (host files and tools)

const run = promisify(execFile);

interface Passwd {
  name: string;
  uid: number;
  gid: number;
}

function parseEntries(text: string): Passwd[] {
  const out: Passwd[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 4 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3] ?? "")) out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) });
    else if (f.length >= 3 && /^\d+$/.test(f[2]!)) out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[2]) });
  }
  return out;
}

async function readOr(file: string, fallback: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw err;
  }
}

/** Where the account's files are (a test points them elsewhere). */
export interface AccountFiles {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
}

export const SYSTEM_ACCOUNT_FILES: AccountFiles = { passwd: "/etc/passwd", group: "/etc/group", subuid: "/etc/subuid", subgid: "/etc/subgid" };

/**
 * The account setting names, with its subordinate ranges. For "default" the account cove-remap is
 * made when missing (a system account without a home or a login shell, with useradd) and given
 * DEFAULT_ACCOUNT_SIZE ids in /etc/subuid and /etc/subgid (with usermod, which locks the files)
 * from the first free range at or above 100000, as dockerd does for dockremap. Another account must
 * exist and have ranges already.
 */
export async function resolveRemapAccount(value: string, files: AccountFiles = SYSTEM_ACCOUNT_FILES): Promise<RemapAccount> {
  const setting = parseRemapSetting(value);
  const isDefault = setting.user === DEFAULT_REMAP_USER && value === "default";
  const lookup = async () => {
    const users = parseEntries(await readOr(files.passwd, ""));
    const groups = parseEntries(await readOr(files.group, ""));
    const user = /^\d+$/.test(setting.user) ? users.find((u) => u.uid === Number(setting.user)) : users.find((u) => u.name === setting.user);
    return { user, groups };
  };
  let { user, groups } = await lookup();
  if (!user && isDefault) {
    await run("useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group", DEFAULT_REMAP_USER]).catch((err: unknown) => {
      throw new CoveError("system", `creating the account ${DEFAULT_REMAP_USER} for --userns-remap=default failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, { code: "daemon.userns-remap", hint: "create it yourself (useradd --system cove-remap) with ranges in /etc/subuid and /etc/subgid" });
    });
    ({ user, groups } = await lookup());
  }
  if (!user) {
    throw invalid(`userns-remap: no such user ${setting.user}`, { code: "daemon.userns-remap", field: "userns-remap", hint: `create the account first (useradd --system ${setting.user}) and give it ranges in /etc/subuid and /etc/subgid, or use --userns-remap=default` });
  }
  let group = user.name;
  if (setting.group !== undefined) {
    const g = /^\d+$/.test(setting.group) ? groups.find((x) => x.uid === Number(setting.group)) : groups.find((x) => x.name === setting.group);
    if (!g) throw invalid(`userns-remap: no such group ${setting.group}`, { code: "daemon.userns-remap", field: "userns-remap" });
    group = g.name;
  } else {
    group = groups.find((x) => x.uid === user.gid)?.name ?? user.name;
  }
  const ranges = async () => ({
    uids: subordinateRanges(await readOr(files.subuid, ""), user.name, user.uid),
    gids: subordinateRanges(await readOr(files.subgid, ""), group, groups.find((g) => g.name === group)?.uid),
  });
  let r = await ranges();
  if (isDefault && (r.uids.length === 0 || r.gids.length === 0)) {
    const args: string[] = [];
    if (r.uids.length === 0) {
      const start = firstFreeStart(allRanges(await readOr(files.subuid, "")), DEFAULT_ACCOUNT_SIZE);
      args.push("--add-subuids", `${start}-${start + DEFAULT_ACCOUNT_SIZE - 1}`);
    }
    if (r.gids.length === 0) {
      const start = firstFreeStart(allRanges(await readOr(files.subgid, "")), DEFAULT_ACCOUNT_SIZE);
      args.push("--add-subgids", `${start}-${start + DEFAULT_ACCOUNT_SIZE - 1}`);
    }
    await run("usermod", [...args, DEFAULT_REMAP_USER]).catch((err: unknown) => {
      throw new CoveError("system", `giving ${DEFAULT_REMAP_USER} subordinate ids failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, { code: "daemon.userns-remap", hint: `add "${DEFAULT_REMAP_USER}:START:${DEFAULT_ACCOUNT_SIZE}" lines to /etc/subuid and /etc/subgid yourself` });
    });
    r = await ranges();
  }
  if (r.uids.length === 0 || r.gids.length === 0) {
    const which = r.uids.length === 0 ? `/etc/subuid has no range for ${user.name}` : `/etc/subgid has no range for ${group}`;
    throw invalid(`userns-remap: ${which}`, { code: "daemon.userns-remap", field: "userns-remap", hint: `add one (usermod --add-subuids 200000-265535 --add-subgids 200000-265535 ${user.name})` });
  }
  return { user: user.name, group, uids: r.uids, gids: r.gids };
}

/** The settings an account gives: containers map onto its first 65536 ids; --userns=auto takes from the rest. */
export function usernsSettings(account: RemapAccount, remap: boolean): UsernsSettings {
  const map: IdMap = { uidMappings: mapFirst(account.uids, REMAP_SIZE), gidMappings: mapFirst(account.gids, REMAP_SIZE) };
  return {
    account: account.user === account.group ? account.user : `${account.user}:${account.group}`,
    ...(remap ? { remap: map } : {}),
    pool: { uids: skipFirst(account.uids, REMAP_SIZE), gids: skipFirst(account.gids, REMAP_SIZE) },
  };
}

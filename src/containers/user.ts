// Resolves Docker's User field ("name", "uid", "uid:gid", "name:group") against the container's
// own /etc/passwd and /etc/group, as libcontainer's user.GetExecUser does for dockerd.

import { readFile } from "node:fs/promises";
import path from "node:path";
import { invalid, isErrno } from "../common/errors.js";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ExecUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const f = line.split(":");
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (f.length < 4 || !Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] ?? "", uid, gid, home: f[5] ?? "" });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const f = line.split(":");
    const gid = Number(f[2]);
    if (f.length < 3 || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] ?? "", gid, members: (f[3] ?? "").split(",").map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

/**
 * The uid, gid and supplementary groups for `user` (Docker's Config.User) plus `groupAdd`
 * (HostConfig.GroupAdd), given the container's passwd and group files (undefined when missing).
 */
export function resolveUser(user: string, passwdText: string | undefined, groupText: string | undefined, groupAdd: string[] = []): ExecUser {
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  const groups = groupText === undefined ? [] : parseGroup(groupText);
  const [userPart = "", groupPart] = user.split(":", 2);
  const out: ExecUser = { uid: 0, gid: 0, additionalGids: [], home: "/" };
  let matched: PasswdEntry | undefined;
  if (userPart !== "") {
    matched = passwd.find((p) => (isNumeric(userPart) ? p.uid === Number(userPart) : p.name === userPart));
    if (!matched && !isNumeric(userPart)) {
      throw invalid(`unable to find user ${userPart}: no matching entries in passwd file`, { code: "container.user-not-found", field: "User" });
    }
    if (matched) {
      out.uid = matched.uid;
      out.gid = matched.gid;
      out.home = matched.home || "/";
    } else {
      out.uid = Number(userPart);
    }
  } else {
    matched = passwd.find((p) => p.uid === 0);
    if (matched) out.home = matched.home || "/";
  }
  if (groupPart !== undefined && groupPart !== "") {
    const g = groups.find((e) => (isNumeric(groupPart) ? e.gid === Number(groupPart) : e.name === groupPart));
    if (!g && !isNumeric(groupPart)) {
      throw invalid(`unable to find group ${groupPart}: no matching entries in group file`, { code: "container.group-not-found", field: "User" });
    }
    out.gid = g ? g.gid : Number(groupPart);
  } else if (matched) {
    // supplementary groups come from membership, and only when no group was named
    for (const g of groups) if (g.members.includes(matched.name) && !out.additionalGids.includes(g.gid)) out.additionalGids.push(g.gid);
  }
  for (const add of groupAdd) {
    const g = groups.find((e) => (isNumeric(add) ? e.gid === Number(add) : e.name === add));
    if (!g && !isNumeric(add)) throw invalid(`unable to find group ${add}: no matching entries in group file`, { code: "container.group-not-found", field: "GroupAdd" });
    const gid = g ? g.gid : Number(add);
    if (!out.additionalGids.includes(gid)) out.additionalGids.push(gid);
  }
  return out;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw err;
  }
}

/** resolveUser with the files read from a mounted rootfs (symlinks are not followed out of it). */
export async function resolveUserInRootfs(rootfs: string, user: string, groupAdd: string[] = []): Promise<ExecUser> {
  const [passwd, group] = await Promise.all([readOptional(path.join(rootfs, "etc/passwd")), readOptional(path.join(rootfs, "etc/group"))]);
  return resolveUser(user, passwd, group, groupAdd);
}

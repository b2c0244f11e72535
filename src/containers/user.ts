// Resolves Docker's User field ("name", "uid", "uid:gid", "name:group") against the container's
// own /etc/passwd and /etc/group, as libcontainer's user.GetExecUser does for dockerd.

import { CoveError, invalid } from "../common/errors.js";
import { Dir, NotRegularFile } from "../fsroot/index.js";

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

/** The most cove reads of a container's /etc/passwd or /etc/group. */
export const MAX_ACCOUNT_FILE_BYTES = 4 * 1024 * 1024;

/** A file of the container's root, read inside it (undefined when it does not exist). */
function readAccountFile(root: Dir, file: string): string | undefined {
  try {
    return root.readFileInRoot(file, MAX_ACCOUNT_FILE_BYTES)?.toString("utf8");
  } catch (err) {
    if (err instanceof CoveError && err.code === "fsroot.too-large") {
      throw invalid(`unable to read ${file} of the container: it is larger than ${MAX_ACCOUNT_FILE_BYTES / (1024 * 1024)} MiB`, { code: "container.account-file", field: "User", cause: err });
    }
    if (err instanceof NotRegularFile) {
      throw invalid(`unable to read ${file} of the container: it is not a regular file`, { code: "container.account-file", field: "User", cause: err });
    }
    throw err;
  }
}

/**
 * resolveUser with /etc/passwd and /etc/group read from a container's root (a mounted rootfs, or
 * /proc/<pid>/root of a running container). The files are opened with the root as "/": a
 * symlink (of etc, or of the files) resolves inside it, never to the host's.
 */
export async function resolveUserInRootfs(rootfs: string, user: string, groupAdd: string[] = []): Promise<ExecUser> {
  const root = Dir.open(rootfs);
  try {
    return resolveUser(user, readAccountFile(root, "/etc/passwd"), readAccountFile(root, "/etc/group"), groupAdd);
  } finally {
    root.close();
  }
}

// The subordinate uid and gid ranges a user may map into a user namespace (/etc/subuid,
// /etc/subgid: "name-or-uid:start:count" per line), which newuidmap/newgidmap enforce.

import { readFileSync } from "node:fs";
import { CoveError, isErrno } from "../common/errors.js";

export interface SubIdRange {
  start: number;
  count: number;
}

/** The first range listed for the user (by name or by uid), or undefined. */
export function parseSubIds(text: string, user: string, id: number): SubIdRange | undefined {
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const [who, start, count] = t.split(":");
    if (who !== user && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c > 0) return { start: s, count: c };
  }
  return undefined;
}

/** The user's range from file; a missing file or entry is an error that says how to add one. */
export function subIdRange(file: "/etc/subuid" | "/etc/subgid" | string, user: string, id: number): SubIdRange {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  const range = parseSubIds(text, user, id);
  if (range) return range;
  const flag = file.endsWith("gid") ? "--add-subgids" : "--add-subuids";
  throw new CoveError("unsupported", `rootless cove needs subordinate ${file.endsWith("gid") ? "gids" : "uids"} for ${user} in ${file}, and there are none`, {
    code: "rootless.subids",
    hint: `as root: usermod ${flag} 100000-165535 ${user} (a range no other user has)`,
  });
}

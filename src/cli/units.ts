// The docker CLI's table values: "2 hours ago", truncated IDs, cut text, and times as Go prints
// them. Sizes and durations themselves are src/docker's (go-units).

import { humanDuration } from "../docker/index.js";
import { displayWidth } from "./format/tabwriter.js";

/** "2 hours ago" for a unix time in seconds, "N/A" when unknown. */
export function createdSince(unixSeconds: number, now = Date.now()): string {
  if (unixSeconds <= 0) return "N/A";
  return humanDuration(now - unixSeconds * 1000) + " ago";
}

/** docker's stringid.TruncateID: drops the algorithm prefix and keeps 12 characters. */
export function truncateID(id: string): string {
  const colon = id.indexOf(":");
  const hex = colon >= 0 ? id.slice(colon + 1) : id;
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}

/** docker/cli's Ellipsis: cut to a display width, ending with "…". */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return "";
  if (displayWidth(s) <= max) return s;
  let out = "";
  let w = 0;
  for (const ch of s) {
    const cw = displayWidth(ch);
    if (w + cw > max - 1) break;
    out += ch;
    w += cw;
  }
  return out + "…";
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

function offsetString(offsetMinutes: number, colon: boolean): string {
  const sign = offsetMinutes >= 0 ? "+" : "-";
  const abs = Math.abs(offsetMinutes);
  return `${sign}${pad2(Math.trunc(abs / 60))}${colon ? ":" : ""}${pad2(abs % 60)}`;
}

function zoneName(d: Date): string {
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName");
  const name = part?.value ?? "UTC";
  return name === "GMT" ? "UTC" : name;
}

/** Go's time.Time.String() in local time: "2024-01-02 15:04:05 +0000 UTC". */
export function goTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const off = -d.getTimezoneOffset();
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ` +
    `${offsetString(off, false)} ${zoneName(d)}`
  );
}

/** time.RFC3339 in local time: "2024-01-02T15:04:05Z" or "...+01:00". */
export function rfc3339(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const off = -d.getTimezoneOffset();
  const base = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return base + (off === 0 ? "Z" : offsetString(off, true));
}

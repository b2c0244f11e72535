// The docker CLI's humanized values: sizes (docker/go-units HumanSize, decimal units, %.Ng),
// durations ("2 hours ago"), truncated IDs, and times as Go prints them.

import { displayWidth } from "./format/tabwriter.js";

const DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/** Go's %.*g (strconv 'g' with a precision). */
export function goG(n: number, precision: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? "NaN" : n > 0 ? "+Inf" : "-Inf";
  if (n === 0) return "0";
  const p = precision === 0 ? 1 : precision;
  const [mant, expText] = n.toExponential(p - 1).split("e") as [string, string];
  const exp = Number(expText);
  const trimmed = mant.includes(".") ? mant.replace(/\.?0+$/, "") : mant;
  if (exp < -4 || exp >= p) return `${trimmed}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  const fixed = n.toFixed(Math.max(0, p - 1 - exp));
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}

/** go-units HumanSizeWithPrecision: "4.26MB", "7.8MB", "999B", "1e+03kB". */
export function humanSizeWithPrecision(size: number, precision: number): string {
  let i = 0;
  while (size >= 1000 && i < DECIMAL.length - 1) {
    size /= 1000;
    i++;
  }
  return goG(size, precision) + DECIMAL[i];
}

/** go-units HumanSize: four significant digits. */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4);
}

/** go-units HumanDuration, as in "Created 2 hours ago". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

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

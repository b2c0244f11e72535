// Docker's units (docker/go-units) and the figures built on them: sizes as users type them
// ("64m", "1.5GB") for memory limits, tmpfs and log rotation, sizes as Docker prints them
// ("4.26MB", "23.43GiB"), and CPU counts ("1.5" → NanoCpus).

import { invalid } from "../common/errors.js";

const BINARY: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
const DECIMAL: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
const SIZE = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;

function parseSize(s: string, multipliers: Record<string, number>): number {
  const m = SIZE.exec(s);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !Number.isFinite(n)) throw invalid(`invalid size: '${s}'`, { code: "units.size" });
  return Math.trunc(n * multipliers[(m[2] ?? "").toLowerCase()]!);
}

/** go-units RAMInBytes: binary multiples, "64m" → 67108864. */
export function ramInBytes(s: string): number {
  return parseSize(s, BINARY);
}

/** go-units FromHumanSize: decimal multiples, "1k" → 1000 (the log drivers' max-size). */
export function fromHumanSize(s: string): number {
  return parseSize(s, DECIMAL);
}

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

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** go-units HumanSizeWithPrecision: "4.26MB", "7.8MB", "999B", "1e+03kB". */
export function humanSizeWithPrecision(size: number, precision: number): string {
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return goG(size, precision) + DECIMAL_UNITS[i];
}

/** go-units HumanSize: four significant digits ("16.38kB"). */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4);
}

/** Binary sizes as `docker info` and `docker stats` print them: "23.43GiB" (two decimals at most). */
export function bytesSize(n: number): string {
  let i = 0;
  while (n >= 1024 && i < BINARY_UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Math.round(n * 100) / 100}${BINARY_UNITS[i]}`;
}

/** The docker CLI's NanoCPUs: "1.5" → 1500000000 exactly (it parses a big.Rat, not a float). */
export function parseNanoCpus(s: string): number {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s.trim());
  if (!m || (m[1] === "" && (m[2] ?? "") === "")) throw invalid(`failed to parse ${s} as a rational number`, { code: "units.cpus" });
  const frac = (m[2] ?? "").padEnd(9, "0");
  if (frac.length > 9 && /[1-9]/.test(frac.slice(9))) throw invalid("value is too precise", { code: "units.cpus" });
  return Number(m[1] || "0") * 1e9 + Number(frac.slice(0, 9));
}

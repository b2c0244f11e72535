// Platforms: parsing "os/arch[/variant]", normalization and matching as containerd/platforms
// does (Parse, Normalize, Only), so cove picks the same manifest from an index that Docker does:
// the host's platform first, then compatible ones (arm64 also runs arm/v8..v5, amd64 runs 386,
// arm/v7 runs v6 and v5), and the error users know when nothing fits.

import { endianness } from "node:os";
import { invalid, notFound } from "../common/errors.js";
import type { Descriptor, Index, Platform } from "./types.js";

const KNOWN_OS = new Set(["aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos"]);
const KNOWN_ARCH = new Set([
  "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle", "mips64", "mips64le",
  "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
]);
const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;

function normalizeOS(os: string): string {
  const lower = os.toLowerCase();
  return lower === "macos" ? "darwin" : lower;
}

/** containerd's normalizeArch: aarch64 → arm64, x86_64 → amd64, armhf → arm/v7, default variants. */
export function normalizeArch(arch: string, variant: string): [string, string] {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case "i386":
      a = "386";
      v = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      a = "amd64";
      if (v === "v1") v = "";
      break;
    case "aarch64":
    case "arm64":
      a = "arm64";
      if (v === "8" || v === "v8") v = "";
      break;
    case "armhf":
      a = "arm";
      v = "v7";
      break;
    case "armel":
      a = "arm";
      v = "v6";
      break;
    case "arm":
      if (v === "" || v === "7") v = "v7";
      else if (v === "5" || v === "6" || v === "8") v = `v${v}`;
      break;
  }
  return [a, v];
}

function make(os: string, architecture: string, variant: string, osVersion?: string, osFeatures?: string[]): Platform {
  const p: Platform = { architecture, os };
  if (variant) p.variant = variant;
  if (osVersion) p["os.version"] = osVersion;
  if (osFeatures && osFeatures.length > 0) p["os.features"] = osFeatures;
  return p;
}

/** Normalizes a platform for comparison (containerd's Normalize). */
export function normalizePlatform(p: Platform): Platform {
  const [arch, variant] = normalizeArch(p.architecture, p.variant ?? "");
  return make(normalizeOS(p.os || hostPlatform().os), arch, variant, p["os.version"], p["os.features"]);
}

let hostCache: Platform | undefined;

/** The host's platform in OCI terms, e.g. {os:"linux", architecture:"amd64"} or arm64 with variant v8. */
export function hostPlatform(): Platform {
  if (hostCache) return { ...hostCache };
  let arch: string = process.arch;
  let variant = "";
  switch (process.arch) {
    case "x64":
      arch = "amd64";
      break;
    case "ia32":
      arch = "386";
      break;
    case "arm64":
      arch = "arm64";
      variant = "v8";
      break;
    case "arm": {
      arch = "arm";
      const vars = (process.config as { variables?: Record<string, unknown> }).variables ?? {};
      const armVersion = vars["arm_version"];
      variant = `v${typeof armVersion === "string" || typeof armVersion === "number" ? armVersion : 7}`;
      break;
    }
    case "ppc64":
      arch = endianness() === "LE" ? "ppc64le" : "ppc64";
      break;
    case "mips":
      arch = "mips";
      break;
    case "mipsel":
      arch = "mipsle";
      break;
    default:
      arch = process.arch; // s390x, riscv64, loong64 have the same names in Go
  }
  hostCache = make(process.platform === "win32" ? "windows" : process.platform, arch, variant);
  return { ...hostCache };
}

/**
 * Parses a platform specifier as containerd's platforms.Parse: "linux/arm64/v8", "linux/amd64",
 * "linux" (host architecture), "arm64" (host OS). Components are normalized.
 */
export function parsePlatform(spec: string): Platform {
  if (spec.includes("*")) {
    throw invalid(`invalid platform "${spec}": wildcards are not supported`, { code: "platform.invalid", field: "platform" });
  }
  const parts = spec.split("/");
  for (const part of parts) {
    if (!COMPONENT_RE.test(part.replace(/\(.*\)$/, ""))) {
      throw invalid(`invalid platform "${spec}": "${part}" is an invalid component: platform specifier component must match "^[A-Za-z0-9_.-]+$"`, {
        code: "platform.invalid",
        field: "platform",
        hint: 'write a platform as os/arch[/variant], e.g. "linux/amd64" or "linux/arm64/v8"',
      });
    }
  }
  const splitOS = (s: string): [string, string] => {
    const m = /^([^(]*)(?:\((.*)\))?$/.exec(s);
    return [normalizeOS(m?.[1] ?? s), m?.[2] ?? ""];
  };
  if (parts.length === 1) {
    const only = parts[0] as string;
    const [os, osVersion] = splitOS(only);
    if (KNOWN_OS.has(os)) {
      const host = hostPlatform();
      return make(os, host.architecture, host.variant ?? "", osVersion);
    }
    const [arch, variant] = normalizeArch(only, "");
    if (KNOWN_ARCH.has(arch)) {
      let v = variant;
      if (arch === "arm64" && v === "") v = "v8";
      return make(hostPlatform().os, arch, v);
    }
    throw invalid(`invalid platform "${spec}": unknown operating system or architecture`, {
      code: "platform.invalid",
      field: "platform",
      hint: 'write a platform as os/arch[/variant], e.g. "linux/amd64"',
    });
  }
  if (parts.length === 2) {
    const [os, osVersion] = splitOS(parts[0] as string);
    const [arch, v] = normalizeArch(parts[1] as string, "");
    const variant = arch === "arm" && v === "v7" ? "" : v;
    return make(os, arch, variant, osVersion);
  }
  if (parts.length === 3) {
    const [os, osVersion] = splitOS(parts[0] as string);
    const [arch, v] = normalizeArch(parts[1] as string, parts[2] as string);
    const variant = arch === "arm64" && v === "" ? "v8" : v;
    return make(os, arch, variant, osVersion);
  }
  throw invalid(`invalid platform "${spec}": cannot parse platform specifier: too many components`, {
    code: "platform.invalid",
    field: "platform",
    hint: 'write a platform as os/arch[/variant], e.g. "linux/arm/v7"',
  });
}

/** "linux/arm64/v8", as containerd's platforms.Format. */
export function formatPlatform(p: Platform): string {
  if (!p.os) return "unknown";
  const os = p["os.version"] ? `${p.os}(${p["os.version"]})` : p.os;
  return [os, p.architecture, p.variant].filter((s) => s !== undefined && s !== "").join("/");
}

function sameNormalized(want: Platform, got: Platform): boolean {
  const g = normalizePlatform(got);
  if (want.os !== g.os || want.architecture !== g.architecture || (want.variant ?? "") !== (g.variant ?? "")) return false;
  // Windows images also match on OS version prefix; elsewhere os.version is informational.
  if (want.os === "windows" && want["os.version"] && g["os.version"]) {
    const prefix = (v: string) => v.split(".").slice(0, 3).join(".");
    return prefix(want["os.version"]) === prefix(g["os.version"]);
  }
  return true;
}

/** containerd's platformVector: the platform, then those its host can also run, best first. */
function platformVector(p: Platform): Platform[] {
  const vec: Platform[] = [p];
  const { os } = p;
  const variant = p.variant ?? "";
  switch (p.architecture) {
    case "amd64": {
      const n = Number.parseInt(variant.replace(/^v/, ""), 10);
      if (Number.isInteger(n) && n > 1) for (let i = n - 1; i >= 1; i--) vec.push(make(os, "amd64", `v${i}`));
      vec.push(make(os, "386", ""));
      break;
    }
    case "arm": {
      const n = Number.parseInt(variant.replace(/^v/, ""), 10);
      if (Number.isInteger(n) && n > 5) for (let i = n - 1; i >= 5; i--) vec.push(make(os, "arm", `v${i}`));
      break;
    }
    case "arm64": {
      const v = variant === "" ? "v8" : variant;
      const [majorS, minorS] = v.replace(/^v/, "").split(".");
      let major = Number.parseInt(majorS ?? "", 10);
      let minor = minorS !== undefined ? Number.parseInt(minorS, 10) || 0 : 0;
      vec.length = 0;
      vec.push(p);
      if (Number.isInteger(major) && major >= 8) {
        if (major === 9) {
          for (let m = minor - 1; m >= 0; m--) vec.push(make(os, "arm64", m === 0 ? "v9" : `v9.${m}`));
          minor += 5;
          major = 8;
          vec.push(make(os, "arm64", `v8.${minor}`));
        }
        for (let m = minor - 1; m >= 0; m--) vec.push(make(os, "arm64", m === 0 ? `v${major}` : `v${major}.${m}`));
      }
      const armVariant = v.startsWith("v8.") || v.startsWith("v9.") ? "v8" : v;
      vec.push(...platformVector(make(os, "arm", armVariant)));
      break;
    }
  }
  return vec;
}

export interface PlatformMatcher {
  /** The platform asked for (normalized). */
  readonly platform: Platform;
  match(p: Platform): boolean;
  /** Rank of a platform: 0 is the best match, -1 no match. */
  rank(p: Platform): number;
  /** True when a is a better match than b. */
  less(a: Platform, b: Platform): boolean;
}

/**
 * The matcher Docker uses to pick a manifest (containerd's platforms.Only): matches the platform
 * and the ones it can run, and ranks them in that order. Default: the host's platform.
 */
export function onlyPlatform(platform: Platform = hostPlatform()): PlatformMatcher {
  const want = normalizePlatform(platform);
  const vector = platformVector(want).map(normalizePlatform);
  const rank = (p: Platform) => vector.findIndex((w) => sameNormalized(w, p));
  return {
    platform: want,
    match: (p) => rank(p) !== -1,
    rank,
    less: (a, b) => {
      const ra = rank(a);
      const rb = rank(b);
      if (ra === -1) return false;
      return rb === -1 || ra < rb;
    },
  };
}

/** Matches exactly one platform (after normalization), without compatible fallbacks. */
export function onlyStrictPlatform(platform: Platform): PlatformMatcher {
  const want = normalizePlatform(platform);
  const match = (p: Platform) => sameNormalized(want, p);
  return { platform: want, match, rank: (p) => (match(p) ? 0 : -1), less: (a, b) => match(a) && !match(b) };
}

/**
 * The descriptors of an index that can run on `platform`, best first (stable for ties).
 * Entries without a platform are accepted last, as containerd does.
 */
export function matchingManifests(index: Index, platform?: Platform | PlatformMatcher): Descriptor[] {
  const matcher = platform && "match" in platform ? platform : onlyPlatform(platform);
  const ranked = index.manifests
    .map((d, i) => ({ d, i, r: d.platform ? matcher.rank(d.platform) : Number.MAX_SAFE_INTEGER }))
    .filter((e) => e.r !== -1);
  ranked.sort((a, b) => a.r - b.r || a.i - b.i);
  return ranked.map((e) => e.d);
}

/** Docker's error when a manifest list has nothing for the platform. */
export function noMatchingManifest(platform: Platform, available: Platform[] = []): Error {
  const list = available.map(formatPlatform).filter((s, i, a) => a.indexOf(s) === i);
  return notFound(`no matching manifest for ${formatPlatform(platform)} in the manifest list entries`, {
    code: "image.no-matching-platform",
    field: "platform",
    hint: list.length > 0 ? `the image is available for: ${list.join(", ")}; choose one with --platform` : "the image has no manifest for any platform",
  });
}

/** Picks the best manifest of an index for `platform` (default: host), or throws Docker's error. */
export function selectManifest(index: Index, platform: Platform = hostPlatform()): Descriptor {
  const best = matchingManifests(index, platform)[0];
  if (!best) throw noMatchingManifest(platform, index.manifests.flatMap((d) => (d.platform ? [d.platform] : [])));
  return best;
}

// The daemon's configuration file, /etc/cove/daemon.json (another with `cove daemon
// --config-file`), in dockerd's daemon.json format. cove reads the registry keys:
//
//   "insecure-registries": ["10.0.0.0/8", "registry.local:5000"]   CIDRs and host[:port] reached over HTTP
//   "registry-mirrors":    ["https://mirror.local"]                tried before Docker Hub for its pulls
//
// Any other key, or a bad value, stops the daemon at start with an error naming it: a setting
// silently ignored is worse than none. The default file may be absent; a file named with
// --config-file must exist.

import { readFile } from "node:fs/promises";
import { invalid, isErrno } from "../common/errors.js";
import { normalizeMirror, validateInsecureRegistry } from "../registry/config.js";
import type { RegistryOptions } from "../registry/client.js";

export const DEFAULT_CONFIG_FILE = "/etc/cove/daemon.json";

/** The keys cove reads. */
export const CONFIG_KEYS = ["insecure-registries", "registry-mirrors"] as const;

export interface DaemonFileConfig {
  registry: Pick<RegistryOptions, "insecureRegistries" | "mirrors">;
}

/** Parses the file's text (file names it in errors). */
export function parseDaemonConfig(text: string, file: string): DaemonFileConfig {
  let o: unknown;
  try {
    o = text.trim() === "" ? {} : JSON.parse(text);
  } catch (err) {
    throw invalid(`unable to configure the cove daemon with file ${file}: ${(err as Error).message}`, { code: "config.json", hint: "the file must be JSON, as dockerd's daemon.json" });
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw invalid(`unable to configure the cove daemon with file ${file}: it must hold a JSON object`, { code: "config.json" });
  const rec = o as Record<string, unknown>;
  const unknown = Object.keys(rec).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw invalid(`unable to configure the cove daemon with file ${file}: ${unknown.length === 1 ? "key" : "keys"} ${unknown.map((k) => `"${k}"`).join(", ")} ${unknown.length === 1 ? "is not a setting" : "are not settings"} cove knows`, {
      code: "config.unknown-key",
      field: unknown[0]!,
      hint: `cove reads ${CONFIG_KEYS.map((k) => `"${k}"`).join(" and ")}; remove the others`,
    });
  }
  const list = (key: (typeof CONFIG_KEYS)[number]): string[] => {
    const v = rec[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      throw invalid(`unable to configure the cove daemon with file ${file}: "${key}" must be a list of strings`, { code: "config.invalid", field: key });
    }
    return v as string[];
  };
  const inFile = (key: string, fn: () => string[]): string[] => {
    try {
      return fn();
    } catch (err) {
      throw invalid(`unable to configure the cove daemon with file ${file}: "${key}": ${(err as Error).message}`, { code: "config.invalid", field: key, cause: err });
    }
  };
  const insecure = inFile("insecure-registries", () => [...new Set(list("insecure-registries").map(validateInsecureRegistry))]);
  const mirrors = inFile("registry-mirrors", () => [...new Set(list("registry-mirrors").map(normalizeMirror))]);
  return { registry: { ...(insecure.length > 0 ? { insecureRegistries: insecure } : {}), ...(mirrors.length > 0 ? { mirrors } : {}) } };
}

/** Reads the file; an absent file is no settings unless it was named explicitly. */
export async function loadDaemonConfig(file: string, explicit: boolean): Promise<DaemonFileConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT") && !explicit) return { registry: {} };
    if (isErrno(err, "ENOENT")) throw invalid(`the configuration file ${file} does not exist`, { code: "config.missing", field: "config-file" });
    throw err;
  }
  return parseDaemonConfig(text, file);
}

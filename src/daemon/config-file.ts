// The daemon's configuration file, /etc/cove/daemon.json (another with `cove daemon
// --config-file`), in dockerd's daemon.json format, with dockerd's keys where cove has the
// setting:
//
//   "insecure-registries": ["10.0.0.0/8", "registry.local:5000"]   CIDRs and host[:port] reached over HTTP
//   "registry-mirrors":    ["https://mirror.local"]                tried before Docker Hub for its pulls
//   "data-root":           "/var/lib/cove"                         the state root (as --root)
//   "exec-root":           "/run/cove"                             runtime state, network namespaces, pid file (as --exec-root)
//   "bridge":              "cove0" | "none"                        the default bridge's interface (as --bridge)
//   "bip":                 "172.18.0.1/16"                         the default bridge's address and subnet (as --bip)
//   "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}] where networks without a subnet take theirs
//   "cgroup-parent":       "/cove"                                 the parent of the containers' cgroups
//   "storage-driver":      "overlay2" | "fuse-overlayfs"           how image layers are mounted (fuse-overlayfs: rootless only)
//   "labels":              ["env=prod"]                            the daemon's labels (/info)
//   "debug":               true                                    /info's Debug
//   "live-restore":        true                                    always true: containers outlive the daemon
//   "default-runtime":     "cove" | "runc"                         a container's runtime when it names none
//   "log-driver":          "json-file"                             the only driver; "log-opts" takes no options yet
//   "userns-remap":        "default" | "user[:group]" | "uid[:gid]" containers in user namespaces from the account's
//                                                                  /etc/subuid and /etc/subgid ranges ("default": cove-remap)
//   "dashboard":           {"enabled": true, "addr": "127.0.0.1:9123", "tls": {"cert": F, "key": F, "ca": F}}
//                          the web dashboard (off without the key; "enabled" defaults to true, "addr" to
//                          127.0.0.1:9123); a non-loopback address needs "tls" (client certificates)
//
// Keys dockerd has and cove does not (dns, runtimes, features,
// max-concurrent-downloads/uploads) are refused with what to do instead, any other key as
// unknown: a setting silently ignored is worse than none. The default file may be absent; a
// file named with --config-file must exist. SIGHUP re-reads the file (daemonMain) and applies
// the keys dockerd reloads (RELOADABLE); the others take effect at the next start.

import { readFile } from "node:fs/promises";
import { invalid, isErrno } from "../common/errors.js";
import { normalizeMirror, validateInsecureRegistry } from "../registry/config.js";
import type { RegistryOptions } from "../registry/client.js";
import { checkBridgeName, defaultBridgePool, parseAddressPool, type AddressPool } from "../network/index.js";
import { parseRemapSetting } from "../containers/index.js";
import { parseStorageDriver, type StorageDriver } from "../snapshots/index.js";

export const DEFAULT_CONFIG_FILE = "/etc/cove/daemon.json";

/** The keys cove reads. */
export const CONFIG_KEYS = ["insecure-registries", "registry-mirrors", "data-root", "exec-root", "bridge", "bip", "default-address-pools", "cgroup-parent", "labels", "debug", "live-restore", "default-runtime", "log-driver", "log-opts", "dashboard", "userns-remap", "storage-driver"] as const;

/** The keys a SIGHUP applies to a running daemon (as dockerd reloads them). */
export const RELOADABLE = ["insecure-registries", "registry-mirrors", "labels", "debug", "live-restore", "default-runtime"] as const;

/** dockerd's keys that cove has no setting for, and what to do instead. */
const NOT_IN_COVE: Record<string, string> = {
  dns: "give containers DNS servers with --dns (cove run --dns IP); user-defined networks use cove's embedded DNS",
  runtimes: 'cove runs containers on its own runtime or on runc ("runc", when installed); other runtimes cannot be added',
  features: "cove has no optional features to switch on or off",
  "max-concurrent-downloads": "cove pulls 3 layers at once, as dockerd's default",
  "max-concurrent-uploads": "cove pushes 5 layers at once, as dockerd's default",
};

/** The runtimes a container may name. */
const RUNTIMES = ["cove", "runc"];

export interface DaemonFileConfig {
  registry: Pick<RegistryOptions, "insecureRegistries" | "mirrors">;
  dataRoot?: string;
  execRoot?: string;
  /** The default bridge's interface, or "none". */
  bridge?: string;
  bip?: string;
  addressPools?: AddressPool[];
  cgroupParent?: string;
  labels?: string[];
  debug?: boolean;
  defaultRuntime?: string;
  /** Where the web dashboard listens; absent: no dashboard. */
  dashboard?: DashboardSettings;
  /** The account whose subordinate ids containers' user namespaces map ("default": cove-remap). */
  usernsRemap?: string;
  /** How image layers are mounted (a rootless daemon's choice; see src/snapshots/storage-driver.ts). */
  storageDriver?: StorageDriver;
}

/** The web dashboard's listener: a loopback address, or any address with TLS client certificates. */
export interface DashboardSettings {
  host: string;
  port: number;
  /** PEM files: the server's certificate and key, and the CA that signs client certificates. */
  tls?: { cert: string; key: string; ca: string };
}

export const DEFAULT_DASHBOARD_ADDR = "127.0.0.1:9123";

/** Whether a host name or address reaches this machine only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The dashboard's listener from "HOST:PORT" ("[::1]:PORT" for IPv6; port 0 picks a free one).
 * Without TLS client certificates only a loopback host is accepted: the dashboard can start, stop
 * and exec into containers, so anyone reaching it from the network would be root on this host.
 */
export function parseDashboardAddress(addr: string, tls?: DashboardSettings["tls"]): DashboardSettings {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw invalid(`invalid dashboard address ${JSON.stringify(addr)}: give HOST:PORT, e.g. ${DEFAULT_DASHBOARD_ADDR}`, { code: "dashboard.address", field: "dashboard" });
  const host = (m[1] as string).replace(/^\[|\]$/g, "");
  if (!tls && !isLoopbackHost(host)) {
    throw invalid(`the dashboard may listen on ${addr} only with TLS client certificates: ${host} is not a loopback address`, {
      code: "dashboard.tls-required",
      field: "dashboard",
      hint: `give a loopback address (${DEFAULT_DASHBOARD_ADDR}), or TLS files (--tlscert, --tlskey, --tlscacert, or "tls": {"cert", "key", "ca"} in daemon.json) so that only clients with a certificate signed by the CA reach it`,
    });
  }
  return { host, port, ...(tls ? { tls } : {}) };
}

/** A --cgroup-parent value as an absolute cgroupfs path; systemd slices and ".." are refused. */
export function checkCgroupParent(value: string, what = "--cgroup-parent"): string {
  const parts = value.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || value.includes("\0")) throw invalid(`invalid ${what} "${value}": give a cgroup path such as /cove`, { code: "daemon.cgroup-parent", field: "cgroup-parent" });
  if (parts.includes("..")) throw invalid(`invalid ${what} "${value}": ".." could leave the cgroup tree`, { code: "daemon.cgroup-parent", field: "cgroup-parent" });
  if (parts[parts.length - 1]!.endsWith(".slice")) {
    throw invalid(`invalid ${what} "${value}": a systemd slice needs the systemd cgroup driver, which cove does not have`, { code: "daemon.cgroup-parent", field: "cgroup-parent", hint: "give a cgroupfs path such as /cove-test" });
  }
  return `/${parts.join("/")}`;
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
  const absent = Object.keys(rec).find((k) => NOT_IN_COVE[k] !== undefined);
  if (absent !== undefined) {
    throw invalid(`unable to configure the cove daemon with file ${file}: "${absent}" is a dockerd setting cove does not have`, { code: "config.unsupported", field: absent, hint: `${NOT_IN_COVE[absent]}; remove "${absent}" from the file` });
  }
  const unknown = Object.keys(rec).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw invalid(`unable to configure the cove daemon with file ${file}: ${unknown.length === 1 ? "key" : "keys"} ${unknown.map((k) => `"${k}"`).join(", ")} ${unknown.length === 1 ? "is not a setting" : "are not settings"} cove knows`, {
      code: "config.unknown-key",
      field: unknown[0]!,
      hint: `cove reads ${CONFIG_KEYS.map((k) => `"${k}"`).join(", ")}; remove the others`,
    });
  }
  const bad = (key: string, why: string, hint?: string) => invalid(`unable to configure the cove daemon with file ${file}: "${key}" ${why}`, { code: "config.invalid", field: key, ...(hint ? { hint } : {}) });
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
  const out: DaemonFileConfig = { registry: { ...(insecure.length > 0 ? { insecureRegistries: insecure } : {}), ...(mirrors.length > 0 ? { mirrors } : {}) } };
  const absolute = (key: string): string | undefined => {
    const v = rec[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !v.startsWith("/")) throw bad(key, "must be an absolute path");
    return v;
  };
  const dataRoot = absolute("data-root");
  if (dataRoot !== undefined) out.dataRoot = dataRoot;
  const execRoot = absolute("exec-root");
  if (execRoot !== undefined) out.execRoot = execRoot;
  const stringKey = (key: string): string | undefined => {
    const v = rec[key];
    if (v !== undefined && typeof v !== "string") throw bad(key, "must be a string");
    return v;
  };
  const checked = <T>(key: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw invalid(`unable to configure the cove daemon with file ${file}: "${key}": ${(err as Error).message}`, { code: "config.invalid", field: key, cause: err, ...((err as { hint?: string }).hint ? { hint: (err as { hint: string }).hint } : {}) });
    }
  };
  const bridge = stringKey("bridge");
  if (bridge !== undefined) {
    if (bridge !== "none") checked("bridge", () => checkBridgeName(bridge, "bridge"));
    out.bridge = bridge;
  }
  const bip = stringKey("bip");
  if (bip !== undefined) {
    checked("bip", () => defaultBridgePool(bip));
    out.bip = bip;
  }
  const pools = rec["default-address-pools"];
  if (pools !== undefined) {
    if (!Array.isArray(pools) || pools.length === 0) throw bad("default-address-pools", 'must be a non-empty list of {"base": CIDR, "size": PREFIX}');
    out.addressPools = pools.map((p) => checked("default-address-pools", () => parseAddressPool(p)));
  }
  const storage = stringKey("storage-driver");
  if (storage !== undefined) out.storageDriver = checked("storage-driver", () => parseStorageDriver(storage, '"storage-driver"'));
  const cgroupParent = stringKey("cgroup-parent");
  if (cgroupParent !== undefined) out.cgroupParent = checked("cgroup-parent", () => checkCgroupParent(cgroupParent, '"cgroup-parent"'));
  if (rec.labels !== undefined) {
    const labels = list("labels");
    const wrong = labels.find((l) => !/^[^=]+=/.test(l));
    if (wrong !== undefined) throw bad("labels", `holds "${wrong}", not KEY=VALUE`);
    const keys = labels.map((l) => l.slice(0, l.indexOf("=")));
    const dup = keys.find((k, i) => keys.indexOf(k) !== i);
    if (dup !== undefined) throw bad("labels", `sets "${dup}" twice`);
    out.labels = labels;
  }
  for (const key of ["debug", "live-restore"] as const) {
    if (rec[key] !== undefined && typeof rec[key] !== "boolean") throw bad(key, "must be true or false");
  }
  if (rec.debug !== undefined) out.debug = rec.debug as boolean;
  if (rec["live-restore"] === false) throw bad("live-restore", "cannot be false: cove's containers always keep running across a restart of the daemon (each has its own monitor)", 'remove "live-restore", or set it to true');
  if (rec["default-runtime"] !== undefined) {
    const v = rec["default-runtime"];
    if (typeof v !== "string" || !RUNTIMES.includes(v)) throw bad("default-runtime", `must be one of ${RUNTIMES.map((r) => `"${r}"`).join(", ")}`);
    out.defaultRuntime = v;
  }
  if (rec["log-driver"] !== undefined && rec["log-driver"] !== "json-file") throw bad("log-driver", `is ${JSON.stringify(rec["log-driver"])}: cove writes container logs with "json-file" only`);
  const logOpts = rec["log-opts"];
  if (logOpts !== undefined) {
    if (typeof logOpts !== "object" || logOpts === null || Array.isArray(logOpts) || Object.values(logOpts).some((x) => typeof x !== "string")) throw bad("log-opts", "must be an object of strings");
    const opts = Object.keys(logOpts);
    if (opts.length > 0) throw bad("log-opts", `sets ${opts.map((k) => `"${k}"`).join(", ")}: cove's json-file logs take no options yet`, 'remove "log-opts"');
  }
  const remap = stringKey("userns-remap");
  if (remap !== undefined && remap !== "") {
    checked("userns-remap", () => parseRemapSetting(remap));
    out.usernsRemap = remap;
  }
  if (rec.dashboard !== undefined) {
    const dashboard = parseDashboardKey(rec.dashboard, bad);
    if (dashboard) out.dashboard = dashboard;
  }
  return out;
}

/** daemon.json's "dashboard" object; undefined when "enabled" is false. */
function parseDashboardKey(v: unknown, bad: (key: string, why: string, hint?: string) => Error): DashboardSettings | undefined {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  const shape = '{"enabled": true, "addr": "127.0.0.1:9123", "tls": {"cert": FILE, "key": FILE, "ca": FILE}}';
  if (!isObject(v)) throw bad("dashboard", `must be an object: ${shape}`);
  const extra = Object.keys(v).filter((k) => !["enabled", "addr", "tls"].includes(k));
  if (extra.length > 0) throw bad("dashboard", `has ${extra.map((k) => `"${k}"`).join(", ")}, which cove does not know`, `the dashboard takes "enabled", "addr" and "tls": ${shape}`);
  if (v.enabled !== undefined && typeof v.enabled !== "boolean") throw bad("dashboard", '"enabled" must be true or false');
  if (v.addr !== undefined && typeof v.addr !== "string") throw bad("dashboard", '"addr" must be a string HOST:PORT');
  let tls: DashboardSettings["tls"];
  if (v.tls !== undefined) {
    const t = v.tls;
    if (!isObject(t) || Object.keys(t).some((k) => !["cert", "key", "ca"].includes(k)) || ["cert", "key", "ca"].some((k) => typeof t[k] !== "string" || !(t[k] as string).startsWith("/"))) {
      throw bad("dashboard", '"tls" must hold the absolute paths "cert", "key" and "ca" (PEM files; "ca" signs the client certificates the dashboard accepts)');
    }
    tls = { cert: t.cert as string, key: t.key as string, ca: t.ca as string };
  }
  let settings: DashboardSettings;
  try {
    settings = parseDashboardAddress((v.addr as string | undefined) ?? DEFAULT_DASHBOARD_ADDR, tls);
  } catch (err) {
    throw bad("dashboard", `is refused: ${(err as Error).message}`, (err as { hint?: string }).hint);
  }
  return v.enabled === false ? undefined : settings;
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

// Pod networking through the node's CNI configuration, as a kubelet expects of its runtime: the
// first network configuration in the CNI configuration directory (/etc/cni/net.d by default, in
// file-name order, .conflist, .conf or .json, as libcni picks it) is what a cluster's network
// add-on wrote there, and each sandbox's namespace joins it with the list's plugins run in order
// (ADD, each given the one before's result) and leaves it with them run in reverse (DEL). Without
// a configuration there, sandboxes go on cove's own default bridge as before.
//
// What an ADD needs again at DEL (the list as it was, the namespace, the result) is kept per
// sandbox under the daemon's root, so a sandbox leaves its network even after the configuration
// changed or the daemon restarted.

import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { CoveError, invalid, isErrno } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { DEFAULT_CNI_PATH, invokeCni, type CniResult } from "../network/cni.js";

export const DEFAULT_CNI_CONF_DIR = "/etc/cni/net.d";

/** A network configuration list (a single-plugin .conf becomes a list of one). */
export interface CniNetworkList {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
  /** The file it came from. */
  file: string;
}

/** What the runtime hands to plugins that declare the capability (libcni's runtimeConfig). */
export interface PodRuntimeConfig {
  portMappings: { hostPort: number; containerPort: number; protocol: string; hostIP: string }[];
  dns?: { servers: string[]; searches: string[]; options: string[] };
}

export interface PodIdentity {
  name: string;
  namespace: string;
  uid: string;
}

/** One sandbox's attachment, kept until its DEL succeeded. */
interface Attachment {
  network: CniNetworkList;
  netns: string;
  ifName: string;
  args: string;
  runtimeConfig: PodRuntimeConfig;
  result?: CniResult;
}

export interface PodNetworkSettings {
  /** Where network configurations are read; "none": never, sandboxes use cove's bridge. */
  confDir: string;
  /** Where plugin binaries are looked for. */
  binDirs: string[];
  /** Where attachments are kept (the daemon's root/cri/cni). */
  stateDir: string;
  log: (line: string) => void;
}

/** Parses one configuration file's text as a list; throws with what is wrong. */
export function parseNetworkConfig(file: string, text: string): CniNetworkList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalid(`${file}: not JSON (${(err as Error).message})`, { code: "cri.cni-config" });
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw invalid(`${file}: a network configuration is a JSON object`, { code: "cri.cni-config" });
  const o = doc as Record<string, unknown>;
  const name = o.name;
  if (typeof name !== "string" || name === "") throw invalid(`${file}: the network has no "name"`, { code: "cri.cni-config" });
  const cniVersion = typeof o.cniVersion === "string" ? o.cniVersion : "";
  if (file.endsWith(".conflist") || Array.isArray(o.plugins)) {
    if (!Array.isArray(o.plugins) || o.plugins.length === 0) throw invalid(`${file}: "plugins" must list at least one plugin`, { code: "cri.cni-config" });
    const plugins = o.plugins.map((p, i) => {
      if (!p || typeof p !== "object" || Array.isArray(p) || typeof (p as Record<string, unknown>).type !== "string") throw invalid(`${file}: plugins[${i}] has no "type"`, { code: "cri.cni-config" });
      return p as Record<string, unknown>;
    });
    return { cniVersion, name, plugins, file };
  }
  if (typeof o.type !== "string" || o.type === "") throw invalid(`${file}: the network has no plugin "type"`, { code: "cri.cni-config" });
  return { cniVersion, name, plugins: [o], file };
}

/** The address without its prefix length. */
function bareAddress(cidr: string): string {
  return cidr.split("/")[0] ?? "";
}

/** The addresses of a result, IPv4 first (CNI 0.3 and later list them in ips; 0.2 in ip4/ip6). */
export function resultAddresses(r: CniResult | undefined): string[] {
  if (!r) return [];
  const legacy = r as CniResult & { ip4?: { ip?: string }; ip6?: { ip?: string } };
  const all = [...(r.ips ?? []).map((i) => bareAddress(i.address)), ...[legacy.ip4?.ip, legacy.ip6?.ip].filter((a): a is string => !!a).map(bareAddress)];
  return [...all.filter((a) => !a.includes(":")), ...all.filter((a) => a.includes(":"))];
}

/** CNI_ARGS of a pod, as the kubelet's runtimes pass them. */
export function podArgs(pod: PodIdentity, sandboxId: string): string {
  return `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${sandboxId};K8S_POD_UID=${pod.uid}`;
}

/** One plugin's configuration in a list: the list's name and version, the previous result, and the runtime values it declares capabilities for. */
export function pluginConfig(list: CniNetworkList, plugin: Record<string, unknown>, runtimeConfig: PodRuntimeConfig, prevResult: CniResult | undefined): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const caps = plugin.capabilities && typeof plugin.capabilities === "object" ? (plugin.capabilities as Record<string, unknown>) : {};
  const rc: Record<string, unknown> = {};
  if (caps.portMappings === true && runtimeConfig.portMappings.length) rc.portMappings = runtimeConfig.portMappings;
  if (caps.dns === true && runtimeConfig.dns) rc.dns = runtimeConfig.dns;
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  else delete conf.runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

export class PodNetworks {
  private reported = "";
  constructor(private readonly s: PodNetworkSettings) {}

  /** The network sandboxes join now: the first valid configuration in the directory, or undefined (cove's bridge). */
  async current(): Promise<CniNetworkList | undefined> {
    if (this.s.confDir === "none") return undefined;
    let names: string[];
    try {
      names = (await readdir(this.s.confDir)).filter((n) => /\.(conflist|conf|json)$/.test(n)).sort();
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
    const problems: string[] = [];
    for (const n of names) {
      const file = path.join(this.s.confDir, n);
      try {
        const list = parseNetworkConfig(file, await readFile(file, "utf8"));
        this.report(problems);
        return list;
      } catch (err) {
        if (!(err instanceof CoveError) && !isErrno(err, "ENOENT")) throw err;
        problems.push((err as Error).message);
      }
    }
    this.report(problems);
    return undefined;
  }

  /** Where configurations and plugins are looked for, and the network sandboxes join now (undefined: cove's bridge). */
  async describe(): Promise<Record<string, unknown>> {
    const list = await this.current();
    return { confDir: this.s.confDir, binDirs: this.s.binDirs, network: list ? { name: list.name, cniVersion: list.cniVersion, file: list.file, plugins: list.plugins.map((p) => p.type) } : null };
  }

  /** Says once which configuration files were skipped, and why. */
  private report(problems: string[]): void {
    const text = problems.join("; ");
    if (text && text !== this.reported) this.s.log(`CNI: skipped ${text}`);
    this.reported = text;
  }

  private file(sandboxId: string): string {
    return path.join(this.s.stateDir, `${sandboxId}.json`);
  }

  private async attachment(sandboxId: string): Promise<Attachment | undefined> {
    try {
      return JSON.parse(await readFile(this.file(sandboxId), "utf8")) as Attachment;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
  }

  /** The sandbox's addresses on its CNI network, IPv4 first; [] if it has none. */
  async addresses(sandboxId: string): Promise<string[]> {
    return resultAddresses((await this.attachment(sandboxId))?.result);
  }

  /**
   * Joins the namespace to the network: ADD through the list's plugins in order. The attachment
   * is written before the first plugin runs, so a crash half-way is undone by the DEL at the
   * sandbox's stop or removal; a failed ADD is undone here (DEL through all of them) and thrown.
   */
  async add(sandboxId: string, list: CniNetworkList, netns: string, pod: PodIdentity, runtimeConfig: PodRuntimeConfig): Promise<string[]> {
    const a: Attachment = { network: list, netns, ifName: "eth0", args: podArgs(pod, sandboxId), runtimeConfig };
    await mkdir(this.s.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file(sandboxId), JSON.stringify(a), 0o600);
    let result: CniResult | undefined;
    let ran = 0;
    try {
      for (const plugin of list.plugins) {
        // a plugin that failed may have done part of its work: its DEL is part of the undo
        ran++;
        result = (await invokeCni("ADD", pluginConfig(list, plugin, runtimeConfig, result), { containerId: sandboxId, netns, ifName: a.ifName, args: a.args }, this.s.binDirs)) ?? result;
      }
    } catch (err) {
      // ...unless it was not found, and so never ran
      if (err instanceof CoveError && err.code === "network.cni-plugin") ran--;
      await this.del(sandboxId, a, list.plugins.slice(0, ran)).catch((e: unknown) => this.s.log(`CNI: undoing the failed set-up of sandbox ${sandboxId}: ${(e as Error).message}`));
      throw new CoveError("system", `setting up the pod's network "${list.name}" (${list.file}): ${(err as Error).message}`, { code: "cri.cni", cause: err });
    }
    a.result = result;
    await writeFileAtomic(this.file(sandboxId), JSON.stringify(a), 0o600);
    return resultAddresses(result);
  }

  /**
   * Takes the sandbox off its network: DEL through the plugins in reverse, with the list and
   * values of its ADD. A namespace already gone is passed as "" (plugins then release what they
   * hold outside it). Done when nothing was added; the record goes only once every DEL succeeded.
   */
  async remove(sandboxId: string): Promise<void> {
    const a = await this.attachment(sandboxId);
    if (a) await this.del(sandboxId, a, a.network.plugins);
  }

  /** DEL through the plugins in reverse; the record goes once every one succeeded. */
  private async del(sandboxId: string, a: Attachment, plugins: Record<string, unknown>[]): Promise<void> {
    const netns = existsSync(a.netns) ? a.netns : "";
    const failures: string[] = [];
    for (const plugin of [...plugins].reverse()) {
      try {
        await invokeCni("DEL", pluginConfig(a.network, plugin, a.runtimeConfig, a.result), { containerId: sandboxId, netns, ifName: a.ifName, args: a.args }, this.s.binDirs);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    if (failures.length) throw new CoveError("system", `taking the pod off its network "${a.network.name}": ${failures.join("; ")}`, { code: "cri.cni", hint: "the kubelet retries the stop; check the CNI plugins and their configuration" });
    await rm(this.file(sandboxId), { force: true });
  }
}

export const DEFAULT_CNI_BIN_DIRS = ["/opt/cni/bin", ...DEFAULT_CNI_PATH.filter((d) => d !== "/opt/cni/bin")];

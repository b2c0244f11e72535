// CNI plugin execution per the CNI spec (../shared/specs/cni): the plugin binary is found on the
// CNI path, run with CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH in its environment
// and the network configuration on stdin; success is exit 0 with a result on stdout (ADD), failure
// a non-zero exit with an error object on stdout. cove drives macvlan, ipvlan and any other
// plugin this way, handing addresses from its own IPAM to the "static" IPAM plugin.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { invalid, systemError } from "../common/errors.js";

export const DEFAULT_CNI_PATH = ["/usr/lib/cni", "/opt/cni/bin"];
export const CNI_VERSION = "1.0.0";

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: CniIp[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

export interface CniRuntime {
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS: extra KEY=VALUE;... pairs (the kubelet's pod identity). */
  args?: string;
}

export function findPlugin(type: string, dirs: string[]): string | undefined {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) return undefined;
  for (const d of dirs) {
    const p = path.join(d, type);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Runs one CNI operation; ADD resolves with the plugin's result, DEL and CHECK with undefined. */
export function invokeCni(command: "ADD" | "DEL" | "CHECK" | "VERSION", config: Record<string, unknown>, rt: CniRuntime, dirs: string[] = DEFAULT_CNI_PATH): Promise<CniResult | undefined> {
  const type = String(config.type ?? "");
  const plugin = findPlugin(type, dirs);
  if (!plugin) {
    return Promise.reject(invalid(`CNI plugin "${type}" was not found in ${dirs.join(":")}`, { code: "network.cni-plugin", hint: "install Debian's containernetworking-plugins package, or check the network's driver name" }));
  }
  return new Promise((resolve, reject) => {
    const env = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      CNI_COMMAND: command,
      CNI_CONTAINERID: rt.containerId,
      CNI_NETNS: rt.netns,
      CNI_IFNAME: rt.ifName,
      CNI_PATH: dirs.join(":"),
      ...(rt.args ? { CNI_ARGS: rt.args } : {}),
    };
    const child = spawn(plugin, [], { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(systemError(`running CNI plugin ${plugin}: ${e.message}`, { code: "network.cni" })));
    child.on("close", (code) => {
      const text = Buffer.concat(out).toString("utf8").trim();
      if (code !== 0) {
        let msg = Buffer.concat(err).toString("utf8").trim() || `exit status ${code}`;
        try {
          const e = JSON.parse(text) as { code?: number; msg?: string; details?: string };
          msg = `${e.msg ?? "error"}${e.details ? `: ${e.details}` : ""} (CNI error code ${e.code ?? "?"})`;
        } catch {
          // not a CNI error object (not JSON, or JSON null): stderr says more, and it is in the error
        }
        reject(systemError(`CNI plugin ${type} ${command} failed: ${msg}`, { code: "network.cni" }));
        return;
      }
      if (command !== "ADD") {
        resolve(undefined);
        return;
      }
      try {
        resolve(JSON.parse(text) as CniResult);
      } catch {
        reject(systemError(`CNI plugin ${type} ADD printed no valid result: ${text.slice(0, 200)}`, { code: "network.cni" }));
      }
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(JSON.stringify(config));
  });
}

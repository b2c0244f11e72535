// What the network service does to the host's kernel outside the sandboxes' endpoints: bridges
// and their gateway addresses, sysctls, the shared netns directory, and a container's network
// namespace file. Functions of their arguments only; the service's state stays in core.ts.

import { readFileSync, writeFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { conflict, isErrno, systemError } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { addon } from "../native/addon.js";
import { parseCidr } from "./ipam.js";
import { Netlink, netlinkFailure } from "./netlink.js";
import type { NetworkRecord, SandboxRecord } from "./types.js";

/** The netns directory is a shared mount, so an unmount there reaches copies in containers' mount namespaces. */
export async function prepareNetnsDir(netnsDir: string): Promise<void> {
  await mkdir(netnsDir, { recursive: true, mode: 0o755 });
  const a = addon();
  const c = a.constants;
  const mounts = readFileSync("/proc/self/mountinfo", "utf8");
  const isMount = mounts.split("\n").some((l) => l.split(" ")[4] === netnsDir);
  if (!isMount) a.mount(netnsDir, netnsDir, null, c.MS_BIND | c.MS_REC, null);
  try {
    a.mount(null, netnsDir, null, c.MS_SHARED | c.MS_REC, null);
  } catch (err) {
    // the host refuses: unmounts still work in the daemon's namespace
    ignored(`make ${netnsDir} a shared mount`, err);
  }
}

export function linkExists(name: string): boolean {
  const nl = Netlink.open();
  try {
    return nl.link(name) !== undefined;
  } finally {
    nl.close();
  }
}

export function deleteLinkQuiet(name: string, log: (line: string) => void): void {
  const nl = Netlink.open();
  try {
    nl.deleteLink(name);
  } catch (err) {
    log(`removing ${name}: ${(err as Error).message}`);
  } finally {
    nl.close();
  }
}

/** Creates the bridge with its gateway addresses when missing, and brings it up. */
export function ensureBridge(n: NetworkRecord): void {
  const name = n.bridge!;
  const nl = Netlink.open();
  try {
    let link = nl.link(name);
    if (!link) {
      nl.createBridge(name, n.mtu ? { mtu: n.mtu } : {});
      link = nl.link(name);
      if (!link) throw systemError(`bridge ${name} vanished after creation`, { code: "network.bridge" });
    }
    if (link.kind && link.kind !== "bridge") throw conflict(`interface ${name} exists and is not a bridge`, { code: "network.bridge-name", hint: "choose another com.docker.network.bridge.name" });
    if (n.pools.some((p) => p.subnet.includes(":"))) writeSysctl(`net/ipv6/conf/${name}/disable_ipv6`, "0");
    const have = new Set(nl.addresses().filter((a) => a.index === link.index).map((a) => `${a.address}/${a.prefixLen}`));
    for (const p of n.pools) {
      const prefix = parseCidr(p.subnet).prefix;
      if (!have.has(`${p.gateway}/${prefix}`)) nl.addAddress(link.index, p.gateway, prefix);
    }
    if (!link.up) nl.setUp(name);
  } catch (err) {
    throw netlinkFailure(err, `setting up bridge ${name} for network ${n.Name}`);
  } finally {
    nl.close();
  }
  writeSysctl(`net/ipv4/conf/${name}/route_localnet`, "1");
  if (!n.Internal) {
    writeSysctl("net/ipv4/ip_forward", "1");
    if (n.pools.some((p) => p.subnet.includes(":"))) writeSysctl("net/ipv6/conf/all/forwarding", "1");
  }
}

function writeSysctl(key: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${key}`, value);
  } catch (err) {
    // a read-only /proc/sys or a missing key: the network still works for what the kernel allows
    ignored(`set sysctl ${key.replaceAll("/", ".")} to ${value}`, err);
  }
}

/** Creates the namespace file and brings its loopback up. */
export async function makeNamespace(sb: SandboxRecord): Promise<void> {
  await writeFile(sb.netns, "", { mode: 0o644 });
  try {
    addon().netnsCreate(sb.netns);
  } catch (err) {
    throw systemError(`creating the network namespace of ${sb.containerId}: ${(err as Error).message}`, { code: "network.netns" });
  }
  const nl = Netlink.open(sb.netns);
  try {
    nl.setUp("lo");
  } finally {
    nl.close();
  }
}

export async function removeNetns(file: string): Promise<void> {
  try {
    addon().umount2(file, addon().constants.MNT_DETACH);
  } catch (err) {
    if (!isErrno(err, "EINVAL", "ENOENT")) throw err;
  }
  await rm(file, { force: true });
}

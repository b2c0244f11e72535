// What the network service does to the host's kernel outside the sandboxes' endpoints: bridges
// and their gateway addresses, sysctls, the shared netns directory, and a container's network
// namespace file. Functions of their arguments only; the service's state stays in core.ts.

import { readFileSync, writeFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { conflict, isErrno, systemError } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { addon } from "../native/addon.js";
import { contains, parseCidr, parseIp } from "./ipam.js";
import { AF_INET, Netlink, netlinkFailure } from "./netlink.js";
import type { NetworkRecord, SandboxRecord } from "./types.js";

/**
 * The netns directory is a shared mount, so an unmount there reaches copies in containers' mount
 * namespaces. Returns whether this call made the mount (a service that then fails to open takes
 * it back).
 */
export async function prepareNetnsDir(netnsDir: string): Promise<boolean> {
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
  return !isMount;
}

/** Detaches a mount, logging a failure instead of throwing (a cleanup on a failure path). */
export function unmountQuiet(target: string, log: (line: string) => void): void {
  try {
    addon().umount2(target, addon().constants.MNT_DETACH);
  } catch (err) {
    if (!isErrno(err, "EINVAL", "ENOENT")) log(`unmounting ${target}: ${(err as Error).message}`);
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

/**
 * Creates the bridge with its gateway addresses when missing, and brings it up; returns whether it
 * made the interface. cove marks its bridges with the alias `owner` ("cove <root>"): a bridge
 * another cove instance marked, or one holding IPv4 addresses outside the network's subnets
 * (dockerd's, a host's), is refused untouched, so two daemons never share a bridge.
 */
export function ensureBridge(n: NetworkRecord, owner: string): boolean {
  const name = n.bridge!;
  const nl = Netlink.open();
  let created = false;
  try {
    let link = nl.link(name);
    if (!link) {
      nl.createBridge(name, n.mtu ? { mtu: n.mtu } : {});
      created = true;
      link = nl.link(name);
      if (!link) throw systemError(`bridge ${name} vanished after creation`, { code: "network.bridge" });
    }
    if (link.kind && link.kind !== "bridge") throw conflict(`interface ${name} exists and is not a bridge`, { code: "network.bridge-name", hint: "choose another com.docker.network.bridge.name" });
    const index = link.index;
    const addresses = nl.addresses().filter((a) => a.index === index);
    if (!created) refuseForeignBridge(n, link.alias, addresses, owner);
    if (link.alias !== owner) nl.setAlias(name, owner);
    if (n.pools.some((p) => p.subnet.includes(":"))) writeSysctl(`net/ipv6/conf/${name}/disable_ipv6`, "0");
    const have = new Set(addresses.map((a) => `${a.address}/${a.prefixLen}`));
    for (const p of n.pools) {
      const prefix = parseCidr(p.subnet).prefix;
      if (!have.has(`${p.gateway}/${prefix}`)) nl.addAddress(index, p.gateway, prefix);
    }
    if (!link.up) nl.setUp(name);
  } catch (err) {
    if (created) {
      try {
        nl.deleteLink(name);
      } catch (e) {
        ignored(`remove bridge ${name} after setting it up failed`, e);
      }
    }
    throw netlinkFailure(err, `setting up bridge ${name} for network ${n.Name}`);
  } finally {
    nl.close();
  }
  writeSysctl(`net/ipv4/conf/${name}/route_localnet`, "1");
  if (!n.Internal) {
    writeSysctl("net/ipv4/ip_forward", "1");
    if (n.pools.some((p) => p.subnet.includes(":"))) writeSysctl("net/ipv6/conf/all/forwarding", "1");
  }
  return created;
}

/** Fails when an existing bridge belongs to someone else: another cove instance's alias, or IPv4 addresses outside the network's subnets. */
function refuseForeignBridge(n: NetworkRecord, alias: string, addresses: { family: number; address: string; prefixLen: number }[], owner: string): void {
  const name = n.bridge!;
  const hint = n.Name === "bridge" ? "give this daemon its own default bridge (cove daemon --bridge NAME --bip CIDR, or daemon.json's \"bridge\" and \"bip\")" : "give the network another com.docker.network.bridge.name";
  if (alias.startsWith("cove ") && alias !== owner) {
    throw conflict(`bridge ${name} belongs to another cove daemon (the one on ${alias.slice("cove ".length)})`, { code: "network.bridge-in-use", hint });
  }
  if (alias === owner) return; // this instance's own
  const pools = n.pools.map((p) => parseCidr(p.subnet));
  const foreign = addresses.filter((a) => a.family === AF_INET && !pools.some((c) => c.family === 4 && c.prefix === a.prefixLen && contains(c, parseIp(a.address).value)));
  if (foreign.length > 0) {
    throw conflict(`bridge ${name} exists with ${foreign.map((a) => `${a.address}/${a.prefixLen}`).join(", ")}, outside network ${n.Name}'s subnets (${n.pools.map((p) => p.subnet).join(", ")}): another daemon or the host uses it`, { code: "network.bridge-in-use", hint });
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

// The firewall for bridge networks, in iptables/ip6tables (Debian's iptables package, nf_tables
// backend or legacy alike). cove owns a few chains per daemon instance and rewrites them whole
// from its state with one iptables-restore call per family: declaring a chain in a restore file
// flushes it, so a rewrite is atomic per table and never leaves a stale rule. A change of
// published ports alone adds and deletes just their rules (one restore call, atomic as well).
//
//   filter FORWARD     -> COVE-FORWARD<tag>: isolation between networks, egress, replies, DNATed traffic
//   nat PREROUTING     -> COVE-DNAT<tag> (local destinations): published ports
//   nat OUTPUT         -> COVE-DNAT<tag> (local destinations): published ports reached from the host
//   nat POSTROUTING    -> COVE-POSTROUTING<tag>: masquerade for egress, hairpin, 127.0.0.1 sources
//
// Isolation follows Docker's two stages: traffic entering from one cove bridge and leaving by
// another cove bridge is dropped. Internal networks accept traffic only within their bridge.

import { spawn, spawnSync } from "node:child_process";
import { systemError } from "../common/errors.js";
import { parseCidr } from "./ipam.js";

export interface FirewallNetwork {
  bridge: string;
  /** Subnets of the network (either family). */
  subnets: string[];
  internal: boolean;
  masquerade: boolean;
  /** Inter-container communication (enable_icc). */
  icc: boolean;
}

export interface FirewallPort {
  proto: "tcp" | "udp" | "sctp";
  /** "" or 0.0.0.0/:: for any address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  bridge: string;
}

export interface ChainNames {
  forward: string;
  isolation1: string;
  isolation2: string;
  dnat: string;
  postrouting: string;
}

export function chainNames(tag: string): ChainNames {
  const t = tag ? `-${tag}` : "";
  return { forward: `COVE-FORWARD${t}`, isolation1: `COVE-ISOLATION1${t}`, isolation2: `COVE-ISOLATION2${t}`, dnat: `COVE-DNAT${t}`, postrouting: `COVE-POSTROUTING${t}` };
}

const familyOf = (cidrOrIp: string): 4 | 6 => (cidrOrIp.includes(":") ? 6 : 4);

/** The iptables-restore input for one family. */
export function restoreText(tag: string, family: 4 | 6, networks: FirewallNetwork[], ports: FirewallPort[]): string {
  const c = chainNames(tag);
  const f: string[] = ["*filter", `:${c.forward} - [0:0]`, `:${c.isolation1} - [0:0]`, `:${c.isolation2} - [0:0]`];
  f.push(`-A ${c.forward} -j ${c.isolation1}`);
  for (const n of networks) {
    f.push(`-A ${c.isolation1} -i ${n.bridge} ! -o ${n.bridge} -j ${c.isolation2}`);
    f.push(`-A ${c.isolation2} -o ${n.bridge} -j DROP`);
    if (n.internal) {
      f.push(`-A ${c.forward} -i ${n.bridge} -o ${n.bridge} -j ${n.icc ? "ACCEPT" : "DROP"}`);
      f.push(`-A ${c.forward} -i ${n.bridge} -j DROP`, `-A ${c.forward} -o ${n.bridge} -j DROP`);
      continue;
    }
    if (!n.icc) f.push(`-A ${c.forward} -i ${n.bridge} -o ${n.bridge} -j DROP`);
    f.push(`-A ${c.forward} -o ${n.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    f.push(`-A ${c.forward} -o ${n.bridge} -m conntrack --ctstate DNAT -j ACCEPT`);
    f.push(`-A ${c.forward} -i ${n.bridge} -j ACCEPT`);
  }
  f.push("COMMIT");

  const nat: string[] = ["*nat", `:${c.dnat} - [0:0]`, `:${c.postrouting} - [0:0]`];
  for (const n of networks) {
    for (const s of n.subnets) {
      if (familyOf(s) !== family) continue;
      if (!n.internal && n.masquerade) nat.push(`-A ${c.postrouting} -s ${s} ! -o ${n.bridge} -j MASQUERADE`);
    }
    // the host reaching a published port through 127.0.0.1: the reply must come back to the host
    if (family === 4 && !n.internal) nat.push(`-A ${c.postrouting} -s 127.0.0.0/8 -o ${n.bridge} -j MASQUERADE`);
  }
  // each once: the rules of ports that share a container port are the same hairpin rule
  nat.push(...new Set(portRules(tag, family, ports)));
  nat.push("COMMIT");
  return `${f.join("\n")}\n${nat.join("\n")}\n`;
}

/**
 * The nat rules of the published ports of one family ("-A CHAIN ..." lines). None depends on its
 * place in its chain (one DNAT per host address, port and protocol; MASQUERADE rules alike), so
 * they can be added and deleted one by one.
 */
export function portRules(tag: string, family: 4 | 6, ports: FirewallPort[]): string[] {
  const c = chainNames(tag);
  const out: string[] = [];
  for (const p of ports) {
    if (familyOf(p.containerIp) !== family) continue;
    const any = p.hostIp === "" || p.hostIp === "0.0.0.0" || p.hostIp === "::";
    if (!any && familyOf(p.hostIp) !== family) continue;
    const dst = any ? "" : ` -d ${p.hostIp}/${family === 4 ? 32 : 128}`;
    const to = family === 4 ? `${p.containerIp}:${p.containerPort}` : `[${p.containerIp}]:${p.containerPort}`;
    out.push(`-A ${c.dnat}${dst} -p ${p.proto} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${to}`);
    // hairpin: a container reaching its own published port
    out.push(`-A ${c.postrouting} -s ${p.containerIp} -d ${p.containerIp} -p ${p.proto} -m ${p.proto} --dport ${p.containerPort} -j MASQUERADE`);
  }
  return out;
}

/**
 * The iptables-restore input that turns the port rules `from` into `to` (both from portRules), for
 * chains that hold `from` and are otherwise as restoreText wrote them; undefined when nothing changes.
 */
export function portChangeText(from: ReadonlySet<string>, to: ReadonlySet<string>): string | undefined {
  const removed = [...from].filter((r) => !to.has(r)).map((r) => `-D${r.slice(2)}`);
  const added = [...to].filter((r) => !from.has(r));
  if (removed.length === 0 && added.length === 0) return undefined;
  return ["*nat", ...removed, ...added, "COMMIT", ""].join("\n");
}

/** The jumps from the built-in chains into cove's, as [table, chain, rule]. */
export function jumpRules(tag: string): [string, string, string][] {
  const c = chainNames(tag);
  return [
    ["filter", "FORWARD", `-j ${c.forward}`],
    ["nat", "PREROUTING", `-m addrtype --dst-type LOCAL -j ${c.dnat}`],
    ["nat", "OUTPUT", `-m addrtype --dst-type LOCAL -j ${c.dnat}`],
    ["nat", "POSTROUTING", `-j ${c.postrouting}`],
  ];
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stderr: Buffer.concat(err).toString().trim() }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
}

const tools = { 4: { save: "iptables", restore: "iptables-restore" }, 6: { save: "ip6tables", restore: "ip6tables-restore" } } as const;

/** Whether ip6tables works here (the kernel may lack IPv6 netfilter). */
export function ip6tablesAvailable(): boolean {
  const r = spawnSync("ip6tables", ["-w", "-t", "nat", "-S", "POSTROUTING"], { stdio: "ignore" });
  return r.status === 0;
}

export class Firewall {
  private queue: Promise<unknown> = Promise.resolve();
  /** Families whose jumps were checked since the start (a rewrite of cove's chains keeps them). */
  private readonly jumped = new Set<4 | 6>();
  /** What cove's chains hold per family since the last write: the networks (as JSON) and the port rules. */
  private readonly written = new Map<4 | 6, { networks: string; rules: Set<string> }>();
  constructor(
    readonly tag: string,
    private readonly families: (4 | 6)[],
  ) {}

  /** Serializes firewall changes (iptables holds a lock, and the order of rewrites matters). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.queue.then(fn, fn);
    // the caller gets the failure through r; the queue only keeps the order
    this.queue = r.catch(() => undefined);
    return r;
  }

  /**
   * Writes cove's chains from the state, then makes sure the built-in chains jump to them. When
   * only published ports changed since the last write, only their rules are added and deleted: a
   * whole rewrite takes longer the more ports there are (130 ms at 3,000), adding one rule a few ms.
   */
  apply(networks: FirewallNetwork[], ports: FirewallPort[]): Promise<void> {
    return this.serial(async () => {
      const networksKey = JSON.stringify(networks);
      for (const family of this.families) {
        const rules = new Set(portRules(this.tag, family, ports));
        const last = this.written.get(family);
        // unknown until this write is through
        this.written.delete(family);
        const change = last?.networks === networksKey ? portChangeText(last.rules, rules) : restoreText(this.tag, family, networks, ports);
        if (change !== undefined) {
          let r = await run(tools[family].restore, ["-w", "--noflush"], change);
          // chains changed behind cove's back (flushed, removed) refuse a rule's deletion or addition: write them whole
          if (r.code !== 0 && last?.networks === networksKey) r = await run(tools[family].restore, ["-w", "--noflush"], restoreText(this.tag, family, networks, ports));
          if (r.code !== 0) throw systemError(`${tools[family].restore} failed: ${r.stderr}`, { code: "network.iptables", hint: "check that the iptables package is installed and the kernel has netfilter (nf_tables or legacy)" });
        }
        this.written.set(family, { networks: networksKey, rules });
        await this.ensureJumps(family);
      }
    });
  }

  private async ensureJumps(family: 4 | 6): Promise<void> {
    if (this.jumped.has(family)) return;
    const cmd = tools[family].save;
    for (const [table, chain, rule] of jumpRules(this.tag)) {
      const args = rule.split(" ");
      if ((await run(cmd, ["-w", "-t", table, "-C", chain, ...args])).code === 0) continue;
      const r = await run(cmd, ["-w", "-t", table, "-I", chain, "1", ...args]);
      if (r.code !== 0) throw systemError(`${cmd} -t ${table} -I ${chain}: ${r.stderr}`, { code: "network.iptables" });
    }
    this.jumped.add(family);
  }

  /** Removes the jumps and cove's chains (the whole firewall of this instance). */
  remove(): Promise<void> {
    return this.serial(async () => {
      const c = chainNames(this.tag);
      const failures: string[] = [];
      for (const family of this.families) {
        this.jumped.delete(family);
        this.written.delete(family);
        const cmd = tools[family].save;
        for (const [table, chain, rule] of jumpRules(this.tag)) {
          while ((await run(cmd, ["-w", "-t", table, "-D", chain, ...rule.split(" ")])).code === 0) {
            // a rule inserted twice is removed twice
          }
        }
        for (const [table, chains] of [["filter", [c.forward, c.isolation1, c.isolation2]], ["nat", [c.dnat, c.postrouting]]] as const) {
          for (const ch of chains) await run(cmd, ["-w", "-t", table, "-F", ch]);
          for (const ch of chains) {
            const r = await run(cmd, ["-w", "-t", table, "-X", ch]);
            if (r.code !== 0 && !/No chain|does not exist/i.test(r.stderr)) failures.push(`${cmd} -t ${table} -X ${ch}: ${r.stderr}`);
          }
        }
      }
      if (failures.length) throw systemError(`removing cove's firewall chains: ${failures.join("; ")}`, { code: "network.iptables" });
    });
  }
}

/** Whether a host address is the "any" address of its family. */
export function isAnyAddress(ip: string): boolean {
  return ip === "" || ip === "0.0.0.0" || ip === "::";
}

/** Validates a host address for a port binding. */
export function checkHostIp(ip: string): void {
  if (isAnyAddress(ip)) return;
  parseCidr(`${ip}/${ip.includes(":") ? 128 : 32}`, "HostIp");
}

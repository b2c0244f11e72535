// Port publishing and the firewall: the ports a sandbox publishes (planned from the container's
// bindings, checked against other sandboxes', held by sockets on the host) and the firewall rules
// made from every bridge network and every published port.

import dgram from "node:dgram";
import net from "node:net";
import { conflict, CoveError, invalid, isErrno, systemError, unsupported } from "../common/errors.js";
import { checkHostIp, isAnyAddress, type FirewallNetwork, type FirewallPort } from "./firewall.js";
import type { EndpointRecord, PortRecord, SandboxRecord } from "./types.js";
import { HOST_BINDING_OPT, ICC_OPT, MASQ_OPT, type Held, type HostPortPublisher, type NetworkCore, type SandboxRequest } from "./core.js";

export class Ports {
  constructor(private readonly core: NetworkCore) {}

  /** The ports a sandbox publishes on its first bridge endpoint, from the container's bindings (and -P's exposed ports). */
  plan(req: SandboxRequest, ep: EndpointRecord): PortRecord[] {
    const n = this.core.networks.get(ep.networkId)!;
    const out: PortRecord[] = [];
    const bindings = { ...(req.portBindings ?? {}) };
    if (req.publishAll) for (const k of Object.keys(req.exposedPorts ?? {})) if (!bindings[k]?.length) bindings[k] = [{ HostIp: "", HostPort: "" }];
    const defaultIp = n.Options[HOST_BINDING_OPT] ?? "0.0.0.0";
    for (const [key, list] of Object.entries(bindings)) {
      const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
      if (!m) throw invalid(`invalid port specification: "${key}"`, { code: "network.port" });
      const containerPort = Number(m[1]);
      const proto = (m[2] ?? "tcp") as PortRecord["proto"];
      if (proto === "sctp") throw unsupported("publishing SCTP ports is not supported", { code: "network.sctp" });
      for (const b of list ?? []) {
        const hostIp = b.HostIp || defaultIp;
        checkHostIp(hostIp);
        if (hostIp.includes(":") && !ep.ipv6) continue; // an IPv6 host address for an IPv4-only container
        const range = (b.HostPort ?? "").trim();
        const rm = /^(\d*)(?:-(\d+))?$/.exec(range);
        if (!rm) throw invalid(`invalid hostPort: ${range}`, { code: "network.port" });
        const lo = rm[1] ? Number(rm[1]) : 0;
        const hi = rm[2] ? Number(rm[2]) : lo;
        if (lo > 65535 || hi > 65535 || hi < lo) throw invalid(`invalid hostPort: ${range}`, { code: "network.port" });
        out.push({ proto, hostIp, hostPort: lo === hi ? lo : -hi * 65536 - lo, containerPort, containerIp: hostIp.includes(":") ? ep.ipv6! : ep.ipv4!, bridge: n.bridge! });
      }
    }
    return out;
  }

  /** Fails when another sandbox publishes one of the ports on the same host address. */
  checkFree(sb: SandboxRecord, ports: PortRecord[], prefix: string): void {
    for (const p of ports) {
      const taken = [...this.core.sandboxes.values()].some((o) => o !== sb && o.ports.some((q) => q.proto === p.proto && q.hostPort === p.hostPort && (isAnyAddress(q.hostIp) || isAnyAddress(p.hostIp) || q.hostIp === p.hostIp)));
      if (taken) throw conflict(`${prefix}: Bind for ${p.hostIp}:${p.hostPort} failed: port is already allocated`, { code: "network.port-allocated" });
    }
  }

  private firewallState(): { networks: FirewallNetwork[]; ports: FirewallPort[] } {
    const networks: FirewallNetwork[] = [];
    for (const n of this.core.networks.values()) {
      if (n.Driver !== "bridge" || !n.bridge) continue;
      networks.push({ bridge: n.bridge, subnets: n.pools.map((p) => p.subnet), internal: n.Internal, masquerade: n.Options[MASQ_OPT] !== "false", icc: n.Options[ICC_OPT] !== "false" });
    }
    const ports: FirewallPort[] = [];
    for (const sb of this.core.sandboxes.values()) for (const p of sb.ports) ports.push({ ...p });
    return { networks, ports };
  }

  /** Resolves once no rewrite runs or waits (a removal of the chains must come after the last one). */
  async applied(): Promise<void> {
    await this.applying.catch(() => undefined);
  }

  /** The apply running now, and the one queued behind it that every caller meanwhile shares. */
  private applying: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;

  /**
   * Makes the firewall rules of every bridge network and every published port, as they are when
   * the rewrite begins. A rewrite takes longer the more ports there are (tens of ms at 1,000), so
   * calls made while one runs share the next one instead of queueing one each: many starts at
   * once cost a few rewrites, not one per container.
   */
  applyFirewall(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.applying
      .catch(() => undefined)
      .then(async () => {
        this.queued = undefined;
        const s = this.firewallState();
        await this.core.firewall.apply(s.networks, s.ports);
      });
    this.queued = next;
    this.applying = next;
    return next;
  }
}

/**
 * Holds each published host port with a socket, so the port is really the container's: a host
 * process cannot take it, and a taken one fails the start with Docker's error. Traffic never
 * reaches these sockets (the DNAT rules take it first). Range bindings take the first free port;
 * port 0 takes an ephemeral one. Rewrites the records' hostPort with the port held.
 */
export async function holdPorts(ports: PortRecord[], hostPorts?: HostPortPublisher): Promise<Held[]> {
  const held: Held[] = [];
  try {
    for (const p of ports) {
      const candidates: number[] = [];
      if (p.hostPort >= 0) candidates.push(p.hostPort);
      else {
        const enc = -p.hostPort;
        const lo = enc % 65536;
        const hi = Math.floor(enc / 65536);
        for (let x = lo; x <= hi; x++) candidates.push(x);
      }
      let lastErr: unknown;
      let ok = false;
      for (const port of candidates) {
        try {
          const h = await holdOne(p.proto, p.hostIp, port);
          // a rootless daemon's namespace is not the host's: its port driver listens there too
          let outside: Held | undefined;
          try {
            outside = await hostPorts?.expose({ ...p, hostPort: h.port });
          } catch (err) {
            h.held.close();
            throw err;
          }
          held.push(h.held);
          if (outside) held.push(outside);
          p.hostPort = h.port;
          ok = true;
          break;
        } catch (err) {
          lastErr = err;
        }
      }
      if (!ok) {
        if (lastErr instanceof CoveError) throw lastErr;
        const what = `${p.hostIp}:${candidates.length > 1 ? `${candidates[0]}-${candidates[candidates.length - 1]}` : candidates[0]}`;
        if (isErrno(lastErr, "EADDRINUSE")) throw conflict(`failed to bind host port for ${what}:${p.containerIp}:${p.containerPort}/${p.proto}: address already in use`, { code: "network.port-in-use" });
        if (isErrno(lastErr, "EADDRNOTAVAIL")) throw invalid(`failed to bind host port for ${what}:${p.containerIp}:${p.containerPort}/${p.proto}: cannot assign requested address`, { code: "network.port-address" });
        throw systemError(`failed to bind host port for ${what}/${p.proto}: ${(lastErr as Error).message}`, { code: "network.port" });
      }
    }
  } catch (err) {
    for (const h of held) h.close();
    throw err instanceof CoveError ? err : systemError((err as Error).message);
  }
  return held;
}

function holdOne(proto: PortRecord["proto"], hostIp: string, port: number): Promise<{ held: Held; port: number }> {
  const host = isAnyAddress(hostIp) ? hostIp || "0.0.0.0" : hostIp;
  return new Promise((resolve, reject) => {
    if (proto === "udp") {
      const s = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4", ipv6Only: host.includes(":") });
      s.once("error", reject);
      s.bind({ address: host, port, exclusive: true }, () => {
        s.off("error", reject);
        s.unref();
        resolve({ held: { close: () => s.close() }, port: s.address().port });
      });
      return;
    }
    const server = net.createServer((c) => c.destroy());
    server.once("error", reject);
    server.listen({ host, port, exclusive: true, ipv6Only: host.includes(":"), backlog: 1 }, () => {
      server.off("error", reject);
      server.unref();
      resolve({ held: { close: () => server.close() }, port: (server.address() as net.AddressInfo).port });
    });
  });
}


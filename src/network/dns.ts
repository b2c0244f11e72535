// Joins the network service to cove's embedded DNS server: one server in the daemon's namespace
// listens on the gateway of every user-defined bridge network (containers' resolv.conf points
// there), answers container names, aliases and short ids of the network the query arrived on,
// and forwards the rest to the resolvers the network service names. Internal networks never
// forward. Listeners follow networks as they are created and removed.

import { ignoring } from "../common/ignore.js";
import { DnsServer, type DnsBackend, type DnsClient, type DnsScope } from "../dns/index.js";
import type { DnsNetwork, NetworkService } from "./service.js";

export interface NetworkDns {
  close(): Promise<void>;
}

export interface NetworkDnsOptions {
  /** Port the server listens on (53; tests may choose another). */
  port?: number;
  log?: (message: string) => void;
}

/** Starts the embedded DNS for every DNS-served network, now and as networks come and go. */
export async function serveNetworkDns(network: NetworkService, opts: NetworkDnsOptions = {}): Promise<NetworkDns> {
  const port = opts.port ?? 53;
  const log = opts.log ?? (() => undefined);
  // listen address → network id: the address a query arrives on says which network asked
  const byAddress = new Map<string, string>();
  const networkOf = (from: DnsClient) => byAddress.get(from.localAddress);

  const backend: DnsBackend = {
    scope(from): DnsScope | undefined {
      const id = networkOf(from);
      if (!id) return undefined;
      return { forward: !network.isInternal(id), upstreams: network.upstreams(from.address).map((address) => ({ address })) };
    },
    lookup(name, type, from) {
      const id = networkOf(from);
      if (!id) return "unknown";
      const addresses = network.resolve(id, name, type === "A" ? 4 : 6);
      if (addresses.length) return { addresses };
      // a container name without addresses of this family: an empty answer, never forwarded
      return network.resolve(id, name, type === "A" ? 6 : 4).length ? { addresses: [] } : "unknown";
    },
    reverse(ip) {
      return network.reverse(ip) ?? "unknown";
    },
  };
  const server = new DnsServer({ backend, onError: (message) => log(`dns: ${message}`) });

  const add = async (n: DnsNetwork) => {
    if (byAddress.get(n.address) === n.networkId) return;
    if (byAddress.has(n.address)) {
      // the address's listener is up for a network going away: it serves the new one now
      byAddress.set(n.address, n.networkId);
      return;
    }
    try {
      await server.listen(n.address, port);
      byAddress.set(n.address, n.networkId);
    } catch (err) {
      // names on this network will not resolve; the network itself still works
      log(`dns: cannot serve network ${n.name} on ${n.address}:${port}: ${(err as Error).message}`);
    }
  };
  const remove = async (n: DnsNetwork) => {
    // a network made since on the same address keeps its listener
    if (byAddress.get(n.address) !== n.networkId) return;
    byAddress.delete(n.address);
    await server.unlisten(n.address, port).catch(ignoring(`dns: stop serving network ${n.name} on ${n.address}:${port}`, log));
  };

  // the listeners are attached before the existing networks are read, so none is missed
  const pending = new Set<Promise<void>>();
  // One address's creates and removes run in the order they came: a network removed and another
  // made at once on the same gateway (compose down then up, kube down then play) must not end
  // with the old one's removal taking the new one's listener.
  const byAddressChain = new Map<string, Promise<void>>();
  const track = (address: string, op: () => Promise<void>) => {
    const p = (byAddressChain.get(address) ?? Promise.resolve()).then(op);
    byAddressChain.set(address, p);
    pending.add(p);
    void p.finally(() => {
      pending.delete(p);
      if (byAddressChain.get(address) === p) byAddressChain.delete(address);
    });
  };
  const unsubscribe = network.onDnsNetwork((action, n) => track(n.address, () => (action === "create" ? add(n) : remove(n))));
  await Promise.all(network.dnsNetworks().map(add));

  return {
    async close() {
      unsubscribe();
      await Promise.all(pending);
      await server.close();
    },
  };
}

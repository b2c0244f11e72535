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
    try {
      await server.listen(n.address, port);
      byAddress.set(n.address, n.networkId);
    } catch (err) {
      // names on this network will not resolve; the network itself still works
      log(`dns: cannot serve network ${n.name} on ${n.address}:${port}: ${(err as Error).message}`);
    }
  };
  const remove = async (n: DnsNetwork) => {
    if (!byAddress.delete(n.address)) return;
    await server.unlisten(n.address, port).catch(ignoring(`dns: stop serving network ${n.name} on ${n.address}:${port}`, log));
  };

  // the listeners are attached before the existing networks are read, so none is missed
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const unsubscribe = network.onDnsNetwork((action, n) => track(action === "create" ? add(n) : remove(n)));
  await Promise.all(network.dnsNetworks().map(add));

  return {
    async close() {
      unsubscribe();
      await Promise.all(pending);
      await server.close();
    },
  };
}

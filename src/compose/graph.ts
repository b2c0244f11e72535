// The services' dependency graph (depends_on, and network_mode: service:X): its check (no
// unknown service, no cycle) and the orders compose works in.

import { invalid } from "../common/errors.js";
import type { ServiceConfig } from "./model.js";

/** The services `name` waits for: its depends_on and a network_mode or volumes_from naming a service. */
export function dependencies(service: ServiceConfig): string[] {
  const deps = new Set(Object.keys(service.depends_on ?? {}));
  const nm = service.network_mode;
  if (nm?.startsWith("service:")) deps.add(nm.slice("service:".length));
  return [...deps];
}

/**
 * Checks the graph: every dependency names a service, and there is no cycle. Returns the services
 * in an order where each comes after what it depends on.
 */
export function dependencyOrder(services: Record<string, ServiceConfig>, disabled: Record<string, ServiceConfig> = {}): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, chain: string[]) => {
    const st = state.get(name);
    if (st === "done") return;
    if (st === "visiting") {
      const cycle = [...chain.slice(chain.indexOf(name)), name];
      throw invalid(`dependency cycle detected: ${cycle.join(" -> ")}`, { code: "compose.cycle" });
    }
    state.set(name, "visiting");
    for (const dep of dependencies(services[name]!)) {
      if (!services[dep]) {
        if (disabled[dep]) {
          if (services[name]!.depends_on?.[dep]?.required === false) continue;
          throw invalid(`service "${name}" depends on service "${dep}", which its profiles leave out`, { code: "compose.dependency", hint: `enable one of its profiles with --profile ${disabled[dep]!.profiles?.[0] ?? ""}` });
        }
        if (services[name]!.depends_on?.[dep]?.required === false) continue;
        throw invalid(`service "${name}" depends on undefined service "${dep}"`, { code: "compose.dependency" });
      }
      visit(dep, [...chain, name]);
    }
    state.set(name, "done");
    order.push(name);
  };
  for (const name of Object.keys(services).sort()) visit(name, []);
  return order;
}

/** The services that depend on `name`, directly or through others. */
export function dependents(services: Record<string, ServiceConfig>, name: string): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [s, cfg] of Object.entries(services)) {
      if (out.has(s)) continue;
      if (dependencies(cfg).some((d) => d === name || out.has(d))) {
        out.add(s);
        grew = true;
      }
    }
  }
  return out;
}

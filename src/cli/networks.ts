// `cove network create/ls/inspect/rm/prune/connect/disconnect`, with Docker's flags and output
// (the table of `network ls`, JSON of `inspect`, ids/names printed as the docker CLI prints them).

import type { EngineClient } from "../client/engine.js";
import { errorLine } from "./containers.js";

interface NetworkSummary {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
}

const USAGE = `usage: cove network COMMAND
  create [--driver D] [--subnet CIDR] [--gateway IP] [--ip-range CIDR] [--internal] [--ipv6] [--attachable] [-o k=v] [--label k=v] NAME
  ls [-q] [-f key=value]     inspect NETWORK...       rm NETWORK...      prune [-f] [--filter]
  connect [--alias A] [--ip IP] [--ip6 IP] NETWORK CONTAINER     disconnect [-f] NETWORK CONTAINER`;

/** Splits "--flag value", "--flag=value" and bare arguments. */
function parse(argv: string[], valued: Set<string>): { flags: Map<string, string[]>; args: string[] } {
  const flags = new Map<string, string[]>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-") || a === "-") {
      args.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    let value = "true";
    if (eq > 0) value = a.slice(eq + 1);
    else if (valued.has(name)) {
      if (i + 1 >= argv.length) throw new Error(`flag needs an argument: ${name}`);
      value = argv[++i]!;
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { flags, args };
}

const kv = (list: string[] = []) => Object.fromEntries(list.map((x) => (x.includes("=") ? [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)] : [x, ""])));

export async function networkMain(argv: string[], client: EngineClient): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case "create": {
        const { flags, args } = parse(rest, new Set(["-d", "--driver", "--subnet", "--gateway", "--ip-range", "-o", "--opt", "--label", "--ipam-driver", "--aux-address"]));
        if (args.length !== 1) throw new Error('"network create" requires exactly 1 argument');
        const subnets = flags.get("--subnet") ?? [];
        const gateways = flags.get("--gateway") ?? [];
        const ranges = flags.get("--ip-range") ?? [];
        const config = subnets.map((s, i) => ({ Subnet: s, ...(gateways[i] ? { Gateway: gateways[i] } : {}), ...(ranges[i] ? { IPRange: ranges[i] } : {}) }));
        const body = {
          Name: args[0],
          Driver: flags.get("--driver")?.[0] ?? flags.get("-d")?.[0] ?? "bridge",
          Internal: flags.has("--internal"),
          Attachable: flags.has("--attachable"),
          EnableIPv6: flags.has("--ipv6"),
          IPAM: { Driver: flags.get("--ipam-driver")?.[0] ?? "default", Config: config, Options: {} },
          Options: kv([...(flags.get("-o") ?? []), ...(flags.get("--opt") ?? [])]),
          Labels: kv(flags.get("--label")),
        };
        const r = await client.json<{ Id: string }>("POST", "/networks/create", { body });
        process.stdout.write(`${r.Id}\n`);
        return 0;
      }
      case "ls":
      case "list": {
        const { flags } = parse(rest, new Set(["-f", "--filter", "--format"]));
        const filters: Record<string, string[]> = {};
        for (const f of [...(flags.get("-f") ?? []), ...(flags.get("--filter") ?? [])]) {
          const eq = f.indexOf("=");
          (filters[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
        }
        const list = await client.json<NetworkSummary[]>("GET", "/networks", { query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined } });
        if (flags.has("-q") || flags.has("--quiet")) {
          for (const n of list) process.stdout.write(`${n.Id.slice(0, 12)}\n`);
          return 0;
        }
        const rows = [["NETWORK ID", "NAME", "DRIVER", "SCOPE"], ...list.map((n) => [n.Id.slice(0, 12), n.Name, n.Driver, n.Scope])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows) process.stdout.write(`${r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]! + 3) : c)).join("")}\n`);
        return 0;
      }
      case "inspect": {
        const { args } = parse(rest, new Set(["-f", "--format"]));
        const docs: unknown[] = [];
        let code = 0;
        for (const a of args) {
          try {
            docs.push(await client.json("GET", `/networks/${encodeURIComponent(a)}`));
          } catch (err) {
            process.stderr.write(`${errorLine(err)}\n`);
            code = 1;
          }
        }
        process.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
        return code;
      }
      case "rm":
      case "remove": {
        const { args } = parse(rest, new Set());
        let code = 0;
        for (const a of args) {
          try {
            await client.json("DELETE", `/networks/${encodeURIComponent(a)}`);
            process.stdout.write(`${a}\n`);
          } catch (err) {
            process.stderr.write(`${errorLine(err)}\n`);
            code = 1;
          }
        }
        return code;
      }
      case "connect": {
        const { flags, args } = parse(rest, new Set(["--alias", "--ip", "--ip6", "--link"]));
        if (args.length !== 2) throw new Error('"network connect" requires exactly 2 arguments');
        const ipam = { ...(flags.get("--ip") ? { IPv4Address: flags.get("--ip")![0] } : {}), ...(flags.get("--ip6") ? { IPv6Address: flags.get("--ip6")![0] } : {}) };
        const EndpointConfig = { Aliases: flags.get("--alias") ?? null, IPAMConfig: Object.keys(ipam).length ? ipam : null, Links: flags.get("--link") ?? null };
        await client.json("POST", `/networks/${encodeURIComponent(args[0]!)}/connect`, { body: { Container: args[1], EndpointConfig } });
        return 0;
      }
      case "disconnect": {
        const { flags, args } = parse(rest, new Set());
        if (args.length !== 2) throw new Error('"network disconnect" requires exactly 2 arguments');
        await client.json("POST", `/networks/${encodeURIComponent(args[0]!)}/disconnect`, { body: { Container: args[1], Force: flags.has("-f") || flags.has("--force") } });
        return 0;
      }
      default:
        process.stderr.write(`${USAGE}\n`);
        return sub === undefined || sub === "--help" ? 0 : 125;
    }
  } catch (err) {
    process.stderr.write(`${errorLine(err)}\n`);
    return 1;
  }
}

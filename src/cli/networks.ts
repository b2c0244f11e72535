// `cove network create/ls/inspect/rm/prune/connect/disconnect`, with Docker's flags and output
// (the table of `network ls`, JSON of `inspect`, ids/names printed as the docker CLI prints them).

import type { EngineClient } from "../client/engine.js";
import { invalid } from "../common/errors.js";
import { endpointSettings, type EndpointSettings, type NetworkResource } from "../docker/index.js";
import { errorLine } from "./containers.js";
import { parseFilters } from "./flags.js";
import { formatRows, formatValue, GO_TYPE, MARSHAL_JSON, marshalJSON, parseTemplate, type Template } from "./format/index.js";
import { naturalLess } from "./input.js";

/** A row of `network ls` (docker's networkContext). */
export class NetworkRow {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*formatter.networkContext" });
  }

  constructor(
    private readonly n: NetworkResource,
    private readonly noTrunc: boolean,
  ) {}

  get ID(): string {
    return this.noTrunc ? this.n.Id : this.n.Id.slice(0, 12);
  }
  get Name(): string {
    return this.n.Name;
  }
  get Driver(): string {
    return this.n.Driver;
  }
  get Scope(): string {
    return this.n.Scope;
  }
  get IPv4(): string {
    return String(this.n.EnableIPv4 ?? true);
  }
  get IPv6(): string {
    return String(this.n.EnableIPv6);
  }
  get Internal(): string {
    return String(this.n.Internal);
  }
  get Labels(): string {
    return Object.entries(this.n.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  Label(name: string): string {
    return this.n.Labels?.[name] ?? "";
  }
  get CreatedAt(): string {
    return formatValue(new Date(this.n.Created));
  }

  [MARSHAL_JSON](): string {
    const obj: Record<string, unknown> = {};
    for (const f of ["CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name", "Scope"]) obj[f] = (this as unknown as Record<string, unknown>)[f];
    return marshalJSON(obj, { sortKeys: true, escapeHTML: true });
  }
}

export const NETWORK_HEADERS = { ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv4: "IPV4", IPv6: "IPV6", Internal: "INTERNAL", Labels: "LABELS", CreatedAt: "CREATED AT" };
const NETWORK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/** Runs an inspect template over a network's JSON (maps as Go's map[string]interface{}). */
function networkTemplate(tmpl: Template, doc: unknown): string {
  try {
    return tmpl.execute(JSON.parse(JSON.stringify(doc)) as unknown, undefined, { objectsAsMaps: true });
  } catch (err) {
    throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.exec" });
  }
}

const USAGE = `usage: cove network COMMAND
  create [--driver D] [--subnet CIDR] [--gateway IP] [--ip-range CIDR] [--internal] [--ipv6] [--attachable] [-o k=v] [--label k=v] NAME
  ls [-q] [--no-trunc] [-f key=value] [--format T]     inspect [-f T] NETWORK...       rm NETWORK...      prune [-f] [--filter]
  connect [--alias A] [--ip IP] [--ip6 IP] [--link-local-ip IP] [--link C:A] [--driver-opt k=v] [--gw-priority N] NETWORK CONTAINER     disconnect [-f] NETWORK CONTAINER`;

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
        const filters = parseFilters([...(flags.get("-f") ?? []), ...(flags.get("--filter") ?? [])], "network ls");
        const list = await client.json<NetworkResource[]>("GET", "/networks", { query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined } });
        list.sort((a, b) => naturalLess(a.Name, b.Name));
        const quiet = flags.has("-q") || flags.has("--quiet");
        const rows = list.map((n) => new NetworkRow(n, flags.has("--no-trunc")));
        let format = flags.get("--format")?.at(-1);
        if (quiet && (format === undefined || format === "" || format === "table")) format = "{{.ID}}";
        process.stdout.write(formatRows(format, rows, NETWORK_TABLE, NETWORK_HEADERS));
        return 0;
      }
      case "inspect": {
        const { flags, args } = parse(rest, new Set(["-f", "--format"]));
        if (args.length === 0) throw new Error('"network inspect" requires at least 1 argument');
        const format = flags.get("--format")?.at(-1) ?? flags.get("-f")?.at(-1);
        let tmpl: Template | undefined;
        if (format !== undefined && format !== "" && format !== "json") {
          try {
            tmpl = parseTemplate(format);
          } catch (err) {
            throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.parse" });
          }
        }
        const docs: unknown[] = [];
        const errors: string[] = [];
        for (const a of args) {
          try {
            docs.push(await client.json("GET", `/networks/${encodeURIComponent(a)}`));
          } catch (err) {
            errors.push(errorLine(err));
          }
        }
        if (tmpl) for (const d of docs) process.stdout.write(`${networkTemplate(tmpl, d)}\n`);
        else if (format === "json") process.stdout.write(`${JSON.stringify(docs)}\n`);
        else process.stdout.write(`${docs.length ? JSON.stringify(docs, null, 4) : "[]"}\n`);
        for (const e of errors) process.stderr.write(`${e}\n`);
        return errors.length ? 1 : 0;
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
        const { flags, args } = parse(rest, new Set(["--alias", "--ip", "--ip6", "--link", "--link-local-ip", "--driver-opt", "--gw-priority"]));
        if (args.length !== 2) throw new Error('"network connect" requires exactly 2 arguments');
        const ipam: NonNullable<EndpointSettings["IPAMConfig"]> = {};
        if (flags.get("--ip")) ipam.IPv4Address = flags.get("--ip")!.at(-1);
        if (flags.get("--ip6")) ipam.IPv6Address = flags.get("--ip6")!.at(-1);
        if (flags.get("--link-local-ip")) ipam.LinkLocalIPs = flags.get("--link-local-ip");
        const gw = flags.get("--gw-priority")?.at(-1) ?? "0";
        if (!/^-?\d+$/.test(gw)) throw new Error(`invalid argument "${gw}" for "--gw-priority" flag: strconv.ParseInt: parsing "${gw}": invalid syntax`);
        // the docker CLI's EndpointSettings for connect: empty IPAMConfig, Aliases and DriverOpts are sent as {} and []
        const EndpointConfig = endpointSettings({
          IPAMConfig: ipam,
          Links: flags.get("--link") ?? null,
          Aliases: flags.get("--alias") ?? [],
          DriverOpts: kv(flags.get("--driver-opt")),
          GwPriority: Number(gw),
        });
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

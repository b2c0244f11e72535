// `cove network create/ls/inspect/rm/connect/disconnect` (prune is prune.ts'), with Docker's flags
// and output (the table of `network ls`, JSON of `inspect`, ids/names printed as the docker CLI
// prints them), through the daemon's /networks API.

import { EngineError } from "../client/engine.js";
import { invalid } from "../common/errors.js";
import { endpointSettings, type EndpointSettings, type NetworkResource } from "../docker/index.js";
import { command, errorLine, forEach, inspectEach, type Command } from "./command.js";
import { parseFilters, type FlagSpecs } from "./flags.js";
import { formatRows, formatValue, GO_TYPE, RowContext, type Template } from "./format/index.js";
import { naturalLess } from "./input.js";

/** A row of `network ls` (docker's networkContext). */
export class NetworkRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*formatter.networkContext" });
  }

  constructor(
    private readonly n: NetworkResource,
    private readonly noTrunc: boolean,
  ) {
    super();
  }

  protected fields(): readonly string[] {
    return ["CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name", "Scope"];
  }

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

/** What `cove network` prints for an unknown or missing subcommand. */
export const NETWORK_USAGE = `usage: cove network COMMAND
  create [--driver D] [--subnet CIDR] [--gateway IP] [--ip-range CIDR] [--internal] [--ipv6] [--attachable] [-o k=v] [--label k=v] NAME
  ls [-q] [--no-trunc] [-f key=value] [--format T]     inspect [-f T] NETWORK...       rm NETWORK...      prune [-f] [--filter]
  connect [--alias A] [--ip IP] [--ip6 IP] [--link-local-ip IP] [--link C:A] [--driver-opt k=v] [--gw-priority N] NETWORK CONTAINER     disconnect [-f] NETWORK CONTAINER`;

/** key=value options and labels (a bare key maps to ""). */
const kv = (list: readonly string[]) => Object.fromEntries(list.map((x) => (x.includes("=") ? [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)] : [x, ""])));

const CREATE_FLAGS = {
  attachable: { type: "bool", description: "Enable manual container attachment" },
  "aux-address": { type: "list", valueName: "map", description: "Auxiliary IPv4 or IPv6 addresses used by Network driver" },
  "config-from": { type: "string", valueName: "string", description: "The network from which to copy the configuration" },
  "config-only": { type: "bool", description: "Create a configuration only network" },
  driver: { type: "string", short: "d", valueName: "string", default: "bridge", description: 'Driver to manage the Network (default "bridge")' },
  gateway: { type: "list", valueName: "strings", description: "IPv4 or IPv6 Gateway for the master subnet" },
  ingress: { type: "bool", description: "Create swarm routing-mesh network" },
  internal: { type: "bool", description: "Restrict external access to the network" },
  "ip-range": { type: "list", valueName: "strings", description: "Allocate container ip from a sub-range" },
  "ipam-driver": { type: "string", valueName: "string", default: "default", description: 'IP Address Management Driver (default "default")' },
  "ipam-opt": { type: "list", valueName: "map", description: "Set IPAM driver specific options (default map[])" },
  ipv4: { type: "bool", default: true, description: "Enable or disable IPv4 address assignment (default true)" },
  ipv6: { type: "bool", description: "Enable or disable IPv6 networking" },
  label: { type: "list", valueName: "list", description: "Set metadata on a network" },
  opt: { type: "list", short: "o", valueName: "map", description: "Set driver specific options (default map[])" },
  scope: { type: "string", valueName: "string", description: "Control the network's scope" },
  subnet: { type: "list", valueName: "strings", description: "Subnet in CIDR format that represents a network segment" },
} as const satisfies FlagSpecs;

const createCommand = command({ name: "network create", usage: "cove network create [OPTIONS] NETWORK", summary: "Create a network", flags: CREATE_FLAGS, args: { min: 1, max: 1 } }, async ({ flags, args, set }, run) => {
  const config = flags.subnet.map((s, i) => ({ Subnet: s, ...(flags.gateway[i] ? { Gateway: flags.gateway[i] } : {}), ...(flags["ip-range"][i] ? { IPRange: flags["ip-range"][i] } : {}) }));
  const body = {
    Name: args[0],
    Driver: flags.driver,
    Scope: flags.scope ?? "",
    ...(set.has("ipv4") ? { EnableIPv4: flags.ipv4 } : {}),
    ...(set.has("ipv6") ? { EnableIPv6: flags.ipv6 } : {}),
    Internal: flags.internal,
    Attachable: flags.attachable,
    Ingress: flags.ingress,
    ConfigOnly: flags["config-only"],
    ConfigFrom: flags["config-from"] ? { Network: flags["config-from"] } : null,
    IPAM: { Driver: flags["ipam-driver"], Config: config, Options: kv(flags["ipam-opt"]) },
    Options: kv(flags.opt),
    Labels: kv(flags.label),
  };
  const r = await (await run.client()).json<{ Id: string }>("POST", "/networks/create", { body });
  run.out(`${r.Id}\n`);
  return 0;
});

const LIST_FLAGS = {
  filter: { type: "list", short: "f", valueName: "filter", description: 'Provide filter values (e.g. "driver=bridge")' },
  format: { type: "string", valueName: "string", description: "Format output using a custom template" },
  "no-trunc": { type: "bool", description: "Do not truncate the output" },
  quiet: { type: "bool", short: "q", description: "Only display network IDs" },
} as const satisfies FlagSpecs;

const listCommand = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS]`, summary: "List networks", flags: LIST_FLAGS, args: { max: 0 } }, async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, name);
    const list = await (await run.client()).json<NetworkResource[]>("GET", "/networks", { query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined } });
    list.sort((a, b) => naturalLess(a.Name, b.Name));
    const rows = list.map((n) => new NetworkRow(n, flags["no-trunc"]));
    let format = flags.format;
    if (flags.quiet && (format === undefined || format === "" || format === "table")) format = "{{.ID}}";
    run.out(formatRows(format, rows, NETWORK_TABLE, NETWORK_HEADERS));
    return 0;
  });

const inspectCommand = command(
  {
    name: "network inspect",
    usage: "cove network inspect [OPTIONS] NETWORK [NETWORK...]",
    summary: "Display detailed information on one or more networks",
    flags: {
      format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" },
      verbose: { type: "bool", short: "v", description: "Verbose output for diagnostics" },
    },
    args: { min: 1 },
  },
  async ({ flags, args }, run) => {
    return inspectEach(run, args, {
      format: flags.format,
      get: async (a) => (await run.client()).json<unknown>("GET", `/networks/${encodeURIComponent(a)}`, { query: { verbose: flags.verbose ? "true" : undefined } }),
      failed: (err) => errorLine(err),
      render: networkTemplate,
      json: (docs) => (flags.format === "json" ? JSON.stringify(docs) : docs.length ? JSON.stringify(docs, null, 4) : "[]"),
    });
  },
);

const removeCommand = (name: string) =>
  command(
    { name, usage: `cove ${name} [OPTIONS] NETWORK [NETWORK...]`, summary: "Remove one or more networks", flags: { force: { type: "bool", short: "f", description: "Do not error if the network does not exist" } }, args: { min: 1 } },
    async ({ flags, args }, run) => {
      const client = await run.client();
      return forEach(run, args, async (a) => {
        try {
          await client.json("DELETE", `/networks/${encodeURIComponent(a)}`);
        } catch (err) {
          // -f: a network that is not there is what was asked for
          if (flags.force && err instanceof EngineError && err.status === 404) return;
          throw err;
        }
        run.out(`${a}\n`);
      });
    },
  );

const CONNECT_FLAGS = {
  alias: { type: "list", valueName: "strings", description: "Add network-scoped alias for the container" },
  "driver-opt": { type: "list", valueName: "strings", description: "driver options for the network" },
  "gw-priority": { type: "int", valueName: "int", default: 0, description: "Highest gw-priority provides the default gateway. Accepts positive and negative values." },
  ip: { type: "string", valueName: "string", description: "IPv4 address (e.g., \"172.30.100.104\")" },
  ip6: { type: "string", valueName: "string", description: 'IPv6 address (e.g., "2001:db8::33")' },
  link: { type: "list", valueName: "list", description: "Add link to another container" },
  "link-local-ip": { type: "list", valueName: "strings", description: "Add a link-local address for the container" },
} as const satisfies FlagSpecs;

const connectCommand = command(
  { name: "network connect", usage: "cove network connect [OPTIONS] NETWORK CONTAINER", summary: "Connect a container to a network", flags: CONNECT_FLAGS, args: { min: 2, max: 2 } },
  async ({ flags, args, set }, run) => {
    const ipam: NonNullable<EndpointSettings["IPAMConfig"]> = {};
    if (set.has("ip")) ipam.IPv4Address = flags.ip;
    if (set.has("ip6")) ipam.IPv6Address = flags.ip6;
    if (flags["link-local-ip"].length) ipam.LinkLocalIPs = flags["link-local-ip"];
    // the docker CLI's EndpointSettings for connect: empty IPAMConfig, Aliases and DriverOpts are sent as {} and []
    const EndpointConfig = endpointSettings({
      IPAMConfig: ipam,
      Links: flags.link.length ? flags.link : null,
      Aliases: flags.alias,
      DriverOpts: kv(flags["driver-opt"]),
      GwPriority: flags["gw-priority"],
    });
    await (await run.client()).json("POST", `/networks/${encodeURIComponent(args[0]!)}/connect`, { body: { Container: args[1], EndpointConfig } });
    return 0;
  },
);

const disconnectCommand = command(
  {
    name: "network disconnect",
    usage: "cove network disconnect [OPTIONS] NETWORK CONTAINER",
    summary: "Disconnect a container from a network",
    flags: { force: { type: "bool", short: "f", description: "Force the container to disconnect from a network" } },
    args: { min: 2, max: 2 },
  },
  async ({ flags, args }, run) => {
    await (await run.client()).json("POST", `/networks/${encodeURIComponent(args[0]!)}/disconnect`, { body: { Container: args[1], Force: flags.force } });
    return 0;
  },
);

/** The network commands, keyed by command path; main.ts dispatches `cove network ...` here. */
export const networkCommands: Record<string, Command> = {
  "network create": createCommand,
  "network ls": listCommand("network ls"),
  "network list": listCommand("network list"),
  "network inspect": inspectCommand,
  "network rm": removeCommand("network rm"),
  "network remove": removeCommand("network remove"),
  "network connect": connectCommand,
  "network disconnect": disconnectCommand,
};

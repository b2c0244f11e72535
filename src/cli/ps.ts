// `cove ps` (container ls/list/ps): the container list as the docker CLI's formatter shows it,
// its ContainerContext fields (ID, Names, Ports, RunningFor, Size, ...) for --format, and the
// default table.

import { EngineError, type EngineClient } from "../client/engine.js";
import { CoveError } from "../common/errors.js";
import { humanSizeWithPrecision, type ContainerSummary } from "../docker/index.js";
import { familiarString, parseNormalizedNamed } from "../images/reference.js";
import { command, type Command } from "./command.js";
import { formatRows, GO_TYPE, RowContext } from "./format/index.js";
import { parseFilters, type FlagSpecs } from "./flags.js";
import { createdSince, ellipsis, goTimeString, truncateID } from "./units.js";

/** docker's DisplayablePorts: "0.0.0.0:8080->80/tcp, 53/udp", consecutive ports grouped into ranges. */
export function displayablePorts(ports: readonly { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[]): string {
  const groups = new Map<string, number[]>();
  const order: string[] = [];
  const hostMappings: string[] = [];
  // docker's comparePorts: private port, public port, type, IP
  const sorted = [...ports].sort(
    (a, b) => a.PrivatePort - b.PrivatePort || (a.PublicPort ?? 0) - (b.PublicPort ?? 0) || a.Type.localeCompare(b.Type) || (a.IP ?? "").localeCompare(b.IP ?? ""),
  );
  for (const p of sorted) {
    let current = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if (p.PublicPort !== p.PrivatePort) {
        const ip = p.IP.includes(":") ? `[${p.IP}]` : p.IP;
        hostMappings.push(`${ip}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP.includes(":") ? `[${p.IP}]` : p.IP}:${p.Type}`;
      current = p.PublicPort!;
    }
    if (!groups.has(key)) {
      groups.set(key, []);
      order.push(key);
    }
    groups.get(key)!.push(current);
  }
  const out: string[] = [];
  for (const key of order) {
    const nums = groups.get(key)!;
    const colon = key.lastIndexOf(":");
    const ip = colon >= 0 ? key.slice(0, colon) : "";
    const type = colon >= 0 ? key.slice(colon + 1) : key;
    const fmtRange = (a: number, b: number) => (a === b ? String(a) : `${a}-${b}`);
    let start = nums[0]!;
    let prev = start;
    const flush = (a: number, b: number) => {
      const r = fmtRange(a, b);
      out.push(ip ? `${ip}:${r}->${r}/${type}` : `${r}/${type}`);
    };
    for (let i = 1; i < nums.length; i++) {
      const n = nums[i]!;
      if (n === prev + 1) {
        prev = n;
        continue;
      }
      if (n === prev) continue;
      flush(start, prev);
      start = prev = n;
    }
    flush(start, prev);
  }
  out.push(...hostMappings);
  return out.join(", ");
}

const PS_FIELDS = ["Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names", "Networks", "Pod", "PodName", "Ports", "RunningFor", "Size", "State", "Status"];

/** The label naming a container's pod (src/pods' POD_LABEL: its ID). */
const POD_LABEL = "io.cove.pod";

export class ContainerRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*formatter.ContainerContext" });
  }

  constructor(
    private readonly c: ContainerSummary,
    private readonly trunc: boolean,
    private readonly now: number,
    /** Pod names by ID, for --pod. */
    private readonly podNames: ReadonlyMap<string, string> = new Map(),
  ) {
    super();
  }

  protected fields(): readonly string[] {
    return PS_FIELDS;
  }

  get ID(): string {
    return this.trunc ? truncateID(this.c.Id) : this.c.Id;
  }
  get Names(): string {
    const names: string[] = [];
    for (const n of this.c.Names ?? []) {
      const parts = n.split("/");
      // docker hides link names (/other/alias) unless --no-trunc
      if (this.trunc && parts.length > 2) continue;
      names.push(this.trunc ? parts[parts.length - 1]! : n.replace(/^\//, ""));
    }
    return names.join(",");
  }
  get Image(): string {
    const img = this.c.Image;
    if (!img) return "<no image>";
    if (this.trunc) {
      if (truncateID(this.c.ImageID) === truncateID(img)) return truncateID(img);
      try {
        const ref = parseNormalizedNamed(img);
        return familiarString({ domain: ref.domain, path: ref.path, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) });
      } catch (err) {
        if (!(err instanceof CoveError)) throw err;
        return img; // not a reference (an image ID): shown as the daemon gave it
      }
    }
    return img;
  }
  get Command(): string {
    return JSON.stringify(this.trunc ? ellipsis(this.c.Command, 20) : this.c.Command);
  }
  get CreatedAt(): string {
    return goTimeString(this.c.Created);
  }
  get RunningFor(): string {
    return createdSince(this.c.Created, this.now);
  }
  get Ports(): string {
    return displayablePorts(this.c.Ports ?? []);
  }
  get State(): string {
    return this.c.State;
  }
  get Status(): string {
    return this.c.Status;
  }
  get Size(): string {
    if (this.c.SizeRw === undefined && this.c.SizeRootFs === undefined) return "0B";
    const srw = humanSizeWithPrecision(this.c.SizeRw ?? 0, 3);
    const sv = humanSizeWithPrecision(this.c.SizeRootFs ?? 0, 3);
    return this.c.SizeRootFs && this.c.SizeRootFs > 0 ? `${srw} (virtual ${sv})` : srw;
  }
  get Labels(): string {
    const l = this.c.Labels ?? {};
    return Object.entries(l)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  Label(name: unknown): string {
    return (this.c.Labels ?? {})[String(name)] ?? "";
  }
  get Mounts(): string {
    return (this.c.Mounts ?? [])
      .map((m) => {
        const n = m.Name ? m.Name : (m.Source ?? "");
        return this.trunc ? ellipsis(n, 15) : n;
      })
      .join(",");
  }
  get LocalVolumes(): string {
    return String((this.c.Mounts ?? []).filter((m) => m.Driver === "local").length);
  }
  /** The ID of the container's pod ("" for none), as podman's ps --pod. */
  get Pod(): string {
    const id = this.c.Labels?.[POD_LABEL] ?? "";
    return this.trunc ? id.slice(0, 12) : id;
  }
  get PodName(): string {
    return this.podNames.get(this.c.Labels?.[POD_LABEL] ?? "") ?? "";
  }
  get Networks(): string {
    return Object.keys(this.c.NetworkSettings?.Networks ?? {})
      .sort()
      .join(",");
  }
}

export const PS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Names: "NAMES",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
  LocalVolumes: "LOCAL VOLUMES",
  Label: "LABEL",
  Pod: "POD ID",
  PodName: "PODNAME",
};

const PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

const PS_FLAGS = {
  all: { type: "bool", short: "a", description: "Show all containers (default shows just running)" },
  filter: { type: "list", short: "f", valueName: "filter", description: "Filter output based on conditions provided" },
  format: { type: "string", valueName: "string", description: "Format output using a custom template" },
  last: { type: "int", short: "n", valueName: "int", default: -1, description: "Show n last created containers (includes all states)" },
  latest: { type: "bool", short: "l", description: "Show the latest created container (includes all states)" },
  "no-trunc": { type: "bool", description: "Don't truncate output" },
  pod: { type: "bool", description: "Show the ID and name of each container's pod" },
  quiet: { type: "bool", short: "q", description: "Only display container IDs" },
  size: { type: "bool", short: "s", description: "Display total file sizes" },
} as const satisfies FlagSpecs;

const psCommand = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS]`, summary: "List containers", flags: PS_FLAGS, args: { max: 0 } }, async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, name);
    let limit = flags.last;
    if (flags.latest) limit = 1;
    let format = flags.format;
    const wantsSize = flags.size || (format !== undefined && /\.Size\b/.test(format));
    const list = await (await run.client()).containerList({ all: flags.all || limit > 0 || undefined, limit: limit > 0 ? limit : undefined, size: wantsSize || undefined, filters });
    if (flags.quiet && (format === undefined || format === "" || format === "table")) format = "{{.ID}}";
    let table = PS_TABLE;
    if (flags.size) table += "\t{{.Size}}";
    if (flags.pod) table += "\t{{.Pod}}\t{{.PodName}}";
    if (format === undefined || format === "" || format === "table") format = table;
    const podNames = flags.pod || /\.PodName\b/.test(format) ? await podNamesOf(await run.client()) : new Map<string, string>();
    const rows = list.map((c) => new ContainerRow(c, !flags["no-trunc"], run.now, podNames));
    run.out(formatRows(format, rows, table, PS_HEADERS));
    return 0;
  });

/** The daemon's pods by ID (none from a daemon that serves no pods, such as dockerd). */
async function podNamesOf(client: EngineClient): Promise<Map<string, string>> {
  try {
    const pods = await client.json<{ Id: string; Name: string }[]>("GET", "/cove/pods/json");
    return new Map(pods.map((p) => [p.Id, p.Name]));
  } catch (err) {
    if (err instanceof EngineError && err.status === 404) return new Map();
    throw err;
  }
}

export const psCommands: Record<string, Command> = {
  ps: psCommand("ps"),
  "container ls": psCommand("container ls"),
  "container list": psCommand("container list"),
  "container ps": psCommand("container ps"),
};

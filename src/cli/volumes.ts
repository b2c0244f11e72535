// `cove volume create/ls/inspect/rm/prune`: the docker CLI's volume commands, flags and output,
// through the daemon's /volumes API.

import { invalid } from "../common/errors.js";
import { EngineError } from "../client/engine.js";
import { humanSize, ramInBytes, type Volume } from "../docker/index.js";
import { command, errorLine, forEach, inspectEach, type Command } from "./command.js";
import { formatRows, GO_TYPE, goMap, marshalJSON, RowContext, type Template } from "./format/index.js";
import { parseFilters, UsageError } from "./flags.js";
import { confirm, naturalLess } from "./input.js";
import { printPruned, pruneVolumes } from "./prune.js";

/** A row of `volume ls` (docker's volumeContext). Volume's fields are in Go's (alphabetical) order, so sorted keys print maps as Go does. */
export class VolumeRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*formatter.volumeContext" });
  }

  constructor(private readonly v: Volume) {
    super();
  }

  protected fields(): readonly string[] {
    return ["Availability", "Driver", "Group", "Labels", "Links", "Mountpoint", "Name", "Scope", "Size", "Status"];
  }

  get Name(): string {
    return this.v.Name;
  }
  get Driver(): string {
    return this.v.Driver;
  }
  get Scope(): string {
    return this.v.Scope;
  }
  get Mountpoint(): string {
    return this.v.Mountpoint;
  }
  get Labels(): string {
    return Object.entries(this.v.Labels ?? {})
      .map(([k, val]) => `${k}=${val}`)
      .join(",");
  }
  Label(name: string): string {
    return this.v.Labels?.[name] ?? "";
  }
  get Links(): string {
    return this.v.UsageData && this.v.UsageData.RefCount >= 0 ? String(this.v.UsageData.RefCount) : "N/A";
  }
  get Size(): string {
    return this.v.UsageData && this.v.UsageData.Size >= 0 ? humanSize(this.v.UsageData.Size) : "N/A";
  }
  get Group(): string {
    return "N/A";
  }
  get Availability(): string {
    return "N/A";
  }
  get Status(): string {
    return "N/A";
  }
}

export const VOLUME_HEADERS = { Name: "VOLUME NAME", Driver: "DRIVER", Scope: "SCOPE", Mountpoint: "MOUNTPOINT", Labels: "LABELS", Links: "LINKS", Size: "SIZE", Group: "GROUP", Availability: "AVAILABILITY", Status: "STATUS" };
const VOLUME_TABLE = "table {{.Driver}}\t{{.Name}}";

/** docker's -o/--opt and --label values: key=value (a bare key maps to ""). */
function keyValues(values: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (flag === "opt" && eq < 0) throw new UsageError(`invalid argument "${v}" for "-o, --opt" flag: invalid key/value pair format`, "volume create");
    if (eq < 0) out[v] = "";
    else out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

const CLUSTER_FLAGS = ["availability", "group", "limit-bytes", "required-bytes", "scope", "secret", "sharing", "topology-preferred", "topology-required", "type"] as const;

/** The ClusterVolumeSpec the docker CLI builds from the cluster volume flags. */
function clusterVolumeSpec(flags: { [K in (typeof CLUSTER_FLAGS)[number]]: K extends "secret" | "topology-preferred" | "topology-required" ? string[] : K extends "group" | "limit-bytes" | "required-bytes" ? string | undefined : string }): Record<string, unknown> {
  const bytes = (name: "limit-bytes" | "required-bytes") => {
    const v = flags[name];
    if (v === undefined) return 0;
    try {
      return ramInBytes(v);
    } catch (err) {
      throw new UsageError(`invalid argument "${v}" for "--${name}" flag: ${(err as Error).message}`, "volume create");
    }
  };
  const topology = (list: string[]) => list.map((t) => ({ Segments: keyValues(t.split(","), "topology") }));
  const requirements: Record<string, unknown> = {};
  if (flags["topology-required"].length) requirements.Requisite = topology(flags["topology-required"]);
  if (flags["topology-preferred"].length) requirements.Preferred = topology(flags["topology-preferred"]);
  const spec: Record<string, unknown> = {};
  if (flags.group !== undefined && flags.group !== "") spec.Group = flags.group;
  spec.AccessMode = { Scope: flags.scope, Sharing: flags.sharing, ...(flags.type === "mount" ? { MountVolume: {} } : { BlockVolume: {} }) };
  spec.AccessibilityRequirements = requirements;
  spec.CapacityRange = { RequiredBytes: bytes("required-bytes"), LimitBytes: bytes("limit-bytes") };
  if (flags.secret.length) spec.Secrets = Object.entries(keyValues(flags.secret, "secret")).map(([Key, Secret]) => ({ Key, Secret }));
  spec.Availability = flags.availability;
  return spec;
}

const createCommand = command(
  {
    name: "volume create",
    usage: "cove volume create [OPTIONS] [VOLUME]",
    summary: "Create a volume",
    flags: {
      availability: { type: "string", valueName: "string", default: "active", description: 'Cluster Volume availability ("active", "pause", "drain") (default "active")' },
      driver: { type: "string", short: "d", valueName: "string", default: "local", description: 'Specify volume driver name (default "local")' },
      group: { type: "string", valueName: "string", description: "Cluster Volume group (cluster volumes)" },
      label: { type: "list", valueName: "list", description: "Set metadata for a volume" },
      "limit-bytes": { type: "string", valueName: "bytes", description: "Minimum size of the Cluster Volume in bytes" },
      opt: { type: "list", short: "o", valueName: "map", description: "Set driver specific options (default map[])" },
      "required-bytes": { type: "string", valueName: "bytes", description: "Maximum size of the Cluster Volume in bytes" },
      scope: { type: "string", valueName: "string", default: "single", description: 'Cluster Volume access scope ("single", "multi") (default "single")' },
      secret: { type: "list", valueName: "map", description: "Cluster Volume secrets (default map[])" },
      sharing: { type: "string", valueName: "string", default: "none", description: 'Cluster Volume access sharing ("none", "readonly", "onewriter", "all") (default "none")' },
      "topology-preferred": { type: "list", valueName: "list", description: "A topology that the Cluster Volume would be preferred in" },
      "topology-required": { type: "list", valueName: "list", description: "A topology that the Cluster Volume must be accessible from" },
      type: { type: "string", valueName: "string", default: "block", description: 'Cluster Volume access type ("mount", "block") (default "block")' },
      name: { type: "string", valueName: "string", hidden: true, description: "Specify volume name" },
    },
    args: { max: 1 },
  },
  async ({ flags, args, set }, run) => {
    if (args[0] !== undefined && set.has("name")) throw new UsageError(`conflicting options: either specify --name or provide positional arg, not both`, "volume create");
    const name = args[0] ?? flags.name ?? "";
    const cluster = CLUSTER_FLAGS.some((f) => set.has(f)) ? clusterVolumeSpec(flags) : undefined;
    // a cluster volume goes to the daemon as the docker CLI sends it; the daemon says whether it has a swarm
    // empty maps are left out, as the docker CLI's omitempty fields
    const opts = keyValues(flags.opt, "opt");
    const labels = keyValues(flags.label, "label");
    const vol = await (await run.client()).volumeCreate({
      ...(cluster ? { ClusterVolumeSpec: cluster } : {}),
      Name: name,
      Driver: flags.driver,
      ...(Object.keys(opts).length ? { DriverOpts: opts } : {}),
      ...(Object.keys(labels).length ? { Labels: labels } : {}),
    });
    run.out(vol.Name + "\n");
    return 0;
  },
);

const listCommand = (name: string) =>
  command(
    {
      name,
      usage: `cove ${name} [OPTIONS]`,
      summary: "List volumes",
      flags: {
        filter: { type: "list", short: "f", valueName: "filter", description: "Provide filter values (e.g. \"dangling=true\")" },
        format: { type: "string", valueName: "string", description: "Format output using a custom template" },
        quiet: { type: "bool", short: "q", description: "Only display volume names" },
        cluster: { type: "bool", hidden: true },
      },
      args: { max: 0 },
    },
    async ({ flags }, run) => {
      const res = await (await run.client()).volumeList(parseFilters(flags.filter, name));
      const vols = [...(res.Volumes ?? [])].sort((a, b) => naturalLess(a.Name, b.Name));
      for (const w of res.Warnings ?? []) run.err(w + "\n");
      const rows = vols.map((v) => new VolumeRow(v));
      if (flags.quiet && (flags.format === undefined || flags.format === "")) {
        run.out(rows.map((r) => r.Name + "\n").join(""));
        return 0;
      }
      run.out(formatRows(flags.format, rows, flags.quiet ? "{{.Name}}" : VOLUME_TABLE, VOLUME_HEADERS));
      return 0;
    },
  );

function volumeTemplate(tmpl: Template, v: Volume): string {
  const value = JSON.parse(marshalJSON(v)) as Record<string, unknown>;
  for (const k of ["Labels", "Options", "Status"]) if (value[k] && typeof value[k] === "object") goMap(value[k] as object);
  try {
    return tmpl.execute(value, undefined, { objectsAsMaps: true });
  } catch (err) {
    throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.exec" });
  }
}

const inspectCommand = command(
  {
    name: "volume inspect",
    usage: "cove volume inspect [OPTIONS] VOLUME [VOLUME...]",
    summary: "Display detailed information on one or more volumes",
    flags: { format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" } },
    args: { min: 1 },
  },
  async ({ flags, args }, run) => {
    return inspectEach(run, args, {
      format: flags.format,
      get: async (a) => (await run.client()).volumeInspect(a),
      failed: (err) => {
        if (!(err instanceof EngineError)) throw err;
        return errorLine(err);
      },
      render: volumeTemplate,
      json: (found) => (found.length === 0 ? "[]" : marshalJSON(found, { indent: "    ", escapeHTML: true, sortKeys: true })),
    });
  },
);

const removeCommand = (name: string) =>
  command(
    {
      name,
      usage: `cove ${name} [OPTIONS] VOLUME [VOLUME...]`,
      summary: "Remove one or more volumes",
      flags: { force: { type: "bool", short: "f", description: "Force the removal of one or more volumes" } },
      args: { min: 1 },
    },
    async ({ flags, args }, run) => {
      const client = await run.client();
      return forEach(run, args, async (a) => {
        await client.volumeRemove(a, { force: flags.force || undefined });
        run.out(a + "\n");
      });
    },
  );

const pruneCommand = command(
  {
    name: "volume prune",
    usage: "cove volume prune [OPTIONS]",
    summary: "Remove unused local volumes",
    flags: {
      all: { type: "bool", short: "a", description: "Remove all unused volumes, not just anonymous ones" },
      filter: { type: "list", valueName: "filter", description: "Provide filter values (e.g. \"label=<label>\")" },
      force: { type: "bool", short: "f", description: "Do not prompt for confirmation" },
    },
    args: { max: 0 },
  },
  async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, "volume prune", "--filter");
    if (flags.all) {
      if (filters.all) throw new UsageError(`conflicting options: cannot specify both --all and --filter all=1`, "volume prune");
      filters.all = ["true"];
    }
    if (!flags.force) {
      const what = flags.all || filters.all ? "all local volumes" : "anonymous local volumes";
      // docker 28 says nothing more when the answer is no
      if (!(await confirm(run.io, `WARNING! This will remove ${what} not used by at least one container.\nAre you sure you want to continue?`))) return 0;
    }
    printPruned(run, await pruneVolumes(await run.client(), filters));
    return 0;
  },
);

/** The volume commands, keyed by command path; main.ts dispatches `cove volume ...` here. */
export const volumeCommands: Record<string, Command> = {
  "volume create": createCommand,
  "volume ls": listCommand("volume ls"),
  "volume list": listCommand("volume list"),
  "volume inspect": inspectCommand,
  "volume rm": removeCommand("volume rm"),
  "volume remove": removeCommand("volume remove"),
  "volume prune": pruneCommand,
};

// `cove pod create/ls/inspect/start/stop/restart/kill/rm/logs/top/exists`: podman's pod commands,
// their flags and output, through the daemon's /cove/pods routes (podman's libpod pod API shapes).

import { writeFile } from "node:fs/promises";
import { EngineError } from "../client/engine.js";
import { copyStream } from "../client/stream.js";
import type { TopResponse } from "../docker/index.js";
import type { PodInspect, PodPortMapping, PodSpec, PodSummary } from "../pods/index.js";
import { timestampArg } from "./attach.js";
import { CliError, command, errorLine, forEach, inspectEach, type Command } from "./command.js";
import { parsePortSpecs } from "./container-opts.js";
import { parseFilters, UsageError, type FlagSpecs } from "./flags.js";
import { formatRows, GO_TYPE, RowContext, tabwrite } from "./format/index.js";
import { splitCsv } from "./network-opts.js";
import { createdSince } from "./units.js";

const enc = encodeURIComponent;

/** key=value options and labels (a bare key maps to ""). */
const kv = (list: readonly string[]) => Object.fromEntries(list.map((x) => (x.includes("=") ? [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)] : [x, ""])));

/** -p specs ([ip:][hostPort:]containerPort[/proto]) as the pod's port mappings. */
export function portMappings(specs: readonly string[]): PodPortMapping[] {
  let parsed;
  try {
    parsed = parsePortSpecs(specs);
  } catch (err) {
    throw new UsageError(`invalid argument "${specs.join(",")}" for "-p, --publish" flag: ${(err as Error).message}`, "pod create");
  }
  const out: PodPortMapping[] = [];
  for (const [key, bindings] of Object.entries(parsed.bindings)) {
    const [port, protocol] = key.split("/") as [string, string];
    for (const b of bindings) out.push({ container_port: Number(port), host_port: b.HostPort ? Number(b.HostPort) : 0, host_ip: b.HostIp ?? "", protocol });
  }
  return out;
}

const CREATE_FLAGS = {
  name: { type: "string", short: "n", valueName: "string", description: "Assign a name to the pod" },
  hostname: { type: "string", valueName: "string", description: "Set the pod's hostname (default: its name)" },
  label: { type: "list", short: "l", valueName: "list", description: "Set metadata on the pod (key=value)" },
  annotation: { type: "list", valueName: "list", description: "Add an annotation to the pod (key=value)" },
  infra: { type: "bool", default: true, description: "Create an infra container holding the pod's namespaces (default true; cove's pods always have one)" },
  "infra-image": { type: "string", valueName: "string", description: "The infra container's image (default: cove's pause image, made on first use)" },
  "infra-command": { type: "string", valueName: "string", description: "The infra container's command (default /pause)" },
  "infra-name": { type: "string", valueName: "string", description: "The infra container's name (default <pod id>-infra)" },
  share: { type: "string", valueName: "string", default: "net,ipc,uts", description: 'Namespaces the containers share: net, ipc, uts, pid (default "net,ipc,uts")' },
  publish: { type: "list", short: "p", valueName: "list", description: "Publish a port of the pod to the host" },
  network: { type: "list", valueName: "list", description: "The pod's network: bridge (default), host, none, or networks to join" },
  dns: { type: "list", valueName: "list", description: "Set custom DNS servers" },
  "dns-search": { type: "list", valueName: "list", description: "Set custom DNS search domains" },
  "dns-option": { type: "list", valueName: "list", description: "Set DNS options" },
  "add-host": { type: "list", valueName: "list", description: "Add a custom host-to-IP mapping (host:ip)" },
  "cgroup-parent": { type: "string", valueName: "string", description: "The cgroup parent of the pod's containers" },
  sysctl: { type: "list", valueName: "list", description: "Namespaced sysctls for the pod (key=value)" },
  pid: { type: "string", valueName: "string", description: "The pod's PID namespace: private (default) or host" },
  ipc: { type: "string", valueName: "string", description: "The pod's IPC namespace: private (default) or host" },
} as const satisfies FlagSpecs;

const createCommand = command({ name: "pod create", usage: "cove pod create [OPTIONS] [NAME]", summary: "Create a new empty pod", flags: CREATE_FLAGS, args: { max: 1 } }, async ({ flags, args, set }, run) => {
  if (args[0] !== undefined && set.has("name") && flags.name !== args[0]) throw new UsageError("cannot give the pod's name both as --name and as an argument", "pod create");
  if (!flags.infra) throw new CliError("cove's pods always have an infra container: --infra=false is not supported");
  const body: PodSpec = {
    shared_namespaces: splitCsv(flags.share),
    labels: kv(flags.label),
    annotations: kv(flags.annotation),
  };
  const name = args[0] ?? flags.name;
  if (name) body.name = name;
  if (flags.hostname) body.hostname = flags.hostname;
  if (flags["infra-image"]) body.infra_image = flags["infra-image"];
  if (flags["infra-command"]) body.infra_command = flags["infra-command"].split(/\s+/).filter(Boolean);
  if (flags["infra-name"]) body.infra_name = flags["infra-name"];
  if (flags.publish.length) body.portmappings = portMappings(flags.publish);
  const networks = flags.network.flatMap(splitCsv);
  if (networks.length === 1 && ["host", "none", "bridge", "private"].includes(networks[0]!)) body.netns = { nsmode: networks[0]! };
  else if (networks.length) body.Networks = Object.fromEntries(networks.map((n) => [n, {}]));
  if (flags.dns.length) body.dns_server = flags.dns;
  if (flags["dns-search"].length) body.dns_search = flags["dns-search"];
  if (flags["dns-option"].length) body.dns_option = flags["dns-option"];
  if (flags["add-host"].length) body.hostadd = flags["add-host"];
  if (flags["cgroup-parent"]) body.cgroup_parent = flags["cgroup-parent"];
  if (flags.sysctl.length) body.sysctl = kv(flags.sysctl);
  if (flags.pid) body.pidns = { nsmode: flags.pid };
  if (flags.ipc) body.ipcns = { nsmode: flags.ipc };
  body.pod_create_command = ["cove", "pod", "create", ...process.argv.slice(process.argv.indexOf("create") + 1)];
  const r = await (await run.client()).json<{ Id: string }>("POST", "/cove/pods/create", { body });
  run.out(`${r.Id}\n`);
  return 0;
});

/** A row of `pod ls` (podman's ListPodReporter). */
export class PodRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*pods.ListPodReporter" });
  }

  constructor(
    private readonly p: PodSummary,
    private readonly noTrunc: boolean,
    private readonly now: number,
  ) {
    super();
  }

  protected fields(): readonly string[] {
    return ["ID", "Name", "Status", "Created", "InfraID", "NumberOfContainers", "Labels", "Networks", "ContainerNames", "ContainerIds", "ContainerStatuses"];
  }

  get ID(): string {
    return this.noTrunc ? this.p.Id : this.p.Id.slice(0, 12);
  }
  get Name(): string {
    return this.p.Name;
  }
  get Status(): string {
    return this.p.Status;
  }
  get Created(): string {
    return createdSince(Date.parse(this.p.Created) / 1000, this.now);
  }
  get InfraID(): string {
    return this.noTrunc ? this.p.InfraId : this.p.InfraId.slice(0, 12);
  }
  get NumberOfContainers(): string {
    return String(this.p.Containers.length);
  }
  get Labels(): string {
    return Object.entries(this.p.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  get Networks(): string {
    return this.p.Networks.join(",");
  }
  get ContainerNames(): string {
    return this.p.Containers.map((c) => c.Names).join(",");
  }
  get ContainerIds(): string {
    return this.p.Containers.map((c) => (this.noTrunc ? c.Id : c.Id.slice(0, 12))).join(",");
  }
  get ContainerStatuses(): string {
    return this.p.Containers.map((c) => c.Status).join(",");
  }
}

export const POD_HEADERS = {
  ID: "POD ID",
  Name: "NAME",
  Status: "STATUS",
  Created: "CREATED",
  InfraID: "INFRA ID",
  NumberOfContainers: "# OF CONTAINERS",
  Labels: "LABELS",
  Networks: "NETWORKS",
  ContainerNames: "NAMES",
  ContainerIds: "IDS",
  ContainerStatuses: "STATUS",
};
const POD_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}\t{{.NumberOfContainers}}";

const LIST_FLAGS = {
  filter: { type: "list", short: "f", valueName: "filter", description: "Filter output based on conditions given (id, name, label, status)" },
  format: { type: "string", valueName: "string", description: "Format output using a custom template" },
  "no-trunc": { type: "bool", description: "Do not truncate the output" },
  quiet: { type: "bool", short: "q", description: "Only display pod IDs" },
  ns: { type: "bool", description: "Show the pod's networks" },
  "ctr-names": { type: "bool", description: "Show the names of the pod's containers" },
  "ctr-ids": { type: "bool", description: "Show the IDs of the pod's containers" },
  "ctr-status": { type: "bool", description: "Show the states of the pod's containers" },
} as const satisfies FlagSpecs;

const listCommand = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS]`, summary: "List pods", flags: LIST_FLAGS, args: { max: 0 } }, async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, name);
    const list = await (await run.client()).json<PodSummary[]>("GET", "/cove/pods/json", { query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined } });
    const rows = list.map((p) => new PodRow(p, flags["no-trunc"], run.now));
    let format = flags.format;
    if (flags.quiet && (format === undefined || format === "" || format === "table")) format = "{{.ID}}";
    let table = POD_TABLE;
    if (flags.ns) table += "\t{{.Networks}}";
    if (flags["ctr-names"]) table += "\t{{.ContainerNames}}";
    if (flags["ctr-ids"]) table += "\t{{.ContainerIds}}";
    if (flags["ctr-status"]) table += "\t{{.ContainerStatuses}}";
    if (format === "json") {
      run.out(JSON.stringify(list, null, 4) + "\n");
      return 0;
    }
    run.out(formatRows(format, rows, table, POD_HEADERS));
    return 0;
  });

const inspectCommand = command(
  {
    name: "pod inspect",
    usage: "cove pod inspect [OPTIONS] POD [POD...]",
    summary: "Display detailed information on one or more pods",
    flags: { format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" } },
    args: { min: 1 },
  },
  async ({ flags, args }, run) =>
    inspectEach(run, args, {
      format: flags.format,
      get: async (a) => (await run.client()).json<PodInspect>("GET", `/cove/pods/${enc(a)}/json`),
      failed: (err) => errorLine(err),
    }),
);

/** start, stop, restart, kill and rm: one request per pod, its ID printed, as podman prints them. */
const actionCommand = (name: string, summary: string, flags: FlagSpecs, request: (pod: string, flags: Record<string, unknown>) => { method: string; path: string; query?: Record<string, string | undefined> }, ignoreMissing?: (flags: Record<string, unknown>) => boolean) =>
  command({ name, usage: `cove ${name} [OPTIONS] POD [POD...]`, summary, flags, args: { min: 1 } }, async (parsed, run) => {
    const client = await run.client();
    const f = parsed.flags as Record<string, unknown>;
    return forEach(run, parsed.args, async (a) => {
      const r = request(a, f);
      try {
        await client.json(r.method, r.path, r.query ? { query: r.query } : {});
      } catch (err) {
        if (ignoreMissing?.(f) && err instanceof EngineError && err.status === 404) return;
        throw err;
      }
      run.out(`${a}\n`);
    });
  });

const stopFlags = { time: { type: "int", short: "t", valueName: "int", default: -2, description: "Seconds to wait for the containers to stop before killing them (default: each container's)" } } as const satisfies FlagSpecs;
const timeQuery = (f: Record<string, unknown>) => ({ t: (f.time as number) === -2 ? undefined : String(f.time) });

const logsCommand = command(
  {
    name: "pod logs",
    usage: "cove pod logs [OPTIONS] POD",
    summary: "Fetch the logs of a pod's containers, each line prefixed with its container's name",
    flags: {
      container: { type: "string", short: "c", valueName: "string", description: "Only this container's logs" },
      follow: { type: "bool", short: "f", description: "Follow log output" },
      since: { type: "string", valueName: "string", description: "Show logs since timestamp or relative (e.g. 42m)" },
      until: { type: "string", valueName: "string", description: "Show logs before a timestamp or relative (e.g. 42m)" },
      tail: { type: "string", short: "n", valueName: "string", default: "all", description: 'Number of lines to show from the end of each container\'s logs (default "all")' },
      timestamps: { type: "bool", short: "t", description: "Show timestamps" },
    },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    const client = await run.client();
    const ts = (v: string | undefined) => (v === undefined ? undefined : timestampArg(v, run.now));
    const res = await client.stream("GET", `/cove/pods/${enc(args[0]!)}/logs`, {
      query: {
        follow: flags.follow ? "1" : undefined,
        since: ts(flags.since),
        until: ts(flags.until),
        tail: flags.tail,
        timestamps: flags.timestamps ? "1" : undefined,
        container: flags.container,
      },
    });
    await copyStream(res, { stdout: run.io.stdout, stderr: run.io.stderr }, false);
    return 0;
  },
);

const topCommand = command({ name: "pod top", usage: "cove pod top POD [ps OPTIONS]", summary: "Display the running processes of a pod's containers", flags: {}, stopAtFirstPositional: true, args: { min: 1 } }, async ({ args }, run) => {
  const top = await (await run.client()).json<TopResponse>("GET", `/cove/pods/${enc(args[0]!)}/top`, { query: { ps_args: args.slice(1).join(" ") || undefined } });
  run.out(tabwrite([top.Titles.join("\t"), ...top.Processes.map((p) => p.join("\t"))].join("\n") + "\n", { minwidth: 20, padding: 3, padchar: " " }));
  return 0;
});

const existsCommand = command({ name: "pod exists", usage: "cove pod exists POD", summary: "Exit 0 when the pod exists, 1 when it does not", flags: {}, args: { min: 1, max: 1 } }, async ({ args }, run) => {
  try {
    await (await run.client()).json("GET", `/cove/pods/${enc(args[0]!)}/exists`);
    return 0;
  } catch (err) {
    if (err instanceof EngineError && err.status === 404) return 1;
    throw err;
  }
});

const rmCommand = (name: string) =>
  actionCommand(
    name,
    "Remove one or more pods with their containers",
    {
      force: { type: "bool", short: "f", description: "Stop and remove the pod's running containers too" },
      ignore: { type: "bool", short: "i", description: "Do not fail for a pod that does not exist" },
    },
    (pod, f) => ({ method: "DELETE", path: `/cove/pods/${enc(pod)}`, query: { force: f.force ? "1" : undefined } }),
    (f) => f.ignore === true,
  );

/** The pod commands, keyed by command path; main.ts dispatches `cove pod ...` here. */
export const podCommands: Record<string, Command> = {
  "pod create": createCommand,
  "pod ls": listCommand("pod ls"),
  "pod ps": listCommand("pod ps"),
  "pod list": listCommand("pod list"),
  "pod inspect": inspectCommand,
  "pod start": actionCommand("pod start", "Start one or more pods", {}, (pod) => ({ method: "POST", path: `/cove/pods/${enc(pod)}/start` })),
  "pod stop": actionCommand("pod stop", "Stop one or more pods", stopFlags, (pod, f) => ({ method: "POST", path: `/cove/pods/${enc(pod)}/stop`, query: timeQuery(f) })),
  "pod restart": actionCommand("pod restart", "Restart one or more pods", stopFlags, (pod, f) => ({ method: "POST", path: `/cove/pods/${enc(pod)}/restart`, query: timeQuery(f) })),
  "pod kill": actionCommand(
    "pod kill",
    "Send a signal (default SIGKILL) to the running containers of one or more pods",
    { signal: { type: "string", short: "s", valueName: "string", default: "KILL", description: 'Signal to send (default "KILL")' } },
    (pod, f) => ({ method: "POST", path: `/cove/pods/${enc(pod)}/kill`, query: { signal: f.signal as string } }),
  ),
  "pod rm": rmCommand("pod rm"),
  "pod remove": rmCommand("pod remove"),
  "pod logs": logsCommand,
  "pod top": topCommand,
  "pod exists": existsCommand,
};

/** What `cove pod` prints for an unknown or missing subcommand. */
export const POD_USAGE = `usage: cove pod COMMAND
  create [--name N] [-p PORT] [--share net,ipc,uts[,pid]] [--network N] [--hostname H] [--dns IP] [--add-host H:IP] [-l k=v] [--cgroup-parent P] [--infra-image I]
  ls [-q] [--no-trunc] [-f key=value] [--format T] [--ctr-names]     inspect [-f T] POD...     exists POD
  start POD...     stop [-t S] POD...     restart [-t S] POD...     kill [-s SIG] POD...     rm [-f] [-i] POD...
  logs [-f] [-c CONTAINER] [--since T] [--tail N] [-t] POD     top POD [ps OPTIONS]
Containers join a pod with: cove run --pod POD ...
Kubernetes YAML: cove kube play [--network N] [--replace] [--wait] FILE|-     kube down [--force] FILE|-     kube generate POD|CONTAINER`;

const kubeGenerateCommand = command(
  {
    name: "kube generate",
    usage: "cove kube generate [OPTIONS] POD|CONTAINER",
    summary: "Print a pod (or a container) as Kubernetes Pod YAML",
    flags: { filename: { type: "string", short: "f", valueName: "string", description: "Write the YAML to this file instead of the standard output" } },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    const yaml = await (await run.client()).json<string>("GET", "/cove/generate/kube", { query: { names: args[0] } });
    if (flags.filename) await writeFile(flags.filename, yaml);
    else run.out(yaml);
    return 0;
  },
);

/** `cove kube ...`, keyed by command path. */
export const kubeCommands: Record<string, Command> = {
  "kube generate": kubeGenerateCommand,
};

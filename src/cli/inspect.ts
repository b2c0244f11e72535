// `cove inspect` (container inspect), top, port and diff: a container's documents as the docker
// CLI prints them (inspect's JSON and --format over it with Go's map key order).

import { EngineError } from "../client/engine.js";
import type { ContainerInspect, PortBinding } from "../docker/index.js";
import { CliError, command, inspectEach, type Command } from "./command.js";
import { goMap, tabwrite } from "./format/index.js";

/** Marks the map-typed fields of a container inspect, so Go printing sorts their keys. */
function markContainerMaps(c: ContainerInspect): ContainerInspect {
  const maps: [object | undefined, string][] = [
    [c.Config, "Labels"],
    [c.Config, "ExposedPorts"],
    [c.Config, "Volumes"],
    [c.NetworkSettings, "Ports"],
    [c.NetworkSettings, "Networks"],
    [c.HostConfig, "PortBindings"],
    [c.HostConfig, "Sysctls"],
    [c.HostConfig, "Tmpfs"],
    [c.HostConfig, "StorageOpt"],
    [c.HostConfig?.LogConfig, "Config"],
    [c.GraphDriver, "Data"],
  ];
  for (const [obj, k] of maps) {
    const v = (obj as Record<string, unknown> | undefined)?.[k];
    if (v && typeof v === "object" && !Array.isArray(v)) goMap(v);
  }
  return c;
}

const inspectCommand = (name: string) =>
  command(
    {
      name,
      usage: `cove ${name} [OPTIONS] CONTAINER [CONTAINER...]`,
      summary: "Display detailed information on one or more containers",
      flags: {
        format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" },
        size: { type: "bool", short: "s", description: "Display total file sizes" },
        type: { type: "string", valueName: "string", hidden: true },
      },
      args: { min: 1 },
    },
    async ({ flags, args }, run) => {
      if (flags.type !== undefined && flags.type !== "container") throw new CliError(`"${flags.type}" is not a valid value for --type`);
      return inspectEach(run, args, {
        format: flags.format,
        get: async (a) => markContainerMaps(await (await run.client()).containerInspect(a, { size: flags.size || undefined })),
        failed: (err, a) => {
          if (!(err instanceof EngineError) || err.status !== 404) throw err;
          return `Error: No such container: ${a}`;
        },
      });
    },
  );

const topCommand = command({ name: "top", usage: "cove top CONTAINER [ps OPTIONS]", summary: "Display the running processes of a container", flags: {}, stopAtFirstPositional: true, args: { min: 1 } }, async ({ args }, run) => {
  const [id, ...ps] = args as [string, ...string[]];
  const top = await (await run.client()).containerTop(id, ps.length ? ps.join(" ") : undefined);
  const lines = [top.Titles.join("\t"), ...(top.Processes ?? []).map((p) => p.join("\t"))];
  run.out(tabwrite(lines.join("\n") + "\n", { minwidth: 20, padding: 3, padchar: " " }));
  return 0;
});

const portCommand = command({ name: "port", usage: "cove port CONTAINER [PRIVATE_PORT[/PROTO]]", summary: "List port mappings or a specific mapping for the container", flags: {}, args: { min: 1, max: 2 } }, async ({ args }, run) => {
  const c = await (await run.client()).containerInspect(args[0]!);
  const ports = c.NetworkSettings.Ports ?? {};
  const fmt = (b: PortBinding) => `${b.HostIp.includes(":") ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
  if (args[1] !== undefined) {
    const [port, protoArg] = args[1].split("/") as [string, string | undefined];
    const proto = protoArg ?? "tcp";
    const bindings = ports[`${port}/${proto}`];
    if (!bindings || bindings.length === 0) throw new CliError(`Error: No public port '${args[1]}' published for ${args[0]}`);
    for (const b of bindings) run.out(fmt(b) + "\n");
    return 0;
  }
  const keys = Object.keys(ports).sort((a, b) => parseInt(a) - parseInt(b) || a.localeCompare(b));
  for (const k of keys) for (const b of ports[k] ?? []) run.out(`${k} -> ${fmt(b)}\n`);
  return 0;
});

const diffCommand = command({ name: "diff", usage: "cove diff CONTAINER", summary: "Inspect changes to files or directories on a container's filesystem", flags: {}, args: { min: 1, max: 1 } }, async ({ args }, run) => {
  const changes = (await (await run.client()).containerChanges(args[0]!)) ?? [];
  for (const ch of changes) run.out(`${["C", "A", "D"][ch.Kind] ?? "?"} ${ch.Path}\n`);
  return 0;
});

export const inspectCommands: Record<string, Command> = {
  inspect: inspectCommand("inspect"),
  "container inspect": inspectCommand("container inspect"),
  top: topCommand,
  "container top": topCommand,
  port: portCommand,
  "container port": portCommand,
  diff: diffCommand,
  "container diff": diffCommand,
};

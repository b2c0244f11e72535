// compose attach, cp, stats and wait: cove's own container commands (cli/containers.ts) run on a
// service's containers, so their flags, output and exit codes are the container commands' own.

import { LABEL } from "../../compose/index.js";
import type { Command } from "../command.js";
import { intFlag, serviceContainers, takeFlags, type Ctx } from "./common.js";
import { invalid } from "../../common/errors.js";

async function containerCommand(name: string): Promise<Command> {
  const { containerCommands } = await import("../containers.js");
  return containerCommands[name]!;
}

/** The id of a service's container number `index` (1 unless given). */
async function containerOf(ctx: Ctx, service: string, index = 1): Promise<string> {
  const c = (await serviceContainers(await ctx.client(), ctx.project(), [service])).find((x) => x.Labels[LABEL.number] === String(index));
  if (!c) throw invalid(index === 1 ? `service "${service}" has no container` : `service "${service}" has no container number ${index}`, { code: "cli.no-container" });
  return c.Id;
}

function run(ctx: Ctx, cmd: Command, argv: string[]): Promise<number> {
  return cmd(argv, { client: ctx.client, io: { stdout: ctx.io.stdout, stderr: ctx.io.stderr, ...(ctx.io.stdin ? { stdin: ctx.io.stdin } : {}) }, env: ctx.env });
}

/** `compose attach [--index N] [--no-stdin] [--sig-proxy=false] [--detach-keys K] SERVICE`. */
export async function attach(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "--index": "index", "--detach-keys": "keys", "--sig-proxy": "sigproxy" }, { "--no-stdin": "nostdin" });
  const [service, ...extra] = f.rest;
  if (!service || extra.length) throw invalid("attach takes one service", { code: "cli.usage" });
  const id = await containerOf(ctx, service, intFlag(f, "index", "--index", 1));
  const argv = [...(f.set.has("nostdin") ? ["--no-stdin"] : []), ...(f.values.keys ? ["--detach-keys", f.values.keys.at(-1)!] : []), ...(f.values.sigproxy ? [`--sig-proxy=${f.values.sigproxy.at(-1)}`] : []), id];
  return run(ctx, await containerCommand("attach"), argv);
}

/** `compose cp [--index N] [-a] [-L] SERVICE:SRC DEST | SRC SERVICE:DEST`. */
export async function cp(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "--index": "index" }, { "-a": "archive", "--archive": "archive", "-L": "follow", "--follow-link": "follow" });
  if (f.rest.length !== 2) throw invalid("cp takes a source and a destination, one of them SERVICE:PATH", { code: "cli.usage" });
  const index = intFlag(f, "index", "--index", 1);
  const project = ctx.project();
  const paths: string[] = [];
  let seen = 0;
  for (const p of f.rest) {
    const colon = p.indexOf(":");
    const service = colon > 0 ? p.slice(0, colon) : undefined;
    if (service !== undefined && project.services[service]) {
      seen++;
      paths.push(`${await containerOf(ctx, service, index)}:${p.slice(colon + 1)}`);
    } else paths.push(p);
  }
  if (seen !== 1) throw invalid("cp copies between a service's container and the host: give one of the paths as SERVICE:PATH", { code: "cli.usage" });
  return run(ctx, await containerCommand("cp"), [...(f.set.has("archive") ? ["-a"] : []), ...(f.set.has("follow") ? ["-L"] : []), ...paths]);
}

/** `compose stats [--no-stream] [--no-trunc] [-a] [--format F] [SERVICE...]`. */
export async function stats(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "--format": "format" }, { "--no-stream": "nostream", "--no-trunc": "notrunc", "-a": "all", "--all": "all" });
  const ids = (await serviceContainers(await ctx.client(), ctx.project(), f.rest, { all: f.set.has("all") })).map((c) => c.Id);
  if (ids.length === 0) throw invalid("the project has no containers to show", { code: "cli.no-container" });
  const argv = [...(f.set.has("nostream") ? ["--no-stream"] : []), ...(f.set.has("notrunc") ? ["--no-trunc"] : []), ...(f.set.has("all") ? ["-a"] : []), ...(f.values.format ? ["--format", f.values.format.at(-1)!] : []), ...ids];
  return run(ctx, await containerCommand("stats"), argv);
}

/** `compose wait SERVICE...`: until their containers stop; each one's exit code, as docker wait prints them. */
export async function wait(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, {}, {});
  if (f.rest.length === 0) throw invalid("wait takes one service or more", { code: "cli.usage" });
  const ids = (await serviceContainers(await ctx.client(), ctx.project(), f.rest, { all: true })).map((c) => c.Id);
  if (ids.length === 0) throw invalid(`no containers for ${f.rest.join(", ")}`, { code: "cli.no-container" });
  return run(ctx, await containerCommand("wait"), ids);
}

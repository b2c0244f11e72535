// `cove compose start|stop|restart|kill|rm|pause|unpause [SERVICE...]`: the lifecycle of a
// project's existing containers, as `docker compose` has it: starts in dependency order, stops
// dependents first, each level in parallel, one progress line per container on stderr.

import { invalid, notFound } from "../../common/errors.js";
import type { EngineClient } from "../../client/index.js";
import { dependencyOrder, LABEL, type Project } from "../../compose/index.js";
import { parseGoDuration, parseSignal, type ContainerSummary } from "../../docker/index.js";
import { confirm } from "../input.js";
import { intFlag, name, serviceContainers, takeFlags, type Ctx } from "./common.js";

/** The containers grouped by their service's place in the dependency order, dependencies first. */
function levels(project: Project, list: ContainerSummary[]): ContainerSummary[][] {
  const order = dependencyOrder(project.services, project.disabled);
  const rank = (c: ContainerSummary) => order.indexOf(c.Labels[LABEL.service] ?? "");
  const by = new Map<number, ContainerSummary[]>();
  for (const c of list) by.set(rank(c), [...(by.get(rank(c)) ?? []), c]);
  return [...by.keys()].sort((a, b) => a - b).map((r) => by.get(r)!);
}

/** Runs `fn` on each level in turn (reversed: dependents first), the containers of a level at once. */
async function byLevel(project: Project, list: ContainerSummary[], reverse: boolean, fn: (c: ContainerSummary) => Promise<void>): Promise<void> {
  const ls = levels(project, list);
  if (reverse) ls.reverse();
  for (const l of ls) await Promise.all(l.map(fn));
}

function stopTimeout(project: Project, c: ContainerSummary, t: number | undefined): { t?: number } {
  if (t !== undefined) return { t };
  const grace = project.services[c.Labels[LABEL.service] ?? ""]?.stop_grace_period;
  return grace ? { t: Math.round(parseGoDuration(grace) / 1e9) } : {};
}

const running = (c: ContainerSummary) => c.State === "running" || c.State === "restarting";

export async function start(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, {}, {});
  const project = ctx.project();
  const client = await ctx.client();
  const list = await serviceContainers(client, project, f.rest);
  for (const s of f.rest) if (!list.some((c) => c.Labels[LABEL.service] === s)) throw notFound(`service "${s}" has no container to start`, { hint: "create it first with: cove compose up -d (or cove compose create)" });
  if (!list.length) throw notFound(`project "${project.name}" has no container to start`, { hint: "create them first with: cove compose up -d (or cove compose create)" });
  await byLevel(project, list, false, async (c) => {
    if (c.State === "running") return;
    await client.containerStart(c.Id);
    ctx.progress(`Container ${name(c)}  Started`);
  });
  return 0;
}

export async function stop(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "-t": "timeout", "--timeout": "timeout" }, {});
  const t = intFlag(f, "timeout", "--timeout");
  const project = ctx.project();
  const client = await ctx.client();
  const list = await serviceContainers(client, project, f.rest);
  await byLevel(project, list, true, async (c) => {
    if (!running(c) && c.State !== "paused") return;
    await client.containerStop(c.Id, stopTimeout(project, c, t));
    ctx.progress(`Container ${name(c)}  Stopped`);
  });
  return 0;
}

export async function restart(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "-t": "timeout", "--timeout": "timeout" }, {});
  const t = intFlag(f, "timeout", "--timeout");
  const project = ctx.project();
  const client = await ctx.client();
  // the services whose depends_on says restart: true follow a restarted dependency
  const names = new Set(f.rest.length ? f.rest : Object.keys(project.services));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [s, svc] of Object.entries(project.services)) {
      if (names.has(s)) continue;
      if (Object.entries(svc.depends_on ?? {}).some(([d, dep]) => dep.restart && names.has(d))) {
        names.add(s);
        grew = true;
      }
    }
  }
  const list = await serviceContainers(client, project, f.rest.length ? [...names] : []);
  if (!list.length) throw notFound(f.rest.length ? `service "${f.rest.join('", "')}" has no container to restart` : `project "${project.name}" has no container to restart`);
  await byLevel(project, list, false, async (c) => {
    await client.containerRestart(c.Id, stopTimeout(project, c, t));
    ctx.progress(`Container ${name(c)}  Started`);
  });
  return 0;
}

export async function kill(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "-s": "signal", "--signal": "signal" }, {});
  const signal = f.values.signal?.at(-1) ?? "SIGKILL";
  try {
    parseSignal(signal);
  } catch (err) {
    throw invalid(`invalid signal "${signal}"`, { code: "cli.usage", cause: err });
  }
  const project = ctx.project();
  const client = await ctx.client();
  const list = (await serviceContainers(client, project, f.rest)).filter(running);
  if (!list.length) {
    ctx.io.stderr.write("no container to kill\n");
    return 0;
  }
  await Promise.all(
    list.map(async (c) => {
      await client.containerKill(c.Id, signal);
      ctx.progress(`Container ${name(c)}  Killed`);
    }),
  );
  return 0;
}

export async function rm(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, {}, { "-f": "force", "--force": "force", "-s": "stop", "--stop": "stop", "-v": "volumes", "--volumes": "volumes" });
  const project = ctx.project();
  const client = await ctx.client();
  let list = await serviceContainers(client, project, f.rest);
  if (f.set.has("stop")) {
    await byLevel(project, list.filter((c) => running(c) || c.State === "paused"), true, async (c) => {
      await client.containerStop(c.Id, stopTimeout(project, c, undefined));
      ctx.progress(`Container ${name(c)}  Stopped`);
    });
    list = await serviceContainers(client, project, f.rest);
  }
  const stopped = list.filter((c) => !running(c) && c.State !== "paused");
  if (!stopped.length) {
    ctx.io.stderr.write("No stopped containers\n");
    return 0;
  }
  const msg = `Going to remove ${stopped.map(name).join(", ")}`;
  if (f.set.has("force")) ctx.io.stderr.write(`${msg}\n`);
  else if (!(await confirm({ stdout: ctx.io.stderr, stdin: ctx.io.stdin ?? process.stdin }, `? ${msg}`))) return 0;
  await Promise.all(
    stopped.map(async (c) => {
      await client.containerRemove(c.Id, { v: f.set.has("volumes") });
      ctx.progress(`Container ${name(c)}  Removed`);
    }),
  );
  return 0;
}

export async function pause(ctx: Ctx, args: string[], resume: boolean): Promise<number> {
  const f = takeFlags(args, {}, {});
  const project = ctx.project();
  const client: EngineClient = await ctx.client();
  const list = (await serviceContainers(client, project, f.rest)).filter((c) => (resume ? c.State === "paused" : c.State === "running"));
  await Promise.all(
    list.map(async (c) => {
      if (resume) await client.containerUnpause(c.Id);
      else await client.containerPause(c.Id);
      ctx.progress(`Container ${name(c)}  ${resume ? "Unpaused" : "Paused"}`);
    }),
  );
  return 0;
}

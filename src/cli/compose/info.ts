// `cove compose top|port|images|ls|events|pull|push`: what a project runs and where, the
// projects on the engine, its events, and its images to and from registries, with `docker
// compose`'s flags and output.

import { CoveError, invalid, notFound } from "../../common/errors.js";
import { jsonLines, type ProgressMessage } from "../../client/index.js";
import { LABEL, type Project } from "../../compose/index.js";
import { humanSize, type ContainerSummary, type EventMessage } from "../../docker/index.js";
import { familiarString, parseNormalizedNamed, tagNameOnly } from "../../images/reference.js";
import { errorLine, makeRun } from "../command.js";
import { pullWithProgress } from "../images.js";
import { displayJSONMessages } from "../progress.js";
import { registryAuthHeader } from "../registry-auth.js";
import { intFlag, name, serviceContainers, table, takeFlags, type Ctx } from "./common.js";

export async function top(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, {}, {});
  const project = ctx.project();
  const client = await ctx.client();
  const list = (await serviceContainers(client, project, f.rest)).filter((c) => c.State === "running");
  const parts: string[] = [];
  for (const c of list) {
    const t = await client.containerTop(c.Id);
    parts.push(`${name(c)}\n${table([t.Titles, ...t.Processes])}`);
  }
  ctx.io.stdout.write(parts.join("\n"));
  return 0;
}

export async function port(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "--protocol": "protocol", "--index": "index" }, {});
  const [service, privatePort, ...extra] = f.rest;
  if (!service || !privatePort || extra.length) throw invalid('"cove compose port" requires exactly 2 arguments: SERVICE PRIVATE_PORT', { code: "cli.usage" });
  if (!/^\d+$/.test(privatePort) || Number(privatePort) < 1 || Number(privatePort) > 65535) throw invalid(`invalid port "${privatePort}": a port is a number from 1 to 65535`, { code: "cli.usage" });
  const proto = f.values.protocol?.at(-1) ?? "tcp";
  if (!["tcp", "udp", "sctp"].includes(proto)) throw invalid(`invalid protocol "${proto}": tcp, udp or sctp`, { code: "cli.usage" });
  const index = intFlag(f, "index", "--index", 1) ?? 1;
  const project = ctx.project();
  const client = await ctx.client();
  const c = (await serviceContainers(client, project, [service])).find((x) => x.Labels[LABEL.number] === String(index));
  if (!c) throw notFound(`service "${service}" has no container number ${index}`);
  const p = (c.Ports ?? []).find((x) => x.PrivatePort === Number(privatePort) && x.Type === proto && x.PublicPort);
  if (!p) throw notFound(`no port ${privatePort}/${proto} for container ${name(c)}`);
  ctx.io.stdout.write(`${p.IP ?? ""}:${p.PublicPort}\n`);
  return 0;
}

export async function images(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "--format": "format" }, { "-q": "quiet", "--quiet": "quiet" });
  const format = f.values.format?.at(-1) ?? "table";
  if (format !== "table" && format !== "json") throw invalid(`invalid --format "${format}": table or json`, { code: "cli.usage" });
  const project = ctx.project();
  const client = await ctx.client();
  const list = await serviceContainers(client, project, f.rest);
  const rows: { ContainerName: string; Repository: string; Tag: string; ID: string; Size: number }[] = [];
  for (const c of list) {
    const img = await client.imageInspect(c.ImageID);
    const named = (img.RepoTags ?? []).find((t) => t === c.Image || t === `${c.Image}:latest`) ?? img.RepoTags?.[0];
    const i = named ? named.lastIndexOf(":") : -1;
    rows.push({ ContainerName: name(c), Repository: named ? named.slice(0, i) : "<none>", Tag: named ? named.slice(i + 1) : "<none>", ID: img.Id, Size: img.Size });
  }
  if (f.set.has("quiet")) ctx.io.stdout.write([...new Set(rows.map((r) => r.ID))].map((id) => `${id}\n`).join(""));
  else if (format === "json") ctx.io.stdout.write(`${JSON.stringify(rows)}\n`);
  else ctx.io.stdout.write(table([["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"], ...rows.map((r) => [r.ContainerName, r.Repository, r.Tag, r.ID.replace(/^sha256:/, "").slice(0, 12), humanSize(r.Size)])]));
  return 0;
}

/** docker compose's combined status: each state with its count, states in sorted order ("exited(1), running(2)"). */
export function combinedStatus(states: string[]): string {
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts.keys()]
    .sort()
    .map((s) => `${s}(${counts.get(s)})`)
    .join(", ");
}

/** `ls`: the projects on the engine, found from their containers' labels (no compose file needed). */
export async function ls(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "--format": "format", "--filter": "filter" }, { "-a": "all", "--all": "all", "-q": "quiet", "--quiet": "quiet" });
  if (f.rest.length) throw invalid(`"cove compose ls" accepts no arguments (got ${f.rest.join(" ")})`, { code: "cli.usage" });
  const format = f.values.format?.at(-1) ?? "table";
  if (format !== "table" && format !== "json") throw invalid(`invalid --format "${format}": table or json`, { code: "cli.usage" });
  const nameFilters: string[] = [];
  for (const flt of f.values.filter ?? []) {
    const m = /^name=(.*)$/.exec(flt);
    if (!m) throw invalid(`invalid filter "${flt}": cove compose ls filters by name=NAME`, { code: "cli.usage" });
    nameFilters.push(m[1]!);
  }
  const client = await ctx.client();
  const list = await client.containerList({ all: f.set.has("all"), filters: { label: [LABEL.project] } });
  const projects = new Map<string, ContainerSummary[]>();
  for (const c of list) {
    const p = c.Labels[LABEL.project]!;
    if (nameFilters.length && !nameFilters.some((n) => p.includes(n))) continue;
    projects.set(p, [...(projects.get(p) ?? []), c]);
  }
  const rows = [...projects.keys()].sort().map((p) => {
    const cs = projects.get(p)!;
    const files = [...new Set(cs.map((c) => c.Labels[LABEL.configFiles]).filter((x): x is string => !!x))].join(",");
    return { Name: p, Status: combinedStatus(cs.map((c) => c.State)), ConfigFiles: files };
  });
  if (f.set.has("quiet")) ctx.io.stdout.write(rows.map((r) => `${r.Name}\n`).join(""));
  else if (format === "json") ctx.io.stdout.write(`${JSON.stringify(rows)}\n`);
  else ctx.io.stdout.write(table([["NAME", "STATUS", "CONFIG FILES"], ...rows.map((r) => [r.Name, r.Status, r.ConfigFiles])]));
  return 0;
}

/** A time as docker compose prints an event's: 2006-01-02 15:04:05.000000 in UTC. */
function eventTime(nanos: number): string {
  const d = new Date(Math.floor(nanos / 1e6));
  const micro = String(Math.floor((nanos % 1e9) / 1e3)).padStart(6, "0");
  return `${d.toISOString().slice(0, 19).replace("T", " ")}.${micro}`;
}

/** `events`: the project's container events as they happen, until `ctx.signal` aborts (or the engine ends the stream). */
export async function events(ctx: Ctx & { signal?: AbortSignal }, args: string[]): Promise<number> {
  const f = takeFlags(args, {}, { "--json": "json" });
  const project = ctx.project();
  const client = await ctx.client();
  const label = [`${LABEL.project}=${project.name}`];
  const res = await client.stream("GET", "/events", { query: { filters: { type: ["container"], label } } });
  const onAbort = () => res.destroy();
  if (ctx.signal?.aborted) onAbort();
  ctx.signal?.addEventListener("abort", onAbort);
  try {
    for await (const e of jsonLines<EventMessage>(res)) {
      const service = e.Actor.Attributes[LABEL.service] ?? "";
      if (f.rest.length && !f.rest.includes(service)) continue;
      const attrs = Object.fromEntries(Object.entries(e.Actor.Attributes).filter(([k]) => !k.startsWith("com.docker.compose.")));
      if (f.set.has("json")) {
        ctx.io.stdout.write(`${JSON.stringify({ time: new Date(Math.floor(e.timeNano / 1e6)).toISOString(), type: e.Type, action: e.Action, id: e.Actor.ID, service, attributes: attrs })}\n`);
      } else {
        const list = Object.keys(attrs)
          .sort()
          .map((k) => `${k}=${attrs[k]}`)
          .join(", ");
        ctx.io.stdout.write(`${eventTime(e.timeNano)} ${e.Type} ${e.Action} ${e.Actor.ID} (${list})\n`);
      }
    }
  } catch (err) {
    if (!ctx.signal?.aborted) throw err;
  } finally {
    ctx.signal?.removeEventListener("abort", onAbort);
  }
  return 0;
}

/** The services pull and push act on: the named ones, or all. */
function services(project: Project, names: string[]): string[] {
  for (const n of names) if (!project.services[n]) throw invalid(`no such service: ${n}`, { code: "cli.no-such-service" });
  return names.length ? names : Object.keys(project.services).sort();
}

export async function pull(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, {}, { "--ignore-pull-failures": "ignore", "-q": "quiet", "--quiet": "quiet", "--ignore-buildable": "buildable" });
  const project = ctx.project();
  const client = await ctx.client();
  const run = makeRun({ client, io: { stdout: ctx.io.stdout, stderr: ctx.io.stderr }, env: ctx.env });
  const done = new Map<string, Promise<void>>();
  let failed: CoveError | undefined;
  for (const s of services(project, f.rest)) {
    const svc = project.services[s]!;
    // a service built from its build section has no image to pull
    if (!svc.image || (svc.build !== undefined && f.set.has("buildable"))) {
      if (!f.set.has("quiet")) ctx.io.stderr.write(` - ${s} Skipped${svc.build !== undefined ? " - No image to be pulled" : ""}\n`);
      continue;
    }
    const image = svc.image;
    let p = done.get(image);
    if (!p) {
      p = pullWithProgress(run, image, { quiet: true, write: () => undefined, terminal: false }).then(() => undefined);
      done.set(image, p);
    }
    try {
      await p;
      if (!f.set.has("quiet")) ctx.io.stderr.write(` ✔ ${s} Pulled\n`);
    } catch (err) {
      const why = errorLine(err).replace(/^Error( response from daemon)?: /, "");
      // a buildable service's image may not be published yet: its failure is a warning
      if (f.set.has("ignore") || svc.build !== undefined) {
        ctx.io.stderr.write(` ! ${s} Warning ${why}\n`);
        continue;
      }
      ctx.io.stderr.write(` ✘ ${s} Error ${why}\n`);
      failed ??= new CoveError(err instanceof CoveError ? err.kind : "system", `service "${s}": pulling ${image} failed: ${why}`, { code: "cli.pull", cause: err });
    }
  }
  if (failed) throw failed;
  return 0;
}

export async function push(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, {}, { "--ignore-push-failures": "ignore", "-q": "quiet", "--quiet": "quiet" });
  const project = ctx.project();
  const client = await ctx.client();
  for (const s of services(project, f.rest)) {
    const svc = project.services[s]!;
    // as docker compose: only what the project builds is its to push
    if (svc.build === undefined || !svc.image) {
      if (!f.set.has("quiet")) ctx.io.stderr.write(` - ${s} Skipped - No image to be pushed\n`);
      continue;
    }
    try {
      const ref = tagNameOnly(parseNormalizedNamed(svc.image));
      const res = await client.imagePush(familiarString({ domain: ref.domain, path: ref.path }), { tag: ref.tag }, await registryAuthHeader(ctx.env, ref.domain));
      await displayJSONMessages(jsonLines<ProgressMessage>(res), () => undefined, { terminal: false });
      if (!f.set.has("quiet")) ctx.io.stderr.write(` ✔ ${s} Pushed\n`);
    } catch (err) {
      const why = errorLine(err).replace(/^Error( response from daemon)?: /, "");
      if (!f.set.has("ignore")) throw new CoveError(err instanceof CoveError ? err.kind : "system", `service "${s}": pushing ${svc.image} failed: ${why}`, { code: "cli.push", cause: err });
      ctx.io.stderr.write(` ! ${s} Warning ${why}\n`);
    }
  }
  return 0;
}

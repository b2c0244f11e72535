// `cove compose [-f FILE]... [-p NAME] [--project-directory DIR] [--env-file FILE]... [--profile P]...
// COMMAND`: the loader of src/compose and the orchestration of ./engine.ts, with the commands,
// flags, output and exit codes of `docker compose`. The commands live by group: lifecycle.ts
// (start, stop, restart, kill, rm, pause, unpause), exec.ts (exec, run), info.ts (top, port,
// images, ls, events, pull, push), logs.ts (logs, attached up); config, up, create, down and ps
// are here.

import { CoveError, invalid } from "../../common/errors.js";
import type { EngineClient } from "../../client/index.js";
import { configYaml, LABEL, loadProject, type LoadOptions, type Project } from "../../compose/index.js";
import type { ContainerSummary } from "../../docker/index.js";
import { errorLine } from "../command.js";
import { builder, buildService } from "./build.js";
import { watch } from "./watch.js";
import { attach, cp, stats, wait } from "./delegate.js";
import { name, serviceContainers, table, takeFlags, type Ctx, type Streams } from "./common.js";
import { down, projectContainers, selectServices, up } from "./engine.js";
import { exec, run } from "./exec.js";
import { events, images, ls, port, pull, push, top } from "./info.js";
import { kill, pause, restart, rm, start, stop } from "./lifecycle.js";
import { logs } from "./logs.js";

export type { Streams } from "./common.js";

export const COMPOSE_USAGE = `Usage:  cove compose [OPTIONS] COMMAND

Define and run multi-container applications

Options:
  -f, --file stringArray           Compose configuration files
  -p, --project-name string        Project name
      --project-directory string   Alternate working directory (default: the first file's directory)
      --env-file stringArray       Alternate environment files
      --profile stringArray        Profiles to enable

Commands:
  config    Parse, resolve and render the compose file in canonical format
  create    Creates containers for a service (--scale, --force-recreate, --no-recreate)
  down      Stop and remove containers and networks (-v, --rmi all|local, --remove-orphans)
  events    Receive real time events from containers (--json)
  exec      Execute a command in a running container (-d, -T, -e, -u, -w, --index)
  images    List images used by the created containers (-q, --format)
  kill      Force stop service containers (-s)
  logs      View output from containers (-f, -n, -t, --no-color, --no-log-prefix)
  ls        List running compose projects (-a, -q, --format, --filter)
  pause     Pause services
  port      Print the public port for a port binding (--protocol, --index)
  ps        List containers (-a, -q, --services, --status, --format)
  pull      Pull service images (--ignore-pull-failures, -q)
  push      Push service images (--ignore-push-failures, -q)
  restart   Restart service containers (-t)
  rm        Removes stopped service containers (-f, -s, -v)
  run       Run a one-off command on a service (--rm, -d, -e, -v, -p, --service-ports, --name, --entrypoint, --no-deps, -T, -u, -w, -l)
  start     Start services
  stop      Stop services (-t)
  top       Display the running processes
  unpause   Unpause services
  build     Build or rebuild services (--no-cache, --pull, -q)
  attach    Attach to a service's running container (--index, --no-stdin, --detach-keys)
  cp        Copy files between a service's container and the host (SERVICE:PATH; --index, -a, -L)
  stats     Resource use of the project's containers (--no-stream, --format, -a)
  wait      Block until the services' containers stop; prints their exit codes
  watch     Watch the services' develop.watch paths: sync, sync+restart, sync+exec, rebuild (--no-up, --quiet)
  up        Create and start containers (--build, --no-build, -d, --wait, --scale, --abort-on-container-exit, --exit-code-from, --force-recreate, --no-recreate, --no-deps, --no-start, --remove-orphans)
`;

/** Runs `cove compose ...`; `client` connects on first use. `signal` ends a streaming command (events, logs -f). */
export async function composeMain(
  argv: string[],
  client: () => Promise<EngineClient>,
  io: Streams = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
  env: NodeJS.ProcessEnv = process.env,
  signal?: AbortSignal,
): Promise<number> {
  try {
    return await dispatch(argv, client, io, env, signal);
  } catch (err) {
    io.stderr.write(`${errorLine(err)}\n`);
    // what to do about it: a usage error's pointer to --help as docker prints it, any other as a hint
    if (err instanceof CoveError && err.hint) io.stderr.write(err.code === "cli.usage" ? `${err.hint}\n` : `hint: ${err.hint}\n`);
    // as docker compose: 14 when a file is missing, 15 when the project cannot be loaded
    const code = err instanceof CoveError ? err.code : undefined;
    return code === "compose.file" ? 14 : code?.startsWith("compose.") ? 15 : 1;
  }
}

/** --scale SERVICE=N, each given once or more (the last wins). */
function scales(values: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(v);
    if (!m) throw invalid(`invalid --scale "${v}": expected SERVICE=NUMBER`, { code: "cli.usage" });
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function dispatch(argv: string[], client: () => Promise<EngineClient>, io: Streams, env: NodeJS.ProcessEnv, signal: AbortSignal | undefined): Promise<number> {
  const g = takeFlags(
    argv,
    { "-f": "file", "--file": "file", "-p": "project", "--project-name": "project", "--project-directory": "dir", "--env-file": "envFile", "--profile": "profile" },
    { "-h": "help", "--help": "help" },
  );
  const [cmd, ...args] = g.rest;
  if (g.set.has("help") || cmd === undefined || cmd === "help") {
    io.stdout.write(COMPOSE_USAGE);
    return cmd === undefined && !g.set.has("help") ? 1 : 0;
  }
  let loaded: Project | undefined;
  const load = (): Project => {
    if (loaded) return loaded;
    const opts: LoadOptions = { env, files: g.values.file, projectName: g.values.project?.at(-1), projectDirectory: g.values.dir?.at(-1), envFiles: g.values.envFile, profiles: g.values.profile };
    loaded = loadProject(opts);
    for (const w of loaded.warnings) io.stderr.write(`WARN[0000] ${w}\n`);
    return loaded;
  };
  const progress = (line: string) => void io.stderr.write(` ✔ ${line}\n`);
  let connected: Promise<EngineClient> | undefined;
  const ctx: Ctx & { signal?: AbortSignal } = { project: load, client: () => (connected ??= client()), io, env, progress, signal };
  switch (cmd) {
    case "config": {
      const f = takeFlags(args, {}, { "-q": "quiet", "--quiet": "quiet", "--services": "services", "--volumes": "volumes" });
      const project = load();
      if (f.set.has("quiet")) return 0;
      if (f.set.has("services")) io.stdout.write(Object.keys(project.services).map((s) => `${s}\n`).join(""));
      else if (f.set.has("volumes")) io.stdout.write(Object.keys(project.volumes).map((s) => `${s}\n`).join(""));
      else io.stdout.write(configYaml(project));
      return 0;
    }
    case "up":
      return upCommand(ctx, args);
    case "create": {
      const f = takeFlags(args, { "--scale": "scale" }, { "--force-recreate": "force", "--no-recreate": "norecreate", "--remove-orphans": "orphans" });
      if (f.set.has("force") && f.set.has("norecreate")) throw invalid("--force-recreate and --no-recreate are incompatible", { code: "cli.usage" });
      const c = await ctx.client();
      const project = load();
      await up(c, project, { forceRecreate: f.set.has("force"), noRecreate: f.set.has("norecreate"), removeOrphans: f.set.has("orphans"), services: f.rest, scale: scales(f.values.scale), noStart: true, progress, build: builder(ctx, c, project, false) });
      return 0;
    }
    case "watch":
      return watch(ctx, args);
    case "attach":
      return attach(ctx, args);
    case "cp":
      return cp(ctx, args);
    case "stats":
      return stats(ctx, args);
    case "wait":
      return wait(ctx, args);
    case "build": {
      const f = takeFlags(args, {}, { "--no-cache": "nocache", "--pull": "pull", "-q": "quiet", "--quiet": "quiet" });
      const project = load();
      for (const s of f.rest) if (!project.services[s]) throw invalid(`no such service: ${s}`, { code: "compose.no-service" });
      const c = await ctx.client();
      const names = (f.rest.length ? f.rest : Object.keys(project.services)).filter((s) => project.services[s]!.build !== undefined);
      for (const s of names) {
        if (!f.set.has("quiet")) progress(`Building ${s}`);
        await buildService(c, project, s, f.set.has("quiet") ? sink() : io.stderr, { noCache: f.set.has("nocache"), pull: f.set.has("pull") });
        if (!f.set.has("quiet")) progress(`Service ${s}  Built`);
      }
      return 0;
    }
    case "down": {
      const f = takeFlags(args, { "--rmi": "rmi" }, { "-v": "volumes", "--volumes": "volumes", "--remove-orphans": "orphans" });
      const rmi = f.values.rmi?.at(-1);
      if (rmi !== undefined && rmi !== "all" && rmi !== "local") throw invalid(`invalid value for --rmi: ${rmi} (all or local)`, { code: "cli.usage" });
      const project = load();
      await down(await ctx.client(), project, { volumes: f.set.has("volumes"), removeOrphans: f.set.has("orphans"), progress, ...(rmi ? { rmi } : {}) });
      return 0;
    }
    case "ps":
      return ps(ctx, args);
    case "logs": {
      const f = takeFlags(args, { "-n": "tail", "--tail": "tail" }, { "-f": "follow", "--follow": "follow", "--no-color": "nocolor", "--no-log-prefix": "noprefix", "-t": "timestamps", "--timestamps": "timestamps" });
      const project = load();
      await logs(await ctx.client(), project, io, {
        follow: f.set.has("follow"),
        color: io.stdout.isTTY === true && !f.set.has("nocolor"),
        prefix: !f.set.has("noprefix"),
        services: f.rest,
        tail: f.values.tail?.at(-1),
        timestamps: f.set.has("timestamps"),
        signal,
      });
      return 0;
    }
    case "exec":
      return exec(ctx, args);
    case "run":
      return run(ctx, args);
    case "start":
      return start(ctx, args);
    case "stop":
      return stop(ctx, args);
    case "restart":
      return restart(ctx, args);
    case "kill":
      return kill(ctx, args);
    case "rm":
      return rm(ctx, args);
    case "pause":
      return pause(ctx, args, false);
    case "unpause":
      return pause(ctx, args, true);
    case "top":
      return top(ctx, args);
    case "port":
      return port(ctx, args);
    case "images":
      return images(ctx, args);
    case "ls":
      return ls(ctx, args);
    case "events":
      return events(ctx, args);
    case "pull":
      return pull(ctx, args);
    case "push":
      return push(ctx, args);
    default:
      throw new CoveError("invalid", `unknown compose command "${cmd}"`, { code: "cli.usage", hint: "See 'cove compose --help'." });
  }
}

/** A stream that drops what it is given (a quiet build's output). */
function sink(): NodeJS.WritableStream {
  return { write: () => true } as unknown as NodeJS.WritableStream;
}

async function upCommand(ctx: Ctx, args: string[]): Promise<number> {
  const { io, progress } = ctx;
  const f = takeFlags(
    args,
    { "--scale": "scale", "--exit-code-from": "exitfrom" },
    {
      "-d": "detach", "--detach": "detach", "--wait": "wait", "--force-recreate": "force", "--no-recreate": "norecreate", "--remove-orphans": "orphans",
      "--no-deps": "nodeps", "--no-start": "nostart", "--abort-on-container-exit": "abort", "--no-color": "nocolor", "--no-log-prefix": "noprefix",
      "--build": "build", "--no-build": "nobuild",
    },
  );
  if (f.set.has("build") && f.set.has("nobuild")) throw invalid("--build and --no-build are incompatible", { code: "cli.usage" });
  if (f.set.has("force") && f.set.has("norecreate")) throw invalid("--force-recreate and --no-recreate are incompatible", { code: "cli.usage" });
  const exitFrom = f.values.exitfrom?.at(-1);
  const abort = f.set.has("abort") || exitFrom !== undefined;
  const detached = f.set.has("detach") || f.set.has("wait");
  if (abort && detached) throw invalid(`${exitFrom !== undefined ? "--exit-code-from" : "--abort-on-container-exit"} and ${f.set.has("detach") ? "-d" : "--wait"} are incompatible`, { code: "cli.usage" });
  if (f.set.has("nostart") && (detached || abort)) throw invalid("--no-start cannot be combined with -d, --wait or --abort-on-container-exit", { code: "cli.usage" });
  const project = ctx.project();
  if (exitFrom !== undefined && !project.services[exitFrom]) throw invalid(`--exit-code-from ${exitFrom}: no such service`, { code: "cli.usage" });
  const c = await ctx.client();
  await up(c, project, {
    forceRecreate: f.set.has("force"),
    noRecreate: f.set.has("norecreate"),
    removeOrphans: f.set.has("orphans"),
    wait: f.set.has("wait"),
    services: f.rest,
    noDeps: f.set.has("nodeps"),
    scale: scales(f.values.scale),
    noStart: f.set.has("nostart"),
    progress,
    ...(f.set.has("nobuild") ? {} : { build: builder(ctx, c, project, f.set.has("build")) }),
  });
  if (detached || f.set.has("nostart")) return 0;
  // attached: the services' output until every container has stopped (or, with abort, the first); Ctrl-C stops them
  let stopping = false;
  // what this up brought up (the named services and their dependencies), nothing else of the project
  const selected = new Set(selectServices(project, f.rest, f.set.has("nodeps")));
  const stopOthers = () => void stopAll(c, project.name, selected, progress).catch((err: unknown) => io.stderr.write(`${errorLine(err)}\n`));
  const onInt = () => {
    if (stopping) process.exit(130);
    stopping = true;
    io.stderr.write("Gracefully stopping... (press Ctrl+C again to force)\n");
    stopOthers();
  };
  let first: number | undefined;
  const onExit = (_c: unknown, _service: string, code: number) => {
    if (!abort || stopping) return;
    stopping = true;
    first = code;
    io.stderr.write("Aborting on container exit...\n");
    stopOthers();
  };
  process.on("SIGINT", onInt);
  try {
    const codes = await logs(c, project, io, { follow: true, color: io.stdout.isTTY === true && !f.set.has("nocolor"), prefix: !f.set.has("noprefix"), services: f.rest, attached: true, onExit });
    if (exitFrom !== undefined) return codes.get(exitFrom) ?? 0;
    return abort ? (first ?? 0) : 0;
  } finally {
    process.off("SIGINT", onInt);
  }
}

async function ps(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(args, { "--format": "format", "--status": "status" }, { "-a": "all", "--all": "all", "-q": "quiet", "--quiet": "quiet", "--services": "services" });
  const format = f.values.format?.at(-1) ?? "table";
  if (format !== "table" && format !== "json") throw invalid(`invalid --format "${format}": table or json`, { code: "cli.usage" });
  const project = ctx.project();
  let list = await serviceContainers(await ctx.client(), project, f.rest, { all: f.set.has("all") || !!f.values.status });
  if (f.values.status) list = list.filter((c) => f.values.status!.includes(c.State));
  if (f.set.has("services")) {
    ctx.io.stdout.write([...new Set(list.map((c) => c.Labels[LABEL.service] ?? ""))].map((s) => `${s}\n`).join(""));
    return 0;
  }
  if (f.set.has("quiet")) {
    ctx.io.stdout.write(list.map((c) => `${c.Id}\n`).join(""));
    return 0;
  }
  const publishers = (c: ContainerSummary) =>
    (c.Ports ?? []).map((p) => ({ URL: p.IP ?? "", TargetPort: p.PrivatePort, PublishedPort: p.PublicPort ?? 0, Protocol: p.Type }));
  if (format === "json") {
    const rows = list.map((c) => ({
      ID: c.Id, Name: name(c), Image: c.Image, Command: c.Command, Project: project.name, Service: c.Labels[LABEL.service] ?? "", Created: c.Created,
      State: c.State, Status: c.Status, Health: /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1]?.replace("health: ", "") ?? "",
      ExitCode: Number(/^Exited \((\d+)\)/.exec(c.Status)?.[1] ?? 0), Publishers: publishers(c),
    }));
    ctx.io.stdout.write(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  const rows = [["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"]];
  for (const c of list)
    rows.push([
      name(c),
      c.Image,
      JSON.stringify(c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command),
      c.Labels[LABEL.service] ?? "",
      c.Status,
      (c.Ports ?? [])
        .filter((p) => p.PublicPort)
        .map((p) => `${p.IP ?? ""}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`)
        .join(", "),
    ]);
  ctx.io.stdout.write(table(rows));
  return 0;
}

/** Stops the running containers of these services of the project, all at once. */
async function stopAll(client: EngineClient, project: string, services: Set<string>, progress: (l: string) => void): Promise<void> {
  const list = (await projectContainers(client, project, false)).filter((c) => c.State === "running" && services.has(c.Labels[LABEL.service] ?? ""));
  await Promise.all(
    list.map(async (c) => {
      await client.containerStop(c.Id);
      progress(`Container ${name(c)}  Stopped`);
    }),
  );
}


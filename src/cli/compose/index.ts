// `cove compose [-f FILE]... [-p NAME] [--project-directory DIR] [--env-file FILE]... [--profile P]...
// config|up|down|ps|logs`: the loader of src/compose and the orchestration of ./engine.ts, with the
// flags and output of `docker compose`.

import type { Writable } from "node:stream";
import { CoveError } from "../../common/errors.js";
import type { EngineClient } from "../../client/index.js";
import { FrameDecoder } from "../../client/index.js";
import { configYaml, LABEL, loadProject, type LoadOptions, type Project } from "../../compose/index.js";
import { errorLine } from "../command.js";
import { down, projectContainers, up } from "./engine.js";

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
  up        Create and start containers (-d, --wait, --force-recreate, --no-recreate, --remove-orphans)
  down      Stop and remove containers and networks (-v, --remove-orphans)
  ps        List containers (-a, -q)
  logs      View output from containers (-f, --no-color, --no-log-prefix)
`;

interface Streams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable;
}

/** Flags as `docker compose` takes them: `--x v`, `--x=v`, `-x v`, and booleans. */
function takeFlags(argv: string[], valued: Record<string, string>, bools: Record<string, string>): { values: Record<string, string[]>; set: Set<string>; rest: string[] } {
  const values: Record<string, string[]> = {};
  const set = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-") || a === "-") break;
    if (a === "--") {
      i++;
      break;
    }
    const eq = a.indexOf("=");
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (valued[flag]) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new CoveError("invalid", `flag needs an argument: ${flag}`);
      (values[valued[flag]!] ??= []).push(v);
    } else if (bools[flag]) set.add(bools[flag]!);
    else throw new CoveError("invalid", `unknown flag: ${flag}`, { hint: "See 'cove compose --help'." });
  }
  return { values, set, rest: argv.slice(i) };
}

/** Runs `cove compose ...`; `client` connects on first use. */
export async function composeMain(argv: string[], client: () => Promise<EngineClient>, io: Streams = { stdout: process.stdout, stderr: process.stderr }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    return await run(argv, client, io, env);
  } catch (err) {
    io.stderr.write(`${errorLine(err)}\n`);
    // as docker compose: 14 when a file is missing, 15 when the project cannot be loaded
    const code = err instanceof CoveError ? err.code : undefined;
    return code === "compose.file" ? 14 : code?.startsWith("compose.") ? 15 : 1;
  }
}

async function run(argv: string[], client: () => Promise<EngineClient>, io: Streams, env: NodeJS.ProcessEnv): Promise<number> {
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
  const load = (): Project => {
    const opts: LoadOptions = { env, files: g.values.file, projectName: g.values.project?.at(-1), projectDirectory: g.values.dir?.at(-1), envFiles: g.values.envFile, profiles: g.values.profile };
    const project = loadProject(opts);
    for (const w of project.warnings) io.stderr.write(`WARN[0000] ${w}\n`);
    return project;
  };
  const progress = (line: string) => void io.stderr.write(` ✔ ${line}\n`);
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
    case "up": {
      const f = takeFlags(args, {}, { "-d": "detach", "--detach": "detach", "--wait": "wait", "--force-recreate": "force", "--no-recreate": "norecreate", "--remove-orphans": "orphans" });
      if (f.set.has("force") && f.set.has("norecreate")) throw new CoveError("invalid", "--force-recreate and --no-recreate are incompatible");
      if (f.rest.length) throw new CoveError("invalid", `cove compose up does not take service names yet (got ${f.rest.join(" ")})`);
      const project = load();
      const c = await client();
      await up(c, project, { forceRecreate: f.set.has("force"), noRecreate: f.set.has("norecreate"), removeOrphans: f.set.has("orphans"), wait: f.set.has("wait"), progress });
      if (f.set.has("detach") || f.set.has("wait")) return 0;
      // attached: the services' output until every container has stopped; Ctrl-C stops them
      let stopping = false;
      const onInt = () => {
        if (stopping) process.exit(130);
        stopping = true;
        io.stderr.write("Gracefully stopping... (press Ctrl+C again to force)\n");
        void stopAll(c, project.name, progress).catch((err: unknown) => io.stderr.write(`${errorLine(err)}\n`));
      };
      process.on("SIGINT", onInt);
      try {
        return await logs(c, project, io, { follow: true, color: io.stdout.isTTY === true, prefix: true, attached: true });
      } finally {
        process.off("SIGINT", onInt);
      }
    }
    case "down": {
      const f = takeFlags(args, {}, { "-v": "volumes", "--volumes": "volumes", "--remove-orphans": "orphans" });
      const project = load();
      await down(await client(), project, { volumes: f.set.has("volumes"), removeOrphans: f.set.has("orphans"), progress });
      return 0;
    }
    case "ps": {
      const f = takeFlags(args, {}, { "-a": "all", "--all": "all", "-q": "quiet", "--quiet": "quiet" });
      const project = load();
      const list = await projectContainers(await client(), project.name, f.set.has("all"));
      if (f.set.has("quiet")) {
        io.stdout.write(list.map((c) => `${c.Id}\n`).join(""));
        return 0;
      }
      const rows = [["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"]];
      for (const c of list)
        rows.push([
          c.Names[0]?.slice(1) ?? "",
          c.Image,
          JSON.stringify(c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command),
          c.Labels[LABEL.service] ?? "",
          c.Status,
          (c.Ports ?? [])
            .filter((p) => p.PublicPort)
            .map((p) => `${p.IP ?? ""}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`)
            .join(", "),
        ]);
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      io.stdout.write(rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join("").trimEnd() + "\n").join(""));
      return 0;
    }
    case "logs": {
      const f = takeFlags(args, {}, { "-f": "follow", "--follow": "follow", "--no-color": "nocolor", "--no-log-prefix": "noprefix" });
      const project = load();
      return logs(await client(), project, io, { follow: f.set.has("follow"), color: io.stdout.isTTY === true && !f.set.has("nocolor"), prefix: !f.set.has("noprefix"), services: f.rest });
    }
    default:
      throw new CoveError("invalid", `unknown compose command "${cmd}"`, { hint: "See 'cove compose --help'." });
  }
}

/** Stops the project's running containers, all at once. */
async function stopAll(client: EngineClient, project: string, progress: (l: string) => void): Promise<void> {
  const list = (await projectContainers(client, project, false)).filter((c) => c.State === "running");
  await Promise.all(
    list.map(async (c) => {
      await client.containerStop(c.Id);
      progress(`Container ${c.Names[0]?.slice(1)}  Stopped`);
    }),
  );
}

const COLORS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

/** The services' output, each line prefixed with its container ("web-1  | ..."), coloured per container on a terminal. */
async function logs(client: EngineClient, project: Project, io: Streams, opts: { follow: boolean; color: boolean; prefix: boolean; services?: string[]; attached?: boolean }): Promise<number> {
  const list = (await projectContainers(client, project.name)).filter((c) => !opts.services?.length || opts.services.includes(c.Labels[LABEL.service] ?? ""));
  const names = list.map((c) => {
    const full = c.Names[0]?.slice(1) ?? c.Id.slice(0, 12);
    return full.startsWith(`${project.name}-`) ? full.slice(project.name.length + 1) : full;
  });
  const width = Math.max(0, ...names.map((n) => n.length));
  await Promise.all(
    list.map(async (c, i) => {
      const label = names[i]!.padEnd(width);
      const prefix = !opts.prefix ? "" : opts.color ? `\x1b[${COLORS[i % COLORS.length]}m${label}  |\x1b[0m ` : `${label}  | `;
      const info = await client.containerInspect(c.Id);
      const res = await client.containerLogs(c.Id, { stdout: true, stderr: true, follow: opts.follow });
      const decoder = new FrameDecoder();
      const pending: Record<string, string> = { stdout: "", stderr: "" };
      const emit = (stream: string, text: string, flush = false) => {
        const buf = pending[stream] + text;
        const lines = buf.split("\n");
        pending[stream] = flush ? "" : lines.pop()!;
        for (const line of flush ? lines.filter((l, j) => l !== "" || j < lines.length - 1) : lines) io.stdout.write(`${prefix}${line.replace(/\r$/, "")}\n`);
      };
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (info.Config.Tty) emit("stdout", chunk.toString());
        else for (const fr of decoder.push(chunk)) if (fr.stream === "stdout" || fr.stream === "stderr") emit(fr.stream, fr.data.toString());
      }
      emit("stdout", "", true);
      emit("stderr", "", true);
      if (opts.follow && opts.attached) {
        const after = await client.containerInspect(c.Id);
        io.stdout.write(`${names[i]} exited with code ${after.State.ExitCode}\n`);
      }
    }),
  );
  return 0;
}

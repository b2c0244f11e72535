// Which daemon the cove command talks to, and `cove context create/use/ls/show/inspect/rm`,
// Docker's contexts in Docker's on-disk format under cove's own directory:
//
//   ~/.cove/config.json                          {"currentContext": "NAME"} (absent: "default")
//   ~/.cove/contexts/meta/<sha256(NAME)>/meta.json  {"Name", "Metadata": {"Description"}, "Endpoints": {"docker": {"Host", "SkipTLSVerify"}}}
//
// ($COVE_CONFIG instead of ~/.cove.) The daemon is, first to last: $COVE_HOST, $DOCKER_HOST,
// the context $COVE_CONTEXT names, the current context, the default socket /run/cove/cove.sock.
// "default" is that last one, and only it may start a daemon on first use.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { isErrno } from "../common/errors.js";
import { writeFileAtomicSync } from "../common/fs.js";
import { runtimeDir } from "../rootless/index.js";
import { CliError, command, inspectEach, type Command, type Run } from "./command.js";
import { UsageError } from "./flags.js";
import { formatRows, marshalJSON } from "./format/index.js";

export const DEFAULT_SOCKET = "/run/cove/cove.sock";
export const DEFAULT_CONTEXT = "default";

export interface ContextMeta {
  Name: string;
  Metadata: { Description?: string };
  Endpoints: { docker: { Host: string; SkipTLSVerify: boolean } };
}

/** cove's configuration directory: $COVE_CONFIG, else ~/.cove. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.COVE_CONFIG ?? path.join(env.HOME ?? os.homedir(), ".cove");
}

const metaDir = (env: NodeJS.ProcessEnv, name: string) => path.join(configDir(env), "contexts", "meta", createHash("sha256").update(name).digest("hex"));

function readJSON<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message}): fix or remove it`);
  }
}

function configFile(env: NodeJS.ProcessEnv): string {
  return path.join(configDir(env), "config.json");
}

/** The context in use: $COVE_CONTEXT, else config.json's currentContext, else "default". */
export function currentContext(env: NodeJS.ProcessEnv = process.env): string {
  if (env.COVE_CONTEXT) return env.COVE_CONTEXT;
  return readJSON<{ currentContext?: string }>(configFile(env))?.currentContext || DEFAULT_CONTEXT;
}

/** The default context's description of itself. */
function defaultMeta(env: NodeJS.ProcessEnv): ContextMeta {
  return { Name: DEFAULT_CONTEXT, Metadata: { Description: "Current COVE_HOST based configuration" }, Endpoints: { docker: { Host: `unix://${defaultSocket(env)}`, SkipTLSVerify: false } } };
}

function defaultSocket(env: NodeJS.ProcessEnv): string {
  const host = env.COVE_HOST || env.DOCKER_HOST;
  return host ? hostSocket(host, host === env.COVE_HOST ? "COVE_HOST=" : "DOCKER_HOST=") : userDaemonSocket(env);
}

/** The socket of the daemon a user gets by default: root's /run/cove/cove.sock, anyone else's own rootless daemon's ($XDG_RUNTIME_DIR/cove.sock). */
export function userDaemonSocket(env: NodeJS.ProcessEnv = process.env): string {
  return process.getuid?.() === 0 ? DEFAULT_SOCKET : path.join(runtimeDir(env), "cove.sock");
}

/** A context by name; throws when it does not exist. */
export function readContext(name: string, env: NodeJS.ProcessEnv = process.env): ContextMeta {
  if (name === DEFAULT_CONTEXT) return defaultMeta(env);
  const meta = readJSON<ContextMeta>(path.join(metaDir(env, name), "meta.json"));
  if (!meta) throw new CliError(`context "${name}" does not exist: see cove context ls, or create it with cove context create ${name} --docker host=unix:///PATH`);
  return meta;
}

export function listContexts(env: NodeJS.ProcessEnv = process.env): ContextMeta[] {
  const dir = path.join(configDir(env), "contexts", "meta");
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  const found = entries.flatMap((e) => readJSON<ContextMeta>(path.join(dir, e, "meta.json")) ?? []);
  return [defaultMeta(env), ...found.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))];
}

/** The socket path of a daemon address: unix:///PATH or a bare absolute path (cove's CLI speaks unix sockets only). */
export function hostSocket(host: string, from: string): string {
  if (host.startsWith("unix://")) {
    const p = host.slice("unix://".length);
    if (p.startsWith("/")) return p;
  } else if (host.startsWith("/")) return host;
  throw new CliError(`${from}${host} is not a daemon cove can reach: give unix:///PATH (cove's command talks to daemons over unix sockets)`);
}

export interface Endpoint {
  socket: string;
  /** The context in use ("default" when COVE_HOST or DOCKER_HOST chose the daemon). */
  context: string;
  /** True unless the default socket was chosen by default: only then may a daemon be started on first use. */
  explicit: boolean;
}

/** Which daemon to talk to: $COVE_HOST, $DOCKER_HOST, the context ($COVE_CONTEXT or the current one), the default socket. */
export function endpoint(env: NodeJS.ProcessEnv = process.env): Endpoint {
  if (env.COVE_HOST) return { socket: hostSocket(env.COVE_HOST, "COVE_HOST="), context: DEFAULT_CONTEXT, explicit: true };
  if (env.DOCKER_HOST) return { socket: hostSocket(env.DOCKER_HOST, "DOCKER_HOST="), context: DEFAULT_CONTEXT, explicit: true };
  const name = currentContext(env);
  if (name === DEFAULT_CONTEXT) return { socket: userDaemonSocket(env), context: name, explicit: false };
  const meta = readContext(name, env);
  return { socket: hostSocket(meta.Endpoints.docker.Host, `context "${name}"'s host `), context: name, explicit: true };
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/;

function checkName(name: string, cmd: string): void {
  if (!NAME.test(name)) throw new UsageError(`context name "${name}" is invalid, names are validated against regexp "${NAME.source}"`, cmd);
  if (name === DEFAULT_CONTEXT) throw new UsageError(`"${DEFAULT_CONTEXT}" is a reserved context name`, cmd);
}

/** `--docker host=unix:///PATH[,skip-tls-verify=BOOL]`: the endpoint's host. */
function dockerEndpoint(spec: string): string {
  let host: string | undefined;
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (key === "host") host = value;
    else if (key === "skip-tls-verify" || key === "ca" || key === "cert" || key === "key") throw new CliError(`--docker ${key}: cove's command reaches daemons over unix sockets, where TLS does not apply`);
    else throw new UsageError(`invalid argument "${spec}" for "--docker" flag: unrecognized config key "${key}" (give host=unix:///PATH)`, "context create");
  }
  if (!host) throw new UsageError(`invalid argument "${spec}" for "--docker" flag: give host=unix:///PATH`, "context create");
  hostSocket(host, "--docker host=");
  return host;
}

function setCurrent(env: NodeJS.ProcessEnv, name: string): void {
  const file = configFile(env);
  const cfg = readJSON<Record<string, unknown>>(file) ?? {};
  if (name === DEFAULT_CONTEXT) delete cfg.currentContext;
  else cfg.currentContext = name;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file, JSON.stringify(cfg, null, "\t") + "\n", 0o600);
}

function warnHost(run: Run): void {
  if (run.env.COVE_HOST || run.env.DOCKER_HOST) run.err(`Warning: ${run.env.COVE_HOST ? "COVE_HOST" : "DOCKER_HOST"} environment variable overrides the active context. To use a context, unset it.\n`);
}

const create = command(
  {
    name: "context create",
    usage: "cove context create [OPTIONS] CONTEXT",
    summary: "Create a context: a name for a daemon's socket",
    flags: {
      description: { type: "string", valueName: "string", description: "Description of the context" },
      docker: { type: "string", valueName: "stringToString", description: "set the docker endpoint: host=unix:///PATH" },
      from: { type: "string", valueName: "string", description: "create context from a named context" },
    },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    const name = args[0]!;
    checkName(name, "context create");
    if (existsSync(path.join(metaDir(run.env, name), "meta.json"))) throw new CliError(`context "${name}" already exists`);
    let host: string;
    if (flags.docker !== undefined) host = dockerEndpoint(flags.docker);
    else host = readContext(flags.from ?? currentContext(run.env), run.env).Endpoints.docker.Host;
    const meta: ContextMeta = { Name: name, Metadata: flags.description !== undefined ? { Description: flags.description } : {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } };
    const dir = metaDir(run.env, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomicSync(path.join(dir, "meta.json"), JSON.stringify(meta) + "\n", 0o600);
    run.out(name + "\n");
    run.err(`Successfully created context "${name}"\n`);
    return 0;
  },
);

const use = command(
  { name: "context use", usage: "cove context use CONTEXT", summary: "Set the current cove context", flags: {}, args: { min: 1, max: 1 } },
  async ({ args }, run) => {
    const name = args[0]!;
    readContext(name, run.env); // must exist
    setCurrent(run.env, name);
    run.out(name + "\n");
    run.err(`Current context is now "${name}"\n`);
    warnHost(run);
    return 0;
  },
);

const show = command({ name: "context show", usage: "cove context show", summary: "Print the name of the current context", flags: {}, args: { max: 0 } }, async (_p, run) => {
  run.out(currentContext(run.env) + "\n");
  return 0;
});

const CONTEXT_TABLE = "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}";
const CONTEXT_HEADERS = { Name: "NAME", Description: "DESCRIPTION", DockerEndpoint: "DOCKER ENDPOINT", Current: "", Error: "ERROR" };

const ls = command(
  {
    name: "context ls",
    usage: "cove context ls [OPTIONS]",
    summary: "List contexts",
    flags: {
      format: { type: "string", valueName: "string", description: "Format output using a custom template: 'table', 'json' or a Go template" },
      quiet: { type: "bool", short: "q", description: "Only show context names" },
    },
    args: { max: 0 },
  },
  async ({ flags }, run) => {
    const current = currentContext(run.env);
    const rows = listContexts(run.env).map((m) => ({ Name: m.Name, Description: m.Metadata.Description ?? "", DockerEndpoint: m.Endpoints.docker.Host, Current: m.Name === current, Error: "" }));
    // -q wins over --format, as in docker
    run.out(formatRows(flags.quiet ? "{{.Name}}" : flags.format, rows, CONTEXT_TABLE, CONTEXT_HEADERS));
    warnHost(run);
    return 0;
  },
);

const inspect = command(
  {
    name: "context inspect",
    usage: "cove context inspect [OPTIONS] [CONTEXT] [CONTEXT...]",
    summary: "Display detailed information on one or more contexts",
    flags: { format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" } },
    args: {},
  },
  async ({ flags, args }, run) => {
    const names = args.length ? args : [currentContext(run.env)];
    return inspectEach(run, names, {
      format: flags.format,
      get: async (n) => ({ ...readContext(n, run.env), Storage: { MetadataPath: n === DEFAULT_CONTEXT ? "<IN MEMORY>" : metaDir(run.env, n), TLSPath: "<IN MEMORY>" } }),
      failed: (err) => (err as Error).message,
      json: (docs) => marshalJSON(docs, { indent: "    ", escapeHTML: true }),
    });
  },
);

const rm = command(
  { name: "context rm", usage: "cove context rm CONTEXT [CONTEXT...]", summary: "Remove one or more contexts", flags: { force: { type: "bool", short: "f", description: "Force the removal of a context in use" } }, args: { min: 1 } },
  async ({ flags, args }, run) => {
    const current = currentContext(run.env);
    const errors: string[] = [];
    for (const name of args) {
      if (name === DEFAULT_CONTEXT) {
        errors.push(`failed to remove context ${name}: context "${name}" cannot be removed`);
        continue;
      }
      const dir = metaDir(run.env, name);
      if (!existsSync(path.join(dir, "meta.json"))) {
        errors.push(`failed to remove context ${name}: context "${name}" does not exist`);
        continue;
      }
      if (name === current) {
        if (!flags.force) {
          errors.push(`failed to remove context ${name}: context "${name}" is in use, set -f flag to force remove`);
          continue;
        }
        if (!run.env.COVE_CONTEXT) setCurrent(run.env, DEFAULT_CONTEXT);
      }
      rmSync(dir, { recursive: true, force: true });
      run.out(name + "\n");
    }
    if (errors.length) throw new CliError(errors.join("\n"));
    return 0;
  },
);

export const contextCommands: Record<string, Command> = {
  "context create": create,
  "context use": use,
  "context show": show,
  "context ls": ls,
  "context list": ls,
  "context inspect": inspect,
  "context rm": rm,
  "context remove": rm,
};

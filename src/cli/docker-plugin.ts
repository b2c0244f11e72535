#!/usr/bin/env node
// cove's compose as a docker CLI plugin: installed as `docker-compose` in a cli-plugins directory
// ($DOCKER_CONFIG/cli-plugins, ~/.docker/cli-plugins, /usr/local/lib/docker/cli-plugins), it makes
// `docker compose ...` run cove's compose. The docker CLI's plugin protocol: it runs
// `docker-compose docker-cli-plugin-metadata` and reads a JSON description, then runs
// `docker-compose [GLOBAL FLAGS] compose ARGS...` with the command line the user typed.
//
// The engine is the one the docker CLI would talk to, dockerd or cove alike: -H, $DOCKER_HOST,
// the context (--context, $DOCKER_CONTEXT, the docker config's currentContext) in the docker
// CLI's own config directory, else /var/run/docker.sock.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { EngineClient } from "../client/engine.js";
import { buildInfo } from "../common/build-info.js";
import { isErrno } from "../common/errors.js";
import { errorLine } from "./command.js";
import { hostSocket } from "./context.js";

const DOCKER_DEFAULT_SOCKET = "/var/run/docker.sock";

/** The docker CLI's global flags that take a value, as the plugin may receive them before "compose". */
const VALUE_FLAGS = new Set(["-H", "--host", "-c", "--context", "--config", "-l", "--log-level", "--tlscacert", "--tlscert", "--tlskey"]);
const BOOL_FLAGS = new Set(["-D", "--debug", "--tls", "--tlsverify"]);

export interface PluginCall {
  /** -H/--host, --context and --config as given before the plugin's command. */
  host?: string;
  context?: string;
  config?: string;
  /** What follows "compose". */
  args: string[];
}

/** Splits the docker CLI's global flags from `compose ARGS...`. */
export function parsePluginArgs(argv: readonly string[]): PluginCall {
  const call: PluginCall = { args: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "compose") {
      call.args = argv.slice(i + 1);
      return call;
    }
    const eq = a.indexOf("=");
    const name = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    let value: string | undefined;
    if (VALUE_FLAGS.has(name)) {
      value = name !== a ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new Error(`flag needs an argument: ${name}`);
    } else if (!BOOL_FLAGS.has(name)) {
      throw new Error(`unknown flag before "compose": ${a}`);
    }
    if (name === "-H" || name === "--host") call.host = value;
    else if (name === "-c" || name === "--context") call.context = value;
    else if (name === "--config") call.config = value;
  }
  throw new Error('the docker CLI runs this plugin as "docker-compose compose ARGS..."; run it as `docker compose`');
}

function readJSON<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** The engine's socket, chosen as the docker CLI chooses its endpoint. */
export function dockerSocket(call: Pick<PluginCall, "host" | "context" | "config">, env: NodeJS.ProcessEnv = process.env): string {
  if (call.host) return hostSocket(call.host, "-H ");
  if (env.DOCKER_HOST && !call.context) return hostSocket(env.DOCKER_HOST, "DOCKER_HOST=");
  const dir = call.config ?? env.DOCKER_CONFIG ?? path.join(env.HOME ?? os.homedir(), ".docker");
  const name = call.context ?? env.DOCKER_CONTEXT ?? readJSON<{ currentContext?: string }>(path.join(dir, "config.json"))?.currentContext ?? "default";
  if (name === "default") return DOCKER_DEFAULT_SOCKET;
  const meta = readJSON<{ Endpoints?: { docker?: { Host?: string } } }>(path.join(dir, "contexts", "meta", createHash("sha256").update(name).digest("hex"), "meta.json"));
  const host = meta?.Endpoints?.docker?.Host;
  if (!host) throw new Error(`context "${name}" does not exist (see docker context ls)`);
  return hostSocket(host, `context "${name}"'s host `);
}

/** The plugin's metadata, as the docker CLI's plugin manager reads it. */
export function pluginMetadata(): string {
  const { version, commit } = buildInfo();
  return JSON.stringify({ SchemaVersion: "0.1.0", Vendor: "cove", Version: `${version} (${commit})`, ShortDescription: "Docker Compose by cove" }) + "\n";
}

export async function pluginMain(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv[0] === "docker-cli-plugin-metadata") {
    process.stdout.write(pluginMetadata());
    return 0;
  }
  let call: PluginCall;
  let socket: string;
  try {
    call = parsePluginArgs(argv);
    socket = dockerSocket(call, env);
  } catch (err) {
    process.stderr.write(`${errorLine(err)}\n`);
    return 1;
  }
  if (call.args[0] === "version") {
    const { version, commit } = buildInfo();
    process.stdout.write(call.args.includes("--short") ? `${version}\n` : `Docker Compose version ${version} (cove ${commit})\n`);
    return 0;
  }
  const { composeMain } = await import("./compose/index.js");
  return composeMain(call.args, () => Promise.resolve(new EngineClient({ socket })), { stdout: process.stdout, stderr: process.stderr }, env);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  pluginMain(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`${errorLine(err)}\n`);
      process.exitCode = 1;
    },
  );
}

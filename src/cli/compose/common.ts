// What the compose commands share: their streams, flag parsing as `docker compose` takes flags,
// the context a command runs in (the project, loaded on demand, and the engine's client), the
// selection of a project's containers by service, and the plain tables compose prints.

import type { Readable, Writable } from "node:stream";
import { CoveError, invalid } from "../../common/errors.js";
import type { EngineClient } from "../../client/index.js";
import { LABEL, type Project } from "../../compose/index.js";
import type { ContainerSummary } from "../../docker/index.js";
import { naturalLess } from "../input.js";

export interface Streams {
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: Writable;
  /** process.stdin when not given (exec and run read it). */
  stdin?: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
}

/** A compose command's surroundings. */
export interface Ctx {
  /** Loads the project (the files are read at the first call only). */
  project(): Project;
  client(): Promise<EngineClient>;
  io: Streams;
  env: NodeJS.ProcessEnv;
  /** A progress line on stderr (" ✔ Container p-web-1  Started"). */
  progress(line: string): void;
}

export interface Flags {
  values: Record<string, string[]>;
  set: Set<string>;
  rest: string[];
}

/**
 * Flags as `docker compose` takes them: `--x v`, `--x=v`, `-x v`, `-xv` for a valued short flag,
 * and booleans; parsing stops at the first operand (the rest, e.g. a command to run, is left as is).
 */
export function takeFlags(argv: string[], valued: Record<string, string>, bools: Record<string, string>): Flags {
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
    let flag = eq > 0 ? a.slice(0, eq) : a;
    let inline = eq > 0 ? a.slice(eq + 1) : undefined;
    // -eFOO=bar, -u1000: a short valued flag glued to its value
    if (!a.startsWith("--") && a.length > 2 && valued[a.slice(0, 2)] && !valued[flag] && !bools[flag]) {
      flag = a.slice(0, 2);
      inline = a.slice(2);
    }
    if (valued[flag]) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new CoveError("invalid", `flag needs an argument: ${flag}`, { code: "cli.usage" });
      (values[valued[flag]!] ??= []).push(v);
    } else if (bools[flag]) {
      if (inline !== undefined) throw new CoveError("invalid", `flag ${flag} takes no value (got "${inline}")`, { code: "cli.usage" });
      set.add(bools[flag]!);
    } else throw new CoveError("invalid", `unknown flag: ${flag}`, { code: "cli.usage", hint: "See 'cove compose --help'." });
  }
  return { values, set, rest: argv.slice(i) };
}

/** A flag's last value as a whole number of at least `min` (the usage error names the flag). */
export function intFlag(f: Flags, key: string, flag: string, min = 0): number | undefined {
  const v = f.values[key]?.at(-1);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min) throw invalid(`invalid argument "${v}" for "${flag}" flag: must be a whole number of ${min} or more`, { code: "cli.usage" });
  return Number(v);
}

/** Checks that every name is a service of the project (or one its profiles leave out). */
export function checkServices(project: Project, names: string[]): void {
  for (const n of names) if (!project.services[n] && !project.disabled[n]) throw invalid(`no such service: ${n}`, { code: "cli.no-such-service" });
}

/** The project's containers (one-offs left out unless `oneoff`), of the named services only when some are named, in name order. */
export async function serviceContainers(client: EngineClient, project: Project, services: string[], opts: { all?: boolean; oneoff?: boolean } = {}): Promise<ContainerSummary[]> {
  checkServices(project, services);
  const label = [`${LABEL.project}=${project.name}`];
  if (!opts.oneoff) label.push(`${LABEL.oneoff}=False`);
  const list = await client.containerList({ all: opts.all ?? true, filters: { label } });
  return list.filter((c) => !services.length || services.includes(c.Labels[LABEL.service] ?? "")).sort((a, b) => naturalLess(name(a), name(b)));
}

/** A container's name without the slash. */
export function name(c: { Names?: string[]; Name?: string; Id: string }): string {
  return (c.Names?.[0] ?? c.Name ?? c.Id.slice(0, 12)).replace(/^\//, "");
}

/** Rows as compose prints them: columns padded to the widest cell plus three spaces, the last unpadded. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join("").trimEnd() + "\n").join("");
}

/** docker's -e: NAME=value as given, NAME alone takes the value from our environment (left out when unset). */
export function envFlags(list: string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const e of list ?? []) {
    if (e.startsWith("=")) throw invalid(`invalid environment variable: ${e}`, { code: "cli.usage" });
    if (e.includes("=")) out.push(e);
    else if (env[e] !== undefined) out.push(`${e}=${env[e]}`);
  }
  return out;
}

// A Docker-style (spf13/pflag) command-line parser shared by cove's commands: long flags
// (--all, --all=false, --format X, --format=X), short aliases and combined shorts (-a, -aq,
// -p8080:80, -p=8080:80, -f X), repeated list flags (--filter a=b --filter c=d), "--" to end
// flags, "-" as a positional, interspersed positionals or stop-at-first-positional (for
// `run IMAGE CMD...`). Errors carry pflag's wording and the docker CLI's exit status 125.

import { CoveError } from "../common/errors.js";
import { parseBool, parseGoInt } from "../docker/index.js";

export type FlagType = "bool" | "string" | "int" | "list";

export interface FlagDef {
  type: FlagType;
  /** One-letter alias, e.g. "a" for --all. */
  short?: string;
  /** Shown in help. */
  description?: string;
  /** Argument name shown in help ("string", "filter", ...). */
  valueName?: string;
  /** Default for string/int/bool flags (bool defaults to false, list to []). */
  default?: string | number | boolean;
  /** Accepted but not listed in help. */
  hidden?: boolean;
}

export type FlagSpecs = Record<string, FlagDef>;

type ValueOf<D extends FlagDef> = D["type"] extends "bool"
  ? boolean
  : D["type"] extends "list"
    ? string[]
    : D["type"] extends "int"
      ? D extends { default: number }
        ? number
        : number | undefined
      : D extends { default: string }
        ? string
        : string | undefined;

export type FlagValues<S extends FlagSpecs> = { -readonly [K in keyof S]: ValueOf<S[K]> };

export interface CommandSpec<S extends FlagSpecs> {
  /** The command path as users type it after "cove", e.g. "images" or "image ls". */
  name: string;
  /** Usage line, e.g. "cove images [OPTIONS] [REPOSITORY[:TAG]]". */
  usage?: string;
  /** One-line description shown in help. */
  summary?: string;
  flags: S;
  /** Stop parsing flags at the first positional (`run IMAGE CMD ARGS...`). */
  stopAtFirstPositional?: boolean;
  /** Exact, minimum or maximum number of positionals (checked after parsing). */
  args?: { min?: number; max?: number };
}

export interface Parsed<S extends FlagSpecs> {
  flags: FlagValues<S>;
  args: string[];
  /** Flags that were given on the command line (by long name). */
  set: Set<keyof S & string>;
  /** True when -h/--help was given: the caller prints help() and exits 0. */
  help: boolean;
}

/** A command-line usage error: printed with "See 'cove CMD --help'." and exit status 125 (1 for argument counts). */
export class UsageError extends CoveError {
  constructor(
    message: string,
    readonly command: string,
    readonly status = 125,
  ) {
    super("invalid", message, { code: "cli.usage" });
    this.name = "UsageError";
  }

  /** What the docker CLI prints on stderr for this error. */
  override describe(): string {
    return `${this.message}\nSee 'cove ${this.command} --help'.`;
  }
}

function flagLabel(name: string, def: FlagDef): string {
  return def.short ? `-${def.short}, --${name}` : `--${name}`;
}

export function parseFlags<S extends FlagSpecs>(argv: readonly string[], spec: CommandSpec<S>): Parsed<S> {
  const defs = spec.flags;
  const byShort = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) if (def.short) byShort.set(def.short, name);
  const values: Record<string, string | number | boolean | string[] | undefined> = {};
  for (const [name, def] of Object.entries(defs)) {
    values[name] = def.type === "bool" ? (def.default ?? false) : def.type === "list" ? [] : def.default;
  }
  const set = new Set<string>();
  const args: string[] = [];
  let help = false;
  const fail = (message: string) => new UsageError(message, spec.name);

  const assign = (name: string, def: FlagDef, raw: string) => {
    set.add(name);
    switch (def.type) {
      case "bool":
      case "int":
        try {
          values[name] = def.type === "bool" ? parseBool(raw) : parseGoInt(raw);
        } catch (err) {
          throw fail(`invalid argument "${raw}" for "${flagLabel(name, def)}" flag: ${(err as Error).message}`);
        }
        return;
      case "list":
        (values[name] as string[]).push(raw);
        return;
      case "string":
        values[name] = raw;
        return;
    }
  };

  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      i++;
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (name === "help") {
        help = true;
        continue;
      }
      const def = defs[name];
      if (!def || name.length === 0) throw fail(`unknown flag: --${name}`);
      if (eq >= 0) assign(name, def, a.slice(eq + 1));
      else if (def.type === "bool") assign(name, def, "true");
      else {
        if (i + 1 >= argv.length) throw fail(`flag needs an argument: --${name}`);
        assign(name, def, argv[++i]!);
      }
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      // -abc: bools in a row; a value flag takes the rest of the group, or the next argument.
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const name = byShort.get(c);
        if (name === undefined) {
          if (c === "h") {
            help = true;
            continue;
          }
          throw fail(`unknown shorthand flag: '${c}' in ${a}`);
        }
        const def = defs[name]!;
        const rest = a.slice(j + 1);
        if (rest.startsWith("=")) {
          assign(name, def, rest.slice(1));
          break;
        }
        if (def.type === "bool") {
          assign(name, def, "true");
          continue;
        }
        if (rest.length > 0) {
          assign(name, def, rest);
          break;
        }
        if (i + 1 >= argv.length) throw fail(`flag needs an argument: '${c}' in -${c}`);
        assign(name, def, argv[++i]!);
        break;
      }
      continue;
    }
    args.push(a);
    if (spec.stopAtFirstPositional) {
      i++;
      break;
    }
  }
  args.push(...argv.slice(i));

  if (!help && spec.args) {
    const { min, max } = spec.args;
    const n = args.length;
    let message: string | undefined;
    if (min !== undefined && max !== undefined && min === max && n !== min) {
      message = `"cove ${spec.name}" requires exactly ${min} argument${min === 1 ? "" : "s"}.`;
    } else if (min !== undefined && n < min) {
      message = `"cove ${spec.name}" requires at least ${min} argument${min === 1 ? "" : "s"}.`;
    } else if (max !== undefined && n > max) {
      message = max === 0 ? `"cove ${spec.name}" accepts no arguments.` : `"cove ${spec.name}" requires at most ${max} argument${max === 1 ? "" : "s"}.`;
    }
    if (message) throw new UsageError(message, spec.name, 1);
  }
  return { flags: values as FlagValues<S>, args, set: set as Set<keyof S & string>, help };
}

/** Help text in the docker CLI's layout. */
export function helpText<S extends FlagSpecs>(spec: CommandSpec<S>): string {
  const lines = [`Usage:  ${spec.usage ?? `cove ${spec.name} [OPTIONS]`}`, ""];
  if (spec.summary) lines.push(spec.summary, "");
  const rows: [string, string][] = [];
  for (const [name, def] of Object.entries(spec.flags)) {
    if (def.hidden) continue;
    const value = def.type === "bool" ? "" : ` ${def.valueName ?? (def.type === "list" ? "list" : def.type)}`;
    const left = `${def.short ? `-${def.short}, ` : "    "}--${name}${value}`;
    rows.push([left, def.description ?? ""]);
  }
  rows.push(["-h, --help", "Print usage"]);
  const width = Math.max(...rows.map(([l]) => l.length));
  lines.push("Options:");
  for (const [l, d] of rows) lines.push(`  ${l.padEnd(width)}   ${d}`.trimEnd());
  return lines.join("\n") + "\n";
}

/** Splits repeated `--filter key=value` flags into Docker's filter map ({"key": ["value", ...]}); flag names it in errors (prune's has no -f). */
export function parseFilters(values: readonly string[], command: string, flag = "-f, --filter"): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new UsageError(`invalid argument "${v}" for "${flag}" flag: bad format of filter (expected name=value)`, command);
    const key = v.slice(0, eq).trim().toLowerCase();
    (out[key] ??= []).push(v.slice(eq + 1).trim());
  }
  return out;
}

// How every cove command that talks to the daemon runs: its streams and client (Run), flag
// parsing and --help, and one rule for what a failure prints and the exit status it gives,
// Docker's rule (the docker CLI's main, cli.StatusError and reportError):
//
// - a usage error (unknown flag, bad value, wrong argument count): its text and "See 'cove CMD
//   --help'.", status 125 (1 for argument counts);
// - the daemon's error: "Error response from daemon: <message>", status 1;
// - a client-side error: its message (CliError carries its own status), status 1;
// - `run` and `create` report a usage error as docker's reportError does: "cove: <error>" and
//   "Run 'cove CMD --help' for more information"; `run` reports every failure so, exiting 125
//   when the engine fails or with the status a StatusError gives (126/127 for a command that
//   cannot be invoked or found).

import type { Readable, Writable } from "node:stream";
import { CoveError } from "../common/errors.js";
import { EngineError, type EngineClient } from "../client/engine.js";
import { helpText, parseFlags, UsageError, type CommandSpec, type FlagSpecs, type Parsed } from "./flags.js";
import { inspectFormat, inspectTemplate, marshalJSON, type Template } from "./format/index.js";

export interface CommandIO {
  stdout: Writable & { isTTY?: boolean; rows?: number; columns?: number };
  stderr: Writable;
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
}

export interface CommandContext {
  /**
   * The daemon's client, or a function that connects to it (main.ts passes one that starts the
   * daemon on first use, so `--help` and flag errors never start a daemon).
   */
  client: EngineClient | (() => Promise<EngineClient>);
  /** Streams; process.stdout/stderr/stdin when not given (tests pass their own). */
  io?: Partial<CommandIO>;
  /** Current time in ms, for "2 hours ago" (tests pin it). */
  now?: number;
  /** The environment for `-e NAME` and env files (process.env when not given). */
  env?: NodeJS.ProcessEnv;
}

/** A command; `spec` (set by command()) is its flags and usage, which --help and shell completion read. */
export type Command = ((argv: string[], ctx: CommandContext) => Promise<number>) & { spec?: CommandSpec<FlagSpecs> };

/** What a command body works with. */
export interface Run {
  io: CommandIO;
  now: number;
  env: NodeJS.ProcessEnv;
  /** The daemon's client (connected on the first call). */
  client(): Promise<EngineClient>;
  out(s: string): void;
  err(s: string): void;
}

export function makeRun(ctx: CommandContext): Run {
  const io: CommandIO = {
    stdout: ctx.io?.stdout ?? process.stdout,
    stderr: ctx.io?.stderr ?? process.stderr,
    stdin: ctx.io?.stdin ?? process.stdin,
  };
  let connected: Promise<EngineClient> | undefined;
  return {
    io,
    now: ctx.now ?? Date.now(),
    env: ctx.env ?? process.env,
    client: () => (connected ??= typeof ctx.client === "function" ? ctx.client() : Promise.resolve(ctx.client)),
    out: (s) => void io.stdout.write(s),
    err: (s) => void io.stderr.write(s),
  };
}

/** A client-side error printed as is, with its exit status (1 unless given). */
export class CliError extends CoveError {
  constructor(
    message: string,
    readonly status = 1,
  ) {
    super("invalid", message, { code: "cli.error" });
    this.name = "CliError";
  }
}

/** An error that sets the exit status (docker's cli.StatusError): printed as `error` is. */
export class StatusError extends Error {
  constructor(
    readonly error: unknown,
    readonly status: number,
  ) {
    super(error instanceof Error ? error.message : String(error));
    this.name = "StatusError";
  }
}

/**
 * One error as the docker CLI prints it: the daemon's prefixed, cove's own client-side errors
 * (codes cli.*, template.*, engine.*) plain, anything else as "Error: <message>".
 */
export function errorLine(err: unknown): string {
  if (err instanceof StatusError) return errorLine(err.error);
  if (err instanceof EngineError) return `Error response from daemon: ${err.message}`;
  if (err instanceof CoveError) {
    if (err.code === "cli.root-mismatch" || err.code === "engine.unreachable" || err.code === "engine.denied") return err.describe();
    if (err.code.startsWith("template.") || err.code.startsWith("cli.") || err.code.startsWith("engine.")) return err.message;
    return `Error: ${err.message}`;
  }
  return `Error: ${(err as Error)?.message ?? String(err)}`;
}

/** How a command reports its failures: most as the docker CLI's main does, `run` and `create` as its reportError. */
export type Reporting = "plain" | "create" | "run";

/** The text a failed command prints on stderr (without the final newline) and its exit status. */
export function failure(err: unknown, command: string, reporting: Reporting = "plain"): { text: string; status: number } {
  if (err instanceof UsageError && reporting === "plain") return { text: err.describe(), status: err.status };
  const withHelp = (text: string) => `cove: ${text}\n\nRun 'cove ${command} --help' for more information`;
  if (err instanceof UsageError) return { text: withHelp(err.message), status: err.status === 1 ? 1 : 125 };
  const status = err instanceof StatusError || err instanceof CliError ? err.status : reporting === "run" ? 125 : 1;
  return { text: reporting === "run" ? withHelp(errorLine(err)) : errorLine(err), status };
}

/** A command: parses the flags, prints --help, runs the body, and reports its failure by the rule above. */
export function command<S extends FlagSpecs>(spec: CommandSpec<S>, body: (p: Parsed<S>, run: Run) => Promise<number>, reporting: Reporting = "plain"): Command {
  const fn: Command = async (argv, ctx) => {
    const run = makeRun(ctx);
    try {
      const parsed = parseFlags(argv, spec);
      if (parsed.help) {
        run.out(helpText(spec));
        return 0;
      }
      return await body(parsed, run);
    } catch (err) {
      const { text, status } = failure(err, spec.name, reporting);
      run.err(text + "\n");
      return status;
    }
  };
  fn.spec = spec;
  return fn;
}

/**
 * Runs `fn` for each argument, as docker's per-object loops do: every failure is printed (after
 * the others ran) and makes the status 1; a usage error stops the command.
 */
export async function forEach(run: Run, args: readonly string[], fn: (arg: string) => Promise<void>): Promise<number> {
  const errors: string[] = [];
  for (const a of args) {
    try {
      await fn(a);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      errors.push(errorLine(err));
    }
  }
  if (errors.length) run.err(errors.join("\n") + "\n");
  return errors.length ? 1 : 0;
}

export interface InspectOptions<T> {
  /** The --format value. */
  format: string | undefined;
  get(arg: string): Promise<T>;
  /** The line a failed object prints; rethrows what stops the command instead. */
  failed(err: unknown, arg: string): string;
  /** One object through the template (docker's TemplateInspector unless given). */
  render?(tmpl: Template, doc: T): string;
  /** All objects without a template (an indented JSON array, "[]" for none, unless given). */
  json?(docs: T[]): string;
}

/**
 * docker's inspect loop: each object fetched in turn, then all printed, as JSON or through
 * --format; the failures print after them and make the status 1.
 */
export async function inspectEach<T>(run: Run, args: readonly string[], opts: InspectOptions<T>): Promise<number> {
  const tmpl = inspectFormat(opts.format);
  const found: T[] = [];
  const errors: string[] = [];
  for (const a of args) {
    try {
      found.push(await opts.get(a));
    } catch (err) {
      errors.push(opts.failed(err, a));
    }
  }
  if (tmpl) for (const doc of found) run.out((opts.render ?? inspectTemplate)(tmpl, doc) + "\n");
  else run.out((opts.json ? opts.json(found) : found.length === 0 ? "[]" : marshalJSON(found, { indent: "    ", escapeHTML: true })) + "\n");
  for (const e of errors) run.err(e + "\n");
  return errors.length ? 1 : 0;
}

// Typed instructions from parsed nodes, and the stages they form, with BuildKit's checks
// (frontend/dockerfile/instructions): argument counts, the flags each instruction accepts and
// their values, RUN --mount/--network/--security, HEALTHCHECK options, stage names, ONBUILD
// triggers. Words stay as written (quotes, $VARS): the builder expands them per instruction
// with shell-lex.ts when it runs the instruction, in the environment of that moment.
//
// Every error is a DockerfileError at the instruction's line, the column of the offending word
// when it can be found on that line.

import { DockerfileError, suggest } from "./errors.js";
import { ShellLexError, envFromRecord, expandWord } from "./shell-lex.js";
import { INSTRUCTIONS, chompHeredocContent, goLower, heredocWordOrUndefined, parseDockerfile, type Directive, type Heredoc, type Node, type ParseResult } from "./parser.js";

interface Base {
  /** 1-based lines of the instruction in the Dockerfile. */
  line: number;
  endLine: number;
  /** The instruction's text, continuations joined. */
  original: string;
}

/** A command in exec form (argv, no shell) or shell form (one string run by the stage's SHELL). */
export type CommandLine = { form: "exec"; args: string[] } | { form: "shell"; command: string };

export interface FromInstruction extends Base {
  kind: "from";
  image: string;
  platform?: string;
  /** The stage name after AS, lower-cased. */
  stageName?: string;
}

export interface Mount {
  type: "bind" | "cache" | "tmpfs" | "secret" | "ssh";
  from?: string;
  source?: string;
  target?: string;
  readonly: boolean;
  id?: string;
  sharing?: "shared" | "private" | "locked";
  required?: boolean;
  /** Values as written; numbers are checked when they hold no variable. */
  size?: string;
  mode?: string;
  uid?: string;
  gid?: string;
  env?: string;
}

/** A file given inline with a heredoc. */
export interface InlineFile {
  name: string;
  data: string;
  /** Variables in data expand (the delimiter was not quoted). */
  expand: boolean;
  chomp: boolean;
}

export interface RunInstruction extends Base {
  kind: "run";
  cmd: CommandLine;
  mounts: Mount[];
  network?: "default" | "none" | "host";
  security?: "sandbox" | "insecure";
  heredocs: InlineFile[];
}

export interface CmdInstruction extends Base {
  kind: "cmd";
  cmd: CommandLine;
}

export interface EntrypointInstruction extends Base {
  kind: "entrypoint";
  /** undefined for `ENTRYPOINT []`, which clears it. */
  cmd: CommandLine | undefined;
}

interface SourcesAndDest {
  /** Paths (or URLs, for ADD) to copy. */
  sources: string[];
  /** Files written inline with heredocs (`COPY <<EOF /dest`). */
  contents: InlineFile[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
}

export interface CopyInstruction extends Base, SourcesAndDest {
  kind: "copy";
  from?: string;
  parents: boolean;
}

export interface AddInstruction extends Base, SourcesAndDest {
  kind: "add";
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
}

export interface KeyValue {
  key: string;
  value: string;
  /** Written in the legacy `ENV key value` form. */
  legacy: boolean;
}

export interface EnvInstruction extends Base {
  kind: "env";
  pairs: KeyValue[];
}

export interface LabelInstruction extends Base {
  kind: "label";
  pairs: KeyValue[];
}

export interface ExposeInstruction extends Base {
  kind: "expose";
  ports: string[];
}

export interface VolumeInstruction extends Base {
  kind: "volume";
  paths: string[];
}

export interface UserInstruction extends Base {
  kind: "user";
  user: string;
}

export interface WorkdirInstruction extends Base {
  kind: "workdir";
  path: string;
}

export interface ArgInstruction extends Base {
  kind: "arg";
  args: { name: string; default?: string }[];
}

export interface OnbuildInstruction extends Base {
  kind: "onbuild";
  trigger: Instruction;
  /** The trigger as it is stored in the image config (OnBuild), heredocs appended. */
  expression: string;
}

export interface StopsignalInstruction extends Base {
  kind: "stopsignal";
  signal: string;
}

export interface HealthcheckInstruction extends Base {
  kind: "healthcheck";
  /** Docker's Healthcheck.Test: ["NONE"], ["CMD", ...argv] or ["CMD-SHELL", command]. */
  test: string[];
  /** Durations in nanoseconds, 0 when not given (the image config's zero means "inherit"). */
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export interface ShellInstruction extends Base {
  kind: "shell";
  shell: string[];
}

export interface MaintainerInstruction extends Base {
  kind: "maintainer";
  maintainer: string;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | CopyInstruction
  | AddInstruction
  | EnvInstruction
  | LabelInstruction
  | ExposeInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | ShellInstruction
  | MaintainerInstruction;

export interface Stage {
  /** The name after AS, lower-cased; undefined for an unnamed stage. */
  name?: string;
  /** Position among the stages, from 0 (what `--from=0` names). */
  index: number;
  from: FromInstruction;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM: usable in FROM lines, and in stages that declare them again. */
  globalArgs: ArgInstruction[];
  stages: Stage[];
  escape: string;
  directives: Directive[];
  warnings: ParseResult["warnings"];
  /** The file's name and lines, for errors found later (expanding FROM lines, running a stage). */
  file: string;
  lines: string[];
}

/** An error about one instruction: message and, when known, the word to point at. */
class InstructionFailure extends Error {
  constructor(
    message: string,
    readonly word?: string,
  ) {
    super(message);
  }
}

function fail(message: string, word?: string): never {
  throw new InstructionFailure(message, word);
}

type FlagType = "bool" | "string" | "strings";

/** The builder flags of one instruction (BuildKit's BFlags). */
class Flags {
  private readonly values = new Map<string, string[]>();

  constructor(
    private readonly given: string[],
    private readonly types: Record<string, FlagType>,
  ) {
    for (const a of given) {
      if (!a.startsWith("--")) fail(`arg should start with -- : ${a}`, a);
      const eq = a.indexOf("=");
      const flag = eq < 0 ? a : a.slice(0, eq);
      const name = flag.slice(2);
      const value = eq < 0 ? undefined : a.slice(eq + 1);
      const type = Object.prototype.hasOwnProperty.call(types, name) ? types[name] : undefined;
      if (!type) {
        const known = Object.keys(types);
        const hint = suggest(name, known);
        fail(`unknown flag: ${flag}${hint ? ` (did you mean ${hint}?)` : known.length === 0 ? " (this instruction takes no flags)" : ""}`, a);
      }
      if (this.values.has(name) && type !== "strings") fail(`duplicate flag specified: ${flag}`, a);
      const list = this.values.get(name) ?? [];
      if (type === "bool") {
        if (value === "") fail(`missing a value on flag: ${flag}`, a);
        const v = (value ?? "true").toLowerCase();
        if (v !== "true" && v !== "false") fail(`expecting boolean value for flag ${flag}, not: ${value}`, a);
        list.push(v);
      } else {
        if (value === undefined) fail(`missing a value on flag: ${flag}`, a);
        list.push(value!);
      }
      this.values.set(name, list);
    }
  }

  string(name: string): string | undefined {
    return this.values.get(name)?.at(-1);
  }
  strings(name: string): string[] {
    return this.values.get(name) ?? [];
  }
  bool(name: string): boolean | undefined {
    const v = this.values.get(name)?.at(-1);
    return v === undefined ? undefined : v === "true";
  }
}

function exactlyOne(node: Node, kw: string): string {
  if (node.args.length !== 1) fail(`${kw} requires exactly one argument`, node.args[1]);
  return node.args[0]!;
}

function atLeastOne(node: Node, kw: string): void {
  if (node.args.length === 0) fail(`${kw} requires at least one argument`);
}

function commandLine(node: Node, args: string[]): CommandLine {
  return node.json ? { form: "exec", args } : { form: "shell", command: args.join(" ") };
}

function keyValues(node: Node, kw: string): KeyValue[] {
  atLeastOne(node, kw);
  if (node.args.length % 3 !== 0) fail(`Bad input to ${kw}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let j = 0; j < node.args.length; j += 3) {
    if (node.args[j] === "") fail(`${kw} names can not be blank`);
    pairs.push({ key: node.args[j]!, value: node.args[j + 1]!, legacy: node.args[j + 2] === "" });
  }
  return pairs;
}

function sourcesAndDest(node: Node, kw: string, flags: Flags): SourcesAndDest {
  if (node.args.length < 2) fail(`${kw} requires at least two arguments, but only one was provided. Destination could not be determined`);
  const dest = node.args.at(-1)!;
  if (heredocWordOrUndefined(dest)) fail(`${kw} cannot accept a heredoc as a destination`, dest);
  const docs = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const contents: InlineFile[] = [];
  for (const src of node.args.slice(0, -1)) {
    const h = node.json ? undefined : heredocWordOrUndefined(src);
    if (h) {
      const data = docs.get(h.name)?.content ?? "";
      contents.push({ name: h.name, data: h.chomp ? chompHeredocContent(data) : data, expand: h.expand, chomp: h.chomp });
    } else sources.push(src);
  }
  const out: SourcesAndDest = { sources, contents, dest, link: flags.bool("link") ?? false, exclude: flags.strings("exclude") };
  const chown = flags.string("chown");
  const chmod = flags.string("chmod");
  if (chown !== undefined) out.chown = chown;
  if (chmod !== undefined) out.chmod = chmod;
  return out;
}

const inlineFiles = (docs: Heredoc[]): InlineFile[] => docs.map((h) => ({ name: h.name, data: h.content, expand: h.expand, chomp: h.chomp }));

/** Fields of a CSV line (Go's encoding/csv for one record): quoted fields with "" for a quote. */
function csvFields(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) fail(`failed to parse csv mounts: extraneous or missing " in quoted-field`, text);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ",") fail(`failed to parse csv mounts: extraneous or missing " in quoted-field`, text);
    } else {
      const end = text.indexOf(",", i);
      field = text.slice(i, end < 0 ? text.length : end);
      if (field.includes('"')) fail(`failed to parse csv mounts: bare " in non-quoted-field`, text);
      i = end < 0 ? text.length : end;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++; // the comma
  }
}

const MOUNT_TYPES = ["bind", "cache", "tmpfs", "secret", "ssh"] as const;
const SHARING = ["shared", "private", "locked"] as const;
const MOUNT_KEYS = ["type", "from", "source", "target", "readonly", "id", "sharing", "required", "size", "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env"];

function parseBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

/** One RUN --mount value, e.g. `type=cache,target=/root/.cache,sharing=locked`. */
export function parseMount(text: string): Mount {
  const m: Mount = { type: "bind", readonly: true };
  let roAuto = true;
  const literal = (v: string) => !v.includes("$");
  for (const field of csvFields(text)) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === "readonly" || key === "ro") [m.readonly, roAuto] = [true, false];
      else if (key === "readwrite" || key === "rw") [m.readonly, roAuto] = [false, false];
      else if (key === "required") {
        if (m.type !== "secret" && m.type !== "ssh") fail(`unexpected key '${key}' for mount type '${m.type}'`, field);
        m.required = true;
      } else fail(`invalid field '${field}' must be a key=value pair`, field);
      continue;
    }
    const value = field.slice(eq + 1);
    switch (key) {
      case "type": {
        const t = value.toLowerCase();
        if (!(MOUNT_TYPES as readonly string[]).includes(t)) {
          const hint = suggest(value, MOUNT_TYPES);
          fail(`unsupported mount type "${value}"${hint ? ` (did you mean ${hint}?)` : ""}`, field);
        }
        m.type = t as Mount["type"];
        break;
      }
      case "from": {
        const i = value.indexOf("$");
        if (i !== -1 && i !== value.length - 1) fail(`'from' doesn't support variable expansion, define alias stage instead`, field);
        m.from = value;
        break;
      }
      case "source":
      case "src":
        m.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m.target = value;
        break;
      case "readonly":
      case "ro":
      case "readwrite":
      case "rw": {
        const b = parseBool(value);
        if (b === undefined) {
          if (literal(value)) fail(`invalid value for ${key}: ${value}`, field);
        } else m.readonly = key === "readonly" || key === "ro" ? b : !b;
        roAuto = false;
        break;
      }
      case "required": {
        if (m.type !== "secret" && m.type !== "ssh") fail(`unexpected key '${key}' for mount type '${m.type}'`, field);
        const b = parseBool(value);
        if (b === undefined && literal(value)) fail(`invalid value for ${key}: ${value}`, field);
        m.required = b ?? false;
        break;
      }
      case "size":
        if (m.type !== "tmpfs") fail(`unexpected key '${key}' for mount type '${m.type}'`, field);
        if (literal(value) && !/^\d+(\.\d+)?\s*([kmgtp]i?b?|b)?$/i.test(value)) fail(`invalid value for ${key}: ${value}`, field);
        m.size = value;
        break;
      case "id":
        m.id = value;
        break;
      case "sharing": {
        const s = value.toLowerCase();
        if (!(SHARING as readonly string[]).includes(s)) {
          const hint = suggest(value, SHARING);
          fail(`unsupported sharing value "${value}"${hint ? ` (did you mean ${hint}?)` : ""}`, field);
        }
        m.sharing = s as Mount["sharing"];
        break;
      }
      case "mode":
        if (literal(value) && !/^[0-7]+$/.test(value)) fail(`invalid value ${value} for mode`, field);
        m.mode = value;
        break;
      case "uid":
      case "gid":
        if (literal(value) && !(/^\d+$/.test(value) && Number(value) <= 0xffffffff)) fail(`invalid value ${value} for ${key}`, field);
        m[key] = value;
        break;
      case "env":
        m.env = value;
        break;
      default: {
        const hint = suggest(key, MOUNT_KEYS);
        fail(`unexpected key '${key}' in '${field}'${hint ? ` (did you mean ${hint}?)` : ""}`, field);
      }
    }
  }
  if (m.type !== "secret" && m.type !== "ssh" && m.type !== "cache") {
    for (const k of ["mode", "uid", "gid"] as const) if (m[k] !== undefined) fail(`${k} not allowed for "${m.type}" type mounts`, text);
  }
  if (roAuto) m.readonly = !(m.type === "cache" || m.type === "tmpfs");
  if (m.type === "secret") {
    if (m.from !== undefined) fail("secret mount should not have a from", text);
    if (m.sharing !== undefined) fail("secret mount should not define sharing", text);
    if (!m.source && !m.target && !m.id) fail("invalid secret mount. one of source, target required", text);
    if (m.source && m.id) fail("both source and id can't be set", text);
  }
  if (m.sharing !== undefined && m.type !== "cache") fail(`invalid cache sharing set for ${m.type} mount`, text);
  return m;
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds. */
export function parseGoDuration(s: string): number | undefined {
  const m = /^([-+]?)(.*)$/s.exec(s)!;
  const body = m[2]!;
  if (body === "0") return 0;
  if (body === "") return undefined;
  let total = 0;
  const re = /(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/gy;
  let pos = 0;
  let part: RegExpExecArray | null;
  while (pos < body.length && (part = re.exec(body)) !== null) {
    if (part[1] === "" || part[1] === ".") return undefined;
    total += Number(part[1]) * DURATION_UNITS[part[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== body.length) return undefined;
  return Math.round(m[1] === "-" ? -total : total);
}

function healthInterval(flags: Flags, name: string): number {
  const v = flags.string(name);
  if (v === undefined || v === "") return 0;
  const ns = parseGoDuration(v);
  if (ns === undefined) fail(`time: invalid duration "${v}" for --${name}`, `--${name}`);
  if (ns === 0) return 0;
  if (ns! < 1e6) fail(`Interval "${name}" cannot be less than 1ms`, `--${name}`);
  return ns!;
}

function instructionFrom(node: Node): Instruction {
  const kw = node.value.toUpperCase();
  const base: Base = { line: node.startLine, endLine: node.endLine, original: node.original };
  const flagsFor = (types: Record<string, FlagType>) => new Flags(node.flags, types);
  switch (goLower(node.value)) {
    case "from": {
      const a = node.args;
      let stageName: string | undefined;
      if (a.length === 3 && a[1]!.toLowerCase() === "as") {
        stageName = a[2]!.toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(stageName)) fail(`invalid name for build stage: "${a[2]}", name can't start with a number or contain symbols`, a[2]);
      } else if (a.length !== 1) fail("FROM requires either one or three arguments", a[1]);
      const flags = flagsFor({ platform: "string" });
      const out: FromInstruction = { ...base, kind: "from", image: a[0]! };
      const platform = flags.string("platform");
      if (platform !== undefined) out.platform = platform;
      if (stageName !== undefined) out.stageName = stageName;
      return out;
    }
    case "run": {
      const flags = flagsFor({ mount: "strings", network: "string", security: "string" });
      const out: RunInstruction = { ...base, kind: "run", cmd: commandLine(node, node.args), mounts: flags.strings("mount").map(parseMount), heredocs: inlineFiles(node.heredocs) };
      if (node.args.length === 0) fail("RUN requires at least one argument");
      const network = flags.string("network");
      if (network !== undefined) {
        if (network !== "default" && network !== "none" && network !== "host") fail(`invalid network mode "${network}"`, `--network=${network}`);
        out.network = network;
      }
      const security = flags.string("security");
      if (security !== undefined) {
        if (security !== "sandbox" && security !== "insecure") fail(`security "${security}" is not valid`, `--security=${security}`);
        out.security = security;
      }
      return out;
    }
    case "cmd":
      flagsFor({});
      return { ...base, kind: "cmd", cmd: commandLine(node, node.args) };
    case "entrypoint":
      flagsFor({});
      return { ...base, kind: "entrypoint", cmd: node.args.length === 0 ? undefined : commandLine(node, node.args) };
    case "copy": {
      if (node.args.length < 2) fail(`${kw} requires at least two arguments, but only one was provided. Destination could not be determined`);
      const flags = flagsFor({ chown: "string", from: "string", chmod: "string", link: "bool", exclude: "strings", parents: "bool" });
      const out: CopyInstruction = { ...base, kind: "copy", ...sourcesAndDest(node, kw, flags), parents: flags.bool("parents") ?? false };
      const from = flags.string("from");
      if (from !== undefined) out.from = from;
      return out;
    }
    case "add": {
      if (node.args.length < 2) fail(`${kw} requires at least two arguments, but only one was provided. Destination could not be determined`);
      const flags = flagsFor({ chown: "string", chmod: "string", link: "bool", "keep-git-dir": "bool", checksum: "string", unpack: "bool", exclude: "strings" });
      const out: AddInstruction = { ...base, kind: "add", ...sourcesAndDest(node, kw, flags) };
      const checksum = flags.string("checksum");
      const keep = flags.bool("keep-git-dir");
      const unpack = flags.bool("unpack");
      if (checksum !== undefined) out.checksum = checksum;
      if (keep !== undefined) out.keepGitDir = keep;
      if (unpack !== undefined) out.unpack = unpack;
      return out;
    }
    case "env":
      flagsFor({});
      return { ...base, kind: "env", pairs: keyValues(node, "ENV") };
    case "label":
      flagsFor({});
      return { ...base, kind: "label", pairs: keyValues(node, "LABEL") };
    case "expose":
      atLeastOne(node, "EXPOSE");
      flagsFor({});
      return { ...base, kind: "expose", ports: [...node.args] };
    case "volume": {
      atLeastOne(node, "VOLUME");
      flagsFor({});
      const paths = node.args.map((v) => v.trim());
      if (paths.includes("")) fail("VOLUME specified can not be an empty string");
      return { ...base, kind: "volume", paths };
    }
    case "user": {
      const user = exactlyOne(node, "USER");
      flagsFor({});
      return { ...base, kind: "user", user };
    }
    case "workdir": {
      const path = exactlyOne(node, "WORKDIR");
      flagsFor({});
      return { ...base, kind: "workdir", path };
    }
    case "stopsignal": {
      const signal = exactlyOne(node, "STOPSIGNAL");
      flagsFor({});
      return { ...base, kind: "stopsignal", signal };
    }
    case "maintainer": {
      const maintainer = exactlyOne(node, "MAINTAINER");
      flagsFor({});
      return { ...base, kind: "maintainer", maintainer };
    }
    case "arg": {
      atLeastOne(node, "ARG");
      flagsFor({});
      const args = node.args.map((word) => {
        const eq = word.indexOf("=");
        if (eq === 0) fail("ARG names can not be blank", word);
        return eq < 0 ? { name: word } : { name: word.slice(0, eq), default: word.slice(eq + 1) };
      });
      return { ...base, kind: "arg", args };
    }
    case "shell": {
      flagsFor({});
      if (node.args.length === 0) fail("SHELL requires at least one argument");
      if (!node.json) fail(`SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]`);
      return { ...base, kind: "shell", shell: [...node.args] };
    }
    case "healthcheck": {
      if (node.args.length === 0) fail("HEALTHCHECK requires at least one argument");
      const typ = node.args[0]!.toUpperCase();
      const rest = node.args.slice(1);
      const out: HealthcheckInstruction = { ...base, kind: "healthcheck", test: [], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
      if (typ === "NONE") {
        if (rest.length !== 0) fail("HEALTHCHECK NONE takes no arguments", rest[0]);
        if (node.flags.length !== 0) fail("HEALTHCHECK NONE takes no flags", node.flags[0]);
        out.test = ["NONE"];
        return out;
      }
      const flags = flagsFor({ interval: "string", timeout: "string", "start-period": "string", "start-interval": "string", retries: "string" });
      if (typ !== "CMD") fail(`Unknown type "${typ}" in HEALTHCHECK (try CMD)`, node.args[0]);
      if (rest.length === 0) fail("Missing command after HEALTHCHECK CMD");
      out.test = node.json ? ["CMD", ...rest] : ["CMD-SHELL", rest.join(" ")];
      out.interval = healthInterval(flags, "interval");
      out.timeout = healthInterval(flags, "timeout");
      out.startPeriod = healthInterval(flags, "start-period");
      out.startInterval = healthInterval(flags, "start-interval");
      const retries = flags.string("retries");
      if (retries !== undefined && retries !== "") {
        if (!/^[-+]?\d+$/.test(retries) || Math.abs(Number(retries)) > 2 ** 31 - 1) fail(`strconv.ParseInt: parsing "${retries}": invalid --retries value`, "--retries");
        if (Number(retries) < 0) fail(`--retries cannot be negative (${Number(retries)})`, "--retries");
        out.retries = Number(retries);
      }
      return out;
    }
    case "onbuild": {
      if (!node.trigger) fail("ONBUILD requires at least one argument");
      flagsFor({});
      const t = node.trigger!.value.toUpperCase();
      if (t === "ONBUILD") fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", node.trigger!.value);
      if (t === "MAINTAINER" || t === "FROM") fail(`${t} isn't allowed as an ONBUILD trigger`, node.trigger!.value);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, "");
      for (const h of node.heredocs) expression += "\n" + h.content + h.name;
      return { ...base, kind: "onbuild", trigger: instructionFrom(node.trigger!), expression };
    }
    default: {
      const hint = suggest(node.value, INSTRUCTIONS);
      return fail(`unknown instruction: ${node.value}${hint ? ` (did you mean ${hint.toUpperCase()}?)` : ""}`, node.value);
    }
  }
}

/**
 * Where on the instruction's first line `word` sits (1-based): looked for after the keyword
 * first, then anywhere; the instruction's own column when it is not on that line.
 */
function columnOf(lineText: string, keyword: string, word: string | undefined): number {
  const first = (/^[\t ]*/.exec(lineText)?.[0].length ?? 0) + 1;
  if (!word) return first;
  let at = lineText.indexOf(word, first - 1 + keyword.length);
  if (at < 0) at = lineText.indexOf(word, first - 1);
  return at < 0 ? first : at + 1;
}

/** One parsed node as a typed instruction; throws DockerfileError pointing into `parsed`. */
export function toInstruction(node: Node, parsed: Pick<ParseResult, "lines" | "file">): Instruction {
  try {
    return instructionFrom(node);
  } catch (err) {
    if (!(err instanceof InstructionFailure) && !(err instanceof ShellLexError)) throw err;
    const lineText = parsed.lines[node.startLine - 1] ?? "";
    const word = err instanceof InstructionFailure ? err.word : undefined;
    throw new DockerfileError(err.message, { file: parsed.file, line: node.startLine, column: columnOf(lineText, node.value, word), lineText, endLine: node.endLine });
  }
}

/** Stages from a parse: global ARGs before the first FROM, then each FROM and what follows it. */
export function toDockerfile(parsed: ParseResult): Dockerfile {
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Map<string, number>();
  for (const node of parsed.nodes) {
    const instr = toInstruction(node, parsed);
    const at = (reason: string, word?: string): never => {
      const lineText = parsed.lines[node.startLine - 1] ?? "";
      throw new DockerfileError(reason, { file: parsed.file, line: node.startLine, column: columnOf(lineText, node.value, word), lineText, endLine: node.endLine });
    };
    if (instr.kind === "from") {
      if (instr.stageName !== undefined) {
        const prev = names.get(instr.stageName);
        if (prev !== undefined) at(`duplicate stage name "${instr.stageName}" (first defined on line ${prev})`, node.args[2]);
        names.set(instr.stageName, instr.line);
      }
      const stage: Stage = { index: stages.length, from: instr, instructions: [] };
      if (instr.stageName !== undefined) stage.name = instr.stageName;
      stages.push(stage);
    } else if (stages.length === 0) {
      if (instr.kind === "arg") globalArgs.push(instr);
      else at(`${node.value.toUpperCase()} before the first FROM: only ARG instructions may come before FROM`, node.value);
    } else stages.at(-1)!.instructions.push(instr);
  }
  return { globalArgs, stages, escape: parsed.escape, directives: parsed.directives, warnings: parsed.warnings, file: parsed.file, lines: parsed.lines };
}

/** Parses a Dockerfile's text into stages of typed instructions. */
export function parseStages(text: string, file = "Dockerfile"): Dockerfile {
  return toDockerfile(parseDockerfile(text, file));
}

/**
 * The values of the global ARGs (those before the first FROM), in order: a build argument given
 * for a name wins, else its default expanded with the ARGs before it (BuildKit's meta args).
 * `builtins` (BUILDPLATFORM, TARGETOS...) are visible to every default and FROM line.
 */
export function globalArgValues(df: Dockerfile, buildArgs: Readonly<Record<string, string>> = {}, builtins: Readonly<Record<string, string>> = {}): Record<string, string> {
  const values: Record<string, string> = { ...builtins };
  for (const instr of df.globalArgs) {
    for (const a of instr.args) {
      if (Object.prototype.hasOwnProperty.call(buildArgs, a.name)) values[a.name] = buildArgs[a.name]!;
      else if (a.default !== undefined) {
        try {
          values[a.name] = expandWord(a.default, envFromRecord(values), df.escape);
        } catch (err) {
          if (err instanceof ShellLexError) throw atInstruction(df, instr, err.message, a.name);
          throw err;
        }
      }
    }
  }
  return values;
}

/** A stage's base image and platform with the global ARGs substituted; a base that expands to nothing is an error. */
export function stageBase(df: Dockerfile, stage: Stage, values: Readonly<Record<string, string>>): { image: string; platform?: string } {
  const env = envFromRecord(values);
  try {
    const image = expandWord(stage.from.image, env, df.escape);
    if (image === "") throw atInstruction(df, stage.from, `base name (${stage.from.image}) should not be blank`, stage.from.image);
    const out: { image: string; platform?: string } = { image };
    if (stage.from.platform !== undefined) out.platform = expandWord(stage.from.platform, env, df.escape);
    return out;
  } catch (err) {
    if (err instanceof ShellLexError) throw atInstruction(df, stage.from, err.message, stage.from.image);
    throw err;
  }
}

/** A DockerfileError at an instruction of df, pointing at `word` on its first line. */
function atInstruction(df: Dockerfile, instr: Instruction, reason: string, word?: string): DockerfileError {
  const lineText = df.lines[instr.line - 1] ?? "";
  const keyword = /^[\t ]*\S*/.exec(lineText)?.[0].trimStart() ?? "";
  return new DockerfileError(reason, { file: df.file, line: instr.line, column: columnOf(lineText, keyword, word), lineText, endLine: instr.endLine });
}

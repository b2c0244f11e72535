// From a parsed Dockerfile (dockerfile/instructions.ts) to the executor's stages (steps.ts), with
// the rules of dockerd's builder:
//   - global ARGs (before the first FROM) expand in FROM lines, --build-arg values winning; a
//     stage sees one only when it declares it again (ARG NAME without a default takes its value);
//   - each stage's words are expanded when its step runs, with the ENV and build arguments of
//     that moment, for ADD COPY ENV EXPOSE LABEL STOPSIGNAL USER VOLUME WORKDIR and ARG defaults;
//     RUN, CMD and ENTRYPOINT are left to the shell (the reference's "Environment replacement");
//   - the proxy build arguments (HTTP_PROXY...) need no ARG: the executor gives them to RUN;
//   - ONBUILD triggers of a base image are parsed here and run by the executor after FROM;
//   - --target: the target and the stages it needs (FROM, COPY --from, RUN --mount from=), as
//     BuildKit builds them; without one every stage, as dockerd's legacy builder;
//   - FROM of an earlier stage's name starts from that stage's image;
//   - --build-arg values that no ARG of the built stages declared are reported, in dockerd's words;
//   - BuildKit's additions run too: heredocs (RUN and COPY/ADD), RUN --mount (its words expanded
//     when the step runs), ADD --checksum, and MAINTAINER (the image's author, as dockerd).

import { invalid } from "../common/errors.js";
import { DockerfileError } from "./dockerfile/errors.js";
import { globalArgValues, stageBase, toInstruction, type Dockerfile, type Instruction, type Mount, type RunInstruction } from "./dockerfile/instructions.js";
import { chompHeredocContent, heredocWordOrUndefined, parseDockerfile } from "./dockerfile/parser.js";
import { ShellLex, ShellLexError, envFromRecord, expandWord, expandWords, type EnvGetter } from "./dockerfile/shell-lex.js";
import { ramInBytes } from "../docker/index.js";
import { PROXY_ARGS } from "./config.js";
import { neededStages, stageDependencies } from "./stage-graph.js";
import type { RunMount, RunStep, Stage, Step } from "./steps.js";

export interface ToStepsOptions {
  /** --build-arg values. */
  buildArgs?: Record<string, string>;
  /** --target: the last stage to build (its name). */
  target?: string;
}

export interface Plan {
  stages: Stage[];
  /** The global ARG lines, shown as the first steps (BuildOptions.preamble). */
  preamble: string[];
  /** After the build: the --build-arg names no ARG of the built stages declared (dockerd warns about them), sorted. */
  unusedArgs(): string[];
}

/** dockerd's warning for build arguments no ARG used. */
export function unusedArgsWarning(names: string[]): string {
  return `[Warning] One or more build-args [${names.join(" ")}] were not consumed\n`;
}

/** The stages to build from a Dockerfile; errors in FROM lines and unknown targets are found here, the rest when each step runs. */
export function dockerfileToSteps(df: Dockerfile, opts: ToStepsOptions = {}): Plan {
  const buildArgs = opts.buildArgs ?? {};
  const proxies = Object.fromEntries(Object.entries(buildArgs).filter(([k]) => PROXY_ARGS.has(k)));
  const meta = globalArgValues(df, buildArgs, proxies);
  const referenced = new Set<string>();
  const all: Stage[] = [];
  const names = new Set<string>();
  for (const [index, stage] of df.stages.entries()) {
    const { image, platform } = stageBase(df, stage, meta);
    const lower = image.toLowerCase();
    const base = lower === "scratch" ? { scratch: true as const } : names.has(lower) ? { stage: lower } : { image };
    const steps = stage.instructions.map((i) => toStep(df, i));
    const st: Stage = {
      base,
      index,
      uses: stageUses(df, stage.instructions, meta),
      text: stage.from.original,
      steps,
      resolve: (step, vars) => {
        const r = resolveStep(df, step, { get: vars }, meta);
        if (r.kind === "arg") referenced.add(r.name);
        return r;
      },
      triggers: (exprs) => exprs.flatMap((e) => triggerSteps(df, e)),
    };
    if (stage.name !== undefined) st.name = stage.name;
    if (platform !== undefined && platform !== "") st.platform = platform;
    all.push(st);
    if (stage.name !== undefined) names.add(stage.name);
  }
  // without --target every stage is built, as dockerd's legacy builder does; with one, only the
  // target and the stages it needs (as BuildKit): a stage nothing reaches is never run
  const deps = stageDependencies(all);
  let out = all;
  if (opts.target !== undefined && opts.target !== "") {
    const at = all.findIndex((s) => s.name === opts.target!.toLowerCase());
    if (at < 0) throw invalid(`failed to reach build target ${opts.target} in Dockerfile`, { code: "build.target" });
    out = neededStages(deps, at).map((i) => all[i]!);
  }
  return {
    stages: out,
    preamble: df.globalArgs.map((a) => a.original),
    unusedArgs: () =>
      Object.keys(buildArgs)
        .filter((k) => !referenced.has(k) && !PROXY_ARGS.has(k))
        .sort(),
  };
}

/**
 * The stages or images a stage's COPY --from and RUN --mount from= name, their global ARGs
 * expanded (what BuildKit expands them with to find a stage's dependencies); a word that does not
 * expand is kept as written.
 */
function stageUses(df: Dockerfile, instructions: Instruction[], meta: Record<string, string>): string[] {
  const env = envFromRecord(meta);
  const expand = (w: string) => {
    try {
      return expandWord(w, env, df.escape);
    } catch (err) {
      if (err instanceof ShellLexError) return w;
      throw err;
    }
  };
  const uses: string[] = [];
  for (const i of instructions) {
    if (i.kind === "copy" && i.from !== undefined) uses.push(expand(i.from));
    if (i.kind === "run") for (const m of i.mounts) if (m.from !== undefined && m.from !== "") uses.push(m.from);
  }
  return uses;
}

/** Where an instruction's step came from, for errors found when it runs. */
const origin = new WeakMap<Step, Instruction>();
/** RUN --mount values as written: their words expand when the step runs (resolveStep). */
const rawMounts = new WeakMap<Step, Mount[]>();

function toStep(df: Dockerfile, i: Instruction): Step {
  const step = stepOf(df, i);
  origin.set(step, i);
  return step;
}

function stepOf(df: Dockerfile, i: Instruction): Step {
  const text = i.original;
  const refuse = (what: string): never => {
    throw at(df, i, `${what} needs BuildKit, which cove's builder does not have (it builds as dockerd's legacy builder)`);
  };
  switch (i.kind) {
    case "run": {
      if (i.security === "insecure") refuse("RUN --security=insecure");
      const step: RunStep = { kind: "run", text, command: i.cmd.form === "shell" ? i.cmd.command : i.cmd.args, ...(i.network !== undefined ? { network: i.network } : {}) };
      if (i.heredocs.length > 0) heredocCommand(df, i, step);
      if (i.mounts.length > 0) {
        // checked now with their words as written, expanded when the step runs
        for (const m of i.mounts) runMount(df, i, m, (x) => x, false);
        rawMounts.set(step, i.mounts);
      }
      return step;
    }
    case "cmd":
      return { kind: "cmd", text, command: i.cmd.form === "shell" ? i.cmd.command : i.cmd.args };
    case "entrypoint":
      return { kind: "entrypoint", text, command: i.cmd === undefined ? [] : i.cmd.form === "shell" ? i.cmd.command : i.cmd.args };
    case "copy":
    case "add": {
      if (i.kind === "add" && i.unpack !== undefined) refuse("ADD --unpack");
      const step: Step = { kind: i.kind, text, sources: [...i.sources], dest: i.dest };
      if (i.kind === "add" && i.keepGitDir !== undefined) step.keepGitDir = i.keepGitDir;
      if (i.contents.length > 0) step.contents = i.contents.map((c) => ({ name: c.name, data: c.data, expand: c.expand }));
      if (i.kind === "add" && i.checksum !== undefined) {
        if (!/^sha256:[0-9a-f]{64}$/.test(i.checksum)) throw at(df, i, `invalid checksum ${JSON.stringify(i.checksum)}: give sha256: and 64 lower-case hex digits`);
        if (i.sources.length !== 1 || !/^https?:\/\//.test(i.sources[0]!) || i.contents.length > 0) throw at(df, i, "checksum can't be specified for multiple sources or non-HTTP(S) sources in cove's builder");
        step.checksum = i.checksum;
      }
      if (i.chown !== undefined) step.chown = i.chown;
      if (i.chmod !== undefined) step.chmod = i.chmod;
      if (i.link) step.link = true;
      if (i.exclude.length > 0) step.exclude = [...i.exclude];
      if (i.kind === "copy") {
        if (i.from !== undefined) step.from = i.from;
        if (i.parents) step.parents = true;
      }
      return step;
    }
    case "env":
      return { kind: "env", text, vars: i.pairs.map((p) => [p.key, p.value]) };
    case "label":
      return { kind: "label", text, labels: i.pairs.map((p) => [p.key, p.value]) };
    case "expose":
      return { kind: "expose", text, ports: [...i.ports] };
    case "volume":
      return { kind: "volume", text, paths: [...i.paths] };
    case "user":
      return { kind: "user", text, user: i.user };
    case "workdir":
      return { kind: "workdir", text, path: i.path };
    case "stopsignal":
      return { kind: "stopsignal", text, signal: i.signal };
    case "shell":
      return { kind: "shell", text, shell: [...i.shell] };
    case "onbuild":
      return { kind: "onbuild", text, instruction: i.expression };
    case "healthcheck": {
      const h: Step & { kind: "healthcheck" } = { kind: "healthcheck", text, healthcheck: { Test: [...i.test] } };
      if (i.interval) h.healthcheck.Interval = i.interval;
      if (i.timeout) h.healthcheck.Timeout = i.timeout;
      if (i.startPeriod) h.healthcheck.StartPeriod = i.startPeriod;
      if (i.startInterval) h.healthcheck.StartInterval = i.startInterval;
      if (i.retries) h.healthcheck.Retries = i.retries;
      return h;
    }
    case "arg": {
      if (i.args.length !== 1) throw at(df, i, "ARG with more than one name is not supported by cove's builder yet: write one ARG per name");
      const a = i.args[0]!;
      return { kind: "arg", text, name: a.name, ...(a.default !== undefined ? { default: a.default } : {}) };
    }
    case "maintainer":
      return { kind: "maintainer", text, maintainer: i.maintainer };
    case "from":
      throw at(df, i, "FROM inside a stage");
  }
}

/** The step with its words expanded in `env`; ARG gets the global ARG of its name for when nothing else gives it a value. */
function resolveStep(df: Dockerfile, step: Step, env: EnvGetter, meta: Record<string, string>): Step {
  const w = (s: string) => expandWord(s, env, df.escape);
  try {
    switch (step.kind) {
      case "env":
        return { ...step, vars: step.vars.map(([k, v]) => [w(k), w(v)]) };
      case "label":
        return { ...step, labels: step.labels.map(([k, v]) => [w(k), w(v)]) };
      case "expose":
        return { ...step, ports: step.ports.flatMap((p) => expandWords(p, env, df.escape)) };
      case "volume":
        return { ...step, paths: step.paths.map(w) };
      case "user":
        return { ...step, user: w(step.user) };
      case "workdir":
        return { ...step, path: w(step.path) };
      case "stopsignal":
        return { ...step, signal: w(step.signal) };
      case "run": {
        const raw = rawMounts.get(step);
        const instr = origin.get(step);
        if (!raw || !instr || instr.kind !== "run") return step;
        return { ...step, mounts: raw.map((m) => runMount(df, instr, m, w, true)) };
      }
      case "copy":
      case "add": {
        const r = { ...step, sources: step.sources.map(w), dest: w(step.dest) };
        // heredoc content: only $VARS expand, quotes and escapes stay (BuildKit's raw expansion)
        const raw = new ShellLex({ skipQuotes: true });
        if (step.contents) r.contents = step.contents.map((c) => (c.expand ? { ...c, data: raw.processWord(c.data, env) } : c));
        if (step.chown !== undefined) r.chown = w(step.chown);
        if (step.chmod !== undefined) r.chmod = w(step.chmod);
        if (step.from !== undefined) r.from = w(step.from);
        return r;
      }
      case "arg": {
        const r = { ...step };
        if (step.default !== undefined) r.default = w(step.default);
        else if (Object.hasOwn(meta, step.name)) r.inherited = meta[step.name]!;
        return r;
      }
      default:
        return step;
    }
  } catch (err) {
    const instr = origin.get(step);
    if (err instanceof ShellLexError && instr) throw at(df, instr, err.message);
    throw err;
  }
}

/** An ONBUILD trigger ("RUN echo hi") as steps; a trigger that does not parse fails the build. */
function triggerSteps(df: Dockerfile, expression: string): Step[] {
  const parsed = parseDockerfile(expression, "ONBUILD trigger");
  return parsed.nodes.map((node) => {
    const instr = toInstruction(node, parsed);
    if (instr.kind === "from" || instr.kind === "onbuild" || instr.kind === "maintainer") {
      throw invalid(`${instr.kind.toUpperCase()} isn't allowed as an ONBUILD trigger`, { code: "build.onbuild" });
    }
    const step = stepOf({ ...df, file: "ONBUILD trigger", lines: parsed.lines }, instr);
    origin.set(step, instr);
    return step;
  });
}

/**
 * A RUN with heredocs, as BuildKit runs it: a command that is one heredoc alone runs its content
 * (a file under /dev/pipes run as a script when it starts with #!, else the content given to the
 * shell); otherwise the heredocs are put back after the command line for the shell to read.
 */
function heredocCommand(df: Dockerfile, i: RunInstruction, step: RunStep): void {
  if (i.cmd.form !== "shell") throw at(df, i, "a heredoc in RUN needs the shell form of the command");
  const only = heredocWordOrUndefined(i.cmd.command.trim());
  const first = i.heredocs[0]!;
  if (only && only.name === first.name) {
    const data = first.chomp ? chompHeredocContent(first.data) : first.data;
    if (data.startsWith("#!")) {
      if (!/^[^/\0]+$/.test(first.name) || first.name === "." || first.name === "..") throw at(df, i, `a heredoc run as a script needs a plain file name as its delimiter, not ${JSON.stringify(first.name)}`);
      step.files = [{ name: first.name, data, mode: 0o755 }];
      step.command = `/dev/pipes/${first.name}`;
    } else step.command = data;
    return;
  }
  let full = i.cmd.command;
  for (const h of i.heredocs) full += "\n" + h.data + h.name;
  step.command = full;
}

/** A RUN --mount with its words expanded by `w`, its numbers parsed and BuildKit's defaults given. */
function runMount(df: Dockerfile, i: Instruction, m: Mount, w: (s: string) => string, expanded: boolean): RunMount {
  const bad = (why: string): never => {
    throw at(df, i, `RUN --mount=type=${m.type}: ${why}`);
  };
  const out: RunMount = { type: m.type, readonly: m.readonly };
  const str = (v: string | undefined) => (v === undefined ? undefined : w(v));
  const target = str(m.target);
  const source = str(m.source);
  const from = m.from;
  const id = str(m.id);
  if (target !== undefined && target !== "") out.target = target;
  if (source !== undefined && source !== "") out.source = source;
  if (from !== undefined && from !== "") out.from = from;
  if (id !== undefined && id !== "") out.id = id;
  if (m.sharing !== undefined) out.sharing = m.sharing;
  if (m.required !== undefined) out.required = m.required;
  if (m.env !== undefined) out.env = w(m.env);
  const num = (v: string | undefined, what: string, base: 8 | 10): number | undefined => {
    if (v === undefined) return undefined;
    const x = w(v);
    if (!expanded && x.includes("$")) return undefined;
    if (!(base === 8 ? /^[0-7]+$/ : /^\d+$/).test(x) || Number.parseInt(x, base) > 0xffffffff) bad(`invalid value ${x} for ${what}`);
    return Number.parseInt(x, base);
  };
  const mode = num(m.mode, "mode", 8);
  const uid = num(m.uid, "uid", 10);
  const gid = num(m.gid, "gid", 10);
  if (mode !== undefined) out.mode = mode;
  if (uid !== undefined) out.uid = uid;
  if (gid !== undefined) out.gid = gid;
  if (m.size !== undefined) {
    const x = w(m.size);
    if (expanded || !x.includes("$")) {
      try {
        out.size = ramInBytes(x);
      } catch {
        bad(`invalid value ${x} for size`);
      }
    }
  }
  switch (m.type) {
    case "bind":
    case "cache":
    case "tmpfs":
      if (out.target === undefined) bad("a target is required (target=/path)");
      if (m.type === "cache" && out.id === undefined && out.target !== undefined) out.id = out.target;
      if (m.type === "tmpfs" && out.from !== undefined) bad("from is not allowed");
      break;
    case "secret":
      if (out.source !== undefined && out.id === undefined) out.id = out.source;
      if (out.id === undefined && out.target !== undefined) out.id = out.target.split("/").filter((x) => x !== "").at(-1);
      if (out.id === undefined) bad("an id or a target is required");
      if (out.target === undefined && out.env === undefined) out.target = `/run/secrets/${out.id}`;
      break;
    case "ssh":
      if (out.id === undefined) out.id = out.source ?? "default";
      break;
  }
  return out;
}

/** A DockerfileError at an instruction. */
function at(df: Dockerfile, i: Instruction, reason: string): DockerfileError {
  return new DockerfileError(reason, { file: df.file, line: i.line, column: 1, lineText: df.lines[i.line - 1] ?? "", endLine: i.endLine });
}

// From a parsed Dockerfile (dockerfile/instructions.ts) to the executor's stages (steps.ts), with
// the rules of dockerd's builder:
//   - global ARGs (before the first FROM) expand in FROM lines, --build-arg values winning; a
//     stage sees one only when it declares it again (ARG NAME without a default takes its value);
//   - each stage's words are expanded when its step runs, with the ENV and build arguments of
//     that moment, for ADD COPY ENV EXPOSE LABEL STOPSIGNAL USER VOLUME WORKDIR and ARG defaults;
//     RUN, CMD and ENTRYPOINT are left to the shell (the reference's "Environment replacement");
//   - the proxy build arguments (HTTP_PROXY...) need no ARG: the executor gives them to RUN;
//   - ONBUILD triggers of a base image are parsed here and run by the executor after FROM;
//   - --target: the stages up to the target, as dockerd's legacy builder builds them;
//   - FROM of an earlier stage's name starts from that stage's image;
//   - --build-arg values that no ARG of the built stages declared are reported, in dockerd's words.

import { invalid } from "../common/errors.js";
import { DockerfileError } from "./dockerfile/errors.js";
import { globalArgValues, stageBase, toInstruction, type Dockerfile, type Instruction } from "./dockerfile/instructions.js";
import { parseDockerfile } from "./dockerfile/parser.js";
import { ShellLexError, expandWord, expandWords, type EnvGetter } from "./dockerfile/shell-lex.js";
import { PROXY_ARGS } from "./config.js";
import type { Stage, Step } from "./steps.js";

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
  let stages = df.stages;
  if (opts.target !== undefined && opts.target !== "") {
    const at = stages.findIndex((s) => s.name === opts.target!.toLowerCase());
    if (at < 0) throw invalid(`failed to reach build target ${opts.target} in Dockerfile`, { code: "build.target" });
    stages = stages.slice(0, at + 1);
  }
  const referenced = new Set<string>();
  const out: Stage[] = [];
  const names = new Set<string>();
  for (const stage of stages) {
    const { image, platform } = stageBase(df, stage, meta);
    const lower = image.toLowerCase();
    const base = lower === "scratch" ? { scratch: true as const } : names.has(lower) ? { stage: lower } : { image };
    const steps = stage.instructions.map((i) => toStep(df, i));
    const st: Stage = {
      base,
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
    out.push(st);
    if (stage.name !== undefined) names.add(stage.name);
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

/** Where an instruction's step came from, for errors found when it runs. */
const origin = new WeakMap<Step, Instruction>();

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
    case "run":
      if (i.mounts.length > 0) refuse("RUN --mount");
      if (i.heredocs.length > 0) refuse("a heredoc in RUN");
      if (i.security === "insecure") refuse("RUN --security=insecure");
      return { kind: "run", text, command: i.cmd.form === "shell" ? i.cmd.command : i.cmd.args, ...(i.network !== undefined ? { network: i.network } : {}) };
    case "cmd":
      return { kind: "cmd", text, command: i.cmd.form === "shell" ? i.cmd.command : i.cmd.args };
    case "entrypoint":
      return { kind: "entrypoint", text, command: i.cmd === undefined ? [] : i.cmd.form === "shell" ? i.cmd.command : i.cmd.args };
    case "copy":
    case "add": {
      if (i.contents.length > 0) refuse(`a heredoc in ${i.kind.toUpperCase()}`);
      if (i.kind === "add" && (i.checksum !== undefined || i.keepGitDir !== undefined || i.unpack !== undefined)) refuse("ADD --checksum, --keep-git-dir or --unpack");
      const step: Step = { kind: i.kind, text, sources: [...i.sources], dest: i.dest };
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
      throw at(df, i, "MAINTAINER (deprecated) is not supported by cove's builder: use LABEL maintainer=...");
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
      case "copy":
      case "add": {
        const r = { ...step, sources: step.sources.map(w), dest: w(step.dest) };
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

/** A DockerfileError at an instruction. */
function at(df: Dockerfile, i: Instruction, reason: string): DockerfileError {
  return new DockerfileError(reason, { file: df.file, line: i.line, column: 1, lineText: df.lines[i.line - 1] ?? "", endLine: i.endLine });
}

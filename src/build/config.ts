// The pure half of the executor: how each step changes a stage's image config, and the history
// line (created_by) dockerd's legacy builder records for it. No I/O here, so the rules are tested
// without root.
//
// dockerd records a config-only step as its shell followed by "#(nop) " and the step
// ("/bin/sh -c #(nop)  ENV a=b": the two words are joined with a space, hence two spaces), WORKDIR
// and COPY/ADD as one word ("/bin/sh -c #(nop) WORKDIR /app"), and RUN as the command it ran,
// prefixed with "|N k=v ..." when build arguments were in its environment.

import path from "node:path";
import { invalid } from "../common/errors.js";
import type { ContainerConfig, HealthConfig } from "../docker/index.js";
import type { Command, Step } from "./steps.js";

export const DEFAULT_SHELL = ["/bin/sh", "-c"];
/** What dockerd puts in a stage's Env at FROM when the base image has no PATH. */
export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A stage's state between steps. */
export interface StageState {
  config: ContainerConfig;
  /** CMD was set in this stage (an ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** Build arguments declared by ARG in this stage, with their values (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  /** MAINTAINER: the author of every image the stage makes from there on (dockerd's rule). */
  author?: string;
}

/** The image config a stage starts from: the base's, with dockerd's default PATH when it has none. */
export function beginStage(base: ContainerConfig): StageState {
  const config = cleanConfig(base);
  const env = config.Env ?? [];
  if (!env.some((e) => e.startsWith("PATH="))) config.Env = [...env, DEFAULT_PATH];
  return { config, cmdSet: false, args: new Map() };
}

/** The config without the empty fields an inspect view shows ("", null, false, {}). */
export function cleanConfig(c: ContainerConfig): ContainerConfig {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(structuredClone(c))) {
    if (v === "" || v === null || v === false || v === undefined) continue;
    if (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0) continue;
    if (k === "Image" || k === "Hostname" || k === "Domainname") continue;
    out[k] = v;
  }
  return out as ContainerConfig;
}

export const shellOf = (c: ContainerConfig): string[] => (c.Shell && c.Shell.length > 0 ? c.Shell : DEFAULT_SHELL);

/** The argv of a command: a shell string runs with the stage's SHELL. */
export function argvOf(command: Command, config: ContainerConfig): string[] {
  return typeof command === "string" ? [...shellOf(config), command] : [...command];
}

/** created_by of a config-only step ("/bin/sh -c #(nop)  ENV a=b"). */
export function nopHistory(config: ContainerConfig, comment: string): string {
  return [...shellOf(config), "#(nop) ", comment].join(" ");
}

/** created_by of WORKDIR and COPY/ADD ("/bin/sh -c #(nop) WORKDIR /app"). */
export function nopHistoryOneWord(config: ContainerConfig, comment: string): string {
  return [...shellOf(config), `#(nop) ${comment}`].join(" ");
}

/**
 * The build arguments every RUN sees without an ARG (dockerd's builtinAllowedBuildArgs): given
 * with --build-arg, they are in the RUN's environment but not in its history line.
 */
export const PROXY_ARGS: ReadonlySet<string> = new Set(["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy"]);

/** The proxy build arguments given and not declared by ARG in this stage, nor set by ENV: in a RUN's environment only. */
export function proxyArgs(state: StageState, buildArgs: Record<string, string>): [string, string][] {
  const envKeys = new Set((state.config.Env ?? []).map((e) => e.split("=", 1)[0]));
  return Object.entries(buildArgs)
    .filter(([k]) => PROXY_ARGS.has(k) && !state.args.has(k) && !envKeys.has(k))
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The variables a step's words expand with: the stage's ENV, then the build arguments in use (ENV wins). */
export function stageVars(state: StageState, buildArgs: Record<string, string>): (name: string) => string | undefined {
  const vars = new Map<string, string>();
  for (const [k, v] of [...proxyArgs(state, buildArgs), ...runArgs(state)]) vars.set(k, v);
  for (const e of state.config.Env ?? []) {
    const i = e.indexOf("=");
    vars.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  return (name) => vars.get(name);
}

/** Build arguments in a RUN's environment: the declared ones with a value, not overridden by ENV, sorted. */
export function runArgs(state: StageState): [string, string][] {
  const envKeys = new Set((state.config.Env ?? []).map((e) => e.split("=", 1)[0]));
  return [...state.args].filter((a): a is [string, string] => a[1] !== undefined && !envKeys.has(a[0])).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** created_by of a RUN: its argv joined, after "|N k=v ..." when build arguments are in its environment. */
export function runHistory(argv: string[], args: [string, string][]): string {
  const prefix = args.length > 0 ? [`|${args.length}`, ...args.map(([k, v]) => `${k}=${v}`)] : [];
  return [...prefix, ...argv].join(" ");
}

/** Go's %q of a string (strconv.Quote), close enough for history lines: JSON's escapes. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Go's %q of a []string: ["a" "b"]. */
const goQuotedList = (l: string[]): string => `[${l.map(goQuote).join(" ")}]`;

/** Go's time.Duration.String() of nanoseconds: "0s", "1.5s", "1m30s", "500ms". */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let u = Math.abs(Math.trunc(ns));
  const sign = neg ? "-" : "";
  if (u < 1e9) {
    const [unit, div] = u < 1e3 ? ["ns", 1] : u < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    return `${sign}${trimFraction(u / (div as number))}${unit}`;
  }
  const h = Math.floor(u / 3600e9);
  u -= h * 3600e9;
  const m = Math.floor(u / 60e9);
  u -= m * 60e9;
  const s = `${trimFraction(u / 1e9)}s`;
  if (h > 0) return `${sign}${h}h${m}m${s}`;
  if (m > 0) return `${sign}${m}m${s}`;
  return `${sign}${s}`;
}

function trimFraction(x: number): string {
  return Number(x.toFixed(9)).toString();
}

/** Go's %q of an int: a quoted rune ('\x00', 'A'). */
function goQuoteRune(n: number): string {
  if (n >= 0x20 && n < 0x7f) return n === 0x27 ? "'\\''" : n === 0x5c ? "'\\\\'" : `'${String.fromCharCode(n)}'`;
  if (n < 0x80) return `'\\x${n.toString(16).padStart(2, "0")}'`;
  return `'\\u${n.toString(16).padStart(4, "0")}'`;
}

/** dockerd's history text of a HEALTHCHECK: Go's %q of its HealthConfig. */
function healthText(h: HealthConfig): string {
  const d = (ns: number | undefined) => goQuote(goDuration(ns ?? 0));
  return `&{${goQuotedList(h.Test ?? [])} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)} ${goQuoteRune(h.Retries ?? 0)}}`;
}

/** nat.ParsePortSpecs of EXPOSE's words: "80" → "80/tcp", ranges expanded. */
export function exposedPorts(ports: string[]): string[] {
  const out: string[] = [];
  for (const p of ports) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
    if (!m) throw invalid(`invalid containerPort: ${p}`, { code: "build.invalid-port" });
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (lo > 65535 || hi > 65535 || hi < lo) throw invalid(`invalid range specified for container port: ${p}`, { code: "build.invalid-port" });
    const proto = (m[3] ?? "tcp").toLowerCase();
    for (let n = lo; n <= hi; n++) out.push(`${n}/${proto}`);
  }
  return out;
}

/** The absolute form of a WORKDIR or COPY destination, relative to the current WORKDIR. */
export function resolveWorkdir(config: ContainerConfig, p: string): string {
  return path.posix.resolve(config.WorkingDir || "/", p);
}

/**
 * Applies a config-only step (everything but RUN and COPY/ADD) to the state; returns the history
 * line dockerd records for it. WORKDIR changes the config here; the executor makes the directory.
 */
export function applyConfigStep(state: StageState, step: Exclude<Step, { kind: "run" | "copy" | "add" }>): string {
  const c = state.config;
  switch (step.kind) {
    case "env": {
      const env = [...(c.Env ?? [])];
      for (const [k, v] of step.vars) {
        if (k === "") throw invalid("ENV names can not be blank", { code: "build.invalid-env" });
        const i = env.findIndex((e) => e.split("=", 1)[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      c.Env = env;
      return nopHistory(c, `ENV ${step.vars.map(([k, v]) => `${k}=${v}`).join(" ")}`);
    }
    case "label": {
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of step.labels) {
        if (k === "") throw invalid("LABEL names can not be blank", { code: "build.invalid-label" });
        c.Labels[k] = v;
      }
      return nopHistory(c, `LABEL ${step.labels.map(([k, v]) => `${k}=${v}`).join(" ")}`);
    }
    case "expose": {
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of exposedPorts(step.ports)) c.ExposedPorts[p] = {};
      return nopHistory(c, `EXPOSE ${[...step.ports].sort().join(" ")}`);
    }
    case "volume": {
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of step.paths) {
        if (v.trim() === "") throw invalid("VOLUME specified can not be an empty string", { code: "build.invalid-volume" });
        c.Volumes[v] = {};
      }
      return nopHistory(c, `VOLUME [${step.paths.join(" ")}]`);
    }
    case "user":
      c.User = step.user;
      return nopHistory(c, `USER ${step.user}`);
    case "workdir":
      c.WorkingDir = resolveWorkdir(c, step.path);
      return nopHistoryOneWord(c, `WORKDIR ${c.WorkingDir}`);
    case "cmd":
      c.Cmd = argvOf(step.command, c);
      state.cmdSet = true;
      return nopHistory(c, `CMD ${goQuotedList(c.Cmd)}`);
    case "entrypoint":
      c.Entrypoint = argvOf(step.command, c);
      // Docker's rule: an ENTRYPOINT resets a CMD this stage did not set (the base image's)
      if (!state.cmdSet) delete c.Cmd;
      return nopHistory(c, `ENTRYPOINT ${goQuotedList(c.Entrypoint)}`);
    case "shell":
      if (step.shell.length === 0) throw invalid("SHELL requires at least one argument", { code: "build.invalid-shell" });
      c.Shell = [...step.shell];
      return nopHistory(c, `SHELL [${step.shell.join(" ")}]`);
    case "stopsignal":
      c.StopSignal = step.signal;
      return nopHistory(c, `STOPSIGNAL ${step.signal}`);
    case "healthcheck": {
      const h = step.healthcheck;
      const test = h.Test ?? [];
      if (test.length === 0 || !["NONE", "CMD", "CMD-SHELL"].includes(test[0]!)) throw invalid(`HEALTHCHECK needs a test of NONE, CMD or CMD-SHELL, not ${JSON.stringify(test)}`, { code: "build.invalid-healthcheck" });
      const hc: HealthConfig = { Test: [...test] };
      for (const k of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] as const) if (h[k]) hc[k] = h[k];
      c.Healthcheck = hc;
      return nopHistory(c, `HEALTHCHECK ${healthText(hc)}`);
    }
    case "maintainer":
      state.author = step.maintainer;
      return nopHistory(c, `MAINTAINER ${step.maintainer}`);
    case "onbuild":
      c.OnBuild = [...(c.OnBuild ?? []), step.instruction];
      return nopHistory(c, `ONBUILD ${step.instruction}`);
    case "arg":
      return nopHistory(c, `ARG ${step.name}${step.default !== undefined ? `=${step.default}` : ""}`);
  }
}

/** ARG's effect on the stage's state: the --build-arg value, else its default, else none. */
export function declareArg(state: StageState, name: string, dflt: string | undefined, buildArgs: Record<string, string>, inherited?: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw invalid(`invalid build argument name ${JSON.stringify(name)}`, { code: "build.invalid-arg" });
  state.args.set(name, Object.hasOwn(buildArgs, name) ? buildArgs[name] : (dflt ?? inherited));
}

// `cove runtime <command>`: runc's command line over cove's runtime, so software written for
// runc (containerd shims, scripts, conformance suites) can use cove. Flags, JSON output and
// exit codes follow runc.

import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CoveError, invalid, isErrno } from "../common/errors.js";
import { CoveRuntime, DEFAULT_RUNTIME_ROOT } from "../runtime/cove.js";
import type { BlkioEntry, CgroupStats } from "../runtime/cgroups/index.js";
import type { LinuxResources, Process } from "../runtime/spec.js";
import type { ContainerRuntime, ProcessExit } from "../runtime/types.js";
import { quietOnBrokenPipe } from "./pipes.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

const stdout = () => quietOnBrokenPipe(process.stdout);
const stderr = () => quietOnBrokenPipe(process.stderr);

interface Globals {
  root: string;
  log?: string;
  logFormat: string;
}

const GLOBAL_OPTIONS: Options = {
  root: { type: "string" },
  log: { type: "string" },
  "log-format": { type: "string" },
  debug: { type: "boolean" },
  "systemd-cgroup": { type: "boolean" },
  rootless: { type: "string" },
  criu: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
};

const USAGE = `usage: cove runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS] [ID]

Commands (as runc's):
  spec       create a new config.json in the bundle (--bundle, --rootless)
  create     create a container (--bundle, --console-socket, --pid-file, --no-pivot, --preserve-fds)
  start      start a created container
  run        create and start a container, wait for it (--detach, --keep and create's flags)
  state      print the state of a container as JSON
  list       list containers (--format table|json, --quiet)
  kill       send a signal: kill [--all] ID [SIGNAL]
  delete     delete a container (--force)
  exec       run a process in a container (--tty, --detach, --process, --cwd, --env, --user, --cap, ...)
  ps         list the processes of a container (--format table|json)
  pause      freeze a container
  resume     thaw a paused container
  update     change resource limits (--resources FILE|-, --memory, --pids-limit, --cpu-quota, ...)
  events     print events and statistics (--stats, --interval)
  features   print the features this runtime supports as JSON`;

function parse(args: string[], options: Options) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw invalid(`${(err as Error).message.replace(/\. To specify.*$/, "")}`, { code: "cli.flag", hint: "see `cove runtime --help`" });
  }
}

/**
 * Parses flags only up to the first positional, as runc does for `exec ID CMD ARGS...`: what
 * follows the container id belongs to the command (`exec ID sh -c ...`).
 */
function parseUntilCommand(args: string[], options: Options) {
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === "--") {
      const { values } = parse(args.slice(0, i), options);
      return { values, positionals: args.slice(i + 1) };
    }
    if (!a.startsWith("-") || a === "-") break;
    const name = a.replace(/^--?/, "").split("=")[0]!;
    const def = a.startsWith("--") ? options[name] : Object.values(options).find((o) => o.short === name.slice(-1));
    i += def?.type === "string" && !a.includes("=") && !(a.length > 2 && !a.startsWith("--")) ? 2 : 1;
  }
  const { values } = parse(args.slice(0, i), options);
  return { values, positionals: args.slice(i) };
}

function needId(positionals: string[], command: string): string {
  const id = positionals[0];
  if (!id) throw invalid(`"${command}" requires a container id`, { code: "cli.args", hint: `cove runtime ${command} <container-id>` });
  return id;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function parseUser(spec: string): { uid: number; gid: number } {
  const [u, g] = spec.split(":");
  const uid = Number(u);
  const gid = g === undefined ? 0 : Number(g);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) {
    throw invalid(`--user ${spec}: expected uid[:gid] as numbers`, { code: "cli.flag" });
  }
  return { uid, gid };
}

function parseSize(v: string, flag: string): number {
  const m = /^(-?\d+)([kKmMgGtT]?)[bB]?$/.exec(v.trim());
  if (!m) throw invalid(`${flag} ${v}: not a size (use bytes or a k, m, g suffix)`, { code: "cli.flag" });
  const mult: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  return Number(m[1]) * mult[m[2]!.toLowerCase()]!;
}

function parseNumber(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalid(`${flag} ${v}: not a number`, { code: "cli.flag" });
  return n;
}

/** Keeps the terminal raw and the window size in sync while a proxied terminal is attached. */
function withTerminal(getShimPid: () => number | undefined): () => void {
  const stdin = process.stdin;
  if (!stdin.isTTY) return () => undefined;
  stdin.setRawMode(true);
  const onWinch = () => {
    const pid = getShimPid();
    if (pid) process.kill(pid, "SIGWINCH");
  };
  process.on("SIGWINCH", onWinch);
  return () => {
    process.off("SIGWINCH", onWinch);
    stdin.setRawMode(false);
  };
}

/** Forwards the signals a foreground runc forwards to the container process. */
function forwardSignals(getPid: () => number | undefined): () => void {
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
  const handler = (sig: NodeJS.Signals) => {
    const pid = getPid();
    if (pid) {
      try {
        process.kill(pid, sig);
      } catch (err) {
        if (!isErrno(err, "ESRCH")) throw err; // else: already gone
      }
    }
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

function exitCode(e: ProcessExit): number {
  return e.code;
}

const CREATE_OPTIONS: Options = {
  bundle: { type: "string", short: "b" },
  "console-socket": { type: "string" },
  "pid-file": { type: "string" },
  "no-pivot": { type: "boolean" },
  "no-new-keyring": { type: "boolean" },
  "preserve-fds": { type: "string" },
};

function createOptions(values: Record<string, unknown>) {
  const preserve = str(values["preserve-fds"]);
  return {
    bundle: path.resolve(str(values.bundle) ?? "."),
    consoleSocket: str(values["console-socket"]),
    pidFile: str(values["pid-file"]),
    noPivot: values["no-pivot"] === true,
    preserveFds: preserve === undefined ? undefined : parseNumber(preserve, "--preserve-fds"),
  };
}

async function commandSpec(args: string[]): Promise<number> {
  const { values } = parse(args, { bundle: { type: "string", short: "b" }, rootless: { type: "boolean" } });
  const file = path.join(path.resolve(str(values.bundle) ?? "."), "config.json");
  if (existsSync(file)) throw invalid(`File ${file} exists. Remove it first`, { code: "spec.exists" });
  // loaded here only: the config module carries the schema validators, which the other commands
  // (each a process of its own) should not pay for
  const { defaultSpec } = await import("../runtime/config/index.js");
  writeFileSync(file, JSON.stringify(defaultSpec({ rootless: values.rootless === true }), null, "\t") + "\n");
  return 0;
}

async function commandExec(rt: ContainerRuntime, args: string[]): Promise<number> {
  const { values, positionals } = parseUntilCommand(args, {
    "console-socket": { type: "string" },
    cwd: { type: "string" },
    env: { type: "string", short: "e", multiple: true },
    tty: { type: "boolean", short: "t" },
    user: { type: "string", short: "u" },
    "additional-gids": { type: "string", short: "g", multiple: true },
    process: { type: "string", short: "p" },
    detach: { type: "boolean", short: "d" },
    "pid-file": { type: "string" },
    "process-label": { type: "string" },
    apparmor: { type: "string" },
    "no-new-privs": { type: "boolean" },
    cap: { type: "string", short: "c", multiple: true },
    "preserve-fds": { type: "string" },
    "ignore-paused": { type: "boolean" },
    "cgroup": { type: "string", multiple: true },
  });
  const id = needId(positionals, "exec");
  let proc: Process;
  const processFile = str(values.process);
  if (processFile) {
    proc = JSON.parse(readFileSync(processFile === "-" ? 0 : processFile, "utf8")) as Process;
  } else {
    const cmd = positionals.slice(1);
    if (cmd.length === 0) throw invalid("exec needs a command (or --process FILE)", { code: "cli.args", hint: "cove runtime exec ID COMMAND [ARG...]" });
    // like runc: start from the container's own process settings
    const state = await rt.state(id);
    const config = JSON.parse(readFileSync(path.join(state.bundle, "config.json"), "utf8")) as { process?: Process };
    const base = config.process ?? { user: { uid: 0, gid: 0 }, cwd: "/" };
    proc = { ...base, args: cmd, terminal: values.tty === true };
    delete proc.consoleSize;
    const env = (values.env as string[] | undefined) ?? [];
    if (env.length) {
      const keys = new Set(env.map((e) => e.split("=")[0]));
      proc.env = [...(base.env ?? []).filter((e) => !keys.has(e.split("=")[0])), ...env];
    }
    if (values.cwd) proc.cwd = str(values.cwd)!;
    if (values.user) {
      const u = parseUser(str(values.user)!);
      proc.user = { ...proc.user, uid: u.uid, gid: u.gid };
    }
    const gids = (values["additional-gids"] as string[] | undefined) ?? [];
    if (gids.length) proc.user = { ...proc.user, additionalGids: gids.map((g) => parseNumber(g, "--additional-gids")) };
    if (values["no-new-privs"]) proc.noNewPrivileges = true;
    const caps = (values.cap as string[] | undefined) ?? [];
    if (caps.length && proc.capabilities) {
      const add = (set: string[] | undefined) => [...new Set([...(set ?? []), ...caps])];
      proc.capabilities = {
        ...proc.capabilities,
        bounding: add(proc.capabilities.bounding),
        effective: add(proc.capabilities.effective),
        permitted: add(proc.capabilities.permitted),
      };
    }
  }
  const consoleSocket = str(values["console-socket"]);
  const proxy = proc.terminal === true && !consoleSocket && values.detach !== true;
  if (proc.terminal && !consoleSocket && values.detach) {
    throw invalid("cannot allocate tty if runc will detach without setting console socket", { code: "cli.flag" });
  }
  let shimPid: number | undefined;
  let pid: number | undefined;
  const restoreTerminal = proxy ? withTerminal(() => shimPid) : () => undefined;
  const stopForwarding = forwardSignals(() => pid);
  try {
    const preserve = str(values["preserve-fds"]);
    const handle = await rt.exec(id, {
      process: proc,
      detach: values.detach === true,
      consoleSocket,
      pidFile: str(values["pid-file"]),
      preserveFds: preserve === undefined ? undefined : parseNumber(preserve, "--preserve-fds"),
      consoleProxy: proxy,
      stdio: values.detach ? "ignore" : "inherit",
    });
    pid = handle.pid;
    if (values.detach) return 0;
    return exitCode(await handle.exited);
  } finally {
    stopForwarding();
    restoreTerminal();
  }
}

function updateResources(values: Record<string, unknown>): LinuxResources {
  const file = str(values.resources);
  if (file) return JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8")) as LinuxResources;
  const r: LinuxResources = {};
  const num = (k: string) => (str(values[k]) === undefined ? undefined : parseNumber(str(values[k])!, `--${k}`));
  const size = (k: string) => (str(values[k]) === undefined ? undefined : str(values[k]) === "-1" ? -1 : parseSize(str(values[k])!, `--${k}`));
  const memory = { limit: size("memory"), reservation: size("memory-reservation"), swap: size("memory-swap") };
  if (Object.values(memory).some((v) => v !== undefined)) r.memory = JSON.parse(JSON.stringify(memory)) as LinuxResources["memory"];
  const cpu = {
    shares: num("cpu-share"),
    quota: num("cpu-quota"),
    period: num("cpu-period"),
    realtimePeriod: num("cpu-rt-period"),
    realtimeRuntime: num("cpu-rt-runtime"),
    cpus: str(values["cpuset-cpus"]),
    mems: str(values["cpuset-mems"]),
  };
  if (Object.values(cpu).some((v) => v !== undefined)) r.cpu = JSON.parse(JSON.stringify(cpu)) as LinuxResources["cpu"];
  const pids = num("pids-limit");
  if (pids !== undefined) r.pids = { limit: pids };
  const weight = num("blkio-weight");
  if (weight !== undefined) r.blockIO = { weight };
  return r;
}

async function commandEvents(rt: ContainerRuntime, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { stats: { type: "boolean" }, interval: { type: "string" } });
  const id = needId(positionals, "events");
  const emit = async () => {
    const data = runcStats((await rt.stats(id)) as CgroupStats);
    stdout().write(JSON.stringify({ type: "stats", id, data }) + "\n");
  };
  if (values.stats) {
    await emit();
    return 0;
  }
  const interval = parseDuration(str(values.interval) ?? "5s");
  for (;;) {
    const st = await rt.state(id);
    if (st.status === "stopped") return 0;
    await emit();
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** cgroup statistics in the shape of runc's `events --stats` (libcontainer's types.Stats). */
export function runcStats(st: CgroupStats): Record<string, unknown> {
  const m = st.memory;
  const entry = (e: BlkioEntry) => ({ major: e.major, minor: e.minor, op: e.op === "read" ? "Read" : "Write", value: e.value });
  return {
    cpu: {
      usage: {
        total: st.cpu?.usageTotal ?? 0,
        percpu: st.cpu?.perCpu ?? [],
        kernel: st.cpu?.usageSystem ?? 0,
        user: st.cpu?.usageUser ?? 0,
      },
      throttling: {
        periods: st.cpu?.throttling.periods ?? 0,
        throttledPeriods: st.cpu?.throttling.throttledPeriods ?? 0,
        throttledTime: st.cpu?.throttling.throttledTime ?? 0,
      },
    },
    cpuset: {},
    memory: {
      // as runc: omitted when zero (omitempty)
      ...(m?.cache ? { cache: m.cache } : {}),
      usage: { limit: m?.limit ?? 0, usage: m?.usage ?? 0, max: m?.maxUsage ?? 0, failcnt: m?.failcnt ?? 0 },
      swap: { limit: m?.swapLimit ?? 0, usage: (m?.usage ?? 0) + (m?.swapUsage ?? 0), max: 0, failcnt: 0 },
      kernel: { limit: 0, usage: 0, max: 0, failcnt: 0 },
      kernelTCP: { limit: 0, usage: 0, max: 0, failcnt: 0 },
      raw: m?.stat ?? {},
    },
    pids: { current: st.pids?.current ?? 0, ...(st.pids?.limit ? { limit: st.pids.limit } : {}) },
    blkio: {
      ioServiceBytesRecursive: (st.blkio?.bytes ?? []).map(entry),
      ioServicedRecursive: (st.blkio?.ios ?? []).map(entry),
    },
    hugetlb: Object.fromEntries(Object.entries(st.hugetlb ?? {}).map(([k, v]) => [k, { usage: v.usage, max: v.maxUsage ?? 0, failcnt: v.failcnt }])),
    intel_rdt: {},
    network_interfaces: null,
  };
}

function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw invalid(`--interval ${v}: expected a duration such as 5s or 500ms`, { code: "cli.flag" });
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join("").trimEnd()).join("\n") + "\n";
}

export async function runtimeMain(argv: string[]): Promise<number> {
  // global flags come before the command, as in runc
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith("-")) {
    const opt = argv[i]!.replace(/^--?/, "").split("=")[0]!;
    const def = GLOBAL_OPTIONS[opt] ?? Object.values(GLOBAL_OPTIONS).find((o) => o.short === opt);
    i += def?.type === "string" && !argv[i]!.includes("=") ? 2 : 1;
  }
  const { values: g } = parse(argv.slice(0, i), GLOBAL_OPTIONS);
  const globals: Globals = { root: str(g.root) ?? DEFAULT_RUNTIME_ROOT, log: str(g.log), logFormat: str(g["log-format"]) ?? "text" };
  const [command, ...args] = argv.slice(i);
  if (g.version) {
    stdout().write(`cove runtime version 0.1.0\nspec: 1.2.0\n`);
    return 0;
  }
  if (!command || g.help || command === "help") {
    stdout().write(USAGE + "\n");
    return command || g.help ? 0 : 1;
  }
  const rt = new CoveRuntime({ root: globals.root });
  try {
    return await dispatch(rt, command, args);
  } catch (err) {
    const message = err instanceof CoveError ? err.describe() : (err as Error).message;
    if (globals.log) {
      const line =
        globals.logFormat === "json"
          ? JSON.stringify({ level: "error", msg: err instanceof CoveError ? err.message : message, time: new Date().toISOString() })
          : `time="${new Date().toISOString()}" level=error msg="${message.replace(/"/g, '\\"')}"`;
      appendFileSync(globals.log, line + "\n");
    }
    stderr().write(`cove runtime ${command}: ${message}\n`);
    return 1;
  }
}

async function dispatch(rt: CoveRuntime, command: string, args: string[]): Promise<number> {
  switch (command) {
    case "spec":
      return commandSpec(args);
    case "create": {
      const { values, positionals } = parse(args, CREATE_OPTIONS);
      await rt.create(needId(positionals, "create"), createOptions(values));
      return 0;
    }
    case "run": {
      const { values, positionals } = parse(args, { ...CREATE_OPTIONS, detach: { type: "boolean", short: "d" }, keep: { type: "boolean" } });
      const id = needId(positionals, "run");
      const opts = createOptions(values);
      if (values.detach) {
        await rt.create(id, opts);
        await rt.start(id);
        return 0;
      }
      const config = JSON.parse(readFileSync(path.join(opts.bundle, "config.json"), "utf8")) as { process?: Process };
      const proxy = config.process?.terminal === true && !opts.consoleSocket;
      let pids: { pid: number; shimPid: number } | undefined;
      const restoreTerminal = proxy ? withTerminal(() => pids?.shimPid) : () => undefined;
      const stopForwarding = forwardSignals(() => pids?.pid);
      try {
        const exit = await rt.run(id, { ...opts, consoleProxy: proxy, onStart: (p) => (pids = p), keep: values.keep === true });
        return exitCode(exit);
      } finally {
        stopForwarding();
        restoreTerminal();
      }
    }
    case "start":
      await rt.start(needId(parse(args, {}).positionals, "start"));
      return 0;
    case "state":
      stdout().write(JSON.stringify(await rt.state(needId(parse(args, {}).positionals, "state")), null, "  ") + "\n");
      return 0;
    case "list": {
      const { values } = parse(args, { format: { type: "string", short: "f" }, quiet: { type: "boolean", short: "q" } });
      const all = await rt.list();
      if (values.quiet) stdout().write(all.map((c) => c.id + "\n").join(""));
      else if (values.format === "json") stdout().write(JSON.stringify(all) + "\n");
      else stdout().write(table([["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], ...all.map((c) => [c.id, String(c.pid ?? 0), c.status, c.bundle, c.created, c.owner])]));
      return 0;
    }
    case "kill": {
      const { values, positionals } = parse(args, { all: { type: "boolean", short: "a" } });
      const id = needId(positionals, "kill");
      // loaded here only: no other command needs the signal names
      const { parseSignal } = await import("../docker/signals.js");
      await rt.kill(id, parseSignal(positionals[1] ?? "SIGTERM"), { all: values.all === true });
      return 0;
    }
    case "delete": {
      const { values, positionals } = parse(args, { force: { type: "boolean", short: "f" } });
      if (positionals.length === 0) needId(positionals, "delete");
      for (const id of positionals) await rt.delete(id, { force: values.force === true });
      return 0;
    }
    case "exec":
      return commandExec(rt, args);
    case "ps": {
      const { values, positionals } = parse(args, { format: { type: "string", short: "f" } });
      const pids = await rt.ps(needId(positionals, "ps"));
      if (values.format === "json") stdout().write(JSON.stringify(pids) + "\n");
      else {
        const rows = [["PID", "CMD"]];
        for (const pid of pids) {
          let cmd = "";
          try {
            cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
          } catch (err) {
            if (!isErrno(err, "ENOENT", "ESRCH")) throw err; // else: exited meanwhile
          }
          rows.push([String(pid), cmd]);
        }
        stdout().write(table(rows));
      }
      return 0;
    }
    case "pause":
      await rt.pause(needId(parse(args, {}).positionals, "pause"));
      return 0;
    case "resume":
      await rt.resume(needId(parse(args, {}).positionals, "resume"));
      return 0;
    case "update": {
      const { values, positionals } = parse(args, {
        resources: { type: "string", short: "r" },
        "blkio-weight": { type: "string" },
        "cpu-period": { type: "string" },
        "cpu-quota": { type: "string" },
        "cpu-share": { type: "string" },
        "cpu-rt-period": { type: "string" },
        "cpu-rt-runtime": { type: "string" },
        "cpuset-cpus": { type: "string" },
        "cpuset-mems": { type: "string" },
        memory: { type: "string", short: "m" },
        "memory-reservation": { type: "string" },
        "memory-swap": { type: "string" },
        "pids-limit": { type: "string" },
        "kernel-memory": { type: "string" },
        "kernel-memory-tcp": { type: "string" },
      });
      await rt.update(needId(positionals, "update"), updateResources(values));
      return 0;
    }
    case "events":
      return commandEvents(rt, args);
    case "features": {
      const { features } = await import("../runtime/config/index.js");
      stdout().write(JSON.stringify(features(), null, "    ") + "\n");
      return 0;
    }
    default:
      throw invalid(`unknown command "${command}"`, { code: "cli.command", hint: "see `cove runtime --help`" });
  }
}

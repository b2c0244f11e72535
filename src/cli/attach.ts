// Attached sessions and the commands that stream a container's I/O: logs, attach and exec. A
// session wires a hijacked connection to our stdin/stdout/stderr as the docker CLI's
// hijackedIOStreamer does (raw mode with a TTY, the detach keys, stdin's EOF as CloseWrite); run
// and start -a use it too.

import type { Readable } from "node:stream";
import { copyStream } from "../client/stream.js";
import type { HijackedStream } from "../client/index.js";
import { DetachScanner, parseGoDuration } from "../docker/index.js";
import { CoveError } from "../common/errors.js";
import { CliError, command, type Command, type Run } from "./command.js";
import { parseEnvFile, validateEnv } from "./container-opts.js";
import { detachKeys, makeRaw, monitorTtySize, proxySignals, terminalSize } from "./terminal.js";
import { handOverStdio, offerHeaders, offerTaken, passableStdio } from "./pass-fds.js";
import { PassFdsMask } from "../native/protocol.js";
import type { EngineClient } from "../client/index.js";

export interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  detachKeys: string | undefined;
  sigProxy: boolean;
}

/** The running side of an attached session: streams copied both ways until output ends. */
export interface Session {
  /** Resolves when output ended; "detached" when the user typed the detach keys. */
  done: Promise<"ended" | "detached">;
  close(): void;
}

/** Wires a hijacked connection to our stdin/stdout/stderr (docker's hijackedIOStreamer). */
export function startSession(run: Run, conn: HijackedStream, opts: AttachOptions): Session {
  const sock = conn.socket;
  let restore = () => undefined as void;
  const cleanups: (() => void)[] = [];
  let detached = false;
  let onDetach: (() => void) | undefined;
  const detachedP = new Promise<"detached">((resolve) => {
    onDetach = () => resolve("detached");
  });
  if (opts.stdin) {
    const stdin = run.io.stdin;
    if (opts.tty) restore = makeRaw(stdin);
    const scanner = opts.tty ? new DetachScanner(detachKeys(opts.detachKeys)) : undefined;
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      if (!scanner) {
        sock.write(buf);
        return;
      }
      const { data, detach } = scanner.push(buf);
      if (data.length) sock.write(data);
      if (detach && !detached) {
        detached = true;
        restore();
        onDetach?.();
      }
    };
    const onEnd = () => {
      // docker's CloseWrite: the container sees EOF on its stdin, output keeps flowing
      if (!opts.tty) sock.end();
    };
    stdin.on("data", onData);
    stdin.once("end", onEnd);
    cleanups.push(() => {
      stdin.removeListener("data", onData);
      stdin.removeListener("end", onEnd);
      stdin.pause();
    });
    stdin.resume();
  }
  const output = copyStream(sock as Readable, { stdout: opts.stdout ? run.io.stdout : undefined, stderr: opts.stderr ? run.io.stderr : undefined }, opts.tty).then(
    () => "ended" as const,
  );
  const close = () => {
    restore();
    for (const c of cleanups.splice(0)) c();
    sock.destroy();
  };
  return {
    done: Promise.race([output, detachedP]).finally(() => restore()),
    close,
  };
}

/**
 * Attaches to a container and starts the session (run, attach): without a terminal, the files
 * and pipes among our stdio are offered to the container's monitor (pass-fds.ts), and the
 * session wires only the streams it did not take, once it answered (at the container's start).
 */
export async function attachSession(
  run: Run,
  client: EngineClient,
  id: string,
  opts: AttachOptions,
): Promise<Session> {
  const mask = opts.tty ? 0 : passableStdio(run, opts);
  const conn = await client.containerAttach(id, { stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr, detachKeys: opts.detachKeys }, offerHeaders(mask));
  if (!mask || !offerTaken(conn)) return startSession(run, conn, opts);
  let inner: Session | undefined;
  let closed = false;
  const done = handOverStdio(conn, mask).then((taken): Promise<"ended" | "detached"> | "ended" => {
    if (taken === "ended" || closed) return "ended";
    inner = startSession(run, conn, {
      ...opts,
      stdin: opts.stdin && !(taken & PassFdsMask.STDIN),
      stdout: opts.stdout && !(taken & PassFdsMask.STDOUT),
      stderr: opts.stderr && !(taken & PassFdsMask.STDERR),
    });
    return inner.done;
  });
  return {
    done,
    close: () => {
      closed = true;
      if (inner) inner.close();
      else conn.socket.destroy();
    },
  };
}

const logsCommand = command(
  {
    name: "logs",
    usage: "cove logs [OPTIONS] CONTAINER",
    summary: "Fetch the logs of a container",
    flags: {
      details: { type: "bool", description: "Show extra details provided to logs" },
      follow: { type: "bool", short: "f", description: "Follow log output" },
      since: { type: "string", valueName: "string", description: "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)" },
      tail: { type: "string", short: "n", valueName: "string", default: "all", description: 'Number of lines to show from the end of the logs (default "all")' },
      timestamps: { type: "bool", short: "t", description: "Show timestamps" },
      until: { type: "string", valueName: "string", description: "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)" },
    },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    const client = await run.client();
    const c = await client.containerInspect(args[0]!);
    const now = run.now;
    const ts = (v: string | undefined) => (v === undefined ? undefined : timestampArg(v, now));
    const res = await client.containerLogs(c.Id, {
      stdout: true,
      stderr: true,
      follow: flags.follow || undefined,
      since: ts(flags.since),
      until: ts(flags.until),
      timestamps: flags.timestamps || undefined,
      tail: flags.tail,
      details: flags.details || undefined,
    });
    await copyStream(res, { stdout: run.io.stdout, stderr: run.io.stderr }, c.Config.Tty === true);
    return 0;
  },
);

/** docker's timetypes.GetTimestamp: durations are relative to now, RFC 3339 and unix times pass as unix seconds. */
export function timestampArg(v: string, nowMs: number): string {
  if (/^\d+(\.\d+)?$/.test(v)) return v;
  try {
    const ns = parseGoDuration(v);
    const t = nowMs / 1000 - ns / 1e9;
    return t.toFixed(9);
  } catch (err) {
    if (!(err instanceof CoveError)) throw err; // else: not a duration, perhaps a time
  }
  const d = Date.parse(v);
  if (Number.isNaN(d)) throw new CliError(`invalid value for "since": failed to parse value as time or duration: "${v}"`);
  return (d / 1000).toFixed(9);
}

const attachCommand = command(
  {
    name: "attach",
    usage: "cove attach [OPTIONS] CONTAINER",
    summary: "Attach local standard input, output, and error streams to a running container",
    flags: {
      "detach-keys": { type: "string", valueName: "string", description: "Override the key sequence for detaching a container" },
      "no-stdin": { type: "bool", description: "Do not attach STDIN" },
      "sig-proxy": { type: "bool", default: true, description: "Proxy all received signals to the process" },
    },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    const client = await run.client();
    const c = await client.containerInspect(args[0]!);
    if (!c.State.Running) throw new CliError("You cannot attach to a stopped container, start it first");
    if (c.State.Paused) throw new CliError("You cannot attach to a paused container, unpause it first");
    if (c.State.Restarting) throw new CliError("You cannot attach to a restarting container, wait until it is running");
    const tty = c.Config.Tty === true;
    const stdin = !flags["no-stdin"] && c.Config.OpenStdin === true;
    if (tty && stdin && !run.io.stdin.isTTY) throw new CliError("the input device is not a TTY");
    const session = await attachSession(run, client, c.Id, { stdin, stdout: true, stderr: true, tty, detachKeys: flags["detach-keys"], sigProxy: flags["sig-proxy"] });
    const waitP = client.containerWait(c.Id);
    // awaited later: this only keeps a rejection meanwhile from counting as unhandled
    waitP.catch(() => undefined);
    const stopResize = tty && run.io.stdout.isTTY ? monitorTtySize(run.io.stdout, (h, w) => client.containerResize(c.Id, h, w)) : () => undefined;
    const stopSignals = flags["sig-proxy"] && !tty ? proxySignals((sig) => client.containerKill(c.Id, sig)) : () => undefined;
    try {
      if ((await session.done) === "detached") {
        run.err("read escape sequence\n");
        return 0;
      }
      const w = await waitP;
      return w.StatusCode;
    } finally {
      stopResize();
      stopSignals();
      session.close();
    }
  },
);

const execCommand = command(
  {
    name: "exec",
    usage: "cove exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    summary: "Execute a command in a running container",
    flags: {
      detach: { type: "bool", short: "d", description: "Detached mode: run command in the background" },
      "detach-keys": { type: "string", valueName: "string", description: "Override the key sequence for detaching a container" },
      env: { type: "list", short: "e", valueName: "list", description: "Set environment variables" },
      "env-file": { type: "list", valueName: "list", description: "Read in a file of environment variables" },
      interactive: { type: "bool", short: "i", description: "Keep STDIN open even if not attached" },
      privileged: { type: "bool", description: "Give extended privileges to the command" },
      tty: { type: "bool", short: "t", description: "Allocate a pseudo-TTY" },
      user: { type: "string", short: "u", valueName: "string", description: "Username or UID (format: \"<name|uid>[:<group|gid>]\")" },
      workdir: { type: "string", short: "w", valueName: "string", description: "Working directory inside the container" },
    },
    stopAtFirstPositional: true,
    args: { min: 2 },
  },
  async ({ flags, args }, run) => {
    const [container, ...cmd] = args as [string, ...string[]];
    if (flags.tty && flags.interactive && !run.io.stdin.isTTY) throw new CliError("the input device is not a TTY");
    const client = await run.client();
    const env: string[] = [];
    for (const f of flags["env-file"]) env.push(...(await parseEnvFile(f, run.env)));
    for (const e of flags.env) env.push(validateEnv(e, run.env));
    const size = flags.tty ? terminalSize(run.io.stdout) : undefined;
    const created = await client.execCreate(container, {
      User: flags.user ?? "",
      Privileged: flags.privileged,
      Tty: flags.tty,
      ConsoleSize: size ?? null,
      AttachStdin: flags.interactive && !flags.detach,
      AttachStdout: !flags.detach,
      AttachStderr: !flags.detach,
      DetachKeys: flags["detach-keys"] ?? "",
      Env: env,
      WorkingDir: flags.workdir ?? "",
      Cmd: cmd,
    });
    const execId = created.Id;
    if (flags.detach) {
      await client.execStart(execId, { Tty: flags.tty });
      return 0;
    }
    const conn = await client.execStartAttached(execId, { Tty: flags.tty, ConsoleSize: size ?? null });
    const session = startSession(run, conn, { stdin: flags.interactive, stdout: true, stderr: true, tty: flags.tty, detachKeys: flags["detach-keys"], sigProxy: false });
    const stopResize = flags.tty && run.io.stdout.isTTY ? monitorTtySize(run.io.stdout, (h, w) => client.execResize(execId, h, w)) : () => undefined;
    try {
      if ((await session.done) === "detached") {
        run.err("read escape sequence\n");
        return 0;
      }
    } finally {
      stopResize();
      session.close();
    }
    // the exit code lands a moment after the stream ends
    for (let i = 0; i < 50; i++) {
      const ins = await client.execInspect(execId);
      if (!ins.Running && ins.ExitCode !== null) return ins.ExitCode;
      await new Promise((r) => setTimeout(r, 20 + i * 5));
    }
    return 0;
  },
);

export const attachCommands: Record<string, Command> = {
  logs: logsCommand,
  "container logs": logsCommand,
  exec: execCommand,
  "container exec": execCommand,
  attach: attachCommand,
  "container attach": attachCommand,
};

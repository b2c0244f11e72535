// The container lifecycle commands: start (and start -a), stop, restart, kill, rm, pause,
// unpause, rename, wait, update and container prune. Commands over several containers go on
// after a failure and exit 1, as docker's do.

import type { EngineClient } from "../client/engine.js";
import { parseNanoCpus, ramInBytes } from "../docker/index.js";
import { startSession } from "./attach.js";
import { CliError, command, errorLine, forEach, type Command } from "./command.js";
import { parseRestart } from "./container-opts.js";
import { CPU_FLAGS } from "./create-request.js";
import { parseFilters, UsageError, type FlagSpecs } from "./flags.js";
import { confirm } from "./input.js";
import { printPruned, pruneContainers } from "./prune.js";
import { monitorTtySize, proxySignals } from "./terminal.js";

const startCommand = command(
  {
    name: "start",
    usage: "cove start [OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Start one or more stopped containers",
    flags: {
      attach: { type: "bool", short: "a", description: "Attach STDOUT/STDERR and forward signals" },
      checkpoint: { type: "string", valueName: "string", description: "Restore from this checkpoint" },
      "checkpoint-dir": { type: "string", valueName: "string", description: "Use a custom checkpoint storage directory" },
      interactive: { type: "bool", short: "i", description: "Attach container's STDIN" },
      "detach-keys": { type: "string", valueName: "string", description: "Override the key sequence for detaching a container" },
    },
    args: { min: 1 },
  },
  async ({ flags, args }, run) => {
    const client = await run.client();
    if (flags.attach || flags.interactive) {
      if (args.length > 1) throw new CliError("you cannot start and attach multiple containers at once");
      const id = args[0]!;
      const c = await client.containerInspect(id);
      const tty = c.Config.Tty === true;
      const stdin = flags.interactive && c.Config.OpenStdin === true;
      if (tty && stdin && !run.io.stdin.isTTY) throw new CliError("the input device is not a TTY");
      const conn = await client.containerAttach(c.Id, { stdin, stdout: true, stderr: true, detachKeys: flags["detach-keys"] });
      const session = startSession(run, conn, { stdin, stdout: true, stderr: true, tty, detachKeys: flags["detach-keys"], sigProxy: true });
      const waitP = client.containerWait(c.Id, "next-exit");
      // awaited later: this only keeps a rejection meanwhile from counting as unhandled
      waitP.catch(() => undefined);
      const stopSignals = !tty ? proxySignals((sig) => client.containerKill(c.Id, sig)) : () => undefined;
      try {
        await client.containerStart(c.Id);
        const stopResize = tty && run.io.stdout.isTTY ? monitorTtySize(run.io.stdout, (h, w) => client.containerResize(c.Id, h, w)) : () => undefined;
        try {
          if ((await session.done) === "detached") {
            run.err("read escape sequence\n");
            return 0;
          }
        } finally {
          stopResize();
        }
        const w = await waitP;
        return w.StatusCode;
      } finally {
        stopSignals();
        session.close();
      }
    }
    const failed: string[] = [];
    for (const a of args) {
      try {
        // a checkpoint goes to the daemon, which says whether it can restore one
        await client.containerStart(a, { detachKeys: flags["detach-keys"], checkpoint: flags.checkpoint, "checkpoint-dir": flags["checkpoint-dir"] });
        run.out(a + "\n");
      } catch (err) {
        run.err(errorLine(err) + "\n");
        failed.push(a);
      }
    }
    if (failed.length) {
      run.err(`Error: failed to start containers: ${failed.join(", ")}\n`);
      return 1;
    }
    return 0;
  },
);

const STOP_FLAGS = {
  signal: { type: "string", short: "s", valueName: "string", description: "Signal to send to the container" },
  timeout: { type: "int", short: "t", valueName: "int", description: "Seconds to wait before killing the container" },
  time: { type: "int", valueName: "int", hidden: true },
} as const satisfies FlagSpecs;

const stopLike = (name: "stop" | "restart") =>
  command({ name, usage: `cove ${name} [OPTIONS] CONTAINER [CONTAINER...]`, summary: name === "stop" ? "Stop one or more running containers" : "Restart one or more containers", flags: STOP_FLAGS, args: { min: 1 } }, async ({ flags, args, set }, run) => {
    // --time is the docker CLI's deprecated spelling of --timeout
    if (set.has("time")) run.err("Flag --time has been deprecated, use --timeout instead\n");
    if (set.has("time") && set.has("timeout")) throw new CliError("conflicting options: cannot specify both --timeout and --time");
    const client = await run.client();
    return forEach(run, args, async (a) => {
      const q = { t: flags.timeout ?? flags.time, signal: flags.signal };
      if (name === "stop") await client.containerStop(a, q);
      else await client.containerRestart(a, q);
      run.out(a + "\n");
    });
  });

const killCommand = command(
  { name: "kill", usage: "cove kill [OPTIONS] CONTAINER [CONTAINER...]", summary: "Kill one or more running containers", flags: { signal: { type: "string", short: "s", valueName: "string", description: "Signal to send to the container" } }, args: { min: 1 } },
  async ({ flags, args }, run) => {
    const client = await run.client();
    return forEach(run, args, async (a) => {
      await client.containerKill(a, flags.signal);
      run.out(a + "\n");
    });
  },
);

const RM_SPEC = (name: string) => ({
  name,
  usage: `cove ${name} [OPTIONS] CONTAINER [CONTAINER...]`,
  summary: "Remove one or more containers",
  flags: {
    force: { type: "bool", short: "f", description: "Force the removal of a running container (uses SIGKILL)" },
    link: { type: "bool", short: "l", description: "Remove the specified link" },
    volumes: { type: "bool", short: "v", description: "Remove anonymous volumes associated with the container" },
  },
  args: { min: 1 },
}) as const;

const rmCommand = (name: string) =>
  command(RM_SPEC(name), async ({ flags, args }, run) => {
    const client = await run.client();
    return forEach(run, args, async (a) => {
      const n = a.replace(/^\/+/, "");
      if (n === "") throw new CliError("Container name cannot be empty");
      await client.containerRemove(n, { force: flags.force || undefined, v: flags.volumes || undefined, link: flags.link || undefined });
      run.out(a + "\n");
    });
  });

const simple = (name: string, summary: string, fn: (c: EngineClient, id: string) => Promise<void>) =>
  command({ name, usage: `cove ${name} CONTAINER [CONTAINER...]`, summary, flags: {}, args: { min: 1 } }, async ({ args }, run) => {
    const client = await run.client();
    return forEach(run, args, async (a) => {
      await fn(client, a);
      run.out(a + "\n");
    });
  });

const renameCommand = command({ name: "rename", usage: "cove rename CONTAINER NEW_NAME", summary: "Rename a container", flags: {}, args: { min: 2, max: 2 } }, async ({ args }, run) => {
  const [old, neu] = [args[0]!.trim(), args[1]!.trim()];
  if (old === "" || neu === "") throw new CliError("Error: Neither old nor new names may be empty");
  await (await run.client()).containerRename(old, neu);
  return 0;
});

const waitCommand = command({ name: "wait", usage: "cove wait CONTAINER [CONTAINER...]", summary: "Block until one or more containers stop, then print their exit codes", flags: {}, args: { min: 1 } }, async ({ args }, run) => {
  const client = await run.client();
  return forEach(run, args, async (a) => {
    const w = await client.containerWait(a);
    run.out(`${w.StatusCode}\n`);
  });
});

const updateCommand = command(
  {
    name: "update",
    usage: "cove update [OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Update configuration of one or more containers",
    flags: {
      "blkio-weight": { type: "int", valueName: "uint16", description: "Block IO (relative weight), between 10 and 1000, or 0 to disable" },
      ...CPU_FLAGS,
      "cpu-rt-period": { type: "int", valueName: "int", description: "Limit the CPU real-time period in microseconds" },
      "cpu-rt-runtime": { type: "int", valueName: "int", description: "Limit the CPU real-time runtime in microseconds" },
      memory: { type: "string", short: "m", valueName: "bytes", description: "Memory limit" },
      "memory-reservation": { type: "string", valueName: "bytes", description: "Memory soft limit" },
      "memory-swap": { type: "string", valueName: "bytes", description: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
      "pids-limit": { type: "int", valueName: "int", description: "Tune container pids limit (set -1 for unlimited)" },
      restart: { type: "string", valueName: "string", description: "Restart policy to apply when a container exits" },
    },
    args: { min: 1 },
  },
  async ({ flags, args, set }, run) => {
    if (set.size === 0) throw new CliError("you must provide one or more flags when using this command", 1);
    const size = (name: "memory" | "memory-reservation" | "memory-swap") => {
      const v = flags[name];
      if (v === undefined) return 0;
      if (name === "memory-swap" && v === "-1") return -1;
      try {
        return ramInBytes(v);
      } catch (err) {
        throw new UsageError(`invalid argument "${v}" for "--${name}" flag: ${(err as Error).message}`, "update");
      }
    };
    const body: Record<string, unknown> = {
      BlkioWeight: flags["blkio-weight"] ?? 0,
      CpuPeriod: flags["cpu-period"] ?? 0,
      CpuQuota: flags["cpu-quota"] ?? 0,
      CpuRealtimePeriod: flags["cpu-rt-period"] ?? 0,
      CpuRealtimeRuntime: flags["cpu-rt-runtime"] ?? 0,
      CpuShares: flags["cpu-shares"] ?? 0,
      CpusetCpus: flags["cpuset-cpus"] ?? "",
      CpusetMems: flags["cpuset-mems"] ?? "",
      Memory: size("memory"),
      MemoryReservation: size("memory-reservation"),
      MemorySwap: size("memory-swap"),
      NanoCpus: flags.cpus !== undefined ? parseNanoCpus(flags.cpus) : 0,
    };
    if (set.has("pids-limit")) body.PidsLimit = flags["pids-limit"];
    if (flags.restart !== undefined) body.RestartPolicy = parseRestart(flags.restart);
    const client = await run.client();
    return forEach(run, args, async (a) => {
      const res = await client.containerUpdate(a, body);
      for (const w of res?.Warnings ?? []) run.err(`${w}\n`);
      run.out(a + "\n");
    });
  },
);

const pruneCommand = command(
  {
    name: "container prune",
    usage: "cove container prune [OPTIONS]",
    summary: "Remove all stopped containers",
    flags: {
      filter: { type: "list", valueName: "filter", description: "Provide filter values (e.g. \"until=<timestamp>\")" },
      force: { type: "bool", short: "f", description: "Do not prompt for confirmation" },
    },
    args: { max: 0 },
  },
  async ({ flags }, run) => {
    if (!flags.force) {
      // the docker CLI says nothing more when the answer is no
      if (!(await confirm(run.io, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))) return 0;
    }
    printPruned(run, await pruneContainers(await run.client(), parseFilters(flags.filter, "container prune", "--filter")));
    return 0;
  },
);

const pauseCommand = (name: string) => simple(name, "Pause all processes within one or more containers", (c, id) => c.containerPause(id));
const unpauseCommand = (name: string) => simple(name, "Unpause all processes within one or more containers", (c, id) => c.containerUnpause(id));

export const lifecycleCommands: Record<string, Command> = {
  start: startCommand,
  "container start": startCommand,
  stop: stopLike("stop"),
  "container stop": stopLike("stop"),
  restart: stopLike("restart"),
  "container restart": stopLike("restart"),
  kill: killCommand,
  "container kill": killCommand,
  rm: rmCommand("rm"),
  "container rm": rmCommand("container rm"),
  wait: waitCommand,
  "container wait": waitCommand,
  rename: renameCommand,
  "container rename": renameCommand,
  pause: pauseCommand("pause"),
  "container pause": pauseCommand("container pause"),
  unpause: unpauseCommand("unpause"),
  "container unpause": unpauseCommand("container unpause"),
  update: updateCommand,
  "container update": updateCommand,
  "container prune": pruneCommand,
};

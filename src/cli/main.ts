#!/usr/bin/env node
// The cove command. Subcommands load lazily so `cove runtime state` does not pay for the
// engine's modules.

import { CoveError } from "../common/errors.js";
import { quietOnBrokenPipe } from "./pipes.js";
import type { DaemonMainHooks } from "../daemon/index.js";

const USAGE = `usage: cove [--root DIR] COMMAND [OPTIONS]

Images (through the daemon, started on first use):
  images, image ls     list images            inspect, image inspect  show an image as JSON
  history              an image's layers      tag                     name an image
  rmi, image rm        remove images          image prune             remove unused images
  save                 images to a tar        load                    images from a tar
  import               a rootfs tar as image  pull, image pull        from a registry
  push, image push     to a registry          login, logout           registry credentials
  system df            disk usage             system prune            remove unused data
  search               search a registry

Containers (through the daemon, started on first use):
  run, create, start, stop, restart, kill, rm, ps, logs, exec, attach, inspect, top, wait,
  rename, pause, unpause, port, update, stats, cp, diff, export, container prune, info, events

Pods (containers sharing network, IPC and UTS namespaces; podman's pod commands):
  pod create, ls, inspect, start, stop, restart, kill, rm, logs, top, exists; run --pod POD
  kube generate POD|CONTAINER   Kubernetes Pod YAML
  kube play FILE|-     run Kubernetes YAML (Pod, Deployment, StatefulSet, Job, Service...) as pods
  kube down FILE|-     remove what kube play made from the file (--force: its claims' volumes too)

Volumes (through the daemon):
  volume create, volume ls, volume inspect, volume rm, volume prune
Networks:
  network create, ls, inspect, rm, prune, connect, disconnect

Multi-container applications:
  compose              run a compose project: up, down, ps, logs, config... (cove compose --help)

Builds:
  build                build an image from a Dockerfile and a context (cove build --help)
  build --print-ast FILE   parse a Dockerfile and print its syntax tree
  builder prune        remove the build cache

Engine:
  daemon               serve the Docker Engine API (--socket, -H, --group, --tls*, --dashboard ADDR)
  dashboard            print the address of the daemon's web dashboard
  system install       install cove.socket and cove.service (systemd); system uninstall removes them
  runtime              the OCI runtime, with runc's command line (cove runtime --help)
  registry serve       serve a registry (OCI distribution API) over cove's content store
  version              print cove's version

Every day:
  context create, use, ls, show, inspect, rm   name daemons' sockets and switch between them
  completion bash|zsh|fish                     shell completion: source <(cove completion bash)

Global options:
  --root DIR           state directory (default /var/lib/cove, or $COVE_ROOT)

The daemon: $COVE_HOST, else $DOCKER_HOST (unix:///PATH), else the current context
(cove context use), else /run/cove/cove.sock, started on first use when root.
Run 'cove COMMAND --help' for more information on a command.`;

/** Splits the global --root flag from the command line; rootGiven when the flag or $COVE_ROOT chose it. */
function globals(argv: string[]): { root: string; rootGiven: boolean; rest: string[] } {
  let root = process.env.COVE_ROOT ?? "/var/lib/cove";
  let rootGiven = process.env.COVE_ROOT !== undefined;
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith("--root")) {
    rootGiven = true;
    if (argv[i] === "--root") {
      root = argv[i + 1] ?? root;
      i += 2;
    } else {
      root = argv[i]!.slice("--root=".length);
      i += 1;
    }
  }
  return { root, rootGiven, rest: argv.slice(i) };
}

async function main(argv: string[]): Promise<number> {
  const { root, rootGiven, rest } = globals(argv);
  const [command, ...args] = rest;
  // the runtime's commands set this up where they write (each is a process of its own, most print nothing)
  if (command !== "runtime") for (const stream of [process.stdout, process.stderr]) quietOnBrokenPipe(stream);
  switch (command) {
    case "runtime": {
      const { runtimeMain } = await import("./runtime.js");
      return runtimeMain(args);
    }
    case "daemon": {
      const rootless = await import("../rootless/index.js");
      // for a user who is not root: the daemon in a user namespace of its own (rootless cove)
      if (rootless.needsLauncher()) return rootless.rootlessDaemonMain(args, rootGiven ? root : undefined);
      const [{ daemonMain }, { dashboardHooks }] = await Promise.all([import("../daemon/index.js"), import("../dashboard/index.js")]);
      // the CRI server's gRPC library loads only when the server starts
      const startCri: DaemonMainHooks["startCri"] = async (d, socket, cni) => (await import("../cri/index.js")).criHooks.startCri!(d, socket, cni);
      // the root only when chosen (--root, $COVE_ROOT): daemon.json's data-root may choose it otherwise
      return daemonMain([...(rootGiven ? ["--root", root] : []), ...args], { ...dashboardHooks, startCri });
    }
    case "build": {
      const { buildMain } = await import("./build.js");
      return buildMain(args, root, rootGiven);
    }
    case "registry": {
      const { registryMain } = await import("./registry.js");
      return registryMain(root, args);
    }
    case "--version":
    case "-v": {
      const { buildInfo } = await import("../common/build-info.js");
      const b = buildInfo();
      process.stdout.write(`cove version ${b.version}, build ${b.commit}\n`);
      return 0;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE + "\n");
      return command === undefined ? 1 : 0;
  }
  const { connect } = await import("./daemon-client.js");
  if (command === "compose") {
    const { composeMain } = await import("./compose/index.js");
    return composeMain(args, () => connect(root, process.env, { rootGiven }));
  }
  const two = `${command} ${args[0] ?? ""}`;
  // image commands go through the daemon too (started on first use, on this root), so a running
  // daemon sees what they change; "inspect" is an image's unless a container has the name
  const daemon = () => connect(root, process.env, { rootGiven });
  // completion, contexts and the systemd units need no daemon
  if (command === "dashboard") {
    const { dashboardCommand } = await import("./dashboard.js");
    return dashboardCommand(args, { client: daemon });
  }
  if (command === "__complete") {
    const { completeWords } = await import("./completion.js");
    return completeWords(args, { client: daemon });
  }
  const { localCommands, groupUsage } = await import("./table.js");
  const local = await localCommands(rootGiven ? { dataRoot: root } : {});
  if (local[two]) return local[two](args.slice(1), { client: daemon });
  if (local[command]) return local[command](args, { client: daemon });
  // a group's commands, from the table ("network" prints docker's own network usage)
  if (command !== "network" && (args[0] === undefined || args[0] === "--help" || args[0] === "-h")) {
    const usage = await groupUsage(command);
    if (usage !== undefined) {
      process.stdout.write(usage);
      return 0;
    }
  }
  const { imageCommands } = await import("./images.js");
  if (two === "system prune" || two === "network prune" || two === "builder prune") {
    const { pruneCommands } = await import("./prune.js");
    return pruneCommands[two]!(args.slice(1), { client: daemon });
  }
  if (imageCommands[two]) return imageCommands[two](args.slice(1), { client: daemon });
  if (imageCommands[command] && command !== "inspect") return imageCommands[command](args, { client: daemon });
  if (command === "volume") {
    const { volumeCommands } = await import("./volumes.js");
    const fn = volumeCommands[two];
    if (!fn) {
      process.stderr.write(`cove: '${two.trim()}' is not a cove command.\nSee 'cove --help'\n`);
      return 125;
    }
    return fn(args.slice(1), { client: await connect(root, process.env, { rootGiven }) });
  }
  if (command === "pod" || command === "kube") {
    const { podCommands, kubeCommands, POD_USAGE } = await import("./pods.js");
    const fn = podCommands[two] ?? kubeCommands[two] ?? (command === "kube" ? (await import("./kube.js")).kubePlayCommands[two] : undefined);
    if (!fn) {
      process.stderr.write(`${POD_USAGE}\n`);
      return args[0] === undefined || args[0] === "--help" ? 0 : 125;
    }
    return fn(args.slice(1), { client: await connect(root, process.env, { rootGiven }) });
  }
  if (command === "network") {
    const { networkCommands, NETWORK_USAGE } = await import("./networks.js");
    const fn = networkCommands[two];
    if (!fn) {
      process.stderr.write(`${NETWORK_USAGE}\n`);
      return args[0] === undefined || args[0] === "--help" ? 0 : 125;
    }
    return fn(args.slice(1), { client: await connect(root, process.env, { rootGiven }) });
  }
  const { containerCommands } = await import("./containers.js");
  const run = containerCommands[two] ? { fn: containerCommands[two], argv: args.slice(1) } : containerCommands[command] ? { fn: containerCommands[command], argv: args } : undefined;
  if (!run) {
    process.stderr.write(`cove: '${[command, ...args.slice(0, 1)].join(" ")}' is not a cove command.\nSee 'cove --help'\n`);
    return 125;
  }
  const client = await connect(root, process.env, { rootGiven });
  if (command === "inspect" && imageCommands.inspect && !(await isContainer(client, args))) return imageCommands.inspect(args, { client });
  return run.fn(run.argv, { client });
}

/** Whether every name given to `inspect` is a container (docker inspects any kind of object). */
async function isContainer(client: import("../client/index.js").EngineClient, args: string[]): Promise<boolean> {
  const names = args.filter((a, i) => !a.startsWith("-") && !["-f", "--format", "--type"].includes(args[i - 1] ?? ""));
  if (args.includes("--type=image") || args[args.indexOf("--type") + 1] === "image") return false;
  for (const n of names) {
    try {
      await client.containerInspect(n);
    } catch (err) {
      // no such container (or not a container's name): inspected as an image; anything else
      // (no daemon) is reported as it is
      if (err instanceof CoveError && (err.kind === "not-found" || err.kind === "invalid")) return false;
      throw err;
    }
  }
  return names.length > 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // a finished attach or a paused stdin must not keep the command alive
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`cove: ${err instanceof CoveError ? err.describe() : (err as Error).stack ?? String(err)}\n`);
    process.exitCode = 125;
  },
);

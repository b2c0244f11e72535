// The container commands of the cove CLI, talking to a Docker Engine API daemon (cove's, or any
// dockerd) through EngineClient, with the docker CLI's flags, request bodies, output and exit
// codes. Each family lives in its own module:
//
//   run.ts          run, create (create-request.ts builds the body from container-opts.ts' values)
//   lifecycle.ts    start, stop, restart, kill, rm, pause, unpause, rename, wait, update, container prune
//   attach.ts       logs, attach, exec (and the attached session run and start -a use)
//   ps.ts           ps, container ls/list/ps
//   stats.ts        stats
//   inspect.ts      inspect, top, port, diff
//   cp.ts           cp, export, commit
//   system.ts       info, version, events
//
// All of them run through command.ts, which holds the one rule for errors and exit statuses.

import { attachCommands } from "./attach.js";
import type { Command } from "./command.js";
import { cpCommands } from "./cp.js";
import { inspectCommands } from "./inspect.js";
import { lifecycleCommands } from "./lifecycle.js";
import { psCommands } from "./ps.js";
import { runCommands } from "./run.js";
import { statsCommands } from "./stats.js";
import { systemCommands } from "./system.js";

/** The container (and system) commands, keyed by command path ("run", "container run", ...). */
export const containerCommands: Record<string, Command> = {
  ...runCommands,
  ...lifecycleCommands,
  ...psCommands,
  ...attachCommands,
  ...inspectCommands,
  ...statsCommands,
  ...cpCommands,
  ...systemCommands,
};

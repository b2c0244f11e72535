// Every command of the cove CLI in one table, keyed by command path ("run", "image ls",
// "context use"), each with the spec (flags, usage, summary) command() gave it: shell completion
// and the help listing read it, so a command added to any of these tables shows up in them by
// itself. main.ts dispatches the same tables.

import type { Command } from "./command.js";

/** Commands main.ts runs itself, before the table (they parse their own flags). */
export const ENGINE_COMMANDS: Record<string, string> = {
  daemon: "Serve the Docker Engine API (cove daemon --help)",
  runtime: "The OCI runtime, with runc's command line (cove runtime --help)",
  registry: "Serve a registry over cove's content store (cove registry serve)",
  build: "Build an image from a Dockerfile (cove build --help)",
  help: "Print the list of commands",
};

/** The commands that need no daemon: contexts, the systemd units, completion. */
export async function localCommands(opts: { dataRoot?: string } = {}): Promise<Record<string, Command>> {
  const [{ contextCommands }, { serviceCommands }, { completionCommands }] = await Promise.all([import("./context.js"), import("./service.js"), import("./completion.js")]);
  return { ...contextCommands, ...serviceCommands(opts), ...completionCommands };
}

/** All table commands; for a path in several tables, the one main.ts dispatches. */
export async function commandTable(opts: { dataRoot?: string } = {}): Promise<Record<string, Command>> {
  const [{ containerCommands }, { imageCommands }, { volumeCommands }, { networkCommands }, { podCommands, kubeCommands }, { pruneCommands }, { dashboardCommand }, local] = await Promise.all([
    import("./containers.js"),
    import("./images.js"),
    import("./volumes.js"),
    import("./networks.js"),
    import("./pods.js"),
    import("./prune.js"),
    import("./dashboard.js"),
    localCommands(opts),
  ]);
  return { ...containerCommands, ...imageCommands, inspect: containerCommands.inspect!, ...volumeCommands, ...networkCommands, ...podCommands, ...kubeCommands, ...pruneCommands, dashboard: dashboardCommand, ...local };
}

/**
 * The help of a group of commands ("context", "system"...): its subcommands and their summaries,
 * from the table; undefined when the word is a command of its own or no group.
 */
export async function groupUsage(group: string): Promise<string | undefined> {
  const table = await commandTable();
  if (table[group]) return undefined;
  const subs = Object.entries(table).filter(([k]) => k.startsWith(`${group} `));
  if (subs.length === 0) return undefined;
  const width = Math.max(...subs.map(([k]) => k.length - group.length - 1));
  const lines = [`Usage:  cove ${group} COMMAND`, "", "Commands:"];
  for (const [k, c] of subs.sort(([a], [b]) => (a < b ? -1 : 1))) lines.push(`  ${k.slice(group.length + 1).padEnd(width)}   ${c.spec?.summary ?? ""}`.trimEnd());
  lines.push("", `Run 'cove ${group} COMMAND --help' for more information on a command.`);
  return lines.join("\n") + "\n";
}

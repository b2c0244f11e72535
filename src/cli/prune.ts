// `cove system prune` and `cove network prune`, with the docker CLI's flags, prompts and output,
// and the prune steps container, volume and image prune share. system prune runs the same steps
// the docker CLI runs, in its order (containers, networks, volumes with --volumes, images, build
// cache), each printing its "Deleted ..." section, then the total. A step's failure stops the
// prune there with the daemon's message, as docker's does.

import { CoveError } from "../common/errors.js";
import type { EngineClient } from "../client/engine.js";
import { command, type Command, type Run } from "./command.js";
import { parseFilters, type FlagSpecs } from "./flags.js";
import { confirm, naturalLess } from "./input.js";
import { humanSize } from "../docker/index.js";

type Filters = Record<string, string[]>;

/** What one prune step reclaimed and the section it prints (empty when it deleted nothing). */
export interface StepResult {
  reclaimed: number;
  output: string;
}

// ---- the steps, shared by system prune and the per-kind commands --------------------------------

export async function pruneContainers(client: EngineClient, filters: Filters): Promise<StepResult> {
  const r = await client.containerPrune(filters);
  const ids = r.ContainersDeleted ?? [];
  return { reclaimed: r.SpaceReclaimed ?? 0, output: ids.length ? "Deleted Containers:\n" + ids.map((id) => id + "\n").join("") : "" };
}

async function pruneNetworks(client: EngineClient, filters: Filters): Promise<StepResult> {
  const r = await client.json<{ NetworksDeleted: string[] | null }>("POST", "/networks/prune", { query: { filters } });
  const names = r.NetworksDeleted ?? [];
  return { reclaimed: 0, output: names.length ? "Deleted Networks:\n" + names.map((n) => n + "\n").join("") : "" };
}

/** Unused anonymous volumes (what the docker CLI's system prune --volumes asks for). */
export async function pruneVolumes(client: EngineClient, filters: Filters): Promise<StepResult> {
  const r = await client.volumePrune(filters);
  const names = r.VolumesDeleted ?? [];
  return { reclaimed: r.SpaceReclaimed ?? 0, output: names.length ? "Deleted Volumes:\n" + names.map((n) => n + "\n").join("") : "" };
}

/** Dangling images, or every image no container uses with dangling=false (the caller's filters say which). */
export async function pruneImages(client: EngineClient, filters: Filters): Promise<StepResult> {
  const r = await client.imagePrune(filters);
  const items = r.ImagesDeleted ?? [];
  const lines = items.map((d) => (d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted ?? ""}\n`));
  return { reclaimed: r.SpaceReclaimed ?? 0, output: items.length ? "Deleted Images:\n" + lines.join("") : "" };
}

async function pruneBuildCache(client: EngineClient, filters: Filters, all: boolean): Promise<StepResult> {
  const r = await client.json<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/build/prune", { query: { filters, ...(all ? { all: true } : {}) } });
  const ids = r.CachesDeleted ?? [];
  return { reclaimed: r.SpaceReclaimed ?? 0, output: ids.length ? "Deleted build cache objects:\n" + ids.map((id) => id + "\n").join("") : "" };
}

/** What container, volume and image prune print: the step's section, then the space reclaimed. */
export function printPruned(run: Run, r: StepResult): void {
  if (r.output) run.out(r.output + "\n");
  run.out(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
}

// ---- system prune -------------------------------------------------------------------------------

const SYSTEM_PRUNE_FLAGS = {
  all: { type: "bool", short: "a", description: "Remove all unused images not just dangling ones" },
  filter: { type: "list", valueName: "filter", description: "Provide filter values (e.g. \"label=<key>=<value>\")" },
  force: { type: "bool", short: "f", description: "Do not prompt for confirmation" },
  volumes: { type: "bool", description: "Prune anonymous volumes" },
} as const satisfies FlagSpecs;

/** The docker CLI's WARNING for system prune: what will go, then the filters it applies. */
export function systemPruneWarning(opts: { all: boolean; volumes: boolean; filters: Filters }): string {
  const items = ["all stopped containers", "all networks not used by at least one container"];
  if (opts.volumes) items.push("all anonymous volumes not used by at least one container");
  items.push(opts.all ? "all images without at least one container associated to them" : "all dangling images");
  items.push(opts.all ? "all build cache" : "unused build cache");
  let text = "WARNING! This will remove:\n" + items.map((i) => `  - ${i}\n`).join("");
  const shown: string[] = [];
  for (const key of ["label", "label!", "until"]) for (const v of opts.filters[key] ?? []) shown.push(`${key}=${v}`);
  if (shown.length) {
    shown.sort(naturalLess);
    text += "\n  Items to be pruned will be filtered with:\n" + shown.map((f) => `  - ${f}\n`).join("");
  }
  return text + "\nAre you sure you want to continue?";
}

const systemPrune = command(
  { name: "system prune", usage: "cove system prune [OPTIONS]", summary: "Remove unused data", flags: SYSTEM_PRUNE_FLAGS, args: { max: 0 } },
  async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, "system prune", "--filter");
    // volume prune has no until filter, so the CLI refuses before asking anything
    if (flags.volumes && filters.until) throw new CoveError("invalid", `ERROR: The "until" filter is not supported with "--volumes"`, { code: "cli.filter" });
    if (!flags.force && !(await confirm(run.io, systemPruneWarning({ all: flags.all, volumes: flags.volumes, filters })))) return 0;
    const client = await run.client();
    const steps: (() => Promise<StepResult>)[] = [() => pruneContainers(client, filters), () => pruneNetworks(client, filters)];
    if (flags.volumes) steps.push(() => pruneVolumes(client, filters));
    // as the docker CLI adds it: dangling=false with -a (every unused image), else dangling=true
    steps.push(() => pruneImages(client, { ...filters, dangling: [String(!flags.all)] }), () => pruneBuildCache(client, filters, flags.all));
    let reclaimed = 0;
    for (const step of steps) {
      const r = await step();
      reclaimed += r.reclaimed;
      if (r.output) run.out(r.output + "\n");
    }
    run.out(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
    return 0;
  },
);

// ---- network prune ------------------------------------------------------------------------------

const NETWORK_PRUNE_FLAGS = {
  filter: { type: "list", valueName: "filter", description: "Provide filter values (e.g. \"until=<timestamp>\")" },
  force: { type: "bool", short: "f", description: "Do not prompt for confirmation" },
} as const satisfies FlagSpecs;

const networkPrune = command(
  { name: "network prune", usage: "cove network prune [OPTIONS]", summary: "Remove all unused networks", flags: NETWORK_PRUNE_FLAGS, args: { max: 0 } },
  async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, "network prune", "--filter");
    if (!flags.force && !(await confirm(run.io, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"))) return 0;
    const r = await pruneNetworks(await run.client(), filters);
    // network prune prints no total: networks hold no disk space
    if (r.output) run.out(r.output + "\n");
    return 0;
  },
);

// ---- builder prune ------------------------------------------------------------------------------

const BUILDER_PRUNE_FLAGS = {
  all: { type: "bool", short: "a", description: "Remove all unused build cache, not just dangling ones" },
  filter: { type: "list", valueName: "filter", description: "Provide filter values (e.g. \"until=24h\")" },
  force: { type: "bool", short: "f", description: "Do not prompt for confirmation" },
} as const satisfies FlagSpecs;

/** `cove builder prune`: the build cache (the steps' index and the RUN --mount=type=cache directories). */
const builderPrune = command(
  { name: "builder prune", usage: "cove builder prune [OPTIONS]", summary: "Remove build cache", flags: BUILDER_PRUNE_FLAGS, args: { max: 0 } },
  async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, "builder prune", "--filter");
    const warning = `WARNING! This will remove all ${flags.all ? "" : "dangling "}build cache. Are you sure you want to continue?`;
    if (!flags.force && !(await confirm(run.io, warning))) return 0;
    printPruned(run, await pruneBuildCache(await run.client(), filters, flags.all));
    return 0;
  },
);

/** The commands of this module, keyed by command path. */
export const pruneCommands: Record<string, Command> = {
  "system prune": systemPrune,
  "network prune": networkPrune,
  "builder prune": builderPrune,
};

// The image commands of the cove CLI, with the docker CLI's flags, output and exit codes:
// images / image ls, image inspect / inspect, history, tag, rmi / image rm, image prune, save,
// load, import, and system df. They go through the daemon's Engine API (EngineClient), as the
// container commands do, so a running daemon always sees the images the CLI loads or removes.
// Errors print and exit as command.ts says (the daemon's as "Error response from daemon: No such
// image: foo:latest", status 1; flag errors 125).

import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CoveError, invalid, unsupported } from "../common/errors.js";
import { jsonLines, type ProgressMessage } from "../client/stream.js";
import { humanSize, humanSizeWithPrecision, type ContainerSummary, type ImageHistoryItem, type ImageInspect, type ImageSummary, type Volume } from "../docker/index.js";
import { familiarName, familiarString, parseNormalizedNamed, repositoryName, tagNameOnly } from "../images/reference.js";
import { displayJSONMessages } from "./progress.js";
import { command, errorLine, forEach, inspectEach, type Command, type Run } from "./command.js";
import { formatRows, goMap, GO_TYPE, RowContext } from "./format/index.js";
import { parseFilters, type CommandSpec, type FlagSpecs } from "./flags.js";
import { confirm } from "./input.js";
import { printPruned, pruneImages } from "./prune.js";
import { registryAuthHeader, registryCommands } from "./registry-auth.js";
import { createdSince, ellipsis, goTimeString, rfc3339, truncateID } from "./units.js";

// ---- rows as the docker CLI's formatter contexts ------------------------------------------------

const IMAGE_FIELDS = ["Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize", "Size", "Tag", "UniqueSize", "VirtualSize"];

export class ImageRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*formatter.imageContext" });
  }

  constructor(
    private readonly img: ImageSummary,
    private readonly repo: string,
    private readonly tag: string,
    private readonly digest: string,
    private readonly trunc: boolean,
    private readonly now: number,
  ) {
    super();
  }

  protected fields(): readonly string[] {
    return IMAGE_FIELDS;
  }

  get ID(): string {
    return this.trunc ? truncateID(this.img.Id) : this.img.Id;
  }
  get Repository(): string {
    return this.repo;
  }
  get Tag(): string {
    return this.tag;
  }
  get Digest(): string {
    return this.digest;
  }
  get CreatedSince(): string {
    return createdSince(this.img.Created, this.now);
  }
  get CreatedAt(): string {
    return goTimeString(this.img.Created);
  }
  get Size(): string {
    return humanSizeWithPrecision(this.img.Size, 3);
  }
  get VirtualSize(): string {
    return this.Size;
  }
  get Containers(): string {
    return this.img.Containers === -1 ? "N/A" : String(this.img.Containers);
  }
  get SharedSize(): string {
    return this.img.SharedSize === -1 ? "N/A" : humanSize(this.img.SharedSize);
  }
  get UniqueSize(): string {
    return this.img.SharedSize === -1 ? "N/A" : humanSize(this.img.Size - this.img.SharedSize);
  }
}

export const IMAGE_HEADERS: Record<string, string> = {
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  Tag: "TAG",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  Containers: "CONTAINERS",
  VirtualSize: "SIZE",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
};

const IMAGE_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const IMAGE_TABLE_DIGEST = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/** docker/cli's imageFormat: one row per repository:tag (and per digest with --digests). */
export function imageRows(images: ImageSummary[], opts: { digests: boolean; trunc: boolean; now: number }): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const img of images) {
    const repoTags = new Map<string, string[]>();
    const repoDigests = new Map<string, string[]>();
    for (const s of img.RepoTags ?? []) {
      try {
        const ref = parseNormalizedNamed(s);
        if (ref.tag !== undefined) push(repoTags, familiarName(ref), ref.tag);
      } catch (err) {
        if (!(err instanceof CoveError)) throw err; // else: not a valid reference: skipped, as docker does
      }
    }
    for (const s of img.RepoDigests ?? []) {
      try {
        const ref = parseNormalizedNamed(s);
        if (ref.digest !== undefined) push(repoDigests, familiarName(ref), ref.digest);
      } catch (err) {
        if (!(err instanceof CoveError)) throw err; // else: not a valid reference: skipped, as docker does
      }
    }
    const mine: ImageRow[] = [];
    const add = (repo: string, tag: string, digest: string) => mine.push(new ImageRow(img, repo, tag, digest, opts.trunc, opts.now));
    for (const [repo, tags] of repoTags) {
      const digests = opts.digests ? (repoDigests.get(repo) ?? []) : [];
      repoDigests.delete(repo);
      for (const tag of tags) {
        if (digests.length === 0) add(repo, tag, "<none>");
        else for (const d of digests) add(repo, tag, d);
      }
    }
    for (const [repo, digests] of repoDigests) {
      if (opts.digests) for (const d of digests) add(repo, "<none>", d);
      else add(repo, "<none>", "");
    }
    if (mine.length === 0) add("<none>", "<none>", "<none>");
    mine.sort((a, b) => (a.Repository < b.Repository ? -1 : a.Repository > b.Repository ? 1 : a.Tag < b.Tag ? -1 : a.Tag > b.Tag ? 1 : 0));
    rows.push(...mine);
  }
  return rows;
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

const HISTORY_FIELDS = ["Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size"];

export class HistoryRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*image.historyContext" });
  }

  constructor(
    private readonly h: ImageHistoryItem,
    private readonly trunc: boolean,
    private readonly human: boolean,
    private readonly now: number,
  ) {
    super();
  }

  protected fields(): readonly string[] {
    return HISTORY_FIELDS;
  }

  get ID(): string {
    return this.trunc ? truncateID(this.h.Id) : this.h.Id;
  }
  get CreatedAt(): string {
    return rfc3339(this.h.Created);
  }
  get CreatedSince(): string {
    if (!this.human) return this.CreatedAt;
    return createdSince(this.h.Created, this.now);
  }
  get CreatedBy(): string {
    const by = this.h.CreatedBy.replace(/\t/g, " ");
    return this.trunc ? ellipsis(by, 45) : by;
  }
  get Size(): string {
    return this.human ? humanSizeWithPrecision(this.h.Size, 3) : String(this.h.Size);
  }
  get Comment(): string {
    return this.h.Comment;
  }
}

const HISTORY_HEADERS: Record<string, string> = {
  ID: "IMAGE",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  CreatedBy: "CREATED BY",
  Size: "SIZE",
  Comment: "COMMENT",
};

const HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

// ---- commands -----------------------------------------------------------------------------------

const listSpec = (name: string): CommandSpec<typeof LIST_FLAGS> => ({
  name,
  usage: `cove ${name} [OPTIONS] [REPOSITORY[:TAG]]`,
  summary: "List images",
  flags: LIST_FLAGS,
  args: { max: 1 },
});

const LIST_FLAGS = {
  all: { type: "bool", short: "a", description: "Show all images (default hides intermediate images)" },
  digests: { type: "bool", description: "Show digests" },
  filter: { type: "list", short: "f", valueName: "filter", description: "Filter output based on conditions provided" },
  format: { type: "string", valueName: "string", description: "Format output using a custom template" },
  "no-trunc": { type: "bool", description: "Don't truncate output" },
  quiet: { type: "bool", short: "q", description: "Only show image IDs" },
  tree: { type: "bool", hidden: true },
} as const satisfies FlagSpecs;

const imagesList = (name: string) =>
  command(listSpec(name), async ({ flags, args }, run) => {
    const filters = parseFilters(flags.filter, name);
    if (args[0] !== undefined) (filters.reference ??= []).push(args[0]);
    if (flags.tree) throw unsupported("--tree is not supported", { code: "cli.unsupported" });
    const client = await run.client();
    const images = await client.imageList({ all: flags.all, filters });
    let format = flags.format ?? "";
    if (format === "") format = "table";
    if (format === "table") format = flags.quiet ? "{{.ID}}" : flags.digests ? IMAGE_TABLE_DIGEST : IMAGE_TABLE;
    const rows = imageRows(images, { digests: flags.digests, trunc: !flags["no-trunc"], now: run.now });
    run.out(formatRows(format, rows, IMAGE_TABLE, IMAGE_HEADERS));
    return 0;
  });

/** Marks the map-typed fields of an inspect result, so Go printing and JSON sort their keys. */
function markInspectMaps(img: ImageInspect): ImageInspect {
  const c = (img.Config ?? {}) as Record<string, unknown>;
  for (const k of ["Labels", "ExposedPorts", "Volumes"]) {
    const v = c[k];
    if (v && typeof v === "object" && !Array.isArray(v)) goMap(v);
  }
  const data = (img.GraphDriver as { Data?: unknown } | undefined)?.Data;
  if (data && typeof data === "object") goMap(data);
  return img;
}

const INSPECT_FLAGS = {
  format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" },
  platform: { type: "string", valueName: "string", description: "Inspect a specific platform of the multi-platform image" },
  type: { type: "string", valueName: "string", hidden: true },
} as const satisfies FlagSpecs;

const imageInspect = (name: string) =>
  command(
    { name, usage: `cove ${name} [OPTIONS] IMAGE [IMAGE...]`, summary: "Display detailed information on one or more images", flags: INSPECT_FLAGS, args: { min: 1 } },
    async ({ flags, args }, run) => {
      if (flags.type !== undefined && flags.type !== "image") {
        throw unsupported(`"${flags.type}" is not a valid value for --type`, { code: "cli.unsupported", hint: "cove inspect only knows images so far" });
      }
      return inspectEach(run, args, {
        format: flags.format,
        get: async (ref) => markInspectMaps(await (await run.client()).imageInspect(ref)),
        failed: (err) => {
          if (!(err instanceof CoveError)) throw err;
          return errorLine(err);
        },
      });
    },
  );

const HISTORY_FLAGS = {
  format: { type: "string", valueName: "string", description: "Format output using a custom template" },
  human: { type: "bool", short: "H", default: true, description: "Print sizes and dates in human readable format (default true)" },
  "no-trunc": { type: "bool", description: "Don't truncate output" },
  platform: { type: "string", valueName: "string", description: "Show history for the given platform" },
  quiet: { type: "bool", short: "q", description: "Only show image IDs" },
} as const satisfies FlagSpecs;

const imageHistory = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS] IMAGE`, summary: "Show the history of an image", flags: HISTORY_FLAGS, args: { min: 1, max: 1 } }, async ({ flags, args }, run) => {
    const client = await run.client();
    const items = await client.imageHistory(args[0]!);
    let format = flags.format ?? "";
    if (format === "" || format === "table") format = flags.quiet ? "{{.ID}}" : HISTORY_TABLE;
    const rows = items.map((h) => new HistoryRow(h, !flags["no-trunc"], flags.human, run.now));
    run.out(formatRows(format, rows, HISTORY_TABLE, HISTORY_HEADERS));
    return 0;
  });

const imageTag = (name: string) =>
  command(
    { name, usage: `cove ${name} SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`, summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", flags: {}, args: { min: 2, max: 2 } },
    async ({ args }, run) => {
      const [source, target] = [args[0]!, args[1]!];
      // parsed here as the docker CLI does: the daemon gets repo and tag apart
      let ref;
      try {
        ref = parseNormalizedNamed(target);
      } catch (err) {
        throw invalid(`Error parsing reference: "${target}" is not a valid repository/tag: ${(err as Error).message}`, { code: "cli.reference" });
      }
      if (ref.digest !== undefined) throw invalid("refusing to create a tag with a digest reference", { code: "cli.reference" });
      const client = await run.client();
      await client.imageTag(source, repositoryName(ref), ref.tag ?? "latest");
      return 0;
    },
  );

const RMI_FLAGS = {
  force: { type: "bool", short: "f", description: "Force removal of the image" },
  "no-prune": { type: "bool", description: "Do not delete untagged parents" },
  platform: { type: "list", valueName: "strings", hidden: true },
} as const satisfies FlagSpecs;

const imageRemove = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS] IMAGE [IMAGE...]`, summary: "Remove one or more images", flags: RMI_FLAGS, args: { min: 1 } }, async ({ flags, args }, run) => {
    const client = await run.client();
    return forEach(run, args, async (ref) => {
      const items = await client.imageRemove(ref, { force: flags.force, noprune: flags["no-prune"] });
      for (const d of items) {
        if (d.Untagged) run.out(`Untagged: ${d.Untagged}\n`);
        if (d.Deleted) run.out(`Deleted: ${d.Deleted}\n`);
      }
    });
  });

const PRUNE_FLAGS = {
  all: { type: "bool", short: "a", description: "Remove all unused images, not just dangling ones" },
  filter: { type: "list", valueName: "filter", description: "Provide filter values (e.g. \"until=<timestamp>\")" },
  force: { type: "bool", short: "f", description: "Do not prompt for confirmation" },
} as const satisfies FlagSpecs;

const imagePrune = command(
  { name: "image prune", usage: "cove image prune [OPTIONS]", summary: "Remove unused images", flags: PRUNE_FLAGS, args: { max: 0 } },
  async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, "image prune", "--filter");
    const all = flags.all || (filters.dangling ?? []).some((v) => ["false", "0"].includes(v.toLowerCase()));
    if (!flags.force) {
      const warning = all
        ? "WARNING! This will remove all images without at least one container associated to them."
        : "WARNING! This will remove all dangling images.";
      if (!(await confirm(run.io, `${warning}\nAre you sure you want to continue?`))) return 0;
    }
    // as the docker CLI adds it: dangling=false with -a (every unused image), else dangling=true
    printPruned(run, await pruneImages(await run.client(), { ...filters, dangling: [...(filters.dangling ?? []), String(!flags.all)] }));
    return 0;
  },
);

const SAVE_FLAGS = {
  output: { type: "string", short: "o", valueName: "string", description: "Write to a file, instead of STDOUT" },
  platform: { type: "list", valueName: "strings", hidden: true },
} as const satisfies FlagSpecs;

const imageSave = (name: string) =>
  command(
    { name, usage: `cove ${name} [OPTIONS] IMAGE [IMAGE...]`, summary: "Save one or more images to a tar archive (streamed to STDOUT by default)", flags: SAVE_FLAGS, args: { min: 1 } },
    async ({ flags, args }, run) => {
      if (flags.output === undefined || flags.output === "" || flags.output === "-") {
        if (run.io.stdout.isTTY) throw invalid("cowardly refusing to save to a terminal. Use the -o flag or redirect", { code: "cli.tty" });
        const tar = await (await run.client()).imageSave(args);
        await pipeline(tar, run.io.stdout, { end: false });
        return 0;
      }
      const target = path.resolve(flags.output);
      // the daemon answers an unknown image before any byte: no file is made then
      const tar = await (await run.client()).imageSave(args);
      // Written beside the target and renamed into place, as docker's atomic writer does.
      const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
      const file = createWriteStream(tmp, { mode: 0o600 });
      try {
        await pipeline(tar, file);
        await rename(tmp, target);
      } catch (err) {
        file.destroy();
        await rm(tmp, { force: true });
        if (err instanceof CoveError) throw err;
        throw invalid(`failed to save image: ${(err as Error).message}`, { code: "cli.save" });
      }
      return 0;
    },
  );

const LOAD_FLAGS = {
  input: { type: "string", short: "i", valueName: "string", description: "Read from tar archive file, instead of STDIN" },
  quiet: { type: "bool", short: "q", description: "Suppress the load output" },
  platform: { type: "list", valueName: "strings", hidden: true },
} as const satisfies FlagSpecs;

const imageLoad = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS]`, summary: "Load an image from a tar archive or STDIN", flags: LOAD_FLAGS, args: { max: 0 } }, async ({ flags }, run) => {
    let input: Readable;
    if (flags.input !== undefined && flags.input !== "") {
      input = createReadStream(flags.input);
      await new Promise<void>((resolve, reject) => {
        input.once("open", () => resolve());
        input.once("error", (e) => reject(invalid(`open ${flags.input}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : e.message}`, { code: "cli.input" })));
      });
    } else {
      if (run.io.stdin.isTTY) throw invalid("requested load from stdin, but stdin is empty", { code: "cli.input" });
      input = run.io.stdin;
    }
    // Progress only on a terminal, as docker asks the daemon for quiet output otherwise.
    const quiet = flags.quiet || run.io.stdout.isTTY !== true;
    const platform = flags.platform[0];
    const res = await (await run.client()).imageLoad(input, { quiet, ...(platform ? { platform } : {}) });
    await displayMessages(res, run);
    return 0;
  });

/**
 * Prints a JSON message stream as the docker CLI's jsonmessage does without a terminal: `stream`
 * text as is, `status` lines (prefixed with the layer ID), and an `error` message as the command's
 * failure.
 */
async function displayMessages(res: Readable, run: Run): Promise<void> {
  for await (const m of jsonLines<ProgressMessage>(res)) {
    if (m.error !== undefined || m.errorDetail?.message !== undefined) {
      throw new CoveError("system", m.errorDetail?.message ?? m.error ?? "", { code: "engine.stream" });
    }
    if (m.stream !== undefined) run.out(m.stream);
    else if (m.status !== undefined) run.out(`${m.id ? m.id + ": " : ""}${m.status}${m.progress ? " " + m.progress : ""}\n`);
  }
}

const PULL_FLAGS = {
  "all-tags": { type: "bool", short: "a", description: "Download all tagged images in the repository" },
  "disable-content-trust": { type: "bool", default: true, description: "Skip image verification" },
  platform: { type: "string", valueName: "string", description: "Set platform if server is multi-platform capable" },
  quiet: { type: "bool", short: "q", description: "Suppress verbose output" },
} as const satisfies FlagSpecs;

/** Pulls `image` through the daemon, rendering its progress to write() as the docker CLI does. */
export async function pullWithProgress(run: Run, image: string, opts: { platform?: string; allTags?: boolean; quiet?: boolean; write: (s: string) => void; terminal: boolean; width?: number }): Promise<string> {
  let ref;
  try {
    ref = parseNormalizedNamed(image);
  } catch (err) {
    throw invalid(`${image}: ${(err as Error).message}`, { code: "cli.reference" });
  }
  if (opts.allTags && (ref.tag !== undefined || ref.digest !== undefined)) throw invalid("tag can't be used with --all-tags/-a", { code: "cli.usage" });
  if (!opts.allTags) ref = tagNameOnly(ref);
  const res = await (await run.client()).imagePull(
    {
      fromImage: familiarName(ref),
      ...(ref.digest !== undefined ? { tag: ref.digest } : ref.tag !== undefined ? { tag: ref.tag } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
    },
    await registryAuthHeader(run.env, ref.domain),
  );
  const messages = jsonLines<ProgressMessage>(res);
  await displayJSONMessages(messages, opts.quiet ? () => undefined : opts.write, { terminal: opts.terminal && !opts.quiet, ...(opts.width ? { width: opts.width } : {}) });
  return familiarString(ref);
}

const imagePull = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS] NAME[:TAG|@DIGEST]`, summary: "Download an image from a registry", flags: PULL_FLAGS, args: { min: 1, max: 1 } }, async ({ flags, args }, run) => {
    const stdout = run.io.stdout as NodeJS.WriteStream;
    const terminal = stdout.isTTY === true;
    const shown = await pullWithProgress(run, args[0]!, {
      allTags: flags["all-tags"],
      quiet: flags.quiet,
      ...(flags.platform ? { platform: flags.platform } : {}),
      write: (s) => run.out(s),
      terminal,
      ...(terminal && stdout.columns ? { width: stdout.columns } : {}),
    });
    run.out(`${shown}\n`);
    return 0;
  });

const IMPORT_FLAGS = {
  change: { type: "list", short: "c", valueName: "list", description: "Apply Dockerfile instruction to the created image" },
  message: { type: "string", short: "m", valueName: "string", description: "Set commit message for imported image" },
  platform: { type: "string", valueName: "string", description: "Set platform if server is multi-platform capable" },
} as const satisfies FlagSpecs;

const imageImport = (name: string) =>
  command(
    { name, usage: `cove ${name} [OPTIONS] file|URL|- [REPOSITORY[:TAG]]`, summary: "Import the contents from a tarball to create a filesystem image", flags: IMPORT_FLAGS, args: { min: 1, max: 2 } },
    async ({ flags, args }, run) => {
      const source = args[0]!;
      const reference = args[1];
      if (reference !== undefined) {
        try {
          parseNormalizedNamed(reference);
        } catch (err) {
          throw invalid((err as Error).message, { code: "cli.reference" });
        }
      }
      let input: Readable | undefined;
      let fromSrc = "-";
      if (source === "-") input = run.io.stdin;
      else if (/^https?:\/\//.test(source)) fromSrc = source; // the daemon fetches (or refuses) a URL
      else {
        const file = createReadStream(source);
        await new Promise<void>((resolve, reject) => {
          file.once("open", () => resolve());
          file.once("error", (e) => reject(invalid(`open ${source}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : e.message}`, { code: "cli.input" })));
        });
        input = file;
      }
      const res = await (await run.client()).imageImport(input, {
        fromSrc,
        ...(reference !== undefined ? { repo: reference } : {}),
        ...(flags.change.length > 0 ? { changes: flags.change } : {}),
        ...(flags.message !== undefined ? { message: flags.message } : {}),
        ...(flags.platform !== undefined ? { platform: flags.platform.toLowerCase() } : {}),
      });
      await displayMessages(res, run);
      return 0;
    },
  );

// ---- system df ------------------------------------------------------------------------------

export class DiskUsageRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*formatter.diskUsageImagesContext" });
  }

  constructor(
    readonly Type: string,
    private readonly total: number,
    private readonly active: number,
    private readonly size: number,
    private readonly reclaimable: number,
    private readonly showPercent: boolean,
  ) {
    super();
  }

  protected fields(): readonly string[] {
    return ["Active", "Reclaimable", "Size", "TotalCount", "Type"];
  }

  get TotalCount(): string {
    return String(this.total);
  }
  get Active(): string {
    return String(this.active);
  }
  get Size(): string {
    return humanSize(this.size);
  }
  get Reclaimable(): string {
    const r = humanSize(this.reclaimable);
    if (this.showPercent && this.size > 0) return `${r} (${Math.trunc((this.reclaimable * 100) / this.size)}%)`;
    return r;
  }
}

const DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const DF_HEADERS = { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" };
const DF_VERBOSE_IMAGES = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";

/** The image row of `docker system df`, from the daemon's /system/df answer. */
export function imageUsageRow(df: { LayersSize: number; Images: ImageSummary[] }): DiskUsageRow {
  let used = 0;
  let active = 0;
  for (const i of df.Images) {
    if (i.Containers > 0) {
      active++;
      if (i.Size !== -1 && i.SharedSize !== -1) used += i.Size - i.SharedSize;
    }
  }
  return new DiskUsageRow("Images", df.Images.length, active, df.LayersSize, df.LayersSize - used, true);
}

/** The container row: docker counts running, paused and restarting containers as active. */
export function containerUsageRow(containers: ContainerSummary[]): DiskUsageRow {
  const active = (c: ContainerSummary) => ["running", "paused", "restarting"].includes(c.State);
  let size = 0;
  let reclaimable = 0;
  for (const c of containers) {
    size += c.SizeRw ?? 0;
    if (!active(c)) reclaimable += c.SizeRw ?? 0;
  }
  return new DiskUsageRow("Containers", containers.length, containers.filter(active).length, size, reclaimable, true);
}

const DF_FLAGS = {
  format: { type: "string", valueName: "string", description: "Format output using a custom template" },
  verbose: { type: "bool", short: "v", description: "Show detailed information on space usage" },
} as const satisfies FlagSpecs;

const systemDf = command(
  { name: "system df", usage: "cove system df [OPTIONS]", summary: "Show docker disk usage", flags: DF_FLAGS, args: { max: 0 } },
  async ({ flags }, run) => {
    const df = await (await run.client()).systemDf();
    const images = (df.Images ?? []).map((i) => ({ ...i, Containers: i.Containers < 0 ? 0 : i.Containers }));
    const containers = df.Containers ?? [];
    const volumes = df.Volumes ?? [];
    const cache = df.BuildCache ?? [];
    const usage = { LayersSize: df.LayersSize, Images: images };
    if (!flags.verbose) {
      const rows = [
        imageUsageRow(usage),
        containerUsageRow(containers),
        volumeUsageRow(volumes),
        new DiskUsageRow(
          "Build Cache",
          cache.length,
          cache.filter((b) => b.InUse).length,
          cache.reduce((n, b) => n + b.Size, 0),
          cache.filter((b) => !b.InUse && !b.Shared).reduce((n, b) => n + b.Size, 0),
          false,
        ),
      ];
      run.out(formatRows(flags.format, rows, DF_TABLE, DF_HEADERS));
      return 0;
    }
    const rows = imageRows(images, { digests: false, trunc: true, now: run.now });
    const { ContainerRow } = await import("./ps.js");
    const containerRows = containers.map((c) => new ContainerRow(c, true, run.now));
    if (flags.format !== undefined && flags.format !== "" && !flags.format.startsWith("table")) {
      const all = goMap({ Images: rows, Containers: containerRows, Volumes: volumes.map((v) => new VolumeDfRow(v)), BuildCache: [] });
      const source = flags.format === "json" ? "{{json .}}" : flags.format;
      run.out(formatRows(source, [all], "", {}));
      return 0;
    }
    let s = "Images space usage:\n\n";
    s += formatRows(DF_VERBOSE_IMAGES, rows, DF_VERBOSE_IMAGES, IMAGE_HEADERS);
    s += "\nContainers space usage:\n\n";
    // the docker CLI leaves the virtual size out of this table
    const tableRows = containers.map((c) => new ContainerRow({ ...c, SizeRootFs: 0 }, true, run.now));
    const containerTable = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
    s += formatRows(containerTable, tableRows, containerTable, {
      ID: "CONTAINER ID",
      Image: "IMAGE",
      Command: "COMMAND",
      LocalVolumes: "LOCAL VOLUMES",
      Size: "SIZE",
      RunningFor: "CREATED",
      Status: "STATUS",
      Names: "NAMES",
    });
    s += "\nLocal Volumes space usage:\n\n";
    s += formatRows("table {{.Name}}\t{{.Links}}\t{{.Size}}", volumes.map((v) => new VolumeDfRow(v)), "", { Name: "VOLUME NAME", Links: "LINKS", Size: "SIZE" });
    s += "\nBuild cache usage: 0B\n\n";
    s += formatRows("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}", [], "", {
      ID: "CACHE ID",
      CacheType: "CACHE TYPE",
      Size: "SIZE",
      CreatedSince: "CREATED",
      LastUsedSince: "LAST USED",
      UsageCount: "USAGE",
      Shared: "SHARED",
    });
    run.out(s);
    return 0;
  },
);

/** The Local Volumes row of `docker system df`: active volumes have containers; unused ones are reclaimable. */
export function volumeUsageRow(vols: readonly Pick<Volume, "Name" | "UsageData">[]): DiskUsageRow {
  let size = 0;
  let reclaimable = 0;
  let active = 0;
  for (const v of vols) {
    const s = v.UsageData?.Size ?? -1;
    if ((v.UsageData?.RefCount ?? 0) > 0) active++;
    else if (s > 0) reclaimable += s;
    if (s > 0) size += s;
  }
  return new DiskUsageRow("Local Volumes", vols.length, active, size, reclaimable, true);
}

/** A volume row of `docker system df -v`. */
class VolumeDfRow extends RowContext {
  constructor(private readonly v: Pick<Volume, "Name" | "UsageData">) {
    super();
  }
  protected fields(): readonly string[] {
    return ["Links", "Name", "Size"];
  }
  get Name(): string {
    return this.v.Name;
  }
  get Links(): string {
    return String(this.v.UsageData?.RefCount ?? 0);
  }
  get Size(): string {
    return humanSize(this.v.UsageData?.Size ?? 0);
  }
}

// ---- the command map ----------------------------------------------------------------------------

/** The image commands, keyed by command path; main.ts dispatches `cove <path> ARGS...` here. */
export const imageCommands: Record<string, Command> = {
  images: imagesList("images"),
  "image ls": imagesList("image ls"),
  "image list": imagesList("image list"),
  "image inspect": imageInspect("image inspect"),
  inspect: imageInspect("inspect"),
  history: imageHistory("history"),
  "image history": imageHistory("image history"),
  tag: imageTag("tag"),
  "image tag": imageTag("image tag"),
  rmi: imageRemove("rmi"),
  "image rm": imageRemove("image rm"),
  "image remove": imageRemove("image remove"),
  "image prune": imagePrune,
  save: imageSave("save"),
  "image save": imageSave("image save"),
  load: imageLoad("load"),
  "image load": imageLoad("image load"),
  pull: imagePull("pull"),
  "image pull": imagePull("image pull"),
  import: imageImport("import"),
  "image import": imageImport("image import"),
  "system df": systemDf,
  ...registryCommands,
};

// The build executor: runs the typed steps of each stage (steps.ts) on top of its base image and
// gives the final image its tags, reporting progress as a typed async stream that the /build
// endpoint can turn into Docker's JSON messages and the CLI into Docker's lines.
//
// Each step makes one image on the previous one, untagged, recorded as its Parent, as dockerd's
// legacy builder does (docker history shows the step images' IDs):
//   RUN       a container from the current image with the stage's env (plus the build arguments
//             in use), user, working directory and network, its output streamed, its exit code
//             checked ("The command '/bin/sh -c false' returned a non-zero code: 1"), its changes
//             committed as a layer through the container service; its --mounts and heredoc
//             scripts (run-mounts.ts) are mounts of that container only, the mount points they
//             needed removed again before the commit, a secret's env kept out of the image;
//   COPY/ADD  a created, never started, container of the current image; the sources (heredocs
//             as files of their content) are extracted into it through the container service's
//             confined extraction (the path docker cp takes), then committed; ADD --checksum
//             checks a URL's content first;
//   WORKDIR   the same with the directory made as a start would make it (a layer only when it
//             did not exist);
//   the rest  config only: a new image config and a history entry with empty_layer, no layer.
// Every container made is removed, on success, on failure and on abort. A failed or aborted
// build tags nothing; the images of the steps that succeeded stay, untagged, for the cache.

import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { CoveError, invalid, isErrno, notFound, unsupported } from "../common/errors.js";
import { bestEffort } from "../common/ignore.js";
import { parseGroup, parsePasswd, type ContainerService } from "../containers/index.js";
import type { ContainerConfig, CreateBody } from "../docker/index.js";
import { familiarName, parseNormalizedNamed, tagNameOnly } from "../images/index.js";
import type { ImageService } from "../images/service.js";
import { BuildCache } from "./cache.js";
import { CacheMounts } from "./cache-mounts.js";
import { prepareRunMounts, type PreparedMounts } from "./run-mounts.js";
import { applyLayer } from "../snapshots/index.js";
import { BuildJournal } from "./leftovers.js";
import { applyConfigStep, argvOf, beginStage, cleanConfig, declareArg, proxyArgs, stageVars, nopHistoryOneWord, resolveWorkdir, runArgs, runHistory, type StageState } from "./config.js";
import { archiveTar, download, entriesDigest, entriesTar, hashEntries, isArchive, isUrl, readTar, relocate, resolveSources, sourceEntries, type CopyEntry } from "./context.js";
import { fetchGitContext, isGitUrl } from "./remote-context.js";
import { runInOrder } from "./schedule.js";
import { stageDependencies, stageIndex } from "./stage-graph.js";
import { fromText, stepText, type CopyStep, type RunStep, type Stage, type Step } from "./steps.js";

/** What the executor reports, in order. formatEvent gives Docker's text for each. */
export type BuildEvent =
  | { type: "step"; index: number; total: number; text: string }
  | { type: "output"; stream: "stdout" | "stderr"; data: Buffer }
  | { type: "cache-hit" }
  | { type: "triggers"; count: number }
  | { type: "running"; container: string }
  | { type: "removed"; container: string }
  | { type: "image"; id: string }
  | { type: "built"; id: string }
  | { type: "tagged"; reference: string };

export interface BuildOptions {
  /** The build context: a directory COPY and ADD read their sources from. */
  context: string;
  /** --build-arg: values for the ARGs the stages declare. */
  buildArgs?: Record<string, string>;
  /** --no-cache: run every step. */
  noCache?: boolean;
  /** -t: references the final image gets. */
  tags?: string[];
  /** --label: labels of the final image (one more LABEL step at the end, as dockerd appends). */
  labels?: Record<string, string>;
  /**
   * Lines shown as steps before the first FROM (a Dockerfile's global ARGs: dockerd's legacy
   * builder numbers them with the rest and makes no image for them).
   */
  preamble?: string[];
  /** Ctrl-C / the client going away: the running step's container is killed and removed. */
  signal?: AbortSignal;
  /** --pull: fetch every base image again before it is used (through fetchBase). */
  pull?: boolean;
  /** Fetches a base image into the image store (a pull); a FROM of an image not here calls it. */
  fetchBase?: (image: string) => Promise<void>;
  /** Host settings of every RUN's container (--network, --add-host, --memory, --cpu-shares, --shm-size...). */
  runHostConfig?: NonNullable<CreateBody["HostConfig"]>;
  /** --secret: values RUN --mount=type=secret gives its step, by id. Never in an image, its history or a cache key. */
  secrets?: Record<string, Buffer>;
  /** --ssh: SSH agent sockets RUN --mount=type=ssh gives its step, by id ("default"). */
  ssh?: Record<string, string>;
  /** How many independent stages run at once (default: the CPUs, at least 2). */
  parallelism?: number;
  /**
   * sha256 of the context's files by path, taken when the daemon extracted the context it owns
   * (nothing else writes there): COPY's cache keys need not read them again.
   */
  contextDigests?: Map<string, string>;
}

const short = (id: string) => id.replace(/^sha256:/, "").slice(0, 12);

/** Docker's text for an event, as the legacy builder prints it (lines end with "\n"; output is raw). */
export function formatEvent(e: BuildEvent): string {
  switch (e.type) {
    case "step":
      return `Step ${e.index}/${e.total} : ${e.text}\n`;
    case "output":
      return e.data.toString("utf8");
    case "cache-hit":
      return " ---> Using cache\n";
    case "triggers":
      return `# Executing ${e.count} build trigger${e.count === 1 ? "" : "s"}\n`;
    case "running":
      return ` ---> Running in ${short(e.container)}\n`;
    case "removed":
      return `Removing intermediate container ${short(e.container)}\n`;
    case "image":
      return ` ---> ${short(e.id)}\n`;
    case "built":
      return `Successfully built ${short(e.id)}\n`;
    case "tagged":
      return `Successfully tagged ${e.reference}\n`;
  }
}

/** dockerd's words for a RUN that failed. */
export function nonZeroError(argv: string[], code: number): CoveError {
  return new CoveError("invalid", `The command '${argv.join(" ")}' returned a non-zero code: ${code}`, { code: "build.run-failed" });
}

export class Builder {
  private readonly journal: BuildJournal;
  private readonly cacheMounts: CacheMounts;

  constructor(
    private readonly containers: ContainerService,
    private readonly images: ImageService,
    private readonly cache: BuildCache = BuildCache.forRoot(containers.root),
  ) {
    this.journal = BuildJournal.forRoot(containers.root);
    this.cacheMounts = CacheMounts.forRoot(containers.root);
  }

  /** A builder whose cache and container journal live under the container service's state root. */
  static open(containers: ContainerService, images: ImageService): Builder {
    return new Builder(containers, images);
  }

  /** docker builder prune: forgets every cached step; returns the keys forgotten. */
  pruneCache(): Promise<string[]> {
    return this.cache.pruneKeys();
  }

  /** docker builder prune: removes the RUN --mount=type=cache directories no step is using; their names and bytes. */
  pruneCacheMounts(): Promise<{ removed: string[]; bytes: number }> {
    return this.cacheMounts.prune();
  }

  /**
   * Builds the stages; the last one is the image. A stage starts once the earlier stages it uses
   * (FROM, COPY --from, RUN --mount from=) are built, so independent stages run side by side;
   * their progress is shown stage after stage, numbered as one sequence. Returns the image ID.
   */
  async *build(stages: Stage[], opts: BuildOptions): AsyncGenerator<BuildEvent, string> {
    if (stages.length === 0) throw invalid("the build has no stages: a Dockerfile needs a FROM", { code: "build.no-stages" });
    // every tag is checked before any step runs: a bad one fails the build, never half of its tags
    const tags = (opts.tags ?? []).map((t) => {
      const ref = tagNameOnly(parseNormalizedNamed(t));
      if (ref.digest !== undefined) throw invalid(`invalid tag ${JSON.stringify(t)}: a build cannot be tagged with a digest`, { code: "reference.invalid" });
      return `${familiarName(ref)}:${ref.tag}`;
    });
    const plan = stages.map((s) => ({ ...s, steps: [...s.steps] }));
    const labels = Object.entries(opts.labels ?? {});
    if (labels.length > 0) {
      plan[plan.length - 1]!.steps.push({ kind: "label", labels, text: `LABEL ${labels.map(([k, v]) => `${k}=${v}`).join(" ")}` });
    }
    const deps = stageDependencies(plan);
    const preamble = opts.preamble ?? [];
    const total = plan.reduce((n, s) => n + 1 + s.steps.length, preamble.length);
    let index = 0;
    for (const text of preamble) yield { type: "step", index: ++index, total, text };
    // two stages FROM the same missing image pull it once
    const fetching = new Map<string, Promise<void>>();
    const fetchBase = opts.fetchBase;
    const once = fetchBase && ((image: string) => fetching.get(image) ?? (fetching.set(image, fetchBase(image)), fetching.get(image)!));
    const tasks = plan.map((stage, si) => {
      const first = index + 1;
      index += 1 + stage.steps.length;
      return {
        deps: deps[si]!,
        run: (signal: AbortSignal) => {
          // what the stage may name: the stages it was planned to use; the others' names are known, not usable
          const visible = new Map<string, string>();
          plan.forEach((other, oi) => {
            if (oi === si) return;
            if (other.name) visible.set(other.name.toLowerCase(), UNPLANNED);
            visible.set(String(stageIndex(other, oi)), UNPLANNED);
          });
          return this.stage(stage, { first, total, visible, deps: deps[si]!.map((d) => ({ stage: plan[d]!, index: stageIndex(plan[d]!, d) })), results }, { ...opts, signal, ...(once ? { fetchBase: once } : {}) });
        },
      };
    });
    const results = new Map<Stage, string>();
    const parallelism = opts.parallelism ?? Math.max(2, availableParallelism());
    let ids: string[];
    try {
      ids = yield* runInOrder(tasks, { parallelism, ...(opts.signal ? { signal: opts.signal } : {}) });
    } finally {
      // what the steps cached is on disk when the build is over, whatever its end
      await this.cache.flush();
    }
    const id = ids[ids.length - 1]!;
    yield { type: "built", id };
    for (const t of tags) {
      await this.images.tag(id, t);
      yield { type: "tagged", reference: t };
    }
    return id;
  }

  /** One stage: its FROM, its base image's ONBUILD triggers, its steps; returns its image. */
  private async *stage(
    stage: Stage,
    at: { first: number; total: number; visible: Map<string, string>; deps: { stage: Stage; index: number }[]; results: Map<Stage, string> },
    opts: BuildOptions,
  ): AsyncGenerator<BuildEvent, string> {
    const done = at.visible;
    for (const d of at.deps) {
      const id = at.results.get(d.stage)!;
      if (d.stage.name) done.set(d.stage.name.toLowerCase(), id);
      done.set(String(d.index), id);
    }
    let index = at.first;
    const total = at.total;
    yield { type: "step", index: index++, total, text: fromText(stage) };
    let id = await this.baseOf(stage, done, opts);
    const base = await this.images.inspect(id);
    const state = beginStage(base.Config);
    const resolve = (step: Step): Step => (stage.resolve ? stage.resolve(step, stageVars(state, opts.buildArgs ?? {})) : step);
    // the base image's ONBUILD triggers run first, as steps without a number of their own;
    // the image made here no longer carries them (dockerd clears them at FROM)
    const triggers = state.config.OnBuild ?? [];
    if (triggers.length > 0) {
      if (!stage.triggers) throw unsupported(`${fromText(stage)}: the base image has ONBUILD triggers, which this build cannot run`, { code: "build.onbuild" });
      const steps = stage.triggers(triggers);
      yield { type: "triggers", count: triggers.length };
      delete state.config.OnBuild;
      for (const step of steps) {
        opts.signal?.throwIfAborted();
        id = yield* this.step(id, state, resolve(step), opts, done);
      }
    }
    // dockerd shows no ID for scratch
    yield { type: "image", id: "scratch" in stage.base ? "" : id };
    for (const step of stage.steps) {
      opts.signal?.throwIfAborted();
      yield { type: "step", index: index++, total, text: stepText(step) };
      id = yield* this.step(id, state, resolve(step), opts, done);
      yield { type: "image", id };
    }
    at.results.set(stage, id);
    return id;
  }

  private async baseOf(stage: Stage, done: Map<string, string>, opts: BuildOptions): Promise<string> {
    const b = stage.base;
    // the empty image: no layers, no history; steps on it run in containers of it as on any other
    if ("scratch" in b) return this.images.commit(undefined, undefined, { config: {}, noHistory: true, ...(stage.platform ? { platform: stage.platform } : {}) });
    if ("stage" in b) {
      const id = stageRef(done, b.stage, "FROM");
      if (!id) throw invalid(`FROM ${b.stage}: no earlier stage of that name or index`, { code: "build.unknown-stage" });
      return id;
    }
    if (opts.pull && opts.fetchBase) await opts.fetchBase(b.image);
    try {
      return await this.imageId(b.image);
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found" && opts.fetchBase && !opts.pull) {
        await opts.fetchBase(b.image);
        return await this.imageId(b.image);
      }
      if (err instanceof CoveError && err.kind === "not-found") {
        throw notFound(`FROM ${b.image}: no such image here`, { code: "build.base-missing", cause: err, hint: `pull it first (cove pull ${b.image})` });
      }
      throw err;
    }
  }

  /** One step on image `parent`; yields its events, returns the image it made or found in the cache. */
  private async *step(parent: string, state: StageState, step: Step, opts: BuildOptions, done: Map<string, string>): AsyncGenerator<BuildEvent, string> {
    if (step.kind === "run") return yield* this.run(parent, state, step, opts, done);
    if (step.kind === "copy" || step.kind === "add") return yield* this.copy(parent, state, step, opts, done);
    if (step.kind === "arg") declareArg(state, step.name, step.default, opts.buildArgs ?? {}, step.inherited);
    const createdBy = applyConfigStep(state, step as Exclude<Step, RunStep | CopyStep>);
    const key = BuildCache.key(parent, { step: canonical(step), config: state.config });
    const hit = await this.cached(key, opts);
    if (hit) {
      yield { type: "cache-hit" };
      return hit;
    }
    // dockerd's legacy builder runs a container for each such step ("Running in", "Removing
    // intermediate container") though the image is the config alone, no layer. cove makes no
    // container (creating and removing one was most of a config step's time) and shows the same
    // two lines with an ID of its own: no one could reach that container, it is gone when the
    // line is read
    if (step.kind !== "workdir") {
      const ephemeral = randomBytes(32).toString("hex");
      yield { type: "running", container: ephemeral };
      const id = await this.images.commit(parent, undefined, { config: structuredClone(state.config), createdBy, recordParent: true, ...(state.author ? { author: state.author } : {}) });
      yield { type: "removed", container: ephemeral };
      return this.remember(key, id);
    }
    const shown = async function* (): AsyncGenerator<BuildEvent, void> {};
    const cmd = [...shellCmd(state.config), `#(nop) ${createdBy.slice(createdBy.indexOf("#(nop)") + 7).trim()}`];
    // WORKDIR: the directory made in the container, committed (an empty layer when it was there)
    const id = yield* this.inContainer(
      parent,
      { ...state.config, Cmd: cmd },
      opts,
      async (cid) => {
        await this.containers.createWorkdir(cid);
        return this.commit(cid, state, createdBy);
      },
      shown,
      "none",
    );
    return this.remember(key, id);
  }

  private async *run(parent: string, state: StageState, step: RunStep, opts: BuildOptions, done: Map<string, string>): AsyncGenerator<BuildEvent, string> {
    const argv = argvOf(step.command, state.config);
    if (argv.length === 0 || argv.every((a) => a === "")) throw invalid("RUN needs a command", { code: "build.empty-run" });
    const args = runArgs(state);
    const createdBy = runHistory(argv, args);
    // what a bind mount shows is an input, as a COPY source is: its content (context) or image (from)
    const inputs: string[] = [];
    for (const m of step.mounts ?? []) {
      if (m.type !== "bind") continue;
      if (m.from !== undefined) inputs.push(`image:${await this.sourceImage(m.from, "RUN --mount", done)}`);
      else inputs.push(`context:${await contextDigest(opts.context, m.source ?? "/", opts.contextDigests)}`);
    }
    const key = BuildCache.key(parent, { step: canonical(step), createdBy, config: state.config, ...(inputs.length > 0 ? { inputs } : {}) });
    const hit = await this.cached(key, opts);
    if (hit) {
      yield { type: "cache-hit" };
      return hit;
    }
    const network = step.network ?? "default";
    let mounts: PreparedMounts | undefined;
    if ((step.mounts ?? []).length > 0 || (step.files ?? []).length > 0) {
      mounts = await prepareRunMounts(step.mounts ?? [], step.files ?? [], {
        tmp: await this.tmpDir(),
        context: opts.context,
        secrets: opts.secrets ?? {},
        ssh: opts.ssh ?? {},
        workdir: state.config.WorkingDir ?? "/",
        cacheMounts: this.cacheMounts,
        extract: (from, source, into) => this.extract(from, source, into, done),
      });
    }
    const config: ContainerConfig = {
      ...state.config,
      Env: [...(state.config.Env ?? []), ...args.map(([k, v]) => `${k}=${v}`), ...proxyArgs(state, opts.buildArgs ?? {}).map(([k, v]) => `${k}=${v}`), ...(mounts?.env ?? [])],
      Cmd: argv,
      Entrypoint: [],
      // a build step is no service: no health probes while it runs
      Healthcheck: { Test: ["NONE"] },
    };
    // the image's container_config: the RUN's config without what its mounts added (a secret's env)
    const recorded: ContainerConfig | undefined = mounts && mounts.env.length > 0 ? { ...config, Env: config.Env!.slice(0, config.Env!.length - mounts.env.length) } : undefined;
    // the mount points the start makes where nothing was are removed again before the commit
    // (when still empty), as BuildKit does: the image keeps no trace of a step's mounts
    const targets = (mounts?.mounts ?? []).map((m) => m.Target);
    let stubs: string[] = [];
    try {
      const id = yield* this.inContainer(
        parent,
        config,
        opts,
        async (cid) => {
          if (stubs.length > 0) await this.containers.removeEmpty(cid, stubs);
          return this.commit(cid, state, createdBy, recorded);
        },
        async function* (this: Builder, cid: string): AsyncGenerator<BuildEvent, void> {
          const signal = opts.signal;
          if (targets.length > 0) stubs = await this.containers.missingPaths(cid, targets);
          await this.containers.start(cid);
          for await (const entry of this.containers.logs(cid, { follow: true, stdout: true, stderr: true, ...(signal ? { signal } : {}) })) {
            yield { type: "output", stream: entry.stream, data: entry.line };
          }
          signal?.throwIfAborted();
          const { StatusCode } = await this.containers.wait(cid, "not-running");
          if (StatusCode !== 0) throw nonZeroError(argv, StatusCode);
        }.bind(this),
        network,
        { mounts: mounts?.mounts ?? [] },
      );
      return await this.remember(key, id);
    } finally {
      await mounts?.release();
    }
  }

  private async *copy(parent: string, state: StageState, step: CopyStep, opts: BuildOptions, done: Map<string, string>): AsyncGenerator<BuildEvent, string> {
    const op = step.kind.toUpperCase();
    const contents = step.contents ?? [];
    if (step.sources.length === 0 && contents.length === 0) throw invalid(`${op} requires at least two arguments`, { code: "build.copy-args" });
    for (const c of contents) {
      if (!/^[^/\0]+$/.test(c.name) || c.name === "." || c.name === "..") throw invalid(`${op} <<${c.name}: a heredoc's delimiter names the file it makes: give a plain file name`, { code: "build.heredoc" });
    }
    if (step.checksum !== undefined) {
      if (!/^sha256:[0-9a-f]{64}$/.test(step.checksum)) throw invalid(`invalid checksum ${JSON.stringify(step.checksum)}: give sha256: and 64 lower-case hex digits`, { code: "build.checksum" });
      if (step.kind !== "add" || step.sources.length !== 1 || !isUrl(step.sources[0]!) || contents.length > 0) throw invalid(`${op} --checksum needs one http(s) URL as its source`, { code: "build.checksum" });
    }
    let chmodBits: number | undefined;
    if (step.chmod !== undefined) {
      if (!/^[0-7]{3,4}$/.test(step.chmod)) throw invalid(`invalid chmod parameter: ${step.chmod}: give octal mode bits such as 0755`, { code: "build.chmod" });
      chmodBits = parseInt(step.chmod, 8);
    }
    const own = { uid: 0, gid: 0, ...(chmodBits !== undefined ? { chmod: chmodBits } : {}) };
    const dest = resolveWorkdir(state.config, step.dest);
    const comment = `${op} ${step.chown ? `--chown=${step.chown}` : ""}`;
    const cmd = [...shellCmd(state.config), `#(nop) ${comment}in ${step.dest} `];
    if (step.from !== undefined && contents.length > 0) throw invalid(`${op} --from=${step.from} takes no heredoc: its sources are paths of ${step.from}`, { code: "build.heredoc" });
    if (step.from !== undefined) return yield* this.copyFrom(parent, state, step, opts, done, { op, own, dest, comment, cmd });
    // ADD of a git URL clones the repository (as BuildKit does); other http(s) URLs are downloaded
    const gitUrls = step.kind === "add" ? step.sources.filter(isGitUrl) : [];
    const urls = step.kind === "add" ? step.sources.filter((src) => isUrl(src) && !gitUrls.includes(src)) : [];
    const local = step.sources.filter((src) => !urls.includes(src) && !gitUrls.includes(src));
    const tmp = urls.length > 0 || gitUrls.length > 0 || contents.length > 0 ? await mkdtemp(path.join(await this.tmpDir(), "add-")) : undefined;
    try {
      const sources = local.length > 0 ? await resolveSources(opts.context, local, op) : [];
      // heredocs: files of that name and content, mode 0644, after the other sources (as BuildKit)
      for (const [i, c] of contents.entries()) {
        const d = path.join(tmp!, `inline-${i}`);
        await mkdir(d, { mode: 0o700 });
        const file = path.join(d, c.name);
        await writeFile(file, c.data);
        await chmod(file, 0o644);
        sources.push({ rel: c.name, abs: file, isDir: false, inline: true });
      }
      // a repository's tree (its #ref:subdir) goes into dest as a directory's contents would;
      // fetched every time, like a download: the content decides whether the cache holds
      for (const [i, url] of gitUrls.entries()) {
        const checkout = path.join(tmp!, `git-${i}`);
        await mkdir(checkout, { mode: 0o700 });
        const tree = await fetchGitContext(url, checkout, { ...(opts.signal ? { signal: opts.signal } : {}) });
        if (!step.keepGitDir) await rm(path.join(checkout, ".git"), { recursive: true, force: true });
        sources.push({ rel: "", abs: tree, isDir: true });
      }
      // ADD downloads every time (as dockerd): the content decides whether the cache holds
      for (const [i, url] of urls.entries()) {
        const file = path.join(tmp!, String(i));
        const got = await download(url, file, opts.signal);
        if (step.checksum !== undefined) {
          const digest = `sha256:${createHash("sha256").update(await readFile(file)).digest("hex")}`;
          if (digest !== step.checksum) throw invalid(`ADD ${url}: checksum mismatch: the content's digest is ${digest}, not ${step.checksum} as --checksum says`, { code: "build.checksum" });
        }
        // a name is only needed inside a directory destination
        const needsName = step.dest.endsWith("/") || step.sources.length > 1 || !!step.parents;
        if (got.name === "" && needsName) throw invalid(`cannot determine filename from url: ${url}`, { code: "build.download" });
        sources.push({ rel: got.name, abs: file, isDir: false, url: { mode: 0o600, mtimeSec: got.mtimeSec } });
      }
      if (step.kind === "add") for (const src of sources) if (!src.isDir && !src.url && !src.inline) src.archive = await isArchive(src.abs);
      if (sources.length > 1 && !step.dest.endsWith("/")) {
        throw invalid(`When using ${op} with more than one source file, the destination must be a directory and end with a /`, { code: "build.copy-dest" });
      }
      const destDir = step.dest.endsWith("/") || sources.length > 1 || !!step.parents;
      // the key: the sources as they are (paths, contents, modes, no times) and the step; the owner
      // names and the destination's kind are the parent image's, which the key holds already
      const probe: CopyEntry[] = [];
      for (const src of sources) probe.push(...(await sourceEntries(src, src.rel, own, step.exclude ?? [], op)));
      await hashEntries(probe, opts.contextDigests);
      const key = BuildCache.key(parent, { step: canonical(step), inputs: entriesDigest(probe), urls: sources.filter((x) => x.url).map((x) => x.rel) });
      const hit = await this.cached(key, opts);
      if (hit) {
        yield { type: "cache-hit" };
        return hit;
      }
      // a created container of the image, never started: the owner's names are looked up in its
      // /etc/passwd and /etc/group, the destination's kind in its tree, the sources extracted into it
      const id = yield* this.inContainer(parent, { ...state.config, Cmd: cmd }, opts, async (cid) => {
        const owner = await this.owner(cid, step.chown);
        const exists = await this.kindAt(cid, dest);
        const entries: CopyEntry[] = [];
        const archives: { file: string; at: string }[] = [];
        const hashes: string[] = [];
        const madeDir = (rel: string, by: { uid: number; gid: number }) => {
          if (rel === "" || entries.some((e) => e.dest === rel)) return;
          entries.push({ dest: rel, type: "dir", mode: 0o755, uid: by.uid, gid: by.gid, size: 0, mtimeSec: Math.floor(Date.now() / 1000) });
        };
        for (const src of sources) {
          // --parents keeps the source's path; a directory's contents go into dest; a file into
          // dest/ (a directory), else it is dest; an archive is unpacked into dest
          let target: string;
          if (step.parents) target = path.posix.join(dest, src.rel);
          else if (src.isDir || src.archive || !(destDir || exists === "dir")) target = dest;
          else target = path.posix.join(dest, path.posix.basename(src.rel));
          const rel = target.replace(/^\/+/, "");
          if (src.archive) {
            if (exists !== "dir") madeDir(rel, { uid: 0, gid: 0 });
            archives.push({ file: src.abs, at: target });
            const [file] = await sourceEntries(src, rel, own, [], op);
            await hashEntries([file!], opts.contextDigests);
            hashes.push(`file:${entriesDigest([file!])}`);
            continue;
          }
          const list = await sourceEntries(src, rel, { ...own, ...owner }, step.exclude ?? [], op);
          await hashEntries(list, opts.contextDigests);
          hashes.push(`${src.isDir ? "dir" : "file"}:${entriesDigest(list)}`);
          // a directory made for the contents: 0755, the --chown owner (its parents are root's)
          if (src.isDir && (exists !== "dir" || step.parents)) madeDir(rel, owner);
          entries.push(...list);
        }
        const srcHash = hashes.length === 1 ? hashes[0]! : `multi:${entriesDigest(probe)}`;
        const createdBy = nopHistoryOneWord(state.config, `${comment}${srcHash} in ${step.dest} `);
        await this.containers.archivePut(cid, "/", Readable.from(entriesTar(entries)), ROOTFS);
        for (const a of archives) await this.containers.archivePut(cid, a.at, Readable.from(archiveTar(a.file)), ROOTFS);
        return this.commit(cid, state, createdBy);
      });
      return this.remember(key, id);
    } finally {
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * COPY --from: paths of an earlier stage's image or of another image, read from a created
   * container of it through the container service (docker cp's confined path), relocated to the
   * destination with the step's owner and mode. The key holds the source image's ID, which names
   * its content.
   */
  private async *copyFrom(
    parent: string,
    state: StageState,
    step: CopyStep,
    opts: BuildOptions,
    done: Map<string, string>,
    c: { op: string; own: { uid: number; gid: number; chmod?: number }; dest: string; comment: string; cmd: string[] },
  ): AsyncGenerator<BuildEvent, string> {
    const from = step.from!;
    if (step.kind === "add") throw invalid("ADD does not take --from: use COPY --from", { code: "build.copy-from" });
    if (step.parents || (step.exclude ?? []).length > 0) throw unsupported(`${c.op} --from with --parents or --exclude is not supported by cove's builder yet`, { code: "build.copy-from" });
    for (const src of step.sources) if (/[*?[\\]/.test(src)) throw unsupported(`${c.op} --from=${from} ${src}: globs in sources of another image are not supported by cove's builder yet`, { code: "build.copy-from" });
    let source = stageRef(done, from, c.op);
    if (!source) {
      try {
        source = await this.imageId(from);
      } catch (err) {
        if (err instanceof CoveError && err.kind === "not-found") throw notFound(`${c.op} --from=${from}: no earlier stage of that name and no such image here`, { code: "build.copy-from", cause: err });
        throw err;
      }
    }
    if (step.sources.length > 1 && !step.dest.endsWith("/")) {
      throw invalid(`When using ${c.op} with more than one source file, the destination must be a directory and end with a /`, { code: "build.copy-dest" });
    }
    const key = BuildCache.key(parent, { step: canonical(step), from: source });
    const hit = await this.cached(key, opts);
    if (hit) {
      yield { type: "cache-hit" };
      return hit;
    }
    const destDir = step.dest.endsWith("/") || step.sources.length > 1;
    const name = BuildJournal.newName();
    await this.journal.add(name);
    let srcCid: string | undefined;
    try {
      srcCid = (await this.containers.create({ Image: source, Cmd: ["#(nop) copy source"], Entrypoint: [], HostConfig: { NetworkMode: "none" } }, { name })).Id;
      const from = srcCid;
      const id = yield* this.inContainer(parent, { ...state.config, Cmd: c.cmd }, opts, async (cid) => {
        const owner = await this.owner(cid, step.chown);
        const exists = await this.kindAt(cid, c.dest);
        const hashes: string[] = [];
        for (const p of step.sources) {
          const abs = path.posix.resolve("/", p);
          const kind = await this.kindAt(from, abs);
          if (!kind) throw notFound(`${c.op} failed: stat ${abs}: file does not exist in ${step.from}`, { code: "build.source-missing" });
          const isDir = kind === "dir";
          const target = isDir || !(destDir || exists === "dir") ? c.dest : path.posix.join(c.dest, path.posix.basename(abs));
          const rel = target.replace(/^\/+/, "");
          if (isDir && exists !== "dir" && rel !== "") {
            await this.containers.archivePut(cid, "/", Readable.from(entriesTar([{ dest: rel, type: "dir", mode: 0o755, uid: owner.uid, gid: owner.gid, size: 0, mtimeSec: Math.floor(Date.now() / 1000) }])), ROOTFS);
          }
          const tar = new PassThrough();
          const h = createHash("sha256");
          const reading = this.containers.archiveGet(from, abs, tar, () => undefined, ROOTFS).catch((err: unknown) => {
            tar.destroy(err as Error);
            throw err;
          });
          try {
            await this.containers.archivePut(cid, "/", Readable.from(relocate(readTar(hashing(tar, h)), rel, isDir, { ...c.own, ...owner })), ROOTFS);
          } catch (err) {
            tar.destroy();
            await reading.catch(() => undefined);
            throw err;
          }
          await reading;
          hashes.push(`${isDir ? "dir" : "file"}:${h.digest("hex")}`);
        }
        const srcHash = hashes.length === 1 ? hashes[0]! : `multi:${createHash("sha256").update(hashes.join(",")).digest("hex")}`;
        return this.commit(cid, state, nopHistoryOneWord(state.config, `${c.comment}${srcHash} in ${step.dest} `));
      });
      return this.remember(key, id);
    } finally {
      if (srcCid !== undefined) await this.containers.remove(srcCid, { force: true, volumes: true });
      await this.journal.delete(name);
    }
  }

  /** A directory for the builder's temporary files, under the state root. */
  private async tmpDir(): Promise<string> {
    const dir = path.join(this.containers.root, "tmp");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** uid and gid of --chown (names looked up in the image's /etc/passwd and /etc/group); root without it. */
  private async owner(cid: string, chown: string | undefined): Promise<{ uid: number; gid: number }> {
    if (chown === undefined || chown === "") return { uid: 0, gid: 0 };
    const [user = "", group] = chown.split(":", 2);
    const numeric = (s: string) => /^\d+$/.test(s);
    let uid: number;
    if (numeric(user)) uid = Number(user);
    else {
      const passwd = (await this.containers.readFile(cid, "/etc/passwd", 16 << 20))?.toString("utf8");
      const found = parsePasswd(passwd ?? "").find((p) => p.name === user);
      if (!found) throw invalid(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`, { code: "build.chown" });
      uid = found.uid;
    }
    // a user without a group: the group of the same name or number (dockerd's rule)
    const g0 = group === undefined || group === "" ? user : group;
    if (numeric(g0)) return { uid, gid: Number(g0) };
    const groups = (await this.containers.readFile(cid, "/etc/group", 16 << 20))?.toString("utf8");
    const g = parseGroup(groups ?? "").find((e) => e.name === g0);
    if (!g) throw invalid(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${g0}: no such group: ${g0}`, { code: "build.chown" });
    return { uid, gid: g.gid };
  }

  /** What is at a path of the container: "dir", "other" or undefined when nothing is. */
  private async kindAt(cid: string, p: string): Promise<"dir" | "other" | undefined> {
    try {
      const st = await this.containers.archiveStat(cid, p, ROOTFS);
      return (st.mode & 0x80000000) !== 0 ? "dir" : "other";
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return undefined;
      if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
      throw err;
    }
  }

  /**
   * The ID of the image a reference or ID names, from the image store's index (an inspect would
   * also read the image's config and sizes: the cache asks this once per step).
   */
  private async imageId(ref: string): Promise<string> {
    return (await this.images.images.get(ref)).id;
  }

  private async cached(key: string, opts: BuildOptions): Promise<string | undefined> {
    if (opts.noCache) return undefined;
    return this.cache.get(key, async (id) => {
      try {
        await this.imageId(id);
        return true;
      } catch (err) {
        if (err instanceof CoveError && err.kind === "not-found") return false;
        throw err;
      }
    });
  }

  private async remember(key: string, id: string): Promise<string> {
    await this.cache.put(key, id);
    return id;
  }

  /** Commits a build container as the step's image: the stage's config exactly, its author (MAINTAINER), dockerd's history line. */
  private async commit(cid: string, state: StageState, createdBy: string, containerConfig?: ContainerConfig): Promise<string> {
    const { Id } = await this.containers.commit(cid, {
      config: structuredClone(state.config),
      exactConfig: true,
      createdBy,
      pause: false,
      recordParent: true,
      ...(state.author ? { author: state.author } : {}),
      ...(containerConfig ? { containerConfig } : {}),
    });
    return Id;
  }

  /**
   * RUN --mount with from=: `source` of an earlier stage's image or of another image, read from a
   * created container of it (docker cp's confined path) and unpacked into the empty directory
   * `into` (names checked, nothing written outside it). Returns the host path of the copy.
   */
  private async extract(from: string, source: string, into: string, done: Map<string, string>): Promise<string> {
    const image = await this.sourceImage(from, "RUN --mount", done);
    const abs = path.posix.resolve("/", source);
    const name = BuildJournal.newName();
    await this.journal.add(name);
    let cid: string | undefined;
    try {
      cid = (await this.containers.create({ Image: image, Cmd: ["#(nop) mount source"], Entrypoint: [], HostConfig: { NetworkMode: "none" } }, { name })).Id;
      const kind = await this.kindAt(cid, abs);
      if (!kind) throw notFound(`RUN --mount: ${abs} does not exist in ${from}`, { code: "build.mount" });
      const tar = new PassThrough();
      const reading = this.containers.archiveGet(cid, abs, tar, () => undefined, ROOTFS).catch((err: unknown) => {
        tar.destroy(err as Error);
        throw err;
      });
      const dir = path.join(into, "src");
      await mkdir(dir, { mode: 0o755 });
      // the archive names the path by its base name (the root's content by "."); it is unpacked
      // under dir and the path of that name is the copy
      try {
        await applyLayer(tar, dir, { whiteouts: "plain", compression: "none" });
      } catch (err) {
        tar.destroy();
        await reading.catch(() => undefined);
        throw err;
      }
      await reading;
      return abs === "/" ? dir : path.join(dir, path.posix.basename(abs));
    } finally {
      if (cid !== undefined) await this.containers.remove(cid, { force: true, volumes: true });
      await this.journal.delete(name);
    }
  }

  /** The image an earlier stage (by name or index) made, or an image of that reference. */
  private async sourceImage(from: string, op: string, done?: Map<string, string>): Promise<string> {
    const stage = done && stageRef(done, from, op);
    if (stage) return stage;
    try {
      return await this.imageId(from);
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") throw notFound(`${op} from=${from}: no earlier stage of that name and no such image here`, { code: "build.copy-from", cause: err });
      throw err;
    }
  }

  /**
   * Creates a container of `image` with `config`, runs `during` (a RUN's start, output and wait)
   * and then `work` (extraction, commit: the image ID), and removes the container whatever happens.
   */
  private async *inContainer(
    image: string,
    config: ContainerConfig,
    opts: BuildOptions,
    work: (cid: string) => Promise<string>,
    during?: (cid: string) => AsyncGenerator<BuildEvent, void>,
    network: "default" | "none" | "host" = "default",
    run?: { mounts: NonNullable<NonNullable<CreateBody["HostConfig"]>["Mounts"]> },
  ): AsyncGenerator<BuildEvent, string> {
    opts.signal?.throwIfAborted();
    // RUN containers get the build's host settings; RUN --network overrides its network
    const host = run ? { ...(opts.runHostConfig ?? {}) } : {};
    if (run && run.mounts.length > 0) host.Mounts = [...(host.Mounts ?? []), ...run.mounts];
    if (network !== "default") host.NetworkMode = network;
    const body: CreateBody = { ...cleanConfig(config), Image: image, AttachStdout: true, AttachStderr: true, HostConfig: host };
    if (config.Entrypoint && config.Entrypoint.length === 0) body.Entrypoint = [];
    const name = BuildJournal.newName();
    await this.journal.add(name);
    let cid: string | undefined;
    let result: string;
    // Ctrl-C: the running step's container dies at once; the removal below cleans it up
    const kill = () => void (cid !== undefined && bestEffort(`kill build container ${cid} of an aborted build`, this.containers.kill(cid)));
    opts.signal?.addEventListener("abort", kill, { once: true });
    try {
      cid = (await this.containers.create(body, { name })).Id;
      if (during) {
        yield { type: "running", container: cid };
        yield* during(cid);
      }
      result = await work(cid);
    } finally {
      opts.signal?.removeEventListener("abort", kill);
      if (cid !== undefined) await this.containers.remove(cid, { force: true, volumes: true });
      await this.journal.delete(name);
    }
    if (during) yield { type: "removed", container: cid };
    return result;
  }
}

/** A stage the planner did not make this stage depend on: known by name, never usable from it. */
const UNPLANNED = "";

/**
 * The image of the stage `ref` names (by name or index) among those the stage may use; undefined
 * when `ref` names no stage (an image reference then). A stage the build plan did not make this
 * one depend on (a name that only a variable of the stage's own gave) is refused: the plan could
 * not order the two.
 */
function stageRef(done: Map<string, string>, ref: string, op: string): string | undefined {
  const id = done.get(ref.toLowerCase());
  if (id === UNPLANNED) {
    throw invalid(`${op} ${ref}: that stage is not one this stage was planned to use: name the stage as written or through a global ARG (declared before the first FROM)`, { code: "build.unknown-stage" });
  }
  return id;
}

/**
 * Build containers' files are their rootfs alone, volumes not mounted: a COPY into a VOLUME's
 * path lands in the image, as with dockerd's builder (a RUN's writes there are lost, as there).
 */
const ROOTFS = { rootfsOnly: true } as const;

/** The chunks of a stream, fed to a hash on their way. */
async function* hashing(src: AsyncIterable<Buffer>, h: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const c of src) {
    h.update(c);
    yield c;
  }
}

/** The digest of a context path's entries (paths, contents, modes), for a RUN --mount=type=bind's cache key. */
async function contextDigest(context: string, source: string, known: Map<string, string> | undefined): Promise<string> {
  const op = "RUN --mount=type=bind";
  if (/[*?[\\]/.test(source)) throw invalid(`${op}: source ${source}: a bind mount names one path, not a pattern`, { code: "build.mount" });
  const rel = path.posix.normalize(`/${source}`).slice(1) || ".";
  const [src] = await resolveSources(context, [rel], op);
  const list = await sourceEntries(src!, "m", { uid: 0, gid: 0 }, [], op);
  await hashEntries(list, known);
  return entriesDigest(list);
}

const shellCmd = (c: ContainerConfig): string[] => (c.Shell && c.Shell.length > 0 ? c.Shell : ["/bin/sh", "-c"]);

/** A step without the text the user typed: what the cache compares. */
function canonical(step: Step): unknown {
  const { text: _text, ...rest } = step;
  return rest;
}

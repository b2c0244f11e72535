// `compose watch`: the services' develop.watch rules (compose-spec develop.md) acted on as files
// change under their paths: sync (the changed files copied into the service's containers at the
// rule's target, removed ones removed there), sync+restart (then the containers restart),
// sync+exec (then a command runs in them) and rebuild (the image built again and the service's
// containers recreated with it). Changes are gathered for a short quiet time, then applied per
// rule; `ignore` takes .dockerignore patterns relative to the rule's path.

import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { DockerIgnore } from "../../build/dockerfile/dockerignore.js";
import type { EngineClient } from "../../client/engine.js";
import { invalid, isErrno } from "../../common/errors.js";
import { watchTree, type TreeWatcher } from "../../common/watch-tree.js";
import type { Project } from "../../compose/index.js";
import { builder, buildService } from "./build.js";
import { serviceContainers, takeFlags, type Ctx } from "./common.js";
import { putFiles, up, type GrantedFile } from "./engine.js";

/** One develop.watch rule as the spec writes it. */
interface WatchRule {
  action: "sync" | "rebuild" | "sync+restart" | "sync+exec";
  path: string;
  target?: string;
  ignore?: string[];
  exec?: { command: string | string[]; user?: string; working_dir?: string };
}

/** How long changes are gathered after the last one before a rule acts on them. */
const QUIET_MS = 300;
/** The longest a change waits while others keep coming (a tool that writes all the time still syncs). */
const MAX_WAIT_MS = 2000;

function rulesOf(project: Project, service: string): WatchRule[] {
  const develop = project.services[service]!.develop as { watch?: WatchRule[] } | undefined;
  return develop?.watch ?? [];
}

/** Every file under abs (or abs itself), as paths relative to root. */
async function filesUnder(root: string, abs: string): Promise<string[]> {
  const st = await lstat(abs).catch((err: unknown) => {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw err;
  });
  if (!st) return [];
  if (!st.isDirectory()) return [path.relative(root, abs)];
  const out: string[] = [];
  for (const e of await readdir(abs)) out.push(...(await filesUnder(root, path.join(abs, e))));
  return out;
}

/** Applies one sync rule's changes to one container: changed files copied in, vanished ones removed. */
async function sync(client: EngineClient, id: string, root: string, target: string, changed: Set<string>): Promise<number> {
  const files: GrantedFile[] = [];
  const gone: string[] = [];
  for (const rel of changed) {
    const abs = path.join(root, rel);
    const here = await filesUnder(root, abs);
    if (here.length === 0) {
      gone.push(path.posix.join(target, rel.split(path.sep).join("/")));
      continue;
    }
    for (const f of here) {
      const st = await lstat(path.join(root, f));
      if (!st.isFile()) continue;
      files.push({ target: path.posix.join(target, f.split(path.sep).join("/")), uid: 0, gid: 0, mode: st.mode & 0o7777, data: await readFile(path.join(root, f)) });
    }
  }
  await putFiles(client, id, files);
  if (gone.length) await execIn(client, id, ["rm", "-rf", "--", ...gone]);
  return files.length + gone.length;
}

async function execIn(client: EngineClient, id: string, cmd: string[], opts: { user?: string; workingDir?: string } = {}): Promise<void> {
  const { Id } = await client.execCreate(id, { Cmd: cmd, AttachStdout: false, AttachStderr: false, ...(opts.user ? { User: opts.user } : {}), ...(opts.workingDir ? { WorkingDir: opts.workingDir } : {}) });
  await client.execStart(Id);
  for (let i = 0; i < 600; i++) {
    const st = await client.execInspect(Id);
    if (!st.Running) {
      if (st.ExitCode !== 0) throw invalid(`${cmd.join(" ")} exited ${st.ExitCode} in container ${id.slice(0, 12)}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `compose watch [--no-up] [--quiet] [SERVICE...]`: until the signal (Ctrl-C) ends it. */
export async function watch(ctx: Ctx & { signal?: AbortSignal }, args: string[]): Promise<number> {
  const f = takeFlags(args, {}, { "--no-up": "noup", "--quiet": "quiet", "--prune": "prune" });
  const project = ctx.project();
  for (const s of f.rest) if (!project.services[s]) throw invalid(`no such service: ${s}`, { code: "compose.no-service" });
  const services = (f.rest.length ? f.rest : Object.keys(project.services)).filter((s) => rulesOf(project, s).length > 0);
  if (services.length === 0) throw invalid("none of the selected services is configured for watch, consider setting a 'develop' section", { code: "compose.watch" });
  for (const s of services)
    for (const r of rulesOf(project, s)) {
      if (r.action !== "rebuild" && !r.target) throw invalid(`services.${s}.develop.watch: a ${r.action} rule needs a target (the path in the container)`, { code: "compose.watch" });
      if (r.action === "rebuild" && project.services[s]!.build === undefined) throw invalid(`services.${s}.develop.watch: a rebuild rule needs the service's build section`, { code: "compose.watch" });
      if (r.action === "sync+exec" && !r.exec?.command) throw invalid(`services.${s}.develop.watch: a sync+exec rule needs exec.command`, { code: "compose.watch" });
    }
  const client = await ctx.client();
  if (!f.set.has("noup")) await up(client, project, { services, progress: ctx.progress, build: builder(ctx, client, project, false) });

  const say = (line: string) => void (f.set.has("quiet") || ctx.io.stderr.write(`${line}\n`));
  const watchers: TreeWatcher[] = [];
  let busy: Promise<void> = Promise.resolve();
  const act = async (service: string, rule: WatchRule, root: string, changed: Set<string>) => {
    if (rule.action === "rebuild") {
      say(`Rebuilding service(s) ["${service}"] after changes were detected...`);
      await buildService(client, project, service, ctx.io.stderr);
      await up(client, project, { services: [service], noDeps: true, progress: ctx.progress, build: builder(ctx, client, project, false) });
      say(`service(s) ["${service}"] successfully built`);
      return;
    }
    say(`Syncing service "${service}" after ${changed.size} changes were detected`);
    for (const c of await serviceContainers(client, project, [service])) {
      await sync(client, c.Id, root, rule.target!, changed);
      if (rule.action === "sync+restart") await client.containerRestart(c.Id);
      if (rule.action === "sync+exec") {
        const cmd = rule.exec!.command;
        await execIn(client, c.Id, Array.isArray(cmd) ? cmd : ["/bin/sh", "-c", cmd], { ...(rule.exec!.user ? { user: rule.exec!.user } : {}), ...(rule.exec!.working_dir ? { workingDir: rule.exec!.working_dir } : {}) });
      }
    }
  };
  for (const service of services) {
    for (const rule of rulesOf(project, service)) {
      const root = path.resolve(project.workingDir, rule.path);
      const ignore = DockerIgnore.parse((rule.ignore ?? []).join("\n"));
      const isDir = (await lstat(root).catch(() => undefined))?.isDirectory() ?? false;
      const base = isDir ? root : path.dirname(root);
      let pending = new Set<string>();
      let timer: NodeJS.Timeout | undefined;
      let firstAt = 0;
      const flush = () => {
        timer = undefined;
        const changed = pending;
        pending = new Set();
        // one rule at a time, in the order the changes came
        busy = busy.then(() => act(service, rule, base, changed)).catch((err: unknown) => say(`watch: ${service}: ${(err as Error).message}`));
      };
      // (one inotify watch per directory: Node 20's recursive fs.watch misses changes on Linux)
      const w = watchTree(
        root,
        (rel) => {
          if (ignore.excludes(rel.split(path.sep).join("/"))) return;
          pending.add(rel);
          if (!timer) firstAt = Date.now();
          // a quiet moment acts on the batch; changes that never stop act on it after MAX_WAIT_MS
          else if (Date.now() - firstAt < MAX_WAIT_MS) clearTimeout(timer);
          else return;
          timer = setTimeout(flush, QUIET_MS);
        },
        (err) => say(`watch: ${service}: ${err.message}`),
      );
      watchers.push(w);
    }
  }
  say("Watch enabled");
  // until Ctrl-C, SIGTERM or the caller's signal
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  if (ctx.signal?.aborted) stop();
  ctx.signal?.addEventListener("abort", stop, { once: true });
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await stopped;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    ctx.signal?.removeEventListener("abort", stop);
  }
  for (const w of watchers) w.close();
  await busy;
  return 0;
}

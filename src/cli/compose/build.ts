// `compose build`, `up --build` and the build of a service whose image is missing: a service's
// build section (the short form, a context, or the long one: context, dockerfile, args, target,
// labels, tags, no_cache, pull, network, extra_hosts, shm_size) run through cove build's own
// path (cli/build.ts runBuild) against whatever engine compose talks to, dockerd or cove.

import path from "node:path";
import type { EngineClient } from "../../client/engine.js";
import { invalid } from "../../common/errors.js";
import type { Project } from "../../compose/index.js";
import type { Ctx } from "./common.js";

type Raw = Record<string, unknown>;

/** The image a service runs: its image, else the one compose names after project and service. */
export function serviceImage(project: Project, service: string): string | undefined {
  const svc = project.services[service]!;
  return svc.image ?? (svc.build !== undefined ? `${project.name}-${service}` : undefined);
}

const listOrDict = (v: unknown): string[] => {
  if (Array.isArray(v)) return v.map(String);
  if (v && typeof v === "object") return Object.entries(v as Raw).map(([k, x]) => (x === null || x === undefined ? k : `${k}=${String(x)}`));
  return [];
};

/** The cove build arguments for a service's build section. */
export function buildArgs(project: Project, service: string, opts: { noCache?: boolean; pull?: boolean } = {}): string[] {
  const svc = project.services[service]!;
  const b: Raw = typeof svc.build === "string" ? { context: svc.build } : ((svc.build ?? {}) as Raw);
  const context = path.resolve(project.workingDir, typeof b.context === "string" ? b.context : ".");
  if (/^(https?|git):\/\//.test(String(b.context ?? "")) || String(b.context ?? "").startsWith("git@")) {
    throw invalid(`service "${service}": a remote build context (${String(b.context)}) is not supported yet`, { field: `services.${service}.build.context` });
  }
  if (b.dockerfile_inline !== undefined) throw invalid(`service "${service}": build.dockerfile_inline is not supported yet: write it to a file and name it in build.dockerfile`, { field: `services.${service}.build.dockerfile_inline` });
  const args = ["-t", serviceImage(project, service)!];
  for (const t of Array.isArray(b.tags) ? b.tags.map(String) : []) args.push("-t", t);
  if (typeof b.dockerfile === "string") args.push("-f", path.resolve(context, b.dockerfile));
  for (const a of listOrDict(b.args)) args.push("--build-arg", a);
  for (const l of listOrDict(b.labels)) args.push("--label", l);
  for (const h of listOrDict(b.extra_hosts)) args.push("--add-host", h.replace("=", ":"));
  if (typeof b.target === "string") args.push("--target", b.target);
  if (typeof b.network === "string") args.push("--network", b.network);
  if (b.shm_size !== undefined) args.push("--shm-size", String(b.shm_size));
  if (opts.noCache || b.no_cache === true || b.no_cache === "true") args.push("--no-cache");
  if (opts.pull || b.pull === true || b.pull === "true") args.push("--pull");
  args.push("--progress", "plain", context);
  return args;
}

/** Builds a service's image; its builder output goes to `out`. */
export async function buildService(client: EngineClient, project: Project, service: string, out: NodeJS.WritableStream, opts: { noCache?: boolean; pull?: boolean } = {}): Promise<void> {
  const err: string[] = [];
  const errStream = { write: (t: string | Uint8Array) => (err.push(String(t)), true) } as unknown as NodeJS.WritableStream;
  // the builder's modules load only for a build
  const { runBuild } = await import("../build.js");
  const code = await runBuild(buildArgs(project, service, opts), { client: () => Promise.resolve(client), stdout: out, stderr: errStream });
  if (code !== 0) throw invalid(`service "${service}" failed to build: ${err.join("").trim() || `exit ${code}`}`, { code: "compose.build" });
}

/** The builder up, create and watch use: builds a service's image from its build section (its output to stderr). */
export function builder(ctx: Pick<Ctx, "io" | "progress">, client: EngineClient, project: Project, always: boolean): { always: boolean; run: (service: string) => Promise<void> } {
  return {
    always,
    run: async (service) => {
      ctx.progress(`Building ${service}`);
      await buildService(client, project, service, ctx.io.stderr);
      ctx.progress(`Service ${service}  Built`);
    },
  };
}

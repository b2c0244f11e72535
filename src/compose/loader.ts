// The compose loader: files → one normalized Project (model.ts). Each file is parsed with the
// `yaml` package (an error names the file, line and column), interpolated with the project's
// environment (the process's over .env or --env-file), validated against the Compose
// Specification's schema (a violation names its path and line), normalized, its `include`s and
// `extends` resolved; the files are then merged in order, profiles applied, the project named and
// the dependency graph checked. Nothing here touches an engine: a bad file fails before anything
// is created.

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ErrorObject, ValidateFunction } from "ajv";
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import { CoveError, invalid, isErrno, notFound } from "../common/errors.js";
import { dependencyOrder } from "./graph.js";
import { interpolateTree, readEnvFile, type Env } from "./interpolate.js";
import type { FileObject, NetworkConfig, Project, ServiceConfig, VolumeConfig } from "./model.js";
import { mergeService, normalizeService } from "./normalize.js";
import { validate as compiledValidate } from "./schema-validate.generated.js";

export interface LoadOptions {
  /** -f files; when none, compose.yaml (or compose.yml, docker-compose.yml, docker-compose.yaml) found from `cwd` upward. */
  files?: string[];
  /** -p */
  projectName?: string;
  /** --project-directory; the first file's directory when not given. */
  projectDirectory?: string;
  /** --env-file files (replace the project directory's .env). */
  envFiles?: string[];
  /** --profile */
  profiles?: string[];
  /** The process environment (process.env when not given). */
  env?: Env;
  cwd?: string;
}

export const DEFAULT_FILES = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];

type Raw = Record<string, unknown>;

/** A file read and checked: its top-level mapping, interpolated, with services normalized. */
interface LoadedFile {
  file: string;
  name?: string;
  services: Record<string, ServiceConfig & { extends?: unknown }>;
  networks: Record<string, Raw | null>;
  volumes: Record<string, Raw | null>;
  /** Top-level configs and secrets, their files already absolute. */
  configs: Record<string, Raw | null>;
  secrets: Record<string, Raw | null>;
}

/** Top-level configs or secrets of one file, with a relative `file` taken from `dir`. */
function fileObjects(v: unknown, dir: string): Record<string, Raw | null> {
  const out: Record<string, Raw | null> = {};
  for (const [k, o] of Object.entries((v as Raw) ?? {})) {
    const raw = { ...((o ?? {}) as Raw) };
    if (typeof raw.file === "string") raw.file = path.resolve(dir, raw.file);
    out[k] = raw;
  }
  return out;
}

/** The compose-spec schema's validator, compiled ahead of time (gen-validator.ts). */
function validator(): ValidateFunction {
  return compiledValidate as unknown as ValidateFunction;
}

/** `/services/web/ports/0` → `services.web.ports[0]`. */
function dotted(segments: (string | number)[]): string {
  let out = "";
  for (const s of segments) out += typeof s === "number" || /^\d+$/.test(s) ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

function pointerSegments(pointer: string): string[] {
  return pointer === "" ? [] : pointer.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** The line of a path in the parsed document, for messages. */
function lineOf(doc: Document, lc: LineCounter, segments: string[]): number | undefined {
  for (let n = segments.length; n >= 0; n--) {
    const node = doc.getIn(segments.slice(0, n).map((s) => (/^\d+$/.test(s) ? Number(s) : s)), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

/** The most telling of ajv's errors: an unknown property, else the deepest path. */
function schemaError(errors: ErrorObject[], file: string, doc: Document, lc: LineCounter) {
  const useful = errors.filter((e) => !["oneOf", "anyOf", "if"].includes(e.keyword));
  const pick = useful.find((e) => e.keyword === "additionalProperties") ?? useful.sort((a, b) => b.instancePath.length - a.instancePath.length)[0] ?? errors[0]!;
  const segs = pointerSegments(pick.instancePath);
  let field = dotted(segs);
  let what: string;
  if (pick.keyword === "additionalProperties") {
    const prop = (pick.params as { additionalProperty: string }).additionalProperty;
    segs.push(prop);
    what = `additional property ${prop} is not allowed`;
    field = dotted(segs);
  } else if (pick.keyword === "type") what = `must be ${(pick.params as { type: string }).type}`;
  else what = pick.message ?? pick.keyword;
  const line = lineOf(doc, lc, segs);
  return invalid(`${file}${line ? `:${line}` : ""}: ${field || "(top level)"}: ${what}`, { field, code: "compose.schema" });
}

/** Parses, interpolates and validates one file. */
function parseFile(file: string, env: Env, warn: (msg: string) => void): Raw {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) throw notFound(`compose file ${file} not found`, { code: "compose.file" });
    throw err;
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, merge: true, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = lc.linePos(err.pos[0]);
    throw invalid(`${file}:${pos.line}:${pos.col}: ${err.message.split("\n")[0]}`, { code: "compose.yaml", cause: err });
  }
  const raw = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  if (raw === null || raw === undefined) throw invalid(`${file}: empty compose file`, { code: "compose.file" });
  if (typeof raw !== "object" || Array.isArray(raw)) throw invalid(`${file}: top-level object must be a mapping`, { code: "compose.schema" });
  const interpolated = interpolateTree(raw, env, file, warn) as Raw;
  const validate = validator();
  if (!validate(interpolated)) throw schemaError(validate.errors ?? [], file, doc, lc);
  return interpolated;
}

/** Loads one file (and what it includes), its services normalized with paths taken from `dir`. */
function loadFile(file: string, dir: string, env: Env, warn: (msg: string) => void, seen: string[]): LoadedFile {
  if (seen.includes(file)) throw invalid(`include cycle: ${[...seen, file].join(" -> ")}`, { code: "compose.include" });
  const raw = parseFile(file, env, warn);
  const out: LoadedFile = {
    file,
    services: {},
    networks: { ...((raw.networks as Raw) ?? {}) } as Record<string, Raw | null>,
    volumes: { ...((raw.volumes as Raw) ?? {}) } as Record<string, Raw | null>,
    configs: fileObjects(raw.configs, dir),
    secrets: fileObjects(raw.secrets, dir),
  };
  if (typeof raw.name === "string") out.name = raw.name;
  for (const [name, svc] of Object.entries((raw.services as Raw) ?? {})) {
    try {
      out.services[name] = normalizeService(name, (svc ?? {}) as Raw, dir, warn);
    } catch (err) {
      // a short syntax the schema let through but that does not parse: named with its file
      if (err instanceof CoveError && err.kind === "invalid" && err.code === "invalid") throw invalid(`${file}: ${err.message}`, { code: "compose.schema", field: err.field, hint: err.hint, cause: err });
      throw err;
    }
  }
  resolveExtends(out, dir, env, warn);
  for (const inc of (raw.include as unknown[]) ?? []) {
    const spec = typeof inc === "string" ? { path: [inc] } : (inc as { path: string | string[]; project_directory?: string; env_file?: string | string[] });
    const paths = (Array.isArray(spec.path) ? spec.path : [spec.path]).map((p) => path.resolve(dir, p));
    const incDir = spec.project_directory ? path.resolve(dir, spec.project_directory) : path.dirname(paths[0]!);
    let incEnv = env;
    const envFiles = spec.env_file === undefined ? [path.join(incDir, ".env")] : (Array.isArray(spec.env_file) ? spec.env_file : [spec.env_file]).map((f) => path.resolve(dir, f));
    for (const f of envFiles) incEnv = { ...(readEnvFile(f, incEnv, spec.env_file === undefined) ?? {}), ...incEnv };
    const sub = mergeFiles(paths.map((p) => loadFile(p, incDir, incEnv, warn, [...seen, file])));
    for (const kind of ["services", "networks", "volumes", "configs", "secrets"] as const)
      for (const [k, v] of Object.entries(sub[kind])) {
        if (k in out[kind] && kind === "services") throw invalid(`services.${k}: defined in ${file} and in its include ${paths.join(", ")}; an included service cannot be redefined`, { code: "compose.include" });
        if (!(k in out[kind])) (out[kind] as Record<string, unknown>)[k] = v;
      }
  }
  return out;
}

/** Replaces each service's `extends` by the service it names merged under it. */
function resolveExtends(loaded: LoadedFile, dir: string, env: Env, warn: (msg: string) => void): void {
  const resolving = new Set<string>();
  const resolve = (name: string): ServiceConfig => {
    const svc = loaded.services[name]!;
    if (svc.extends === undefined) return svc;
    if (resolving.has(name)) throw invalid(`services.${name}.extends: circular reference (${[...resolving, name].join(" -> ")}) in ${loaded.file}`, { code: "compose.extends" });
    resolving.add(name);
    const ext = typeof svc.extends === "string" ? { service: svc.extends } : (svc.extends as { service: string; file?: string });
    let base: ServiceConfig;
    if (ext.file) {
      const other = path.resolve(dir, ext.file);
      const loadedOther = loadFile(other, path.dirname(other), env, warn, []);
      if (!loadedOther.services[ext.service]) throw invalid(`services.${name}.extends: no service "${ext.service}" in ${other}`, { code: "compose.extends" });
      base = loadedOther.services[ext.service]!;
    } else {
      if (!loaded.services[ext.service]) throw invalid(`services.${name}.extends: no service "${ext.service}" in ${loaded.file}`, { code: "compose.extends" });
      base = resolve(ext.service);
    }
    const { extends: _e, ...own } = svc;
    const merged = mergeService(base, own);
    loaded.services[name] = merged;
    resolving.delete(name);
    return merged;
  };
  for (const name of Object.keys(loaded.services)) resolve(name);
}

function mergeFiles(files: LoadedFile[]): LoadedFile {
  const [first, ...rest] = files;
  const out: LoadedFile = { ...first!, services: { ...first!.services }, networks: { ...first!.networks }, volumes: { ...first!.volumes }, configs: { ...first!.configs }, secrets: { ...first!.secrets } };
  for (const f of rest) {
    if (f.name !== undefined) out.name = f.name;
    for (const [k, v] of Object.entries(f.services)) out.services[k] = out.services[k] ? mergeService(out.services[k]!, v) : v;
    for (const [k, v] of Object.entries(f.networks)) out.networks[k] = { ...(out.networks[k] ?? {}), ...(v ?? {}) };
    for (const [k, v] of Object.entries(f.volumes)) out.volumes[k] = { ...(out.volumes[k] ?? {}), ...(v ?? {}) };
    for (const [k, v] of Object.entries(f.configs)) out.configs[k] = { ...(out.configs[k] ?? {}), ...(v ?? {}) };
    for (const [k, v] of Object.entries(f.secrets)) out.secrets[k] = { ...(out.secrets[k] ?? {}), ...(v ?? {}) };
  }
  return out;
}

/** The project name from a directory name: lower case, only [a-z0-9_-], starting with a letter or digit. */
export function normalizeProjectName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, "").replace(/^[^a-z0-9]+/, "");
}

function checkProjectName(name: string, from: string): string {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name))
    throw invalid(`invalid project name "${name}" (from ${from}): it must contain only lower-case letters, digits, dashes and underscores, and start with a letter or digit`, { code: "compose.project-name" });
  return name;
}

function findDefaultFile(cwd: string): string {
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    for (const f of DEFAULT_FILES) if (existsSync(path.join(dir, f))) return path.join(dir, f);
    if (path.dirname(dir) === dir) break;
  }
  throw notFound(`no configuration file provided: none of ${DEFAULT_FILES.join(", ")} in ${cwd} or a parent directory`, { code: "compose.file" });
}

function external(v: Raw): { external: boolean; name?: string } {
  const e = v.external;
  if (e && typeof e === "object") return { external: true, name: (e as Raw).name as string | undefined };
  return { external: e === true };
}

/** Loads a project as `docker compose` would from the same flags and environment. */
export function loadProject(opts: LoadOptions = {}): Project {
  const processEnv = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const warnings: string[] = [];
  const warn = (m: string) => void (warnings.includes(m) || warnings.push(m));
  const envFileList = processEnv.COMPOSE_FILE?.split(processEnv.COMPOSE_PATH_SEPARATOR ?? ":").filter(Boolean);
  let files = opts.files?.length ? opts.files.map((f) => path.resolve(cwd, f)) : undefined;
  const projectDirectory = path.resolve(cwd, opts.projectDirectory ?? (files ? path.dirname(files[0]!) : envFileList?.length ? path.dirname(path.resolve(cwd, envFileList[0]!)) : path.dirname(findDefaultFile(cwd))));
  // the project's environment: the .env file (or --env-file files) under the process's
  let dotenv: Record<string, string> = {};
  if (opts.envFiles?.length) for (const f of opts.envFiles) dotenv = { ...dotenv, ...readEnvFile(path.resolve(cwd, f), { ...processEnv, ...dotenv }) };
  else dotenv = readEnvFile(path.join(projectDirectory, ".env"), processEnv, true) ?? {};
  const env: Record<string, string> = { ...dotenv };
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) env[k] = v;
  files ??= env.COMPOSE_FILE ? env.COMPOSE_FILE.split(env.COMPOSE_PATH_SEPARATOR ?? ":").map((f) => path.resolve(projectDirectory, f)) : [findDefaultFile(cwd)];

  const merged = mergeFiles(files.map((f) => loadFile(f, projectDirectory, env, warn, [])));

  const name = opts.projectName
    ? checkProjectName(opts.projectName, "-p")
    : env.COMPOSE_PROJECT_NAME
      ? checkProjectName(env.COMPOSE_PROJECT_NAME, "COMPOSE_PROJECT_NAME")
      : merged.name
        ? checkProjectName(merged.name, `name: in ${files.join(", ")}`)
        : normalizeProjectName(path.basename(projectDirectory));
  if (!name) throw invalid(`cannot make a project name from the directory ${projectDirectory}`, { code: "compose.project-name", hint: "give one with -p NAME or name: in the file" });

  // profiles
  const active = new Set(opts.profiles?.length ? opts.profiles : (env.COMPOSE_PROFILES ?? "").split(",").map((p) => p.trim()).filter(Boolean));
  const services: Record<string, ServiceConfig> = {};
  const disabled: Record<string, ServiceConfig> = {};
  for (const [sname, svc] of Object.entries(merged.services)) {
    const enabled = !svc.profiles?.length || active.has("*") || svc.profiles.some((p) => active.has(p));
    (enabled ? services : disabled)[sname] = finishService(sname, svc, env);
  }

  // networks and volumes, named as Docker Compose names them
  const networks: Record<string, NetworkConfig> = {};
  const usesDefault = Object.values(services).some((s) => !s.network_mode && (!s.networks || "default" in s.networks));
  if (usesDefault && !merged.networks.default) merged.networks.default = null;
  for (const [k, v] of Object.entries(merged.networks)) {
    const raw = (v ?? {}) as Raw;
    const ext = external(raw);
    const n: NetworkConfig = { ...(raw as object), name: (raw.name as string | undefined) ?? ext.name ?? (ext.external ? k : `${name}_${k}`) } as NetworkConfig;
    if (ext.external) n.external = true;
    if (raw.labels !== undefined) n.labels = toStringMap(raw.labels);
    networks[k] = n;
  }
  const volumes: Record<string, VolumeConfig> = {};
  for (const [k, v] of Object.entries(merged.volumes)) {
    const raw = (v ?? {}) as Raw;
    const ext = external(raw);
    const vol: VolumeConfig = { ...(raw as object), name: (raw.name as string | undefined) ?? ext.name ?? (ext.external ? k : `${name}_${k}`) } as VolumeConfig;
    if (ext.external) vol.external = true;
    if (raw.labels !== undefined) vol.labels = toStringMap(raw.labels);
    volumes[k] = vol;
  }
  const objects: Record<"configs" | "secrets", Record<string, FileObject>> = { configs: {}, secrets: {} };
  for (const kind of ["configs", "secrets"] as const)
    for (const [k, v] of Object.entries(merged[kind])) {
      const raw = (v ?? {}) as Raw;
      const ext = external(raw);
      const sources = (["file", "environment", "content"] as const).filter((f) => raw[f] !== undefined);
      if (sources.length + (ext.external ? 1 : 0) !== 1)
        throw invalid(`${kind}.${k}: give exactly one of file, environment${kind === "configs" ? ", content" : ""} or external`, { code: "compose.schema", field: `${kind}.${k}` });
      const o: FileObject = { name: (raw.name as string | undefined) ?? ext.name ?? (ext.external ? k : `${name}_${k}`) };
      if (ext.external) o.external = true;
      for (const f of sources) o[f] = String(raw[f]);
      objects[kind][k] = o;
    }
  for (const [sname, svc] of Object.entries(services)) {
    for (const kind of ["configs", "secrets"] as const)
      for (const g of svc[kind] ?? [])
        if (!objects[kind][g.source]) throw invalid(`service "${sname}" refers to undefined ${kind === "configs" ? "config" : "secret"} ${g.source}`, { code: `compose.${kind}`, field: `services.${sname}.${kind}`, hint: `declare it under the top-level ${kind}:` });
    if (!svc.network_mode && !svc.networks) svc.networks = { default: null };
    for (const n of Object.keys(svc.networks ?? {}))
      if (!networks[n]) throw invalid(`service "${sname}" refers to undefined network ${n}`, { code: "compose.network", field: `services.${sname}.networks.${n}` });
    for (const m of svc.volumes ?? [])
      if (m.type === "volume" && m.source && !volumes[m.source]) throw invalid(`service "${sname}" refers to undefined volume ${m.source}`, { code: "compose.volume", field: `services.${sname}.volumes`, hint: `declare it under the top-level volumes:` });
  }
  dependencyOrder(services, disabled);
  return { name, workingDir: projectDirectory, configFiles: files, environment: env, services, disabled, networks, volumes, configs: objects.configs, secrets: objects.secrets, warnings };
}

function toStringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v))
    for (const item of v as string[]) {
      const i = item.indexOf("=");
      out[i < 0 ? item : item.slice(0, i)] = i < 0 ? "" : item.slice(i + 1);
    }
  else for (const [k, val] of Object.entries((v as Raw) ?? {})) out[k] = String(val);
  return out;
}

/** A merged service made final: env_file read into environment, bare variables resolved from the project's environment. */
function finishService(name: string, svc: ServiceConfig & { env_file?: { path: string; required: boolean }[] }, env: Env): ServiceConfig {
  const { env_file, ...s } = svc;
  if (env_file?.length || s.environment) {
    const environment: Record<string, string | null> = {};
    for (const f of env_file ?? []) Object.assign(environment, readEnvFile(f.path, env, !f.required) ?? {});
    for (const [k, v] of Object.entries(s.environment ?? {})) {
      if (v !== null) environment[k] = v;
      else if (env[k] !== undefined) environment[k] = env[k]!;
      else delete environment[k];
    }
    s.environment = environment;
  }
  if (s.scale !== undefined && (!Number.isInteger(s.scale) || s.scale < 0)) throw invalid(`services.${name}.scale: must be a whole number of 0 or more`, { field: `services.${name}.scale` });
  return s;
}

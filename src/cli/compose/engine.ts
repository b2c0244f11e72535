// Compose's orchestration over the Docker Engine API: up and create (convergence by config hash,
// services in dependency order and in parallel where the graph allows, depends_on conditions
// waited for, scale; what must exist or be free is checked before anything is made, and a failed
// up removes what it made), down, and the project's containers for ps and logs. It speaks only through EngineClient, so it drives
// cove's daemon and dockerd alike. (It sits with the command line because src/compose is in a
// layer below the client.)

import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import net from "node:net";
import { pack } from "tar-stream";
import { conflict, CoveError, fromErrno, invalid, notFound, unsupported } from "../../common/errors.js";
import { bestEffortSync, ignored } from "../../common/ignore.js";
import { EngineError, type EngineClient } from "../../client/index.js";
import { bindsGrant, configHash, createBody, dependencies, dependencyOrder, endpoint, LABEL, projectLabels, type Project } from "../../compose/index.js";
import { parseGoDuration, type ContainerSummary } from "../../docker/index.js";
import { serviceImage } from "./build.js";
import { name } from "./common.js";

export interface UpOptions {
  forceRecreate?: boolean;
  noRecreate?: boolean;
  removeOrphans?: boolean;
  /** Wait for every service's containers to run (and be healthy when they have a healthcheck). */
  wait?: boolean;
  /** Only these services (and what they depend on, unless noDeps); all when empty. */
  services?: string[];
  noDeps?: boolean;
  /** Containers per service, over the file's scale and deploy.replicas (up --scale). */
  scale?: Record<string, number>;
  /** Create the containers without starting them (compose create). */
  noStart?: boolean;
  /** Progress lines ("Container p-web-1  Started"). */
  progress?: (line: string) => void;
  /** Builds a service's image from its build section: when the image is missing, or always (up --build). */
  build?: { always: boolean; run: (service: string) => Promise<void> };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The project's containers (one-off ones left out), all states. */
export async function projectContainers(client: EngineClient, project: string, all = true): Promise<ContainerSummary[]> {
  const list = await client.containerList({ all, filters: { label: [`${LABEL.project}=${project}`, `${LABEL.oneoff}=False`] } });
  return list.sort((a, b) => (a.Names[0] ?? "").localeCompare(b.Names[0] ?? ""));
}

function isNotFound(err: unknown): boolean {
  return err instanceof CoveError && err.kind === "not-found";
}

/** Checks what must exist before anything is made: external networks and volumes, images. Returns each service's image ID. */
async function preflight(client: EngineClient, project: Project, services: string[], build?: UpOptions["build"]): Promise<{ images: Map<string, string>; files: Map<string, GrantedFile[]> }> {
  const files = new Map(services.map((s) => [s, serviceFiles(project, s)]));
  const svcs = services.map((s) => project.services[s]!);
  const usedNets = new Set(svcs.flatMap((s) => Object.keys(s.networks ?? {})));
  const usedVols = new Set(svcs.flatMap((s) => (s.volumes ?? []).map((m) => m.source ?? "")));
  for (const [k, n] of Object.entries(project.networks)) {
    if (!n.external || !usedNets.has(k)) continue;
    try {
      await client.json("GET", `/networks/${encodeURIComponent(n.name)}`);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`network ${n.name} declared as external (networks.${k}), but could not be found`, { hint: `create it with: docker network create ${n.name}` });
      throw err;
    }
  }
  for (const [k, v] of Object.entries(project.volumes)) {
    if (!v.external || !usedVols.has(k)) continue;
    try {
      await client.volumeInspect(v.name);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`external volume "${v.name}" (volumes.${k}) not found`, { hint: `create it with: docker volume create ${v.name}` });
      throw err;
    }
  }
  const images = new Map<string, string>();
  for (const name of services) {
    const svc = project.services[name]!;
    const image = serviceImage(project, name);
    if (!image) throw invalid(`service "${name}" has neither an image nor a build context specified`, { field: `services.${name}.image` });
    if (svc.build !== undefined && build) {
      // built when asked to, or when its image is not there (as docker compose, which does not pull it then)
      const there = await client.imageInspect(image).then(
        () => true,
        (err: unknown) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
      if (build.always || svc.pull_policy === "build" || !there) await build.run(name);
      images.set(name, (await client.imageInspect(image)).Id);
      continue;
    }
    if (!svc.image)
      throw invalid(`service "${name}" is built from its build section`, { field: `services.${name}.build`, hint: `build it with cove compose build ${name}, or run cove compose up` });
    try {
      // pull_policy always: the registry's image even when one is here
      if (svc.pull_policy === "always") throw notFound(`pull_policy always: ${svc.image} is pulled`);
      images.set(name, (await client.imageInspect(svc.image)).Id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (svc.pull_policy === "never") throw notFound(`service "${name}": image ${svc.image} is not present, and its pull_policy is never`, { hint: `pull it (cove pull ${svc.image}) or change services.${name}.pull_policy` });
      const res = await client.imagePull({ fromImage: svc.image });
      let failure: string | undefined;
      for await (const chunk of res) for (const line of String(chunk).split("\n")) if (line.includes('"error"')) failure ??= (JSON.parse(line) as { error: string }).error;
      if (failure) throw notFound(`service "${name}": image ${svc.image} is not present and could not be pulled: ${failure}`);
      images.set(name, (await client.imageInspect(svc.image)).Id);
    }
  }
  return { images, files };
}

/** A file a config or secret puts into a container, read from its source. */
export interface GrantedFile {
  target: string;
  uid: number;
  gid: number;
  mode: number;
  data: Buffer;
}

/**
 * The configs and secrets of a service, checked and read now (a missing file or variable fails
 * before anything is made): bind-mounted ones (bindsGrant) only checked, the others' content read
 * for copying into each container before it starts.
 */
export function serviceFiles(project: Project, service: string): GrantedFile[] {
  const svc = project.services[service]!;
  const out: GrantedFile[] = [];
  for (const kind of ["configs", "secrets"] as const)
    for (const g of svc[kind] ?? []) {
      const o = project[kind][g.source]!;
      const what = `service "${service}": ${kind === "configs" ? "config" : "secret"} ${g.source}`;
      if (o.external)
        throw unsupported(`${what} is external: external configs and secrets live in a swarm, which cove does not run`, { hint: `give ${kind}.${g.source} a file, environment${kind === "configs" ? " or content" : ""} instead` });
      let data: Buffer;
      if (o.file !== undefined) {
        try {
          data = readFileSync(o.file);
        } catch (err) {
          throw fromErrno(err, `${what}: reading ${o.file}`);
        }
        if (bindsGrant(project, kind, g)) continue;
      } else if (o.environment !== undefined) {
        const v = project.environment[o.environment];
        if (v === undefined) throw invalid(`${what} takes its value from the environment variable ${o.environment}, which is not set`);
        data = Buffer.from(v);
      } else data = Buffer.from(o.content ?? "");
      // the write bits are ignored: a config or secret is read-only
      out.push({ target: g.target, uid: Number(g.uid ?? 0), gid: Number(g.gid ?? 0), mode: (g.mode ?? 0o444) & ~0o222, data });
    }
  return out;
}

/** Copies configs and secrets into a created container (missing directories are made 0755). */
export async function putFiles(client: EngineClient, id: string, files: GrantedFile[]): Promise<void> {
  if (!files.length) return;
  const p = pack();
  const mtime = new Date();
  for (const f of files) p.entry({ name: f.target.slice(1), type: "file", mode: f.mode, uid: f.uid, gid: f.gid, size: f.data.length, mtime }, f.data);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  await client.containerArchivePut(id, "/", Buffer.concat(chunks));
}

/** What one up made, so that a failure part way can take it back. */
interface Made {
  containers: { id: string; name: string }[];
  networks: string[];
  volumes: string[];
}

/** The host ports a service publishes at fixed numbers ("8080", or each of "8000-8002"). */
function fixedPorts(project: Project, service: string): { ip: string; port: number; proto: string; spec: string }[] {
  const out: { ip: string; port: number; proto: string; spec: string }[] = [];
  for (const p of project.services[service]!.ports ?? []) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p.published ?? "");
    if (!m) continue;
    const spec = `${p.host_ip ? `${p.host_ip}:` : ""}${p.published}:${p.target}/${p.protocol}`;
    // a range takes any free port of it: only a one-port range must be free
    if (m[2] && m[2] !== m[1]) continue;
    out.push({ ip: p.host_ip ?? "", port: Number(m[1]), proto: p.protocol, spec });
  }
  return out;
}

const anyIp = (ip: string) => ip === "" || ip === "0.0.0.0" || ip === "::";

/** Whether a local process (another engine's proxy, a server) holds the port: a bind says EADDRINUSE. */
function heldOnHost(ip: string, port: number, proto: string): Promise<boolean> {
  if (proto !== "tcp" && proto !== "udp") return Promise.resolve(false);
  const host = ip || "0.0.0.0";
  return new Promise((resolve) => {
    const done = (inUse: boolean, close: () => void) => {
      close();
      resolve(inUse);
    };
    if (proto === "udp") {
      const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
      s.once("error", (err: NodeJS.ErrnoException) => done(err.code === "EADDRINUSE", () => bestEffortSync("close a port probe", () => s.close())));
      s.bind(port, host, () => done(false, () => s.close()));
      return;
    }
    const srv = net.createServer();
    srv.once("error", (err: NodeJS.ErrnoException) => done(err.code === "EADDRINUSE", () => undefined));
    srv.listen({ port, host, exclusive: true }, () => done(false, () => srv.close()));
  });
}

/**
 * Fails, before anything is made, when a port a service publishes is taken: by a container
 * outside this project on the engine, or by anything on this host (ports this project's own
 * containers hold are theirs to keep or hand over when recreated).
 */
async function checkPorts(client: EngineClient, project: Project, services: string[], existing: ContainerSummary[]): Promise<void> {
  const wanted = services.flatMap((s) => fixedPorts(project, s).map((p) => ({ ...p, service: s })));
  if (!wanted.length) return;
  const overlap = (a: string, b: string) => anyIp(a) || anyIp(b) || a === b;
  const seen: typeof wanted = [];
  for (const w of wanted) {
    const twin = seen.find((o) => o.port === w.port && o.proto === w.proto && overlap(o.ip, w.ip));
    if (twin) throw conflict(`services.${w.service}.ports: host port ${w.port}/${w.proto} is published twice (by service "${twin.service}" too)`, { code: "up.port-taken" });
    seen.push(w);
  }
  const mine = new Set(existing.map((c) => c.Id));
  const others = (await client.containerList({})).filter((c) => !mine.has(c.Id));
  const ours = existing.flatMap((c) => c.Ports ?? []);
  for (const w of wanted) {
    const user = others.find((c) => (c.Ports ?? []).some((p) => p.PublicPort === w.port && p.Type === w.proto && overlap(p.IP ?? "", w.ip)));
    if (user)
      throw conflict(`services.${w.service}.ports (${w.spec}): host port ${w.port}/${w.proto} is already allocated by container ${name(user)}`, {
        code: "up.port-taken",
        hint: "stop that container or publish another port",
      });
    if (ours.some((p) => p.PublicPort === w.port && p.Type === w.proto)) continue;
    if (await heldOnHost(w.ip, w.port, w.proto))
      throw conflict(`services.${w.service}.ports (${w.spec}): host port ${w.ip || "0.0.0.0"}:${w.port}/${w.proto} is already in use on this host`, {
        code: "up.port-taken",
        hint: "stop what listens there or publish another port",
      });
  }
}

async function ensureNetworks(client: EngineClient, project: Project, used: Set<string>, made: Made, progress: (l: string) => void): Promise<void> {
  for (const [key, n] of Object.entries(project.networks)) {
    if (n.external || !used.has(key)) continue;
    try {
      const existing = await client.json<{ Labels?: Record<string, string> }>("GET", `/networks/${encodeURIComponent(n.name)}`);
      if (existing.Labels?.[LABEL.project] !== project.name)
        progress(`WARN: a network with name ${n.name} exists but was not created for project "${project.name}"; using it`);
      continue;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await client.json("POST", "/networks/create", {
      body: {
        Name: n.name,
        Driver: n.driver ?? "bridge",
        Options: n.driver_opts ?? {},
        Internal: n.internal ?? false,
        Attachable: n.attachable ?? false,
        EnableIPv6: n.enable_ipv6 ?? false,
        IPAM: n.ipam ? { Driver: n.ipam.driver ?? "default", Config: (n.ipam.config ?? []).map((c) => ({ Subnet: c.subnet, Gateway: c.gateway, IPRange: c.ip_range })) } : undefined,
        Labels: { ...(n.labels ?? {}), ...projectLabels(project), [LABEL.network]: key },
        CheckDuplicate: true,
      },
    });
    made.networks.push(n.name);
    progress(`Network ${n.name}  Created`);
  }
}

async function ensureVolumes(client: EngineClient, project: Project, used: Set<string>, made: Made, progress: (l: string) => void): Promise<void> {
  for (const [key, v] of Object.entries(project.volumes)) {
    if (v.external || !used.has(key)) continue;
    try {
      await client.volumeInspect(v.name);
      continue;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await client.volumeCreate({ Name: v.name, Driver: v.driver ?? "local", DriverOpts: v.driver_opts ?? {}, Labels: { ...(v.labels ?? {}), ...projectLabels(project), [LABEL.volume]: key } });
    made.volumes.push(v.name);
    progress(`Volume ${v.name}  Created`);
  }
}

/** Removes what a failed up made, newest first; returns what it removed and what it could not, for the error. */
async function rollback(client: EngineClient, made: Made): Promise<{ removed: string[]; left: string[] }> {
  const removed: string[] = [];
  const left: string[] = [];
  const attempt = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
      removed.push(what);
    } catch (err) {
      if (isNotFound(err)) return removed.push(what);
      ignored(`roll back the failed up: remove ${what}`, err);
      left.push(what);
    }
  };
  for (const c of [...made.containers].reverse()) await attempt(`container ${c.name}`, () => client.containerRemove(c.id, { force: true, v: true }));
  for (const n of [...made.networks].reverse()) await attempt(`network ${n}`, () => client.json("DELETE", `/networks/${encodeURIComponent(n)}`));
  for (const v of [...made.volumes].reverse()) await attempt(`volume ${v}`, () => client.volumeRemove(v));
  return { removed, left };
}

/** Waits until the condition of a dependency holds for every container of `service`. */
async function waitFor(client: EngineClient, service: string, condition: string, ids: string[]): Promise<void> {
  const deadline = Date.now() + 10 * 60_000;
  for (const id of ids) {
    // quick looks at first (a healthcheck's first probe often answers within a few hundred ms, and
    // each look is one inspect), fewer as the wait goes on
    const since = Date.now();
    for (;;) {
      const c = await client.containerInspect(id);
      const st = c.State;
      if (condition === "service_completed_successfully") {
        if (!st.Running && st.Status === "exited") {
          if (st.ExitCode !== 0) throw invalid(`service "${service}" didn't complete successfully: exit ${st.ExitCode}`);
          break;
        }
      } else if (condition === "service_healthy") {
        if (!c.Config.Healthcheck?.Test || c.Config.Healthcheck.Test[0] === "NONE") throw invalid(`service "${service}" has no healthcheck: it cannot be waited for as service_healthy`);
        if (st.Health?.Status === "healthy") break;
        if (st.Health?.Status === "unhealthy") throw invalid(`dependency failed to start: container ${c.Name.slice(1)} is unhealthy`);
        if (!st.Running && st.Status === "exited") throw invalid(`dependency failed to start: container ${c.Name.slice(1)} exited (${st.ExitCode})`);
      } else {
        // service_started, and --wait for services without a healthcheck
        if (st.Running) {
          if (!c.Config.Healthcheck?.Test || c.Config.Healthcheck.Test[0] === "NONE" || condition === "service_started") break;
          if (st.Health?.Status === "healthy") break;
          if (st.Health?.Status === "unhealthy") throw invalid(`container ${c.Name.slice(1)} is unhealthy`);
        } else if (st.Status === "exited" && condition === "running") throw invalid(`container ${c.Name.slice(1)} exited (${st.ExitCode})`);
        else if (st.Status === "exited" && condition === "service_started") break;
      }
      if (Date.now() > deadline) throw invalid(`timed out waiting for service "${service}" (${condition})`);
      const waited = Date.now() - since;
      await sleep(waited < 3000 ? 20 : waited < 10_000 ? 100 : 250);
    }
  }
}

/** The services an up works on: the named ones and, unless noDeps, what they depend on; all when none is named. */
export function selectServices(project: Project, names: string[] | undefined, noDeps = false): string[] {
  const order = dependencyOrder(project.services, project.disabled);
  if (!names?.length) return order;
  for (const n of names) {
    if (project.disabled[n]) throw invalid(`service "${n}" is disabled by its profiles`, { hint: `enable one of its profiles with --profile ${project.disabled[n]!.profiles?.[0] ?? ""}` });
    if (!project.services[n]) throw invalid(`no such service: ${n}`);
  }
  const want = new Set(names);
  if (!noDeps)
    for (let grew = true; grew; ) {
      grew = false;
      for (const s of [...want])
        for (const d of dependencies(project.services[s]!))
          if (project.services[d] && !want.has(d)) {
            want.add(d);
            grew = true;
          }
    }
  return order.filter((s) => want.has(s));
}

/**
 * Brings the project up and converged; returns the services whose containers were (re)created.
 * When it fails part way, what it made is removed again and the error says so.
 */
export async function up(client: EngineClient, project: Project, opts: UpOptions = {}): Promise<Set<string>> {
  const progress = opts.progress ?? (() => undefined);
  const order = selectServices(project, opts.services, opts.noDeps);
  const scaleOf = (s: string) => opts.scale?.[s] ?? project.services[s]!.scale ?? 1;
  for (const [s, n] of Object.entries(opts.scale ?? {})) {
    if (!project.services[s]) throw invalid(`--scale ${s}=${n}: no such service: ${s}`);
    if (!Number.isInteger(n) || n < 0) throw invalid(`--scale ${s}=${n}: the number of containers must be a whole number of 0 or more`);
  }
  for (const s of order)
    if (project.services[s]!.container_name && scaleOf(s) > 1)
      throw invalid(`services.${s}: container_name "${project.services[s]!.container_name}" names one container, so the service cannot be scaled to ${scaleOf(s)}`);
  const { images, files } = await preflight(client, project, order, opts.build);
  const existing = await projectContainers(client, project.name);
  if (!opts.noStart) await checkPorts(client, project, order, existing);
  const made: Made = { containers: [], networks: [], volumes: [] };
  let all: { s: string; ids: string[] }[];
  let recreated: Set<string>;
  try {
    ({ all, recreated } = await converge(client, project, order, images, files, existing, made, scaleOf, opts, progress));
  } catch (err) {
    if (!made.containers.length && !made.networks.length && !made.volumes.length) throw err;
    const { removed, left } = await rollback(client, made);
    const base = err instanceof EngineError ? `Error response from daemon: ${err.message}` : err instanceof Error ? err.message : String(err);
    const undone = `rolled back what this up made: removed ${removed.join(", ") || "nothing"}${left.length ? `; could not remove ${left.join(", ")}` : ""}`;
    // printed as is: the daemon's error keeps its prefix, cove's own reads as the others do
    const text = err instanceof EngineError ? base : `Error: ${base}`;
    throw new CoveError(err instanceof CoveError ? err.kind : "system", `${text}\n${undone}`, { code: "cli.rolled-back", cause: err, hint: err instanceof CoveError ? err.hint : undefined });
  }
  // everything is up: a service that then fails --wait keeps its containers (and their logs) to look at
  if (opts.wait && !opts.noStart) for (const { s, ids } of all) await waitFor(client, s, "running", ids);
  return recreated;
}

async function converge(
  client: EngineClient,
  project: Project,
  order: string[],
  images: Map<string, string>,
  files: Map<string, GrantedFile[]>,
  existing: ContainerSummary[],
  made: Made,
  scaleOf: (s: string) => number,
  opts: UpOptions,
  progress: (l: string) => void,
): Promise<{ all: { s: string; ids: string[] }[]; recreated: Set<string> }> {
  const whole = !opts.services?.length;
  const orphans = whole ? existing.filter((c) => !project.services[c.Labels[LABEL.service] ?? ""]) : [];
  if (orphans.length) {
    if (opts.removeOrphans)
      for (const o of orphans) {
        await client.containerRemove(o.Id, { force: true });
        progress(`Container ${name(o)}  Removed`);
      }
    else progress(`WARN: found orphan containers (${orphans.map(name).join(", ")}) for this project; run with --remove-orphans to clean them up`);
  }
  const svcs = order.map((s) => project.services[s]!);
  await ensureNetworks(client, project, new Set(svcs.flatMap((s) => Object.keys(s.networks ?? {}))), made, progress);
  await ensureVolumes(client, project, new Set(svcs.flatMap((s) => (s.volumes ?? []).filter((m) => m.type === "volume" && m.source).map((m) => m.source!))), made, progress);

  const recreated = new Set<string>();
  const started = new Map<string, Promise<string[]>>();
  const inOrder = new Set(order);
  const one = (svcName: string): Promise<string[]> => {
    let p = started.get(svcName);
    if (p) return p;
    p = (async () => {
      const svc = project.services[svcName]!;
      const deps = dependencies(svc).filter((d) => project.services[d] && inOrder.has(d));
      const depIds = await Promise.all(deps.map(async (d) => ({ d, ids: await one(d) })));
      // the dependencies' conditions (healthy, completed...) hold before a container of this service
      // starts; its containers are created meanwhile, as Docker Compose creates before it starts
      let depsReady: Promise<void> | undefined;
      const waitDeps = () =>
        (depsReady ??= (async () => {
          for (const { d, ids } of depIds) await waitFor(client, d, svc.depends_on?.[d]?.condition ?? "service_started", ids);
        })());
      const depChanged = deps.some((d) => recreated.has(d));
      const hash = configHash(svc);
      const mine = existing.filter((c) => c.Labels[LABEL.service] === svcName);
      const scale = scaleOf(svcName);
      const ids: string[] = [];
      const start = async (id: string, cname: string) => {
        if (opts.noStart) return;
        await waitDeps();
        await client.containerStart(id);
        progress(`Container ${cname}  Started`);
      };
      for (let n = 1; n <= scale; n++) {
        const cur = mine.find((c) => c.Labels[LABEL.number] === String(n));
        const stale = cur && !opts.noRecreate && (opts.forceRecreate || cur.Labels[LABEL.hash] !== hash || depChanged || cur.ImageID !== images.get(svcName));
        if (cur && !stale) {
          if (cur.State === "running") progress(`Container ${name(cur)}  Running`);
          else if (cur.State === "paused") progress(`Container ${name(cur)}  Paused`);
          else await start(cur.Id, name(cur));
          ids.push(cur.Id);
          continue;
        }
        if (cur) {
          await client.containerStop(cur.Id, svc.stop_grace_period ? { t: Math.round(parseGoDuration(svc.stop_grace_period) / 1e9) } : {});
          await client.containerRemove(cur.Id, { force: true });
          progress(`Container ${name(cur)}  Recreated`);
        }
        const body = createBody(project, svcName, n, images.get(svcName)!);
        // network_mode service:X joins the network namespace of X's first container
        if (svc.network_mode?.startsWith("service:")) {
          const target = svc.network_mode.slice("service:".length);
          const tid = depIds.find((d) => d.d === target)?.ids[0] ?? existing.find((c) => c.Labels[LABEL.service] === target)?.Id;
          if (!tid) throw invalid(`service "${svcName}" uses the network of service "${target}", which has no container (scale 0?)`);
          (body.HostConfig as Record<string, unknown>).NetworkMode = `container:${tid}`;
        }
        const cname = svc.container_name ?? `${project.name}-${svcName}-${n}`;
        const { Id } = await client.containerCreate(body, { name: cname });
        made.containers.push({ id: Id, name: cname });
        recreated.add(svcName);
        if (opts.noStart) progress(`Container ${cname}  Created`);
        // the service's other networks, after the first given at create
        const nets = Object.keys(svc.networks ?? {}).sort((a, b) => (svc.networks?.[b]?.priority ?? 0) - (svc.networks?.[a]?.priority ?? 0));
        if (!svc.network_mode)
          for (const key of nets.slice(1))
            await client.json("POST", `/networks/${encodeURIComponent(project.networks[key]!.name)}/connect`, { body: { Container: Id, EndpointConfig: endpoint(project, svcName, key, n) } });
        await putFiles(client, Id, files.get(svcName) ?? []);
        await start(Id, cname);
        ids.push(Id);
      }
      // scaled down: the highest numbers go
      for (const extra of mine.filter((c) => Number(c.Labels[LABEL.number]) > scale).sort((a, b) => Number(b.Labels[LABEL.number]) - Number(a.Labels[LABEL.number]))) {
        if (extra.State === "running") await client.containerStop(extra.Id, svc.stop_grace_period ? { t: Math.round(parseGoDuration(svc.stop_grace_period) / 1e9) } : {});
        await client.containerRemove(extra.Id, { force: true });
        progress(`Container ${name(extra)}  Removed`);
      }
      return ids;
    })();
    started.set(svcName, p);
    return p;
  };
  const all = await Promise.all(order.map(async (s) => ({ s, ids: await one(s) })));
  return { all, recreated };
}

export interface DownOptions {
  volumes?: boolean;
  removeOrphans?: boolean;
  /** down --rmi: "all" removes every service's image, "local" only those compose named itself (built, without an image field). */
  rmi?: "all" | "local";
  progress?: (line: string) => void;
}

/** Stops and removes the project's containers, one-offs included (dependents first), then its networks, and with `volumes` its volumes. */
export async function down(client: EngineClient, project: Project, opts: DownOptions = {}): Promise<void> {
  const progress = opts.progress ?? (() => undefined);
  // one-off containers (run) go too: they sit on the project's networks
  const containers = (await client.containerList({ all: true, filters: { label: [`${LABEL.project}=${project.name}`] } })).sort((a, b) => name(a).localeCompare(name(b)));
  const order = dependencyOrder(project.services, project.disabled);
  const rank = (c: ContainerSummary) => order.indexOf(c.Labels[LABEL.service] ?? "");
  const known = containers.filter((c) => rank(c) >= 0 || project.disabled[c.Labels[LABEL.service] ?? ""]);
  const orphans = containers.filter((c) => !known.includes(c));
  if (orphans.length && !opts.removeOrphans) progress(`WARN: found orphan containers (${orphans.map((o) => o.Names[0]?.slice(1)).join(", ")}) for this project; run with --remove-orphans to clean them up`);
  const targets = [...known, ...(opts.removeOrphans ? orphans : [])];
  // dependents stop before what they depend on: services in reverse dependency order, each level in parallel
  const levels = new Map<number, ContainerSummary[]>();
  for (const c of targets) {
    const r = rank(c);
    levels.set(r, [...(levels.get(r) ?? []), c]);
  }
  for (const r of [...levels.keys()].sort((a, b) => b - a))
    await Promise.all(
      levels.get(r)!.map(async (c) => {
        const name = c.Names[0]?.slice(1) ?? c.Id;
        if (c.State === "running" || c.State === "paused" || c.State === "restarting") {
          await client.containerStop(c.Id);
          progress(`Container ${name}  Stopped`);
        }
        await client.containerRemove(c.Id, { force: true, v: opts.volumes ?? false });
        progress(`Container ${name}  Removed`);
      }),
    );
  for (const [, n] of Object.entries(project.networks)) {
    if (n.external) continue;
    try {
      const existing = await client.json<{ Labels?: Record<string, string> }>("GET", `/networks/${encodeURIComponent(n.name)}`);
      if (existing.Labels?.[LABEL.project] !== project.name) continue;
      await client.json("DELETE", `/networks/${encodeURIComponent(n.name)}`);
      progress(`Network ${n.name}  Removed`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  if (opts.volumes)
    for (const [, v] of Object.entries(project.volumes)) {
      if (v.external) continue;
      try {
        const existing = await client.volumeInspect(v.name);
        if (existing.Labels?.[LABEL.project] !== project.name) continue;
        await client.volumeRemove(v.name);
        progress(`Volume ${v.name}  Removed`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  if (opts.rmi) {
    const names = new Set<string>();
    for (const [s, svc] of Object.entries(project.services)) {
      if (opts.rmi === "local" && svc.image) continue;
      const image = serviceImage(project, s);
      if (image) names.add(image);
    }
    for (const image of names) {
      try {
        await client.imageRemove(image);
        progress(`Image ${image}  Removed`);
      } catch (err) {
        // an image another container still uses stays, as with docker compose
        if (isNotFound(err)) continue;
        if (err instanceof EngineError && err.status === 409) progress(`Image ${image}  Kept (in use: ${err.message})`);
        else throw err;
      }
    }
  }
}

/**
 * What `run` needs before its one-off container: the service's dependencies up (unless noDeps)
 * and their conditions met, its image present, its networks and volumes made. Returns the image ID.
 */
export async function prepareRun(client: EngineClient, project: Project, service: string, opts: { noDeps?: boolean; progress?: (l: string) => void }): Promise<string> {
  const progress = opts.progress ?? (() => undefined);
  const svc = project.services[service]!;
  const deps = opts.noDeps ? [] : dependencies(svc).filter((d) => project.services[d]);
  if (deps.length) {
    await up(client, project, { services: deps, progress });
    for (const d of deps) {
      const ids = (await projectContainers(client, project.name)).filter((c) => c.Labels[LABEL.service] === d).map((c) => c.Id);
      await waitFor(client, d, svc.depends_on?.[d]?.condition ?? "service_started", ids);
    }
  }
  const { images } = await preflight(client, project, [service]);
  const made: Made = { containers: [], networks: [], volumes: [] };
  await ensureNetworks(client, project, new Set(Object.keys(svc.networks ?? {})), made, progress);
  await ensureVolumes(client, project, new Set((svc.volumes ?? []).filter((m) => m.type === "volume" && m.source).map((m) => m.source!)), made, progress);
  return images.get(service)!;
}

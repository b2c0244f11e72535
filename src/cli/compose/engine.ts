// Compose's orchestration over the Docker Engine API: up (convergence by config hash, services in
// dependency order and in parallel where the graph allows, depends_on conditions waited for), down,
// and the project's containers for ps and logs. It speaks only through EngineClient, so it drives
// cove's daemon and dockerd alike. (It sits with the command line because src/compose is in a
// layer below the client.)

import { CoveError, invalid, notFound } from "../../common/errors.js";
import type { EngineClient } from "../../client/index.js";
import { configHash, createBody, dependencies, dependencyOrder, endpoint, LABEL, projectLabels, type Project } from "../../compose/index.js";
import { parseGoDuration, type ContainerSummary } from "../../docker/index.js";

export interface UpOptions {
  forceRecreate?: boolean;
  noRecreate?: boolean;
  removeOrphans?: boolean;
  /** Wait for every service's containers to run (and be healthy when they have a healthcheck). */
  wait?: boolean;
  /** Progress lines ("Container p-web-1  Started"). */
  progress?: (line: string) => void;
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
async function preflight(client: EngineClient, project: Project): Promise<Map<string, string>> {
  for (const [k, n] of Object.entries(project.networks)) {
    if (!n.external) continue;
    try {
      await client.json("GET", `/networks/${encodeURIComponent(n.name)}`);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`network ${n.name} declared as external (networks.${k}), but could not be found`, { hint: `create it with: docker network create ${n.name}` });
      throw err;
    }
  }
  for (const [k, v] of Object.entries(project.volumes)) {
    if (!v.external) continue;
    try {
      await client.volumeInspect(v.name);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`external volume "${v.name}" (volumes.${k}) not found`, { hint: `create it with: docker volume create ${v.name}` });
      throw err;
    }
  }
  const images = new Map<string, string>();
  for (const [name, svc] of Object.entries(project.services)) {
    if (!svc.image) throw invalid(`service "${name}" has neither an image nor a build context specified`, { field: `services.${name}.image` });
    try {
      images.set(name, (await client.imageInspect(svc.image)).Id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const res = await client.imagePull({ fromImage: svc.image });
      let failure: string | undefined;
      for await (const chunk of res) for (const line of String(chunk).split("\n")) if (line.includes('"error"')) failure ??= (JSON.parse(line) as { error: string }).error;
      if (failure) throw notFound(`service "${name}": image ${svc.image} is not present and could not be pulled: ${failure}`);
      images.set(name, (await client.imageInspect(svc.image)).Id);
    }
  }
  return images;
}

async function ensureNetworks(client: EngineClient, project: Project, used: Set<string>, progress: (l: string) => void): Promise<void> {
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
    progress(`Network ${n.name}  Created`);
  }
}

async function ensureVolumes(client: EngineClient, project: Project, progress: (l: string) => void): Promise<void> {
  for (const [key, v] of Object.entries(project.volumes)) {
    if (v.external) continue;
    try {
      await client.volumeInspect(v.name);
      continue;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await client.volumeCreate({ Name: v.name, Driver: v.driver ?? "local", DriverOpts: v.driver_opts ?? {}, Labels: { ...(v.labels ?? {}), ...projectLabels(project), [LABEL.volume]: key } });
    progress(`Volume ${v.name}  Created`);
  }
}

/** Waits until the condition of a dependency holds for every container of `service`. */
async function waitFor(client: EngineClient, service: string, condition: string, ids: string[]): Promise<void> {
  const deadline = Date.now() + 10 * 60_000;
  for (const id of ids) {
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
      await sleep(200);
    }
  }
}

/** Brings the project up and converged; returns the services whose containers were (re)created. */
export async function up(client: EngineClient, project: Project, opts: UpOptions = {}): Promise<Set<string>> {
  const progress = opts.progress ?? (() => undefined);
  const order = dependencyOrder(project.services, project.disabled);
  const images = await preflight(client, project);
  const used = new Set(Object.values(project.services).flatMap((s) => Object.keys(s.networks ?? {})));
  const existing = await projectContainers(client, project.name);
  const orphans = existing.filter((c) => !project.services[c.Labels[LABEL.service] ?? ""]);
  if (orphans.length) {
    if (opts.removeOrphans)
      for (const o of orphans) {
        await client.containerRemove(o.Id, { force: true });
        progress(`Container ${o.Names[0]?.slice(1)}  Removed`);
      }
    else progress(`WARN: found orphan containers (${orphans.map((o) => o.Names[0]?.slice(1)).join(", ")}) for this project; run with --remove-orphans to clean them up`);
  }
  await ensureNetworks(client, project, used, progress);
  await ensureVolumes(client, project, progress);

  const recreated = new Set<string>();
  const started = new Map<string, Promise<string[]>>();
  const converge = (name: string): Promise<string[]> => {
    let p = started.get(name);
    if (p) return p;
    p = (async () => {
      const svc = project.services[name]!;
      const deps = dependencies(svc).filter((d) => project.services[d]);
      const depIds = await Promise.all(deps.map(async (d) => ({ d, ids: await converge(d) })));
      for (const { d, ids } of depIds) await waitFor(client, d, svc.depends_on?.[d]?.condition ?? "service_started", ids);
      const depChanged = deps.some((d) => recreated.has(d));
      const hash = configHash(svc);
      const mine = existing.filter((c) => c.Labels[LABEL.service] === name);
      const scale = svc.scale ?? 1;
      const ids: string[] = [];
      for (let n = 1; n <= scale; n++) {
        const cur = mine.find((c) => c.Labels[LABEL.number] === String(n));
        const stale = cur && !opts.noRecreate && (opts.forceRecreate || cur.Labels[LABEL.hash] !== hash || depChanged || cur.ImageID !== images.get(name));
        if (cur && !stale) {
          if (cur.State !== "running") {
            await client.containerStart(cur.Id);
            progress(`Container ${cur.Names[0]?.slice(1)}  Started`);
          } else progress(`Container ${cur.Names[0]?.slice(1)}  Running`);
          ids.push(cur.Id);
          continue;
        }
        if (cur) {
          await client.containerStop(cur.Id, svc.stop_grace_period ? { t: Math.round(parseGoDuration(svc.stop_grace_period) / 1e9) } : {});
          await client.containerRemove(cur.Id, { force: true });
          progress(`Container ${cur.Names[0]?.slice(1)}  Recreated`);
        }
        const body = createBody(project, name, n, images.get(name)!);
        // network_mode service:X joins the network namespace of X's first container
        if (svc.network_mode?.startsWith("service:")) {
          const target = svc.network_mode.slice("service:".length);
          const tid = depIds.find((d) => d.d === target)?.ids[0];
          if (!tid) throw invalid(`service "${name}" uses the network of service "${target}", which has no container (scale 0?)`);
          (body.HostConfig as Record<string, unknown>).NetworkMode = `container:${tid}`;
        }
        const cname = svc.container_name ?? `${project.name}-${name}-${n}`;
        const { Id } = await client.containerCreate(body, { name: cname });
        recreated.add(name);
        // the service's other networks, after the first given at create
        const nets = Object.keys(svc.networks ?? {}).sort((a, b) => (svc.networks?.[b]?.priority ?? 0) - (svc.networks?.[a]?.priority ?? 0));
        if (!svc.network_mode)
          for (const key of nets.slice(1))
            await client.json("POST", `/networks/${encodeURIComponent(project.networks[key]!.name)}/connect`, { body: { Container: Id, EndpointConfig: endpoint(project, name, key, n) } });
        await client.containerStart(Id);
        progress(`Container ${cname}  Started`);
        ids.push(Id);
      }
      for (const extra of mine.filter((c) => Number(c.Labels[LABEL.number]) > scale)) {
        await client.containerRemove(extra.Id, { force: true });
        progress(`Container ${extra.Names[0]?.slice(1)}  Removed`);
      }
      return ids;
    })();
    started.set(name, p);
    return p;
  };
  const all = await Promise.all(order.map(async (name) => ({ name, ids: await converge(name) })));
  if (opts.wait) for (const { name, ids } of all) await waitFor(client, name, "running", ids);
  return recreated;
}

export interface DownOptions {
  volumes?: boolean;
  removeOrphans?: boolean;
  progress?: (line: string) => void;
}

/** Stops and removes the project's containers (dependents first), then its networks, and with `volumes` its volumes. */
export async function down(client: EngineClient, project: Project, opts: DownOptions = {}): Promise<void> {
  const progress = opts.progress ?? (() => undefined);
  const containers = await projectContainers(client, project.name);
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
}

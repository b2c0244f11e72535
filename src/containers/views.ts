// What clients read about containers: inspect, list (ps), sizes, top and stats.

import path from "node:path";
import { conflict, CoveError, invalid, isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { readProcFile } from "./host.js";
import { humanDuration } from "../docker/index.js";
import { treeSize } from "../fsroot/index.js";
import { dockerStats, emptyStats, hostCpu, parseNetDev, withPrevious, ZERO_TIME as STATS_ZERO_TIME, type DockerStats } from "./stats.js";
import { runPs, type TopResult } from "./top.js";
import { publicMountPoint } from "./mounts.js";
import { normalizeNetworkMode } from "./spec.js";
import type { ContainerInspect, ContainerSummary, NetworkSettings } from "./types.js";
import { ListOptions, Live, ZERO_TIME } from "./core.js";
import { overlayDirs } from "./rootfs.js";
import type { ContainerCore } from "./core.js";
import { storageDriver } from "../snapshots/index.js";

export class Views {
  constructor(private readonly core: ContainerCore) {}

  async inspect(ref: string, opts: { size?: boolean } = {}): Promise<ContainerInspect> {
    const c = this.core.find(ref);
    const r = c.rec;
    const networkMode = normalizeNetworkMode(c.hc.NetworkMode);
    const dirs = overlayDirs(r.RootfsMounts);
    const linkNames = this.core.m.create.links(c).map((l) => `${l.child.rec.Name}:${l.linkName}`);
    const doc: ContainerInspect = {
      Id: r.ID,
      Created: r.Created,
      Path: r.Path,
      Args: r.Args,
      State: { ...r.State, ...(r.State.Health ? { Health: { ...r.State.Health, Log: [...r.State.Health.Log] } } : {}) },
      Image: r.Image,
      ResolvConfPath: path.join(c.dir, "resolv.conf"),
      HostnamePath: path.join(c.dir, "hostname"),
      HostsPath: path.join(c.dir, "hosts"),
      LogPath: this.core.logPath(c),
      Name: r.Name,
      RestartCount: r.RestartCount,
      Driver: r.Driver,
      Platform: r.Platform,
      MountLabel: r.MountLabel,
      ProcessLabel: r.ProcessLabel,
      AppArmorProfile: r.AppArmorProfile,
      ExecIDs: [...this.core.execs.values()].filter((e) => e.containerId === r.ID && e.running).map((e) => e.id),
      // legacy links as dockerd shows them: "/child:/parent/alias", for the linked containers that exist
      HostConfig: { ...c.hc, Links: linkNames.length ? linkNames : null },
      GraphDriver: { Name: storageDriver().driver, Data: { ...dirs, MergedDir: this.core.rootfsPath(c) } },
      Mounts: r.MountPoints.map(publicMountPoint),
      // moby's Config always has Volumes (a Go map: null when there are none)
      Config: { ...r.Config, Labels: r.Config.Labels ?? {}, Volumes: r.Config.Volumes ?? null },
      NetworkSettings: this.networkSettings(c, networkMode),
    };
    if (doc.ExecIDs?.length === 0) doc.ExecIDs = null;
    if (opts.size) Object.assign(doc, await this.sizes(c));
    return doc;
  }

  networkSettings(c: Live, mode: string): NetworkSettings {
    return this.core.network.settings(c.rec.ID, mode, c.rec.State.Running, c.rec.Config.ExposedPorts ?? undefined);
  }

  async sizes(c: Live): Promise<{ SizeRw: number; SizeRootFs: number }> {
    const dirs = overlayDirs(c.rec.RootfsMounts);
    // Docker's init layer is not the container's: the /etc/mtab link cove made in its place is not counted
    const rw = dirs.UpperDir ? await treeSize(dirs.UpperDir, (rel, st) => rel === "etc/mtab" && st.isSymbolicLink()) : 0;
    let image = 0;
    try {
      image = (await this.core.images.inspect(c.rec.Image)).Size;
    } catch (err) {
      // the image was removed under the container (rmi --force): its size is unknown; any other
      // failure is logged, and the sizes still answer
      if (!(err instanceof CoveError && err.kind === "not-found")) ignored(`read the size of image ${c.rec.Image} of container ${c.rec.ID}`, err, this.core.log);
      image = 0;
    }
    return { SizeRw: rw, SizeRootFs: rw + image };
  }

  statusText(c: Live): string {
    const s = c.rec.State;
    const health = s.Health ? (s.Health.Status === "starting" ? " (health: starting)" : ` (${s.Health.Status})`) : "";
    switch (s.Status) {
      case "running":
        return `Up ${humanDuration(Date.now() - Date.parse(s.StartedAt))}${health}`;
      case "paused":
        return `Up ${humanDuration(Date.now() - Date.parse(s.StartedAt))} (Paused)`;
      case "restarting":
        return `Restarting (${s.ExitCode}) ${humanDuration(Date.now() - Date.parse(s.FinishedAt))} ago`;
      case "removing":
        return "Removal In Progress";
      case "dead":
        return "Dead";
      case "created":
        return "Created";
      default:
        if (s.FinishedAt === ZERO_TIME) return "Created";
        return `Exited (${s.ExitCode}) ${humanDuration(Date.now() - Date.parse(s.FinishedAt))} ago`;
    }
  }

  summary(c: Live): ContainerSummary {
    const r = c.rec;
    const command = r.Args.length ? `${r.Path} ${r.Args.map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}` : r.Path;
    const mode = normalizeNetworkMode(c.hc.NetworkMode);
    return {
      Id: r.ID,
      Names: [r.Name],
      Image: r.Config.Image ?? r.Image,
      ImageID: r.Image,
      Command: command,
      Created: Math.floor(Date.parse(r.Created) / 1000),
      Ports: this.portList(c, mode),
      Labels: r.Config.Labels ?? {},
      State: r.State.Status,
      Status: this.statusText(c),
      HostConfig: { NetworkMode: mode, ...(c.hc.Annotations ? { Annotations: c.hc.Annotations } : {}) },
      NetworkSettings: { Networks: this.networkSettings(c, mode).Networks },
      Mounts: r.MountPoints.map(publicMountPoint),
    };
  }

  /** The Ports of a container summary: published ports, then exposed ones without a binding. */
  portList(c: Live, mode: string): ContainerSummary["Ports"] {
    const out: ContainerSummary["Ports"] = [];
    const published = c.rec.State.Running ? this.core.network.settings(c.rec.ID, mode, true).Ports : {};
    for (const [key, list] of Object.entries(published)) {
      const [port = "0", type = "tcp"] = key.split("/");
      for (const b of list ?? []) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
    }
    for (const key of Object.keys(c.rec.Config.ExposedPorts ?? {})) {
      if (published[key]) continue;
      const [port = "0", type = "tcp"] = key.split("/");
      out.push({ PrivatePort: Number(port), Type: type });
    }
    return out;
  }

  async list(opts: ListOptions = {}): Promise<ContainerSummary[]> {
    const filters = opts.filters ?? {};
    for (const key of Object.keys(filters)) {
      if (!["id", "name", "label", "status", "ancestor", "exited", "before", "since", "health", "network", "volume", "is-task", "publish", "expose"].includes(key)) {
        throw invalid(`invalid filter '${key}'`, { code: "filter.invalid" });
      }
    }
    for (const s of filters.status ?? []) {
      if (!["created", "restarting", "running", "removing", "paused", "exited", "dead"].includes(s)) {
        throw invalid(`invalid filter 'status=${s}'`, { code: "filter.invalid" });
      }
    }
    let all = [...this.core.containers.values()].sort((a, b) => (a.rec.Created < b.rec.Created ? 1 : a.rec.Created > b.rec.Created ? -1 : 0));
    const createdOf = (ref: string) => this.core.find(ref).rec.Created;
    const before = filters.before?.map(createdOf);
    const since = filters.since?.map(createdOf);
    let ancestorIds: Set<string> | undefined;
    if (filters.ancestor) {
      ancestorIds = new Set();
      for (const a of filters.ancestor) {
        try {
          ancestorIds.add((await this.core.images.inspect(a)).Id);
        } catch (err) {
          // no such image (or not a reference): matched as written, as dockerd does; any other
          // failure is logged, and the list still answers
          if (!(err instanceof CoveError && (err.kind === "not-found" || err.kind === "invalid"))) ignored(`resolve image ${a} of the ancestor filter`, err, this.core.log);
          ancestorIds.add(a);
        }
      }
    }
    const showAll = opts.all || (opts.limit !== undefined && opts.limit > 0) || !!filters.status || !!filters.exited || !!before || !!since;
    all = all.filter((c) => {
      const r = c.rec;
      if (!showAll && !r.State.Running) return false;
      if (filters.id && !filters.id.some((p) => r.ID.startsWith(p))) return false;
      if (filters.name && !filters.name.some((n) => new RegExp(n.replace(/^\//, "")).test(r.Name.slice(1)))) return false;
      if (filters.label) {
        const labels = r.Config.Labels ?? {};
        for (const l of filters.label) {
          const eq = l.indexOf("=");
          if (eq < 0 ? !(l in labels) : labels[l.slice(0, eq)] !== l.slice(eq + 1)) return false;
        }
      }
      if (filters.status && !filters.status.includes(r.State.Status)) return false;
      if (filters.exited && !(r.State.Status === "exited" && filters.exited.includes(String(r.State.ExitCode)))) return false;
      if (filters.health) {
        const h = r.State.Health?.Status ?? "none";
        if (!filters.health.includes(h)) return false;
      }
      if (filters.network && !filters.network.includes(normalizeNetworkMode(c.hc.NetworkMode))) return false;
      if (ancestorIds && !(ancestorIds.has(r.Image) || filters.ancestor!.includes(r.Config.Image ?? ""))) return false;
      if (before && !before.every((t) => r.Created < t)) return false;
      if (since && !since.every((t) => r.Created > t)) return false;
      return true;
    });
    if (opts.limit !== undefined && opts.limit > 0) all = all.slice(0, opts.limit);
    const out: ContainerSummary[] = [];
    for (const c of all) {
      const s = this.summary(c);
      if (opts.size) {
        // moby's list omits a zero SizeRw (omitempty), as it does SizeRootFs
        const { SizeRw, SizeRootFs } = await this.sizes(c);
        Object.assign(s, SizeRw ? { SizeRw } : {}, SizeRootFs ? { SizeRootFs } : {});
      }
      out.push(s);
    }
    return out;
  }

  /** The container's id for a name, id or prefix (for callers such as the image service's inUse). */
  resolveId(ref: string): string {
    return this.core.find(ref).rec.ID;
  }

  /** Whether a container uses image id; for `rmi` (running tells a forced removal apart). */
  imageInUse(imageId: string): { id: string; running: boolean } | undefined {
    for (const c of this.core.containers.values()) if (c.rec.Image === imageId) return { id: c.rec.ID, running: c.rec.State.Running };
    return undefined;
  }

  /** docker top: ps on the host, rows of the container's cgroup processes. */
  async top(ref: string, psArgs = ""): Promise<TopResult> {
    const c = this.core.find(ref);
    if (!c.rec.State.Running || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    const pids = await this.core.runtimeOf(c).ps(c.rec.ID);
    return runPs(psArgs, pids);
  }

  /** One stats sample in Docker's shape (the zero document when the container is not running). */
  async statsSample(c: Live): Promise<DockerStats> {
    const r = c.rec;
    if (!r.State.Running || r.State.Restarting || !r.State.Pid) return emptyStats(r.Name, r.ID);
    let cgroup;
    try {
      cgroup = await this.core.runtimeOf(c).stats(r.ID);
    } catch (err) {
      // exited meanwhile (its runtime state or cgroup gone); any other failure is logged, and the
      // stream still gets a sample
      if (!(err instanceof CoveError && err.kind === "not-found") && !isErrno(err, "ENOENT", "ENODEV", "ESRCH")) ignored(`read the stats of container ${r.ID}`, err, this.core.log);
      return emptyStats(r.Name, r.ID);
    }
    const networks = normalizeNetworkMode(c.hc.NetworkMode) === "host" ? undefined : parseNetDev(await readProcFile(`/proc/${r.State.Pid}/net/dev`));
    return dockerStats({ name: r.Name, id: r.ID, version: this.core.cgroupVersion, cgroup, host: await hostCpu(), ...(networks ? { networks } : {}) });
  }

  /**
   * docker stats: samples once a second. stream=false gives one sample whose precpu_stats come
   * from a sample a second earlier (so a CPU percentage can be computed), unless oneShot.
   */
  async *stats(ref: string, opts: { stream?: boolean; oneShot?: boolean; signal?: AbortSignal; intervalMs?: number } = {}): AsyncGenerator<DockerStats> {
    const c = this.core.find(ref);
    const interval = opts.intervalMs ?? 1000;
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        opts.signal?.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    const running = () => c.rec.State.Running && !c.rec.State.Restarting;
    if (opts.stream === false) {
      if (!running()) {
        yield emptyStats(c.rec.Name, c.rec.ID);
        return;
      }
      if (opts.oneShot) {
        yield await this.statsSample(c);
        return;
      }
      const first = await this.statsSample(c);
      await sleep(interval);
      yield withPrevious(await this.statsSample(c), first);
      return;
    }
    let prev: DockerStats | undefined;
    while (!opts.signal?.aborted && this.core.containers.has(c.rec.ID)) {
      const cur = await this.statsSample(c);
      yield withPrevious(cur, prev?.read === STATS_ZERO_TIME || cur.read === STATS_ZERO_TIME ? undefined : prev);
      prev = cur;
      await sleep(interval);
    }
  }
}

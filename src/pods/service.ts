// The pod service: groups of containers sharing network, IPC and UTS (and PID when asked)
// namespaces held by an infra container running cove's pause program, as podman's pods. It sits
// above the container service (which runs every container, the infra included) and the image
// service (for the pause image), and below the daemon's routes; the CLI, the API and a later CRI
// server all call it.
//
// State: <root>/pods/<id>/pod.json, the pod's record (written atomically). The pod's members are
// the containers labelled with its ID (io.cove.pod), so the member list can never disagree with
// the containers that exist, whoever removed one; the infra container is also labelled
// io.cove.pod.infra. A daemon restart reloads the records, and the container service adopts the
// running containers as it does for any (live restore). A create or removal a crash cut short is
// finished at open: an infra container without a record, or a record without its infra, goes.

import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { conflict, CoveError, fromErrno, invalid, isErrno, notFound, systemError } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { ignored } from "../common/ignore.js";
import { generateName, type ContainerRecord, type ContainerService, type CreateResult } from "../containers/index.js";
import type { ContainerSummary, CreateBody, LogsOptions } from "../containers/types.js";
import type { TopResponse } from "../docker/index.js";
import { defaultPausePath, ensurePauseImage, type PauseImages } from "./pause.js";
import { INFRA_LABEL, infraBody, memberBody, PAUSE_PATH, POD_LABEL, podRecordOf, podState, portBindings } from "./spec.js";
import type { PodActionReport, PodInspect, PodLogEntry, PodRecord, PodSpec, PodSummary } from "./types.js";

/** A pod event as the event bus takes it (Type "pod", podman's actions). */
export interface PodEvent {
  Type: "pod";
  Action: "create" | "start" | "stop" | "kill" | "remove" | "restart";
  Actor: { ID: string; Attributes: Record<string, string> };
}

export interface PodServiceOptions {
  /** The engine's state root; pods live in <root>/pods. */
  root: string;
  containers: ContainerService;
  images: PauseImages;
  events?: (e: PodEvent) => void;
  /** The pause program (default <package>/build/cove-pause). */
  pausePath?: string;
  /** Where the service reports what it had to ignore; default stderr. */
  log?: (line: string) => void;
}

const POD_FILTERS = ["id", "name", "label", "status"];
const POD_STATUS_FILTERS = ["created", "running", "degraded", "paused", "stopped", "exited", "error"];

function nowIso(): string {
  return new Date().toISOString();
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class PodService {
  private readonly pods = new Map<string, PodRecord>();
  private readonly names = new Map<string, string>();
  /** Pods being removed: their infra container may go now. */
  private readonly removing = new Set<string>();
  /** Each pod's operations run one after the other. */
  private readonly busy = new Map<string, Promise<unknown>>();
  private pauseImage: Promise<string> | undefined;
  private readonly containers: ContainerService;
  private readonly root: string;
  private readonly pausePath: string;
  private readonly emit: (e: PodEvent) => void;
  private readonly log: (line: string) => void;
  /** Settles once the records are loaded and reconciled with the containers. */
  readonly ready: Promise<void>;
  private readonly loaded: Promise<void>;

  constructor(private readonly opts: PodServiceOptions) {
    this.containers = opts.containers;
    this.root = opts.root;
    this.pausePath = opts.pausePath ?? defaultPausePath();
    this.emit = opts.events ?? (() => undefined);
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    // installed before anything can start a container of a pod (the restore's restarts included)
    this.containers.setHooks({ beforeStart: (rec) => this.beforeMemberStart(rec), beforeRemove: (rec) => this.beforeRemove(rec) });
    this.loaded = this.load();
    this.ready = this.loaded.then(() => this.containers.reconciled).then(() => this.reconcile());
    this.ready.catch(() => undefined);
  }

  /** Opens the service on a root: the records reloaded, then reconciled with the containers. */
  static async open(opts: PodServiceOptions): Promise<PodService> {
    const s = new PodService(opts);
    await s.ready;
    return s;
  }

  private podsDir(): string {
    return path.join(this.root, "pods");
  }

  private async load(): Promise<void> {
    await mkdir(this.podsDir(), { recursive: true, mode: 0o700 });
    for (const id of await readdir(this.podsDir())) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      let rec: PodRecord;
      try {
        rec = JSON.parse(await readFile(path.join(this.podsDir(), id, "pod.json"), "utf8")) as PodRecord;
      } catch (err) {
        // a directory without its record: a create a crash cut short before it wrote it
        if (isErrno(err, "ENOENT")) {
          await rm(path.join(this.podsDir(), id), { recursive: true, force: true });
          continue;
        }
        throw fromErrno(err, `reading the record of pod ${id}`);
      }
      this.pods.set(rec.Id, rec);
      this.names.set(rec.Name, rec.Id);
    }
  }

  /** Finishes what a crash cut short: infra containers without a pod, pods without their infra. */
  private async reconcile(): Promise<void> {
    const all = await this.containers.list({ all: true });
    const present = new Set(all.map((c) => c.Id));
    for (const pod of [...this.pods.values()]) {
      if (present.has(pod.InfraContainerID)) continue;
      this.log(`pod ${pod.Name} (${pod.Id}) lost its infra container: removing the pod and its members`);
      await this.discard(pod.Id, all);
    }
    for (const c of all) {
      const podId = c.Labels?.[POD_LABEL];
      if (!podId || this.pods.has(podId) || c.Labels?.[INFRA_LABEL] !== "true") continue;
      this.log(`infra container ${c.Id} belongs to no pod (a create cut short): removing it and its members`);
      await this.discard(podId, all);
    }
  }

  /** Removes a pod's containers and record, for reconcile: nothing of it is to be kept. */
  private async discard(podId: string, all: ContainerSummary[]): Promise<void> {
    this.removing.add(podId);
    try {
      for (const c of all.filter((x) => x.Labels?.[POD_LABEL] === podId)) {
        await this.containers.remove(c.Id, { force: true }).catch((err: unknown) => {
          if (!(err instanceof CoveError && err.kind === "not-found")) ignored(`remove container ${c.Id} of pod ${podId}`, err, this.log);
        });
      }
      const rec = this.pods.get(podId);
      if (rec) this.names.delete(rec.Name);
      this.pods.delete(podId);
      await rm(path.join(this.podsDir(), podId), { recursive: true, force: true });
    } finally {
      this.removing.delete(podId);
    }
  }

  /** Runs fn after the pod's previous operation. */
  private exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.busy.get(id) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    this.busy.set(id, tail);
    void tail.then(() => {
      if (this.busy.get(id) === tail) this.busy.delete(id);
    });
    return run;
  }

  private event(pod: PodRecord, action: PodEvent["Action"], extra: Record<string, string> = {}): void {
    try {
      this.emit({ Type: "pod", Action: action, Actor: { ID: pod.Id, Attributes: { ...pod.Labels, name: pod.Name, ...extra } } });
    } catch (err) {
      ignored(`deliver the ${action} event of pod ${pod.Id}`, err, this.log);
    }
  }

  /** A pod by full ID, name or unique ID prefix. */
  find(ref: string): PodRecord {
    const direct = this.pods.get(ref) ?? this.pods.get(this.names.get(ref) ?? "");
    if (direct) return direct;
    if (/^[0-9a-f]+$/.test(ref)) {
      const hits = [...this.pods.keys()].filter((id) => id.startsWith(ref));
      if (hits.length === 1) return this.pods.get(hits[0]!)!;
      if (hits.length > 1) throw invalid(`more than one pod has an ID starting with ${ref}: give more of it`, { code: "pod.ambiguous" });
    }
    throw notFound(`no pod with name or ID ${ref} found: no such pod`, { code: "pod.not-found", hint: "cove pod ls lists the pods" });
  }

  /** Whether a pod exists (podman's GET /pods/{name}/exists). */
  async exists(ref: string): Promise<boolean> {
    await this.ready;
    try {
      this.find(ref);
      return true;
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return false;
      throw err;
    }
  }

  private async save(pod: PodRecord): Promise<void> {
    const dir = path.join(this.podsDir(), pod.Id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(dir, "pod.json"), JSON.stringify(pod), 0o600);
  }

  private pause(): Promise<string> {
    // one build at a time; a failed one is tried again by the next create
    this.pauseImage ??= ensurePauseImage(this.opts.images, this.pausePath).catch((err: unknown) => {
      this.pauseImage = undefined;
      throw err;
    });
    return this.pauseImage;
  }

  // ------------------------------------------------------------------ create

  /** Creates a pod and its infra container (not started: `start`, or a member's start, starts it). */
  async create(spec: PodSpec): Promise<{ Id: string }> {
    await this.ready;
    const id = randomBytes(32).toString("hex");
    let generated = generateName();
    for (let i = 1; this.names.has(generated); i++) generated = generateName(i);
    const pod = podRecordOf(spec, id, generated, nowIso());
    const holder = this.names.get(pod.Name);
    if (holder) throw conflict(`the pod name "${pod.Name}" is already in use by pod ${holder}`, { code: "pod.name-conflict", hint: "remove that pod (cove pod rm), or give this one another --name" });
    const infraName = spec.infra_name || `${id.slice(0, 12)}-infra`;
    // the name is claimed while the infra container is made
    this.names.set(pod.Name, id);
    let infra: CreateResult | undefined;
    try {
      const image = pod.InfraImage || (await this.pause());
      pod.InfraImage = image;
      infra = await this.containers.create(infraBody(pod, image, [PAUSE_PATH]), { name: infraName });
      pod.InfraContainerID = infra.Id;
      await this.save(pod);
      this.pods.set(id, pod);
    } catch (err) {
      this.names.delete(pod.Name);
      if (infra) {
        this.removing.add(id);
        await this.containers
          .remove(infra.Id, { force: true })
          .catch((e: unknown) => ignored(`remove the infra container of failed pod create ${id}`, e, this.log))
          .finally(() => this.removing.delete(id));
      }
      await rm(path.join(this.podsDir(), id), { recursive: true, force: true }).catch((e: unknown) => ignored(`remove the directory of failed pod create ${id}`, e, this.log));
      throw err;
    }
    this.event(pod, "create");
    return { Id: id };
  }

  /** Creates a container in a pod: it joins the infra's shared namespaces (see memberBody). */
  async createMember(podRef: string, body: CreateBody, opts: { name?: string; platform?: string } = {}): Promise<CreateResult> {
    await this.ready;
    const pod = this.find(podRef);
    return this.exclusive(pod.Id, async () => {
      if (!this.pods.has(pod.Id)) this.find(pod.Id); // removed while this waited
      return this.containers.create(memberBody(pod, body), opts);
    });
  }

  // ------------------------------------------------------------------ members and hooks

  /** The pod's member containers (not the infra), oldest first. */
  private async members(pod: PodRecord): Promise<ContainerSummary[]> {
    const list = await this.containers.list({ all: true, filters: { label: [`${POD_LABEL}=${pod.Id}`] } });
    return list.filter((c) => c.Id !== pod.InfraContainerID).sort((a, b) => a.Created - b.Created || (a.Names[0] ?? "").localeCompare(b.Names[0] ?? ""));
  }

  private async infraState(pod: PodRecord): Promise<string> {
    try {
      return (await this.containers.inspect(pod.InfraContainerID)).State.Status;
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return "dead";
      throw err;
    }
  }

  /** A member's start waits for the pod's infra container, starting it when it is not running. */
  private async beforeMemberStart(rec: ContainerRecord): Promise<void> {
    const labels = rec.Config.Labels ?? {};
    const podId = labels[POD_LABEL];
    if (!podId || labels[INFRA_LABEL] === "true") return;
    await this.loaded;
    const pod = this.pods.get(podId);
    if (!pod) return;
    const state = await this.infraState(pod);
    if (state === "running" || state === "paused") return;
    try {
      await this.containers.start(pod.InfraContainerID);
    } catch (err) {
      throw new CoveError(err instanceof CoveError ? err.kind : "system", `the infra container of pod ${pod.Name} did not start: ${message(err)}`, { code: "pod.infra-start", cause: err });
    }
  }

  /** The infra container goes only with its pod. */
  private beforeRemove(rec: ContainerRecord): void {
    const labels = rec.Config.Labels ?? {};
    const podId = labels[POD_LABEL];
    if (!podId || labels[INFRA_LABEL] !== "true" || this.removing.has(podId)) return;
    const pod = this.pods.get(podId);
    if (!pod) return;
    throw conflict(`container ${rec.Name.slice(1)} is the infra container of pod ${pod.Name}: it is removed with its pod`, { code: "pod.infra-remove", hint: `cove pod rm ${pod.Name}` });
  }

  // ------------------------------------------------------------------ lifecycle

  /** Starts the infra container, then every member that is not running. Returns false when all ran already. */
  async start(ref: string): Promise<{ started: boolean; report: PodActionReport }> {
    await this.ready;
    const pod = this.find(ref);
    return this.exclusive(pod.Id, async () => {
      const members = await this.members(pod);
      const infraRunning = (await this.infraState(pod)) === "running";
      if (infraRunning && members.every((m) => m.State === "running")) return { started: false, report: { Id: pod.Id, Errs: [] } };
      try {
        await this.containers.start(pod.InfraContainerID);
      } catch (err) {
        throw new CoveError(err instanceof CoveError ? err.kind : "system", `starting pod ${pod.Name}: its infra container did not start: ${message(err)}`, { code: "pod.infra-start", cause: err });
      }
      const errs: string[] = [];
      for (const m of members) {
        if (m.State === "running" || m.State === "paused") continue;
        try {
          await this.containers.start(m.Id);
        } catch (err) {
          errs.push(`${(m.Names[0] ?? m.Id).replace(/^\//, "")}: ${message(err)}`);
        }
      }
      this.event(pod, "start");
      if (errs.length) throw systemError(`starting pod ${pod.Name}: ${errs.length} of its containers did not start: ${errs.join("; ")}`, { code: "pod.start" });
      return { started: true, report: { Id: pod.Id, Errs: [] } };
    });
  }

  /** Stops the members (together), then the infra container. Returns false when nothing ran. */
  async stop(ref: string, opts: { timeout?: number } = {}): Promise<{ stopped: boolean; report: PodActionReport }> {
    await this.ready;
    const pod = this.find(ref);
    return this.exclusive(pod.Id, async () => {
      const members = await this.members(pod);
      const infraRunning = ["running", "paused", "restarting"].includes(await this.infraState(pod));
      const running = members.filter((m) => ["running", "paused", "restarting"].includes(m.State));
      if (!infraRunning && running.length === 0) return { stopped: false, report: { Id: pod.Id, Errs: [] } };
      const stopOpts = opts.timeout !== undefined ? { timeout: opts.timeout } : {};
      const errs: string[] = [];
      await Promise.all(
        running.map((m) =>
          this.containers.stop(m.Id, stopOpts).catch((err: unknown) => {
            errs.push(`${(m.Names[0] ?? m.Id).replace(/^\//, "")}: ${message(err)}`);
          }),
        ),
      );
      if (infraRunning) await this.containers.stop(pod.InfraContainerID, stopOpts).catch((err: unknown) => errs.push(`infra: ${message(err)}`));
      this.event(pod, "stop");
      if (errs.length) throw systemError(`stopping pod ${pod.Name}: ${errs.join("; ")}`, { code: "pod.stop" });
      return { stopped: true, report: { Id: pod.Id, Errs: [] } };
    });
  }

  /** Sends a signal (default SIGKILL) to every running container of the pod, members first. */
  async kill(ref: string, signal: string = "SIGKILL"): Promise<PodActionReport> {
    await this.ready;
    const pod = this.find(ref);
    return this.exclusive(pod.Id, async () => {
      const members = (await this.members(pod)).filter((m) => m.State === "running" || m.State === "paused");
      const infraRunning = (await this.infraState(pod)) === "running";
      if (members.length === 0 && !infraRunning) throw conflict(`pod ${pod.Name} is not running: none of its containers runs`, { code: "pod.not-running" });
      const errs: string[] = [];
      for (const id of [...members.map((m) => m.Id), ...(infraRunning ? [pod.InfraContainerID] : [])]) {
        await this.containers.kill(id, signal).catch((err: unknown) => {
          // it exited meanwhile: nothing to signal
          if (!(err instanceof CoveError && err.kind === "conflict")) errs.push(`${id.slice(0, 12)}: ${message(err)}`);
        });
      }
      this.event(pod, "kill", { signal });
      if (errs.length) throw systemError(`killing pod ${pod.Name}: ${errs.join("; ")}`, { code: "pod.kill" });
      return { Id: pod.Id, Errs: [] };
    });
  }

  /** Stops then starts the pod. */
  async restart(ref: string, opts: { timeout?: number } = {}): Promise<PodActionReport> {
    await this.ready;
    const pod = this.find(ref);
    await this.stop(pod.Id, opts);
    await this.start(pod.Id);
    this.event(pod, "restart");
    return { Id: pod.Id, Errs: [] };
  }

  /**
   * Removes the pod with its members and infra container. A pod with a running container is
   * refused unless force (which kills them first), and then nothing is changed.
   */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<{ Id: string; RemovedCtrs: Record<string, string | null> }> {
    await this.ready;
    const pod = this.find(ref);
    return this.exclusive(pod.Id, async () => {
      const members = await this.members(pod);
      const infraState = await this.infraState(pod);
      const active = (s: string) => s === "running" || s === "paused" || s === "restarting";
      const running = members.filter((m) => active(m.State)).map((m) => (m.Names[0] ?? m.Id).replace(/^\//, ""));
      if (active(infraState)) running.push(`${pod.InfraContainerID.slice(0, 12)} (infra)`);
      if (running.length && !opts.force) {
        throw conflict(`pod ${pod.Name} has running containers (${running.join(", ")}): stop the pod first, or remove it with --force`, { code: "pod.running", hint: `cove pod stop ${pod.Name}, or cove pod rm -f ${pod.Name}` });
      }
      const removed: Record<string, string | null> = {};
      this.removing.add(pod.Id);
      try {
        for (const m of members) {
          try {
            await this.containers.remove(m.Id, { force: true });
            removed[m.Id] = null;
          } catch (err) {
            if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
          }
        }
        await this.containers.remove(pod.InfraContainerID, { force: true }).catch((err: unknown) => {
          if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
        });
        removed[pod.InfraContainerID] = null;
        await rm(path.join(this.podsDir(), pod.Id), { recursive: true, force: true });
        this.pods.delete(pod.Id);
        this.names.delete(pod.Name);
      } finally {
        this.removing.delete(pod.Id);
      }
      this.event(pod, "remove");
      return { Id: pod.Id, RemovedCtrs: removed };
    });
  }

  // ------------------------------------------------------------------ views

  async inspect(ref: string): Promise<PodInspect> {
    await this.ready;
    const pod = this.find(ref);
    const infraState = await this.infraState(pod);
    let infraName = "";
    try {
      infraName = (await this.containers.inspect(pod.InfraContainerID)).Name.replace(/^\//, "");
    } catch (err) {
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    const members = await this.members(pod);
    const containers = [
      { Id: pod.InfraContainerID, Name: infraName, State: infraState },
      ...members.map((m) => ({ Id: m.Id, Name: (m.Names[0] ?? "").replace(/^\//, ""), State: m.State as string })),
    ];
    return {
      Id: pod.Id,
      Name: pod.Name,
      Created: pod.Created,
      ...(pod.CreateCommand.length ? { CreateCommand: pod.CreateCommand } : {}),
      State: podState(containers.map((c) => c.State)),
      Hostname: pod.Hostname,
      Labels: pod.Labels,
      Annotations: pod.Annotations,
      CreateCgroup: false,
      ...(pod.CgroupParent ? { CgroupParent: pod.CgroupParent } : {}),
      CreateInfra: true,
      InfraContainerID: pod.InfraContainerID,
      InfraConfig: {
        PortBindings: portBindings(pod.PortMappings).bindings,
        HostNetwork: pod.NetworkMode === "host",
        DNSServer: pod.DNSServer,
        DNSSearch: pod.DNSSearch,
        DNSOption: pod.DNSOption,
        HostAdd: pod.HostAdd,
        Networks: pod.Networks,
        pid_ns: pod.PidNS,
        ipc_ns: pod.IpcNS,
        InfraImage: pod.InfraImage,
        InfraCommand: pod.InfraCommand.length ? pod.InfraCommand : [PAUSE_PATH],
        Sysctls: pod.Sysctls,
      },
      SharedNamespaces: pod.SharedNamespaces,
      NumContainers: containers.length,
      Containers: containers,
    };
  }

  /** The pods, newest first; filters id, name, label (key or key=value) and status (podman's lower-case states). */
  async list(filters: Record<string, string[]> = {}): Promise<PodSummary[]> {
    await this.ready;
    for (const key of Object.keys(filters)) {
      if (!POD_FILTERS.includes(key)) throw invalid(`invalid filter '${key}'`, { code: "filter.invalid", hint: `pod filters: ${POD_FILTERS.join(", ")}` });
    }
    for (const s of filters.status ?? []) {
      if (!POD_STATUS_FILTERS.includes(s)) throw invalid(`invalid filter 'status=${s}'`, { code: "filter.invalid", hint: `pod states: ${POD_STATUS_FILTERS.join(", ")}` });
    }
    const all = await this.containers.list({ all: true });
    const out: PodSummary[] = [];
    for (const pod of this.pods.values()) {
      const mine = all.filter((c) => c.Labels?.[POD_LABEL] === pod.Id).sort((a, b) => (a.Id === pod.InfraContainerID ? -1 : b.Id === pod.InfraContainerID ? 1 : a.Created - b.Created));
      const status = podState(mine.map((c) => c.State));
      if (filters.id && !filters.id.some((p) => pod.Id.startsWith(p))) continue;
      if (filters.name && !filters.name.some((n) => new RegExp(n).test(pod.Name))) continue;
      if (filters.status && !filters.status.includes(status.toLowerCase())) continue;
      if (
        filters.label &&
        !filters.label.every((l) => {
          const eq = l.indexOf("=");
          return eq < 0 ? l in pod.Labels : pod.Labels[l.slice(0, eq)] === l.slice(eq + 1);
        })
      ) {
        continue;
      }
      out.push({
        Cgroup: pod.CgroupParent,
        Containers: mine.map((c) => ({ Id: c.Id, Names: (c.Names[0] ?? "").replace(/^\//, ""), Status: c.State, RestartCount: 0 })),
        Created: pod.Created,
        Id: pod.Id,
        InfraId: pod.InfraContainerID,
        Name: pod.Name,
        Namespace: "",
        Networks: pod.Networks,
        Status: status,
        Labels: pod.Labels,
      });
    }
    return out.sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
  }

  /**
   * The container list with podman's pod filter: pod=NAME|ID (ORed) keeps the containers of those
   * pods; the other filters are the container service's.
   */
  async listContainers(opts: { all?: boolean; limit?: number; size?: boolean; filters?: Record<string, string[]> }): Promise<ContainerSummary[]> {
    const { pod: podRefs, ...rest } = opts.filters ?? {};
    if (!podRefs) return this.containers.list(opts);
    await this.ready;
    const ids = new Set<string>();
    for (const ref of podRefs) {
      try {
        ids.add(this.find(ref).Id);
      } catch (err) {
        // an unknown pod matches no container, as any filter value that names nothing
        if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
      }
    }
    const { limit, ...others } = opts;
    const list = (await this.containers.list({ ...others, filters: rest })).filter((c) => ids.has(c.Labels?.[POD_LABEL] ?? ""));
    return limit !== undefined && limit > 0 ? list.slice(0, limit) : list;
  }

  /** The processes of every running container of the pod (infra first), as one ps table. */
  async top(ref: string, psArgs = ""): Promise<TopResponse> {
    await this.ready;
    const pod = this.find(ref);
    const running = [pod.InfraContainerID, ...(await this.members(pod)).map((m) => m.Id)];
    let titles: string[] | undefined;
    const rows: string[][] = [];
    for (const id of running) {
      let top: TopResponse;
      try {
        top = await this.containers.top(id, psArgs);
      } catch (err) {
        // not running (or gone meanwhile): no processes of it to show
        if (err instanceof CoveError && (err.kind === "conflict" || err.kind === "not-found")) continue;
        throw err;
      }
      titles ??= top.Titles;
      rows.push(...top.Processes);
    }
    if (!titles) throw conflict(`pod ${pod.Name} is not running: none of its containers runs`, { code: "pod.not-running" });
    return { Titles: titles, Processes: rows };
  }

  /**
   * The output of the pod's members (the infra writes none), each line with its container. Without
   * follow: every line, in time order. With follow: then as they are written, until every member
   * stops or the signal aborts.
   */
  async logs(ref: string, opts: LogsOptions & { container?: string } = {}): Promise<AsyncIterable<PodLogEntry>> {
    await this.ready;
    const pod = this.find(ref);
    let members = await this.members(pod);
    if (opts.container !== undefined) {
      const wanted = opts.container.replace(/^\//, "");
      members = members.filter((m) => m.Id.startsWith(wanted) || m.Names.some((n) => n.replace(/^\//, "") === wanted));
      if (members.length === 0) throw notFound(`pod ${pod.Name} has no container ${opts.container}`, { code: "pod.no-container" });
    }
    const { container: _container, ...logOpts } = opts;
    const sources = members.map((m) => ({ id: m.Id, name: (m.Names[0] ?? m.Id).replace(/^\//, ""), entries: this.containers.logs(m.Id, logOpts) }));
    if (!opts.follow) {
      return (async function* () {
        const all: PodLogEntry[] = [];
        for (const s of sources) for await (const e of s.entries) all.push({ container: s.name, containerId: s.id, stream: e.stream, time: e.time, line: e.line });
        all.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
        yield* all;
      })();
    }
    return merge(sources);
  }
}

/** The entries of every source as they come, ending when all end. */
async function* merge(sources: { id: string; name: string; entries: AsyncIterable<{ stream: "stdout" | "stderr"; time: string; line: Buffer }> }[]): AsyncGenerator<PodLogEntry> {
  const queue: PodLogEntry[] = [];
  let wake: (() => void) | undefined;
  let pending = sources.length;
  let failure: unknown;
  for (const s of sources) {
    void (async () => {
      try {
        for await (const e of s.entries) {
          queue.push({ container: s.name, containerId: s.id, stream: e.stream, time: e.time, line: e.line });
          wake?.();
        }
      } catch (err) {
        failure ??= err;
      } finally {
        pending--;
        wake?.();
      }
    })();
  }
  for (;;) {
    while (queue.length) yield queue.shift()!;
    if (failure !== undefined) throw failure;
    if (pending === 0) return;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
}

// The CRI's containers over cove's container service: CreateContainer makes a member of the
// sandbox's pod (it joins the infra's network, IPC and UTS namespaces, and PID when the sandbox
// shares it), so the same container is in `docker ps -a`, with the kubelet's labels, as
// cri-dockerd shows them. Start, stop, remove, status, list, resource updates, the CRI log file
// (logs.ts), ExecSync and the stats calls (stats.ts) follow containerd 1.6's answers.

import { readFile } from "node:fs/promises";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { CoveError } from "../common/errors.js";
import type { ContainerService } from "../containers/index.js";
import type { ContainerInspect, CreateBody, HostConfig } from "../containers/types.js";
import type { ImageService } from "../images/index.js";
import type { PodService } from "../pods/index.js";
import type { CriLogs } from "./logs.js";
import { CONTAINER_LABEL, int, invalidArgument, matchesSelector, nanos, notFoundStatus, parseMeta, userKeys, type ContainerMeta } from "./meta.js";
import type { Sandbox, Sandboxes } from "./sandboxes.js";
import { StatusError, unary } from "./status.js";

export interface ContainerDeps {
  containers: ContainerService;
  pods: PodService;
  images: ImageService;
  sandboxes: Sandboxes;
  logs: CriLogs;
}

interface KeyValue {
  key?: string;
  /** bytes in ../shared/specs/cri/api.proto (string upstream: the same bytes on the wire). */
  value?: Buffer | string;
}

function text(v: Buffer | string | undefined): string {
  return v === undefined ? "" : Buffer.isBuffer(v) ? v.toString("utf8") : v;
}

interface MountMsg {
  container_path?: string;
  host_path?: string;
  readonly?: boolean;
  propagation?: string;
}

export interface ResourcesMsg {
  cpu_period?: string | number;
  cpu_quota?: string | number;
  cpu_shares?: string | number;
  memory_limit_in_bytes?: string | number;
  oom_score_adj?: string | number;
  cpuset_cpus?: string;
  cpuset_mems?: string;
  memory_swap_limit_in_bytes?: string | number;
  unified?: Record<string, string>;
  hugepage_limits?: { page_size?: string; limit?: string | number }[];
}

interface SecurityContextMsg {
  capabilities?: { add_capabilities?: string[]; drop_capabilities?: string[] } | null;
  privileged?: boolean;
  namespace_options?: { network?: string; pid?: string; ipc?: string; target_id?: string } | null;
  run_as_user?: { value?: string | number } | null;
  run_as_group?: { value?: string | number } | null;
  run_as_username?: string;
  readonly_rootfs?: boolean;
  supplemental_groups?: (string | number)[];
  no_new_privs?: boolean;
  masked_paths?: string[];
  readonly_paths?: string[];
  seccomp?: { profile_type?: string; localhost_ref?: string } | null;
  seccomp_profile_path?: string;
}

export interface ContainerConfigMsg {
  metadata?: { name?: string; attempt?: number } | null;
  image?: { image?: string } | null;
  command?: string[];
  args?: string[];
  working_dir?: string;
  envs?: KeyValue[];
  mounts?: MountMsg[];
  devices?: { container_path?: string; host_path?: string; permissions?: string }[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  log_path?: string;
  stdin?: boolean;
  stdin_once?: boolean;
  tty?: boolean;
  linux?: { resources?: ResourcesMsg | null; security_context?: SecurityContextMsg | null } | null;
}

/** A CRI container: its inspect document and its CRI facts. */
export interface CriContainer {
  inspect: ContainerInspect;
  meta: ContainerMeta;
}

/** The container's name, as cri-dockerd names it: k8s_<container>_<pod>_<namespace>_<uid>_<attempt>. */
export function containerName(s: Sandbox, name: string, attempt: number): string {
  const m = s.meta.metadata;
  return `k8s_${name}_${m.name}_${m.namespace}_${m.uid}_${attempt}`;
}

const PROPAGATION: Record<string, string> = { PROPAGATION_PRIVATE: "rprivate", PROPAGATION_HOST_TO_CONTAINER: "rslave", PROPAGATION_BIDIRECTIONAL: "rshared" };
const PROPAGATION_BACK: Record<string, string> = { rprivate: "PROPAGATION_PRIVATE", private: "PROPAGATION_PRIVATE", rslave: "PROPAGATION_HOST_TO_CONTAINER", slave: "PROPAGATION_HOST_TO_CONTAINER", rshared: "PROPAGATION_BIDIRECTIONAL", shared: "PROPAGATION_BIDIRECTIONAL" };

/** The resources of a create or an update as Docker's HostConfig fields (0 and "" leave one unset). */
export function resourceFields(r: ResourcesMsg | null | undefined): Partial<HostConfig> {
  if (!r) return {};
  const out: Partial<HostConfig> = {};
  const period = int(r.cpu_period);
  const quota = int(r.cpu_quota);
  const shares = int(r.cpu_shares);
  const memory = int(r.memory_limit_in_bytes);
  const swap = int(r.memory_swap_limit_in_bytes);
  if (period) out.CpuPeriod = period;
  if (quota) out.CpuQuota = quota;
  if (shares) out.CpuShares = shares;
  if (memory) {
    out.Memory = memory;
    // no swap unless the kubelet asks for it, as containerd sets it: memory+swap = memory
    out.MemorySwap = swap || memory;
  }
  if (r.cpuset_cpus) out.CpusetCpus = r.cpuset_cpus;
  if (r.cpuset_mems) out.CpusetMems = r.cpuset_mems;
  return out;
}

async function seccompOpt(sc: SecurityContextMsg | null | undefined): Promise<string[]> {
  const profile = sc?.seccomp;
  // no profile given: unconfined, as containerd runs it (the kubelet asks for RuntimeDefault explicitly)
  if (!profile) {
    const legacy = sc?.seccomp_profile_path ?? "";
    if (legacy === "" || legacy === "unconfined") return ["seccomp=unconfined"];
    if (legacy === "runtime/default" || legacy === "docker/default") return [];
    if (legacy.startsWith("localhost/")) return [`seccomp=${await localProfile(legacy.slice("localhost/".length))}`];
    throw invalidArgument(`unsupported seccomp profile path "${legacy}": give unconfined, runtime/default or localhost/<path>`);
  }
  if (profile.profile_type === "Unconfined") return ["seccomp=unconfined"];
  if (profile.profile_type === "Localhost") return [`seccomp=${await localProfile(profile.localhost_ref ?? "")}`];
  return [];
}

async function localProfile(file: string): Promise<string> {
  if (!path.isAbsolute(file)) throw invalidArgument(`the seccomp profile "${file}" must be an absolute path on the node`);
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw invalidArgument(`cannot read the seccomp profile ${file}: ${(err as Error).message}`);
  }
}

function idOf(v: { value?: string | number } | null | undefined): string | undefined {
  if (!v) return undefined;
  return String(v.value ?? 0);
}

/** The container's state as the CRI names it. */
function criState(i: ContainerInspect): string {
  const s = i.State.Status;
  if (s === "created") return "CONTAINER_CREATED";
  if (s === "running" || s === "paused" || s === "restarting") return "CONTAINER_RUNNING";
  if (s === "exited" || s === "dead") return "CONTAINER_EXITED";
  return "CONTAINER_UNKNOWN";
}

export class CriContainers {
  constructor(private readonly deps: ContainerDeps) {}

  /** The CRI container by ID or unique prefix, or undefined (a container that is not the CRI's is none). */
  async lookup(ref: string): Promise<CriContainer | undefined> {
    if (!ref) throw invalidArgument("container_id is empty: give the container's ID");
    let inspect: ContainerInspect;
    try {
      inspect = await this.deps.containers.inspect(ref);
    } catch (err) {
      if (err instanceof CoveError && (err.kind === "not-found" || err.kind === "invalid")) return undefined;
      throw err;
    }
    if (!inspect.Id.startsWith(ref)) return undefined; // found by name: the CRI speaks IDs only
    const meta = parseMeta<ContainerMeta>(inspect.Config.Labels?.[CONTAINER_LABEL]);
    return meta ? { inspect, meta } : undefined;
  }

  async get(ref: string): Promise<CriContainer> {
    const c = await this.lookup(ref);
    if (!c) throw notFoundStatus(`an error occurred when try to find container "${ref}": not found`);
    return c;
  }

  /** Every CRI container, newest first. */
  async all(): Promise<CriContainer[]> {
    const out: CriContainer[] = [];
    for (const s of await this.deps.containers.list({ all: true, filters: { label: [CONTAINER_LABEL] } })) {
      const c = await this.lookup(s.Id);
      if (c) out.push(c); // removed meanwhile otherwise
    }
    return out;
  }

  async create(req: { pod_sandbox_id?: string; config?: ContainerConfigMsg | null }): Promise<{ container_id: string }> {
    const sandbox = await this.deps.sandboxes.get(req.pod_sandbox_id ?? "");
    const config = req.config;
    if (!config) throw invalidArgument("CreateContainer: config is missing");
    if (!config.metadata?.name) throw invalidArgument("container config must include metadata.name");
    const imageRef = config.image?.image ?? "";
    if (!imageRef) throw invalidArgument("container config must include image.image: name the image by reference or ID");
    // the image must be there (the kubelet pulls first): absent is NOT_FOUND, as containerd answers
    try {
      await this.deps.images.inspect(imageRef);
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") throw notFoundStatus(`failed to get image "${imageRef}": the image is not present: pull it first (ImageService.PullImage)`);
      throw err;
    }
    const attempt = config.metadata.attempt ?? 0;
    const name = containerName(sandbox, config.metadata.name, attempt);
    let holder: string | undefined;
    try {
      holder = this.deps.containers.resolveId(name);
    } catch (err) {
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    // ALREADY_EXISTS where containerd 1.6 answers UNKNOWN with the same text: the kubelet acts on neither
    if (holder) throw new StatusError(grpc.status.ALREADY_EXISTS, `failed to reserve container name "${name}": name "${name}" is reserved for "${holder}" (a container of this name and attempt exists in the sandbox)`);
    const logPath = sandbox.meta.logDirectory && config.log_path ? path.join(sandbox.meta.logDirectory, config.log_path) : "";
    const meta: ContainerMeta = { metadata: { name: config.metadata.name, attempt }, sandboxId: sandbox.pod.Id, image: imageRef, logPath };
    const sc = config.linux?.security_context;
    let user: string | undefined;
    const uid = sc?.run_as_username || idOf(sc?.run_as_user);
    const gid = idOf(sc?.run_as_group);
    if (gid !== undefined && uid === undefined) throw invalidArgument("run_as_group is only allowed with run_as_user or run_as_username");
    if (uid !== undefined) user = gid !== undefined ? `${uid}:${gid}` : uid;
    const binds: string[] = [];
    for (const m of config.mounts ?? []) {
      if (!m.container_path || !path.isAbsolute(m.container_path)) throw invalidArgument(`mount container_path "${m.container_path ?? ""}" must be an absolute path`);
      if (!m.host_path || !path.isAbsolute(m.host_path)) throw invalidArgument(`mount host_path "${m.host_path ?? ""}" of ${m.container_path} must be an absolute path`);
      if (m.host_path.includes(":") || m.container_path.includes(":")) throw invalidArgument(`mount paths may not contain ":": ${m.host_path} → ${m.container_path}`);
      const opts = [m.readonly ? "ro" : "rw", PROPAGATION[m.propagation ?? "PROPAGATION_PRIVATE"] ?? "rprivate"];
      binds.push(`${m.host_path}:${m.container_path}:${opts.join(",")}`);
    }
    const pidMode = sc?.namespace_options?.pid;
    let pid: string | undefined;
    if (pidMode === "NODE") pid = "host";
    else if (pidMode === "TARGET") {
      const target = await this.get(sc?.namespace_options?.target_id ?? "");
      pid = `container:${target.inspect.Id}`;
    }
    const securityOpt = [...(sc?.no_new_privs ? ["no-new-privileges"] : []), ...(sc?.privileged ? [] : await seccompOpt(sc))];
    const hc: HostConfig = {
      Binds: binds,
      ReadonlyRootfs: !!sc?.readonly_rootfs,
      Privileged: !!sc?.privileged,
      CapAdd: sc?.capabilities?.add_capabilities ?? [],
      CapDrop: sc?.capabilities?.drop_capabilities ?? [],
      GroupAdd: (sc?.supplemental_groups ?? []).map(String),
      SecurityOpt: securityOpt,
      Annotations: userKeys(config.annotations),
      Devices: (config.devices ?? []).map((d) => ({ PathOnHost: d.host_path ?? "", PathInContainer: d.container_path ?? d.host_path ?? "", CgroupPermissions: d.permissions || "rwm" })),
      ...(sc?.masked_paths?.length ? { MaskedPaths: sc.masked_paths } : {}),
      ...(sc?.readonly_paths?.length ? { ReadonlyPaths: sc.readonly_paths } : {}),
      ...resourceFields(config.linux?.resources),
      ...(config.linux?.resources && int(config.linux.resources.oom_score_adj) ? { OomScoreAdj: int(config.linux.resources.oom_score_adj) } : {}),
      ...(pid ? { PidMode: pid } : {}),
      ...(sandbox.meta.runtime ? { Runtime: sandbox.meta.runtime } : {}),
      RestartPolicy: { Name: "no" },
    };
    const body: CreateBody = {
      Image: imageRef,
      ...(config.command?.length ? { Entrypoint: config.command } : {}),
      ...(config.args?.length ? { Cmd: config.args } : {}),
      Env: (config.envs ?? []).map((e) => `${e.key ?? ""}=${text(e.value)}`),
      ...(config.working_dir ? { WorkingDir: config.working_dir } : {}),
      ...(user !== undefined ? { User: user } : {}),
      Labels: { ...userKeys(config.labels), [CONTAINER_LABEL]: JSON.stringify(meta) },
      Tty: !!config.tty,
      OpenStdin: !!config.stdin,
      StdinOnce: !!config.stdin_once,
      AttachStdin: !!config.stdin,
      HostConfig: hc,
    };
    const r = await this.deps.pods.createMember(sandbox.pod.Id, body, { name });
    return { container_id: r.Id };
  }

  async start(req: { container_id?: string }): Promise<object> {
    const c = await this.get(req.container_id ?? "");
    const state = criState(c.inspect);
    if (state !== "CONTAINER_CREATED") throw new StatusError(grpc.status.FAILED_PRECONDITION, `container ${c.inspect.Id} is in ${state} state: only a created container starts (the kubelet creates a new attempt instead)`);
    await this.deps.containers.start(c.inspect.Id);
    if (c.meta.logPath) await this.deps.logs.start(c.inspect.Id, c.meta.logPath);
    return {};
  }

  async stop(req: { container_id?: string; timeout?: string | number }): Promise<object> {
    const c = await this.get(req.container_id ?? "");
    const timeout = Math.max(0, int(req.timeout));
    await this.deps.containers.stop(c.inspect.Id, { timeout });
    await this.deps.logs.drained(c.inspect.Id);
    return {};
  }

  async remove(req: { container_id?: string }): Promise<object> {
    const c = await this.lookup(req.container_id ?? "");
    // removing what is gone is done: the kubelet retries removals
    if (!c) return {};
    if (c.inspect.State.Running) {
      await this.deps.containers.stop(c.inspect.Id, { timeout: 0 });
      await this.deps.logs.drained(c.inspect.Id);
    }
    try {
      await this.deps.containers.remove(c.inspect.Id, { force: true });
    } catch (err) {
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    return {};
  }

  /** runtime.v1.ContainerStatus. */
  status(c: CriContainer): Record<string, unknown> {
    const i = c.inspect;
    const state = criState(i);
    let reason = "";
    if (state === "CONTAINER_EXITED") reason = i.State.OOMKilled ? "OOMKilled" : i.State.ExitCode === 0 ? "Completed" : "Error";
    return {
      id: i.Id,
      metadata: c.meta.metadata,
      state,
      created_at: nanos(i.Created),
      started_at: state === "CONTAINER_CREATED" ? "0" : nanos(i.State.StartedAt),
      finished_at: state === "CONTAINER_EXITED" ? nanos(i.State.FinishedAt) : "0",
      exit_code: state === "CONTAINER_EXITED" ? i.State.ExitCode : 0,
      image: { image: c.meta.image },
      image_ref: i.Image,
      image_id: i.Image,
      reason,
      message: i.State.Error ?? "",
      labels: userKeys(i.Config.Labels),
      annotations: userKeys(i.HostConfig.Annotations),
      mounts: (i.Mounts ?? [])
        .filter((m) => m.Type === "bind")
        .map((m) => ({ container_path: m.Destination, host_path: m.Source, readonly: !m.RW, selinux_relabel: false, propagation: PROPAGATION_BACK[m.Propagation] ?? "PROPAGATION_PRIVATE" })),
      log_path: c.meta.logPath,
    };
  }

  listEntry(c: CriContainer): Record<string, unknown> {
    const s = this.status(c);
    return { id: s.id, pod_sandbox_id: c.meta.sandboxId, metadata: s.metadata, image: s.image, image_ref: s.image_ref, image_id: s.image_id, state: s.state, created_at: s.created_at, labels: s.labels, annotations: s.annotations };
  }

  async update(req: { container_id?: string; linux?: ResourcesMsg | null }): Promise<object> {
    const c = await this.get(req.container_id ?? "");
    const fields = resourceFields(req.linux);
    if (Object.keys(fields).length === 0) return {};
    await this.deps.containers.update(c.inspect.Id, fields as Record<string, unknown>);
    return {};
  }

  async reopenLog(req: { container_id?: string }): Promise<object> {
    const c = await this.get(req.container_id ?? "");
    if (!c.inspect.State.Running) throw new StatusError(grpc.status.FAILED_PRECONDITION, `container ${c.inspect.Id} is not running: its log is not being written`);
    if (!c.meta.logPath) throw new StatusError(grpc.status.FAILED_PRECONDITION, `container ${c.inspect.Id} has no CRI log (its sandbox has no log_directory or it has no log_path)`);
    const w = this.deps.logs.get(c.inspect.Id) ?? (await this.deps.logs.start(c.inspect.Id, c.meta.logPath));
    await w.reopen();
    return {};
  }

  /** Starts the CRI log writers of the containers a previous daemon ran (they resume where their files end). */
  async resumeLogs(): Promise<void> {
    for (const c of await this.all()) if (c.meta.logPath && c.inspect.State.Status !== "created") await this.deps.logs.start(c.inspect.Id, c.meta.logPath);
  }

  handlers(): grpc.UntypedServiceImplementation {
    return {
      CreateContainer: unary((req: { pod_sandbox_id?: string; config?: ContainerConfigMsg | null }) => this.create(req)),
      StartContainer: unary((req: { container_id?: string }) => this.start(req)),
      StopContainer: unary((req: { container_id?: string; timeout?: string }) => this.stop(req)),
      RemoveContainer: unary((req: { container_id?: string }) => this.remove(req)),
      ContainerStatus: unary(async (req: { container_id?: string; verbose?: boolean }) => {
        const c = await this.get(req.container_id ?? "");
        const i = c.inspect;
        const info: Record<string, string> = req.verbose
          ? { info: JSON.stringify({ sandboxID: c.meta.sandboxId, pid: i.State.Pid, name: i.Name.replace(/^\//, ""), config: { image: c.meta.image, command: [i.Path, ...i.Args], env: i.Config.Env, workingDir: i.Config.WorkingDir, user: i.Config.User, tty: i.Config.Tty }, hostConfig: i.HostConfig, runtimeType: i.HostConfig.Runtime || "cove", jsonLogPath: i.LogPath }) }
          : {};
        return { status: this.status(c), info };
      }),
      ListContainers: unary(async (req: { filter?: { id?: string; state?: { state?: string } | null; pod_sandbox_id?: string; label_selector?: Record<string, string> } | null }) => {
        const f = req.filter;
        const out: Record<string, unknown>[] = [];
        for (const c of await this.all()) {
          if (f?.id && !c.inspect.Id.startsWith(f.id)) continue;
          if (f?.pod_sandbox_id && !c.meta.sandboxId.startsWith(f.pod_sandbox_id)) continue;
          if (f?.state && criState(c.inspect) !== (f.state.state ?? "CONTAINER_CREATED")) continue;
          if (!matchesSelector(userKeys(c.inspect.Config.Labels), f?.label_selector)) continue;
          out.push(this.listEntry(c));
        }
        return { containers: out };
      }),
      UpdateContainerResources: unary((req: { container_id?: string; linux?: ResourcesMsg | null }) => this.update(req)),
      ReopenContainerLog: unary((req: { container_id?: string }) => this.reopenLog(req)),
    };
  }
}

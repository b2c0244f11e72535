// `cove kube play FILE|-` and `cove kube down FILE|-`: Kubernetes YAML run as cove pods, as
// podman's kube play and kube down. The planner (src/kube/play.ts) validates the whole file and
// plans every pod before anything is made; this file executes the plan against the daemon
// through its API, as compose's reconciler does: each pod carries its configuration's hash
// (io.cove.kube.hash), so a re-play keeps the unchanged pods, replaces the changed ones (a
// Deployment's one at a time, the new pod up and ready before an old one goes), scales up and
// down, and a failure part way removes what this play made. Jobs are run to completion here;
// CronJobs are recorded, not scheduled. kube down removes the pods (and their own volumes) the
// file's workloads own, the claims' volumes only with --force, and nothing else.

import { lstat, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pack } from "tar-stream";
import { conflict, CoveError, fromErrno, invalid, isErrno, notFound, systemError } from "../common/errors.js";
import { EngineError, type EngineClient } from "../client/index.js";
import type { ContainerInspect } from "../docker/index.js";
import { KUBE_LABEL, planKube, type HostPathCheck, type Plan, type PlannedContainer, type PlannedPod, type PlannedVolume, type PlannedWorkload } from "../kube/index.js";
import type { PodSummary } from "../pods/index.js";
import { command, type Command, type Run } from "./command.js";

const enc = encodeURIComponent;
/** How many pods kube play starts, or kube down stops, at a time. */
const PARALLEL = 4;

/** fn over the items, at most n at a time; the first failure is thrown once all started ones settled. */
async function inParallel<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure.err;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function readInput(file: string, run: Run): Promise<string> {
  if (file === "-") {
    const chunks: Buffer[] = [];
    for await (const c of run.io.stdin as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks).toString("utf8");
  }
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw fromErrno(err, `reading ${file}`);
  }
}

function isMissing(err: unknown): boolean {
  return (err instanceof CoveError && err.kind === "not-found") || (err instanceof EngineError && err.status === 404);
}

/** What one play made, so that a failure part way can take it back. */
interface Made {
  pods: string[];
  volumes: string[];
  network?: string;
}

export interface PlayOptions {
  replace?: boolean;
  /** Wait for every pod's readiness probes to pass. */
  wait?: boolean;
  /** How long a pod may take to run and be ready, in ms (default 5 minutes). */
  timeoutMs?: number;
  progress: (line: string) => void;
}

// ------------------------------------------------------------------ preflight

/** hostPath volumes checked on this host as the kubelet checks them; the *OrCreate ones are made at the play. */
async function checkHostPath(h: HostPathCheck): Promise<void> {
  let st;
  try {
    st = await lstat(h.path);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw fromErrno(err, `${h.field}: ${h.path}`);
    if (h.type === "" || h.type === "DirectoryOrCreate" || h.type === "FileOrCreate") return;
    throw notFound(`${h.field}: ${h.path} does not exist on this host, and its type ${h.type} needs it`, { hint: h.type === "Directory" ? "create it, or give the type DirectoryOrCreate" : h.type === "File" ? "create it, or give the type FileOrCreate" : undefined });
  }
  const want: Record<string, [boolean, string]> = {
    Directory: [st.isDirectory(), "a directory"],
    DirectoryOrCreate: [st.isDirectory(), "a directory"],
    File: [st.isFile(), "a file"],
    FileOrCreate: [st.isFile(), "a file"],
    Socket: [st.isSocket(), "a socket"],
    CharDevice: [st.isCharacterDevice(), "a character device"],
    BlockDevice: [st.isBlockDevice(), "a block device"],
  };
  const w = want[h.type];
  if (w && !w[0]) throw invalid(`${h.field}: ${h.path} is not ${w[1]}, as its type ${h.type} says`, { code: "kube.host-path" });
}

async function makeHostPath(h: HostPathCheck): Promise<void> {
  try {
    if (h.type === "DirectoryOrCreate") await mkdir(h.path, { recursive: true, mode: 0o755 });
    else if (h.type === "FileOrCreate") {
      await mkdir(path.dirname(h.path), { recursive: true, mode: 0o755 });
      await writeFile(h.path, "", { flag: "a", mode: 0o644 });
    }
  } catch (err) {
    throw fromErrno(err, `${h.field}: creating ${h.path}`);
  }
}

async function ensureImage(client: EngineClient, image: string, progress: (l: string) => void): Promise<void> {
  try {
    await client.imageInspect(image);
    return;
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  progress(`Image ${image}: pulling`);
  let failure: string | undefined;
  try {
    const res = await client.imagePull({ fromImage: image });
    for await (const chunk of res) for (const line of String(chunk).split("\n")) if (line.includes('"error"')) failure ??= (JSON.parse(line) as { error: string }).error;
  } catch (err) {
    failure = message(err);
  }
  if (failure) throw notFound(`image ${image} is not present and could not be pulled: ${failure}`, { hint: `pull or build it first (cove pull ${image})` });
  await client.imageInspect(image);
}

async function kubePods(client: EngineClient, labels: string[]): Promise<PodSummary[]> {
  return client.json<PodSummary[]>("GET", "/cove/pods/json", { query: { filters: JSON.stringify({ label: labels }) } });
}

// ------------------------------------------------------------------ pods

/** A copy of a pod's plan under another name (a Job's attempts): its containers and own volumes renamed with it. */
function renamed(pod: PlannedPod, name: string): PlannedPod {
  const vols = new Map(pod.volumes.map((v) => [v.name, `${name}${v.name.slice(pod.name.length)}`]));
  const spec = structuredClone(pod.spec);
  spec.name = name;
  spec.hostname = name.slice(0, 63).replace(/[-.]+$/, "");
  for (const n of Object.values(spec.Networks ?? {})) if (n?.aliases) n.aliases = n.aliases.map((a) => (a === pod.name ? name : a));
  const ctr = (c: PlannedContainer): PlannedContainer => {
    const body = structuredClone(c.body);
    body.Labels = { ...body.Labels, [KUBE_LABEL.pod]: name };
    for (const m of body.HostConfig?.Mounts ?? []) if (m.Source && vols.has(m.Source)) m.Source = vols.get(m.Source)!;
    return { ...c, name: `${name}-${c.kubeName}`, body };
  };
  return {
    ...pod,
    name,
    spec,
    init: pod.init.map(ctr),
    containers: pod.containers.map(ctr),
    volumes: pod.volumes.map((v) => ({ ...v, name: vols.get(v.name)!, labels: { ...v.labels, [KUBE_LABEL.pod]: name } })),
  };
}

/** Writes a configMap or secret volume's files: through a container that mounts it and is never started. */
async function fillVolume(client: EngineClient, vol: PlannedVolume, image: string): Promise<void> {
  if (!vol.files?.length) return;
  const p = pack();
  const mtime = new Date();
  const dirs = new Set<string>();
  for (const f of vol.files) {
    const parts = f.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!dirs.has(d)) {
        dirs.add(d);
        p.entry({ name: `data/${d}`, type: "directory", mode: 0o755, mtime });
      }
    }
    p.entry({ name: `data/${f.path}`, type: "file", mode: f.mode, size: f.data.length, mtime }, f.data);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  const helper = await client.containerCreate({ Image: image, Entrypoint: ["/nonexistent"], Cmd: [], NetworkDisabled: true, Labels: { [KUBE_LABEL.volume]: "fill" }, HostConfig: { NetworkMode: "none", Mounts: [{ Type: "volume", Source: vol.name, Target: "/data" }] } });
  try {
    await client.containerArchivePut(helper.Id, "/", Buffer.concat(chunks));
  } finally {
    await client.containerRemove(helper.Id, { force: true });
  }
}

/** Runs a readiness (or any) probe once in a container: whether it passed. */
async function probeOnce(client: EngineClient, id: string, test: string[], timeoutMs: number): Promise<boolean> {
  const cmd = test[0] === "CMD-SHELL" ? ["/bin/sh", "-c", test.slice(1).join(" ")] : test[0] === "CMD" ? test.slice(1) : test;
  const exec = await client.execCreate(id, { Cmd: cmd, AttachStdout: false, AttachStderr: false });
  await client.execStart(exec.Id);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const st = await client.execInspect(exec.Id);
    if (!st.Running && (st.ExitCode !== null || Date.now() > end)) return st.ExitCode === 0;
    if (Date.now() > end) return false;
    await sleep(100);
  }
}

/** Waits until the pod's app containers run and their readiness probes pass (or one exits, which fails the wait). */
async function waitReady(client: EngineClient, pod: PlannedPod, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (const c of pod.containers) {
    for (;;) {
      const st = await client.containerInspect(c.name);
      const running = st.State.Running && !st.State.Restarting;
      if (running && (!c.readiness || (await probeOnce(client, st.Id, c.readiness.test, 10_000)))) break;
      if (!running && st.State.Status === "exited" && c.body.HostConfig?.RestartPolicy?.Name === "no")
        throw systemError(`pod ${pod.name}: container ${c.kubeName} exited (${st.State.ExitCode}) before it was ready`, { code: "kube.not-ready", hint: `see its logs: cove logs ${c.name}` });
      if (Date.now() > end) throw systemError(`pod ${pod.name}: container ${c.kubeName} was not ${running ? "ready" : "running"} within ${Math.round(timeoutMs / 1000)} s`, { code: "kube.not-ready", hint: `see its logs: cove logs ${c.name}` });
      await sleep(c.readiness && running ? Math.min(c.readiness.periodMs, 1000) : 200);
    }
  }
}

async function removePod(client: EngineClient, name: string, progress: (l: string) => void): Promise<void> {
  try {
    // terminated as the kubelet does: SIGTERM, then each container's grace period (terminationGracePeriodSeconds), then gone
    await client.json("POST", `/cove/pods/${enc(name)}/stop`);
    await client.json("DELETE", `/cove/pods/${enc(name)}`, { query: { force: "1" } });
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  // the pod's own volumes (emptyDir, configMap, secret) go with it
  const vols = await client.volumeList({ label: [`${KUBE_LABEL.pod}=${name}`, `${KUBE_LABEL.volume}=pod`] });
  for (const v of vols.Volumes ?? []) {
    try {
      await client.volumeRemove(v.Name, { force: true });
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
  progress(`Pod ${name}: removed`);
}

/** Creates a pod, its volumes and containers, and starts it: init containers one after the other to completion, then the others. */
async function createPod(client: EngineClient, plan: Plan, pod: PlannedPod, made: Made, opts: { start: boolean }): Promise<void> {
  for (const h of pod.hostPaths) await makeHostPath(h);
  for (const v of pod.volumes) {
    await client.volumeCreate({ Name: v.name, Labels: v.labels, ...(v.driverOpts ? { DriverOpts: v.driverOpts } : {}) });
    made.volumes.push(v.name);
    await fillVolume(client, v, pod.images[0]!);
  }
  await client.json("POST", "/cove/pods/create", { body: pod.spec });
  made.pods.push(pod.name);
  let podIp: string | undefined;
  const all = [...pod.init, ...pod.containers];
  if (all.some((c) => c.podIpEnv.length)) {
    // status.podIP: the pod's network is up once its infra runs
    const info = await client.json<{ InfraContainerID: string }>("GET", `/cove/pods/${enc(pod.name)}/json`);
    await client.containerStart(info.InfraContainerID);
    const infra = await client.containerInspect(info.InfraContainerID);
    podIp = infra.NetworkSettings?.Networks?.[plan.network]?.IPAddress ?? "";
  }
  for (const c of all) {
    const body = structuredClone(c.body);
    if (c.podIpEnv.length) body.Env = (body.Env ?? []).map((e) => (c.podIpEnv.includes(e.slice(0, e.indexOf("="))) ? `${e.slice(0, e.indexOf("="))}=${podIp}` : e));
    await client.containerCreate(body, { name: c.name, pod: pod.name });
  }
  if (!opts.start) return;
  for (const c of pod.init) {
    await client.containerStart(c.name);
    const res = await client.containerWait(c.name);
    if (res.StatusCode !== 0) throw systemError(`pod ${pod.name}: init container ${c.kubeName} exited with ${res.StatusCode}`, { code: "kube.init-failed", hint: `see its logs: cove logs ${c.name}` });
  }
  for (const c of pod.containers) await client.containerStart(c.name);
}

// ------------------------------------------------------------------ workloads

async function convergeWorkload(client: EngineClient, plan: Plan, w: PlannedWorkload, made: Made, opts: PlayOptions): Promise<void> {
  const existing = await kubePods(client, [`${KUBE_LABEL.owner}=${w.owner}`, `${KUBE_LABEL.namespace}=${w.namespace}`]);
  const byName = new Map(existing.map((p) => [p.Name, p]));
  const same = (p: PlannedPod) => !opts.replace && byName.get(p.name)?.Labels[KUBE_LABEL.hash] === p.hash;
  const timeout = opts.timeoutMs ?? 300_000;
  const create = async (p: PlannedPod) => {
    await createPod(client, plan, p, made, { start: true });
    const waited = opts.wait || w.update === "rolling";
    if (waited) await waitReady(client, p, timeout);
    opts.progress(`Pod ${p.name}: ${byName.has(p.name) ? "replaced" : "created"}${waited ? " (ready)" : ""}`);
  };
  if (w.update === "job") return runJob(client, plan, w, existing, made, opts);
  const keep = w.pods.filter(same);
  for (const p of keep) {
    if (opts.wait) await waitReady(client, p, timeout);
    opts.progress(`Pod ${p.name}: unchanged${opts.wait ? " (ready)" : ""}`);
  }
  const wanted = new Set(w.pods.map((p) => p.name));
  if (w.update === "ordered") {
    for (const p of w.pods) {
      if (keep.includes(p)) continue;
      if (byName.has(p.name)) await removePod(client, p.name, () => undefined);
      await create(p);
    }
  } else {
    // a rolling update: each new pod up (and ready) before an old one goes, unless it needs the old one's host ports
    const old = existing.filter((e) => !keep.some((k) => k.name === e.Name)).sort((a, b) => Number(b.Labels[KUBE_LABEL.replica] ?? 0) - Number(a.Labels[KUBE_LABEL.replica] ?? 0));
    const fresh = w.pods.filter((p) => !keep.includes(p));
    // nothing to replace (a new workload, or a scale up): the new pods start side by side, as a ReplicaSet starts them
    if (!old.length) return inParallel(fresh, PARALLEL, create);
    for (const p of fresh) {
      const clash = old.findIndex((o) => o.Name === p.name);
      if (clash >= 0) await removePod(client, old.splice(clash, 1)[0]!.Name, opts.progress);
      else if (p.fixedPorts && old.length) await removePod(client, old.shift()!.Name, opts.progress);
      await create(p);
      if (old.length) await removePod(client, old.shift()!.Name, opts.progress);
    }
    for (const o of old) await removePod(client, o.Name, opts.progress);
    return;
  }
  // scaled down: the pods no longer wanted go, the highest replica first
  const extra = existing.filter((e) => !wanted.has(e.Name)).sort((a, b) => Number(b.Labels[KUBE_LABEL.replica] ?? 0) - Number(a.Labels[KUBE_LABEL.replica] ?? 0));
  for (const e of extra) await removePod(client, e.Name, opts.progress);
}

/** The state of a Job's pod: done (every app container exited 0), failed, or running. */
async function jobPodState(client: EngineClient, pod: PlannedPod, backoffLimit: number, onFailure: boolean): Promise<"done" | "failed" | "running"> {
  let done = true;
  for (const c of pod.containers) {
    let st: ContainerInspect;
    try {
      st = await client.containerInspect(c.name);
    } catch (err) {
      if (isMissing(err)) return "failed";
      throw err;
    }
    if (st.State.Running || st.State.Restarting || st.State.Status === "created") done = false;
    else if (st.State.ExitCode !== 0) {
      if (!onFailure || st.RestartCount >= backoffLimit) return "failed";
      done = false;
    }
  }
  return done ? "done" : "running";
}

async function runJob(client: EngineClient, plan: Plan, w: PlannedWorkload, existing: PodSummary[], made: Made, opts: PlayOptions): Promise<void> {
  const job = w.job!;
  const template = w.pods[0]!;
  const ours = existing.filter((e) => e.Labels[KUBE_LABEL.hash] === template.hash);
  if (!opts.replace && ours.length && ours.length === existing.length) {
    opts.progress(`Job ${w.name}: unchanged (${ours.length} pod${ours.length === 1 ? "" : "s"} kept)`);
    return;
  }
  for (const e of existing) await removePod(client, e.Name, opts.progress);
  const onFailure = job.restartPolicy === "OnFailure";
  let attempt = 0;
  let succeeded = 0;
  let failed = 0;
  const running: PlannedPod[] = [];
  const end = Date.now() + (opts.timeoutMs ?? 300_000);
  for (;;) {
    while (running.length < job.parallelism && succeeded + running.length < job.completions) {
      const p = renamed(template, `${template.name}-${attempt++}`);
      if (onFailure) for (const c of p.containers) c.body.HostConfig = { ...c.body.HostConfig, RestartPolicy: { Name: "on-failure", MaximumRetryCount: job.backoffLimit } };
      await createPod(client, plan, p, made, { start: true });
      opts.progress(`Pod ${p.name}: created`);
      running.push(p);
    }
    if (!running.length) break;
    for (const p of [...running]) {
      const st = await jobPodState(client, p, job.backoffLimit, onFailure);
      if (st === "running") continue;
      running.splice(running.indexOf(p), 1);
      if (st === "done") succeeded++;
      else failed++;
    }
    if (failed > (onFailure ? 0 : job.backoffLimit)) {
      // the pods that still run stop: the job has failed
      for (const p of running) await client.json("POST", `/cove/pods/${enc(p.name)}/stop`, { query: { t: "0" } }).catch(() => undefined);
      throw systemError(`Job ${w.name} failed: ${failed} pod${failed === 1 ? "" : "s"} failed (backoffLimit ${job.backoffLimit}); ${succeeded} of ${job.completions} completed`, { code: "kube.job-failed", hint: `see the pods' logs: cove pod logs ${template.name}-${attempt - 1}` });
    }
    if (succeeded >= job.completions) break;
    if (Date.now() > end) throw systemError(`Job ${w.name} did not complete within ${Math.round((opts.timeoutMs ?? 300_000) / 1000)} s (${succeeded} of ${job.completions} completed)`, { code: "kube.job-timeout" });
    await sleep(200);
  }
  opts.progress(`Job ${w.name}: complete (${succeeded}/${job.completions})`);
}

// ------------------------------------------------------------------ play and down

/** Everything made is checked first: images (pulled when missing), host paths, the network, names taken by others. */
async function preflight(client: EngineClient, plan: Plan, progress: (l: string) => void): Promise<{ networkExists: boolean }> {
  const pods = plan.workloads.flatMap((w) => w.pods);
  for (const image of new Set(pods.flatMap((p) => p.images))) await ensureImage(client, image, progress);
  for (const h of pods.flatMap((p) => p.hostPaths)) await checkHostPath(h);
  let networkExists = true;
  try {
    await client.json("GET", `/networks/${enc(plan.network)}`);
  } catch (err) {
    if (!isMissing(err)) throw err;
    networkExists = false;
  }
  // a pod or container of the same name that this play does not own is not touched
  for (const w of plan.workloads)
    for (const p of w.pods) {
      let info: { Labels: Record<string, string> } | undefined;
      try {
        info = await client.json<{ Labels: Record<string, string> }>("GET", `/cove/pods/${enc(p.name)}/json`);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      if (info && (info.Labels[KUBE_LABEL.owner] !== w.owner || info.Labels[KUBE_LABEL.namespace] !== w.namespace))
        throw conflict(`a pod named ${p.name} exists and was not made by this ${w.kind}`, { code: "kube.name-taken", hint: `remove it (cove pod rm -f ${p.name}) or rename the ${w.kind}` });
      for (const c of [...p.init, ...p.containers]) {
        let ctr: ContainerInspect | undefined;
        try {
          ctr = await client.containerInspect(c.name);
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
        if (ctr && ctr.Config.Labels?.[KUBE_LABEL.owner] !== w.owner)
          throw conflict(`a container named ${c.name} exists and was not made by this ${w.kind}`, { code: "kube.name-taken", hint: `remove it (cove rm -f ${c.name})` });
      }
    }
  return { networkExists };
}

/** Plays a plan: what is missing is made, what changed is replaced, what is gone is removed; a failure takes back what it made. */
export async function play(client: EngineClient, plan: Plan, opts: PlayOptions): Promise<void> {
  const { networkExists } = await preflight(client, plan, opts.progress);
  const made: Made = { pods: [], volumes: [] };
  try {
    const needNetwork = plan.workloads.some((w) => w.pods.some((p) => p.spec.Networks));
    if (!networkExists && needNetwork) {
      await client.json("POST", "/networks/create", { body: { Name: plan.network, Driver: "bridge", Labels: { [KUBE_LABEL.network]: "true" } } });
      made.network = plan.network;
      opts.progress(`Network ${plan.network}: created`);
    }
    for (const v of plan.volumes) {
      try {
        await client.volumeInspect(v.name);
        continue;
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      await client.volumeCreate({ Name: v.name, Labels: v.labels });
      made.volumes.push(v.name);
      opts.progress(`Volume ${v.name}: created`);
    }
    // claim templates of StatefulSets: made on first use, kept across re-plays
    for (const w of plan.workloads)
      for (const p of w.pods)
        for (const claim of p.claims) {
          if (plan.volumes.some((v) => v.name === claim)) continue;
          try {
            await client.volumeInspect(claim);
            continue;
          } catch (err) {
            if (!isMissing(err)) throw err;
          }
          await client.volumeCreate({ Name: claim, Labels: { [KUBE_LABEL.namespace]: w.namespace, [KUBE_LABEL.owner]: w.owner, [KUBE_LABEL.volume]: "pvc" } });
          made.volumes.push(claim);
          opts.progress(`Volume ${claim}: created`);
        }
    for (const w of plan.workloads) await convergeWorkload(client, plan, w, made, opts);
    for (const c of plan.cronJobs) opts.progress(`CronJob ${c}: recorded, not scheduled`);
  } catch (err) {
    opts.progress(`kube play failed: ${message(err)}: removing what it made`);
    for (const p of made.pods.reverse()) await removePod(client, p, () => undefined).catch((e: unknown) => opts.progress(`could not remove pod ${p}: ${message(e)}`));
    for (const v of made.volumes.reverse()) await client.volumeRemove(v, { force: true }).catch((e: unknown) => (isMissing(e) ? undefined : opts.progress(`could not remove volume ${v}: ${message(e)}`)));
    if (made.network) await client.json("DELETE", `/networks/${enc(made.network)}`).catch((e: unknown) => opts.progress(`could not remove network ${made.network}: ${message(e)}`));
    throw err;
  }
}

/** Removes what the file's objects made: their pods (and the pods' own volumes); with force, the claims' volumes; the play's network once empty. */
export async function down(client: EngineClient, plan: Plan, opts: { force?: boolean; progress: (l: string) => void }): Promise<void> {
  for (const w of plan.workloads) {
    const pods = await kubePods(client, [`${KUBE_LABEL.owner}=${w.owner}`, `${KUBE_LABEL.namespace}=${w.namespace}`]);
    // terminated side by side, each with its grace period, as the kubelet deletes them
    await inParallel(pods, PARALLEL, (p) => removePod(client, p.Name, opts.progress));
  }
  if (opts.force) {
    const names = new Set(plan.volumes.map((v) => v.name));
    for (const w of plan.workloads) {
      const vols = await client.volumeList({ label: [`${KUBE_LABEL.owner}=${w.owner}`, `${KUBE_LABEL.namespace}=${w.namespace}`, `${KUBE_LABEL.volume}=pvc`] });
      for (const v of vols.Volumes ?? []) names.add(v.Name);
    }
    for (const n of names) {
      try {
        const v = await client.volumeInspect(n);
        // only what kube play made
        if (!v.Labels?.[KUBE_LABEL.volume]) continue;
        await client.volumeRemove(n, { force: true });
        opts.progress(`Volume ${n}: removed`);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
  }
  try {
    const net = await client.json<{ Labels?: Record<string, string>; Containers?: Record<string, unknown> }>("GET", `/networks/${enc(plan.network)}`);
    if (net.Labels?.[KUBE_LABEL.network] === "true" && !Object.keys(net.Containers ?? {}).length) {
      await client.json("DELETE", `/networks/${enc(plan.network)}`);
      opts.progress(`Network ${plan.network}: removed`);
    }
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

// ------------------------------------------------------------------ commands

const planOf = async (file: string, network: string | undefined, run: Run): Promise<Plan> => {
  const plan = planKube(await readInput(file, run), network ? { network } : {});
  for (const w of plan.warnings) run.err(`Warning: ${w}\n`);
  return plan;
};

const playCommand = command(
  {
    name: "kube play",
    usage: "cove kube play [OPTIONS] FILE|-",
    summary: "Create (or converge) pods, volumes and a network from Kubernetes YAML",
    flags: {
      network: { type: "string", valueName: "string", description: "The network the pods join (default cove-kube, created when missing)" },
      replace: { type: "bool", description: "Replace every pod of the file, changed or not" },
      wait: { type: "bool", short: "w", description: "Wait until every pod runs and its readiness probes pass" },
      timeout: { type: "int", valueName: "int", default: 300, description: "Seconds a pod may take to be ready, and a Job to complete" },
      quiet: { type: "bool", short: "q", description: "Print nothing but errors and warnings" },
    },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    if (flags.timeout < 1) throw invalid(`invalid argument "${flags.timeout}" for "--timeout" flag: must be 1 or more`, { code: "cli.usage" });
    const plan = await planOf(args[0]!, flags.network, run);
    const progress = flags.quiet ? () => undefined : (l: string) => run.out(`${l}\n`);
    await play(await run.client(), plan, { replace: flags.replace, wait: flags.wait, timeoutMs: flags.timeout * 1000, progress });
    return 0;
  },
);

const downCommand = command(
  {
    name: "kube down",
    usage: "cove kube down [OPTIONS] FILE|-",
    summary: "Remove the pods (and their own volumes) that kube play made from Kubernetes YAML",
    flags: {
      force: { type: "bool", description: "Remove the volumes of the file's PersistentVolumeClaims and claim templates too" },
      network: { type: "string", valueName: "string", description: "The network the play used (default cove-kube): removed when kube play made it and it is empty" },
    },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    const plan = await planOf(args[0]!, flags.network, run);
    await down(await run.client(), plan, { force: flags.force, progress: (l) => run.out(`${l}\n`) });
    return 0;
  },
);

/** `cove kube play` and `cove kube down`, keyed by command path. */
export const kubePlayCommands: Record<string, Command> = {
  "kube play": playCommand,
  "kube down": downCommand,
};

// ExecSync (a command in a running CRI container, its whole output and exit code in one answer)
// and the stats calls (ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats)
// from the container service's exec and cgroup figures. The streaming calls (Exec, Attach,
// PortForward) need the CRI's streaming server, which cove does not serve: they answer
// UNIMPLEMENTED with a message saying so.

import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { CoveError, isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { parseNetDev, type ContainerService } from "../containers/index.js";
import type { RuntimeStats } from "../runtime/types.js";
import type { CriContainer, CriContainers } from "./containers.js";
import { int, invalidArgument, matchesSelector, nowNanos, userKeys } from "./meta.js";
import type { Sandbox, Sandboxes } from "./sandboxes.js";
import { StatusError, unary } from "./status.js";

/** What ExecSync keeps of each stream, as containerd caps it (16 MiB). */
export const EXEC_SYNC_MAX_OUTPUT = 16 << 20;

export interface ExecStatsDeps {
  containers: ContainerService;
  criContainers: CriContainers;
  sandboxes: Sandboxes;
  /** The filesystem holding the writable layers (FilesystemUsage's fs_id). */
  root: string;
  log: (line: string) => void;
}

const u64 = (n: number | undefined) => (n === undefined ? null : { value: String(Math.max(0, Math.round(n))) });

/** The working set as the kubelet counts it: usage less the inactive file pages. */
export function workingSet(usage: number, stat: Record<string, number>): number {
  const inactive = stat.total_inactive_file ?? stat.inactive_file ?? 0;
  return Math.max(0, usage - inactive);
}

export class ExecAndStats {
  constructor(private readonly deps: ExecStatsDeps) {}

  async execSync(req: { container_id?: string; cmd?: string[]; timeout?: string | number }): Promise<{ stdout: Buffer; stderr: Buffer; exit_code: number }> {
    const c = await this.deps.criContainers.get(req.container_id ?? "");
    const cmd = req.cmd ?? [];
    if (cmd.length === 0) throw invalidArgument("ExecSync: cmd is empty: give the command to run");
    const timeoutSec = int(req.timeout);
    const { containers } = this.deps;
    const { Id: execId } = await containers.execCreate(c.inspect.Id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const session = await containers.execStart(execId);
    const out: Record<"stdout" | "stderr", Buffer[]> = { stdout: [], stderr: [] };
    const size = { stdout: 0, stderr: 0 };
    const collected = (async () => {
      for await (const chunk of session.output) {
        const room = EXEC_SYNC_MAX_OUTPUT - size[chunk.stream];
        if (room <= 0) continue; // past the cap: read on so the process is never held up, keep nothing
        const part = chunk.data.length > room ? chunk.data.subarray(0, room) : chunk.data;
        out[chunk.stream].push(Buffer.from(part));
        size[chunk.stream] += part.length;
      }
    })();
    const finished = Promise.all([session.exitCode, collected]).then(([code]) => code);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      if (timeoutSec > 0) timer = setTimeout(() => resolve("timeout"), timeoutSec * 1000);
    });
    try {
      const r = await Promise.race([finished, timedOut]);
      if (r === "timeout") {
        // the process is killed, as containerd kills it, and the answer says the time ran out
        const pid = containers.execInspect(execId).Pid;
        if (pid > 0) {
          try {
            process.kill(pid, "SIGKILL");
          } catch (err) {
            if (!isErrno(err, "ESRCH")) ignored(`kill exec ${execId} after its timeout`, err, this.deps.log);
          }
        }
        session.close();
        throw new StatusError(grpc.status.DEADLINE_EXCEEDED, `command [${cmd.join(" ")}] in container ${c.inspect.Id} timed out after ${timeoutSec}s: the process was killed`);
      }
      return { stdout: Buffer.concat(out.stdout), stderr: Buffer.concat(out.stderr), exit_code: r };
    } finally {
      clearTimeout(timer);
    }
  }

  private async cgroup(id: string): Promise<RuntimeStats | undefined> {
    try {
      return await this.deps.containers.cgroupStats(id);
    } catch (err) {
      // not running (its cgroup is gone): no figures
      if ((err instanceof CoveError && (err.kind === "not-found" || err.kind === "conflict")) || isErrno(err, "ENOENT", "ENODEV", "ESRCH")) return undefined;
      throw err;
    }
  }

  private async writableLayer(id: string, timestamp: string): Promise<Record<string, unknown> | null> {
    try {
      const i = await this.deps.containers.inspect(id, { size: true });
      return { timestamp, fs_id: { mountpoint: this.deps.root }, used_bytes: u64(i.SizeRw ?? 0), inodes_used: null };
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return null;
      throw err;
    }
  }

  private usage(cg: RuntimeStats | undefined, timestamp: string): { cpu: Record<string, unknown> | null; memory: Record<string, unknown> | null } {
    if (!cg) return { cpu: null, memory: null };
    const cpu = cg.cpu ? { timestamp, usage_core_nano_seconds: u64(cg.cpu.usageTotal), usage_nano_cores: null } : null;
    const mem = cg.memory;
    const memory = mem
      ? {
          timestamp,
          working_set_bytes: u64(workingSet(mem.usage, mem.stat)),
          available_bytes: mem.limit !== undefined ? u64(Math.max(0, mem.limit - workingSet(mem.usage, mem.stat))) : null,
          usage_bytes: u64(mem.usage),
          rss_bytes: u64(mem.rss ?? mem.stat.total_rss ?? mem.stat.anon ?? 0),
          page_faults: u64(mem.stat.total_pgfault ?? mem.stat.pgfault ?? 0),
          major_page_faults: u64(mem.stat.total_pgmajfault ?? mem.stat.pgmajfault ?? 0),
        }
      : null;
    return { cpu, memory };
  }

  async containerStats(c: CriContainer): Promise<Record<string, unknown>> {
    const timestamp = nowNanos();
    const cg = c.inspect.State.Running ? await this.cgroup(c.inspect.Id) : undefined;
    return {
      attributes: { id: c.inspect.Id, metadata: c.meta.metadata, labels: userKeys(c.inspect.Config.Labels), annotations: userKeys(c.inspect.HostConfig.Annotations) },
      ...this.usage(cg, timestamp),
      writable_layer: await this.writableLayer(c.inspect.Id, timestamp),
    };
  }

  async sandboxStats(s: Sandbox): Promise<Record<string, unknown>> {
    const timestamp = nowNanos();
    const members = (await this.deps.criContainers.all()).filter((c) => c.meta.sandboxId === s.pod.Id);
    const containers = await Promise.all(members.map((c) => this.containerStats(c)));
    // the pod's figures: its containers' and its infra's summed (cove's pods have no cgroup of their own)
    let cpu = 0;
    let mem = 0;
    let usage = 0;
    let procs = 0;
    let any = false;
    let infraPid = 0;
    for (const id of [s.pod.InfraContainerID, ...members.filter((m) => m.inspect.State.Running).map((m) => m.inspect.Id)]) {
      const cg = await this.cgroup(id);
      if (!cg) continue;
      any = true;
      cpu += cg.cpu?.usageTotal ?? 0;
      if (cg.memory) {
        mem += workingSet(cg.memory.usage, cg.memory.stat);
        usage += cg.memory.usage;
      }
      procs += cg.pids?.current ?? 0;
    }
    try {
      const infra = await this.deps.containers.inspect(s.pod.InfraContainerID);
      infraPid = infra.State.Running ? infra.State.Pid : 0;
    } catch (err) {
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    return {
      attributes: { id: s.pod.Id, metadata: s.meta.metadata, labels: userKeys(s.pod.Labels), annotations: userKeys(s.pod.Annotations) },
      linux: {
        cpu: any ? { timestamp, usage_core_nano_seconds: u64(cpu), usage_nano_cores: null } : null,
        memory: any ? { timestamp, working_set_bytes: u64(mem), usage_bytes: u64(usage), available_bytes: null, rss_bytes: null, page_faults: null, major_page_faults: null } : null,
        network: infraPid && s.meta.namespaces.network !== "NODE" ? await this.network(infraPid, timestamp) : null,
        process: any ? { timestamp, process_count: u64(procs) } : null,
        containers,
      },
    };
  }

  private async network(pid: number, timestamp: string): Promise<Record<string, unknown> | null> {
    let text: string;
    try {
      text = await readFile(`/proc/${pid}/net/dev`, "utf8");
    } catch (err) {
      if (isErrno(err, "ENOENT", "ESRCH")) return null; // exited meanwhile
      throw err;
    }
    const interfaces = Object.entries(parseNetDev(text)).map(([name, n]) => ({ name, rx_bytes: u64(n.rx_bytes), rx_errors: u64(n.rx_errors), tx_bytes: u64(n.tx_bytes), tx_errors: u64(n.tx_errors) }));
    return { timestamp, default_interface: interfaces.find((i) => i.name === "eth0") ?? interfaces[0] ?? null, interfaces };
  }

  handlers(): grpc.UntypedServiceImplementation {
    // (Exec, Attach and PortForward are the streaming server's: src/cri/streaming)
    return {
      ExecSync: unary((req: { container_id?: string; cmd?: string[]; timeout?: string }) => this.execSync(req)),
      ContainerStats: unary(async (req: { container_id?: string }) => ({ stats: await this.containerStats(await this.deps.criContainers.get(req.container_id ?? "")) })),
      ListContainerStats: unary(async (req: { filter?: { id?: string; pod_sandbox_id?: string; label_selector?: Record<string, string> } | null }) => {
        const f = req.filter;
        const out: Record<string, unknown>[] = [];
        for (const c of await this.deps.criContainers.all()) {
          if (f?.id && !c.inspect.Id.startsWith(f.id)) continue;
          if (f?.pod_sandbox_id && !c.meta.sandboxId.startsWith(f.pod_sandbox_id)) continue;
          if (!matchesSelector(userKeys(c.inspect.Config.Labels), f?.label_selector)) continue;
          out.push(await this.containerStats(c));
        }
        return { stats: out };
      }),
      PodSandboxStats: unary(async (req: { pod_sandbox_id?: string }) => ({ stats: await this.sandboxStats(await this.deps.sandboxes.get(req.pod_sandbox_id ?? "")) })),
      ListPodSandboxStats: unary(async (req: { filter?: { id?: string; label_selector?: Record<string, string> } | null }) => {
        const f = req.filter;
        const out: Record<string, unknown>[] = [];
        for (const s of await this.deps.sandboxes.all()) {
          if (f?.id && !s.pod.Id.startsWith(f.id)) continue;
          if (!matchesSelector(s.pod.Labels, f?.label_selector)) continue;
          out.push(await this.sandboxStats(s));
        }
        return { stats: out };
      }),
    };
  }
}

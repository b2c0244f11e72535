// The cgroup v1 driver: one directory per mounted hierarchy. Every mounted hierarchy is joined
// (including named ones such as name=systemd, as runc does, so tools that look the container up
// by cgroup find it everywhere); on a hybrid host the cgroup2 mount is joined too, which gives
// cgroup.kill and a complete process list even though it carries no controllers there.

import path from "node:path";
import { CoveError, conflict, invalid, systemError, unsupported } from "../../common/errors.js";
import { ignoring } from "../../common/ignore.js";
import type { LinuxResources } from "../spec.js";
import { v1DeviceWrites } from "./devicefilter.js";
import { BaseManager, missingController, sleep } from "./manager.js";
import { cgroupDir, normalizeCgroupsPath } from "./mountinfo.js";
import { parseBlkio, parseFlatKeyed, parseLimit, parseNumber, parsePerCpu, type CgroupStats } from "./stats.js";
import type { CgroupWrite } from "./types.js";
import { parseCpuList, validateResources } from "./values.js";

/** v1 reports "no limit" as about 2^63; anything this large is no limit a container reaches. */
const V1_UNLIMITED = 2 ** 62;

const USER_HZ = 100;

export class V1Manager extends BaseManager {
  readonly version = 1 as const;

  /** Resolves the directory of every hierarchy (no filesystem changes). */
  init(): this {
    const cg = normalizeCgroupsPath(this.opts.id, this.opts.cgroupsPath);
    for (const m of this.host.v1) {
      const dir = cgroupDir(m, cg, this.host.self[m.controllers[0] as string]);
      for (const c of m.controllers) this.paths[c] = dir;
    }
    if (this.host.unified) this.paths.unified = cgroupDir(this.host.unified, cg, this.host.self[""]);
    return this;
  }

  private dir(controller: string, field: string): string {
    const d = this.paths[controller];
    if (!d) throw missingController(controller, field);
    return d;
  }

  private mountOf(dir: string): string {
    const m = [...this.host.v1, ...(this.host.unified ? [this.host.unified] : [])].find((h) => dir === h.mountPoint || dir.startsWith(`${h.mountPoint}/`));
    return m ? m.mountPoint : path.dirname(dir);
  }

  async create(): Promise<void> {
    const r = this.opts.resources ?? {};
    validateResources(r);
    this.checkControllers(r);
    try {
      for (const dir of this.dirs()) {
        const isCpuset = dir === this.paths.cpuset;
        await this.mkdirChain(this.mountOf(dir), dir, isCpuset ? (d, parent) => this.inheritCpuset(d, parent) : undefined);
      }
      await this.apply(r);
    } catch (err) {
      await this.rollback();
      throw err;
    }
  }

  /** A new v1 cpuset cgroup has empty cpus/mems and no process can join it until they are set. */
  private async inheritCpuset(dir: string, parent: string): Promise<void> {
    for (const f of ["cpuset.cpus", "cpuset.mems"]) {
      const cur = (await this.readOr(path.join(dir, f), "")).trim();
      if (cur !== "") continue;
      const fromParent = (await this.read(path.join(parent, f))).trim();
      await this.runWrites([{ file: path.join(dir, f), value: fromParent, field: f === "cpuset.cpus" ? "cpu.cpus" : "cpu.mems" }]);
    }
  }

  /** Every controller the resources need must be mounted. */
  private checkControllers(r: LinuxResources): void {
    if (r.unified && Object.keys(r.unified).length > 0) {
      throw unsupported("linux.resources.unified requires cgroup v2, and this host drives cgroup v1", {
        code: "cgroup.unified-v1",
        field: "linux.resources.unified",
        hint: "remove linux.resources.unified, or run on a host with the unified (v2) hierarchy",
      });
    }
    const c = r.cpu;
    if (c && (c.shares || c.quota || c.period || c.burst !== undefined || c.realtimePeriod || c.realtimeRuntime !== undefined || c.idle !== undefined)) this.dir("cpu", "cpu");
    if (c && (c.cpus || c.mems)) this.dir("cpuset", c.cpus ? "cpu.cpus" : "cpu.mems");
    if (r.memory) this.dir("memory", "memory");
    if (r.pids) this.dir("pids", "pids");
    if (r.blockIO) this.dir("blkio", "blockIO");
    if (r.hugepageLimits?.length) this.dir("hugetlb", "hugepageLimits");
    if (r.network?.classID !== undefined) this.dir("net_cls", "network.classID");
    if (r.network?.priorities?.length) this.dir("net_prio", "network.priorities");
    if (r.devices) this.dir("devices", "devices");
    if (r.rdma && Object.keys(r.rdma).length > 0) this.dir("rdma", "rdma");
  }

  async apply(r: LinuxResources): Promise<void> {
    validateResources(r);
    this.checkControllers(r);
    // plan everything (reads only), then write
    const writes = [...(await this.planCpuset(r)), ...this.planDevices(r), ...(await this.planMemory(r)), ...(await this.planCpu(r)), ...this.planPids(r), ...(await this.planBlkio(r)), ...(await this.planHugetlb(r)), ...this.planNetwork(r), ...this.planRdma(r)];
    await this.runWrites(writes);
  }

  private async planCpuset(r: LinuxResources): Promise<CgroupWrite[]> {
    const out: CgroupWrite[] = [];
    if (r.cpu?.cpus) out.push({ file: path.join(this.dir("cpuset", "cpu.cpus"), "cpuset.cpus"), value: parseCpuList("cpu.cpus", r.cpu.cpus), field: "cpu.cpus" });
    if (r.cpu?.mems) out.push({ file: path.join(this.dir("cpuset", "cpu.mems"), "cpuset.mems"), value: parseCpuList("cpu.mems", r.cpu.mems), field: "cpu.mems" });
    return out;
  }

  private planDevices(r: LinuxResources): CgroupWrite[] {
    if (!r.devices) return [];
    const dir = this.dir("devices", "devices");
    return v1DeviceWrites(r.devices).map((w) => ({ file: path.join(dir, w.file), value: w.value, field: "devices" }));
  }

  private async planMemory(r: LinuxResources): Promise<CgroupWrite[]> {
    const m = r.memory;
    if (!m) return [];
    const dir = this.dir("memory", "memory");
    const f = (name: string) => path.join(dir, name);
    const out: CgroupWrite[] = [];
    if (m.kernel !== undefined && m.kernel !== 0) this.warn("linux.resources.memory.kernel is ignored: kernel memory limits are deprecated and no longer enforced by Linux (runc ignores them too)");
    if (m.kernelTCP !== undefined && m.kernelTCP !== 0) {
      if (await this.exists(f("memory.kmem.tcp.limit_in_bytes"))) out.push({ file: f("memory.kmem.tcp.limit_in_bytes"), value: String(m.kernelTCP), field: "memory.kernelTCP" });
      else this.warn("linux.resources.memory.kernelTCP is ignored: this kernel has no memory.kmem.tcp.limit_in_bytes");
    }
    if (m.useHierarchy === false) this.warn("linux.resources.memory.useHierarchy=false is ignored: the kernel always uses the hierarchy");
    const limit = m.limit === 0 ? undefined : m.limit;
    let swap = m.swap === 0 ? undefined : m.swap;
    const memswFile = f("memory.memsw.limit_in_bytes");
    const hasMemsw = await this.exists(memswFile);
    // -1 memory with no swap given means "unlimited both", as runc reads it
    if (limit === -1 && swap === undefined && hasMemsw) swap = -1;
    if (swap !== undefined && !hasMemsw) {
      if (swap === -1 || swap === limit) swap = undefined;
      else
        throw unsupported(`cannot set linux.resources.memory.swap (${swap}): swap accounting is disabled on this host (no memory.memsw.limit_in_bytes in ${dir})`, {
          code: "cgroup.swap-accounting",
          field: "linux.resources.memory.swap",
          hint: "boot the kernel with swapaccount=1, or remove linux.resources.memory.swap (or set it equal to the limit)",
        });
    }
    if (limit !== undefined && limit > 0 && m.checkBeforeUpdate) {
      const usage = parseNumber(await this.readOr(f("memory.usage_in_bytes"), "0"));
      if (limit < usage) throw conflict(`linux.resources.memory.limit ${limit} is below the cgroup's current usage ${usage} (checkBeforeUpdate)`, { field: "linux.resources.memory.limit", code: "cgroup.below-usage", hint: "raise the limit or free memory in the container first" });
    }
    const limitW: CgroupWrite | undefined = limit !== undefined ? { file: f("memory.limit_in_bytes"), value: String(limit), field: "memory.limit" } : undefined;
    const swapW: CgroupWrite | undefined = swap !== undefined ? { file: memswFile, value: String(swap), field: "memory.swap" } : undefined;
    // the kernel keeps memsw >= limit at every step: raise memsw first, lower limit first
    const curLimit = parseLimit(await this.readOr(f("memory.limit_in_bytes"), "max")) ?? Infinity;
    if (limitW && swapW) {
      if (swap === -1 || curLimit < (swap as number)) out.push(swapW, limitW);
      else out.push(limitW, swapW);
    } else if (limitW) {
      out.push(limitW);
    } else if (swapW) {
      if (swap !== -1 && (swap as number) < curLimit) throw invalid(`linux.resources.memory.swap ${swap} is below the current memory limit ${curLimit}; swap is the memory+swap total`, { field: "linux.resources.memory.swap", code: "cgroup.value-invalid", hint: "set swap >= limit, or give both limit and swap" });
      out.push(swapW);
    }
    if (m.reservation !== undefined && m.reservation !== 0) out.push({ file: f("memory.soft_limit_in_bytes"), value: String(m.reservation), field: "memory.reservation" });
    if (m.swappiness !== undefined && m.swappiness !== -1) out.push({ file: f("memory.swappiness"), value: String(m.swappiness), field: "memory.swappiness" });
    if (m.disableOOMKiller !== undefined) out.push({ file: f("memory.oom_control"), value: m.disableOOMKiller ? "1" : "0", field: "memory.disableOOMKiller" });
    return out;
  }

  private async planCpu(r: LinuxResources): Promise<CgroupWrite[]> {
    const c = r.cpu;
    if (!c) return [];
    const out: CgroupWrite[] = [];
    const need = async (file: string, field: string, why: string): Promise<string> => {
      const p = path.join(this.dir("cpu", field), file);
      if (!(await this.exists(p))) throw unsupported(`cannot set linux.resources.${field}: this kernel has no ${file} (${why})`, { code: "cgroup.file-missing", field: `linux.resources.${field}`, hint: `remove linux.resources.${field}` });
      return p;
    };
    if (c.shares) out.push({ file: await need("cpu.shares", "cpu.shares", "CONFIG_FAIR_GROUP_SCHED"), value: String(c.shares), field: "cpu.shares" });
    if (c.period) out.push({ file: await need("cpu.cfs_period_us", "cpu.period", "CONFIG_CFS_BANDWIDTH"), value: String(c.period), field: "cpu.period", retryLater: !!c.quota });
    if (c.quota) out.push({ file: await need("cpu.cfs_quota_us", "cpu.quota", "CONFIG_CFS_BANDWIDTH"), value: String(c.quota), field: "cpu.quota" });
    if (c.burst !== undefined) out.push({ file: await need("cpu.cfs_burst_us", "cpu.burst", "needs Linux 5.14 or later"), value: String(c.burst), field: "cpu.burst" });
    if (c.realtimePeriod) out.push({ file: await need("cpu.rt_period_us", "cpu.realtimePeriod", "CONFIG_RT_GROUP_SCHED"), value: String(c.realtimePeriod), field: "cpu.realtimePeriod" });
    if (c.realtimeRuntime !== undefined && c.realtimeRuntime !== 0) out.push({ file: await need("cpu.rt_runtime_us", "cpu.realtimeRuntime", "CONFIG_RT_GROUP_SCHED"), value: String(c.realtimeRuntime), field: "cpu.realtimeRuntime" });
    if (c.idle !== undefined) out.push({ file: await need("cpu.idle", "cpu.idle", "needs Linux 5.15 or later"), value: String(c.idle), field: "cpu.idle" });
    return out;
  }

  private planPids(r: LinuxResources): CgroupWrite[] {
    if (!r.pids) return [];
    return [{ file: path.join(this.dir("pids", "pids"), "pids.max"), value: r.pids.limit > 0 ? String(r.pids.limit) : "max", field: "pids.limit" }];
  }

  private async planBlkio(r: LinuxResources): Promise<CgroupWrite[]> {
    const b = r.blockIO;
    if (!b) return [];
    const dir = this.dir("blkio", "blockIO");
    const out: CgroupWrite[] = [];
    const missing = (field: string, files: string) =>
      unsupported(`cannot set linux.resources.blockIO.${field}: this host's blkio controller has no ${files} (no CFQ or BFQ I/O scheduler)`, {
        code: "cgroup.file-missing",
        field: `linux.resources.blockIO.${field}`,
        hint: `select the bfq I/O scheduler for the disk (echo bfq > /sys/block/<dev>/queue/scheduler) or remove linux.resources.blockIO.${field}`,
      });
    const hasWeight = await this.exists(path.join(dir, "blkio.weight"));
    const hasBfq = await this.exists(path.join(dir, "blkio.bfq.weight"));
    if (b.weight) {
      if (!hasWeight && !hasBfq) throw missing("weight", "blkio.weight or blkio.bfq.weight");
      out.push({ file: path.join(dir, hasWeight ? "blkio.weight" : "blkio.bfq.weight"), value: String(b.weight), field: "blockIO.weight" });
    }
    if (b.leafWeight) {
      if (!(await this.exists(path.join(dir, "blkio.leaf_weight")))) throw missing("leafWeight", "blkio.leaf_weight");
      out.push({ file: path.join(dir, "blkio.leaf_weight"), value: String(b.leafWeight), field: "blockIO.leafWeight" });
    }
    for (const [i, d] of (b.weightDevice ?? []).entries()) {
      if (d.weight !== undefined) {
        const hasDev = await this.exists(path.join(dir, "blkio.weight_device"));
        if (!hasDev && !hasBfq) throw missing(`weightDevice[${i}]`, "blkio.weight_device or blkio.bfq.weight");
        out.push({ file: path.join(dir, hasDev ? "blkio.weight_device" : "blkio.bfq.weight"), value: `${d.major}:${d.minor} ${d.weight}`, field: `blockIO.weightDevice[${i}]` });
      }
      if (d.leafWeight !== undefined) {
        if (!(await this.exists(path.join(dir, "blkio.leaf_weight_device")))) throw missing(`weightDevice[${i}].leafWeight`, "blkio.leaf_weight_device");
        out.push({ file: path.join(dir, "blkio.leaf_weight_device"), value: `${d.major}:${d.minor} ${d.leafWeight}`, field: `blockIO.weightDevice[${i}]` });
      }
    }
    const throttles = [
      ["throttleReadBpsDevice", "blkio.throttle.read_bps_device"],
      ["throttleWriteBpsDevice", "blkio.throttle.write_bps_device"],
      ["throttleReadIOPSDevice", "blkio.throttle.read_iops_device"],
      ["throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"],
    ] as const;
    for (const [key, file] of throttles) {
      const list = b[key] ?? [];
      if (list.length === 0) continue;
      if (!(await this.exists(path.join(dir, file)))) throw missing(key, `${file} (CONFIG_BLK_DEV_THROTTLING)`);
      list.forEach((d, i) => out.push({ file: path.join(dir, file), value: `${d.major}:${d.minor} ${d.rate}`, field: `blockIO.${key}[${i}]` }));
    }
    return out;
  }

  private async planHugetlb(r: LinuxResources): Promise<CgroupWrite[]> {
    const out: CgroupWrite[] = [];
    for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
      const dir = this.dir("hugetlb", "hugepageLimits");
      const file = path.join(dir, `hugetlb.${h.pageSize}.limit_in_bytes`);
      if (!(await this.exists(file))) throw await hugepageSizeError(this.fs, dir, h.pageSize, i, ".limit_in_bytes");
      out.push({ file, value: String(h.limit), field: `hugepageLimits[${i}]` });
    }
    return out;
  }

  private planNetwork(r: LinuxResources): CgroupWrite[] {
    const out: CgroupWrite[] = [];
    if (r.network?.classID !== undefined) out.push({ file: path.join(this.dir("net_cls", "network.classID"), "net_cls.classid"), value: String(r.network.classID), field: "network.classID" });
    for (const [i, p] of (r.network?.priorities ?? []).entries()) {
      out.push({ file: path.join(this.dir("net_prio", "network.priorities"), "net_prio.ifpriomap"), value: `${p.name} ${p.priority}`, field: `network.priorities[${i}]` });
    }
    return out;
  }

  private planRdma(r: LinuxResources): CgroupWrite[] {
    return rdmaWrites(r, () => this.dir("rdma", "rdma"));
  }

  async stats(): Promise<CgroupStats> {
    const s: CgroupStats = {};
    const mem = this.paths.memory;
    if (mem) {
      const f = (n: string) => path.join(mem, n);
      const stat = parseFlatKeyed(await this.readOr(f("memory.stat"), ""));
      const usage = parseNumber(await this.readOr(f("memory.usage_in_bytes"), "0"));
      s.memory = { usage, stat, maxUsage: parseNumber(await this.readOr(f("memory.max_usage_in_bytes"), "0")), failcnt: parseNumber(await this.readOr(f("memory.failcnt"), "0")) };
      const limit = parseLimit(await this.readOr(f("memory.limit_in_bytes"), "max"));
      if (limit !== undefined) s.memory.limit = limit;
      const cache = stat.total_cache ?? stat.cache;
      const rss = stat.total_rss ?? stat.rss;
      if (cache !== undefined) s.memory.cache = cache;
      if (rss !== undefined) s.memory.rss = rss;
      const memsw = await this.readOr(f("memory.memsw.usage_in_bytes"), "");
      if (memsw.trim() !== "") {
        s.memory.swapUsage = Math.max(0, parseNumber(memsw) - usage);
        const swapLimit = parseLimit(await this.readOr(f("memory.memsw.limit_in_bytes"), "max"));
        if (swapLimit !== undefined) s.memory.swapLimit = swapLimit;
      }
      const oom = parseFlatKeyed(await this.readOr(f("memory.oom_control"), ""));
      s.oom = { oomKill: oom.oom_kill ?? 0 };
    }
    const acct = this.paths.cpuacct;
    const cpu = this.paths.cpu;
    if (acct || cpu) {
      s.cpu = { usageTotal: 0, usageUser: 0, usageSystem: 0, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } };
      if (acct) {
        const f = (n: string) => path.join(acct, n);
        s.cpu.usageTotal = parseNumber(await this.readOr(f("cpuacct.usage"), "0"));
        const user = await this.readOr(f("cpuacct.usage_user"), "");
        const sys = await this.readOr(f("cpuacct.usage_sys"), "");
        if (user.trim() !== "" && sys.trim() !== "") {
          s.cpu.usageUser = parseNumber(user);
          s.cpu.usageSystem = parseNumber(sys);
        } else {
          const st = parseFlatKeyed(await this.readOr(f("cpuacct.stat"), ""));
          s.cpu.usageUser = ((st.user ?? 0) * 1e9) / USER_HZ;
          s.cpu.usageSystem = ((st.system ?? 0) * 1e9) / USER_HZ;
        }
        const per = await this.readOr(f("cpuacct.usage_percpu"), "");
        if (per.trim() !== "") s.cpu.perCpu = parsePerCpu(per);
      }
      if (cpu) {
        const st = parseFlatKeyed(await this.readOr(path.join(cpu, "cpu.stat"), ""));
        s.cpu.throttling = { periods: st.nr_periods ?? 0, throttledPeriods: st.nr_throttled ?? 0, throttledTime: st.throttled_time ?? 0 };
      }
    }
    const pids = this.paths.pids;
    if (pids) {
      s.pids = { current: parseNumber(await this.readOr(path.join(pids, "pids.current"), "0")) };
      const limit = parseLimit(await this.readOr(path.join(pids, "pids.max"), "max"));
      if (limit !== undefined) s.pids.limit = limit;
    }
    const blkio = this.paths.blkio;
    if (blkio) {
      const pick = async (names: string[]) => {
        for (const n of names) {
          const t = await this.readOr(path.join(blkio, n), "");
          if (parseBlkio(t).length > 0) return parseBlkio(t);
        }
        return [];
      };
      s.blkio = {
        bytes: await pick(["blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes", "blkio.bfq.io_service_bytes_recursive"]),
        ios: await pick(["blkio.throttle.io_serviced_recursive", "blkio.throttle.io_serviced", "blkio.bfq.io_serviced_recursive"]),
      };
    }
    const huge = this.paths.hugetlb;
    if (huge) {
      s.hugetlb = {};
      for (const name of await this.fs.files(huge).catch(() => [])) {
        const m = /^hugetlb\.([0-9]+[KMG]B)\.usage_in_bytes$/.exec(name);
        if (!m) continue;
        const size = m[1] as string;
        s.hugetlb[size] = {
          usage: parseNumber(await this.readOr(path.join(huge, name), "0")),
          maxUsage: parseNumber(await this.readOr(path.join(huge, `hugetlb.${size}.max_usage_in_bytes`), "0")),
          failcnt: parseNumber(await this.readOr(path.join(huge, `hugetlb.${size}.failcnt`), "0")),
        };
      }
    }
    return s;
  }

  private freezerState(): string {
    const d = this.paths.freezer;
    if (!d) throw unsupported("cannot pause or resume: cgroup controller freezer is not available on this host (not mounted in /proc/self/mountinfo)", { code: "cgroup.controller-missing", hint: "mount the freezer hierarchy (mount -t cgroup -o freezer freezer /sys/fs/cgroup/freezer)" });
    return path.join(d, "freezer.state");
  }

  private async setFreezer(state: "FROZEN" | "THAWED"): Promise<void> {
    const file = this.freezerState();
    const deadline = Date.now() + (this.opts.freezeTimeoutMs ?? 5000);
    let delay = 1;
    for (;;) {
      await this.runWrites([{ file, value: state, field: state === "FROZEN" ? "(pause)" : "(resume)" }]);
      if ((await this.read(file)).trim() === state) return;
      if (Date.now() >= deadline) break;
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
    if (state === "FROZEN") await this.fs.writeFile(file, "THAWED").catch(ignoring(`thaw container ${this.opts.id} after its freeze timed out`));
    throw systemError(`the processes of container ${this.opts.id} did not reach ${state} within ${this.opts.freezeTimeoutMs ?? 5000} ms (${file})`, {
      code: "cgroup.freeze-timeout",
      hint: state === "FROZEN" ? "a process may be in uninterruptible sleep (D state, e.g. stuck I/O); retry later" : "retry the resume",
    });
  }

  freeze(): Promise<void> {
    return this.setFreezer("FROZEN");
  }

  thaw(): Promise<void> {
    return this.setFreezer("THAWED");
  }

  async frozen(): Promise<boolean> {
    return (await this.read(this.freezerState())).trim() === "FROZEN";
  }

  protected canFreeze(): boolean {
    return this.paths.freezer !== undefined;
  }

  protected async killFast(): Promise<boolean> {
    const u = this.paths.unified;
    if (!u || !(await this.exists(path.join(u, "cgroup.kill")))) return false;
    // the unified hierarchy only knows the container if its processes were put there
    if ((await this.readOr(path.join(u, "cgroup.procs"), "")).trim() === "" && (await this.fs.subdirs(u).catch(() => [])).length === 0) return false;
    await this.runWrites([{ file: path.join(u, "cgroup.kill"), value: "1", field: "(kill)" }]);
    return true;
  }

  protected processDir(): string | undefined {
    for (const c of ["pids", "freezer", "memory", "cpu", "cpuacct", "devices", "cpuset", "blkio"]) if (this.paths[c]) return this.paths[c];
    return this.dirs()[0];
  }

  protected async oomKillCount(): Promise<number> {
    const d = this.paths.memory;
    if (!d) return 0;
    return parseFlatKeyed(await this.readOr(path.join(d, "memory.oom_control"), "")).oom_kill ?? 0;
  }

  /**
   * failcnt alone misses a limit hit: with a memory+swap limit the kernel charges (and fails) the
   * memsw counter first, and recent kernels leave both failcnts at 0 then. A peak usage that
   * reached the limit tells it either way.
   */
  protected async hitMemoryLimit(): Promise<boolean> {
    const d = this.paths.memory;
    if (!d) return false;
    const read = async (file: string) => Number((await this.readOr(path.join(d, file), "0")).trim()) || 0;
    for (const counter of ["memory", "memory.memsw"]) {
      if ((await read(`${counter}.failcnt`)) > 0) return true;
      const limit = await read(`${counter}.limit_in_bytes`);
      if (limit > 0 && limit < V1_UNLIMITED && (await read(`${counter}.max_usage_in_bytes`)) >= limit) return true;
    }
    return false;
  }
}

export async function hugepageSizeError(fs: { files(dir: string): Promise<string[]> }, dir: string, pageSize: string, i: number, suffix: string): Promise<CoveError> {
  const sizes = (await fs.files(dir).catch(() => [])).map((n) => (n.startsWith("hugetlb.") && n.endsWith(suffix) ? n.slice(8, -suffix.length) : "")).filter((s) => s !== "");
  return invalid(`linux.resources.hugepageLimits[${i}].pageSize: huge page size ${pageSize} is not supported by this host (no hugetlb.${pageSize}${suffix} in ${dir})`, {
    field: `linux.resources.hugepageLimits[${i}].pageSize`,
    code: "cgroup.hugepage-size",
    hint: sizes.length > 0 ? `available sizes: ${[...new Set(sizes)].join(", ")}` : "this host offers no huge page sizes",
  });
}

export function rdmaWrites(r: LinuxResources, dir: () => string): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    if (!/^[\w.-]+$/.test(dev)) throw invalid(`linux.resources.rdma: "${dev}" is not an RDMA device name`, { field: "linux.resources.rdma", code: "cgroup.value-invalid" });
    const parts: string[] = [];
    if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${lim.hcaHandles}`);
    if (lim.hcaObjects !== undefined) parts.push(`hca_object=${lim.hcaObjects}`);
    if (parts.length > 0) out.push({ file: path.join(dir(), "rdma.max"), value: `${dev} ${parts.join(" ")}`, field: `rdma.${dev}` });
  }
  return out;
}

// The cgroup v2 driver: one directory in the unified hierarchy. Controllers are enabled in
// cgroup.subtree_control of every ancestor (all the host offers, as runc does, so the container
// gets every controller and can delegate further). Device rules become an eBPF program.
//
// Choices: memory.disableOOMKiller, memory.swappiness, memory.kernel and memory.kernelTCP have no
// v2 file; they are ignored with a warning (runc ignores them silently; Docker warns the same way
// for disableOOMKiller). Realtime cpu settings and network (net_cls/net_prio) have no v2
// equivalent and are refused with an error, since silently dropping them would break promises.

import path from "node:path";
import { conflict, isErrno, unsupported } from "../../common/errors.js";
import { ignoring } from "../../common/ignore.js";
import type { LinuxResources } from "../spec.js";
import { compileDeviceFilter, DEVICE_FILTER_LICENSE } from "./devicefilter.js";
import { BaseManager, missingController, sleep } from "./manager.js";
import { cgroupDir, normalizeCgroupsPath, type CgroupMount } from "./mountinfo.js";
import { parseFlatKeyed, parseIoStat, parseLimit, parseNumber, type CgroupStats } from "./stats.js";
import type { CgroupWrite } from "./types.js";
import { blkioWeightToIoWeight, parseCpuList, sharesToWeight, swapToV2, validateResources } from "./values.js";
import { hugepageSizeError, rdmaWrites } from "./v1.js";

const max = (n: number) => (n === -1 ? "max" : String(n));

export class V2Manager extends BaseManager {
  readonly version = 2 as const;
  private mount!: CgroupMount;

  init(): this {
    const m = this.host.unified;
    if (!m) throw unsupported("cgroup v2 is not mounted on this host", { code: "cgroup.not-mounted" });
    this.mount = m;
    this.paths.unified = cgroupDir(m, normalizeCgroupsPath(this.opts.id, this.opts.cgroupsPath), this.host.self[""]);
    return this;
  }

  private get dir(): string {
    return this.paths.unified as string;
  }

  private static words(text: string): string[] {
    return text
      .split(/\s+/)
      .map((w) => w.replace(/^[+-]/, ""))
      .filter((w) => w !== "");
  }

  /** Controllers available in the container's cgroup (cgroup.controllers of its directory). */
  private async enabled(): Promise<Set<string>> {
    return new Set(V2Manager.words(await this.readOr(path.join(this.dir, "cgroup.controllers"), "")));
  }

  async create(): Promise<void> {
    const r = this.opts.resources ?? {};
    validateResources(r);
    try {
      // enable every controller the host offers in the mount root first, then down the chain
      await this.enableControllers(this.mount.mountPoint);
      await this.mkdirChain(this.mount.mountPoint, this.dir, async (d, _parent, leaf) => {
        if (!leaf) await this.enableControllers(d);
      });
      await this.apply(r);
    } catch (err) {
      await this.rollback();
      throw err;
    }
  }

  /** Writes "+c" for each controller of dir/cgroup.controllers into dir/cgroup.subtree_control. */
  private async enableControllers(dir: string): Promise<void> {
    const available = V2Manager.words(await this.readOr(path.join(dir, "cgroup.controllers"), ""));
    const on = new Set(V2Manager.words(await this.readOr(path.join(dir, "cgroup.subtree_control"), "")));
    const wanted = available.filter((c) => !on.has(c));
    if (wanted.length === 0) return;
    const file = path.join(dir, "cgroup.subtree_control");
    try {
      await this.fs.writeFile(file, wanted.map((c) => `+${c}`).join(" "));
    } catch {
      // one refused controller (e.g. cpu with a realtime task, or processes in a non-root
      // ancestor) fails the whole write: enable one by one, and let the resource check report
      // a controller that is needed but missing
      for (const c of wanted) await this.fs.writeFile(file, `+${c}`).catch(ignoring(`enable cgroup controller ${c} in ${file}`));
    }
  }

  private async need(enabled: Set<string>, controller: string, field: string): Promise<void> {
    if (enabled.has(controller)) return;
    const root = new Set(V2Manager.words(await this.readOr(path.join(this.mount.mountPoint, "cgroup.controllers"), "")));
    throw missingController(controller, field, root.has(controller) ? `not enabled for ${this.dir}: an ancestor's cgroup.subtree_control lacks it` : `not listed in ${path.join(this.mount.mountPoint, "cgroup.controllers")}`);
  }

  private async needFile(file: string, field: string, why: string): Promise<string> {
    const p = path.join(this.dir, file);
    if (!(await this.exists(p))) throw unsupported(`cannot set linux.resources.${field}: this kernel has no ${file} (${why})`, { code: "cgroup.file-missing", field: `linux.resources.${field}`, hint: `remove linux.resources.${field}` });
    return p;
  }

  async apply(r: LinuxResources): Promise<void> {
    validateResources(r);
    const en = await this.enabled();
    const f = (n: string) => path.join(this.dir, n);
    const out: CgroupWrite[] = [];
    if (r.network && (r.network.classID !== undefined || r.network.priorities?.length)) {
      throw unsupported("linux.resources.network (net_cls/net_prio) does not exist in cgroup v2", { code: "cgroup.v1-only", field: "linux.resources.network", hint: "remove linux.resources.network; use tc or network policies instead" });
    }
    const c = r.cpu;
    if (c) {
      if (c.realtimePeriod || c.realtimeRuntime) {
        throw unsupported("linux.resources.cpu.realtimePeriod/realtimeRuntime are not supported with cgroup v2 (no cpu.rt_* files)", { code: "cgroup.v1-only", field: "linux.resources.cpu.realtimeRuntime", hint: "remove the realtime cpu settings" });
      }
      if (c.cpus || c.mems) await this.need(en, "cpuset", c.cpus ? "cpu.cpus" : "cpu.mems");
      if (c.cpus) out.push({ file: f("cpuset.cpus"), value: parseCpuList("cpu.cpus", c.cpus), field: "cpu.cpus" });
      if (c.mems) out.push({ file: f("cpuset.mems"), value: parseCpuList("cpu.mems", c.mems), field: "cpu.mems" });
      if (c.shares || c.quota || c.period || c.burst !== undefined || c.idle !== undefined) await this.need(en, "cpu", "cpu");
      if (c.shares) out.push({ file: f("cpu.weight"), value: String(sharesToWeight(c.shares)), field: "cpu.shares" });
      if (c.quota || c.period) {
        const [curQuota = "max", curPeriod = "100000"] = (await this.readOr(f("cpu.max"), "max 100000")).trim().split(/\s+/);
        const quota = c.quota ? (c.quota > 0 ? String(c.quota) : "max") : curQuota;
        const period = c.period ? String(c.period) : curPeriod;
        out.push({ file: f("cpu.max"), value: `${quota} ${period}`, field: c.quota ? "cpu.quota" : "cpu.period" });
      }
      if (c.burst !== undefined) out.push({ file: await this.needFile("cpu.max.burst", "cpu.burst", "needs Linux 5.14 or later"), value: String(c.burst), field: "cpu.burst" });
      if (c.idle !== undefined) out.push({ file: await this.needFile("cpu.idle", "cpu.idle", "needs Linux 5.15 or later"), value: String(c.idle), field: "cpu.idle" });
    }
    const m = r.memory;
    if (m) {
      await this.need(en, "memory", "memory");
      if (m.kernel) this.warn("linux.resources.memory.kernel is ignored: cgroup v2 has no separate kernel memory limit");
      if (m.kernelTCP) this.warn("linux.resources.memory.kernelTCP is ignored: cgroup v2 has no separate kernel TCP memory limit");
      if (m.swappiness !== undefined && m.swappiness !== -1) this.warn("linux.resources.memory.swappiness is ignored: cgroup v2 has no per-cgroup swappiness");
      if (m.disableOOMKiller) this.warn("linux.resources.memory.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer");
      let limit = m.limit === 0 ? undefined : m.limit;
      if (limit === undefined && m.swap !== undefined && m.swap > 0) {
        // an update of swap alone: pair it with the limit in force
        limit = parseLimit(await this.readOr(f("memory.max"), "max")) ?? -1;
      }
      const swap = swapToV2(m.swap, limit);
      if (limit !== undefined && limit > 0 && m.checkBeforeUpdate) {
        const usage = parseNumber(await this.readOr(f("memory.current"), "0"));
        if (limit < usage) throw conflict(`linux.resources.memory.limit ${limit} is below the cgroup's current usage ${usage} (checkBeforeUpdate)`, { field: "linux.resources.memory.limit", code: "cgroup.below-usage", hint: "raise the limit or free memory in the container first" });
      }
      if (swap !== undefined) {
        if (await this.exists(f("memory.swap.max"))) out.push({ file: f("memory.swap.max"), value: max(swap), field: "memory.swap" });
        else if (swap !== 0 && swap !== -1)
          throw unsupported(`cannot set linux.resources.memory.swap: swap accounting is disabled on this host (no memory.swap.max in ${this.dir})`, {
            code: "cgroup.swap-accounting",
            field: "linux.resources.memory.swap",
            hint: "boot the kernel with swapaccount=1, or remove linux.resources.memory.swap (or set it equal to the limit)",
          });
      }
      if (m.limit !== undefined && m.limit !== 0) out.push({ file: f("memory.max"), value: max(m.limit), field: "memory.limit" });
      if (m.reservation !== undefined && m.reservation !== 0) out.push({ file: f("memory.low"), value: max(m.reservation), field: "memory.reservation" });
    }
    if (r.pids) {
      await this.need(en, "pids", "pids");
      out.push({ file: f("pids.max"), value: r.pids.limit > 0 ? String(r.pids.limit) : "max", field: "pids.limit" });
    }
    const b = r.blockIO;
    if (b) {
      await this.need(en, "io", "blockIO");
      const bfq = await this.exists(f("io.bfq.weight"));
      const plain = await this.exists(f("io.weight"));
      const noWeight = (field: string) =>
        unsupported(`cannot set linux.resources.blockIO.${field}: this host has neither io.weight nor io.bfq.weight in ${this.dir}`, {
          code: "cgroup.file-missing",
          field: `linux.resources.blockIO.${field}`,
          hint: `select the bfq I/O scheduler for the disk or remove linux.resources.blockIO.${field}`,
        });
      if (b.leafWeight) this.warn("linux.resources.blockIO.leafWeight is ignored: cgroup v2 has no leaf weights");
      if (b.weight) {
        if (!bfq && !plain) throw noWeight("weight");
        // BFQ takes the blkio range (1..1000) as is; io.weight is 1..10000
        out.push(bfq ? { file: f("io.bfq.weight"), value: String(b.weight), field: "blockIO.weight" } : { file: f("io.weight"), value: String(blkioWeightToIoWeight(b.weight)), field: "blockIO.weight" });
      }
      for (const [i, d] of (b.weightDevice ?? []).entries()) {
        if (d.weight === undefined) continue;
        if (!bfq && !plain) throw noWeight(`weightDevice[${i}]`);
        out.push(
          bfq
            ? { file: f("io.bfq.weight"), value: `${d.major}:${d.minor} ${d.weight}`, field: `blockIO.weightDevice[${i}]` }
            : { file: f("io.weight"), value: `${d.major}:${d.minor} ${blkioWeightToIoWeight(d.weight)}`, field: `blockIO.weightDevice[${i}]` },
        );
      }
      // io.max: one line per device with every limit given for it; 0 (v1's "no limit") → max
      const perDev = new Map<string, string[]>();
      const keys = [
        ["throttleReadBpsDevice", "rbps"],
        ["throttleWriteBpsDevice", "wbps"],
        ["throttleReadIOPSDevice", "riops"],
        ["throttleWriteIOPSDevice", "wiops"],
      ] as const;
      for (const [k, name] of keys) {
        for (const d of b[k] ?? []) {
          const dev = `${d.major}:${d.minor}`;
          const list = perDev.get(dev) ?? [];
          list.push(`${name}=${d.rate === 0 ? "max" : d.rate}`);
          perDev.set(dev, list);
        }
      }
      if (perDev.size > 0) {
        const file = await this.needFile("io.max", "blockIO.throttleReadBpsDevice", "CONFIG_BLK_DEV_THROTTLING");
        for (const [dev, list] of perDev) out.push({ file, value: `${dev} ${list.join(" ")}`, field: "blockIO" });
      }
    }
    for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
      await this.need(en, "hugetlb", "hugepageLimits");
      const file = f(`hugetlb.${h.pageSize}.max`);
      if (!(await this.exists(file))) throw await hugepageSizeError(this.fs, this.dir, h.pageSize, i, ".max");
      out.push({ file, value: max(h.limit), field: `hugepageLimits[${i}]` });
    }
    if (r.rdma && Object.keys(r.rdma).length > 0) await this.need(en, "rdma", "rdma");
    out.push(...rdmaWrites(r, () => this.dir));
    // unified last: it is the escape hatch and overrides what the fields above wrote
    for (const [key, value] of Object.entries(r.unified ?? {})) {
      const ctrl = key.split(".")[0] as string;
      if (ctrl !== "cgroup" && !en.has(ctrl)) {
        throw missingController(ctrl, `unified["${key}"]`, `not enabled for ${this.dir}`);
      }
      if (!(await this.exists(f(key)))) {
        throw unsupported(`linux.resources.unified["${key}"]: there is no interface file ${key} in ${this.dir}`, { field: `linux.resources.unified`, code: "cgroup.file-missing", hint: "check the key against the kernel's cgroup-v2 documentation" });
      }
      out.push({ file: f(key), value, field: `unified["${key}"]` });
    }
    let program: Buffer | undefined;
    if (r.devices) {
      if (!this.hostOps) {
        throw unsupported("linux.resources.devices on cgroup v2 needs an eBPF device program loader, and none was provided", { code: "cgroup.device-filter", field: "linux.resources.devices" });
      }
      program = compileDeviceFilter(r.devices);
    }
    await this.runWrites(out);
    if (program && this.hostOps) await this.hostOps.attachDeviceProgram(this.dir, program, DEVICE_FILTER_LICENSE);
  }

  async stats(): Promise<CgroupStats> {
    const f = (n: string) => path.join(this.dir, n);
    const s: CgroupStats = {};
    const en = await this.enabled();
    if (en.has("memory")) {
      const stat = parseFlatKeyed(await this.readOr(f("memory.stat"), ""));
      const events = parseFlatKeyed(await this.readOr(f("memory.events"), ""));
      s.memory = { usage: parseNumber(await this.readOr(f("memory.current"), "0")), stat, failcnt: events.max ?? 0 };
      const limit = parseLimit(await this.readOr(f("memory.max"), "max"));
      if (limit !== undefined) s.memory.limit = limit;
      const peak = await this.readOr(f("memory.peak"), "");
      if (peak.trim() !== "") s.memory.maxUsage = parseNumber(peak);
      if (stat.file !== undefined) s.memory.cache = stat.file;
      if (stat.anon !== undefined) s.memory.rss = stat.anon;
      const swapCur = await this.readOr(f("memory.swap.current"), "");
      if (swapCur.trim() !== "") {
        s.memory.swapUsage = parseNumber(swapCur);
        const sl = parseLimit(await this.readOr(f("memory.swap.max"), "max"));
        if (sl !== undefined) s.memory.swapLimit = sl;
      }
      s.oom = { oom: events.oom ?? 0, oomKill: events.oom_kill ?? 0 };
    }
    // cpu.stat usage lines exist even without the cpu controller
    const cpu = parseFlatKeyed(await this.readOr(f("cpu.stat"), ""));
    s.cpu = {
      usageTotal: (cpu.usage_usec ?? 0) * 1000,
      usageUser: (cpu.user_usec ?? 0) * 1000,
      usageSystem: (cpu.system_usec ?? 0) * 1000,
      throttling: { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTime: (cpu.throttled_usec ?? 0) * 1000 },
    };
    if (en.has("pids")) {
      s.pids = { current: parseNumber(await this.readOr(f("pids.current"), "0")) };
      const limit = parseLimit(await this.readOr(f("pids.max"), "max"));
      if (limit !== undefined) s.pids.limit = limit;
    }
    if (en.has("io")) s.blkio = parseIoStat(await this.readOr(f("io.stat"), ""));
    if (en.has("hugetlb")) {
      s.hugetlb = {};
      for (const name of await this.fs.files(this.dir).catch(() => [])) {
        const m = /^hugetlb\.([0-9]+[KMG]B)\.current$/.exec(name);
        if (!m) continue;
        const size = m[1] as string;
        const ev = parseFlatKeyed(await this.readOr(f(`hugetlb.${size}.events`), ""));
        s.hugetlb[size] = { usage: parseNumber(await this.readOr(f(name), "0")), failcnt: ev.max ?? 0 };
      }
    }
    return s;
  }

  private async setFrozen(on: boolean): Promise<void> {
    const file = path.join(this.dir, "cgroup.freeze");
    if (!(await this.exists(file))) throw unsupported(`cannot ${on ? "pause" : "resume"} container ${this.opts.id}: this kernel has no cgroup.freeze (needs Linux 5.2 or later)`, { code: "cgroup.freeze-missing" });
    await this.runWrites([{ file, value: on ? "1" : "0", field: on ? "(pause)" : "(resume)" }]);
    const timeout = this.opts.freezeTimeoutMs ?? 5000;
    const deadline = Date.now() + timeout;
    let delay = 1;
    while ((await this.frozen()) !== on) {
      if (Date.now() >= deadline) {
        if (on) await this.fs.writeFile(file, "0").catch(ignoring(`thaw container ${this.opts.id} after its freeze timed out`));
        throw conflict(`container ${this.opts.id} did not become ${on ? "frozen" : "thawed"} within ${timeout} ms (${path.join(this.dir, "cgroup.events")})`, {
          code: "cgroup.freeze-timeout",
          hint: "a process may be in uninterruptible sleep (D state); retry later",
        });
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  }

  freeze(): Promise<void> {
    return this.setFrozen(true);
  }

  thaw(): Promise<void> {
    return this.setFrozen(false);
  }

  async frozen(): Promise<boolean> {
    const events = parseFlatKeyed(await this.read(path.join(this.dir, "cgroup.events")));
    return events.frozen === 1;
  }

  protected canFreeze(): boolean {
    return true;
  }

  protected async killFast(): Promise<boolean> {
    const file = path.join(this.dir, "cgroup.kill");
    if (!(await this.exists(file))) return false;
    try {
      await this.fs.writeFile(file, "1");
      return true;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return true; // the cgroup is gone: nothing to kill
      throw err;
    }
  }

  protected processDir(): string | undefined {
    return this.dir;
  }

  protected async oomKillCount(): Promise<number> {
    return parseFlatKeyed(await this.readOr(path.join(this.dir, "memory.events"), "")).oom_kill ?? 0;
  }

  protected async hitMemoryLimit(): Promise<boolean> {
    const ev = parseFlatKeyed(await this.readOr(path.join(this.dir, "memory.events"), ""));
    return (ev.oom ?? 0) > 0 || (ev.max ?? 0) > 0;
  }
}

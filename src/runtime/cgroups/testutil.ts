// Test support (used only by the *.test.ts files): a temp directory that plays cgroupfs. It holds
// a fake proc/self/mountinfo and proc/self/cgroup, and its CgroupFs does what the kernel does on
// the calls the drivers make: mkdir fills a new cgroup with the interface files of its
// controllers, cgroup.subtree_control accepts only available controllers, cgroup.freeze updates
// cgroup.events, rmdir refuses a cgroup with children. Every write is recorded in order.

import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { nodeCgroupFs, type CgroupFs } from "./fsops.js";

const UNLIMITED = "9223372036854771712";

const V1_FILES: Record<string, Record<string, string>> = {
  cpu: { "cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.cfs_burst_us": "0", "cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "0", "cpu.idle": "0", "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n" },
  cpuacct: { "cpuacct.usage": "0", "cpuacct.usage_percpu": "0 0 ", "cpuacct.usage_user": "0", "cpuacct.usage_sys": "0", "cpuacct.stat": "user 0\nsystem 0\n" },
  cpuset: { "cpuset.cpus": "", "cpuset.mems": "" },
  memory: {
    "memory.limit_in_bytes": UNLIMITED,
    "memory.memsw.limit_in_bytes": UNLIMITED,
    "memory.soft_limit_in_bytes": UNLIMITED,
    "memory.swappiness": "60",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    "memory.usage_in_bytes": "0",
    "memory.max_usage_in_bytes": "0",
    "memory.memsw.usage_in_bytes": "0",
    "memory.failcnt": "0",
    "memory.stat": "cache 0\nrss 0\n",
    "memory.kmem.tcp.limit_in_bytes": UNLIMITED,
  },
  devices: { "devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n" },
  freezer: { "freezer.state": "THAWED\n" },
  blkio: { "blkio.throttle.read_bps_device": "", "blkio.throttle.write_bps_device": "", "blkio.throttle.read_iops_device": "", "blkio.throttle.write_iops_device": "", "blkio.throttle.io_service_bytes": "Total 0\n", "blkio.throttle.io_serviced": "Total 0\n" },
  pids: { "pids.max": "max", "pids.current": "0" },
  hugetlb: { "hugetlb.2MB.limit_in_bytes": UNLIMITED, "hugetlb.2MB.usage_in_bytes": "0", "hugetlb.2MB.max_usage_in_bytes": "0", "hugetlb.2MB.failcnt": "0" },
  net_cls: { "net_cls.classid": "0" },
  net_prio: { "net_prio.ifpriomap": "lo 0\n" },
};

const V2_FILES: Record<string, Record<string, string>> = {
  cpu: { "cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0" },
  cpuset: { "cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1" },
  memory: { "memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "memory.current": "0", "memory.swap.current": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", "memory.stat": "anon 0\nfile 0\n", "memory.high": "max" },
  pids: { "pids.max": "max", "pids.current": "0" },
  io: { "io.max": "", "io.weight": "default 100", "io.stat": "" },
  hugetlb: { "hugetlb.2MB.max": "max", "hugetlb.2MB.current": "0", "hugetlb.2MB.events": "max 0\n" },
};

const V2_CORE = { "cgroup.procs": "", "cgroup.subtree_control": "", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.freeze": "0", "cgroup.kill": "", "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n" };

export interface FakeHostOptions {
  /** v1 hierarchies to mount (each a controller list, e.g. ["cpu","cpuacct"] co-mounted); default: this machine's layout; [] for pure v2. */
  v1?: string[][];
  /** mount cgroup2 (at /sys/fs/cgroup/unified on hybrid, /sys/fs/cgroup on pure v2) */
  v2?: boolean;
  /** controllers of the v2 root (pure v2) */
  v2Controllers?: string[];
  /** interface files the fake kernel leaves out (e.g. "memory.memsw.limit_in_bytes") */
  omit?: string[];
  /** /proc/self/cgroup text */
  procSelfCgroup?: string;
}

export const HOST_V1_LAYOUT = [["cpu"], ["cpuacct"], ["cpuset"], ["memory"], ["devices"], ["freezer"], ["blkio"], ["pids"], ["name=systemd"]];

export class FakeCgroupHost {
  readonly writes: [string, string][] = [];
  readonly fs: CgroupFs;
  /** mount point (absolute, in the fake root) → controllers; "" list = cgroup2 */
  private readonly mounts = new Map<string, { v2: boolean; controllers: string[] }>();

  private constructor(
    readonly root: string,
    private readonly omit: Set<string>,
  ) {
    this.fs = {
      ...nodeCgroupFs,
      writeFile: async (file, data) => {
        this.writes.push([this.rel(file), data]);
        await this.kernelWrite(file, data);
      },
      mkdir: async (dir) => {
        await mkdir(dir);
        await this.populate(dir);
      },
      rmdir: async (dir) => {
        if ((await nodeCgroupFs.subdirs(dir)).length > 0) throw Object.assign(new Error(`EBUSY: ${dir} has child cgroups`), { code: "EBUSY" });
        await nodeCgroupFs.files(dir); // ENOENT when missing
        await rm(dir, { recursive: true });
      },
    };
  }

  static async create(o: FakeHostOptions = {}): Promise<FakeCgroupHost> {
    const root = await mkdtemp(path.join(tmpdir(), "cove-cgfake-"));
    const h = new FakeCgroupHost(root, new Set(o.omit ?? []));
    const v1 = o.v1 ?? HOST_V1_LAYOUT;
    const lines = [`31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755`];
    let id = 32;
    for (const ctrls of v1) {
      const name = ctrls.map((c) => c.replace(/^name=/, "")).join(",");
      const mp = `/sys/fs/cgroup/${name}`;
      lines.push(`${id} 31 0:${id} / ${mp} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup cgroup rw,${ctrls.join(",")}`);
      id++;
      h.mounts.set(path.join(root, mp), { v2: false, controllers: ctrls });
      await mkdir(path.join(root, mp), { recursive: true });
      await h.populate(path.join(root, mp), true);
    }
    if (o.v2) {
      const mp = v1.length > 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
      lines.push(`${id} 31 0:${id} / ${mp} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup2 cgroup2 rw,nsdelegate`);
      h.mounts.set(path.join(root, mp), { v2: true, controllers: [] });
      await mkdir(path.join(root, mp), { recursive: true });
      await h.populate(path.join(root, mp), true);
      const controllers = v1.length > 0 ? [] : (o.v2Controllers ?? ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"]);
      await writeFile(path.join(root, mp, "cgroup.controllers"), controllers.join(" "));
    }
    await mkdir(path.join(root, "proc/self"), { recursive: true });
    await writeFile(path.join(root, "proc/self/mountinfo"), lines.join("\n") + "\n");
    await writeFile(path.join(root, "proc/self/cgroup"), o.procSelfCgroup ?? (v1.length > 0 ? v1.map((c, i) => `${i + 1}:${c.join(",")}:/`).join("\n") + "\n0::/\n" : "0::/\n"));
    return h;
  }

  rel(file: string): string {
    return path.relative(this.root, file);
  }

  /** Absolute path of a file in the fake root. */
  p(rel: string): string {
    return path.join(this.root, rel);
  }

  async read(rel: string): Promise<string> {
    return readFile(this.p(rel), "utf8");
  }

  async write(rel: string, data: string): Promise<void> {
    await writeFile(this.p(rel), data);
  }

  /** Recorded writes to files whose path ends with suffix. */
  writesTo(suffix: string): string[] {
    return this.writes.filter(([f]) => f.endsWith(suffix)).map(([, v]) => v);
  }

  async cleanup(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  private mountOf(dir: string): { v2: boolean; controllers: string[] } | undefined {
    for (const [mp, m] of this.mounts) if (dir === mp || dir.startsWith(`${mp}/`)) return m;
    return undefined;
  }

  private async populate(dir: string, isRoot = false): Promise<void> {
    const m = this.mountOf(dir);
    if (!m) return;
    const files: Record<string, string> = {};
    if (m.v2) {
      Object.assign(files, V2_CORE);
      if (!isRoot) {
        const enabled = (await readFile(path.join(path.dirname(dir), "cgroup.subtree_control"), "utf8")).split(/\s+/).filter((w) => w !== "");
        files["cgroup.controllers"] = enabled.join(" ");
        for (const c of enabled) Object.assign(files, V2_FILES[c] ?? {});
      }
    } else {
      files["cgroup.procs"] = "";
      files.tasks = "";
      for (const c of m.controllers) Object.assign(files, V1_FILES[c] ?? {});
      if (isRoot) delete files["freezer.state"]; // the root freezer cgroup has no state file
    }
    for (const [name, content] of Object.entries(files)) if (!this.omit.has(name)) await writeFile(path.join(dir, name), content);
  }

  private async kernelWrite(file: string, data: string): Promise<void> {
    // writes go to existing interface files only, as on cgroupfs
    await nodeCgroupFs.files(path.dirname(file));
    const base = path.basename(file);
    const exists = await nodeCgroupFs.exists(file);
    if (!exists) throw Object.assign(new Error(`ENOENT: no such file ${file}`), { code: "ENOENT" });
    if (base === "cgroup.subtree_control") {
      const avail = new Set((await readFile(path.join(path.dirname(file), "cgroup.controllers"), "utf8")).split(/\s+/).filter((w) => w !== ""));
      const on = new Set((await readFile(file, "utf8")).split(/\s+/).filter((w) => w !== ""));
      for (const tok of data.split(/\s+/).filter((w) => w !== "")) {
        const c = tok.slice(1);
        if (!avail.has(c)) throw Object.assign(new Error(`ENOENT: controller ${c} not available`), { code: "ENOENT" });
        if (tok.startsWith("+")) on.add(c);
        else on.delete(c);
      }
      await writeFile(file, [...on].sort().join(" "));
      return;
    }
    if (base === "memory.limit_in_bytes" || base === "memory.memsw.limit_in_bytes") {
      // the kernel keeps memory+swap >= memory at every step
      const val = (t: string) => (t.trim() === "-1" ? Infinity : Number(t.trim()) >= 2 ** 62 ? Infinity : Number(t.trim()));
      const other = path.join(path.dirname(file), base === "memory.limit_in_bytes" ? "memory.memsw.limit_in_bytes" : "memory.limit_in_bytes");
      if (await nodeCgroupFs.exists(other)) {
        const o = val(await readFile(other, "utf8"));
        const v = val(data);
        if (base === "memory.limit_in_bytes" ? v > o : v < o) throw Object.assign(new Error(`EINVAL: ${base} ${data} violates memsw >= limit`), { code: "EINVAL" });
      }
      await writeFile(file, data.trim() === "-1" ? UNLIMITED : data);
      return;
    }
    if (base === "cgroup.freeze") {
      await writeFile(path.join(path.dirname(file), "cgroup.events"), `populated 0\nfrozen ${data.trim() === "1" ? 1 : 0}\n`);
    }
    await writeFile(file, data);
  }
}

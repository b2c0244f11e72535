// What the fuzzed daemon owns, as sorted lines per category, so "a refused request changed
// nothing" is a comparison of two snapshots: the API's view (containers, images, volumes,
// networks, each with its inspect JSON minus what changes by itself) and the host's, in the
// categories of test/support/leaks.ts: mounts under the daemon's roots, cgroups under its parent,
// bind-mounted network namespaces, links and firewall rules in the daemon's network namespace, and
// the files of its state root.

import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface StatePlaces {
  socket: string;
  root: string;
  execRoot: string;
  cgroupParent: string;
  /** The daemon's pid: its network namespace holds its links and firewall rules. */
  pid: number;
}

export type Snapshot = Record<string, string[]>;

/** GET on the daemon's socket; the body parsed as JSON (a non-200 answer is an error). */
export function getJSON(socket: string, p: string, timeoutMs = 60_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: socket, path: p, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) reject(new Error(`GET ${p}: ${res.statusCode} ${text}`));
        else {
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(new Error(`GET ${p}: not JSON (${(err as Error).message}): ${text.slice(0, 200)}`));
          }
        }
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${p}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Fields that change without any request: health probes' logs, sizes, counters. */
const VOLATILE = new Set(["Health", "SizeRw", "SizeRootFs", "LastTagTime"]);

function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if (!VOLATILE.has(k)) out[k] = stable((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

async function apiState(socket: string): Promise<Snapshot> {
  const containers = (await getJSON(socket, "/containers/json?all=1")) as { Id: string }[];
  const images = (await getJSON(socket, "/images/json?all=1")) as { Id: string }[];
  const volumes = ((await getJSON(socket, "/volumes")) as { Volumes: { Name: string }[] | null }).Volumes ?? [];
  const networks = (await getJSON(socket, "/networks")) as { Id: string }[];
  const inspect = async (kind: string, ids: string[], p: (id: string) => string) =>
    Promise.all(
      ids.map(async (id) => {
        try {
          return `${kind} ${JSON.stringify(stable(await getJSON(socket, p(id))))}`;
        } catch (err) {
          return `${kind} ${id}: ${(err as Error).message}`;
        }
      }),
    );
  return {
    containers: (await inspect("container", containers.map((c) => c.Id), (id) => `/containers/${id}/json`)).sort(),
    images: (await inspect("image", images.map((i) => i.Id), (id) => `/images/${id}/json`)).sort(),
    volumes: (await inspect("volume", volumes.map((v) => v.Name), (n) => `/volumes/${encodeURIComponent(n)}`)).sort(),
    networks: (await inspect("network", networks.map((n) => n.Id), (id) => `/networks/${id}`)).sort(),
  };
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Every path under dir (relative), not descending into the trees named in skip (a layer's or container's files). */
async function tree(dir: string, skip: RegExp, out: string[] = [], rel = ""): Promise<string[]> {
  let items;
  try {
    items = await readdir(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of items) {
    const r = rel === "" ? e.name : `${rel}/${e.name}`;
    out.push(r);
    if (e.isDirectory() && !skip.test(r) && out.length < 50_000) await tree(dir, skip, out, r);
  }
  return out;
}

async function lines(cmd: string, args: string[]): Promise<string[]> {
  try {
    const { stdout } = await run(cmd, args, { maxBuffer: 16 << 20 });
    return stdout.split("\n").filter(Boolean);
  } catch (err) {
    return [`${cmd} failed: ${(err as Error).message.split("\n")[0]}`];
  }
}

async function hostState(p: StatePlaces): Promise<Snapshot> {
  const roots = [path.resolve(p.root) + "/", path.resolve(p.execRoot) + "/"];
  const mounts = (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => roots.some((r) => m.startsWith(r)));
  const cgroups: string[] = [];
  const hierarchies = (await entries("/sys/fs/cgroup")).includes("cgroup.controllers") ? [""] : await entries("/sys/fs/cgroup");
  for (const h of hierarchies) for (const c of await entries(path.join("/sys/fs/cgroup", h, p.cgroupParent))) if (!c.includes(".")) cgroups.push(`${h}:${c}`);
  const netns = ["-t", String(p.pid), "-n"];
  const links = (await lines("nsenter", [...netns, "ip", "-o", "link"])).map((l) => l.split(": ")[1]?.split("@")[0] ?? l);
  // rules without their packet counters, which move with any traffic
  const rules = (await lines("nsenter", [...netns, "iptables-save"])).filter((l) => !l.startsWith("#")).map((l) => l.replace(/\[\d+:\d+\]/g, ""));
  // the files of the state root; a layer's or a container's own files are theirs, not the daemon's
  const files = await tree(p.root, /^(snapshots\/[^/]+\/[^/]+|containers\/[^/]+\/(rootfs|mounts|shm)|volumes\/[^/]+\/_data|content\/blobs)/);
  return {
    mounts: mounts.sort(),
    cgroups: cgroups.sort(),
    netns: (await entries(path.join(p.execRoot, "netns"))).sort(),
    runtimeState: (await entries(path.join(p.execRoot, "runtime"))).sort(),
    links: links.sort(),
    iptables: rules.sort(),
    files: files.sort(),
  };
}

export async function snapshot(p: StatePlaces): Promise<Snapshot> {
  const [api, host] = await Promise.all([apiState(p.socket), hostState(p)]);
  return { ...api, ...host };
}

/** What differs, one line per category: "containers: +N -M (first: ...)"; [] when nothing does. */
export function compare(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = new Set(before[k] ?? []);
    const b = new Set(after[k] ?? []);
    const added = [...b].filter((x) => !a.has(x));
    const removed = [...a].filter((x) => !b.has(x));
    if (added.length === 0 && removed.length === 0) continue;
    const show = (xs: string[]) => xs.slice(0, 2).map((x) => (x.length > 600 ? `${x.slice(0, 600)}...` : x)).join(" | ");
    out.push(`${k}: +${added.length} -${removed.length}${added.length ? ` added: ${show(added)}` : ""}${removed.length ? ` removed: ${show(removed)}` : ""}`);
  }
  return out;
}

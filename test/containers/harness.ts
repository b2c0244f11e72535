// Integration harness for the container service: a temp state root with the offline busybox image,
// a ContainerService on it with its own runtime root, recorded events, and cleanup of every
// container, mount and directory even when a test fails.

import { readFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { ContainerService } from "../../src/containers/index.js";
import type { DockerEvent } from "../../src/containers/types.js";
import { ImageService } from "../../src/images/service.js";
import { unmountAll } from "../../src/snapshots/index.js";
import { importBusybox, tempDir } from "../images/fixtures.js";

export interface Harness {
  base: string;
  root: string;
  runtimeRoot: string;
  images: ImageService;
  svc: ContainerService;
  events: DockerEvent[];
  /** What the service logged (ignored failures, warnings): shown when an assertion needs the why. */
  log: string[];
  /** Opens another service on the same root (live restore), replacing svc. */
  reopen(): Promise<ContainerService>;
  cleanup(): Promise<void>;
}

export async function setup(): Promise<Harness> {
  const base = await tempDir();
  const root = path.join(base, "root");
  const runtimeRoot = path.join(base, "r");
  const images = await ImageService.open({ root });
  await importBusybox(images);
  const events: DockerEvent[] = [];
  const log: string[] = [];
  const open = () => ContainerService.open({ root, runtimeRoot, images, events: (e) => events.push(e), log: (line) => log.push(line) });
  const h: Harness = {
    base,
    root,
    runtimeRoot,
    images,
    svc: await open(),
    events,
    log,
    async reopen() {
      h.svc = await open();
      return h.svc;
    },
    async cleanup() {
      try {
        for (const c of await h.svc.list({ all: true })) await h.svc.remove(c.Id, { force: true }).catch(() => undefined);
        await h.svc.close();
      } finally {
        // anything a failed test left mounted under the root
        const mounts = (await readFile("/proc/self/mountinfo", "utf8").catch(() => ""))
          .split("\n")
          .map((l) => l.split(" ")[4] ?? "")
          .filter((m) => m.startsWith(base))
          .sort((a, b) => b.length - a.length);
        for (const m of mounts) {
          try {
            unmountAll(m, 2);
          } catch {
            // keep going
          }
        }
        await rm(base, { recursive: true, force: true, maxRetries: 3 });
      }
    },
  };
  return h;
}

/** A container's events and the service's log lines, for an assertion's message. */
export function story(h: Harness, id: string): string {
  const events = h.events.filter((e) => e.Actor.ID === id).map((e) => (e.Action === "die" ? `die(${e.Actor.Attributes.exitCode})` : e.Action));
  return `events: ${events.join(" ")}; service log: ${h.log.join(" | ") || "(empty)"}`;
}

/** Collects a logs iterator into text lines "stream:text". */
export async function collect(it: AsyncIterable<{ stream: string; line: Buffer }>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.line.toString()}`);
  return out;
}

/** Polls fn until it holds; the bound is generous, for a busy machine can be ten times slower. */
export async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True once pid has exited (gone, or a zombie nobody has reaped yet). */
export function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return true;
  }
}

/** Runs cmd in a running container through the service; its output and exit code. */
export async function execIn(svc: ContainerService, id: string, cmd: string[]): Promise<{ out: string; code: number }> {
  const { Id } = await svc.execCreate(id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const s = await svc.execStart(Id);
  let out = "";
  for await (const c of s.output) out += c.data.toString();
  return { out, code: await s.exitCode };
}

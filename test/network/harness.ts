// Helpers for the network tests: a cove daemon with networking on a temporary root (its own
// default bridge, subnet, netns directory and firewall chains), the docker CLI pointed at it, and
// a cleanup that removes every container, network, bridge, namespace and firewall rule it made.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { parseCidr } from "../../src/network/index.js";
import { overlaps } from "../../src/network/ipam.js";
import { AF_INET, Netlink } from "../../src/network/netlink.js";
import { addon } from "../../src/native/addon.js";
import { importBusybox, tempDir } from "../images/fixtures.js";

export const DOCKER = "/usr/local/bin/docker";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** /24 subnets in 10.240.0.0/12 that no route on the host covers and no interface uses. */
export function freeSubnets(count: number, skip: string[] = []): string[] {
  const nl = Netlink.open();
  const used = [...nl.routes(AF_INET).filter((r) => r.dstLen > 0).map((r) => parseCidr(`${r.dst}/${r.dstLen}`)), ...nl.addresses(AF_INET).map((a) => parseCidr(`${a.address}/${a.prefixLen}`)), ...skip.map((s) => parseCidr(s))];
  nl.close();
  const out: string[] = [];
  // a random start: parallel test files rarely pick the same ones
  let i = Math.floor(Math.random() * 2000);
  for (let n = 0; n < 4096 && out.length < count; n++, i = (i + 1) % 4096) {
    const c = parseCidr(`10.${240 + (i >> 8)}.${i & 255}.0/24`);
    if (!used.some((u) => overlaps(u, c))) {
      out.push(`10.${240 + (i >> 8)}.${i & 255}.0/24`);
      used.push(c);
    }
  }
  return out;
}

export interface NetHarness {
  base: string;
  root: string;
  socket: string;
  netnsDir: string;
  bridge: string;
  bridgeSubnet: string;
  daemon: Daemon;
  logs: string[];
  docker(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<CliResult>;
  ok(args: string[]): Promise<string>;
  /** Restarts the daemon on the same root (containers keep running). */
  restart(): Promise<void>;
  /** Removes every container and every network but the defaults (what a failed test left). */
  reset(): Promise<void>;
  /** Kills nothing but the daemon object: simulates a crash by dropping it without close (see the test). */
  cleanup(): Promise<void>;
}

export function runDocker(socket: string, home: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      DOCKER,
      args,
      { env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: home, DOCKER_CONFIG: path.join(home, "docker-config"), DOCKER_HOST: `unix://${socket}` }, timeout: opts.timeoutMs ?? 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on("error", () => undefined); // EPIPE: the command exited without reading its input
    child.stdin?.end(opts.input ?? "");
  });
}

export async function setupNetwork(): Promise<NetHarness> {
  const base = await tempDir();
  const root = path.join(base, "root");
  const socket = path.join(base, "cove.sock");
  const tag = path.basename(base).replace(/[^a-zA-Z0-9]/g, "").slice(-6);
  // the test daemon's own exec root, bridge, subnet and chains: nothing shared with a daemon on
  // the host or with another test's
  const execRoot = `/run/cove-test-${tag}`;
  const netnsDir = `${execRoot}/netns`;
  const bridge = `cvt${tag}`.slice(0, 15);
  const [bridgeSubnet] = freeSubnets(1);
  const logs: string[] = [];
  // the daemon restores the containers of a root in the background: tests that use its services
  // directly after a restart wait for that
  const open = async () => {
    const d = await startDaemon({
      root,
      socket,
      execRoot,
      runtimeRoot: path.join(base, "r"),
      log: (l) => logs.push(l),
      network: { defaultBridge: { name: bridge, subnet: bridgeSubnet! }, netnsDir, tag },
    });
    await d.reconciled;
    return d;
  };
  let daemon = await open();
  const reset = async () => {
    for (const c of await daemon.containers.list({ all: true })) await daemon.containers.remove(c.Id, { force: true }).catch(() => undefined);
    for (const n of daemon.network?.list() ?? []) if (!["bridge", "host", "none"].includes(n.Name)) await daemon.network?.remove(n.Id).catch(() => undefined);
  };
  const cleanup = async () => {
    try {
      await reset();
      await daemon.network?.uninstall();
    } finally {
      await daemon.close();
      try {
        addon().umount2(netnsDir, addon().constants.MNT_DETACH);
      } catch {
        // not mounted
      }
      await rm(execRoot, { recursive: true, force: true });
      await rm(base, { recursive: true, force: true });
    }
  };
  try {
    await importBusybox(daemon.images);
    await mkdir(path.join(base, "docker-config"), { recursive: true });
  } catch (err) {
    // the daemon's bridge, chains and netns directory go with it
    await cleanup();
    throw err;
  }
  const h: NetHarness = {
    base,
    root,
    socket,
    netnsDir,
    bridge,
    bridgeSubnet: bridgeSubnet!,
    get daemon() {
      return daemon;
    },
    logs,
    docker: (args, opts) => runDocker(socket, base, args, opts),
    async ok(args) {
      const r = await runDocker(socket, base, args);
      if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    },
    async restart() {
      await daemon.close();
      daemon = await open();
    },
    reset,
    cleanup,
  };
  return h;
}

export const skipReason = !existsSync(DOCKER) ? `${DOCKER} is missing` : process.getuid?.() !== 0 ? "needs root" : false;

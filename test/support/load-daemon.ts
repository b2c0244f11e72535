// Starts test/daemon/load-daemon.ts (a cove daemon in its own process, on a private root) and
// talks to it: Engine API requests on its socket (whole or streamed), its memory (heap after a
// full collection, RSS) and open fds from /proc, and a stop that leaves nothing on the host.
// Used by the load tests (soak, concurrent start, full disk) and the soak benchmark.

import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { instanceLayout, type InstanceLayout } from "../../src/common/instance.js";
import { NetworkService } from "../../src/network/index.js";
import { watchLines } from "./child-daemon.js";

const CHILD = fileURLToPath(new URL("../daemon/load-daemon.js", import.meta.url));
const LINE_TIMEOUT_MS = 120_000;

export interface Reply {
  status: number;
  body: string;
}

export interface LoadDaemon {
  proc: ChildProcess;
  pid: number;
  root: string;
  socket: string;
  layout: InstanceLayout;
  /** Every line it printed (its log lines start with "log: "). */
  out: string[];
  /** Resolves with the first line that matches, printed already or to come. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  /** One request; the body is JSON-encoded unless it is a Buffer (then sent as a tar). */
  call(method: string, p: string, body?: unknown): Promise<Reply>;
  /** One request whose response is read as it comes: resolves once the headers are in. */
  stream(method: string, p: string, body?: unknown): Promise<Streamed>;
  /** The daemon's heap after a full collection (bytes). */
  heapUsed(): Promise<number>;
  /** VmRSS in KiB (0 when it is gone). */
  rssKb(): number;
  /** How many fds it holds open. */
  fds(): number;
  /** What its fds point at (socket:[inode], pipe:[inode], paths), for a message about a leak. */
  fdTargets(): string[];
  /**
   * Its fd count once it stops changing (three equal reads 50 ms apart, within 5 s): a client
   * connection just closed is gone from the daemon a moment after the client sees its response.
   */
  settledFds(): Promise<number>;
  /** Closes it; "uninstall" first removes its bridge and firewall chains. Waits for the exit. */
  stop(how?: "uninstall" | "close"): Promise<void>;
  /** Removes every container (forced) and then every volume: a test's teardown. */
  removeAll(): Promise<void>;
  /** SIGKILLs it (a crash) and waits for the exit. */
  kill(): Promise<void>;
}

export interface Streamed {
  status: number;
  res: http.IncomingMessage;
  /** The rest of the body as text. */
  rest(): Promise<string>;
}

export interface LoadDaemonOptions {
  /** The default bridge's subnet (a free one); without it no networking. */
  bip?: string;
  /** Import the busybox fixture before "ready". */
  importBusybox?: boolean;
}

/**
 * One connection per request, closed after it (no keep-alive): the daemon's open fds then count
 * no idle client connection, and a sample taken between requests sees only what the daemon holds.
 */
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

function request(socket: string, method: string, p: string, body?: unknown): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = {};
    if (payload) {
      headers["Content-Type"] = Buffer.isBuffer(body) ? "application/x-tar" : "application/json";
      headers["Content-Length"] = payload.length;
    }
    const req = http.request({ socketPath: socket, method, path: p, headers, agent }, resolve);
    req.on("error", reject);
    req.end(payload);
  });
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString()));
    res.on("error", reject);
    res.on("aborted", () => reject(new Error(`the response to the request was cut short after ${Buffer.concat(chunks).length} bytes`)));
  });
}

/** What a networked daemon's uninstall removes (bridge, firewall chains), done for it. */
async function uninstallNetwork(root: string, layout: InstanceLayout, bip: string): Promise<void> {
  const net = await NetworkService.open({ root, netnsDir: layout.netnsDir, defaultBridge: { name: layout.bridge, subnet: bip }, log: () => undefined });
  try {
    await net.uninstall();
  } finally {
    net.close();
  }
}

export function startLoadDaemon(root: string, socket: string, opts: LoadDaemonOptions = {}): LoadDaemon {
  const args = [root, socket];
  if (opts.bip) args.push("--bip", opts.bip);
  if (opts.importBusybox) args.push("--import");
  const proc = spawn(process.execPath, ["--expose-gc", CHILD, ...args], { stdio: ["ignore", "pipe", "pipe", "ipc"] });
  const { out, line } = watchLines(proc, LINE_TIMEOUT_MS);
  const pid = proc.pid!;
  const gone = new Promise<void>((r) => proc.once("exit", () => r()));
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const d: LoadDaemon = {
    proc,
    pid,
    root,
    socket,
    layout: instanceLayout(root),
    out,
    line,
    async call(method, p, body) {
      const res = await request(socket, method, p, body);
      return { status: res.statusCode ?? 0, body: await readAll(res) };
    },
    async stream(method, p, body) {
      const res = await request(socket, method, p, body);
      return { status: res.statusCode ?? 0, res, rest: () => readAll(res) };
    },
    heapUsed() {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the daemon did not report its memory within 60 s")), 60_000);
        const onMessage = (m: { memory?: NodeJS.MemoryUsage }) => {
          if (!m.memory) return;
          clearTimeout(timer);
          proc.off("message", onMessage);
          resolve(m.memory.heapUsed);
        };
        proc.on("message", onMessage);
        proc.send({ memory: true });
      });
    },
    rssKb() {
      try {
        return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
      } catch {
        return 0;
      }
    },
    fds() {
      try {
        return readdirSync(`/proc/${pid}/fd`).length;
      } catch {
        return 0;
      }
    },
    fdTargets() {
      const out: string[] = [];
      try {
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          try {
            out.push(`${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
          } catch {
            // closed meanwhile
          }
        }
      } catch {
        // gone
      }
      return out;
    },
    async settledFds() {
      let last = d.fds();
      let same = 0;
      for (const end = Date.now() + 5_000; same < 2 && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 50));
        const now = d.fds();
        same = now === last ? same + 1 : 0;
        last = now;
      }
      return last;
    },
    async removeAll() {
      const list = await d.call("GET", "/containers/json?all=1");
      for (const c of JSON.parse(list.body) as { Id: string }[]) await d.call("DELETE", `/containers/${c.Id}?force=1`);
      const vols = JSON.parse((await d.call("GET", "/volumes")).body) as { Volumes: { Name: string }[] | null };
      for (const v of vols.Volumes ?? []) await d.call("DELETE", `/volumes/${v.Name}`);
    },
    async stop(how = "close") {
      if (!exited()) {
        if (proc.connected) proc.send({ stop: how });
        else proc.kill("SIGTERM");
        // a daemon that does not close within the bound is killed: the caller's teardown goes on
        const timer = setTimeout(() => proc.kill("SIGKILL"), 120_000);
        await gone;
        clearTimeout(timer);
      }
      // a daemon that died, was killed or failed its own uninstall leaves its bridge and chains:
      // the same uninstall on its root, from here
      if (how === "uninstall" && opts.bip && proc.exitCode !== 0) await uninstallNetwork(root, d.layout, opts.bip);
    },
    async kill() {
      if (exited()) return;
      proc.kill("SIGKILL");
      await gone;
    },
  };
  return d;
}

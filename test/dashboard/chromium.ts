// Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol with the `ws`
// package: launch on a private profile, one page, navigate, evaluate, screenshots, and what the
// page reported as an error (console.error, uncaught exceptions, the browser's own error log
// entries such as failed loads and Content-Security-Policy refusals). The browser may reach
// loopback only: every other host resolves to nothing and goes to a proxy that does not exist.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import WebSocket from "ws";

export const CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"];

/** The chromium binary, or undefined when it is not installed. */
export function findChromium(): string | undefined {
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p));
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  method: string;
}

export interface Chromium {
  /** Errors the page reported so far, as text: console.error, uncaught exceptions, the browser's errors (a refused script or style, ...). */
  errors: string[];
  /** Requests that failed or answered with an error status: (status or error) and address. */
  failedLoads: string[];
  navigate(url: string): Promise<void>;
  /** Evaluates an expression in the page (promises awaited) and returns its value as JSON. */
  evaluate<T>(expression: string): Promise<T>;
  screenshot(file: string): Promise<void>;
  close(): Promise<void>;
}

export async function launchChromium(binary: string, profileDir: string, opts: { width?: number; height?: number } = {}): Promise<Chromium> {
  await mkdir(profileDir, { recursive: true });
  const args = [
    "--headless=new",
    "--no-sandbox",
    "--remote-debugging-port=0",
    `--user-data-dir=${profileDir}`,
    `--window-size=${opts.width ?? 1400},${opts.height ?? 1000}`,
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    // nothing but loopback: other names do not resolve, other addresses go to a dead proxy
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "about:blank",
  ];
  // its own process group, so that close() ends the browser's helper processes too
  const child = spawn(binary, args, { detached: true, stdio: ["ignore", "ignore", "pipe"] });
  const kill = () => {
    // the group even when the browser itself is gone: its helpers may outlive it
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err; // already gone
      }
    }
  };
  let ws: WebSocket | undefined;
  try {
    const endpoint = await devtoolsEndpoint(child);
    ws = new WebSocket(endpoint, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws!.once("open", () => resolve());
      ws!.once("error", reject);
    });
    return await session(ws, child, kill, profileDir);
  } catch (err) {
    ws?.terminate();
    kill();
    await rm(profileDir, { recursive: true, force: true });
    throw err;
  }
}

/** The browser's DevTools WebSocket address, from "DevTools listening on ws://..." on its stderr. */
function devtoolsEndpoint(child: ChildProcess, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => done(new Error(`chromium printed no DevTools address within ${timeoutMs} ms; its stderr:\n${err}`)), timeoutMs);
    const onData = (c: Buffer) => {
      err += c.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) done(undefined, m[1]);
    };
    const onExit = (code: number | null) => done(new Error(`chromium exited (${code}) before it listened; its stderr:\n${err}`));
    const done = (e?: Error, url?: string) => {
      clearTimeout(timer);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      // keep reading what it prints, so it never blocks on a full pipe
      child.stderr?.resume();
      if (e) reject(e);
      else resolve(url as string);
    };
    child.stderr?.on("data", onData);
    child.on("exit", onExit);
  });
}

async function session(ws: WebSocket, child: ChildProcess, kill: () => void, profileDir: string): Promise<Chromium> {
  let next = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, ((params: Record<string, unknown>) => void)[]>();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString()) as { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { message: string } };
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result ?? {});
    } else if (msg.method) for (const fn of listeners.get(msg.method) ?? []) fn(msg.params ?? {});
  });
  ws.on("close", () => {
    for (const p of pending.values()) p.reject(new Error(`${p.method}: the DevTools connection closed`));
    pending.clear();
  });
  /** The page's session, once attached: every command but Target.* goes to it. */
  const attached: { sessionId?: string } = {};
  const send = (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject, method });
      ws.send(JSON.stringify({ id, method, params, ...(attached.sessionId && !method.startsWith("Target.") ? { sessionId: attached.sessionId } : {}) }));
    });
  const on = (method: string, fn: (params: Record<string, unknown>) => void) => listeners.set(method, [...(listeners.get(method) ?? []), fn]);

  const { targetInfos } = (await send("Target.getTargets")) as { targetInfos: { targetId: string; type: string }[] };
  const page = targetInfos.find((t) => t.type === "page");
  const targetId = page ? page.targetId : ((await send("Target.createTarget", { url: "about:blank" })) as { targetId: string }).targetId;
  attached.sessionId = ((await send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string }).sessionId;

  const errors: string[] = [];
  const failedLoads: string[] = [];
  on("Runtime.consoleAPICalled", (p) => {
    if (p.type === "error" || p.type === "assert") errors.push(`console.${String(p.type)}: ${JSON.stringify((p.args as { value?: unknown; description?: string }[]).map((a) => a.value ?? a.description))}`);
  });
  on("Runtime.exceptionThrown", (p) => {
    const d = p.exceptionDetails as { text: string; exception?: { description?: string } };
    errors.push(`uncaught: ${d.exception?.description ?? d.text}`);
  });
  on("Log.entryAdded", (p) => {
    const e = p.entry as { level: string; text: string; url?: string; source: string };
    if (e.level !== "error") return;
    const status = /status of (\d+)/.exec(e.text);
    if (e.source === "network" && e.url) failedLoads.push(`${status ? status[1] : e.text} ${e.url}`);
    else errors.push(`browser (${e.source}): ${e.text}${e.url ? ` (${e.url})` : ""}`);
  });
  await send("Runtime.enable");
  await send("Log.enable");
  await send("Page.enable");

  return {
    errors,
    failedLoads,
    async navigate(url) {
      const loaded = new Promise<void>((resolve) => on("Page.loadEventFired", () => resolve()));
      const r = (await send("Page.navigate", { url })) as { errorText?: string };
      if (r.errorText) throw new Error(`navigating to ${url}: ${r.errorText}`);
      await loaded;
    },
    async evaluate<T>(expression: string): Promise<T> {
      const r = (await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true })) as { result: { value?: unknown }; exceptionDetails?: { text: string; exception?: { description?: string } } };
      if (r.exceptionDetails) throw new Error(`evaluating ${expression}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value as T;
    },
    async screenshot(file) {
      const { data } = (await send("Page.captureScreenshot", { format: "png" })) as { data: string };
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, Buffer.from(data, "base64"));
    },
    async close() {
      ws.terminate();
      const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once("exit", () => resolve()));
      kill();
      await exited;
      await rm(profileDir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

// Helpers for the CLI tests: run the container commands (test/cli/entry.ts) as a child process
// against a given Engine API socket, and a recording Engine API server on a unix socket.

import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), "entry.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cove ARGS` (the container commands) against socket. */
export function cove(socket: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY, "--socket", socket, ...args], { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"], cwd: opts.cwd });
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => errs.push(c));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errs).toString("utf8") });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input);
  });
}

export interface Recorded {
  method: string;
  url: string;
  body: string;
}

/**
 * An Engine API impostor: answers /_ping like a 1.47 Linux daemon and every other request with
 * `status` and {"message": message}, recording each request.
 */
export async function recordingServer(socket: string, status = 400, message = "recorded by the test"): Promise<{ requests: Recorded[]; close(): Promise<void> }> {
  await rm(socket, { force: true });
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", body: Buffer.concat(chunks).toString("utf8") });
      if (req.url?.endsWith("/_ping")) {
        res.writeHead(200, { "Api-Version": "1.47", OSType: "linux", "Content-Type": "text/plain" });
        res.end("OK");
        return;
      }
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ message }) + "\n");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socket, resolve);
  });
  return {
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

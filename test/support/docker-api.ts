// The docker CLI and raw Engine API requests against a daemon's unix socket, for integration tests
// that drive a real daemon (cove's or dockerd's).

import { execFile } from "node:child_process";
import http from "node:http";
import { existsSync } from "node:fs";
import { findBusybox } from "../images/fixtures.js";

/** The docker CLI the integration tests drive. */
export const DOCKER = "/usr/local/bin/docker";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the docker CLI with env (DOCKER_HOST picks the daemon), killed after timeoutMs; stdout is kept byte for byte (latin1). */
export function run(env: NodeJS.ProcessEnv, args: string[], input?: Buffer | string, timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(DOCKER, args, { env, timeout: timeoutMs, maxBuffer: 64 << 20, encoding: "buffer" }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: stdout.toString("latin1"), stderr: stderr.toString() });
    });
    child.stdin?.on("error", () => undefined); // EPIPE: the command exited without reading its input
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as text, and as the bytes that arrived. */
  body: string;
  raw: Buffer;
  /** False when the connection closed before the whole body arrived (raw holds what did). */
  complete: boolean;
}

/** One request on a unix socket; rejects only when no response arrives at all. */
export function api(socket: string, method: string, p: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const type = Buffer.isBuffer(body) ? "application/x-tar" : "application/json";
    const req = http.request({ socketPath: socket, method, path: p, headers: { ...(body ? { "Content-Type": type } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      // a body cut short ends in 'close' with complete false
      res.on("error", () => undefined);
      res.on("close", () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString(), raw, complete: res.complete });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Why a test that drives the docker CLI against a cove daemon cannot run here, or false: it
 * needs the CLI, root (containers, cgroups, overlay mounts) and Debian's static busybox.
 */
export async function dockerCliSkip(): Promise<string | false> {
  if (!existsSync(DOCKER)) return `${DOCKER} is missing`;
  if (process.getuid?.() !== 0) return "needs root (containers, cgroups, overlay mounts)";
  if (!(await findBusybox())) return "busybox-static is not installed (apt-get install -y busybox-static)";
  return false;
}

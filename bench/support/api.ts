// The Engine API over a unix socket for the scale benchmarks: keep-alive clients as a docker
// client library holds them, and work fanned out over several such clients at once.

import http from "node:http";

export interface Reply {
  status: number;
  body: string;
  ms: number;
}

/** A client: one keep-alive connection, as a docker client library holds. */
export function client(socket: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const once = (method: string, p: string, body: unknown, timeoutMs: number): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string | number> = payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {};
      const req = http.request({ socketPath: socket, method, path: p, headers, agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - t0 }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${p}: no answer within ${timeoutMs / 1000} s`)));
      req.on("error", (err: NodeJS.ErrnoException & { reused?: boolean }) => {
        err.reused = req.reusedSocket;
        err.message = `${method} ${p}: ${err.message}`;
        reject(err);
      });
      req.end(payload);
    });
  const call = (method: string, p: string, body?: unknown, timeoutMs = 300_000): Promise<Reply> =>
    once(method, p, body, timeoutMs).catch((err: NodeJS.ErrnoException & { reused?: boolean }) => {
      // the daemon closed the idle keep-alive connection as this request went out on it: the
      // request never reached it (Node's advice: retry once on a fresh connection)
      if (err.reused && (err.code === "EPIPE" || err.code === "ECONNRESET")) return once(method, p, body, timeoutMs);
      throw err;
    });
  return { call, close: () => agent.destroy() };
}
export type Client = ReturnType<typeof client>;

/** One request that must succeed (a status below 300). */
export async function ok(c: Client, method: string, p: string, body?: unknown): Promise<Reply> {
  const r = await c.call(method, p, body);
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${r.body.trim()}`);
  return r;
}

/**
 * Runs work(i, client) for every i in [from, to) on `clients` clients at once, until stop() says
 * so; returns each call's ms. The first failure stops the others taking more work and is thrown
 * once they are done.
 */
export async function fanOut(socket: string, from: number, to: number, work: (i: number, c: Client) => Promise<void>, opts: { clients: number; stop?: () => boolean }): Promise<number[]> {
  const clients = Array.from({ length: Math.max(1, Math.min(opts.clients, to - from)) }, () => client(socket));
  const ms: number[] = new Array<number>(Math.max(0, to - from));
  let next = from;
  let failed: { err: unknown } | undefined;
  try {
    await Promise.all(
      clients.map(async (c) => {
        while (next < to && !failed && !opts.stop?.()) {
          const i = next++;
          const t0 = performance.now();
          try {
            await work(i, c);
          } catch (err) {
            failed ??= { err };
          }
          ms[i - from] = performance.now() - t0;
        }
      }),
    );
  } finally {
    for (const c of clients) c.close();
  }
  if (failed) throw failed.err;
  return ms;
}

// GET from a server in a container just started: it takes a moment to listen, so the request is
// tried again until it answers or the attempts run out.

import http from "node:http";

export interface WhenUpOptions {
  /** How many tries (default 100). */
  attempts?: number;
  /** Pause between tries, ms (default 100). */
  intervalMs?: number;
  /** Bound on one try, ms (default 2000). */
  timeoutMs?: number;
}

/** GET http://127.0.0.1:port/ until it answers; its body. */
export async function httpGetWhenUp(port: number, opts: WhenUpOptions = {}): Promise<string> {
  const { attempts = 100, intervalMs = 100, timeoutMs = 2000 } = opts;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: "/", timeout: timeoutMs }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => resolve(body));
        });
        req.on("timeout", () => req.destroy(new Error("timed out")));
        req.on("error", reject);
      });
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
  throw new Error(`127.0.0.1:${port} did not answer: ${String(last)}`);
}

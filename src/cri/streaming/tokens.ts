// The streaming server's request cache, as the kubelet's (pkg/kubelet/cri/streaming
// request_cache.go): Exec, Attach and PortForward store their request under a random token that
// the URL carries; the token is good for one use within a minute, and at most 1000 wait at once.

import { randomBytes } from "node:crypto";
import { CoveError } from "../../common/errors.js";

export const TOKEN_TTL_MS = 60_000;
export const MAX_IN_FLIGHT = 1000;

export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(
    private readonly ttlMs = TOKEN_TTL_MS,
    private readonly maxInFlight = MAX_IN_FLIGHT,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores value under a new token. */
  insert(value: T): string {
    this.sweep();
    if (this.entries.size >= this.maxInFlight) {
      throw new CoveError("too-large", `${this.maxInFlight} streaming requests already wait for their client: the maximum number of in-flight requests is reached`, {
        code: "cri.streaming-busy",
        hint: "retry once earlier requests were used or expired (one minute)",
      });
    }
    let token: string;
    do token = randomBytes(16).toString("base64url");
    while (this.entries.has(token));
    this.entries.set(token, { value, expires: this.now() + this.ttlMs });
    return token;
  }

  /** The value of a token that is still good, which is then gone; undefined otherwise. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expires > this.now() ? e.value : undefined;
  }

  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
  }
}

// Who may use cove's registry server, in one of three modes:
//
// - none: anyone may pull, push and delete.
// - basic: every request carries HTTP basic credentials checked against an htpasswd file of
//   bcrypt hashes (as distribution's htpasswd auth); a request without them gets 401 and
//   `WWW-Authenticate: Basic realm=...`.
// - token: Docker's token flow (docker-registry/auth-token.md). A request without a valid bearer
//   token gets 401 and `WWW-Authenticate: Bearer realm="<this server>/token",service=...,scope=...`;
//   the client asks the server's own token endpoint (GET /token?service=&scope=, with basic
//   credentials from the htpasswd file) and gets a JWT (HS256, signed with a key kept in the
//   server's root) granting the scopes it asked for, then retries with it. The built-in issuer is
//   the simplest setup that the docker CLI, skopeo and containerd all accept; there is no
//   per-repository policy: a user of the htpasswd file gets every action on every repository.

import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { invalid, fromErrno } from "../../common/errors.js";
import { bcryptVerify, isBcrypt } from "./bcrypt.js";
import { ServeError } from "./errors.js";

export type AuthMode = "none" | "basic" | "token";

/** What a request needs: an action on a resource ("repository", "busybox", "pull"). */
export interface Access {
  type: "repository" | "registry";
  name: string;
  actions: string[];
}

export const REALM = "cove-registry";
export const TOKEN_SERVICE = "cove-registry";
const TOKEN_TTL_S = 300;

/** Parses an htpasswd file: user → bcrypt hash. Lines that are not "user:$2y$..." are refused. */
export function parseHtpasswd(text: string, file = "htpasswd"): Map<string, string> {
  const users = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    const user = colon > 0 ? line.slice(0, colon) : "";
    const hash = colon > 0 ? line.slice(colon + 1) : "";
    if (!user || !isBcrypt(hash)) {
      throw invalid(`${file}, line ${i + 1}: not "user:<bcrypt hash>"; cove's registry checks bcrypt hashes only`, {
        code: "registry.htpasswd-invalid",
        hint: "make the entry with `htpasswd -B` (apache2-utils)",
      });
    }
    users.set(user, hash);
  });
  return users;
}

export async function loadHtpasswd(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw fromErrno(err, `reading the htpasswd file ${file}`);
  }
  return parseHtpasswd(text, file);
}

/** The user and password of a Basic Authorization header, or undefined. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

interface Claims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: Access[];
}

/** Parses a scope parameter ("repository:busybox:pull,push"; a name may hold a port's colon). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last === first) return undefined;
  const type = scope.slice(0, first);
  if (type !== "repository" && type !== "registry") return undefined;
  return { type, name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(",").filter((a) => a !== "") };
}

export class Authenticator {
  readonly mode: AuthMode;
  private readonly users: Map<string, string>;
  private readonly key: Buffer;
  /** Verified passwords, so a client's many requests pay for bcrypt once: "user\0password" → hash. */
  private readonly verified = new Map<string, string>();

  constructor(mode: AuthMode, users: Map<string, string> = new Map(), key: Buffer = randomBytes(32)) {
    this.mode = mode;
    this.users = users;
    this.key = key;
    if (mode !== "none" && users.size === 0) {
      throw invalid(`--auth ${mode} needs users: give an htpasswd file (--htpasswd FILE) with at least one`, { code: "registry.no-users" });
    }
  }

  /** Whether user and password match the htpasswd file. */
  checkPassword(user: string, password: string): boolean {
    const hash = this.users.get(user);
    if (hash === undefined) return false;
    const memo = `${user}\0${password}`;
    if (this.verified.get(memo) === hash) return true;
    if (!bcryptVerify(password, hash)) return false;
    if (this.verified.size > 1000) this.verified.clear();
    this.verified.set(memo, hash);
    return true;
  }

  /**
   * Checks a request's Authorization header for `need`; throws the 401 to send (with its
   * challenge) when it falls short. `origin` is this server's scheme://host, for the token realm.
   */
  authorize(header: string | undefined, need: Access[], origin: string): void {
    if (this.mode === "none") return;
    if (this.mode === "basic") {
      const creds = basicCredentials(header);
      if (creds && this.checkPassword(creds.user, creds.password)) return;
      throw new ServeError("UNAUTHORIZED", "authentication required", undefined, { headers: { "WWW-Authenticate": `Basic realm="${REALM}"` } });
    }
    const scope = need.map((a) => `${a.type}:${a.name}:${a.actions.join(",")}`).join(" ");
    const challenge = `Bearer realm="${origin}/token",service="${TOKEN_SERVICE}"${scope ? `,scope="${scope}"` : ""}`;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
    const claims = m ? this.verifyToken(m[1]!) : undefined;
    const granted = (a: Access) =>
      claims!.access.some((g) => g.type === a.type && g.name === a.name && a.actions.every((x) => g.actions.includes(x) || g.actions.includes("*")));
    if (claims && need.every(granted)) return;
    const detail = need.map((a) => ({ Type: a.type, Class: "", Name: a.name, Action: a.actions.join(",") }));
    throw new ServeError("UNAUTHORIZED", "authentication required", claims ? detail : undefined, {
      headers: { "WWW-Authenticate": claims ? `${challenge},error="insufficient_scope"` : challenge },
    });
  }

  /**
   * The token endpoint (GET /token?service=&scope=...): basic credentials in, a JWT granting
   * the asked scopes out. Throws a 401 for missing or wrong credentials.
   */
  issueToken(header: string | undefined, scopes: string[], now = Date.now()): { token: string; access_token: string; expires_in: number; issued_at: string } {
    if (this.mode !== "token") throw new ServeError("UNSUPPORTED", "this registry issues no tokens", undefined, { status: 404 });
    const creds = basicCredentials(header);
    if (!creds || !this.checkPassword(creds.user, creds.password)) {
      throw new ServeError("UNAUTHORIZED", "authentication required", undefined, { headers: { "WWW-Authenticate": `Basic realm="${REALM}"` } });
    }
    const access = scopes.flatMap((s) => s.split(" ")).flatMap((s) => parseScope(s) ?? []);
    const iat = Math.floor(now / 1000);
    const claims: Claims = { iss: TOKEN_SERVICE, sub: creds.user, aud: TOKEN_SERVICE, exp: iat + TOKEN_TTL_S, nbf: iat - 10, iat, jti: randomUUID(), access };
    const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const body = b64url(JSON.stringify(claims));
    const sig = b64url(createHmac("sha256", this.key).update(`${head}.${body}`).digest());
    const token = `${head}.${body}.${sig}`;
    return { token, access_token: token, expires_in: TOKEN_TTL_S, issued_at: new Date(iat * 1000).toISOString() };
  }

  /** The claims of a token this server signed and that is valid now, or undefined. */
  verifyToken(token: string, now = Date.now()): Claims | undefined {
    const parts = token.split(".");
    if (parts.length !== 3) return undefined;
    const [head, body, sig] = parts as [string, string, string];
    const want = createHmac("sha256", this.key).update(`${head}.${body}`).digest();
    const got = Buffer.from(sig, "base64url");
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    try {
      const h = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: string };
      if (h.alg !== "HS256") return undefined;
      const c = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Claims;
      const t = Math.floor(now / 1000);
      if (c.aud !== TOKEN_SERVICE || typeof c.exp !== "number" || c.exp < t || (typeof c.nbf === "number" && c.nbf > t) || !Array.isArray(c.access)) return undefined;
      return c;
    } catch {
      // a token that decodes to no JSON was not signed by us (the signature matched, so this is not reached in practice)
      return undefined;
    }
  }
}

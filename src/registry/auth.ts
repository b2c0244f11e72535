// Registry authentication as Docker's client does it (docker/distribution registry/client/auth):
// the WWW-Authenticate challenges of a 401 (RFC 7235 syntax), Bearer tokens from the realm the
// challenge names (anonymous, with Basic credentials, or an OAuth refresh token when the user
// holds an identity token), and Basic credentials sent as they are. Credentials come from the
// Engine API's X-Registry-Auth header: base64url JSON {username, password, serveraddress} or
// {identitytoken}.

import { invalid } from "../common/errors.js";

/** What a client passes to authenticate to a registry (Docker's registry.AuthConfig). */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** An OAuth refresh token from a login (used instead of the password). */
  identitytoken?: string;
  /** A bearer token to send as is. */
  registrytoken?: string;
  serveraddress?: string;
  email?: string;
  auth?: string;
}

export interface Challenge {
  /** Lowercased scheme: "bearer", "basic". */
  scheme: string;
  /** Parameters with lowercased names: realm, service, scope, error. */
  params: Record<string, string>;
}

/**
 * Decodes the X-Registry-Auth header: base64url (padded or not; standard base64 is accepted
 * too, as Docker's decoder is lenient) of a JSON AuthConfig. An empty header or "{}" is no auth.
 */
export function decodeRegistryAuth(header: string | undefined): AuthConfig | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  const raw = Buffer.from(header.trim().replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    throw invalid("invalid X-Registry-Auth header: it must be base64url-encoded JSON (username, password, serveraddress or identitytoken)", {
      code: "registry.auth-header",
      field: "X-Registry-Auth",
    });
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw invalid("invalid X-Registry-Auth header: the JSON must be an object", { code: "registry.auth-header", field: "X-Registry-Auth" });
  }
  const r = o as Record<string, unknown>;
  const out: AuthConfig = {};
  for (const key of ["username", "password", "identitytoken", "registrytoken", "serveraddress", "email", "auth"] as const) {
    const v = r[key] ?? r[key[0]!.toUpperCase() + key.slice(1)];
    if (v === undefined || v === null || v === "") continue;
    if (typeof v !== "string") throw invalid(`invalid X-Registry-Auth header: "${key}" must be a string`, { code: "registry.auth-header", field: `X-Registry-Auth.${key}` });
    out[key] = v;
  }
  // "auth" is base64 "user:password", as in ~/.docker/config.json.
  if (out.auth && out.username === undefined && out.password === undefined) {
    const pair = Buffer.from(out.auth, "base64").toString("utf8");
    const colon = pair.indexOf(":");
    if (colon > 0) {
      out.username = pair.slice(0, colon);
      out.password = pair.slice(colon + 1);
    }
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** Encodes an AuthConfig as the X-Registry-Auth header value (base64url JSON). */
export function encodeRegistryAuth(auth: AuthConfig): string {
  return Buffer.from(JSON.stringify(auth)).toString("base64url");
}

/** Parses a WWW-Authenticate header value into its challenges (several may be comma-joined). */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && /[\s]/.test(header[i]!)) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skipSpace();
    while (i < n && header[i] === ",") {
      i++;
      skipSpace();
    }
    const scheme = token();
    if (scheme === "") break;
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      skipSpace();
      const save = i;
      const name = token();
      skipSpace();
      if (name === "" || header[i] !== "=") {
        i = save; // the next challenge's scheme
        break;
      }
      i++;
      skipSpace();
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        value = token();
      }
      ch.params[name.toLowerCase()] = value;
      skipSpace();
      if (header[i] === ",") i++;
      else break;
    }
  }
  return out;
}

/** The Basic Authorization header value for a user and password. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

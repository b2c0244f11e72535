// Errors a registry answers with, as the distribution spec defines them: a status code and a body
// {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":...}]}. A
// RegistryError keeps both, so the caller that knows what was asked for (the image service knows
// the familiar reference) can word it as Docker does; its own message reads as distribution's
// errcode.Error does: "<code, lowercased with spaces>: <message>" ("manifest unknown: manifest unknown").

import { STATUS_CODES } from "node:http";
import { CoveError, type ErrorKind } from "../common/errors.js";

export interface RegistryErrorEntry {
  /** The error code, e.g. "MANIFEST_UNKNOWN", "NAME_UNKNOWN", "UNAUTHORIZED", "DENIED". */
  code: string;
  message: string;
  detail?: unknown;
}

/** distribution's errcode.ErrorCode.Error(): "MANIFEST_UNKNOWN" → "manifest unknown". */
export function codeText(code: string): string {
  return code.toLowerCase().replace(/_/g, " ");
}

/** The message distribution registers for each error code (errcode descriptors of registry/api/v2 and errcode). */
const DEFAULT_MESSAGES: Record<string, string> = {
  BLOB_UNKNOWN: "blob unknown to registry",
  BLOB_UPLOAD_INVALID: "blob upload invalid",
  BLOB_UPLOAD_UNKNOWN: "blob upload unknown to registry",
  DENIED: "requested access to the resource is denied",
  DIGEST_INVALID: "provided digest did not match uploaded content",
  MANIFEST_BLOB_UNKNOWN: "blob unknown to registry",
  MANIFEST_INVALID: "manifest invalid",
  MANIFEST_UNKNOWN: "manifest unknown",
  MANIFEST_UNVERIFIED: "manifest failed signature verification",
  NAME_INVALID: "invalid repository name",
  NAME_UNKNOWN: "repository name not known to registry",
  PAGINATION_NUMBER_INVALID: "invalid number of results requested",
  RANGE_INVALID: "invalid content range",
  SIZE_INVALID: "provided length did not match content length",
  TAG_INVALID: "manifest tag did not match URI",
  TOOMANYREQUESTS: "too many requests",
  UNAUTHORIZED: "authentication required",
  UNAVAILABLE: "service unavailable",
  UNKNOWN: "unknown error",
  UNSUPPORTED: "The operation is unsupported.",
};

/**
 * An entry as Docker's client prints it (distribution's errcode.Errors as decoded from JSON): a
 * code it does not know reads as "unknown"; an entry without detail whose message is empty or
 * its code's own reads as the code alone ("unauthorized"); any other as "<code>: <message>"
 * ("manifest unknown: manifest unknown" when the registry sent a detail).
 */
export function entryText(e: RegistryErrorEntry): string {
  const known = e.code in DEFAULT_MESSAGES;
  const code = known ? e.code : "UNKNOWN";
  const hasDetail = e.detail !== undefined && e.detail !== null;
  if (!hasDetail && (e.message === "" || e.message === DEFAULT_MESSAGES[code])) return codeText(code);
  return `${codeText(code)}: ${e.message}`;
}

function kindFor(status: number, code: string | undefined): ErrorKind {
  if (code === "MANIFEST_UNKNOWN" || code === "NAME_UNKNOWN" || code === "BLOB_UNKNOWN" || status === 404) return "not-found";
  if (code === "UNAUTHORIZED" || code === "DENIED" || status === 401 || status === 403) return "forbidden";
  if (code === "UNSUPPORTED" || status === 405) return "unsupported";
  if (code === "TOOMANYREQUESTS" || status === 429 || status >= 500) return "unavailable";
  return "invalid";
}

/** A registry's answer that was not what was asked for: its status and its errors, first one foremost. */
export class RegistryError extends CoveError {
  readonly status: number;
  readonly errors: RegistryErrorEntry[];
  /** The URL that answered. */
  readonly url: string;

  constructor(status: number, errors: RegistryErrorEntry[], url: string, message?: string) {
    const first = errors[0];
    const text = message ?? (first ? entryText(first) : `unexpected status from ${url}: ${status}`);
    super(kindFor(status, first?.code), text, { code: first ? `registry.${first.code.toLowerCase()}` : `registry.http-${status}` });
    this.name = "RegistryError";
    this.status = status;
    this.errors = errors;
    this.url = url;
  }

  /** The first error's code ("MANIFEST_UNKNOWN"), or undefined when the body had none. */
  get registryCode(): string | undefined {
    return this.errors[0]?.code;
  }
}

/** Parses an error body; a body that is not the spec's JSON gives no entries. */
export function parseErrorBody(body: string): RegistryErrorEntry[] {
  try {
    const o = JSON.parse(body) as { errors?: unknown };
    if (!Array.isArray(o.errors)) return [];
    return o.errors.flatMap((e: unknown) => {
      if (typeof e !== "object" || e === null) return [];
      const r = e as Record<string, unknown>;
      if (typeof r.code !== "string") return [];
      return [{ code: r.code, message: typeof r.message === "string" ? r.message : "", ...(r.detail !== undefined ? { detail: r.detail } : {}) }];
    });
  } catch {
    return [];
  }
}

/**
 * A token server refused the credentials. The message names the request that needed the token,
 * as Docker's client does (`Head "http://host/v2/x/manifests/1": unauthorized`); `reason` is the
 * refusal alone ("unauthorized"), which is what dockerd's push reports.
 */
export class TokenRefusedError extends CoveError {
  constructor(
    readonly request: string,
    readonly reason: string,
    hint: string,
  ) {
    super("upstream", `${request}: ${reason}`, { code: "registry.token-refused", hint });
    this.name = "TokenRefusedError";
  }
}

/**
 * What Docker's client says of a refused token request (distribution's HandleErrorResponse): a
 * {"details": ...} body, the spec's error JSON, a bare 401 ("unauthorized: authentication
 * required"), or the unexpected status.
 */
export function tokenErrorText(status: number, body: string): string {
  if (status < 400 || status >= 500) return `received unexpected HTTP status: ${status} ${STATUS_CODES[status] ?? ""}`.trimEnd();
  let details = "";
  try {
    const o = JSON.parse(body) as { details?: unknown };
    if (o && typeof o.details === "string") details = o.details;
  } catch {
    details = "";
  }
  if (details !== "") return `${status === 401 ? "unauthorized" : status === 429 ? "toomanyrequests" : "unknown"}: ${details}`;
  const entries = parseErrorBody(body);
  if (entries.length === 1) return entryText(entries[0]!);
  if (entries.length > 1) return `errors:\n${entries.map((e) => `${entryText(e)}\n`).join("")}`;
  if (status === 401) return "unauthorized: authentication required";
  return `error parsing HTTP ${status} response body: ${JSON.stringify(body.slice(0, 200))}`;
}

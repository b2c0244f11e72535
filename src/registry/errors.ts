// Errors a registry answers with, as the distribution spec defines them: a status code and a body
// {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":...}]}. A
// RegistryError keeps both, so the caller that knows what was asked for (the image service knows
// the familiar reference) can word it as Docker does; its own message reads as distribution's
// errcode.Error does: "<code, lowercased with spaces>: <message>" ("manifest unknown: manifest unknown").

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

/** distribution's errcode.Error.Error(): "manifest unknown: manifest unknown". */
export function entryText(e: RegistryErrorEntry): string {
  return `${codeText(e.code)}: ${e.message}`;
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

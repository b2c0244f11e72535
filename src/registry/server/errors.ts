// The errors cove's registry server answers with: the distribution spec's error codes, each with
// the status distribution gives it, rendered as the spec's body
// {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":...}]}. The
// client's RegistryError (../errors.ts) reads the same body back.

import { codeText, type RegistryErrorEntry } from "../errors.js";

/** The spec's error codes (code-1..code-14) and the status each is served with. */
export const ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  /** distribution's, not the spec's: an n that is not a number. */
  PAGINATION_NUMBER_INVALID: 400,
  /** distribution's for a failure of the registry itself. */
  UNKNOWN: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** A request the server refuses: the status, and the entries of the body. */
export class ServeError extends Error {
  readonly status: number;
  readonly entries: RegistryErrorEntry[];
  /** Extra response headers (a Range for a 416, a challenge for a 401). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, detail?: unknown, options: { status?: number; headers?: Record<string, string> } = {}) {
    const text = message ?? codeText(code);
    super(text);
    this.name = "ServeError";
    this.status = options.status ?? ERROR_STATUS[code];
    this.entries = [{ code, message: text, ...(detail !== undefined ? { detail } : {}) }];
    this.headers = options.headers ?? {};
  }

  /** One response carrying several errors of the same status (a manifest's missing blobs). */
  static many(code: ErrorCode, list: { message?: string; detail?: unknown }[]): ServeError {
    const err = new ServeError(code, list[0]?.message, list[0]?.detail);
    err.entries.splice(0, 1, ...list.map((e) => ({ code, message: e.message ?? codeText(code), ...(e.detail !== undefined ? { detail: e.detail } : {}) })));
    return err;
  }

  body(): string {
    return JSON.stringify({ errors: this.entries }) + "\n";
  }
}

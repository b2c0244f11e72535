// Image references, parsed exactly as Docker parses them (github.com/distribution/reference):
// the same grammar, the same normalization ("busybox" → "docker.io/library/busybox:latest",
// "index.docker.io" → "docker.io") and the same error texts, so users see what they know.

import { invalid, unsupported } from "../common/errors.js";
import { parseDigest, type Digest } from "../content/digest.js";
import { CoveError } from "../common/errors.js";

export const DEFAULT_DOMAIN = "docker.io";
export const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
export const OFFICIAL_REPO_PREFIX = "library/";
export const DEFAULT_TAG = "latest";
export const NAME_TOTAL_LENGTH_MAX = 255;

// ---- grammar (distribution/reference regexp.go), built from the same pieces
const alphanumeric = "[a-z0-9]+";
const separator = "(?:[._]|__|[-]+)";
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const domainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const ipv6address = "\\[(?:[a-fA-F0-9:]+)\\]";
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;
const tagPat = "[\\w][\\w.-]{0,127}";
const digestPat = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";

const REFERENCE_RE = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const ANCHORED_TAG_RE = new RegExp(`^${tagPat}$`);
const ANCHORED_IDENTIFIER_RE = /^[a-f0-9]{64}$/;

// ---- Docker's error texts
export const ERR_REFERENCE_INVALID_FORMAT = "invalid reference format";
export const ERR_TAG_INVALID_FORMAT = "invalid tag format";
export const ERR_NAME_CONTAINS_UPPERCASE = "repository name must be lowercase";
export const ERR_NAME_EMPTY = "repository name must have at least one component";
export const ERR_NAME_TOO_LONG = `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`;

/** Whether `err` is what parsing a reference throws for text that is no reference (refError, or a digest cove does not support). */
export function isBadReference(err: unknown): boolean {
  return err instanceof CoveError && (err.kind === "invalid" || err.kind === "unsupported");
}

function refError(message: string, input: string): CoveError {
  return invalid(message, { code: "reference.invalid", field: "reference", hint: `check the image reference "${input}"` });
}

/**
 * A parsed reference. `domain` is "" only for references parsed without normalization
 * (parseReference) that named no domain.
 */
export interface Reference {
  domain: string;
  /** The repository path below the domain, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: Digest;
}

/** A reference that may be only a digest (an image ID or content digest), from parseAnyReference. */
export type AnyReference = Reference | { digest: Digest; domain?: undefined; path?: undefined; tag?: undefined };

function checkDigest(value: string, input: string): Digest {
  try {
    parseDigest(value);
    return value;
  } catch (err) {
    if (err instanceof CoveError) {
      // go-digest's texts: "invalid checksum digest format|length", "unsupported digest algorithm".
      if (err.kind === "unsupported") throw unsupported("unsupported digest algorithm", { code: "reference.invalid", field: "reference", hint: `in "${input}": cove supports sha256 and sha512` });
      throw refError(err.message.includes("length") ? "invalid checksum digest length" : "invalid checksum digest format", input);
    }
    throw err;
  }
}

/**
 * Parses a reference strictly, without normalization (distribution/reference Parse).
 * "busybox" gives domain "" and path "busybox".
 */
export function parseReference(s: string): Reference {
  const m = REFERENCE_RE.exec(s);
  if (!m) {
    if (s === "") throw refError(ERR_NAME_EMPTY, s);
    if (REFERENCE_RE.test(s.toLowerCase())) throw refError(ERR_NAME_CONTAINS_UPPERCASE, s);
    throw refError(ERR_REFERENCE_INVALID_FORMAT, s);
  }
  const name = m[1] as string;
  if (name.length > NAME_TOTAL_LENGTH_MAX) throw refError(ERR_NAME_TOO_LONG, s);
  const nm = ANCHORED_NAME_RE.exec(name);
  if (!nm) throw refError(ERR_REFERENCE_INVALID_FORMAT, s);
  const ref: Reference = { domain: nm[1] ?? "", path: nm[2] as string };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) ref.digest = checkDigest(m[3], s);
  return ref;
}

/** Splits a familiar name into domain and remainder, as distribution/reference splitDockerDomain. */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf("/");
  if (slash === -1) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (maybeDomain === "localhost") [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) [domain, remote] = [DEFAULT_DOMAIN, maybeRemote];
  else if (/[.:]/.test(maybeDomain)) [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain.toLowerCase() !== maybeDomain) [domain, remote] = [maybeDomain, maybeRemote];
  else [domain, remote] = [DEFAULT_DOMAIN, name];
  if (domain === DEFAULT_DOMAIN && !remote.includes("/")) remote = OFFICIAL_REPO_PREFIX + remote;
  return [domain, remote];
}

/**
 * Parses a reference as the docker CLI does (ParseNormalizedNamed): adds docker.io and library/,
 * keeps any tag and digest, adds no default tag.
 */
export function parseNormalizedNamed(s: string): Reference {
  if (ANCHORED_IDENTIFIER_RE.test(s)) {
    throw refError(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`, s);
  }
  const [domain, remainder] = splitDockerDomain(s);
  const colon = remainder.indexOf(":");
  const remote = colon > -1 ? remainder.slice(0, colon) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw refError(`${ERR_REFERENCE_INVALID_FORMAT}: repository name (${remote}) must be lowercase`, s);
  }
  const ref = parseReference(`${domain}/${remainder}`);
  if (ref.domain === "") throw refError(`reference ${s} has no name`, s);
  return ref;
}

/** Adds ":latest" when the reference has neither tag nor digest (TagNameOnly). */
export function tagNameOnly(ref: Reference): Reference {
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: DEFAULT_TAG };
  return ref;
}

/**
 * Normalizes as Docker does for pulls and lookups (ParseDockerRef): default tag "latest";
 * a reference with both tag and digest keeps only the digest.
 */
export function parseDockerRef(s: string): Reference {
  const ref = parseNormalizedNamed(s);
  if (ref.tag !== undefined && ref.digest !== undefined) return { domain: ref.domain, path: ref.path, digest: ref.digest };
  return tagNameOnly(ref);
}

/**
 * Parses an image ID (64 hex), a digest, or a familiar name (ParseAnyReference).
 */
export function parseAnyReference(s: string): AnyReference {
  if (ANCHORED_IDENTIFIER_RE.test(s)) return { digest: `sha256:${s}` };
  try {
    parseDigest(s);
    return { digest: s };
  } catch {
    return parseNormalizedNamed(s);
  }
}

/** Validates a tag on its own ("invalid tag format"). */
export function validateTag(tag: string): string {
  if (!ANCHORED_TAG_RE.test(tag)) throw refError(ERR_TAG_INVALID_FORMAT, tag);
  return tag;
}

/** True when the reference names a repository (not only a digest). */
export function isNamed(ref: AnyReference): ref is Reference {
  return typeof ref.path === "string";
}

/** "docker.io/library/busybox". */
export function repositoryName(ref: Reference): string {
  return ref.domain ? `${ref.domain}/${ref.path}` : ref.path;
}

/** The full string, e.g. "docker.io/library/busybox:latest@sha256:...". */
export function referenceString(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The familiar repository name shown to users: "busybox", "user/app", "localhost:5000/a/b". */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  let p = ref.path;
  if (p.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = p.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes("/")) p = rest;
  }
  return p;
}

/** The familiar string shown to users, e.g. "busybox:latest" or "user/app@sha256:...". */
export function familiarString(ref: AnyReference): string {
  if (!isNamed(ref)) return ref.digest;
  let s = familiarName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** Parses and returns Docker's canonical string for a user-typed reference (with ":latest"). */
export function normalizeReference(s: string): string {
  return referenceString(tagNameOnly(parseNormalizedNamed(s)));
}

// ---- Go's path.Match, used by Docker's `reference` filter (FamiliarMatch)

function globToRegExp(pattern: string): RegExp {
  let re = "^";
  let i = 0;
  const bad = () => invalid(`syntax error in pattern "${pattern}"`, { code: "filter.invalid", field: "reference" });
  const escapeChar = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === "*") {
      re += "[^/]*";
      i++;
    } else if (c === "?") {
      re += "[^/]";
      i++;
    } else if (c === "\\") {
      if (i + 1 >= pattern.length) throw bad();
      re += escapeChar(pattern[i + 1] as string);
      i += 2;
    } else if (c === "[") {
      i++;
      let cls = "[";
      if (pattern[i] === "^") {
        cls += "^";
        i++;
      }
      let n = 0;
      for (;;) {
        if (i >= pattern.length) throw bad();
        if (pattern[i] === "]" && n > 0) {
          i++;
          break;
        }
        const readChar = (): string => {
          let ch = pattern[i];
          if (ch === undefined || ch === "-" || ch === "]") throw bad();
          if (ch === "\\") {
            i++;
            ch = pattern[i];
            if (ch === undefined) throw bad();
          }
          i++;
          return ch;
        };
        const lo = readChar();
        cls += escapeChar(lo);
        if (pattern[i] === "-") {
          i++;
          const hi = readChar();
          if (hi < lo) throw bad();
          cls += "-" + escapeChar(hi);
        }
        n++;
      }
      re += cls + "]";
    } else {
      re += escapeChar(c);
      i++;
    }
  }
  return new RegExp(re + "$");
}

/** Go's path.Match(pattern, name); throws invalid on a malformed pattern. */
export function pathMatch(pattern: string, name: string): boolean {
  return globToRegExp(pattern).test(name);
}

/** Docker's reference filter: matches the familiar string, then the familiar name alone. */
export function familiarMatch(pattern: string, ref: Reference): boolean {
  if (pathMatch(pattern, familiarString(ref))) return true;
  return pathMatch(pattern, familiarName(ref));
}

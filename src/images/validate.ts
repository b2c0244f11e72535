// Parsing and validation of manifests, indexes, descriptors and image configs from bytes.
// Every error is `invalid`, names the JSON field at fault and says what was expected; nothing is
// returned unless the whole document passed. A document whose own mediaType contradicts the type
// it was fetched as, or that mixes manifest and index fields, is refused (the ambiguity behind
// CVE-2021-41190).

import { CoveError, invalid, unsupported } from "../common/errors.js";
import { jsonTooDeepAt, MAX_JSON_DEPTH } from "../common/json.js";
import { digestOf, parseDigest } from "../content/digest.js";
import { isConfigType, isIndexType, isManifestType, isSchema1Type, MediaType } from "./mediatypes.js";
import type { ContainerConfig, Descriptor, History, ImageConfig, Index, Manifest, Platform } from "./types.js";

type Json = Record<string, unknown>;

const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function fail(what: string, field: string, message: string): CoveError {
  return invalid(`invalid ${what}: ${field}: ${message}`, { field, code: "image.invalid" });
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Uint8Array | string, what: string): Json {
  // a config's free-form fields are kept (and merged into containers' configs): bound their depth
  const deep = jsonTooDeepAt(bytes);
  if (deep !== undefined) throw invalid(`invalid ${what}: JSON nested deeper than ${MAX_JSON_DEPTH} levels (at byte ${deep})`, { code: "image.invalid" });
  const text = typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(`invalid ${what}: malformed JSON: ${(err as Error).message}`, { code: "image.invalid", cause: err });
  }
  if (!isObject(value)) throw invalid(`invalid ${what}: expected a JSON object, got ${Array.isArray(value) ? "an array" : typeof value}`, { code: "image.invalid" });
  return value;
}

function optString(o: Json, key: string, what: string, prefix: string): void {
  if (o[key] !== undefined && typeof o[key] !== "string") throw fail(what, `${prefix}${key}`, "must be a string");
}

function stringArray(v: unknown, what: string, field: string, allowNull = false): void {
  if (v === undefined || (allowNull && v === null)) return;
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw fail(what, field, "must be an array of strings");
}

function stringMap(v: unknown, what: string, field: string, allowNull = false): void {
  if (v === undefined || (allowNull && v === null)) return;
  if (!isObject(v)) throw fail(what, field, "must be an object of string values");
  for (const [k, val] of Object.entries(v)) if (typeof val !== "string") throw fail(what, `${field}.${k}`, "must be a string");
}

function objectSet(v: unknown, what: string, field: string): void {
  if (v === undefined || v === null) return;
  if (!isObject(v)) throw fail(what, field, 'must be an object whose keys are the entries, e.g. {"80/tcp": {}}');
  for (const [k, val] of Object.entries(v)) if (!isObject(val)) throw fail(what, `${field}.${k}`, "must be an empty object {}");
}

function checkDigestField(v: unknown, what: string, field: string): void {
  try {
    parseDigest(v, field);
  } catch (err) {
    if (err instanceof CoveError) throw new CoveError(err.kind, `invalid ${what}: ${err.message}`, { field, code: "image.invalid" });
    throw err;
  }
}

/** Validates a platform object. */
export function validatePlatform(v: unknown, what: string, field: string): Platform {
  if (!isObject(v)) throw fail(what, field, "must be an object");
  if (typeof v.architecture !== "string" || v.architecture === "") throw fail(what, `${field}.architecture`, "is required and must be a non-empty string");
  if (typeof v.os !== "string" || v.os === "") throw fail(what, `${field}.os`, "is required and must be a non-empty string");
  optString(v, "os.version", what, `${field}.`);
  optString(v, "variant", what, `${field}.`);
  stringArray(v["os.features"], what, `${field}.os.features`);
  stringArray(v.features, what, `${field}.features`);
  return v as unknown as Platform;
}

/** Validates a descriptor (OCI descriptor.md). `field` names it in errors, e.g. "layers[2]". */
export function validateDescriptor(v: unknown, what: string, field: string): Descriptor {
  if (!isObject(v)) throw fail(what, field, "must be a descriptor object with mediaType, digest and size");
  if (typeof v.mediaType !== "string" || !MEDIA_TYPE_RE.test(v.mediaType)) throw fail(what, `${field}.mediaType`, "is required and must be a media type like type/subtype");
  checkDigestField(v.digest, what, `${field}.digest`);
  if (typeof v.size !== "number" || !Number.isSafeInteger(v.size) || v.size < 0) throw fail(what, `${field}.size`, "is required and must be a non-negative integer");
  stringArray(v.urls, what, `${field}.urls`);
  stringMap(v.annotations, what, `${field}.annotations`);
  optString(v, "artifactType", what, `${field}.`);
  if (v.platform !== undefined) validatePlatform(v.platform, what, `${field}.platform`);
  if (v.data !== undefined) {
    if (typeof v.data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v.data)) throw fail(what, `${field}.data`, "must be base64");
    const bytes = Buffer.from(v.data, "base64");
    if (bytes.length !== v.size) throw fail(what, `${field}.data`, `holds ${bytes.length} bytes but size says ${v.size}`);
    const algorithm = parseDigest(v.digest).algorithm;
    if (digestOf(bytes, algorithm) !== v.digest) throw fail(what, `${field}.data`, `does not match digest ${v.digest as string}`);
  }
  return v as unknown as Descriptor;
}

function checkSchemaVersion(o: Json, what: string): void {
  if (o.schemaVersion === 1) {
    throw unsupported(`${what} uses Docker image manifest version 2, schema 1, which cove does not support`, {
      code: "image.schema1",
      field: "schemaVersion",
      hint: "push the image again with a current docker or skopeo, which write schema 2 or OCI manifests",
    });
  }
  if (o.schemaVersion !== 2) throw fail(what, "schemaVersion", `must be 2, got ${JSON.stringify(o.schemaVersion)}`);
}

function checkMediaTypeField(o: Json, what: string, declared: string | undefined, accept: (mt: string) => boolean): string | undefined {
  const mt = o.mediaType;
  if (mt !== undefined && typeof mt !== "string") throw fail(what, "mediaType", "must be a string");
  if (mt !== undefined && declared !== undefined && mt !== declared) {
    throw invalid(`invalid ${what}: mediaType "${mt}" contradicts the declared type "${declared}"`, {
      field: "mediaType",
      code: "image.media-type-mismatch",
      hint: "the registry or file serves this document under a different type than it declares; refusing an ambiguous document",
    });
  }
  if (mt !== undefined && !accept(mt)) throw fail(what, "mediaType", `"${mt}" is not a ${what} media type`);
  return (mt as string | undefined) ?? declared;
}

/**
 * Parses an image manifest (OCI or Docker schema 2). `declaredMediaType` is the type it was
 * fetched as (Content-Type, or the parent descriptor's mediaType), if known.
 */
export function parseManifest(bytes: Uint8Array | string, declaredMediaType?: string): Manifest {
  const what = "manifest";
  if (declaredMediaType !== undefined) {
    if (isSchema1Type(declaredMediaType)) checkSchemaVersion({ schemaVersion: 1 }, what);
    if (!isManifestType(declaredMediaType)) throw invalid(`invalid manifest: declared type "${declaredMediaType}" is not an image manifest type`, { code: "image.invalid", field: "mediaType" });
  }
  const o = parseJson(bytes, what);
  checkSchemaVersion(o, what);
  const mt = checkMediaTypeField(o, what, declaredMediaType, isManifestType);
  if (mt === MediaType.DockerManifest && o.mediaType === undefined) throw fail(what, "mediaType", `is required in a Docker schema 2 manifest ("${MediaType.DockerManifest}")`);
  if (o.manifests !== undefined) {
    throw invalid('invalid manifest: has a "manifests" field, which belongs to an index; refusing an ambiguous document', { field: "manifests", code: "image.ambiguous" });
  }
  validateDescriptor(o.config, what, "config");
  if (!Array.isArray(o.layers)) throw fail(what, "layers", "is required and must be an array of descriptors");
  o.layers.forEach((l, i) => validateDescriptor(l, what, `layers[${i}]`));
  if (o.subject !== undefined) validateDescriptor(o.subject, what, "subject");
  stringMap(o.annotations, what, "annotations");
  optString(o, "artifactType", what, "");
  return o as unknown as Manifest;
}

/** Parses an image index (OCI) or manifest list (Docker). */
export function parseIndex(bytes: Uint8Array | string, declaredMediaType?: string): Index {
  const what = "index";
  if (declaredMediaType !== undefined && !isIndexType(declaredMediaType)) {
    throw invalid(`invalid index: declared type "${declaredMediaType}" is not an index or manifest list type`, { code: "image.invalid", field: "mediaType" });
  }
  const o = parseJson(bytes, what);
  checkSchemaVersion(o, what);
  const mt = checkMediaTypeField(o, what, declaredMediaType, isIndexType);
  if (mt === MediaType.DockerManifestList && o.mediaType === undefined) throw fail(what, "mediaType", `is required in a Docker manifest list ("${MediaType.DockerManifestList}")`);
  for (const key of ["config", "layers"]) {
    if (o[key] !== undefined) {
      throw invalid(`invalid index: has a "${key}" field, which belongs to a manifest; refusing an ambiguous document`, { field: key, code: "image.ambiguous" });
    }
  }
  if (!Array.isArray(o.manifests)) throw fail(what, "manifests", "is required and must be an array of descriptors");
  o.manifests.forEach((m, i) => validateDescriptor(m, what, `manifests[${i}]`));
  if (mt === MediaType.DockerManifestList) {
    o.manifests.forEach((m, i) => {
      if ((m as Json).platform === undefined) throw fail(what, `manifests[${i}].platform`, "is required in a Docker manifest list");
    });
  }
  if (o.subject !== undefined) validateDescriptor(o.subject, what, "subject");
  stringMap(o.annotations, what, "annotations");
  optString(o, "artifactType", what, "");
  return o as unknown as Index;
}

export type ParsedDocument =
  | { kind: "manifest"; mediaType: string; manifest: Manifest }
  | { kind: "index"; mediaType: string; index: Index };

/**
 * Parses a manifest or an index, as fetched under `declaredMediaType` (or detected from the
 * document's own mediaType, then its shape, when nothing was declared).
 */
export function parseManifestOrIndex(bytes: Uint8Array | string, declaredMediaType?: string): ParsedDocument {
  let mt = declaredMediaType;
  if (mt === undefined) {
    const o = parseJson(bytes, "manifest");
    if (typeof o.mediaType === "string") mt = o.mediaType;
    else if (o.manifests !== undefined) mt = MediaType.OCIIndex;
    else mt = MediaType.OCIManifest;
    if (o.mediaType === undefined) {
      // No declared type and none inside: parse by shape, still refusing mixed documents.
      if (mt === MediaType.OCIIndex) return { kind: "index", mediaType: mt, index: parseIndex(bytes) };
      return { kind: "manifest", mediaType: mt, manifest: parseManifest(bytes) };
    }
  }
  if (isIndexType(mt)) return { kind: "index", mediaType: mt, index: parseIndex(bytes, mt) };
  if (isManifestType(mt) || isSchema1Type(mt)) return { kind: "manifest", mediaType: mt, manifest: parseManifest(bytes, mt) };
  throw unsupported(`unsupported manifest media type "${mt}"`, {
    code: "image.unsupported-media-type",
    field: "mediaType",
    hint: "cove reads OCI image manifests and indexes and Docker schema 2 manifests and manifest lists",
  });
}

function validateContainerConfig(c: unknown, what: string, field: string): void {
  if (c === undefined || c === null) return;
  if (!isObject(c)) throw fail(what, field, "must be an object");
  for (const key of ["User", "WorkingDir", "StopSignal", "Hostname", "Domainname", "Image", "MacAddress"]) optString(c, key, what, `${field}.`);
  stringArray(c.Env, what, `${field}.Env`, true);
  stringArray(c.Entrypoint, what, `${field}.Entrypoint`, true);
  stringArray(c.Cmd, what, `${field}.Cmd`, true);
  stringArray(c.OnBuild, what, `${field}.OnBuild`, true);
  stringArray(c.Shell, what, `${field}.Shell`, true);
  objectSet(c.ExposedPorts, what, `${field}.ExposedPorts`);
  objectSet(c.Volumes, what, `${field}.Volumes`);
  stringMap(c.Labels, what, `${field}.Labels`, true);
  for (const key of ["ArgsEscaped", "Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr", "NetworkDisabled"]) {
    if (c[key] !== undefined && typeof c[key] !== "boolean") throw fail(what, `${field}.${key}`, "must be a boolean");
  }
  if (c.StopTimeout !== undefined && c.StopTimeout !== null && !Number.isInteger(c.StopTimeout)) throw fail(what, `${field}.StopTimeout`, "must be an integer (seconds)");
  const hc = c.Healthcheck;
  if (hc !== undefined && hc !== null) {
    if (!isObject(hc)) throw fail(what, `${field}.Healthcheck`, "must be an object");
    stringArray(hc.Test, what, `${field}.Healthcheck.Test`, true);
    for (const key of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"]) {
      if (hc[key] !== undefined && (typeof hc[key] !== "number" || !Number.isInteger(hc[key]) || (hc[key] as number) < 0)) {
        throw fail(what, `${field}.Healthcheck.${key}`, "must be a non-negative integer (nanoseconds, or a count for Retries)");
      }
    }
  }
  if (c.ExposedPorts !== undefined && c.ExposedPorts !== null) {
    for (const port of Object.keys(c.ExposedPorts as Json)) {
      if (!/^\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/.test(port)) throw fail(what, `${field}.ExposedPorts`, `"${port}" is not a port like "80/tcp"`);
    }
  }
}

function checkTime(v: unknown, what: string, field: string): void {
  if (v === undefined) return;
  if (typeof v !== "string" || Number.isNaN(Date.parse(v))) throw fail(what, field, "must be an RFC 3339 date-time string");
}

/** Parses an image config (OCI config.md with Docker's extra fields). Unknown fields are kept. */
export function parseImageConfig(bytes: Uint8Array | string, declaredMediaType?: string): ImageConfig {
  const what = "image config";
  if (declaredMediaType !== undefined && !isConfigType(declaredMediaType)) {
    throw invalid(`invalid image config: declared type "${declaredMediaType}" is not an image config type`, { code: "image.invalid", field: "config.mediaType" });
  }
  const o = parseJson(bytes, what);
  if (typeof o.architecture !== "string" || o.architecture === "") throw fail(what, "architecture", "is required and must be a non-empty string");
  if (typeof o.os !== "string" || o.os === "") throw fail(what, "os", "is required and must be a non-empty string");
  checkTime(o.created, what, "created");
  for (const key of ["author", "os.version", "variant", "container", "docker_version", "comment"]) optString(o, key, what, "");
  stringArray(o["os.features"], what, "os.features");
  validateContainerConfig(o.config, what, "config");
  validateContainerConfig(o.container_config, what, "container_config");
  const rootfs = o.rootfs;
  if (!isObject(rootfs)) throw fail(what, "rootfs", "is required and must be an object");
  if (rootfs.type !== "layers") throw fail(what, "rootfs.type", `must be "layers", got ${JSON.stringify(rootfs.type)}`);
  if (!Array.isArray(rootfs.diff_ids)) throw fail(what, "rootfs.diff_ids", "is required and must be an array of digests");
  rootfs.diff_ids.forEach((d, i) => checkDigestField(d, what, `rootfs.diff_ids[${i}]`));
  if (o.history !== undefined && o.history !== null) {
    if (!Array.isArray(o.history)) throw fail(what, "history", "must be an array");
    (o.history as unknown[]).forEach((h, i) => {
      if (!isObject(h)) throw fail(what, `history[${i}]`, "must be an object");
      checkTime(h.created, what, `history[${i}].created`);
      for (const key of ["created_by", "author", "comment"]) optString(h, key, what, `history[${i}].`);
      if (h.empty_layer !== undefined && typeof h.empty_layer !== "boolean") throw fail(what, `history[${i}].empty_layer`, "must be a boolean");
    });
    const nonEmpty = (o.history as History[]).filter((h) => !h.empty_layer).length;
    if (nonEmpty > rootfs.diff_ids.length) {
      throw fail(what, "history", `has ${nonEmpty} entries that add a layer but rootfs.diff_ids lists ${rootfs.diff_ids.length}`);
    }
  }
  return o as ImageConfig;
}

/** Checks that a manifest and its config describe the same layers (Docker refuses otherwise). */
export function checkManifestMatchesConfig(manifest: Manifest, config: ImageConfig): void {
  if (manifest.layers.length !== config.rootfs.diff_ids.length) {
    throw invalid(
      `layers from manifest don't match image configuration: the manifest lists ${manifest.layers.length} layers, the config ${config.rootfs.diff_ids.length} diff_ids`,
      { code: "image.layers-mismatch", field: "rootfs.diff_ids" },
    );
  }
}

export type { ContainerConfig };

// Reading image archives into a load plan: which images, under which names, made of which blobs.
// Nothing here touches the stores; the image service verifies layer contents (diff IDs) while it
// unpacks, and commits the plan only when every image of it checked out.
//
// Formats read (see ../../../test/images and the archive's README notes in service.ts):
//  - docker-archive: manifest.json ([{Config, RepoTags, Layers}]) naming files anywhere in the
//    archive: the legacy layout (<id>/layer.tar, <hex>.json, with symlinks for shared layers, as
//    docker 20.10 and skopeo write it) and Docker 25+'s (blobs/sha256/<hex> plus index.json and
//    oci-layout). Layer files may be plain or gzip/zstd compressed tars, as docker load accepts.
//  - OCI image layout (oci-layout, index.json, blobs/): used when there is no manifest.json.

import { invalid } from "../../common/errors.js";
import { digestOf, isDigest, type Digest } from "../../content/digest.js";
import { imageID } from "../ids.js";
import { isIndexType, isManifestType, MediaType } from "../mediatypes.js";
import { isBadReference, parseNormalizedNamed, familiarString } from "../reference.js";
import { MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, resolveImage } from "../resolve.js";
import { canonicalName } from "../store.js";
import type { Descriptor, ImageConfig, Manifest, Platform } from "../types.js";
import { checkManifestMatchesConfig, parseImageConfig, parseIndex, parseManifestOrIndex } from "../validate.js";
import { blobPath, type ArchiveSource } from "./source.js";

export interface PlanBlob {
  digest: Digest;
  size: number;
  mediaType: string;
  /** The file in the source holding it, or its bytes. */
  name?: string;
  data?: Buffer;
}

export interface PlanImage {
  id: Digest;
  configBytes: Buffer;
  config: ImageConfig;
  /** The manifest (or index) the image is stored as. */
  target: Descriptor;
  /** The manifest's layers, bottom first. */
  layers: Descriptor[];
  /** Canonical names to give the image. */
  names: string[];
  /** Familiar tags as docker load reports them ("busybox:latest"). */
  tags: string[];
}

export interface LoadPlan {
  format: "docker-archive" | "oci-layout";
  images: PlanImage[];
  /** Every blob to ingest, by digest. */
  blobs: Map<Digest, PlanBlob>;
}

const MAX_JSON = 8 * 1024 * 1024;

interface DockerManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function parseJsonFile(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw invalid(`${what} is not valid JSON: ${(err as Error).message}`, { code: "archive.invalid" });
  }
}

function parseDockerManifest(bytes: Buffer): DockerManifestEntry[] {
  const o = parseJsonFile(bytes, "manifest.json");
  if (!Array.isArray(o)) throw invalid("manifest.json must be a JSON array of {Config, RepoTags, Layers}", { code: "archive.invalid" });
  return o.map((e: unknown, i) => {
    if (typeof e !== "object" || e === null) throw invalid(`manifest.json[${i}] must be an object`, { code: "archive.invalid" });
    const r = e as Record<string, unknown>;
    if (typeof r.Config !== "string" || r.Config === "") throw invalid(`manifest.json[${i}].Config must name the config file`, { code: "archive.invalid" });
    if (!Array.isArray(r.Layers) || !r.Layers.every((l) => typeof l === "string")) {
      throw invalid(`manifest.json[${i}].Layers must be an array of file names`, { code: "archive.invalid" });
    }
    const tags = r.RepoTags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === "string")) {
      throw invalid(`manifest.json[${i}].RepoTags must be an array of names`, { code: "archive.invalid" });
    }
    return { Config: r.Config, RepoTags: tags as string[], Layers: r.Layers as string[] };
  });
}

/** Docker's tag check: each RepoTags entry must be a name with a tag. */
function repoTag(tag: string): { canonical: string; familiar: string } {
  let ref;
  try {
    ref = parseNormalizedNamed(tag);
  } catch (err) {
    throw invalid(`invalid tag ${JSON.stringify(tag)} in manifest.json: ${(err as Error).message}`, { code: "archive.invalid" });
  }
  if (ref.tag === undefined || ref.digest !== undefined) throw invalid(`invalid tag ${JSON.stringify(tag)} in manifest.json: expected a name with a tag`, { code: "archive.invalid" });
  return { canonical: canonicalName(tag), familiar: familiarString(ref) };
}

/** The layer media type for a file's first bytes. */
export function sniffLayerType(head: Buffer, oci: boolean): string {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return oci ? MediaType.OCILayerGzip : MediaType.DockerLayerGzip;
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return oci ? MediaType.OCILayerZstd : MediaType.DockerLayerZstd;
  return oci ? MediaType.OCILayer : MediaType.DockerLayer;
}

/** Checks that a blob file in the source has the digest and size a descriptor promises. */
async function checkBlob(src: ArchiveSource, name: string, desc: Descriptor, what: string): Promise<void> {
  const st = await src.stat(name);
  if (!st) throw invalid(`${what} ${desc.digest} is missing from ${src.what} (no ${name})`, { code: "archive.missing-file" });
  if (st.size !== desc.size) {
    throw invalid(`${what} ${desc.digest} in ${src.what} is ${st.size} bytes, but its descriptor says ${desc.size}`, { code: "archive.size-mismatch", hint: "the archive is truncated or corrupt" });
  }
  const d = await src.digest(name);
  if (d !== desc.digest) {
    throw invalid(`${what} ${name} in ${src.what} hashes to ${d}, not ${desc.digest}`, { code: "archive.digest-mismatch", hint: "the archive is corrupt" });
  }
}

/** A Provider-like reader over the layout's blobs/ that verifies every blob it returns. */
function blobReader(src: ArchiveSource) {
  return {
    async readBlob(digest: Digest, options: { maxSize?: number } = {}): Promise<Buffer> {
      const name = blobPath(digest);
      if (!(await src.stat(name))) throw invalid(`blob ${digest} is missing from ${src.what}`, { code: "archive.missing-file" });
      const bytes = await src.read(name, options.maxSize ?? MAX_JSON);
      const d = digestOf(bytes, digest.startsWith("sha512:") ? "sha512" : "sha256");
      if (d !== digest) throw invalid(`blob ${name} in ${src.what} hashes to ${d}, not ${digest}`, { code: "archive.digest-mismatch", hint: "the archive is corrupt" });
      return bytes;
    },
  };
}

function addBlob(blobs: Map<Digest, PlanBlob>, b: PlanBlob): void {
  if (!blobs.has(b.digest)) blobs.set(b.digest, b);
}

function namesFromAnnotations(desc: Descriptor): string[] {
  const a = desc.annotations ?? {};
  const full = a["io.containerd.image.name"];
  const candidates: string[] = [];
  if (full) candidates.push(full);
  else {
    const ref = a["org.opencontainers.image.ref.name"];
    // A bare tag ("latest") names no repository; only a full reference names the image.
    if (ref && /[:/@]/.test(ref)) candidates.push(ref);
  }
  const out: string[] = [];
  for (const c of candidates) {
    try {
      out.push(canonicalName(c));
    } catch (err) {
      // an annotation that is not a reference names nothing
      if (!isBadReference(err)) throw err;
    }
  }
  return out;
}

/** The manifests an OCI index.json reaches (nested indexes walked), by config digest. */
async function manifestsByConfig(src: ArchiveSource): Promise<Map<Digest, { desc: Descriptor; manifest: Manifest; indexes: Descriptor[] }>> {
  const out = new Map<Digest, { desc: Descriptor; manifest: Manifest; indexes: Descriptor[] }>();
  if (!(await src.stat("index.json"))) return out;
  const reader = blobReader(src);
  const index = parseIndex(await src.read("index.json", MAX_JSON));
  const walk = async (desc: Descriptor, indexes: Descriptor[], depth: number): Promise<void> => {
    if (depth > 8 || !(await src.stat(blobPath(desc.digest)))) return;
    if (!isIndexType(desc.mediaType) && !isManifestType(desc.mediaType)) return;
    const bytes = await reader.readBlob(desc.digest, { maxSize: MAX_MANIFEST_SIZE });
    const doc = parseManifestOrIndex(bytes, desc.mediaType);
    if (doc.kind === "index") {
      for (const child of doc.index.manifests) await walk(child, [...indexes, desc], depth + 1);
    } else if (!out.has(doc.manifest.config.digest)) {
      out.set(doc.manifest.config.digest, { desc, manifest: doc.manifest, indexes });
    }
  };
  for (const d of index.manifests) await walk(d, [], 0);
  return out;
}

/** Plans the load of a docker-archive (manifest.json present). */
export async function planDockerArchive(src: ArchiveSource): Promise<LoadPlan> {
  const entries = parseDockerManifest(await src.read("manifest.json", MAX_JSON));
  if (entries.length === 0) throw invalid("manifest.json lists no images", { code: "archive.invalid" });
  const ociManifests = await manifestsByConfig(src);
  const blobs = new Map<Digest, PlanBlob>();
  const images: PlanImage[] = [];
  for (const [i, e] of entries.entries()) {
    const st = await src.stat(e.Config);
    if (!st) throw invalid(`manifest.json[${i}] names config ${JSON.stringify(e.Config)}, which is not in the archive`, { code: "archive.missing-file" });
    const configBytes = await src.read(e.Config, MAX_CONFIG_SIZE);
    const id = imageID(configBytes);
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(e.Config);
    if (m && `sha256:${m[1]}` !== id) {
      throw invalid(`config ${e.Config} hashes to ${id}, not the digest its name promises`, { code: "archive.digest-mismatch", hint: "the archive is corrupt" });
    }
    const config = parseImageConfig(configBytes);
    if (config.rootfs.diff_ids.length !== e.Layers.length) {
      throw invalid(`manifest.json[${i}] lists ${e.Layers.length} layers but its config ${shortHex(id)} has ${config.rootfs.diff_ids.length} diff_ids`, { code: "image.layers-mismatch" });
    }
    const layerDescs: Descriptor[] = [];
    const layerNames: string[] = [];
    for (const [j, name] of e.Layers.entries()) {
      const ls = await src.stat(name);
      if (!ls) throw invalid(`manifest.json[${i}] names layer ${JSON.stringify(name)}, which is not in the archive`, { code: "archive.missing-file" });
      const digest = await src.digest(name);
      const mediaType = sniffLayerType(await src.head(name, 4), true);
      const diffId = config.rootfs.diff_ids[j] as Digest;
      if ((mediaType === MediaType.DockerLayer || mediaType === MediaType.OCILayer) && digest !== diffId) {
        throw invalid(`layer ${name} hashes to ${digest}, but the config's diff_ids[${j}] is ${diffId}`, { code: "layer.digest-mismatch", hint: "the archive is corrupt" });
      }
      layerDescs.push({ mediaType, digest, size: ls.size });
      layerNames.push(name);
    }
    const tags = e.RepoTags.map(repoTag);
    let target: Descriptor;
    let layers: Descriptor[];
    const original = ociManifests.get(id);
    if (original && original.manifest.layers.length === layerDescs.length && original.manifest.layers.every((l, k) => l.digest === layerDescs[k]?.digest)) {
      const bytes = await blobReader(src).readBlob(original.desc.digest, { maxSize: MAX_MANIFEST_SIZE });
      addBlob(blobs, { digest: original.desc.digest, size: bytes.length, mediaType: original.desc.mediaType, data: bytes });
      target = { mediaType: original.desc.mediaType, digest: original.desc.digest, size: bytes.length };
      layers = original.manifest.layers;
    } else {
      // No manifest in the archive (legacy docker save, skopeo): synthesize an OCI one.
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MediaType.OCIManifest,
        config: { mediaType: MediaType.OCIConfig, digest: id, size: configBytes.length },
        layers: layerDescs,
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      const digest = digestOf(bytes);
      addBlob(blobs, { digest, size: bytes.length, mediaType: MediaType.OCIManifest, data: bytes });
      target = { mediaType: MediaType.OCIManifest, digest, size: bytes.length };
      layers = layerDescs;
    }
    addBlob(blobs, { digest: id, size: configBytes.length, mediaType: MediaType.OCIConfig, data: configBytes });
    layers.forEach((l, k) => addBlob(blobs, { digest: l.digest, size: l.size, mediaType: l.mediaType, name: layerNames[k] as string }));
    images.push({ id, configBytes, config, target, layers, names: tags.map((t) => t.canonical), tags: tags.map((t) => t.familiar) });
  }
  return { format: "docker-archive", images, blobs };
}

/** Plans the load of an OCI image layout (oci-layout + index.json + blobs/). */
export async function planOciLayout(src: ArchiveSource, platform?: Platform): Promise<LoadPlan> {
  if (!(await src.stat("oci-layout"))) {
    throw invalid(`${src.what} is neither a docker-archive (no manifest.json) nor an OCI image layout (no oci-layout file)`, {
      code: "archive.unknown-format",
      hint: "load archives written by docker save, skopeo copy or cove save",
    });
  }
  const layout = parseJsonFile(await src.read("oci-layout", 4096), "oci-layout") as { imageLayoutVersion?: unknown };
  if (typeof layout?.imageLayoutVersion !== "string") throw invalid("oci-layout has no imageLayoutVersion", { code: "archive.invalid" });
  if (!(await src.stat("index.json"))) throw invalid(`${src.what} has no index.json`, { code: "archive.missing-file" });
  const index = parseIndex(await src.read("index.json", MAX_JSON));
  const reader = blobReader(src);
  const blobs = new Map<Digest, PlanBlob>();
  const images: PlanImage[] = [];
  for (const desc of index.manifests) {
    if (!isIndexType(desc.mediaType) && !isManifestType(desc.mediaType)) continue;
    if (!isDigest(desc.digest)) throw invalid(`index.json names an invalid digest ${JSON.stringify(desc.digest)}`, { code: "archive.invalid" });
    const resolved = await resolveImage(reader, desc, platform);
    checkManifestMatchesConfig(resolved.manifest, resolved.config);
    for (const d of [...resolved.indexes, resolved.manifestDescriptor]) {
      const bytes = await reader.readBlob(d.digest, { maxSize: MAX_MANIFEST_SIZE });
      addBlob(blobs, { digest: d.digest, size: bytes.length, mediaType: d.mediaType, data: bytes });
    }
    addBlob(blobs, { digest: resolved.id, size: resolved.configBytes.length, mediaType: resolved.manifest.config.mediaType, data: resolved.configBytes });
    for (const l of resolved.manifest.layers) {
      const name = blobPath(l.digest);
      if (!blobs.has(l.digest)) await checkBlob(src, name, l, "layer");
      addBlob(blobs, { digest: l.digest, size: l.size, mediaType: l.mediaType, name });
    }
    const names = namesFromAnnotations(desc);
    const target: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    const tags = names.map((n) => familiarString(parseNormalizedNamed(n)));
    const existing = images.find((im) => im.id === resolved.id && im.target.digest === target.digest);
    if (existing) {
      for (const n of names) if (!existing.names.includes(n)) existing.names.push(n);
      for (const t of tags) if (!existing.tags.includes(t)) existing.tags.push(t);
      continue;
    }
    images.push({ id: resolved.id, configBytes: resolved.configBytes, config: resolved.config, target, layers: resolved.manifest.layers, names, tags });
  }
  if (images.length === 0) throw invalid(`${src.what}'s index.json lists no image`, { code: "archive.invalid" });
  return { format: "oci-layout", images, blobs };
}

/** Plans a load from any supported source: docker-archive when manifest.json is present. */
export async function planLoad(src: ArchiveSource, platform?: Platform): Promise<LoadPlan> {
  if (await src.stat("manifest.json")) return planDockerArchive(src);
  return planOciLayout(src, platform);
}

function shortHex(d: Digest): string {
  return d.slice(d.indexOf(":") + 1, d.indexOf(":") + 13);
}

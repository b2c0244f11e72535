// Resolution of an image's target (a manifest, or an index possibly nesting indexes) to the one
// manifest and config for a platform, reading from a content Provider; and the reference graph
// (manifest → config + layers, index → manifests) that content garbage collection walks.

import { invalid } from "../common/errors.js";
import type { Digest } from "../content/digest.js";
import type { ChildrenFn, Provider } from "../content/types.js";
import { imageID } from "./ids.js";
import { isIndexType, isManifestType } from "./mediatypes.js";
import { formatPlatform, hostPlatform, matchingManifests, noMatchingManifest, normalizePlatform, onlyPlatform } from "./platforms.js";
import type { Descriptor, ImageConfig, Manifest, Platform } from "./types.js";
import { checkManifestMatchesConfig, parseImageConfig, parseManifestOrIndex } from "./validate.js";

/** Manifests, indexes and configs larger than this are refused (Docker uses 4 MiB for manifests). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
export const MAX_CONFIG_SIZE = 8 * 1024 * 1024;
const MAX_DEPTH = 8;

type BlobReader = Pick<Provider, "readBlob">;

export interface ResolvedImage {
  /** The manifest chosen. */
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  /** The config blob's exact bytes (the image ID is their digest). */
  configBytes: Buffer;
  /** Docker's image ID: the config digest. */
  id: Digest;
  /** The platform the config declares. */
  platform: Platform;
  /** False when a single-manifest image was built for another platform than requested. */
  platformMatches: boolean;
  /** The indexes walked from the target to the manifest, outermost first. */
  indexes: Descriptor[];
}

function checkSize(desc: Descriptor, bytes: Buffer, what: string): void {
  if (bytes.length !== desc.size) {
    throw invalid(`${what} ${desc.digest} is ${bytes.length} bytes but its descriptor says ${desc.size}`, { code: "image.size-mismatch" });
  }
}

/**
 * Resolves `target` for `platform` (default: the host's). For an index, the best matching entry
 * that resolves wins, walking nested indexes; when none matches, Docker's error
 * "no matching manifest for linux/amd64 in the manifest list entries".
 */
export async function resolveImage(provider: BlobReader, target: Descriptor, platform: Platform = hostPlatform()): Promise<ResolvedImage> {
  const matcher = onlyPlatform(platform);
  const seen: Platform[] = [];

  const walk = async (desc: Descriptor, indexes: Descriptor[], depth: number): Promise<ResolvedImage | undefined> => {
    if (depth > MAX_DEPTH) throw invalid(`index nesting deeper than ${MAX_DEPTH} levels at ${desc.digest}`, { code: "image.too-deep" });
    const bytes = await provider.readBlob(desc.digest, { maxSize: MAX_MANIFEST_SIZE });
    checkSize(desc, bytes, "manifest");
    const doc = parseManifestOrIndex(bytes, isIndexType(desc.mediaType) || isManifestType(desc.mediaType) ? desc.mediaType : undefined);
    if (doc.kind === "index") {
      for (const d of doc.index.manifests) if (d.platform) seen.push(d.platform);
      for (const child of matchingManifests(doc.index, matcher)) {
        if (!isIndexType(child.mediaType) && !isManifestType(child.mediaType)) continue; // attestations, artifacts
        const found = await walk(child, [...indexes, desc], depth + 1);
        if (found) return found;
      }
      return undefined;
    }
    const manifest = doc.manifest;
    const configBytes = await provider.readBlob(manifest.config.digest, { maxSize: MAX_CONFIG_SIZE });
    checkSize(manifest.config, configBytes, "config");
    const config = parseImageConfig(configBytes);
    const cfgPlatform: Platform = { os: config.os, architecture: config.architecture };
    if (config.variant) cfgPlatform.variant = config.variant;
    const matches = matcher.match(cfgPlatform);
    // A manifest reached through an index without a platform must fit by its config.
    if (indexes.length > 0 && !desc.platform && !matches) return undefined;
    checkManifestMatchesConfig(manifest, config);
    return {
      manifestDescriptor: desc,
      manifest,
      config,
      configBytes,
      id: imageID(configBytes),
      platform: normalizePlatform(cfgPlatform),
      platformMatches: matches,
      indexes,
    };
  };

  const found = await walk(target, [], 0);
  if (!found) throw noMatchingManifest(platform, seen);
  return found;
}

/** Describes a resolved image's platform mismatch as Docker warns about it, or undefined. */
export function platformWarning(resolved: ResolvedImage, requested: Platform = hostPlatform()): string | undefined {
  if (resolved.platformMatches) return undefined;
  return `The requested image's platform (${formatPlatform(resolved.platform)}) does not match the detected host platform (${formatPlatform(requested)}) and no specific platform was requested`;
}

/**
 * The reference graph for content GC: an index refers to its manifests, a manifest to its config
 * and layers; any other blob (config, layer) refers to nothing. Blobs are recognized by content:
 * small JSON documents with schemaVersion 2 and manifest or index fields. A blob that looks like a
 * manifest but does not parse makes the walk throw, so gc removes nothing rather than guessing.
 */
export function imageChildren(provider: Pick<Provider, "info" | "readerAt" | "readBlob">): ChildrenFn {
  return async (digest: Digest) => {
    const info = await provider.info(digest);
    if (info.size > MAX_MANIFEST_SIZE || info.size < 2) return [];
    const ra = await provider.readerAt(digest);
    const first = Buffer.alloc(1);
    try {
      await ra.readAt(first, 0);
    } finally {
      await ra.close();
    }
    if (first.toString() !== "{") return [];
    const bytes = await provider.readBlob(digest, { maxSize: MAX_MANIFEST_SIZE });
    let o: unknown;
    try {
      o = JSON.parse(bytes.toString("utf8"));
    } catch {
      return []; // not JSON: a layer that starts with "{" (unlikely) or other data
    }
    if (typeof o !== "object" || o === null || (o as Record<string, unknown>).schemaVersion !== 2) return [];
    const rec = o as Record<string, unknown>;
    if (!("manifests" in rec) && !("layers" in rec)) return [];
    const doc = parseManifestOrIndex(bytes, typeof rec.mediaType === "string" ? rec.mediaType : undefined);
    if (doc.kind === "index") return doc.index.manifests.map((d) => d.digest);
    return [doc.manifest.config.digest, ...doc.manifest.layers.map((l) => l.digest)];
  };
}

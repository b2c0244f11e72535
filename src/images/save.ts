// `docker save` and OCI layout export: the images named, with their tags, written as a
// docker-archive or an OCI image layout (archive/write.ts).

import type { Writable } from "node:stream";
import { invalid, notFound } from "../common/errors.js";
import { digestOf, type Digest } from "../content/digest.js";
import { writeArchive, writeLayoutDir, type SaveEntry } from "./archive/write.js";
import { ImageCore } from "./core.js";
import { shortID } from "./ids.js";
import { MediaType } from "./mediatypes.js";
import { familiarName, familiarString, isNamed, parseAnyReference, parseNormalizedNamed, repositoryName, type Reference } from "./reference.js";
import { canonicalName, type ImageRecord } from "./store.js";
import type { Descriptor, Manifest } from "./types.js";

/** Writes images out as archives and layouts. */
export class Saver {
  constructor(private readonly core: ImageCore) {}

  /** Resolves the refs of save/export into archive entries (names grouped per image). */
  private async saveEntries(refs: string[]): Promise<SaveEntry[]> {
    if (refs.length === 0) throw invalid("no image to save: give at least one image name or ID", { code: "image.invalid" });
    const entries = new Map<Digest, SaveEntry>();
    const add = async (rec: ImageRecord, names: string[]) => {
      const r = await this.core.resolve(rec);
      let e = entries.get(r.id);
      if (!e) {
        const stored: Descriptor = { mediaType: r.manifestDescriptor.mediaType, digest: r.manifestDescriptor.digest, size: r.manifestDescriptor.size };
        for (const d of [stored, r.manifest.config, ...r.manifest.layers]) {
          if (!(await this.core.content.exists(d.digest))) {
            throw notFound(`cannot save ${familiarOrId(rec)}: blob ${d.digest} is not in the content store`, { code: "content.not-found", hint: "pull the image again" });
          }
        }
        e = { ...toOciManifest(stored, r.manifest), names: [], repoTags: [], repositories: [] };
        entries.set(r.id, e);
      }
      for (const n of names) {
        if (e.names.includes(n)) continue;
        const ref = parseNormalizedNamed(n);
        if (ref.tag === undefined) continue;
        e.names.push(n);
        e.repoTags.push(familiarString(ref));
        e.repositories.push({ repo: familiarName(ref), tag: ref.tag });
      }
    };
    for (const input of refs) {
      const any = parseAnyReference(input);
      if (isNamed(any) && any.tag === undefined && any.digest === undefined && !/^[a-f0-9]{6,64}$/.test(input)) {
        // A bare repository name: every tag of it, as docker save does.
        const repo = repositoryName(any);
        const matching = (await this.core.images.list()).filter((i) => i.names.some((n) => repositoryName(parseNormalizedNamed(n)) === repo));
        if (matching.length > 0) {
          for (const rec of matching) await add(rec, rec.names.filter((n) => repositoryName(parseNormalizedNamed(n)) === repo));
          continue;
        }
      }
      const rec = await this.core.images.get(input);
      let names: string[] = [];
      if (isNamed(any)) {
        const n = canonicalName(input);
        if (rec.names.includes(n)) names = [n];
      }
      await add(rec, names);
    }
    return [...entries.values()];
  }

  /** `docker save`: the docker-archive described in archive/write.ts, written to out (which is ended). */
  async save(refs: string[], out: Writable): Promise<void> {
    const entries = await this.saveEntries(refs);
    await writeArchive(out, entries, (d) => this.core.content.createReadStream(d.digest), { dockerManifest: true });
  }

  /** Writes an OCI image layout (to a tar stream, or as files under dir). */
  async exportOciLayout(refs: string[], out: Writable | { dir: string }): Promise<void> {
    const entries = await this.saveEntries(refs);
    const open = (d: Descriptor) => this.core.content.createReadStream(d.digest);
    if ("dir" in out && typeof out.dir === "string") await writeLayoutDir(out.dir, entries, open);
    else await writeArchive(out as Writable, entries, open, { dockerManifest: false });
  }
}

const OCI_LAYER_TYPES: Record<string, string> = {
  [MediaType.DockerLayer]: MediaType.OCILayer,
  [MediaType.DockerLayerGzip]: MediaType.OCILayerGzip,
  [MediaType.DockerLayerZstd]: MediaType.OCILayerZstd,
  [MediaType.DockerLayerForeign]: MediaType.OCILayerNonDistributableGzip,
};

/**
 * The manifest as written into archives and layouts: an OCI manifest as stored, or a Docker schema 2
 * manifest converted to OCI media types (same config and layer blobs, so the same image ID and diff
 * IDs; a new manifest digest), because OCI layout readers such as skopeo 1.9 only look up OCI types.
 */
function toOciManifest(stored: Descriptor, m: Manifest): Pick<SaveEntry, "manifest" | "manifestBytes" | "config" | "layers"> {
  if (stored.mediaType === MediaType.OCIManifest) return { manifest: stored, config: m.config, layers: m.layers };
  const config: Descriptor = { mediaType: MediaType.OCIConfig, digest: m.config.digest, size: m.config.size };
  const layers = m.layers.map((l) => {
    const d: Descriptor = { mediaType: OCI_LAYER_TYPES[l.mediaType] ?? l.mediaType, digest: l.digest, size: l.size };
    if (l.urls) d.urls = l.urls;
    return d;
  });
  const oci: Manifest = { schemaVersion: 2, mediaType: MediaType.OCIManifest, config, layers };
  const bytes = Buffer.from(JSON.stringify(oci));
  return { manifest: { mediaType: MediaType.OCIManifest, digest: digestOf(bytes), size: bytes.length }, manifestBytes: bytes, config, layers };
}

function familiarOrId(rec: ImageRecord): string {
  const n = rec.names[0];
  return n ? familiarString(parseNormalizedNamed(n) as Reference) : shortID(rec.id);
}

// Names and removal: `docker tag`, `docker rmi` with Docker's in-use rules, `docker image prune`,
// and the garbage collection that follows them (content blobs, then layer snapshots no image uses).

import { conflict, CoveError, invalid } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import type { ImageDeleteItem } from "../docker/index.js";
import { ImageCore, parseUntil, type InUseFn } from "./core.js";
import { chainIDs, shortID } from "./ids.js";
import { isNamed, parseAnyReference, parseNormalizedNamed, repositoryName } from "./reference.js";
import { imageChildren } from "./resolve.js";
import { UPLOAD_INGEST_PREFIX } from "../registry/server/server.js";
import { canonicalName, type ImageRecord } from "./store.js";

/** Tags, removes, prunes and collects. */
export class Remover {
  constructor(private readonly core: ImageCore) {}

  /** `docker tag SOURCE TARGET`. */
  async tag(source: string, target: string): Promise<void> {
    const rec = await this.core.images.tag(source, target);
    await this.core.touchTagTime([rec.id]);
  }

  /** `docker rmi`: Docker's rules (see InUseFn), then garbage collection unless noPrune. */
  async remove(ref: string, opts: { force?: boolean; noPrune?: boolean; inUse?: InUseFn } = {}): Promise<ImageDeleteItem[]> {
    return this.core.exclusive(async () => {
      const rec = await this.core.images.get(ref);
      const user = usedBy(opts.inUse?.(rec.id));
      let byName: string | undefined;
      try {
        const any = parseAnyReference(ref);
        if (isNamed(any)) {
          const n = canonicalName(ref);
          if (rec.names.includes(n)) byName = n;
        }
      } catch {
        byName = undefined;
      }
      if (user) {
        const tagged = rec.names.filter((n) => parseNormalizedNamed(n).tag !== undefined);
        const container = user.id ? shortID(user.id) : "(unknown)";
        if (byName !== undefined && tagged.length <= 1 && !opts.force) {
          throw conflict(`conflict: unable to remove repository reference "${ref}" (must force) - container ${container} is using its referenced image ${shortID(rec.id)}`, {
            code: "image.in-use",
            hint: "remove the container first, or use --force",
          });
        }
        const wouldDelete = byName === undefined || remainingAfterUntag(rec, byName).length === 0;
        if (wouldDelete) {
          if (user.running) {
            throw conflict(`conflict: unable to delete ${shortID(rec.id)} (cannot be forced) - image is being used by running container ${container}`, { code: "image.in-use", hint: "stop and remove the container first" });
          }
          if (!opts.force) {
            throw conflict(`conflict: unable to delete ${shortID(rec.id)} (must be forced) - image is being used by stopped container ${container}`, { code: "image.in-use", hint: "remove the container first, or use --force" });
          }
        }
      }
      const result = await this.core.images.remove(byName !== undefined ? byName : rec.id, { force: opts.force });
      if (!opts.noPrune && result.some((r) => r.Deleted)) {
        result.push(...(await this.removeParents(rec.parent, opts.inUse)));
        await this.gcLocked();
      }
      return result;
    });
  }

  /** `docker image prune`: dangling images (all unused ones with `all`), then garbage collection. */
  async prune(opts: { all?: boolean; filters?: Record<string, string[]>; inUse?: InUseFn } = {}): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }> {
    const filters = opts.filters ?? {};
    for (const k of Object.keys(filters)) {
      if (!["until", "label", "label!", "dangling"].includes(k)) throw invalid(`invalid filter '${k}'`, { code: "filter.invalid", field: "filters" });
    }
    let all = opts.all ?? false;
    for (const v of filters.dangling ?? []) {
      if (["false", "0"].includes(v.toLowerCase())) all = true;
      else if (!["true", "1"].includes(v.toLowerCase())) throw invalid(`invalid filter 'dangling=${v}'`, { code: "filter.invalid" });
    }
    const cutoff = filters.until?.length ? Math.min(...filters.until.map((u) => parseUntil(u))) : undefined;
    const parseLabel = (l: string) => {
      const eq = l.indexOf("=");
      return eq === -1 ? { key: l, value: undefined } : { key: l.slice(0, eq), value: l.slice(eq + 1) };
    };
    const want = (filters.label ?? []).map(parseLabel);
    const notWant = (filters["label!"] ?? []).map(parseLabel);
    return this.core.exclusive(async () => {
      const deleted: ImageDeleteItem[] = [];
      const matches = (labels: Record<string, string>, l: { key: string; value: string | undefined }) => (l.value === undefined ? l.key in labels : labels[l.key] === l.value);
      const gone = new Set<string>();
      for (const s of await this.core.images.list()) {
        if (gone.has(s.id)) continue;
        if (!all && !s.dangling) continue;
        // an image others were built on goes with the last of them (below), never before them
        if (s.hasChildren) continue;
        if (cutoff !== undefined && !(Date.parse(s.createdAt) < cutoff)) continue;
        let labels = s.labels ?? {};
        try {
          labels = (await this.core.resolve(s)).config.config?.Labels ?? labels;
        } catch (err) {
          // keep the stored labels; a config that is not there is no news, any other failure is logged
          if (!(err instanceof CoveError && err.kind === "not-found")) ignored(`read the labels of image ${s.id} to prune`, err);
        }
        if (!want.every((l) => matches(labels, l))) continue;
        if (notWant.some((l) => matches(labels, l))) continue;
        if (usedBy(opts.inUse?.(s.id))) continue;
        const items = [...(await this.core.images.remove(s.id, { force: true })), ...(await this.removeParents(s.parent, opts.inUse))];
        for (const d of items) if (d.Deleted) gone.add(d.Deleted);
        deleted.push(...items);
      }
      const { bytesFreed } = deleted.some((d) => d.Deleted) ? await this.gcLocked() : { bytesFreed: 0 };
      // Downloads nobody is resuming (a pull a crash interrupted) go too, whatever their age; the
      // uploads of `cove registry serve` on this root sit idle between chunks and have their own TTL.
      const ingests = await this.core.content.pruneIngests({ ingestMaxAgeMs: 0, reason: "image prune", keep: (ref) => ref.startsWith(UPLOAD_INGEST_PREFIX) });
      return { ImagesDeleted: deleted, SpaceReclaimed: bytesFreed + ingests.bytesFreed };
    });
  }

  /**
   * After an image is deleted: its parent, and the parent's parent..., while each is untagged,
   * has no other image built on it and no container uses it (dockerd removes a build's
   * intermediate images with the image built from them this way). Stops at the first that stays.
   */
  private async removeParents(parent: string | undefined, inUse?: InUseFn): Promise<ImageDeleteItem[]> {
    const out: ImageDeleteItem[] = [];
    for (let p = parent; p !== undefined; ) {
      const s = (await this.core.images.list()).find((i) => i.id === p);
      if (!s || s.names.length > 0 || s.hasChildren || usedBy(inUse?.(s.id))) break;
      out.push(...(await this.core.images.remove(s.id)));
      p = s.parent;
    }
    return out;
  }

  /** Content GC rooted at the image store, then removal of layer snapshots no image or container uses. */
  gc(): Promise<{ bytesFreed: number }> {
    return this.core.exclusive(() => this.gcLocked());
  }

  private async gcLocked(): Promise<{ bytesFreed: number }> {
    let freed = 0;
    // Snapshots first (they need the configs to know which chains are used).
    const keep = new Set<string>();
    let complete = true;
    for (const rec of await this.core.images.list()) {
      try {
        for (const c of chainIDs((await this.core.resolve(rec)).config.rootfs.diff_ids)) keep.add(c);
      } catch {
        complete = false; // an image whose config cannot be read: keep every snapshot, to be safe
      }
    }
    if (complete) {
      for (let changed = true; changed; ) {
        changed = false;
        const all = this.core.snapshots.list();
        const parents = new Set(all.map((s) => s.parent).filter((p): p is string => p !== undefined));
        for (const s of all) {
          if (s.kind !== "committed" || keep.has(s.key) || parents.has(s.key) || this.core.snapshotPinCount(s.key) > 0) continue;
          const size = await this.core.snapshotSize(s.key).catch(() => 0);
          await this.core.snapshots.remove(s.key);
          this.core.sizes.delete(s.key);
          freed += size;
          changed = true;
        }
      }
    }
    const res = await this.core.content.gc([...(await this.core.images.roots()), ...this.core.pinned()], imageChildren(this.core.content));
    for (const d of res.removed) for (const [k, v] of this.core.resolved) if (v.manifestDescriptor.digest === d || k === d) this.core.resolved.delete(k);
    return { bytesFreed: freed + res.bytesFreed + res.ingestBytesFreed };
  }
}

function usedBy(v: ReturnType<InUseFn>): { id: string; running: boolean } | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { id: "", running: false };
  if (typeof v === "string") return { id: v, running: false };
  return v;
}

/** Names left on rec after Docker's untag of `name` (digest names of its repository go with its last tag). */
function remainingAfterUntag(rec: ImageRecord, name: string): string[] {
  const rest = rec.names.filter((n) => n !== name);
  const repo = repositoryName(parseNormalizedNamed(name));
  const repoHasTag = rest.some((n) => {
    const r = parseNormalizedNamed(n);
    return repositoryName(r) === repo && r.tag !== undefined;
  });
  return repoHasTag ? rest : rest.filter((n) => repositoryName(parseNormalizedNamed(n)) !== repo);
}

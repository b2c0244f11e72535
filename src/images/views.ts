// Images as Docker shows them: `docker images`, `docker image inspect`, `docker history` and the
// image part of `docker system df`. An image's Size is the disk usage of its unpacked layer
// snapshots when it is unpacked (what `docker images` shows with the classic store), else the sum
// of its layer blobs as stored (compressed when they were pulled compressed).

import { CoveError, invalid } from "../common/errors.js";
import { ImageCore, parseUntil, ZERO_TIME } from "./core.js";
import { chainIDs, shortID } from "./ids.js";
import type { ContainerConfig } from "./types.js";
import type { ImageRecord } from "./store.js";
import type { ImageHistoryItem, ImageInspect, ImageSummary } from "../docker/index.js";
import { storageDriver } from "../snapshots/index.js";

/** The read-only views of the service. */
export class ImageViews {
  constructor(private readonly core: ImageCore) {}

  /**
   * `docker images`: Docker's /images/json shape. Without `all`, a build's intermediate images
   * (untagged, with images built on them) are left out, as dockerd leaves them out; `digests`
   * changes nothing (digests are always listed).
   */
  async list(opts: { all?: boolean; filters?: Record<string, string[]>; digests?: boolean } = {}): Promise<ImageSummary[]> {
    const filters = { ...(opts.filters ?? {}) };
    const until = filters.until;
    delete filters.until;
    const summaries = await this.core.images.list(filters);
    const cutoff = until && until.length > 0 ? Math.min(...until.map((u) => parseUntil(u))) : undefined;
    const out: ImageSummary[] = [];
    for (const s of summaries) {
      if (cutoff !== undefined && !(Date.parse(s.createdAt) < cutoff)) continue;
      if (!opts.all && s.hasChildren && s.repoTags.length === 0 && s.repoDigests.length === 0) continue;
      let size = 0;
      let labels: Record<string, string> = s.labels ?? {};
      try {
        const r = await this.core.resolve(s);
        size = (await this.core.layerSizes(r)).sizes.reduce((a, b) => a + b, 0);
        labels = r.config.config?.Labels ?? {};
      } catch {
        size = 0; // content missing (interrupted pull): list it anyway, as Docker does
      }
      out.push({
        Id: s.id,
        ParentId: s.parent ?? "",
        RepoTags: s.repoTags,
        RepoDigests: s.repoDigests,
        Created: unixSeconds(s.createdAt),
        Size: size,
        SharedSize: -1,
        Labels: { ...labels },
        Containers: -1,
      });
    }
    return out;
  }

  /** `docker image inspect`: Docker's /images/{name}/json shape. */
  async inspect(ref: string): Promise<ImageInspect> {
    const rec = await this.core.images.get(ref);
    const r = await this.core.resolve(rec);
    const cfg = r.config;
    const { chain, sizes, unpacked } = await this.core.layerSizes(r);
    const { tags, digests } = ImageCore.names(rec);
    const config = configView(cfg.config ?? {}, {});
    const data: Record<string, string> = {};
    const top = chain[chain.length - 1];
    if (unpacked && top !== undefined) {
      const lowers = this.core.snapshots.lowerDirs(top);
      // The committed top layer's own directory is not exposed by the snapshot store: only LowerDir.
      if (lowers.length > 0) data.LowerDir = lowers.join(":");
    }
    const times = await this.core.readTagTimes();
    return {
      Id: r.id,
      RepoTags: tags,
      RepoDigests: digests,
      Parent: rec.parent ?? "",
      Comment: typeof cfg.comment === "string" ? cfg.comment : "",
      Created: cfg.created ?? ZERO_TIME,
      DockerVersion: typeof cfg.docker_version === "string" ? cfg.docker_version : "",
      Author: cfg.author ?? "",
      // the container an image was committed from and its config (API < 1.45 shows them)
      ...(cfg.container ? { Container: cfg.container } : {}),
      ContainerConfig: configView(cfg.container_config ?? {}, null),
      Config: config,
      Architecture: cfg.architecture,
      ...(cfg.variant ? { Variant: cfg.variant } : {}),
      Os: cfg.os,
      ...(cfg["os.version"] ? { OsVersion: cfg["os.version"] } : {}),
      Size: sizes.reduce((a, b) => a + b, 0),
      GraphDriver: { Name: storageDriver().driver, Data: data },
      RootFS: { Type: "layers", Layers: [...cfg.rootfs.diff_ids] },
      Metadata: { LastTagTime: times[r.id] ?? ZERO_TIME },
    };
  }

  /**
   * `docker history`: newest first. The newest entry carries the image's ID and tags, the ones
   * below those of its parent, its parent's parent... as far as the recorded parents go (a
   * build's step images); the rest show <missing>, as dockerd shows them.
   */
  async history(ref: string): Promise<ImageHistoryItem[]> {
    const rec = await this.core.images.get(ref);
    const r = await this.core.resolve(rec);
    const { sizes } = await this.core.layerSizes(r);
    const out: ImageHistoryItem[] = [];
    let layer = 0;
    for (const h of r.config.history ?? []) {
      let size = 0;
      if (!h.empty_layer) {
        if (layer >= sizes.length) throw invalid(`image ${shortID(r.id)} has too many non-empty layers in its History section`, { code: "image.invalid" });
        size = sizes[layer++] ?? 0;
      }
      out.unshift({ Id: "<missing>", Created: h.created ? unixSeconds(h.created) : 0, CreatedBy: h.created_by ?? "", Tags: [], Size: size, Comment: h.comment ?? "" });
    }
    let at: ImageRecord | undefined = rec;
    for (const item of out) {
      if (!at) break;
      item.Id = at.id;
      item.Tags = ImageCore.names(at).tags;
      const parent: string | undefined = at.parent;
      at = undefined;
      if (parent === undefined) break;
      try {
        at = await this.core.images.get(parent);
      } catch (err) {
        if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
      }
    }
    return out;
  }

  /** What `docker system df` needs: LayersSize is the disk usage of every committed layer snapshot, counted once. */
  async df(): Promise<{ LayersSize: number; Images: ImageSummary[] }> {
    let layers = 0;
    for (const s of this.core.snapshots.list()) if (s.kind === "committed") layers += await this.core.snapshotSize(s.key);
    const images = await this.list();
    const users = new Map<string, number>();
    const chains = new Map<string, string[]>();
    for (const rec of await this.core.images.list()) {
      try {
        const chain = chainIDs((await this.core.resolve(rec)).config.rootfs.diff_ids).filter((c) => this.core.snapshots.has(c));
        chains.set(rec.id, chain);
        for (const c of chain) users.set(c, (users.get(c) ?? 0) + 1);
      } catch {
        chains.set(rec.id, []);
      }
    }
    for (const im of images) {
      let shared = 0;
      for (const c of chains.get(im.Id) ?? []) if ((users.get(c) ?? 0) > 1) shared += await this.core.snapshotSize(c);
      im.SharedSize = shared;
    }
    return { LayersSize: layers, Images: images };
  }
}

/** A container config as image inspect shows it: every field present ("" or false, null for absent lists). */
function configView(c: ContainerConfig, noLabels: Record<string, string> | null): ContainerConfig {
  return {
    Hostname: c.Hostname ?? "",
    Domainname: c.Domainname ?? "",
    User: c.User ?? "",
    AttachStdin: c.AttachStdin ?? false,
    AttachStdout: c.AttachStdout ?? false,
    AttachStderr: c.AttachStderr ?? false,
    ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: c.Tty ?? false,
    OpenStdin: c.OpenStdin ?? false,
    StdinOnce: c.StdinOnce ?? false,
    Env: c.Env ?? null,
    Cmd: c.Cmd ?? null,
    ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
    ...(c.ArgsEscaped !== undefined ? { ArgsEscaped: c.ArgsEscaped } : {}),
    Image: c.Image ?? "",
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? "",
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: (c.Labels ?? noLabels) as Record<string, string>,
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c.StopTimeout !== undefined ? { StopTimeout: c.StopTimeout } : {}),
    ...(c.Shell ? { Shell: c.Shell } : {}),
  };
}

function unixSeconds(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

// The fallback for image layers in a user namespace where the kernel refuses idmapped layers
// (overlayfs before Linux 5.19, or a filesystem without idmapped mounts): one chowned copy of the
// image's merged layers per container, owned by the host ids of its mapping, used as the overlay's
// only lower layer. It lives in the container's directory (removed with it) and is made once, at
// the first mount; a copy cut short by a crash is made again. Dockerd keeps a whole layer store
// per remapped root for the same reason; this costs a copy of the image per container, which is
// why idmapped mounts come first.

import { existsSync } from "node:fs";
import { mkdir, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { Dir } from "../fsroot/index.js";
import { addon } from "../native/addon.js";
import { mountAll, unmountAll, type Mount } from "../snapshots/index.js";
import { copyTree } from "../volumes/index.js";
import { OVERFLOW_ID, toHost, type IdMap } from "./userns.js";

/** The image's owners as the mapping's host ids; ids it does not cover show as the overflow id, as through an idmapped mount. */
function layerOwner(map: IdMap): (uid: number, gid: number) => { uid: number; gid: number } {
  return (uid, gid) => ({ uid: toHost(map.uidMappings, uid) ?? OVERFLOW_ID, gid: toHost(map.gidMappings, gid) ?? OVERFLOW_ID });
}

/**
 * The rootfs mounts of a container whose layers are copied (containerDir/layers) instead of
 * idmapped; dirs are the snapshot's (overlayDirs: absolute LowerDir, UpperDir, WorkDir).
 */
export async function chownedLayerMounts(containerDir: string, mounts: Mount[], dirs: Record<string, string>, map: IdMap): Promise<Mount[]> {
  const overlay = mounts.find((m) => m.type === "overlay");
  if (!overlay || !dirs.LowerDir) return mounts; // no layers: nothing to map
  const copy = path.join(containerDir, "layers");
  if (!existsSync(copy)) {
    const tmp = `${copy}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { mode: 0o755 });
    const lowers = dirs.LowerDir.split(":");
    // overlayfs mounts no read-only view of a single layer: that one is copied as it is
    let view = lowers[0]!;
    const viewPoint = path.join(containerDir, "layers.view");
    if (lowers.length > 1) {
      await mkdir(viewPoint, { recursive: true, mode: 0o700 });
      unmountAll(viewPoint, addon().constants.MNT_DETACH);
      // the snapshot's own lowerdir option (relative to its cwd when the list is long)
      const lowerOption = overlay.options.find((o) => o.startsWith("lowerdir="))!;
      mountAll([{ type: "overlay", source: "overlay", options: ["ro", lowerOption], ...(overlay.cwd ? { cwd: overlay.cwd } : {}) }], viewPoint);
      view = viewPoint;
    }
    try {
      await Dir.with(view, (src) => Dir.with(tmp, (dst) => copyTree(src, dst, { owner: layerOwner(map) })));
    } finally {
      if (view === viewPoint) {
        unmountAll(viewPoint, addon().constants.MNT_DETACH);
        await rmdir(viewPoint);
      }
    }
    await rename(tmp, copy);
  }
  const rest = overlay.options.filter((o) => !o.startsWith("lowerdir=") && !o.startsWith("upperdir=") && !o.startsWith("workdir="));
  return [{ type: "overlay", source: overlay.source, options: [`lowerdir=${copy}`, ...(dirs.UpperDir ? [`upperdir=${dirs.UpperDir}`] : []), ...(dirs.WorkDir ? [`workdir=${dirs.WorkDir}`] : []), ...rest] }];
}

// Volume routes: a thin translation of Docker's /volumes API to the VolumeService. Fixed paths
// (/volumes/create, /volumes/prune) come before /volumes/{name}, as in moby. The service
// publishes the volume events (create, destroy, mount, unmount, prune) itself.

import { invalid, unsupported } from "../common/errors.js";
import type { VolumeCreateRequest, VolumeService } from "../volumes/index.js";
import { readJSON, sendEmpty, sendJSON, versionAtLeast, type Router } from "./router.js";

export interface VolumesContext {
  volumes: VolumeService;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v as object).every((x) => typeof x === "string");
}

/** The create body, checked field by field so a wrong type gets a 400 that names the field. */
function createRequest(body: unknown): VolumeCreateRequest {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) throw invalid("invalid volume create request: expected a JSON object", { code: "volume.invalid" });
  const b = body as Record<string, unknown>;
  const req: VolumeCreateRequest = {};
  if (b.Name !== undefined && b.Name !== null) {
    if (typeof b.Name !== "string") throw invalid("invalid volume create request: Name must be a string", { code: "volume.invalid", field: "Name" });
    req.Name = b.Name;
  }
  if (b.Driver !== undefined && b.Driver !== null) {
    if (typeof b.Driver !== "string") throw invalid("invalid volume create request: Driver must be a string", { code: "volume.invalid", field: "Driver" });
    req.Driver = b.Driver;
  }
  for (const key of ["DriverOpts", "Labels"] as const) {
    const v = b[key];
    if (v === undefined || v === null) continue;
    if (!isStringMap(v)) throw invalid(`invalid volume create request: ${key} must map names to strings`, { code: "volume.invalid", field: key });
    req[key] = v;
  }
  if (b.ClusterVolumeSpec) throw unsupported("cluster volumes need a swarm: cove has none", { code: "volume.cluster" });
  return req;
}

export function volumeRoutes(router: Router, ctx: VolumesContext): void {
  const svc = ctx.volumes;

  router.get("/volumes", (c) => {
    sendJSON(c.res, 200, svc.list(c.query.filters()));
  });

  router.post("/volumes/create", async (c) => {
    const vol = await svc.create(createRequest(await readJSON(c.req, "VolumeCreate")));
    sendJSON(c.res, 201, vol);
  });

  router.post("/volumes/prune", async (c) => {
    const filters = c.query.filters();
    // API < 1.42 (Docker 20.10 clients) pruned every unused volume; newer ones prune anonymous
    // volumes unless filters carry all=true
    const all = !versionAtLeast(c.version, "1.42");
    sendJSON(c.res, 200, await svc.prune(filters, { all }));
  });

  router.get("/volumes/{name}", (c) => {
    sendJSON(c.res, 200, svc.inspect(c.params.name as string));
  });

  router.put("/volumes/{name}", () => {
    throw unsupported("updating a volume is for cluster volumes, which need a swarm: cove has none", { code: "volume.cluster" });
  });

  router.delete("/volumes/{name}", async (c) => {
    await svc.remove(c.params.name as string, { force: c.query.bool("force") });
    sendEmpty(c.res, 204);
  });
}

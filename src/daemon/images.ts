// Image routes: a thin translation of Docker's HTTP requests to ImageService calls, publishing
// image events (tag, untag, delete, load, import, save, prune) as dockerd does. Route order
// matters, as in moby: fixed paths (/images/json, /images/get, /images/load, /images/create,
// /images/prune) come before the {name:.*} patterns that accept names with slashes
// (localhost:5000/a/b:tag).

import { CoveError, httpStatus, invalid, unsupported } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import type { EventBus } from "../events/index.js";
import { isDigest } from "../content/digest.js";
import { progressString } from "../docker/index.js";
import type { PullProgress } from "../images/pull.js";
import type { PushProgress } from "../images/push.js";
import { normalizePlatform, parsePlatform } from "../images/platforms.js";
import type { Platform } from "../images/types.js";
import { familiarString, parseNormalizedNamed, referenceString, validateTag } from "../images/reference.js";
import { decodeRegistryAuth, type AuthConfig } from "../registry/auth.js";
import type { ImageService, InUseFn } from "../images/service.js";
import { canonicalName } from "../images/store.js";
import { drainBody, readBody, readJSON, sendEmpty, sendJSON, versionAtLeast, type RouteContext, type Router } from "./router.js";
import { JSONMessageStream } from "./stream.js";

export interface ImagesContext {
  images: ImageService;
  events: EventBus;
  /** Which container uses an image (rmi's and prune's conflict rules); none when absent. */
  inUse?: InUseFn;
  /** The daemon's log (a failure that is the daemon's own, reported inside a stream). */
  log?: (line: string) => void;
}

/** Registers the image routes that the image service backs today (no search/build yet). */
export function imageRoutes(router: Router, ctx: ImagesContext): void {
  const svc = ctx.images;

  const labelsOf = async (ref: string): Promise<Record<string, string>> => {
    try {
      return { ...((await svc.inspect(ref)).Config.Labels ?? {}) };
    } catch (err) {
      // an image gone meanwhile has no labels to put on its event; the event still goes out
      if (!(err instanceof CoveError && err.kind === "not-found")) ignored(`read the labels of image ${ref} for its event`, err);
      return {};
    }
  };
  const publish = (action: string, id: string, name: string, labels: Record<string, string> = {}) => {
    ctx.events.publish({ Type: "image", Action: action, Actor: { ID: id, Attributes: { ...labels, name } } });
  };

  router.get("/images/json", async (c) => {
    const filters = c.query.filters();
    // API < 1.28: `filter=name` was a reference filter.
    const legacy = c.query.get("filter");
    if (legacy && !versionAtLeast(c.version, "1.28")) filters.reference = [...(filters.reference ?? []), legacy];
    const list = await svc.list({ all: c.query.bool("all"), filters, digests: c.query.bool("digests") });
    let shared: Map<string, number> | undefined;
    if (c.query.bool("shared-size") && versionAtLeast(c.version, "1.42")) {
      shared = new Map((await svc.df()).Images.map((i) => [i.Id, i.SharedSize]));
    }
    sendJSON(
      c.res,
      200,
      list.map((i) => {
        const item: Record<string, unknown> = { ...i, SharedSize: shared?.get(i.Id) ?? -1 };
        if (!versionAtLeast(c.version, "1.44")) item.VirtualSize = i.Size;
        return item;
      }),
    );
  });

  const save = async (c: RouteContext, names: string[]) => {
    if (names.length === 0) throw invalid("no image to save: give at least one image name or ID (names=...)", { code: "image.invalid" });
    const ids = await Promise.all(names.map(async (n) => ({ name: n, id: (await svc.images.get(n)).id })));
    c.res.setHeader("Content-Type", "application/x-tar");
    await svc.save(names, c.res);
    for (const { name, id } of ids) publish("save", id, name);
  };
  router.get("/images/get", (c) => save(c, c.query.all("names")));
  router.get("/images/{name:.*}/get", (c) => save(c, [c.params.name as string]));

  router.get("/images/{name:.*}/history", async (c) => {
    sendJSON(c.res, 200, await svc.history(c.params.name as string));
  });

  router.get("/images/{name:.*}/json", async (c) => {
    const inspect: Record<string, unknown> = { ...(await svc.inspect(c.params.name as string)) };
    if (!versionAtLeast(c.version, "1.44")) inspect.VirtualSize = inspect.Size;
    // deprecated in API 1.45: dockerd omits the commit's container and its config from then on
    if (versionAtLeast(c.version, "1.45")) {
      delete inspect.Container;
      delete inspect.ContainerConfig;
    }
    sendJSON(c.res, 200, inspect);
  });

  router.post("/images/load", async (c) => {
    // dockerd's default is quiet (no progress) when the client does not say
    const quiet = (c.query.get("quiet") ?? "") === "" ? true : c.query.bool("quiet");
    const platform = c.query.get("platform");
    const out = new JSONMessageStream(c.res);
    try {
      const { loaded } = await svc.load(c.req, {
        ...(platform ? { platform } : {}),
        onProgress: (m) => {
          if (quiet || m.status.startsWith("Loaded image")) return;
          out.progress(m.status, m.id);
        },
      });
      for (const name of loaded) {
        const id = name.startsWith("sha256:") ? name : (await svc.images.get(name)).id;
        out.stream(name.startsWith("sha256:") ? `Loaded image ID: ${name}\n` : `Loaded image: ${name}\n`);
        publish("load", id, name, await labelsOf(id));
      }
      out.end();
    } catch (err) {
      // as dockerd: the answer is 200 and the failure is the stream's error message (the docker
      // CLI prints it and exits 1, docker-py raises ImageLoadError); the load left nothing behind
      if (!(err instanceof CoveError) || httpStatus(err) === 500) ctx.log?.(`POST /images/load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await drainBody(c.req);
      out.error(err);
      out.end();
    }
  });

  router.post("/images/create", async (c) => {
    const fromImage = c.query.get("fromImage");
    const fromSrc = c.query.get("fromSrc");
    if (fromImage) {
      c.req.resume();
      await pull(c, fromImage);
      return;
    }
    if (fromSrc === undefined || fromSrc === "") throw invalid("either fromImage or fromSrc is required", { code: "query.invalid", field: "fromSrc" });
    if (fromSrc !== "-") {
      c.req.resume();
      throw unsupported(`importing from a URL is not supported by cove (fromSrc=${fromSrc})`, {
        code: "import.url-unsupported",
        hint: "download the file first, then import it: docker import rootfs.tar name:tag",
      });
    }
    const repo = c.query.get("repo") ?? "";
    const tag = c.query.get("tag") ?? "";
    let reference: string | undefined;
    if (repo !== "") reference = tag !== "" ? `${repo.replace(/:[^/:@]*$/, "")}:${tag}` : repo;
    else if (tag !== "") throw invalid("a tag was given without a repository (repo=...)", { code: "query.invalid", field: "repo" });
    const opts: { reference?: string; changes?: string[]; message?: string; platform?: string } = { changes: c.query.all("changes") };
    if (reference !== undefined) opts.reference = reference;
    const message = c.query.get("message");
    if (message) opts.message = message;
    const platform = c.query.get("platform");
    if (platform) opts.platform = platform;
    const id = await svc.importRootfs(c.req, opts);
    // what follows the archive's end (its blocking padding) is read before the answer: a client
    // still writing it when the connection closes gets EPIPE instead of the image's ID
    await drainBody(c.req);
    // dockerd tags the imported image (a "tag" event) before logging the import
    if (reference !== undefined) publish("tag", id, familiarString(parseNormalizedNamed(canonicalName(reference))), await labelsOf(id));
    publish("import", id, id, await labelsOf(id));
    const out = new JSONMessageStream(c.res);
    out.write({ status: id });
    out.end();
  });

  /** POST /images/create?fromImage=...: Docker's pull, its progress streamed as JSON messages. */
  const pull = async (c: RouteContext, fromImage: string): Promise<void> => {
    const tag = c.query.get("tag") ?? "";
    const platform = c.query.get("platform") ?? "";
    if (platform !== "") parsePlatform(platform); // a bad platform is a 400 before anything streams
    const auth = decodeRegistryAuth(c.req.headers["x-registry-auth"] as string | undefined);
    let ref = parseNormalizedNamed(fromImage);
    if (tag !== "") {
      // the "tag" may be a digest (docker pull name@sha256:...)
      ref = isDigest(tag) ? { domain: ref.domain, path: ref.path, digest: tag } : { domain: ref.domain, path: ref.path, tag: validateTag(tag), ...(ref.digest ? { digest: ref.digest } : {}) };
    }
    const abort = new AbortController();
    const out = new JSONMessageStream(c.res);
    c.res.on("close", () => {
      if (!c.res.writableFinished) abort.abort(new Error("the client went away"));
    });
    const opts = { ...(platform ? { platform } : {}), ...(auth ? { auth } : {}), signal: abort.signal };
    const send = (m: PullProgress) => {
      // dockerd sends these two as plain messages, the rest as progress updates (with progressDetail)
      if (m.status.startsWith("Pulling from ") || m.status === "Already exists") out.write({ status: m.status, ...(m.id !== undefined ? { id: m.id } : {}) });
      else if (m.progressDetail) out.progress(m.status, m.id, m.progressDetail, progressString(m.progressDetail));
      else out.progress(m.status, m.id);
    };
    try {
      if (ref.tag === undefined && ref.digest === undefined) {
        // a name alone pulls every tag of the repository, as dockerd does
        const name = familiarString(ref);
        const tags = await svc.remoteTags(name, opts);
        let updated = false;
        for (const t of tags) {
          const r = await svc.pull(`${name}:${t}`, { ...opts, onProgress: (m) => !m.status.startsWith("Status: ") && send(m) });
          updated ||= r.updated;
          publish("pull", r.reference, r.reference, await labelsOf(r.reference));
        }
        out.progress(updated ? `Status: Downloaded newer image for ${name}` : `Status: Image is up to date for ${name}`);
      } else {
        const r = await svc.pull(referenceString(ref), { ...opts, onProgress: send });
        publish("pull", r.reference, r.reference, await labelsOf(r.reference));
      }
      out.end();
    } catch (err) {
      if (!out.started) throw err;
      out.error(err);
      out.end();
    }
  };

  router.get("/distribution/{name:.*}/json", async (c) => {
    const auth = decodeRegistryAuth(c.req.headers["x-registry-auth"] as string | undefined);
    sendJSON(c.res, 200, await svc.distributionInspect(c.params.name as string, auth ? { auth } : {}));
  });

  /** GET /images/search?term=&limit=&filters=: `docker search` (src/registry/search.ts). */
  router.get("/images/search", async (c) => {
    const rawLimit = c.query.get("limit") ?? "";
    let limit = 0;
    if (rawLimit !== "") {
      // dockerd: strconv.Atoi, then a negative limit refused
      if (!/^[+-]?\d+$/.test(rawLimit) || !Number.isSafeInteger(Number(rawLimit)) || Number(rawLimit) < 0) {
        throw invalid(`invalid limit specified: "${rawLimit}" is not a non-negative integer`, { code: "query.invalid", field: "limit" });
      }
      limit = Number(rawLimit);
    }
    const filters = c.query.filters();
    // as dockerd: a search needs no auth, and an auth header that cannot be read is ignored
    let auth: AuthConfig | undefined;
    try {
      auth = decodeRegistryAuth(c.req.headers["x-registry-auth"] as string | undefined);
    } catch {
      auth = undefined;
    }
    const abort = new AbortController();
    c.res.on("close", () => {
      if (!c.res.writableFinished) abort.abort(new Error("the client went away"));
    });
    sendJSON(c.res, 200, await svc.search(c.query.get("term") ?? "", { limit, filters, ...(auth ? { auth } : {}), signal: abort.signal }));
  });

  /** POST /images/{name}/push?tag=: Docker's push, its progress streamed as JSON messages. */
  router.post("/images/{name:.*}/push", async (c) => {
    const name = c.params.name as string;
    const tag = c.query.get("tag") ?? "";
    const header = c.req.headers["x-registry-auth"] as string | undefined;
    let auth: AuthConfig | undefined;
    if (header !== undefined && header !== "") {
      c.req.resume();
      auth = decodeRegistryAuth(header);
    } else {
      // dockerd's older clients sent the auth config as the body
      const body = (await readBody(c.req, 64 << 10)).toString("utf8").trim();
      if (body !== "") auth = decodeRegistryAuth(Buffer.from(body).toString("base64"));
    }
    if (tag !== "") validateTag(tag); // a bad tag is a 400 before anything streams
    const platform = pushPlatform(c.query.get("platform"));
    const abort = new AbortController();
    const out = new JSONMessageStream(c.res);
    c.res.on("close", () => {
      if (!c.res.writableFinished) abort.abort(new Error("the client went away"));
    });
    const send = (m: PushProgress) => {
      if (m.aux) out.write({ progressDetail: {}, aux: m.aux });
      else if (m.id === undefined) out.write({ status: m.status });
      else if (m.progressDetail) out.progress(m.status, m.id, m.progressDetail, progressString(m.progressDetail));
      else out.progress(m.status, m.id);
    };
    try {
      const results = await svc.push(name, tag === "" ? undefined : tag, { ...(auth ? { auth } : {}), ...(platform ? { platform } : {}), signal: abort.signal, onProgress: send });
      const ref = parseNormalizedNamed(name);
      // as dockerd: the event's actor is the reference pushed
      for (const r of results) {
        const shown = familiarString({ domain: ref.domain, path: ref.path, tag: r.tag });
        publish("push", shown, shown, await labelsOf(shown));
      }
      out.end();
    } catch (err) {
      if (!out.started) throw err;
      // a client that stopped reading the progress is not the daemon's error
      if (!abort.signal.aborted && (!(err instanceof CoveError) || httpStatus(err) === 500)) ctx.log?.(`POST /images/${name}/push: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      out.error(err);
      out.end();
    }
  });

  /** POST /auth: `docker login`; the credentials are checked with the registry, never stored by the daemon. */
  router.post("/auth", async (c) => {
    const body = await readJSON(c.req);
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid("the body must be a JSON auth config (username, password, serveraddress)", { code: "body.invalid" });
    const auth = decodeRegistryAuth(Buffer.from(JSON.stringify(body)).toString("base64")) ?? {};
    sendJSON(c.res, 200, await svc.login(auth));
  });

  router.post("/images/{name:.*}/tag", async (c) => {
    const repo = c.query.get("repo") ?? "";
    const tag = c.query.get("tag") ?? "";
    if (repo === "") throw invalid("repository name must have at least one component (repo=...)", { code: "reference.invalid", field: "repo" });
    const target = tag !== "" ? `${repo.replace(/:[^/:@]*$/, "")}:${tag}` : repo;
    const source = c.params.name as string;
    await svc.tag(source, target);
    const rec = await svc.images.get(target);
    publish("tag", rec.id, familiarString(parseNormalizedNamed(canonicalName(target))), await labelsOf(rec.id));
    sendEmpty(c.res, 201);
  });

  router.post("/images/prune", async (c) => {
    const owners = new Map<string, string>();
    for (const i of await svc.images.list()) for (const n of [...i.repoTags, ...i.repoDigests]) owners.set(n, i.id);
    const result = await svc.prune({ filters: c.query.filters(), ...(ctx.inUse ? { inUse: ctx.inUse } : {}) });
    for (const item of result.ImagesDeleted) {
      if (item.Untagged) publish("untag", owners.get(item.Untagged) ?? "", item.Untagged);
      if (item.Deleted) publish("delete", item.Deleted, item.Deleted);
    }
    ctx.events.publish({ Type: "image", Action: "prune", Actor: { ID: "", Attributes: { reclaimed: String(result.SpaceReclaimed) } } });
    sendJSON(c.res, 200, { ImagesDeleted: result.ImagesDeleted, SpaceReclaimed: result.SpaceReclaimed });
  });

  router.delete("/images/{name:.*}", async (c) => {
    const name = c.params.name as string;
    if (name.trim() === "") throw invalid("image name cannot be blank", { code: "image.invalid" });
    const rec = await svc.images.get(name);
    const labels = await labelsOf(rec.id);
    const items = await svc.remove(name, { force: c.query.bool("force"), noPrune: c.query.bool("noprune"), ...(ctx.inUse ? { inUse: ctx.inUse } : {}) });
    for (const item of items) {
      if (item.Untagged) publish("untag", rec.id, item.Untagged, labels);
      if (item.Deleted) publish("delete", item.Deleted, item.Deleted, labels);
    }
    sendJSON(c.res, 200, items);
  });
}

/** The push's platform query (API 1.46): a JSON-encoded OCI platform, as the docker CLI sends it. */
function pushPlatform(text: string | null | undefined): Platform | undefined {
  if (text === null || text === undefined || text === "") return undefined;
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (err) {
    throw invalid(`invalid platform parameter value: ${(err as Error).message}`, { code: "push.platform", field: "platform" });
  }
  const o = p as { os?: unknown; architecture?: unknown; variant?: unknown };
  if (typeof o !== "object" || o === null || typeof o.os !== "string" || typeof o.architecture !== "string" || (o.variant !== undefined && typeof o.variant !== "string")) {
    throw invalid(`invalid platform parameter value: ${text}: expected {"os": ..., "architecture": ...}`, { code: "push.platform", field: "platform" });
  }
  return normalizePlatform({ os: o.os, architecture: o.architecture, ...(o.variant ? { variant: o.variant } : {}) });
}

// Routes for what cove does not have: plugins (none can be installed, so cove answers as a
// dockerd without plugins does: an empty list, and "plugin ... not found" for a name), and the
// endpoints whose features are not in cove (BuildKit sessions),
// which answer 501 with what to do instead rather than a bare "page not found". The daemon
// registers these last, so a route that does exist always wins.

import { notFound, unsupported } from "../common/errors.js";
import { sendJSON, type RouteContext, type Router } from "./router.js";

const NO_PLUGINS = "cove has no plugin support: volumes use the local driver and networks the built-in bridge, host and none drivers";

/** moby's answer for a plugin that is not installed; a reference without a tag gets ":latest" where moby resolves it. */
function pluginNotFound(name: string): never {
  throw notFound(`plugin "${name}" not found`, { code: "plugin.not-found" });
}

/** Drops a request body cove will not read, so the client reads the answer rather than a broken pipe. */
function refuse(c: RouteContext, message: string, code: string, hint?: string): never {
  c.req.resume();
  throw unsupported(message, { code, ...(hint !== undefined ? { hint } : {}) });
}

export function absentRoutes(router: Router): void {
  router.get("/plugins", (c) => sendJSON(c.res, 200, []));
  router.get("/plugins/privileges", (c) => refuse(c, `${NO_PLUGINS}; there are no plugin privileges to list`, "plugin.unsupported"));
  router.post("/plugins/pull", (c) => refuse(c, `${NO_PLUGINS}; plugins cannot be installed`, "plugin.unsupported"));
  router.post("/plugins/create", (c) => refuse(c, `${NO_PLUGINS}; plugins cannot be created`, "plugin.unsupported"));
  router.get("/plugins/{name:.*}/json", (c) => pluginNotFound(c.params.name as string));
  router.delete("/plugins/{name:.*}", (c) => pluginNotFound(c.params.name as string));
  router.post("/plugins/{name:.*}/enable", (c) => pluginNotFound(c.params.name as string));
  router.post("/plugins/{name:.*}/disable", (c) => pluginNotFound(c.params.name as string));
  router.post("/plugins/{name:.*}/upgrade", (c) => {
    c.req.resume();
    const name = c.params.name as string;
    pluginNotFound(/[:@]/.test(name.split("/").pop() ?? "") ? name : `${name}:latest`);
  });
  router.post("/plugins/{name:.*}/push", (c) => pluginNotFound(c.params.name as string));
  router.post("/plugins/{name:.*}/set", (c) => {
    c.req.resume();
    pluginNotFound(c.params.name as string);
  });

  router.post("/session", (c) => refuse(c, "cove's builder is the legacy one: it has no BuildKit sessions", "build.unsupported", "build with DOCKER_BUILDKIT=0"));
}

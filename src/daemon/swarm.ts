// Swarm routes: cove is a node that is not part of a swarm, and answers every swarm endpoint of the
// Engine API (/swarm, /nodes, /services, /tasks, /secrets, /configs) as such a dockerd does, so
// clients and test harnesses that call `/swarm/leave?force=true` or `GET /services` in their set-up
// and tear-down get the answer they expect instead of a 404. Each route checks first what moby's
// swarm router checks before it asks the cluster (the body's JSON, a version's integer, a query
// boolean), with the same 400s; then it answers as moby's cluster does with no swarm: 503 "not a
// swarm manager" for manager endpoints, 503 "not part of a swarm" for a leave. Initializing or
// joining a swarm is refused with a 503 too (moby's status for a node that cannot do what a swarm
// request asks): cove does not run swarm mode.
//
// /info's Swarm section (LocalNodeState "inactive") and /_ping's "Swarm: inactive" header are in
// system.ts.

import { invalid, unavailable } from "../common/errors.js";
import { parseBool, parseUint } from "../docker/index.js";
import { parseJSONBody } from "./body-schema.js";
import { readBody, versionAtLeast, type RouteContext, type Router } from "./router.js";

/** moby's errSwarmNotManager: what every manager endpoint answers on a node outside a swarm. */
export const NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** moby's errNoSwarm: what a leave answers on a node outside a swarm (with or without force). */
export const NOT_IN_A_SWARM = "This node is not part of a swarm";
/** What /swarm/init and /swarm/join answer: cove cannot become a swarm node. */
export const NO_SWARM_MODE = "cove does not run swarm mode, so this node cannot initialize or join a swarm; to run containers across several machines, use Kubernetes";

const notManager = () => unavailable(NOT_A_MANAGER, { code: "swarm.not-manager" });

/** moby's ReadJSON on a typed body: a missing body, bad JSON and anything but an object are 400s. */
async function objectBody(c: RouteContext, type: string): Promise<Record<string, unknown>> {
  const bytes = await readBody(c.req);
  if (bytes.length === 0) throw invalid("got EOF while reading request body", { code: "request.invalid" });
  const value = parseJSONBody(bytes);
  if (value === null) return {}; // Go decodes null into an empty struct
  if (typeof value !== "object" || Array.isArray(value)) {
    throw invalid(`invalid body: expected a JSON object (${type}), got ${Array.isArray(value) ? "an array" : typeof value}`, { code: "request.invalid" });
  }
  return value as Record<string, unknown>;
}

/** The `version` query of an update, as moby parses it (an unsigned integer); `what` names the object in the error. */
function objectVersion(c: RouteContext, what: string, terse = false): void {
  const raw = c.query.get("version") ?? "";
  try {
    parseUint(raw);
  } catch (err) {
    // secrets and configs say only this much (moby's updateSecret and updateConfig)
    if (terse) throw invalid(`invalid ${what} version`, { code: "query.invalid", field: "version" });
    throw invalid(`invalid ${what} version '${raw}': ${(err as Error).message}`, { code: "query.invalid", field: "version" });
  }
}

/** A query boolean moby parses with strconv.ParseBool when present and not empty. */
function strictBool(c: RouteContext, key: string, form: "plain" | "wrapped"): void {
  const value = c.query.get(key);
  if (value === undefined || value === "") return;
  try {
    parseBool(value);
  } catch (err) {
    const message = form === "plain" ? `invalid value for ${key}: ${value}` : `invalid value for ${key}: ${value}: ${(err as Error).message}`;
    throw invalid(message, { code: "query.invalid", field: key });
  }
}

/** An address moby's validateAddr refuses: only the empty one (anything else it passes on). */
function checkAddr(value: unknown, label: string): void {
  if (value === undefined || value === null || value === "") throw invalid(`invalid ${label} "": invalid empty address`, { code: "swarm.address", field: label });
  if (typeof value !== "string") throw invalid(`invalid ${label}: expected a string, got ${typeof value}`, { code: "swarm.address", field: label });
}

/** The logs query moby checks before it looks for the service or task. */
function checkLogStreams(c: RouteContext): void {
  if (!c.query.bool("stdout") && !c.query.bool("stderr")) throw invalid("Bad parameters: you must choose at least one stream", { code: "query.invalid", field: "stdout" });
}

/** Registers every swarm endpoint of the Engine API (swagger tags Swarm, Node, Service, Task, Secret, Config). */
export function swarmRoutes(router: Router): void {
  // --- the swarm itself
  router.get("/swarm", () => {
    throw notManager();
  });
  router.post("/swarm/init", async (c) => {
    const req = await objectBody(c, "swarm.InitRequest");
    checkAddr(req.ListenAddr, "ListenAddr");
    const spec = req.Spec as { Name?: unknown } | undefined | null;
    if (spec && typeof spec === "object" && spec.Name !== undefined && spec.Name !== "" && spec.Name !== "default") {
      throw invalid('swarm spec must be named "default"', { code: "swarm.spec", field: "Spec.Name" });
    }
    throw unavailable(NO_SWARM_MODE, { code: "swarm.unsupported" });
  });
  router.post("/swarm/join", async (c) => {
    const req = await objectBody(c, "swarm.JoinRequest");
    checkAddr(req.ListenAddr, "ListenAddr");
    const remotes = req.RemoteAddrs;
    if (!Array.isArray(remotes) || remotes.length === 0) throw invalid("at least 1 RemoteAddr is required to join", { code: "swarm.address", field: "RemoteAddrs" });
    for (const r of remotes) checkAddr(r, "remoteAddr");
    throw unavailable(NO_SWARM_MODE, { code: "swarm.unsupported" });
  });
  router.post("/swarm/leave", () => {
    throw unavailable(NOT_IN_A_SWARM, { code: "swarm.not-member" });
  });
  router.post("/swarm/update", async (c) => {
    await objectBody(c, "swarm.Spec");
    objectVersion(c, "swarm");
    for (const key of ["rotateWorkerToken", "rotateManagerToken", "rotateManagerUnlockKey"]) strictBool(c, key, "plain");
    throw notManager();
  });
  router.get("/swarm/unlockkey", () => {
    throw notManager();
  });
  router.post("/swarm/unlock", async (c) => {
    await objectBody(c, "swarm.UnlockRequest");
    throw notManager();
  });

  // --- nodes
  router.get("/nodes", (c) => {
    c.query.filters();
    throw notManager();
  });
  router.get("/nodes/{id}", () => {
    throw notManager();
  });
  router.delete("/nodes/{id}", () => {
    throw notManager();
  });
  router.post("/nodes/{id}/update", async (c) => {
    await objectBody(c, "swarm.NodeSpec");
    objectVersion(c, "node");
    throw notManager();
  });

  // --- services
  router.get("/services", (c) => {
    c.query.filters();
    // the status parameter came with API 1.41; older clients' is ignored
    if (versionAtLeast(c.version, "1.41")) strictBool(c, "status", "wrapped");
    throw notManager();
  });
  router.post("/services/create", async (c) => {
    await objectBody(c, "swarm.ServiceSpec");
    throw notManager();
  });
  router.get("/services/{id}", (c) => {
    strictBool(c, "insertDefaults", "wrapped");
    throw notManager();
  });
  router.delete("/services/{id}", () => {
    throw notManager();
  });
  router.post("/services/{id}/update", async (c) => {
    await objectBody(c, "swarm.ServiceSpec");
    objectVersion(c, "service");
    throw notManager();
  });
  router.get("/services/{id}/logs", (c) => {
    checkLogStreams(c);
    throw notManager();
  });

  // --- tasks
  router.get("/tasks", (c) => {
    c.query.filters();
    throw notManager();
  });
  router.get("/tasks/{id}", () => {
    throw notManager();
  });
  router.get("/tasks/{id}/logs", (c) => {
    checkLogStreams(c);
    throw notManager();
  });

  // --- secrets and configs: the same five endpoints each
  for (const [kind, type] of [
    ["secret", "swarm.SecretSpec"],
    ["config", "swarm.ConfigSpec"],
  ] as const) {
    const base = `/${kind}s`;
    router.get(base, (c) => {
      c.query.filters();
      throw notManager();
    });
    router.post(`${base}/create`, async (c) => {
      const spec = await objectBody(c, type);
      // templating came with API 1.37
      if (spec.Templating !== undefined && spec.Templating !== null && !versionAtLeast(c.version, "1.37")) {
        throw invalid(`${kind} templating is not supported on the specified API version: ${c.version}`, { code: "request.invalid", field: "Templating" });
      }
      throw notManager();
    });
    router.get(`${base}/{id}`, () => {
      throw notManager();
    });
    router.delete(`${base}/{id}`, () => {
      throw notManager();
    });
    router.post(`${base}/{id}/update`, async (c) => {
      await objectBody(c, type);
      objectVersion(c, kind, true);
      throw notManager();
    });
  }
}

// Pod routes: podman's libpod pod endpoints (/libpod/pods/...) in their shapes, served under
// /cove/pods (the Engine API has no pods), a thin translation of HTTP to PodService calls. As
// podman: 201 for create, 304 for starting a running pod or stopping a stopped one, 204/404 for
// exists; the logs stream is multiplexed (stdcopy), each line prefixed with its container's name.

import { invalid } from "../common/errors.js";
import { parseSignal } from "../docker/index.js";
import { parseEventTime } from "../events/index.js";
import { INFRA_LABEL, POD_LABEL, type PodService, type PodSpec } from "../pods/index.js";
import type { ContainerService } from "../containers/index.js";
import { generateKube } from "../kube/index.js";
import type { LogsOptions } from "../containers/types.js";
import { readJSON, sendEmpty, sendJSON, type RouteContext, type Router } from "./router.js";
import { drained, muxFrame, STDERR, STDOUT } from "./stream.js";

export interface PodsContext {
  pods: PodService;
  containers: ContainerService;
}

/** Go's RFC3339NanoFixed, as `logs --timestamps` prints each line's time. */
function fixedNano(t: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0").slice(0, 9)}${m[3]}` : t;
}

function logTime(c: RouteContext, key: string): number | undefined {
  const ns = parseEventTime(c.query.get(key), key);
  if (ns === undefined || ns <= 0n) return undefined;
  return Number(ns / 1000n) / 1e6;
}

export function podRoutes(router: Router, ctx: PodsContext): void {
  const pods = ctx.pods;
  const timeout = (c: RouteContext) => {
    const t = c.query.int("t");
    return t !== undefined ? { timeout: t } : {};
  };

  router.post("/cove/pods/create", async (c) => {
    const body = (await readJSON(c.req)) as PodSpec | undefined;
    if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) throw invalid("the pod's configuration must be a JSON object (podman's PodSpecGenerator)", { code: "pod.invalid" });
    sendJSON(c.res, 201, await pods.create(body));
  });

  router.get("/cove/pods/json", async (c) => {
    sendJSON(c.res, 200, await pods.list(c.query.filters()));
  });

  router.get("/cove/pods/{name}/json", async (c) => {
    sendJSON(c.res, 200, await pods.inspect(c.params.name as string));
  });

  router.get("/cove/pods/{name}/exists", async (c) => {
    const name = c.params.name as string;
    if (await pods.exists(name)) sendEmpty(c.res, 204);
    else sendJSON(c.res, 404, { message: `no pod with name or ID ${name} found: no such pod` });
  });

  router.post("/cove/pods/{name}/start", async (c) => {
    const r = await pods.start(c.params.name as string);
    if (r.started) sendJSON(c.res, 200, r.report);
    else sendEmpty(c.res, 304);
  });

  router.post("/cove/pods/{name}/stop", async (c) => {
    const r = await pods.stop(c.params.name as string, timeout(c));
    if (r.stopped) sendJSON(c.res, 200, r.report);
    else sendEmpty(c.res, 304);
  });

  router.post("/cove/pods/{name}/restart", async (c) => {
    sendJSON(c.res, 200, await pods.restart(c.params.name as string, timeout(c)));
  });

  router.post("/cove/pods/{name}/kill", async (c) => {
    const signal = c.query.get("signal") || "SIGKILL";
    try {
      parseSignal(signal);
    } catch (err) {
      throw invalid(`invalid signal: ${signal}`, { code: "signal.invalid", cause: err, hint: "use a name such as SIGTERM or KILL, or a number" });
    }
    sendJSON(c.res, 200, await pods.kill(c.params.name as string, signal));
  });

  router.delete("/cove/pods/{name}", async (c) => {
    sendJSON(c.res, 200, await pods.remove(c.params.name as string, { force: c.query.bool("force") }));
  });

  router.get("/cove/pods/{name}/top", async (c) => {
    sendJSON(c.res, 200, await pods.top(c.params.name as string, c.query.get("ps_args") ?? ""));
  });

  // podman's GET /libpod/generate/kube: a pod, or a lone container, as Kubernetes Pod YAML
  router.get("/cove/generate/kube", async (c) => {
    const name = c.query.get("names");
    if (!name) throw invalid("give the pod or container to generate with ?names=NAME", { code: "query.invalid", field: "names" });
    let yaml: string;
    if (await pods.exists(name)) {
      const pod = await pods.inspect(name);
      const members = await Promise.all(pod.Containers.filter((m) => m.Id !== pod.InfraContainerID).map((m) => ctx.containers.inspect(m.Id)));
      yaml = generateKube(pod, members);
    } else {
      const container = await ctx.containers.inspect(name);
      if (container.Config.Labels?.[POD_LABEL] && container.Config.Labels[INFRA_LABEL] === "true") {
        throw invalid(`${name} is the infra container of a pod: generate the pod instead`, { code: "kube.infra", hint: "cove kube generate POD" });
      }
      yaml = generateKube(undefined, [container]);
    }
    c.res.writeHead(200, { "Content-Type": "application/yaml", "Content-Length": Buffer.byteLength(yaml) });
    c.res.end(yaml);
  });

  router.get("/cove/pods/{name}/logs", async (c) => {
    const stdout = c.query.get("stdout") === undefined ? true : c.query.bool("stdout");
    const stderr = c.query.get("stderr") === undefined ? true : c.query.bool("stderr");
    if (!stdout && !stderr) throw invalid("Bad parameters: you must choose at least one stream", { code: "query.invalid", field: "stdout" });
    const opts: LogsOptions & { container?: string } = { follow: c.query.bool("follow"), stdout, stderr, signal: c.signal };
    const since = logTime(c, "since");
    if (since !== undefined) opts.since = since;
    const until = logTime(c, "until");
    if (until !== undefined) opts.until = until;
    const tail = c.query.get("tail");
    if (tail !== undefined && tail !== "" && tail !== "all") {
      const n = c.query.int("tail", -1);
      opts.tail = n < 0 ? "all" : n;
    }
    const container = c.query.get("container");
    if (container) opts.container = container;
    const timestamps = c.query.bool("timestamps");
    const entries = await pods.logs(c.params.name as string, opts);
    const res = c.res;
    res.writeHead(200, { "Content-Type": "application/vnd.docker.multiplexed-stream" });
    res.flushHeaders();
    try {
      for await (const e of entries) {
        if (c.signal.aborted) break;
        const prefix = `${e.container} ${timestamps ? `${fixedNano(e.time)} ` : ""}`;
        const ok = res.write(muxFrame(e.stream === "stderr" ? STDERR : STDOUT, Buffer.concat([Buffer.from(prefix), e.line])));
        if (!ok) await drained(res);
      }
    } finally {
      if (!res.writableEnded) res.end();
    }
  });
}

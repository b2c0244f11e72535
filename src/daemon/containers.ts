// Container routes: a thin translation of Docker's HTTP requests to ContainerService calls, with
// moby's status codes (api/server/router/container/container_routes.go): 201 for create, 204 for
// start/stop/kill/restart/pause/unpause/rename/remove, 304 for starting a running container or
// stopping a stopped one. Streams (logs, attach, wait) follow dockerd: wait sends its headers at
// once so a client can attach and start before the result comes; logs and attach are multiplexed
// (stdcopy) without a TTY and raw with one. Fixed paths come before /containers/{name}/... as in moby.

import { conflict, CoveError, invalid, notFound, unsupported } from "../common/errors.js";
import { span } from "../common/trace.js";
import { parseSignal } from "../docker/index.js";
import { encodePathStat } from "../containers/archive.js";
import type { ContainerService } from "../containers/index.js";
import type { PodService } from "../pods/index.js";
import type { CreateBody, LogsOptions, WaitCondition } from "../containers/types.js";
import { parseEventTime } from "../events/index.js";
import { readBody, readJSON, sendEmpty, sendJSON, versionAtLeast, type RouteContext, type Router } from "./router.js";
import { DEFAULT_DETACH_KEYS, dims, execRoutes, parseDetachKeys, pipeSession, readUpgradeJSON, type ActiveStreams } from "./exec.js";
import { drained, handOver, handOverable, hijack, muxFrame, streamContentType, STDERR, STDOUT } from "./stream.js";
import { acceptWebSocket, isWebSocketRequest } from "./websocket.js";
import { PASS_FDS_HEADER, PassFds } from "../native/protocol.js";

export interface ContainersContext {
  containers: ContainerService;
  /** Pods, for create with ?pod= and the list's pod= filter (podman's). */
  pods?: Pick<PodService, "createMember" | "listContainers">;
}

export interface ContainerRoutes {
  /** Ends every attach/exec stream still open (the daemon is closing; the containers keep running). */
  close(): void;
}

/** Unix seconds for `since`/`until` of logs: "1700000000.5", an RFC 3339 time, or absent/0 for none. */
function logTime(c: RouteContext, key: string): number | undefined {
  const ns = parseEventTime(c.query.get(key), key);
  if (ns === undefined || ns <= 0n) return undefined;
  return Number(ns / 1000n) / 1e6;
}

/** Go's RFC3339NanoFixed ("2006-01-02T15:04:05.000000000Z07:00"), as dockerd prefixes log lines with --timestamps. */
export function fixedNanoTime(t: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return t;
  return `${m[1]}.${(m[2] ?? "").padEnd(9, "0").slice(0, 9)}${m[3]}`;
}

/**
 * moby's handleMACAddressBC: the container-wide Config.MacAddress (deprecated in API 1.44) becomes
 * the MAC of the endpoint on the container's own network; before API 1.44 an endpoint's MacAddress
 * did not exist and is dropped. Config.MacAddress then holds that endpoint's address (as dockerd's
 * inspect shows it, for every API version). Returns dockerd's deprecation warning, if any.
 */
export function migrateMacAddress(body: CreateBody, version: string): string | undefined {
  const legacy = body.MacAddress ?? "";
  const mode = body.HostConfig?.NetworkMode || "default";
  const ownNetwork = !["host", "none"].includes(mode) && !mode.startsWith("container:");
  const netName = mode === "default" ? "bridge" : mode;
  const endpoints = (body.NetworkingConfig?.EndpointsConfig ?? {}) as Record<string, { MacAddress?: string } | null>;
  /** moby's epConfigForNetMode: the endpoint settings of the container's own network, made when there are none. */
  const ownEndpoint = (): { MacAddress?: string } => {
    const keys = Object.keys(endpoints);
    if (keys.length === 0) {
      const ep = {};
      body.NetworkingConfig = { ...(body.NetworkingConfig ?? {}), EndpointsConfig: { [netName]: ep } };
      return ep;
    }
    if (!versionAtLeast(version, "1.44")) return (endpoints[keys[0]!] ??= {});
    const ep = endpoints[netName] ?? (netName === "bridge" ? endpoints.default : undefined);
    if (!ep) throw invalid("HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks", { code: "container.mac-address", field: "MacAddress" });
    return ep;
  };
  let warning: string | undefined;
  if (!versionAtLeast(version, "1.44")) {
    if (legacy === "") {
      for (const ep of Object.values(endpoints)) if (ep) delete ep.MacAddress;
    } else {
      if (!ownNetwork) throw invalid("conflicting options: mac-address and the network mode", { code: "container.mac-address", field: "MacAddress" });
      ownEndpoint().MacAddress = legacy;
    }
  } else if (legacy !== "") {
    if (ownNetwork) {
      let ep: { MacAddress?: string };
      try {
        ep = ownEndpoint();
      } catch (err) {
        throw invalid(`unable to migrate container-wide MAC address to a specific network: ${(err as Error).message}`, { code: "container.mac-address", field: "MacAddress" });
      }
      if (!ep.MacAddress) ep.MacAddress = legacy;
      else if (ep.MacAddress !== legacy) {
        throw invalid("the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty", { code: "container.mac-address", field: "MacAddress" });
      }
    }
    warning = "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.";
  }
  // the docker CLI names the default network "default" in EndpointsConfig
  const finalEndpoints = (body.NetworkingConfig?.EndpointsConfig ?? {}) as typeof endpoints;
  const own = ownNetwork ? (finalEndpoints[netName] ?? (netName === "bridge" ? finalEndpoints.default : undefined))?.MacAddress : undefined;
  const shown = versionAtLeast(version, "1.44") ? own : legacy;
  if (shown) body.MacAddress = shown;
  else delete body.MacAddress;
  return warning;
}

/** Registers the container and exec routes. */
export function containerRoutes(router: Router, ctx: ContainersContext): ContainerRoutes {
  const svc = ctx.containers;
  const active: ActiveStreams = new Set();

  router.get("/containers/json", async (c) => {
    const filters = c.query.filters();
    // before/since as query parameters predate the filters (API < 1.24 clients still send them)
    for (const k of ["before", "since"]) {
      const v = c.query.get(k);
      if (v) filters[k] = [...(filters[k] ?? []), v];
    }
    const limit = c.query.int("limit", -1);
    const opts = { all: c.query.bool("all"), limit, size: c.query.bool("size"), filters };
    const list = filters.pod && ctx.pods ? await ctx.pods.listContainers(opts) : await svc.list(opts);
    sendJSON(c.res, 200, list);
  });

  router.post("/containers/create", async (c) => {
    const endParse = span("api.parse");
    const body = await readJSON(c.req, "ContainerCreate");
    endParse();
    if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) {
      throw invalid("config cannot be empty in order to create a container", { code: "container.invalid" });
    }
    const opts: { name?: string; platform?: string } = {};
    const name = c.query.get("name");
    if (name) opts.name = name;
    const platform = c.query.get("platform");
    if (platform) opts.platform = platform;
    const warning = migrateMacAddress(body as CreateBody, c.version);
    // ?pod=NAME|ID (cove's, as podman's create --pod): the container joins the pod's namespaces
    const pod = c.query.get("pod");
    if (pod && !ctx.pods) throw unsupported("this daemon serves no pods", { code: "pod.unavailable" });
    const created = pod ? await ctx.pods!.createMember(pod, body as CreateBody, opts) : await svc.create(body as CreateBody, opts);
    sendJSON(c.res, 201, { Id: created.Id, Warnings: warning ? [...created.Warnings, warning] : created.Warnings });
  });

  router.get("/containers/{name}/json", async (c) => {
    sendJSON(c.res, 200, await svc.inspect(c.params.name as string, { size: c.query.bool("size") }));
  });

  router.get("/containers/{name}/logs", (c) => logs(c, svc));

  router.post("/containers/{name}/start", async (c) => {
    // API 1.24 removed the HostConfig body of start; an empty one ("{}" or "null") is fine.
    const body = (await readBody(c.req)).toString("utf8").trim();
    if (body !== "" && body !== "{}" && body !== "null" && versionAtLeast(c.version, "1.24")) {
      throw invalid("starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24", { code: "container.start-body" });
    }
    if (c.query.get("checkpoint")) throw unsupported("checkpoint/restore is not supported by cove", { code: "container.checkpoint" });
    const ref = c.params.name as string;
    // a failed start of an AutoRemove container removes it in the service
    const started = await svc.start(ref);
    sendEmpty(c.res, started ? 204 : 304);
  });

  const stopOptions = (c: RouteContext): { signal?: string; timeout?: number } => {
    const opts: { signal?: string; timeout?: number } = {};
    const t = c.query.int("t");
    if (t !== undefined) opts.timeout = t;
    const signal = c.query.get("signal");
    if (signal && versionAtLeast(c.version, "1.42")) opts.signal = signal;
    return opts;
  };

  router.post("/containers/{name}/stop", async (c) => {
    const stopped = await svc.stop(c.params.name as string, stopOptions(c));
    sendEmpty(c.res, stopped ? 204 : 304);
  });

  router.post("/containers/{name}/restart", async (c) => {
    await svc.restart(c.params.name as string, stopOptions(c));
    sendEmpty(c.res, 204);
  });

  router.post("/containers/{name}/kill", async (c) => {
    const signal = c.query.get("signal");
    const name = c.params.name as string;
    // moby's router: the signal is checked first, and the engine's errors name the container
    if (signal) {
      try {
        parseSignal(signal);
      } catch (err) {
        throw invalid(`Invalid signal: ${signal}`, { code: "signal.invalid", cause: err, hint: "use a name such as SIGTERM or KILL, or a number" });
      }
    }
    try {
      await svc.kill(name, signal ? signal : "SIGKILL");
    } catch (err) {
      if (err instanceof CoveError) throw new CoveError(err.kind, `Cannot kill container: ${name}: ${err.message}`, { code: err.code, cause: err, ...(err.hint !== undefined ? { hint: err.hint } : {}) });
      throw err;
    }
    sendEmpty(c.res, 204);
  });

  router.post("/containers/{name}/pause", async (c) => {
    await svc.pause(c.params.name as string);
    sendEmpty(c.res, 204);
  });

  router.post("/containers/{name}/unpause", async (c) => {
    await svc.unpause(c.params.name as string);
    sendEmpty(c.res, 204);
  });

  router.post("/containers/{name}/wait", (c) => wait(c, svc));

  router.post("/containers/{name}/rename", async (c) => {
    try {
      await svc.rename(c.params.name as string, c.query.get("name") ?? "");
    } catch (err) {
      // moby's wording for a name another container holds
      if (err instanceof CoveError && err.kind === "conflict" && err.message.startsWith("Conflict. The container name")) {
        throw new CoveError("conflict", `Error when allocating new name: ${err.message}`, { code: err.code, cause: err, ...(err.hint !== undefined ? { hint: err.hint } : {}) });
      }
      throw err;
    }
    sendEmpty(c.res, 204);
  });

  router.post("/containers/{name}/resize", async (c) => {
    const [h, w] = dims(c);
    await svc.resize(c.params.name as string, h, w);
    sendEmpty(c.res, 200);
  });

  router.post("/containers/{name}/attach", (c) => attach(c, svc, active));

  router.post("/containers/prune", async (c) => {
    sendJSON(c.res, 200, await svc.prune(c.query.filters()));
  });

  router.get("/containers/{name}/top", async (c) => {
    sendJSON(c.res, 200, await svc.top(c.params.name as string, c.query.get("ps_args") ?? ""));
  });

  router.get("/containers/{name}/stats", (c) => stats(c, svc));

  router.get("/containers/{name}/changes", async (c) => {
    sendJSON(c.res, 200, await svc.changes(c.params.name as string));
  });

  router.get("/containers/{name}/export", async (c) => {
    svc.resolveId(c.params.name as string); // a 404 before the headers go out
    c.res.writeHead(200, { "Content-Type": "application/x-tar" });
    await svc.export(c.params.name as string, c.res).catch((err: unknown) => {
      // the headers are out: all that is left is to cut the stream short
      c.res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });

  const archivePath = (c: RouteContext): string => {
    const p = c.query.get("path") ?? "";
    if (p === "") throw invalid("bad parameter: path cannot be empty", { code: "query.invalid", field: "path" });
    return p;
  };

  router.head("/containers/{name}/archive", async (c) => {
    const stat = await svc.archiveStat(c.params.name as string, archivePath(c));
    c.res.writeHead(200, { "X-Docker-Container-Path-Stat": encodePathStat(stat), "Content-Type": "application/json" });
    c.res.end();
  });

  router.get("/containers/{name}/archive", async (c) => {
    const p = archivePath(c);
    let started = false;
    try {
      await svc.archiveGet(c.params.name as string, p, c.res, (stat) => {
        started = true;
        c.res.writeHead(200, { "Content-Type": "application/x-tar", "X-Docker-Container-Path-Stat": encodePathStat(stat) });
      });
    } catch (err) {
      if (!started) throw err;
      c.res.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  });

  router.put("/containers/{name}/archive", async (c) => {
    const p = archivePath(c);
    await svc.archivePut(c.params.name as string, p, c.req, { noOverwriteDirNonDir: c.query.bool("noOverwriteDirNonDir"), copyUIDGID: c.query.bool("copyUIDGID") });
    sendEmpty(c.res, 200);
  });

  router.post("/containers/{name}/update", async (c) => {
    const body = await readJSON(c.req, "ContainerUpdate");
    sendJSON(c.res, 200, await svc.update(c.params.name as string, (body ?? {}) as Record<string, unknown>));
  });

  router.get("/containers/{name}/attach/ws", (c) => attachWebSocket(c, svc, active));

  router.post("/commit", async (c) => {
    const ref = c.query.get("container") ?? "";
    if (ref === "") throw notFound("No such container: ", { code: "container.not-found" });
    const body = await readJSON(c.req, "ImageCommit");
    if (body !== undefined && body !== null && (typeof body !== "object" || Array.isArray(body))) throw invalid("the commit body must be a container config (a JSON object)", { code: "commit.invalid" });
    // pause defaults to true since API 1.13
    const pause = c.query.has("pause") && c.query.get("pause") !== "" ? c.query.bool("pause") : true;
    const opts: Parameters<ContainerService["commit"]>[1] = { pause, changes: c.query.all("changes") };
    for (const k of ["repo", "tag", "comment", "author"] as const) {
      const v = c.query.get(k);
      if (v) opts[k] = v;
    }
    if (body && Object.keys(body).length > 0) opts.config = body as CreateBody;
    const res = await svc.commit(ref, opts);
    sendJSON(c.res, 201, res);
  });

  // a link's name has the parent's in it (DELETE /containers/parent/alias?link=1)
  router.delete("/containers/{name:.*}", async (c) => {
    const name = c.params.name as string;
    if (c.query.bool("link")) await svc.removeLink(name);
    else await svc.remove(name, { force: c.query.bool("force"), volumes: c.query.bool("v") });
    sendEmpty(c.res, 204);
  });

  execRoutes(router, svc, active);

  return {
    close: () => {
      for (const end of [...active]) end();
    },
  };
}

async function wait(c: RouteContext, svc: ContainerService): Promise<void> {
  let condition: WaitCondition = "not-running";
  const legacy = !versionAtLeast(c.version, "1.30");
  const v = c.query.get("condition");
  if (!legacy && v) {
    if (v === "not-running" || v === "next-exit" || v === "removed") condition = v;
    // API 1.42 and later refuse an unknown condition; older versions wait for not-running, as moby does
    else if (versionAtLeast(c.version, "1.42")) throw invalid(`invalid condition: "${v}"`, { code: "query.invalid", field: "condition" });
  }
  // a missing container is a 404 before any header; the wait is registered before the headers
  // go out, since a client may start the container as soon as it sees them. A client that goes
  // away cancels the wait (c.signal).
  const id = svc.resolveId(c.params.name as string);
  const result = svc.wait(id, condition, { signal: c.signal });
  // awaited below, after the headers: this only keeps a rejection meanwhile from counting as unhandled
  result.catch(() => undefined);
  c.res.setHeader("Content-Type", "application/json");
  if (!legacy) {
    c.res.writeHead(200);
    c.res.flushHeaders();
  }
  let status;
  try {
    status = await result;
  } catch (err) {
    if (c.signal.aborted) return;
    status = { StatusCode: -1, Error: { Message: err instanceof Error ? err.message : String(err) } };
  }
  if (c.signal.aborted) return;
  const body: { StatusCode: number; Error?: { Message: string } } = { StatusCode: status.StatusCode };
  if (status.Error) body.Error = status.Error;
  if (legacy) {
    const text = JSON.stringify(body) + "\n";
    c.res.writeHead(200, { "Content-Length": Buffer.byteLength(text) });
    c.res.end(text);
  } else c.res.end(JSON.stringify(body) + "\n");
}

async function logs(c: RouteContext, svc: ContainerService): Promise<void> {
  const id = c.params.name as string;
  const stdout = c.query.bool("stdout");
  const stderr = c.query.bool("stderr");
  if (!stdout && !stderr) throw invalid("Bad parameters: you must choose at least one stream", { code: "query.invalid", field: "stdout" });
  const info = await svc.inspect(id);
  const tty = !!info.Config.Tty;
  const opts: LogsOptions = { follow: c.query.bool("follow"), stdout, stderr, signal: c.signal };
  const since = logTime(c, "since");
  if (since !== undefined) opts.since = since;
  const until = logTime(c, "until");
  if (until !== undefined) opts.until = until;
  const tail = c.query.get("tail");
  if (tail !== undefined && tail !== "" && tail !== "all") {
    const n = c.query.int("tail", -1);
    opts.tail = n < 0 ? "all" : n;
  }
  const timestamps = c.query.bool("timestamps");
  const entries = svc.logs(id, opts);
  const res = c.res;
  res.writeHead(200, { "Content-Type": streamContentType(c.version, tty) });
  res.flushHeaders();
  try {
    for await (const e of entries) {
      if (c.signal.aborted) break;
      const line = timestamps ? Buffer.concat([Buffer.from(`${fixedNanoTime(e.time)} `), e.line]) : e.line;
      const ok = res.write(tty ? line : muxFrame(e.stream === "stderr" ? STDERR : STDOUT, line));
      if (!ok) await drained(res);
    }
  } finally {
    if (!res.writableEnded) res.end();
  }
}

async function attach(c: RouteContext, svc: ContainerService, active: ActiveStreams): Promise<void> {
  const id = c.params.name as string;
  // attach has no body; one sent anyway is not stdin, and a bad one is no reason to refuse
  await readUpgradeJSON(c).catch((err: unknown) => {
    if (!(err instanceof CoveError)) throw err;
  });
  const info = await svc.inspect(id);
  if (info.State.Paused) throw conflict(`container ${info.Id} is paused, unpause the container before attach`, { code: "container.paused" });
  const detachKeys = parseDetachKeys(c.query.get("detachKeys") || DEFAULT_DETACH_KEYS);
  const tty = !!info.Config.Tty;
  const stdin = c.query.bool("stdin") && !!info.Config.OpenStdin;
  const closeStdin = !!info.Config.StdinOnce;
  // A live session with nothing for the daemon to do in the middle (no log to replay first, no
  // detach keys to watch for: those apply to a TTY's input) goes to the container's monitor,
  // which serves the client's connection itself: the bytes no longer pass through the daemon.
  const sock = c.upgrade?.socket;
  const direct = !!sock && handOverable(sock) && c.query.bool("stream") && !c.query.bool("logs") && !(tty && stdin);
  // A local client (cove's CLI) may offer its own stdin/stdout/stderr, to be handed on to the
  // monitor with the connection: the answer's header takes the offer, and the stream then opens
  // with PassFds.ASK from the monitor, or PassFds.NONE when the daemon serves it after all.
  const passFds = direct && !tty && c.req.headers[PASS_FDS_HEADER.toLowerCase()] === "1";
  let ready: (take: ((give: (fd: number, input: Buffer) => boolean) => boolean) | undefined) => void = () => undefined;
  const session = await svc.attach(id, {
    stdin,
    stdout: c.query.bool("stdout"),
    stderr: c.query.bool("stderr"),
    logs: c.query.bool("logs"),
    stream: c.query.bool("stream"),
    ...(direct ? { direct: { framed: !tty, closeStdin, passFds, ready: new Promise((r) => (ready = r)) } } : {}),
  });
  const h = hijack(c, c.upgrade ? streamContentType(c.version, tty) : "application/vnd.docker.raw-stream", passFds ? { [PASS_FDS_HEADER]: "1" } : {});
  if (sock && session.direct) {
    await h.headRead();
    ready((give) => handOver(sock, give));
    const ended = await session.direct;
    if (ended) {
      const end = () => session.close();
      active.add(end);
      await ended;
      active.delete(end);
      return;
    }
  }
  if (passFds) h.output.write(Buffer.from([PassFds.NONE]));
  await pipeSession(h, session, { tty, stdin, closeStdin, detachKeys, signal: c.signal }, active);
}

async function stats(c: RouteContext, svc: ContainerService): Promise<void> {
  const stream = c.query.bool("stream", true);
  const oneShot = c.query.bool("one-shot");
  if (stream && oneShot) throw invalid("cannot have stream=true and one-shot=true", { code: "query.invalid", field: "one-shot" });
  svc.resolveId(c.params.name as string); // a 404 before the headers go out
  const samples = svc.stats(c.params.name as string, { stream, oneShot, signal: c.signal });
  if (!stream) {
    const first = await samples.next();
    c.res.writeHead(200, { "Content-Type": "application/json" });
    c.res.end(JSON.stringify(first.value ?? null) + "\n");
    return;
  }
  c.res.writeHead(200, { "Content-Type": "application/json" });
  c.res.flushHeaders();
  try {
    for await (const s of samples) {
      if (c.signal.aborted || c.res.destroyed) break;
      c.res.write(JSON.stringify(s) + "\n");
    }
  } finally {
    if (!c.res.writableEnded) c.res.end();
  }
}

/**
 * GET /containers/{id}/attach/ws: the container's stdio over a WebSocket. Output goes out raw (not
 * multiplexed, stdout and stderr together) in binary frames (text frames before API 1.28, as
 * dockerd); each message the client sends is written to stdin.
 */
async function attachWebSocket(c: RouteContext, svc: ContainerService, active: ActiveStreams): Promise<void> {
  const id = c.params.name as string;
  const info = await svc.inspect(id);
  if (!c.upgrade || !isWebSocketRequest(c.req.headers)) {
    throw invalid("this endpoint needs a WebSocket handshake (Upgrade: websocket with a Sec-WebSocket-Key)", { code: "attach.websocket" });
  }
  if (info.State.Paused) throw conflict(`container ${info.Id} is paused, unpause the container before attach`, { code: "container.paused" });
  const stdin = c.query.bool("stdin") && !!info.Config.OpenStdin;
  const session = await svc.attach(id, { stdin, stdout: c.query.bool("stdout"), stderr: c.query.bool("stderr"), logs: c.query.bool("logs"), stream: c.query.bool("stream") });
  const { socket, head } = c.upgrade;
  let done = false;
  const ws = acceptWebSocket(socket, head, String(c.req.headers["sec-websocket-key"]), {
    binary: versionAtLeast(c.version, "1.28"),
    onMessage: (data) => {
      if (!stdin) return;
      // the socket is not read while the container has not taken the last message
      socket.pause();
      void session.write(data).then(() => socket.resume());
    },
    onClose: () => {
      done = true;
      session.close();
    },
  });
  const kill = () => ws.close(1001);
  active.add(kill);
  try {
    for await (const chunk of session.output) {
      if (done) break;
      if (chunk.data.length === 0) continue;
      if (!ws.send(chunk.data)) await drained(socket);
    }
  } finally {
    active.delete(kill);
    ws.close(1000);
  }
}

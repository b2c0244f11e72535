// The differential suite's table: for each endpoint of the Engine API swagger, the requests sent to
// both daemons (success and error cases), with the set-up each needs and the clean-up after it;
// and the endpoints not compared, each with the reason and a check of cove's own answer.
//
// A case runs on one daemon at a time with the same steps: setup(side), the request, after(side)
// (what the request changed, read back), cleanup(side). Names start with "cf-"; the shared
// fixtures (fixtures() below) are made once per daemon:
//   cf-idle   running `sleep`, on the default bridge
//   cf-tty    running `sleep` with a TTY, no network
//   cf-done   exited 0 after writing "out" to stdout, "err" to stderr and /tmp/d/f
//   cf-vol    a named volume; cf-net a bridge network on a subnet of the side's own

import { readFile } from "node:fs/promises";
import type { Req, Resp, Side } from "./harness.js";

export interface Case {
  /** "METHOD /path" exactly as in the swagger. */
  endpoint: string;
  /** What this case sends, in a few words. */
  name: string;
  setup?: (s: Side) => Promise<unknown>;
  request: (s: Side) => Req | Promise<Req>;
  /** How the body is compared; by default from the content type (JSON shape, multiplexed stream, tar names, text). */
  body?: "shape" | "value" | "mux" | "text" | "tar" | "json-stream" | "none";
  /** A value read back after the request (state it changed), compared exactly after normalising ids and times. */
  after?: (s: Side, r: Resp) => Promise<unknown>;
  cleanup?: (s: Side) => Promise<unknown>;
  /** Differences known and accepted: each difference line must match one of `lines`; the reason says why. */
  expectDifference?: { reason: string; lines: RegExp[] };
}

/** An endpoint not compared side by side, with the reason, and what cove must answer instead. */
export interface NotCompared {
  endpoint: string;
  reason: string;
  /** A request to cove and the status and message it must give (a clear error). */
  cove: Req;
  /** The status cove must answer (one of them, while another change is under way). */
  status: number | number[];
  message: RegExp;
}

const json = (method: string, path: string, body?: unknown): Req => (body === undefined ? { method, path } : { method, path, body });
const q = (v: unknown) => encodeURIComponent(typeof v === "string" ? v : JSON.stringify(v));

/** Fails with the daemon's answer unless the status is one of `ok`. */
async function must(s: Side, r: Req, ...ok: number[]): Promise<Resp> {
  const res = await s.req(r);
  if (!ok.includes(res.status)) throw new Error(`${s.name}: ${r.method} ${r.path} answered ${res.status}: ${res.raw.toString().slice(0, 300)}`);
  return res;
}

const bodyJSON = (r: Resp): unknown => JSON.parse(r.raw.toString() || "null");

export async function create(s: Side, name: string, config: Record<string, unknown>): Promise<string> {
  const r = await must(s, json("POST", `/containers/create?name=${name}`, { Image: "busybox", HostConfig: { NetworkMode: "none" }, ...config }), 201);
  return (bodyJSON(r) as { Id: string }).Id;
}
export const start = (s: Side, name: string) => must(s, json("POST", `/containers/${name}/start`), 204, 304);
export const waitExit = (s: Side, name: string) => must(s, json("POST", `/containers/${name}/wait`), 200);
export async function inspect(s: Side, name: string): Promise<Record<string, unknown>> {
  return bodyJSON(await must(s, json("GET", `/containers/${name}/json`), 200)) as Record<string, unknown>;
}
/** Removes containers, volumes, networks and images by name; absent ones are fine. */
export async function remove(s: Side, what: { containers?: string[]; volumes?: string[]; networks?: string[]; images?: string[] }): Promise<void> {
  for (const c of what.containers ?? []) await must(s, json("DELETE", `/containers/${c}?force=1&v=1`), 204, 404);
  for (const v of what.volumes ?? []) await must(s, json("DELETE", `/volumes/${v}?force=1`), 204, 404);
  for (const n of what.networks ?? []) await must(s, json("DELETE", `/networks/${n}`), 204, 404);
  for (const i of what.images ?? []) await must(s, json("DELETE", `/images/${i}?force=1`), 200, 404);
}
const sleeper = (name: string, extra: Record<string, unknown> = {}) => async (s: Side) => {
  await create(s, name, { Cmd: ["sleep", "600"], ...extra });
  await start(s, name);
};

/** The shared fixtures (see the header), on one daemon. */
export async function fixtures(s: Side): Promise<void> {
  await create(s, "cf-idle", { Cmd: ["sleep", "3600"], HostConfig: {} });
  await start(s, "cf-idle");
  await create(s, "cf-tty", { Cmd: ["sleep", "3600"], Tty: true, OpenStdin: true });
  await start(s, "cf-tty");
  await create(s, "cf-done", { Cmd: ["sh", "-c", "echo out; echo err >&2; mkdir -p /tmp/d; echo x > /tmp/d/f"] });
  await start(s, "cf-done");
  await waitExit(s, "cf-done");
  await must(s, json("POST", "/volumes/create", { Name: "cf-vol" }), 201);
  await must(s, json("POST", "/networks/create", { Name: "cf-net", CheckDuplicate: true, IPAM: { Config: [{ Subnet: s.subnet(0) }] } }), 201);
}

/** A tar with one file, written by hand (ustar), for archive uploads and builds. */
export function tarOf(files: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, "latin1");
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(data.length.toString(8).padStart(11, "0") + "\0", 124);
    h.write("14000000000\0", 136);
    h.write("        ", 148);
    h.write("0", 156);
    h.write("ustar\0" + "00", 257, "latin1");
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A difference where cove answers as newer dockerds (23 and later) do at every API version. */
function newer(what: string, ...lines: RegExp[]): { reason: string; lines: RegExp[] } {
  return { reason: `newer dockerds answer so at every API version: ${what}`, lines };
}

const FILTER_WORDING = newer("\"invalid filter 'NAME'\", in lower case", /^message: cove "invalid filter '[^']*'", dockerd "Invalid filter '[^']*'"$/);
const REFERENCE_WORDING = newer("the reference parser names the repository it refuses", /^message: cove "invalid reference format: repository name \(library\/[A-Za-z]+\) must be lowercase", dockerd "invalid reference format: repository name must be lowercase"$/);
const OOM_KILL_DISABLE = { reason: "dockerd 20.10 fills in OomKillDisable false at create on cgroup v1; cove leaves it unset (null), which the swagger allows and clients read as false", lines: [/^body\.\$\.HostConfig\.OomKillDisable: cove "null", dockerd "boolean"$/] };
const SAVE_FORMAT = { reason: "cove saves in the layout dockerd 25 and later write (an OCI layout: oci-layout, index.json, blobs/sha256, with Docker's manifest.json beside it); dockerd 20.10 writes the legacy layout (<id>/layer.tar, <id>.json); both daemons load either", lines: [/^body: tar entries only cove has: blobs\/ blobs\/sha256\/ blobs\/sha256\/<id> index\.json oci-layout$/, /^body: tar entries only dockerd has: <id>\.json <id>\/ <id>\/VERSION <id>\/json <id>\/layer\.tar$/] };
const LOGS_TYPE = newer("logs come as application/vnd.docker.raw-stream below API 1.42, where dockerd 20.10 sends no content type", /^content-type: cove application\/vnd\.docker\.raw-stream, dockerd \(none\)$/);

/** The parts of State that do not differ between two daemons (no pids or times). */
function state(i: Record<string, unknown>): unknown {
  const st = i.State as Record<string, unknown>;
  return { Status: st.Status, Running: st.Running, Paused: st.Paused, ExitCode: st.ExitCode, OOMKilled: st.OOMKilled, Dead: st.Dead, Error: st.Error };
}

/** Joining: dockerd checks the token and fails with 500; cove refuses any join first, since it runs no swarm mode. */
const joinDifference = {
  reason: "cove runs no swarm mode: a join is refused (503, saying to use Kubernetes) before the token is read, where dockerd 20.10 fails on the bad token with 500",
  lines: [/^status: cove 503, dockerd 500$/, /^message: cove "cove does not run swarm mode/],
};

function swarmCases(): Case[] {
  const out: Case[] = [];
  const add = (endpoint: string, path: string, body?: unknown) => {
    const [method] = endpoint.split(" ");
    out.push({ endpoint, name: "outside a swarm", request: () => json(method!, path, body), ...(endpoint === "POST /swarm/join" ? { expectDifference: joinDifference } : {}) });
  };
  add("GET /nodes", "/nodes");
  add("GET /nodes/{id}", "/nodes/cf-missing");
  add("DELETE /nodes/{id}", "/nodes/cf-missing");
  add("POST /nodes/{id}/update", "/nodes/cf-missing/update?version=1", {});
  add("GET /swarm", "/swarm");
  add("POST /swarm/join", "/swarm/join", { ListenAddr: "127.0.0.1:2377", RemoteAddrs: ["127.0.0.1:1"], JoinToken: "SWMTKN-1-x" });
  add("POST /swarm/leave", "/swarm/leave");
  add("POST /swarm/update", "/swarm/update?version=1", {});
  add("GET /swarm/unlockkey", "/swarm/unlockkey");
  add("POST /swarm/unlock", "/swarm/unlock", { UnlockKey: "SWMKEY-1-x" });
  add("GET /services", "/services");
  add("POST /services/create", "/services/create", { Name: "cf-svc", TaskTemplate: { ContainerSpec: { Image: "busybox" } } });
  add("GET /services/{id}", "/services/cf-missing");
  add("DELETE /services/{id}", "/services/cf-missing");
  add("POST /services/{id}/update", "/services/cf-missing/update?version=1", { TaskTemplate: { ContainerSpec: { Image: "busybox" } } });
  add("GET /services/{id}/logs", "/services/cf-missing/logs?stdout=1");
  add("GET /tasks", "/tasks");
  add("GET /tasks/{id}", "/tasks/cf-missing");
  add("GET /tasks/{id}/logs", "/tasks/cf-missing/logs?stdout=1");
  add("GET /secrets", "/secrets");
  add("POST /secrets/create", "/secrets/create", { Name: "cf-secret", Data: "eA==" });
  add("GET /secrets/{id}", "/secrets/cf-missing");
  add("DELETE /secrets/{id}", "/secrets/cf-missing");
  add("POST /secrets/{id}/update", "/secrets/cf-missing/update?version=1", {});
  add("GET /configs", "/configs");
  add("POST /configs/create", "/configs/create", { Name: "cf-config", Data: "eA==" });
  add("GET /configs/{id}", "/configs/cf-missing");
  add("DELETE /configs/{id}", "/configs/cf-missing");
  add("POST /configs/{id}/update", "/configs/cf-missing/update?version=1", {});
  return out;
}

export function cases(): Case[] {
  const list: Case[] = [
    // ---- containers
    { endpoint: "GET /containers/json", name: "all, filtered by name", request: () => json("GET", `/containers/json?all=1&filters=${q({ name: ["cf-"] })}`) },
    { endpoint: "GET /containers/json", name: "running ones with sizes", request: () => json("GET", `/containers/json?size=1&filters=${q({ name: ["cf-idle"] })}`) },
    { endpoint: "GET /containers/json", name: "filters that are not JSON", request: () => json("GET", "/containers/json?filters=notjson"), expectDifference: newer("malformed filters are the caller's error (400, not 500), worded by the JSON parser", /^status: cove 400, dockerd 500$/, /^message: cove "invalid filter: /) },
    { endpoint: "GET /containers/json", name: "an unknown status filter", request: () => json("GET", `/containers/json?filters=${q({ status: ["bogus"] })}`), expectDifference: FILTER_WORDING },
    { endpoint: "GET /containers/json", name: "an unknown filter", request: () => json("GET", `/containers/json?filters=${q({ bogus: ["x"] })}`), expectDifference: FILTER_WORDING },

    { endpoint: "POST /containers/create", name: "a plain container", request: () => json("POST", "/containers/create?name=cf-create", { Image: "busybox", Cmd: ["true"] }), after: async (s) => state(await inspect(s, "cf-create")), cleanup: (s) => remove(s, { containers: ["cf-create"] }) },
    { endpoint: "POST /containers/create", name: "an image that does not exist", request: () => json("POST", "/containers/create?name=cf-create", { Image: "cf-nosuch:1" }) },
    { endpoint: "POST /containers/create", name: "a name in use", request: () => json("POST", "/containers/create?name=cf-idle", { Image: "busybox" }) },
    { endpoint: "POST /containers/create", name: "an invalid name", request: () => json("POST", "/containers/create?name=a/b", { Image: "busybox" }) },
    { endpoint: "POST /containers/create", name: "a body that is not JSON", request: () => ({ method: "POST", path: "/containers/create", body: "{nope" }), expectDifference: newer("a malformed body is the caller's error (400, not 500), worded by the JSON parser", /^status: cove 400, dockerd 500$/, /^message: cove "invalid JSON in the request body: / ) },
    { endpoint: "POST /containers/create", name: "a negative memory limit", request: () => json("POST", "/containers/create?name=cf-create", { Image: "busybox", HostConfig: { Memory: -5 } }), cleanup: (s) => remove(s, { containers: ["cf-create"] }) },
    {
      endpoint: "POST /containers/create",
      name: "Entrypoint [\"\"] (no entrypoint)",
      request: () => json("POST", "/containers/create?name=cf-ep", { Image: "busybox", Entrypoint: [""], Cmd: ["echo", "x"] }),
      after: async (s) => {
        const i = await inspect(s, "cf-ep");
        return { Path: i.Path, Args: i.Args, Entrypoint: (i.Config as Record<string, unknown>).Entrypoint };
      },
      cleanup: (s) => remove(s, { containers: ["cf-ep"] }),
    },
    {
      endpoint: "POST /containers/create",
      name: "MacAddress",
      request: () => json("POST", "/containers/create?name=cf-mac", { Image: "busybox", MacAddress: "02:42:ac:11:00:99" }),
      after: async (s) => ((await inspect(s, "cf-mac")).Config as Record<string, unknown>).MacAddress,
      cleanup: (s) => remove(s, { containers: ["cf-mac"] })
    },
    {
      endpoint: "POST /containers/create",
      name: "AutoRemove with a restart policy",
      request: () => json("POST", "/containers/create?name=cf-ar", { Image: "busybox", HostConfig: { AutoRemove: true, RestartPolicy: { Name: "always" } } }),
      cleanup: (s) => remove(s, { containers: ["cf-ar"] })
    },

    { endpoint: "GET /containers/{id}/json", name: "a running container", request: () => json("GET", "/containers/cf-idle/json"), expectDifference: OOM_KILL_DISABLE },
    { endpoint: "GET /containers/{id}/json", name: "an exited container, with sizes", request: () => json("GET", "/containers/cf-done/json?size=1"), expectDifference: OOM_KILL_DISABLE },
    { endpoint: "GET /containers/{id}/json", name: "a container that does not exist", request: () => json("GET", "/containers/cf-missing/json") },

    { endpoint: "GET /containers/{id}/top", name: "a running container", request: () => json("GET", "/containers/cf-idle/top") },
    { endpoint: "GET /containers/{id}/top", name: "a stopped container", request: () => json("GET", "/containers/cf-done/top") },
    { endpoint: "GET /containers/{id}/top", name: "a container that does not exist", request: () => json("GET", "/containers/cf-missing/top") },

    { endpoint: "GET /containers/{id}/logs", name: "stdout and stderr", request: () => json("GET", "/containers/cf-done/logs?stdout=1&stderr=1"), body: "mux", expectDifference: LOGS_TYPE },
    { endpoint: "GET /containers/{id}/logs", name: "stderr only, with timestamps", request: () => json("GET", "/containers/cf-done/logs?stderr=1&timestamps=1"), body: "mux", expectDifference: LOGS_TYPE },
    { endpoint: "GET /containers/{id}/logs", name: "the last two lines (one per stream: their order across streams is not defined)", request: () => json("GET", "/containers/cf-done/logs?stdout=1&stderr=1&tail=2"), body: "mux", expectDifference: LOGS_TYPE },
    { endpoint: "GET /containers/{id}/logs", name: "no stream chosen", request: () => json("GET", "/containers/cf-done/logs") },
    { endpoint: "GET /containers/{id}/logs", name: "a container that does not exist", request: () => json("GET", "/containers/cf-missing/logs?stdout=1") },

    { endpoint: "GET /containers/{id}/changes", name: "an exited container", request: () => json("GET", "/containers/cf-done/changes"), body: "value" },
    { endpoint: "GET /containers/{id}/changes", name: "a container that does not exist", request: () => json("GET", "/containers/cf-missing/changes") },

    { endpoint: "GET /containers/{id}/export", name: "an exited container", request: () => json("GET", "/containers/cf-done/export"), body: "tar", expectDifference: { reason: "dockerd 20.10 sends no type of its own (Go sniffs application/octet-stream), cove application/x-tar", lines: [/^content-type: cove application\/x-tar, dockerd application\/octet-stream$/] } },
    { endpoint: "GET /containers/{id}/export", name: "a container that does not exist", request: () => json("GET", "/containers/cf-missing/export") },

    { endpoint: "GET /containers/{id}/stats", name: "one sample of a running container", request: () => json("GET", "/containers/cf-idle/stats?stream=0") },
    { endpoint: "GET /containers/{id}/stats", name: "one-shot", request: () => json("GET", "/containers/cf-idle/stats?stream=0&one-shot=1") },
    { endpoint: "GET /containers/{id}/stats", name: "a stream, two samples", request: () => ({ ...json("GET", "/containers/cf-idle/stats"), enough: (b) => b.toString().split("\n").filter(Boolean).length >= 2 }), body: "json-stream", expectDifference: { reason: "dockerd 20.10 sends a stats stream without a content type; cove says application/json, as for one sample", lines: [/^content-type: cove application\/json, dockerd \(none\)$/] } },
    { endpoint: "GET /containers/{id}/stats", name: "a stopped container", request: () => json("GET", "/containers/cf-done/stats?stream=0") },
    { endpoint: "GET /containers/{id}/stats", name: "a container that does not exist", request: () => json("GET", "/containers/cf-missing/stats?stream=0") },

    { endpoint: "POST /containers/{id}/resize", name: "a TTY container", request: () => json("POST", "/containers/cf-tty/resize?h=30&w=100") },
    { endpoint: "POST /containers/{id}/resize", name: "a height that is not a number", request: () => json("POST", "/containers/cf-tty/resize?h=abc&w=100"), expectDifference: { reason: "dockerd words it as Go's strconv error; cove names the parameter", lines: [/^message: cove "invalid value for h: /] } },
    { endpoint: "POST /containers/{id}/resize", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/resize?h=30&w=100") },

    { endpoint: "POST /containers/{id}/start", name: "a created container", setup: (s) => create(s, "cf-start", { Cmd: ["sleep", "600"] }), request: () => json("POST", "/containers/cf-start/start"), after: async (s) => state(await inspect(s, "cf-start")), cleanup: (s) => remove(s, { containers: ["cf-start"] }) },
    { endpoint: "POST /containers/{id}/start", name: "a running container", request: () => json("POST", "/containers/cf-idle/start") },
    { endpoint: "POST /containers/{id}/start", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/start") },

    { endpoint: "POST /containers/{id}/stop", name: "a running container", setup: sleeper("cf-stop"), request: () => json("POST", "/containers/cf-stop/stop?t=0"), after: async (s) => state(await inspect(s, "cf-stop")), cleanup: (s) => remove(s, { containers: ["cf-stop"] }) },
    { endpoint: "POST /containers/{id}/stop", name: "a stopped container", request: () => json("POST", "/containers/cf-done/stop") },
    { endpoint: "POST /containers/{id}/stop", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/stop") },

    { endpoint: "POST /containers/{id}/restart", name: "a running container", setup: sleeper("cf-restart"), request: () => json("POST", "/containers/cf-restart/restart?t=0"), after: async (s) => ({ Running: ((await inspect(s, "cf-restart")).State as Record<string, unknown>).Running }), cleanup: (s) => remove(s, { containers: ["cf-restart"] }) },
    { endpoint: "POST /containers/{id}/restart", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/restart") },

    { endpoint: "POST /containers/{id}/kill", name: "a running container, SIGKILL", setup: sleeper("cf-kill"), request: () => json("POST", "/containers/cf-kill/kill"), after: async (s) => (await waitExit(s, "cf-kill")) && ((await inspect(s, "cf-kill")).State as Record<string, unknown>).ExitCode, cleanup: (s) => remove(s, { containers: ["cf-kill"] }) },
    { endpoint: "POST /containers/{id}/kill", name: "an unknown signal", request: () => json("POST", "/containers/cf-idle/kill?signal=BOGUS") },
    { endpoint: "POST /containers/{id}/kill", name: "a stopped container", request: () => json("POST", "/containers/cf-done/kill") },
    { endpoint: "POST /containers/{id}/kill", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/kill") },

    { endpoint: "POST /containers/{id}/update", name: "CPU shares and restart policy", setup: sleeper("cf-upd"), request: () => json("POST", "/containers/cf-upd/update", { CpuShares: 512, RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } }), after: async (s) => { const h = (await inspect(s, "cf-upd")).HostConfig as Record<string, unknown>; return [h.CpuShares, h.RestartPolicy]; }, cleanup: (s) => remove(s, { containers: ["cf-upd"] }) },
    { endpoint: "POST /containers/{id}/update", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/update", { CpuShares: 512 }) },

    { endpoint: "POST /containers/{id}/rename", name: "to a free name", setup: (s) => create(s, "cf-ren", {}), request: () => json("POST", "/containers/cf-ren/rename?name=cf-ren2"), after: async (s) => (await inspect(s, "cf-ren2")).Name, cleanup: (s) => remove(s, { containers: ["cf-ren", "cf-ren2"] }) },
    { endpoint: "POST /containers/{id}/rename", name: "to a name in use", request: () => json("POST", "/containers/cf-done/rename?name=cf-idle") },
    { endpoint: "POST /containers/{id}/rename", name: "without a name", request: () => json("POST", "/containers/cf-done/rename?name=") },
    { endpoint: "POST /containers/{id}/rename", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/rename?name=cf-x") },

    { endpoint: "POST /containers/{id}/pause", name: "a running container", setup: sleeper("cf-pause"), request: () => json("POST", "/containers/cf-pause/pause"), after: async (s) => ((await inspect(s, "cf-pause")).State as Record<string, unknown>).Status, cleanup: (s) => remove(s, { containers: ["cf-pause"] }) },
    { endpoint: "POST /containers/{id}/pause", name: "a stopped container", request: () => json("POST", "/containers/cf-done/pause") },
    { endpoint: "POST /containers/{id}/pause", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/pause") },
    { endpoint: "POST /containers/{id}/unpause", name: "a paused container", setup: async (s) => { await sleeper("cf-unpause")(s); await must(s, json("POST", "/containers/cf-unpause/pause"), 204); }, request: () => json("POST", "/containers/cf-unpause/unpause"), after: async (s) => ((await inspect(s, "cf-unpause")).State as Record<string, unknown>).Status, cleanup: (s) => remove(s, { containers: ["cf-unpause"] }) },
    { endpoint: "POST /containers/{id}/unpause", name: "a container that is not paused", request: () => json("POST", "/containers/cf-idle/unpause"), expectDifference: newer("a container in the wrong state is a conflict (409, not 500)", /^status: cove 409, dockerd 500$/) },
    { endpoint: "POST /containers/{id}/unpause", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/unpause") },

    {
      endpoint: "POST /containers/{id}/attach",
      name: "hijacked, then started: stdout and stderr multiplexed",
      setup: (s) => create(s, "cf-att", { Cmd: ["sh", "-c", "echo out; echo err >&2"] }),
      request: (s) => ({ ...json("POST", "/containers/cf-att/attach?stream=1&stdout=1&stderr=1"), upgrade: "tcp", during: () => start(s, "cf-att") }),
      body: "mux",
      cleanup: (s) => remove(s, { containers: ["cf-att"] }),
    },
    {
      endpoint: "POST /containers/{id}/attach",
      name: "stdin to a TTY-less container, 1 MiB",
      setup: (s) => create(s, "cf-stdin", { Cmd: ["wc", "-c"], OpenStdin: true, StdinOnce: true, AttachStdin: true }),
      request: (s) => ({ ...json("POST", "/containers/cf-stdin/attach?stream=1&stdin=1&stdout=1&stderr=1"), upgrade: "tcp", during: () => start(s, "cf-stdin"), stdin: Buffer.alloc(1 << 20, 0x61), readMs: 10_000 }),
      body: "mux",
      cleanup: (s) => remove(s, { containers: ["cf-stdin"] }),
    },
    {
      endpoint: "POST /containers/{id}/attach",
      name: "logs=1&stream=0 of an exited container",
      request: () => json("POST", "/containers/cf-done/attach?logs=1&stream=0&stdout=1&stderr=1"),
      body: "mux"
    },
    {
      endpoint: "POST /containers/{id}/attach",
      name: "a container that does not exist",
      request: () => ({ ...json("POST", "/containers/cf-missing/attach?stream=1&stdout=1"), upgrade: "tcp" }),
      expectDifference: { reason: "same status and words; dockerd 20.10 writes the error as plain text under the raw-stream type, cove as Docker's JSON error before upgrading", lines: [/^content-type: cove application\/json, dockerd application\/vnd\.docker\.raw-stream$/, /^message: cove "No such container: cf-missing", dockerd "\(not JSON\) No such container: cf-missing"$/] },
    },

    { endpoint: "GET /containers/{id}/attach/ws", name: "the WebSocket handshake", request: () => ({ ...json("GET", "/containers/cf-idle/attach/ws?stream=1&stdout=1"), upgrade: "websocket" }), body: "none" },
    { endpoint: "GET /containers/{id}/attach/ws", name: "a container that does not exist", request: () => ({ ...json("GET", "/containers/cf-missing/attach/ws?stream=1"), upgrade: "websocket" }) },

    { endpoint: "POST /containers/{id}/wait", name: "an exited container", request: () => json("POST", "/containers/cf-done/wait"), body: "value", expectDifference: newer("an Error of null is omitted (omitempty)", /^body: cove \{"StatusCode":0\}, dockerd \{"Error":null,"StatusCode":0\}$/) },
    { endpoint: "POST /containers/{id}/wait", name: "an unknown condition (refused from API 1.42 on)", request: () => json("POST", "/containers/cf-done/wait?condition=bogus"), expectDifference: newer("an Error of null is omitted (omitempty)", /^body\.\$\.Error: only dockerd has it/) },
    { endpoint: "POST /containers/{id}/wait", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/wait") },

    { endpoint: "DELETE /containers/{id}", name: "a created container", setup: (s) => create(s, "cf-del", {}), request: () => json("DELETE", "/containers/cf-del"), after: async (s) => (await s.req(json("GET", "/containers/cf-del/json"))).status },
    { endpoint: "DELETE /containers/{id}", name: "a running container without force", request: () => json("DELETE", "/containers/cf-idle"), expectDifference: newer("the wording of removing a running container", /^message: cove "cannot remove container \\"\/cf-idle\\": container is running: stop the container before removing or force remove"/) },
    { endpoint: "DELETE /containers/{id}", name: "a running container, forced, with its volumes", setup: sleeper("cf-delf", { Volumes: { "/data": {} } }), request: () => json("DELETE", "/containers/cf-delf?force=1&v=1") },
    { endpoint: "DELETE /containers/{id}", name: "a container that does not exist", request: () => json("DELETE", "/containers/cf-missing") },

    { endpoint: "HEAD /containers/{id}/archive", name: "a file's stat", request: () => json("HEAD", "/containers/cf-done/archive?path=/tmp/d/f"), after: async (_s, r) => shapeOfStat(r) },
    { endpoint: "HEAD /containers/{id}/archive", name: "a path that does not exist", request: () => json("HEAD", "/containers/cf-done/archive?path=/nope") },
    { endpoint: "GET /containers/{id}/archive", name: "a directory", request: () => json("GET", "/containers/cf-done/archive?path=/tmp/d"), after: async (_s, r) => shapeOfStat(r) },
    { endpoint: "GET /containers/{id}/archive", name: "a path that does not exist", request: () => json("GET", "/containers/cf-done/archive?path=/nope") },
    { endpoint: "GET /containers/{id}/archive", name: "without a path", request: () => json("GET", "/containers/cf-done/archive"), expectDifference: { reason: "dockerd 20.10's message lacks a space (\"pathcannot\")", lines: [/^message: cove "bad parameter: path cannot be empty", dockerd "bad parameter: pathcannot be empty"$/] } },
    {
      endpoint: "PUT /containers/{id}/archive",
      name: "a tar into /tmp",
      setup: (s) => create(s, "cf-put", {}),
      request: () => ({ method: "PUT", path: "/containers/cf-put/archive?path=/tmp", body: tarOf({ "hello.txt": "hi\n" }) }),
      after: async (s) => (await s.req(json("HEAD", "/containers/cf-put/archive?path=/tmp/hello.txt"))).status,
      cleanup: (s) => remove(s, { containers: ["cf-put"] }),
    },
    { endpoint: "PUT /containers/{id}/archive", name: "into a directory that does not exist", request: () => ({ method: "PUT", path: "/containers/cf-done/archive?path=/nope", body: tarOf({ "hello.txt": "hi\n" }) }) },

    { endpoint: "POST /containers/prune", name: "by label", setup: (s) => create(s, "cf-prune", { Labels: { "cf-prune": "1" } }), request: () => json("POST", `/containers/prune?filters=${q({ label: ["cf-prune=1"] })}`) },
    { endpoint: "POST /containers/prune", name: "an unknown filter", request: () => json("POST", `/containers/prune?filters=${q({ bogus: ["1"] })}`), expectDifference: FILTER_WORDING },

    // ---- images
    { endpoint: "GET /images/json", name: "all", request: () => json("GET", "/images/json") },
    { endpoint: "GET /images/json", name: "by reference", request: () => json("GET", `/images/json?filters=${q({ reference: ["busybox"] })}`) },
    { endpoint: "GET /images/json", name: "an unknown filter", request: () => json("GET", `/images/json?filters=${q({ bogus: ["1"] })}`), expectDifference: FILTER_WORDING },

    {
      endpoint: "POST /build",
      name: "FROM busybox and a RUN",
      request: () => ({ method: "POST", path: "/build?t=cf-built:1&rm=1", body: tarOf({ Dockerfile: "FROM busybox\nRUN echo built > /built\n" }) }),
      cleanup: (s) => remove(s, { images: ["cf-built:1"] }),
    },
    {
      endpoint: "POST /build/prune",
      name: "everything",
      request: () => json("POST", "/build/prune"),
      expectDifference: {
        reason: "dockerd 20.10 without BuildKit keeps no build cache (CachesDeleted null); cove's cache holds the steps of the build case before this one and lists their keys",
        lines: [/^body\.\$\.CachesDeleted: cove \["string"\], dockerd "null"$/],
      },
    },

    { endpoint: "POST /images/create", name: "import a rootfs tar (fromSrc=-)", request: async (s) => ({ method: "POST", path: "/images/create?fromSrc=-&repo=cf-imported&tag=1", body: await readFile(s.rootfsTar) }), cleanup: (s) => remove(s, { images: ["cf-imported:1"] }) },
    { endpoint: "POST /images/create", name: "an invalid reference", request: () => json("POST", "/images/create?fromImage=In::valid&tag=latest"), expectDifference: REFERENCE_WORDING },

    { endpoint: "GET /images/{name}/json", name: "busybox", request: () => json("GET", "/images/busybox/json"), expectDifference: { reason: "cove shows Container only for an image committed from a container, as Docker 28 does (dockerd 20.10 shows an empty string); GraphDriver.Data is empty, as cove's image layers are snapshots without overlay2 directories of their own (left as is)", lines: [/^body\.\$\.Container: only dockerd has it/, /^body\.\$\.GraphDriver\.Data: cove "\{\}", dockerd \{"<key>":"string"\}$/] } },
    { endpoint: "GET /images/{name}/json", name: "an image that does not exist", request: () => json("GET", "/images/cf-nosuch/json"), expectDifference: newer("No such image: NAME:latest, without 20.10's repeated prefix", /^message: cove "No such image: cf-nosuch:latest", dockerd "no such image: cf-nosuch: No such image: cf-nosuch:latest"$/) },
    { endpoint: "GET /images/{name}/history", name: "busybox", request: () => json("GET", "/images/busybox/history") },
    { endpoint: "GET /images/{name}/history", name: "an image that does not exist", request: () => json("GET", "/images/cf-nosuch/history") },

    { endpoint: "POST /images/{name}/push", name: "an image that does not exist", request: () => ({ ...json("POST", "/images/cf-nosuch/push?tag=1"), headers: { "X-Registry-Auth": "e30=" } }) },

    { endpoint: "POST /images/{name}/tag", name: "a new tag", request: () => json("POST", "/images/busybox/tag?repo=cf-tag&tag=1"), after: async (s) => (await s.req(json("GET", "/images/cf-tag:1/json"))).status, cleanup: (s) => remove(s, { images: ["cf-tag:1"] }) },
    { endpoint: "POST /images/{name}/tag", name: "an invalid repository name", request: () => json("POST", "/images/busybox/tag?repo=UPPER&tag=1"), expectDifference: { reason: REFERENCE_WORDING.reason + "; and a bad reference is the caller's error (400, not 500)", lines: [...REFERENCE_WORDING.lines, /^status: cove 400, dockerd 500$/] } },
    { endpoint: "POST /images/{name}/tag", name: "an image that does not exist", request: () => json("POST", "/images/cf-nosuch/tag?repo=cf-tag&tag=1") },

    { endpoint: "DELETE /images/{name}", name: "a tag", setup: (s) => must(s, json("POST", "/images/busybox/tag?repo=cf-del&tag=1"), 201), request: () => json("DELETE", "/images/cf-del:1") },
    { endpoint: "DELETE /images/{name}", name: "an image in use by a container", request: () => json("DELETE", "/images/busybox") },
    { endpoint: "DELETE /images/{name}", name: "an image that does not exist", request: () => json("DELETE", "/images/cf-nosuch") },

    { endpoint: "POST /images/prune", name: "dangling, by a label nothing has", request: () => json("POST", `/images/prune?filters=${q({ label: ["cf-none"] })}`) },
    { endpoint: "POST /images/prune", name: "an unknown filter", request: () => json("POST", `/images/prune?filters=${q({ bogus: ["1"] })}`), expectDifference: FILTER_WORDING },

    { endpoint: "POST /auth", name: "a registry that refuses connections (loopback)", request: () => json("POST", "/auth", { username: "u", password: "p", serveraddress: "127.0.0.1:1" }), expectDifference: { reason: "the same words; cove answers a registry it cannot reach as unavailable (503), dockerd with a 500", lines: [/^status: cove 503, dockerd 500$/] } },

    { endpoint: "GET /info", name: "the daemon", request: () => json("GET", "/info"), expectDifference: { reason: "cove's own runtime entry has runtimeArgs (the swagger's Runtime has them; dockerd's built-in runc has none)", lines: [/^body\.\$\.Runtimes\.<key>\.runtimeArgs: only cove has it/] } },
    { endpoint: "GET /version", name: "the daemon", request: () => json("GET", "/version") },
    { endpoint: "GET /_ping", name: "ping", request: () => json("GET", "/_ping"), body: "text", after: async (_s, r) => [r.headers["api-version"] !== undefined, r.headers["ostype"], r.headers["cache-control"], r.headers["pragma"]] },
    { endpoint: "HEAD /_ping", name: "ping", request: () => json("HEAD", "/_ping"), after: async (_s, r) => [r.headers["api-version"] !== undefined, r.headers["ostype"], r.headers["cache-control"], r.headers["pragma"]] },

    { endpoint: "POST /commit", name: "an exited container", request: () => json("POST", "/commit?container=cf-done&repo=cf-commit&tag=1", { Labels: { a: "b" } }), after: async (s) => { const i = bodyJSON(await must(s, json("GET", "/images/cf-commit:1/json"), 200)) as { Config: { Labels: unknown } }; return i.Config.Labels; }, cleanup: (s) => remove(s, { images: ["cf-commit:1"] }) },
    { endpoint: "POST /commit", name: "a container that does not exist", request: () => json("POST", "/commit?container=cf-missing&repo=cf-commit") },

    {
      endpoint: "GET /events",
      name: "a container's create and destroy, since..until",
      setup: async (s) => {
        await create(s, "cf-ev", { Labels: { "cf-ev": "1" } });
        await remove(s, { containers: ["cf-ev"] });
      },
      request: () => json("GET", `/events?since=${Math.floor(Date.now() / 1000) - 60}&until=${Math.floor(Date.now() / 1000) + 1}&filters=${q({ type: ["container"], label: ["cf-ev=1"] })}`),
      body: "json-stream",
    },
    {
      endpoint: "GET /events",
      name: "an unknown filter",
      // dockerd 20.10 accepts it and streams: read a moment of it
      request: () => ({ ...json("GET", `/events?filters=${q({ bogus: ["1"] })}`), readMs: 2000 }),
      expectDifference: { reason: "cove refuses an unknown event filter (400) as it does on every list endpoint; dockerd 20.10 ignores it and streams", lines: [/^status: cove 400, dockerd 200$/, /^content-type: /] },
    },
    { endpoint: "GET /system/df", name: "all", request: () => json("GET", "/system/df") },

    { endpoint: "GET /images/{name}/get", name: "busybox", request: () => json("GET", "/images/busybox/get"), expectDifference: SAVE_FORMAT },
    { endpoint: "GET /images/{name}/get", name: "an image that does not exist", request: () => json("GET", "/images/cf-nosuch/get"), expectDifference: { reason: "cove names the reference it looked up (with its :latest)", lines: [/^message: cove "No such image: cf-nosuch:latest", dockerd "No such image: cf-nosuch"$/] } },
    { endpoint: "GET /images/get", name: "busybox", request: () => json("GET", "/images/get?names=busybox"), expectDifference: SAVE_FORMAT },
    {
      endpoint: "POST /images/load",
      name: "what the same daemon saved",
      setup: async (s) => {
        const r = await must(s, json("GET", "/images/busybox/get"), 200);
        saved.set(s.name, r.raw);
        await remove(s, { images: ["cf-load:1"] });
      },
      request: (s) => ({ method: "POST", path: "/images/load?quiet=0", body: saved.get(s.name)! }),
    },
    {
      endpoint: "POST /images/load",
      name: "an archive that is not a tar",
      request: () => ({ method: "POST", path: "/images/load", body: Buffer.from("this is not a tar archive\n".repeat(40)) }),
    },

    // ---- exec
    { endpoint: "POST /containers/{id}/exec", name: "echo in a running container", request: () => json("POST", "/containers/cf-idle/exec", { Cmd: ["echo", "hi"], AttachStdout: true }) },
    { endpoint: "POST /containers/{id}/exec", name: "in a stopped container", request: () => json("POST", "/containers/cf-done/exec", { Cmd: ["echo", "hi"], AttachStdout: true }) },
    { endpoint: "POST /containers/{id}/exec", name: "without a command", request: () => json("POST", "/containers/cf-idle/exec", { AttachStdout: true }) },
    { endpoint: "POST /containers/{id}/exec", name: "a container that does not exist", request: () => json("POST", "/containers/cf-missing/exec", { Cmd: ["true"] }) },
    {
      endpoint: "POST /exec/{id}/start",
      name: "attached: stdout and stderr multiplexed",
      setup: async (s) => execIds.set(s.name, await execCreate(s, { Cmd: ["sh", "-c", "echo out; echo err >&2"], AttachStdout: true, AttachStderr: true })),
      request: (s) => ({ ...json("POST", `/exec/${execIds.get(s.name)}/start`, { Detach: false, Tty: false }), upgrade: "tcp" }),
      body: "mux",
      after: async (s) => { const i = bodyJSON(await must(s, json("GET", `/exec/${execIds.get(s.name)}/json`), 200)) as Record<string, unknown>; return [i.Running, i.ExitCode]; },
    },
    {
      endpoint: "POST /exec/{id}/start",
      name: "a binary that does not exist",
      setup: async (s) => execIds.set(s.name, await execCreate(s, { Cmd: ["cf-nosuch-binary"], AttachStdout: true, AttachStderr: true })),
      request: (s) => ({ ...json("POST", `/exec/${execIds.get(s.name)}/start`, { Detach: false, Tty: false }), upgrade: "tcp" }),
      body: "mux",
      after: async (s) => { const i = bodyJSON(await must(s, json("GET", `/exec/${execIds.get(s.name)}/json`), 200)) as Record<string, unknown>; return [i.Running, i.ExitCode]; },
      expectDifference: { reason: "dockerd 20.10 records 126 for a command it cannot find; moby 23 and later, and cove, record 127", lines: [/^after: cove \[127,false\], dockerd \[126,false\]$/] },
    },
    {
      endpoint: "POST /exec/{id}/start",
      name: "detached",
      setup: async (s) => execIds.set(s.name, await execCreate(s, { Cmd: ["true"] })),
      request: (s) => json("POST", `/exec/${execIds.get(s.name)}/start`, { Detach: true })
    },
    { endpoint: "POST /exec/{id}/start", name: "an exec that does not exist", request: () => json("POST", "/exec/cf-missing/start", { Detach: false }) },
    { endpoint: "POST /exec/{id}/resize", name: "an exec that does not exist", request: () => json("POST", "/exec/cf-missing/resize?h=30&w=100") },
    {
      endpoint: "GET /exec/{id}/json",
      name: "an exec not started",
      setup: async (s) => execIds.set(s.name, await execCreate(s, { Cmd: ["echo", "hi"], AttachStdout: true })),
      request: (s) => json("GET", `/exec/${execIds.get(s.name)}/json`),
    },
    { endpoint: "GET /exec/{id}/json", name: "an exec that does not exist", request: () => json("GET", "/exec/cf-missing/json") },

    // ---- volumes
    { endpoint: "GET /volumes", name: "by name", request: () => json("GET", `/volumes?filters=${q({ name: ["cf-vol"] })}`) },
    { endpoint: "GET /volumes", name: "an unknown filter", request: () => json("GET", `/volumes?filters=${q({ bogus: ["1"] })}`) },
    { endpoint: "POST /volumes/create", name: "named, with labels", request: () => json("POST", "/volumes/create", { Name: "cf-vc", Labels: { a: "b" } }), cleanup: (s) => remove(s, { volumes: ["cf-vc"] }) },
    { endpoint: "POST /volumes/create", name: "an invalid name", request: () => json("POST", "/volumes/create", { Name: "a/b" }) },
    { endpoint: "GET /volumes/{name}", name: "a named volume", request: () => json("GET", "/volumes/cf-vol") },
    { endpoint: "GET /volumes/{name}", name: "a volume that does not exist", request: () => json("GET", "/volumes/cf-missing") },
    { endpoint: "PUT /volumes/{name}", name: "a local volume (cluster volumes only)", request: () => json("PUT", "/volumes/cf-vol?version=1", { Spec: {} }), expectDifference: { reason: "the route came with API 1.42 (cluster volumes), so dockerd 20.10 has none; cove answers a clear 501 (cluster volumes need a swarm) at every version", lines: [/^status: cove 501, dockerd 404$/, /^message: cove "updating a volume is for cluster volumes/] } },
    { endpoint: "DELETE /volumes/{name}", name: "an unused volume", setup: (s) => must(s, json("POST", "/volumes/create", { Name: "cf-vdel" }), 201), request: () => json("DELETE", "/volumes/cf-vdel") },
    { endpoint: "DELETE /volumes/{name}", name: "a volume in use", setup: (s) => create(s, "cf-vuse", { HostConfig: { NetworkMode: "none", Binds: ["cf-vol:/v"] } }), request: () => json("DELETE", "/volumes/cf-vol"), cleanup: (s) => remove(s, { containers: ["cf-vuse"] }) },
    { endpoint: "DELETE /volumes/{name}", name: "a volume that does not exist", request: () => json("DELETE", "/volumes/cf-missing") },
    { endpoint: "POST /volumes/prune", name: "API 1.41 prunes named volumes too", setup: (s) => must(s, json("POST", "/volumes/create", { Name: "cf-vprune", Labels: { "cf-prune": "1" } }), 201), request: () => json("POST", `/volumes/prune?filters=${q({ label: ["cf-prune=1"] })}`), body: "value" },
    { endpoint: "POST /volumes/prune", name: "an unknown filter", request: () => json("POST", `/volumes/prune?filters=${q({ bogus: ["1"] })}`) },

    // ---- networks
    { endpoint: "GET /networks", name: "all", request: () => json("GET", "/networks") },
    { endpoint: "GET /networks", name: "by name", request: () => json("GET", `/networks?filters=${q({ name: ["cf-net"] })}`) },
    { endpoint: "GET /networks", name: "an unknown filter", request: () => json("GET", `/networks?filters=${q({ bogus: ["1"] })}`), expectDifference: FILTER_WORDING },
    { endpoint: "GET /networks/{id}", name: "the default bridge", request: () => json("GET", "/networks/bridge") },
    { endpoint: "GET /networks/{id}", name: "a user-defined network", request: () => json("GET", "/networks/cf-net") },
    { endpoint: "GET /networks/{id}", name: "a network that does not exist", request: () => json("GET", "/networks/cf-missing") },
    { endpoint: "DELETE /networks/{id}", name: "an unused network", setup: (s) => must(s, json("POST", "/networks/create", { Name: "cf-ndel", CheckDuplicate: true, IPAM: { Config: [{ Subnet: s.subnet(1) }] } }), 201), request: () => json("DELETE", "/networks/cf-ndel") },
    { endpoint: "DELETE /networks/{id}", name: "a pre-defined network", request: () => json("DELETE", "/networks/none") },
    { endpoint: "DELETE /networks/{id}", name: "a network that does not exist", request: () => json("DELETE", "/networks/cf-missing") },
    { endpoint: "POST /networks/create", name: "a bridge with a subnet and labels", request: (s) => json("POST", "/networks/create", { Name: "cf-nc", CheckDuplicate: true, Labels: { a: "b" }, IPAM: { Config: [{ Subnet: s.subnet(2) }] } }), cleanup: (s) => remove(s, { networks: ["cf-nc"] }) },
    { endpoint: "POST /networks/create", name: "a name in use", request: () => json("POST", "/networks/create", { Name: "cf-net", CheckDuplicate: true }) },
    { endpoint: "POST /networks/create", name: "an invalid subnet", request: () => json("POST", "/networks/create", { Name: "cf-nd", CheckDuplicate: true, IPAM: { Config: [{ Subnet: "nonsense" }] } }), expectDifference: newer("an invalid IPAM config is the caller's error (400 from API 1.44, engine-api-CHANGELOG)", /^status: cove 400, dockerd 500$/) },
    { endpoint: "POST /networks/{id}/connect", name: "a container without a network", request: () => json("POST", "/networks/cf-net/connect", { Container: "cf-done" }) },
    { endpoint: "POST /networks/{id}/connect", name: "a running container on the default bridge", setup: sleeper("cf-conn", { HostConfig: {} }), request: () => json("POST", "/networks/cf-net/connect", { Container: "cf-conn" }), after: async (s) => Object.keys(((await inspect(s, "cf-conn")).NetworkSettings as { Networks: object }).Networks).sort(), cleanup: (s) => remove(s, { containers: ["cf-conn"] }) },
    { endpoint: "POST /networks/{id}/connect", name: "a container that does not exist", request: () => json("POST", "/networks/cf-net/connect", { Container: "cf-missing" }) },
    { endpoint: "POST /networks/{id}/connect", name: "a network that does not exist", request: () => json("POST", "/networks/cf-missing/connect", { Container: "cf-idle" }) },
    {
      endpoint: "POST /networks/{id}/disconnect",
      name: "a connected container",
      setup: async (s) => {
        await create(s, "cf-disc", { Cmd: ["sleep", "600"], HostConfig: {} });
        await must(s, json("POST", "/networks/cf-net/connect", { Container: "cf-disc" }), 200);
        await start(s, "cf-disc");
      },
      request: () => json("POST", "/networks/cf-net/disconnect", { Container: "cf-disc" }),
      after: async (s) => Object.keys(((await inspect(s, "cf-disc")).NetworkSettings as { Networks: object }).Networks).sort(),
      cleanup: (s) => remove(s, { containers: ["cf-disc"] }),
    },
    { endpoint: "POST /networks/{id}/disconnect", name: "a container not connected", request: () => json("POST", "/networks/cf-net/disconnect", { Container: "cf-done" }), expectDifference: { reason: "cove refuses as forbidden (403), as moby's Forbidden error class for this does in later versions; dockerd 20.10 answers 500 and says \"the network\"", lines: [/^status: cove 403, dockerd 500$/, /^message: cove "container <id> is not connected to network cf-net", dockerd "container <id> is not connected to the network cf-net"$/] } },
    { endpoint: "POST /networks/prune", name: "by label", setup: (s) => must(s, json("POST", "/networks/create", { Name: "cf-nprune", CheckDuplicate: true, Labels: { "cf-prune": "1" }, IPAM: { Config: [{ Subnet: s.subnet(3) }] } }), 201), request: () => json("POST", `/networks/prune?filters=${q({ label: ["cf-prune=1"] })}`), body: "value" },

    // ---- plugins: cove has none; what a daemon without plugins answers
    { endpoint: "GET /plugins", name: "none installed", request: () => json("GET", "/plugins"), body: "value" },
    { endpoint: "GET /plugins/{name}/json", name: "a plugin that is not installed", request: () => json("GET", "/plugins/cf-nosuch/json") },
    { endpoint: "DELETE /plugins/{name}", name: "a plugin that is not installed", request: () => json("DELETE", "/plugins/cf-nosuch") },
    { endpoint: "POST /plugins/{name}/enable", name: "a plugin that is not installed", request: () => json("POST", "/plugins/cf-nosuch/enable?timeout=0") },
    { endpoint: "POST /plugins/{name}/disable", name: "a plugin that is not installed", request: () => json("POST", "/plugins/cf-nosuch/disable") },
    { endpoint: "POST /plugins/{name}/upgrade", name: "a plugin that is not installed", request: () => json("POST", "/plugins/cf-nosuch/upgrade?remote=cf-nosuch", []) },
    { endpoint: "POST /plugins/{name}/push", name: "a plugin that is not installed", request: () => json("POST", "/plugins/cf-nosuch/push") },
    { endpoint: "POST /plugins/{name}/set", name: "a plugin that is not installed", request: () => json("POST", "/plugins/cf-nosuch/set", ["DEBUG=1"]) },

    // ---- distribution
    { endpoint: "GET /distribution/{name}/json", name: "an invalid reference", request: () => json("GET", "/distribution/In::valid/json"), expectDifference: REFERENCE_WORDING },

    // ---- the API itself
    { endpoint: "GET /_ping", name: "an API version that is too new", request: () => ({ ...json("GET", "/_ping"), noPrefix: true, path: "/v9.99/_ping" }), expectDifference: { reason: "each daemon names its own newest version (cove 1.47, dockerd 20.10 1.41)", lines: [/^message: cove "client version 9\.99 is too new\. Maximum supported API version is 1\.47", dockerd "client version 9\.99 is too new\. Maximum supported API version is 1\.41"$/] } },
    {
      endpoint: "GET /version",
      name: "an API version that is too old",
      request: () => ({ ...json("GET", "/version"), noPrefix: true, path: "/v1.0/version" }),
      expectDifference: newer("the oldest version is 1.24 and the error is Docker's JSON; dockerd 20.10 accepts 1.12 and answers this one as plain text", /^content-type: cove application\/json, dockerd text\/plain$/, /^message: cove "client version 1\.0 is too old\. Minimum supported API version is 1\.24, please upgrade your client to a newer version", dockerd "\(not JSON\) client version 1\.0 is too old\. Minimum supported API version is 1\.12, please upgrade your client to a newer version"$/),
    },
  ];
  return [...list, ...swarmCases()];
}

const saved = new Map<string, Buffer>();
const execIds = new Map<string, string>();

async function execCreate(s: Side, body: Record<string, unknown>): Promise<string> {
  return (bodyJSON(await must(s, json("POST", "/containers/cf-idle/exec", body), 201)) as { Id: string }).Id;
}

/** The X-Docker-Container-Path-Stat header decoded, as a shape (name, size, mode, mtime, linkTarget). */
function shapeOfStat(r: Resp): unknown {
  const h = r.headers["x-docker-container-path-stat"];
  if (typeof h !== "string") return "no stat header";
  const v = JSON.parse(Buffer.from(h, "base64").toString()) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "name" || k === "linkTarget" ? x : typeof x]));
}

/** Endpoints not sent to dockerd, each with the reason and what cove answers instead. */
export const NOT_COMPARED: NotCompared[] = [
  {
    endpoint: "GET /images/search",
    reason: "a term without a registry searches Docker Hub on the internet, which tests never reach (test/registry/search.test.ts compares searches of local registries with dockerd); here only a limit refused before any request",
    cove: json("GET", "/images/search?term=busybox&limit=101"),
    status: 400,
    message: /^limit 101 is outside the range of \[1, 100\]$/,
  },
  { endpoint: "GET /plugins/privileges", reason: "dockerd asks a registry on the internet for the plugin's manifest; cove has no plugins", cove: json("GET", "/plugins/privileges?remote=vieux/sshfs"), status: 501, message: /plugin support/ },
  { endpoint: "POST /plugins/pull", reason: "dockerd pulls the plugin from a registry on the internet; cove has no plugins", cove: json("POST", "/plugins/pull?remote=vieux/sshfs", []), status: 501, message: /plugin support/ },
  { endpoint: "POST /plugins/create", reason: "dockerd would install a plugin from a rootfs tar on the host; cove has no plugins", cove: { method: "POST", path: "/plugins/create?name=cf-plugin", body: Buffer.alloc(1024) }, status: 501, message: /plugin support/ },
  {
    endpoint: "POST /swarm/init",
    reason: "initialising a swarm would make the shared dockerd a swarm manager for every later case; cove refuses it (it runs no swarm mode and scales out through Kubernetes)",
    cove: json("POST", "/swarm/init", { ListenAddr: "127.0.0.1:2377" }),
    status: 503,
    message: /does not run swarm mode/,
  },
  { endpoint: "POST /session", reason: "BuildKit's session (HTTP/2 over a hijacked connection) is the builder's; cove has no builder yet", cove: json("POST", "/session"), status: 501, message: /session|build/i },
];

// The CRI streaming server against real containers: the gRPC Exec, Attach and PortForward
// handlers hand out URLs, and a SPDY client (the one the unit tests use, speaking as client-go's
// executor does) drives exec (stdout, stderr, the exit code in the v4 Status, stdin, a TTY with
// resizes), attach to a container's main process, and port-forward to a server that listens on
// a pod's own loopback (reachable only from inside the pod's network namespace). An in-process
// daemon without networking runs busybox containers and a pod whose namespace has loopback only.

import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startCriStreaming, streamingHandlers, type StreamingServer } from "../../src/cri/streaming/index.js";
import { openTyped, readAll, upgrade, waitFor, type Refused, type Upgraded } from "../../src/cri/streaming/testing.js";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { findBusybox, importBusybox, tempDir } from "../images/fixtures.js";
import { api } from "../support/docker-api.js";

const skip = process.getuid?.() !== 0 ? "needs root (containers)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

const V4 = "v4.channel.k8s.io";

// each test has its own bound, well inside the suite's, so that a test that hangs fails alone and
// the suite's cleanup still has its time
const EACH = { timeout: 60_000 };

describe("CRI streaming with real containers", { skip, timeout: 600_000 }, () => {
  let base: string;
  let daemon: Daemon | undefined;
  let server: StreamingServer | undefined;
  let podId = "";
  const sessions: Upgraded[] = [];
  const created: string[] = [];

  const call = (name: string, request: unknown) =>
    new Promise<{ url?: string; code?: number; details?: string }>((resolve) => {
      const h = streamingHandlers(server!)[name] as grpc.handleUnaryCall<unknown, { url: string }>;
      h({ request } as grpc.ServerUnaryCall<unknown, { url: string }>, (err, res) => resolve(err ? { code: err.code!, details: err.details! } : { url: res!.url }));
    });
  const urlOf = async (name: string, request: unknown) => {
    const r = await call(name, request);
    assert.ok(r.url, `${name}: ${r.details}`);
    return r.url;
  };
  const up = async (url: string, protocols = [V4]): Promise<Upgraded> => {
    const r = await upgrade(url, protocols);
    assert.ok("session" in r, `upgrade refused: ${"status" in r ? `${r.status} ${r.body}` : ""}`);
    sessions.push(r);
    return r;
  };
  const sock = () => daemon!.socket;
  const json = async <T>(p: Promise<{ status: number; body: string }>, status: number): Promise<T> => {
    const r = await p;
    assert.equal(r.status, status, r.body);
    return (r.body ? JSON.parse(r.body) : {}) as T;
  };
  const run = async (name: string, body: object, query = "") => {
    const { Id } = await json<{ Id: string }>(api(sock(), "POST", `/containers/create?name=${name}${query}`, JSON.stringify({ Image: "busybox", ...body })), 201);
    created.push(Id);
    return Id;
  };

  before(async () => {
    base = await tempDir();
    daemon = await startDaemon({ root: path.join(base, "root"), socket: path.join(base, "cove.sock"), runtimeRoot: path.join(base, "rt"), log: () => undefined });
    await importBusybox(daemon.images);
    // a container whose main process answers each line it reads (for attach)
    const echo = await run("echo", { Cmd: ["sh", "-c", 'while read l; do echo "got $l"; done'], OpenStdin: true });
    await json(api(sock(), "POST", `/containers/${echo}/start`), 204);
    // a pod whose network namespace has loopback only, serving http on 127.0.0.1:8080 there
    podId = (await json<{ Id: string }>(api(sock(), "POST", "/cove/pods/create", JSON.stringify({ name: "web", netns: { nsmode: "none" } })), 201)).Id;
    // (a daemon without networking leaves the loopback of a pod's namespace down: the member, given
    // NET_ADMIN for it, brings it up itself)
    await run(
      "web-httpd",
      { Cmd: ["sh", "-c", "ip link set lo up && mkdir -p /www && echo hello from the pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"], HostConfig: { CapAdd: ["NET_ADMIN"] } },
      "&pod=web",
    );
    await json(api(sock(), "POST", "/cove/pods/web/start"), 200);
    server = await startCriStreaming(daemon, { log: () => undefined });
  });

  after(async () => {
    for (const s of sessions) s.session.destroy();
    await server?.close();
    if (daemon) {
      if (podId) await daemon.pods.remove(podId, { force: true }).catch((err: unknown) => console.error(`removing the pod: ${String(err)}`));
      for (const id of created) await daemon.containers.remove(id, { force: true }).catch(() => undefined); // (the pod's members went with it)
      await daemon.close();
    }
    await rm(base, { recursive: true, force: true });
  });

  it("exec: stdout, stderr and the exit code in the v4 Status", EACH, async () => {
    const url = await urlOf("Exec", { container_id: "echo", cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], stdout: true, stderr: true });
    const { session } = await up(url);
    const error = await openTyped(session, "error");
    const stdout = await openTyped(session, "stdout");
    const stderr = await openTyped(session, "stderr");
    const [o, e, status] = await Promise.all([readAll(stdout), readAll(stderr), readAll(error)]);
    assert.equal(o.toString(), "out\n");
    assert.equal(e.toString(), "err\n");
    assert.deepEqual(JSON.parse(status.toString()), {
      metadata: {},
      status: "Failure",
      message: "command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3",
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: "3" }] },
    });
    // the URL was good once
    const again = (await upgrade(url, [V4])) as Refused;
    assert.equal(again.status, 404);
  });

  it("exec: stdin to the process, Success at its end", EACH, async () => {
    const { session } = await up(await urlOf("Exec", { container_id: "echo", cmd: ["cat"], stdin: true, stdout: true }));
    const error = await openTyped(session, "error");
    const stdin = await openTyped(session, "stdin");
    const stdout = await openTyped(session, "stdout");
    const out = readAll(stdout);
    const status = readAll(error);
    const big = "x".repeat(300_000);
    stdin.write("hello\n");
    stdin.end(big);
    assert.equal((await out).toString(), `hello\n${big}`);
    assert.equal((await status).toString(), '{"metadata":{},"status":"Success"}');
  });

  it("exec with a TTY: the terminal starts at the client's size and follows its resizes", EACH, async () => {
    const url = await urlOf("Exec", { container_id: "echo", cmd: ["sh", "-c", 'stty size; while read x; do [ "$x" = q ] && exit 0; stty size; done'], tty: true, stdin: true, stdout: true });
    const { session } = await up(url);
    const error = await openTyped(session, "error");
    const stdin = await openTyped(session, "stdin");
    const stdout = await openTyped(session, "stdout");
    const resize = await openTyped(session, "resize");
    let seen = "";
    stdout.on("data", (d: Buffer) => (seen += d.toString()));
    const status = readAll(error);
    // client-go sends the size as soon as its streams are there: the command's first look sees it
    resize.write('{"Width":100,"Height":30}\n');
    await waitFor(() => seen.includes("\n"), "the first line");
    assert.equal(seen.split("\n")[0], "30 100\r");
    resize.write('{"Width":90,"Height":20}\n');
    // each line makes the shell print its terminal's size: until the new size shows
    await waitFor(
      () => {
        if (!seen.includes("20 90")) stdin.write("\n");
        return seen.includes("20 90");
      },
      "the terminal size 20 rows, 90 columns",
      30_000,
    );
    stdin.write("q\n");
    assert.equal((await status).toString(), '{"metadata":{},"status":"Success"}');
  });

  it("attach: the main process reads the client's input and its output comes back; leaving keeps it running", EACH, async () => {
    const { session } = await up(await urlOf("Attach", { container_id: "echo", stdin: true, stdout: true }));
    await openTyped(session, "error");
    const stdin = await openTyped(session, "stdin");
    const stdout = await openTyped(session, "stdout");
    let seen = "";
    stdout.on("data", (d: Buffer) => (seen += d.toString()));
    stdin.write("hi\n");
    await waitFor(() => seen.includes("got hi\n"), "the container's answer");
    session.destroy();
    const i = await daemon!.containers.inspect("echo");
    assert.equal(i.State.Running, true);
    // a second attach still reaches it
    const again = await up(await urlOf("Attach", { container_id: "echo", stdin: true, stdout: true }));
    await openTyped(again.session, "error");
    const in2 = await openTyped(again.session, "stdin");
    const out2 = await openTyped(again.session, "stdout");
    let seen2 = "";
    out2.on("data", (d: Buffer) => (seen2 += d.toString()));
    in2.write("again\n");
    await waitFor(() => seen2.includes("got again\n"), "the container's second answer");
  });

  it("attach to a container made with StdinOnce: the end of the client's input closes its stdin", EACH, async () => {
    const once = await run("once", { Cmd: ["sh", "-c", "cat; echo stdin closed"], OpenStdin: true, StdinOnce: true });
    await json(api(sock(), "POST", `/containers/${once}/start`), 204);
    const { session } = await up(await urlOf("Attach", { container_id: once, stdin: true, stdout: true }));
    const error = await openTyped(session, "error");
    const stdin = await openTyped(session, "stdin");
    const stdout = await openTyped(session, "stdout");
    const out = readAll(stdout);
    const status = readAll(error);
    stdin.end("abc\n");
    assert.equal((await out).toString(), "abc\nstdin closed\n");
    assert.equal((await status).toString(), '{"metadata":{},"status":"Success"}');
  });

  it("port-forward: reaches a server on the pod's own loopback; a closed port is reported", EACH, async () => {
    const { session } = await up(await urlOf("PortForward", { pod_sandbox_id: podId, port: [8080] }), ["portforward.k8s.io"]);
    let request = 0;
    const get = async () => {
      const id = String(request++);
      const error = await openTyped(session, "error", { port: "8080", requestid: id });
      const data = await openTyped(session, "data", { port: "8080", requestid: id });
      const response = readAll(data);
      const errors = readAll(error);
      data.write("GET /index.html HTTP/1.0\r\n\r\n");
      return { text: (await response).toString(), errors: (await errors).toString() };
    };
    // (httpd may still be on its way up: until it answers, the error stream says the port is closed)
    let got = await get();
    const until = Date.now() + 20_000;
    while (got.errors.includes("ECONNREFUSED") && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      got = await get();
    }
    assert.equal(got.errors, "");
    assert.match(got.text, /^HTTP\/1\.[01] 200 OK\r\n/);
    assert.ok(got.text.endsWith("\r\n\r\nhello from the pod\n"), got.text);
    // another connection over the same session
    const second = await get();
    assert.equal(second.errors, "");
    assert.ok(second.text.endsWith("hello from the pod\n"), second.text);
    const e2 = await openTyped(session, "error", { port: "8081", requestid: String(request) });
    const d2 = await openTyped(session, "data", { port: "8081", requestid: String(request) });
    const [msg] = await Promise.all([readAll(e2), readAll(d2)]);
    assert.equal(msg.toString(), `error forwarding port 8081 to pod ${podId}, uid : connect ECONNREFUSED 127.0.0.1:8081`);
  });

  it("answers NOT_FOUND for a container or sandbox cove does not have", EACH, async () => {
    const c = await call("Exec", { container_id: "no-such-container", cmd: ["true"], stdout: true });
    assert.equal(c.code, grpc.status.NOT_FOUND, c.details);
    const p = await call("PortForward", { pod_sandbox_id: "no-such-pod", port: [80] });
    assert.equal(p.code, grpc.status.NOT_FOUND, p.details);
  });
});

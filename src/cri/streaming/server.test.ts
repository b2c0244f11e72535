import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { notFound } from "../../common/errors.js";
import type { AttachChunk, ExecSession } from "../../containers/index.js";
import { streamingHandlers } from "./handlers.js";
import { JsonValueSplitter } from "./remotecommand.js";
import { StreamingServer } from "./server.js";
import type { StreamingRuntime, StreamOptions } from "./services.js";
import { openTyped, readAll, upgrade, waitFor, type Refused, type Upgraded } from "./testing.js";
import { TokenCache } from "./tokens.js";

/** A process of the fake runtime: its output is what the test pushes, its stdin is recorded. */
class FakeProcess implements ExecSession {
  stdin: Buffer[] = [];
  stdinClosed = false;
  resizes: [number, number][] = [];
  closed = false;
  private queue: (AttachChunk | null)[] = [];
  private wake: (() => void) | undefined;
  private setExit!: (code: number) => void;
  exitCode = new Promise<number>((r) => (this.setExit = r));
  onStdin?: (d: Buffer) => void;
  onStdinClosed?: () => void;

  output: AsyncIterable<AttachChunk> = {
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<AttachChunk>> => {
        while (this.queue.length === 0) await new Promise<void>((r) => (this.wake = r));
        const c = this.queue.shift()!;
        return c ? { value: c, done: false } : { value: undefined, done: true };
      },
    }),
  };

  emit(stream: "stdout" | "stderr", text: string): void {
    this.queue.push({ stream, data: Buffer.from(text) });
    this.wake?.();
  }

  exit(code: number): void {
    this.queue.push(null);
    this.wake?.();
    this.setExit(code);
  }

  async write(data: Buffer | string): Promise<void> {
    const b = Buffer.from(data);
    this.stdin.push(b);
    this.onStdin?.(b);
  }

  closeStdin(): void {
    this.stdinClosed = true;
    this.onStdinClosed?.();
  }

  resize(rows: number, cols: number): void {
    this.resizes.push([rows, cols]);
  }

  close(): void {
    this.closed = true;
  }
}

/** A runtime whose containers are c1 (running) and whose processes the test scripts. */
class FakeRuntime implements StreamingRuntime {
  procs: { cmd: string[]; opts: StreamOptions; proc: FakeProcess }[] = [];
  script: (cmd: string[], p: FakeProcess) => void = () => undefined;
  portTarget = 0;
  async checkContainer(id: string) {
    if (id !== "c1") throw notFound(`container "${id}" not found`);
  }
  async checkSandbox(id: string) {
    if (id !== "p1") throw notFound(`pod sandbox "${id}" not found`);
  }
  async exec(id: string, cmd: string[], opts: StreamOptions) {
    await this.checkContainer(id);
    if (cmd[0] === "missing") throw new Error(`exec: "missing": executable file not found in $PATH`);
    const proc = new FakeProcess();
    this.procs.push({ cmd, opts, proc });
    this.script(cmd, proc);
    return proc;
  }
  async attach(id: string, opts: StreamOptions) {
    return this.exec(id, ["<attach>"], opts);
  }
  async portForward(_sandbox: string, port: number) {
    return new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ port: port === 1 ? this.portTarget : port, host: "127.0.0.1", allowHalfOpen: true });
      s.once("connect", () => resolve(s));
      s.once("error", reject);
    });
  }
}

const V4 = "v4.channel.k8s.io";

describe("CRI streaming server", () => {
  const runtime = new FakeRuntime();
  let server: StreamingServer;
  const sessions: Upgraded[] = [];
  let echo: net.Server;
  before(async () => {
    // (a grace long enough that the half-close test does not depend on the machine's speed)
    server = await StreamingServer.start(runtime, { log: () => undefined, streamCreationTimeoutMs: 5000, portForwardGraceMs: 60_000 });
    // the pod's port of the port-forward tests: echoes in upper case until the client's end, then ends
    echo = net.createServer((c) => {
      c.on("data", (d: Buffer) => c.write(d.toString().toUpperCase()));
      c.on("end", () => c.end("<bye>"));
    });
    echo.listen(0, "127.0.0.1");
    await new Promise((r) => echo.once("listening", r));
    runtime.portTarget = (echo.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const s of sessions) s.session.destroy();
    await server.close();
    await new Promise((r) => echo.close(r));
  });

  const up = async (url: string, protocols: string[]): Promise<Upgraded> => {
    const r = await upgrade(url, protocols);
    assert.ok("session" in r, `upgrade refused: ${"status" in r ? `${r.status} ${r.body}` : ""}`);
    sessions.push(r);
    return r;
  };
  const exec = (cmd: string[], opts: Partial<StreamOptions>) => server.urlFor({ kind: "exec", containerId: "c1", cmd, opts: { tty: false, stdin: false, stdout: true, stderr: true, ...opts } });

  it("serves on 127.0.0.1 with URLs /exec/{token}, /attach/{token}, /portforward/{token}", () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(exec(["true"], {}), /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{22}$/);
    assert.match(server.urlFor({ kind: "portforward", sandboxId: "p1", ports: [80] }), /\/portforward\/[A-Za-z0-9_-]{22}$/);
  });

  it("answers an unknown, used or misplaced token with 404", async () => {
    const bad = (await upgrade(`${server.url}/exec/nosuchtoken`, [V4])) as Refused;
    assert.deepEqual([bad.status, bad.body], [404, "404 page not found\n"]);
    const url = exec(["sh", "-c", "exit 0"], {});
    runtime.script = (_c, p) => p.exit(0);
    const first = await up(url, [V4]);
    assert.equal(first.protocol, V4);
    const again = (await upgrade(url, [V4])) as Refused;
    assert.equal(again.status, 404);
    // an exec token on the attach path is no attach token (and is used up)
    const other = exec(["true"], {});
    const misplaced = (await upgrade(other.replace("/exec/", "/attach/"), [V4])) as Refused;
    assert.equal(misplaced.status, 404);
    assert.equal(((await upgrade(other, [V4])) as Refused).status, 404);
    const stray = (await upgrade(`${server.url}/other/path`, [V4])) as Refused;
    assert.equal(stray.status, 404);
  });

  it("answers the kubelet's 400 and 403 for protocols and upgrade headers", async () => {
    const none = (await upgrade(exec(["true"], {}), [])) as Refused;
    assert.deepEqual([none.status, none.body], [400, "unable to upgrade: X-Stream-Protocol-Version is required\n"]);
    const wrong = (await upgrade(exec(["true"], {}), ["v9.channel.k8s.io", "websocket"])) as Refused;
    assert.equal(wrong.status, 403);
    assert.equal(
      wrong.body,
      "unable to upgrade: unable to negotiate protocol: client supports [v9.channel.k8s.io websocket], server accepts [v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]\n",
    );
    assert.equal(wrong.headers["x-accepted-stream-protocol-versions"], "v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io");
    const pf = (await upgrade(server.urlFor({ kind: "portforward", sandboxId: "p1", ports: [] }), [V4])) as Refused;
    assert.equal(pf.status, 403);
    assert.match(pf.body, /server accepts \[portforward\.k8s\.io\]/);
    const plain = (await upgrade(exec(["true"], {}), [V4], { upgradeHeaders: false })) as Refused;
    assert.equal(plain.status, 400);
    assert.match(plain.body, /^unable to upgrade: missing upgrade headers in request/);
    // the client's first protocol the server serves wins
    runtime.script = (_c, p) => p.exit(0);
    const picked = await up(exec(["true"], {}), ["v5.channel.k8s.io", "v3.channel.k8s.io", V4]);
    assert.equal(picked.protocol, "v3.channel.k8s.io");
  });

  it("exec: stdout and stderr on their streams, and a v4 Status with the exit code", async () => {
    runtime.script = (_c, p) => {
      p.emit("stdout", "out\n");
      p.emit("stderr", "err\n");
      p.exit(3);
    };
    const { session } = await up(exec(["sh", "-c", "exit 3"], {}), [V4]);
    const error = await openTyped(session, "error");
    const stdout = await openTyped(session, "stdout");
    const stderr = await openTyped(session, "stderr");
    const [o, e, status] = await Promise.all([readAll(stdout), readAll(stderr), readAll(error)]);
    assert.equal(o.toString(), "out\n");
    assert.equal(e.toString(), "err\n");
    assert.equal(
      status.toString(),
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    );
    await waitFor(() => session.closed, "the server to end the session");
  });

  it("exec: stdin reaches the process and its end closes stdin; success is Status Success", async () => {
    runtime.script = (_c, p) => {
      p.onStdin = (d) => p.emit("stdout", d.toString().toUpperCase());
      p.onStdinClosed = () => p.exit(0);
    };
    const { session } = await up(exec(["cat"], { stdin: true, stderr: false }), [V4]);
    const error = await openTyped(session, "error");
    const stdin = await openTyped(session, "stdin");
    const stdout = await openTyped(session, "stdout");
    const out = readAll(stdout);
    const status = readAll(error);
    stdin.write("hello ");
    stdin.end("world");
    assert.equal((await out).toString(), "HELLO WORLD");
    assert.equal((await status).toString(), '{"metadata":{},"status":"Success"}');
    const proc = runtime.procs.at(-1)!;
    assert.deepEqual(proc.opts, { tty: false, stdin: true, stdout: true, stderr: false });
    assert.equal(Buffer.concat(proc.proc.stdin).toString(), "hello world");
  });

  it("exec with a TTY: waits for the resize stream, starts at the first size, passes the next ones as rows and columns", async () => {
    let proc: FakeProcess | undefined;
    runtime.script = (_c, p) => {
      proc = p;
    };
    const { session } = await up(exec(["sh"], { tty: true, stdin: true, stderr: false }), [V4]);
    const error = await openTyped(session, "error");
    await openTyped(session, "stdin");
    const stdout = await openTyped(session, "stdout");
    // the process does not start before the last expected stream
    assert.equal(proc, undefined);
    const resize = await openTyped(session, "resize");
    // client-go writes each size as a JSON object followed by a newline; one write may split a message
    resize.write('{"Width":80,"Height":24}\n{"Width":1');
    await waitFor(() => proc !== undefined, "the process to start");
    assert.deepEqual(runtime.procs.at(-1)!.opts.consoleSize, [24, 80]);
    resize.write('32,"Height":43}\n');
    await waitFor(() => proc!.resizes.length === 1, "a resize");
    assert.deepEqual(proc!.resizes, [[43, 132]]);
    const out = readAll(stdout);
    const status = readAll(error);
    proc!.emit("stdout", "$ ");
    proc!.exit(0);
    assert.equal((await out).toString(), "$ ");
    assert.equal((await status).toString(), '{"metadata":{},"status":"Success"}');
  });

  it("exec: a failure to start is an InternalError Status (v4) or its message (v3)", async () => {
    const { session } = await up(exec(["missing"], {}), [V4]);
    const error = await openTyped(session, "error");
    await openTyped(session, "stdout");
    await openTyped(session, "stderr");
    const status = JSON.parse((await readAll(error)).toString()) as { status: string; reason: string; code: number; message: string };
    assert.deepEqual([status.status, status.reason, status.code], ["Failure", "InternalError", 500]);
    assert.equal(status.message, 'Internal error occurred: error executing command in container: exec: "missing": executable file not found in $PATH');
    runtime.script = (_c, p) => p.exit(2);
    const v3 = await up(exec(["false"], {}), ["v3.channel.k8s.io"]);
    const e3 = await openTyped(v3.session, "error");
    await openTyped(v3.session, "stdout");
    await openTyped(v3.session, "stderr");
    assert.equal((await readAll(e3)).toString(), "command terminated with non-zero exit code: error executing command [false], exit code 2");
  });

  it("attach: the main process's output and a Success Status at its end", async () => {
    runtime.script = (_c, p) => {
      p.emit("stdout", "log line\n");
      p.exit(0);
    };
    const { session } = await up(server.urlFor({ kind: "attach", containerId: "c1", opts: { tty: false, stdin: false, stdout: true, stderr: false } }), [V4]);
    const error = await openTyped(session, "error");
    const stdout = await openTyped(session, "stdout");
    assert.equal((await readAll(stdout)).toString(), "log line\n");
    assert.equal((await readAll(error)).toString(), '{"metadata":{},"status":"Success"}');
    assert.deepEqual(runtime.procs.at(-1)!.cmd, ["<attach>"]);
  });

  it("closes the process when the client goes away", async () => {
    runtime.script = () => undefined;
    const { session } = await up(exec(["sleep", "1000"], {}), [V4]);
    await openTyped(session, "error");
    await openTyped(session, "stdout");
    await openTyped(session, "stderr");
    await waitFor(() => runtime.procs.at(-1)?.cmd[0] === "sleep", "the process to start");
    const proc = runtime.procs.at(-1)!.proc;
    session.destroy();
    await waitFor(() => proc.closed, "the process's session to be closed");
  });

  it("port-forward: a data stream joined to the pod's port, half-closed at the client's end", async () => {
    const { session, protocol } = await up(server.urlFor({ kind: "portforward", sandboxId: "p1", ports: [1] }), ["portforward.k8s.io"]);
    assert.equal(protocol, "portforward.k8s.io");
    const error = await openTyped(session, "error", { port: "1", requestid: "0" });
    const data = await openTyped(session, "data", { port: "1", requestid: "0" });
    const got = readAll(data);
    const errors = readAll(error);
    data.write("hello");
    await waitFor(() => data.readableLength > 0 || data.listenerCount("data") > 0, "data to flow");
    data.end(" pod");
    assert.equal((await got).toString(), "HELLO POD<bye>");
    assert.equal((await errors).toString(), "");
    // a second request on the same connection
    const e2 = await openTyped(session, "error", { port: "1", requestid: "1" });
    const d2 = await openTyped(session, "data", { port: "1", requestid: "1" });
    const got2 = readAll(d2);
    d2.end("again");
    assert.equal((await got2).toString(), "AGAIN<bye>");
    assert.equal((await readAll(e2)).toString(), "");
  });

  it("port-forward: the pod's end of its side does not cut what the client still sends", async () => {
    // a pod that says hello and ends its side at once, then counts (and hashes) what it receives
    const received: { bytes: number; hash: string }[] = [];
    const sink = net.createServer({ allowHalfOpen: true }, (c) => {
      c.end("ready");
      const h = createHash("sha256");
      let n = 0;
      c.on("data", (d: Buffer) => {
        n += d.length;
        h.update(d);
      });
      c.on("end", () => received.push({ bytes: n, hash: h.digest("hex") }));
    });
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
    try {
      const port = String((sink.address() as net.AddressInfo).port);
      const { session } = await up(server.urlFor({ kind: "portforward", sandboxId: "p1", ports: [] }), ["portforward.k8s.io"]);
      const error = await openTyped(session, "error", { port, requestid: "0" });
      const data = await openTyped(session, "data", { port, requestid: "0" });
      const fromPod = readAll(data);
      const errors = readAll(error);
      assert.equal((await fromPod).toString(), "ready");
      const payload = randomBytes(3 << 20);
      data.end(payload);
      await waitFor(() => received.length === 1, "the pod to see the client's end");
      assert.deepEqual(received[0], { bytes: payload.length, hash: createHash("sha256").update(payload).digest("hex") });
      assert.equal((await errors).toString(), "");
    } finally {
      await new Promise((r) => sink.close(r));
    }
  });

  it("port-forward: refuses streams without a good port or type, reports a refused connection", async () => {
    const { session } = await up(server.urlFor({ kind: "portforward", sandboxId: "p1", ports: [] }), ["portforward.k8s.io"]);
    const bads: Record<string, string[]>[] = [{ streamtype: ["data"] }, { streamtype: ["data"], port: ["0"] }, { streamtype: ["data"], port: ["99999"] }, { streamtype: ["bogus"], port: ["80"] }, { port: ["80"] }];
    for (const headers of bads) {
      const s = session.openStream(headers);
      await assert.rejects(s.waitReply(), /reset/);
    }
    // nothing listens on the closed port: the error stream says so
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const error = await openTyped(session, "error", { port: String(closed), requestid: "7" });
    const data = await openTyped(session, "data", { port: String(closed), requestid: "7" });
    const [msg] = await Promise.all([readAll(error), readAll(data)]);
    assert.match(msg.toString(), new RegExp(`^error forwarding port ${closed} to pod p1, uid : connect ECONNREFUSED`));
  });
});

describe("CRI streaming server timeouts", () => {
  it("ends a session whose client does not open the expected streams in time, and one that sits idle", async () => {
    const runtime = new FakeRuntime();
    const lines: string[] = [];
    const server = await StreamingServer.start(runtime, { log: (l) => lines.push(l), streamCreationTimeoutMs: 300, streamIdleTimeoutMs: 300 });
    const sessions: Upgraded[] = [];
    try {
      const url = server.urlFor({ kind: "exec", containerId: "c1", cmd: ["true"], opts: { tty: false, stdin: false, stdout: true, stderr: true } });
      const r = (await upgrade(url, [V4])) as Upgraded;
      sessions.push(r);
      await openTyped(r.session, "error");
      await openTyped(r.session, "stdout");
      // no stderr stream: the server gives up, runs nothing, and ends the session
      await waitFor(() => r.session.closed, "the server to end the session");
      assert.equal(runtime.procs.length, 0);
      assert.ok(lines.some((l) => /timed out waiting for client to create streams/.test(l)), lines.join("\n"));
      // a port-forward session that carries nothing is cut off after the idle timeout
      const pf = (await upgrade(server.urlFor({ kind: "portforward", sandboxId: "p1", ports: [] }), ["portforward.k8s.io"])) as Upgraded;
      sessions.push(pf);
      await waitFor(() => pf.session.closed, "the idle session to end");
    } finally {
      for (const s of sessions) s.session.destroy();
      await server.close();
    }
  });
});

describe("CRI port-forward after the pod's end", () => {
  it("closes the connection after the grace, so a client that holds its side open learns the end", async () => {
    const server = await StreamingServer.start(new FakeRuntime(), { log: () => undefined, portForwardGraceMs: 50 });
    const pod = net.createServer((c) => c.end("bye"));
    await new Promise<void>((r) => pod.listen(0, "127.0.0.1", r));
    let session: Upgraded["session"] | undefined;
    try {
      const port = String((pod.address() as net.AddressInfo).port);
      session = ((await upgrade(server.urlFor({ kind: "portforward", sandboxId: "p1", ports: [] }), ["portforward.k8s.io"])) as Upgraded).session;
      const error = await openTyped(session, "error", { port, requestid: "0" });
      const data = await openTyped(session, "data", { port, requestid: "0" });
      const got = readAll(data);
      // the client never ends its side: the error stream's end is what tells it the connection is over
      assert.equal((await readAll(error)).toString(), "");
      assert.equal((await got).toString(), "bye");
    } finally {
      session?.destroy();
      await server.close();
      await new Promise((r) => pod.close(r));
    }
  });
});

describe("CRI Exec, Attach and PortForward calls", () => {
  let server: StreamingServer;
  before(async () => {
    server = await StreamingServer.start(new FakeRuntime(), { log: () => undefined });
  });
  after(() => server.close());

  const call = (name: string, request: unknown) =>
    new Promise<{ url?: string; code?: number; details?: string }>((resolve) => {
      const h = streamingHandlers(server)[name] as grpc.handleUnaryCall<unknown, { url: string }>;
      h({ request } as grpc.ServerUnaryCall<unknown, { url: string }>, (err, res) => resolve(err ? { code: err.code!, details: err.details! } : { url: res!.url }));
    });

  it("answers with URLs of the streaming server", async () => {
    assert.match((await call("Exec", { container_id: "c1", cmd: ["ls"], stdout: true })).url!, /\/exec\//);
    assert.match((await call("Attach", { container_id: "c1", stdin: true, tty: true })).url!, /\/attach\//);
    assert.match((await call("PortForward", { pod_sandbox_id: "p1", port: [80] })).url!, /\/portforward\//);
  });

  it("refuses bad requests as the kubelet does, and unknown containers and sandboxes", async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ["Exec", { container_id: "c1", cmd: ["ls"] }, grpc.status.INVALID_ARGUMENT, /^one of stdin, stdout, or stderr must be set$/],
      ["Exec", { container_id: "c1", cmd: ["ls"], tty: true, stdout: true, stderr: true }, grpc.status.INVALID_ARGUMENT, /^tty and stderr cannot both be true$/],
      ["Exec", { cmd: ["ls"], stdout: true }, grpc.status.INVALID_ARGUMENT, /^missing required container_id$/],
      ["Exec", { container_id: "c1", cmd: [], stdout: true }, grpc.status.INVALID_ARGUMENT, /cmd is empty/],
      ["Exec", { container_id: "nope", cmd: ["ls"], stdout: true }, grpc.status.NOT_FOUND, /container "nope" not found/],
      ["Attach", { container_id: "c1" }, grpc.status.INVALID_ARGUMENT, /^one of stdin, stdout, and stderr must be set$/],
      ["Attach", { container_id: "c1", tty: true, stderr: true }, grpc.status.INVALID_ARGUMENT, /tty and stderr/],
      ["Attach", { container_id: "nope", stdout: true }, grpc.status.NOT_FOUND, /not found/],
      ["PortForward", { port: [80] }, grpc.status.INVALID_ARGUMENT, /^missing required pod_sandbox_id$/],
      ["PortForward", { pod_sandbox_id: "p1", port: [70000] }, grpc.status.INVALID_ARGUMENT, /port 70000/],
      ["PortForward", { pod_sandbox_id: "nope", port: [80] }, grpc.status.NOT_FOUND, /sandbox "nope" not found/],
    ];
    const before = server.tokens.size;
    for (const [name, req, code, details] of cases) {
      const r = await call(name, req);
      assert.equal(r.code, code, `${name} ${JSON.stringify(req)}: ${r.details}`);
      assert.match(r.details!, details);
    }
    assert.equal(server.tokens.size, before, "a refused request leaves no token");
  });
});

describe("streaming tokens and resize messages", () => {
  it("a token is good once, for a minute", () => {
    let now = 1000;
    const cache = new TokenCache<string>(60_000, 3, () => now);
    const a = cache.insert("a");
    const b = cache.insert("b");
    assert.notEqual(a, b);
    assert.equal(cache.consume(a), "a");
    assert.equal(cache.consume(a), undefined);
    now += 60_000;
    assert.equal(cache.consume(b), undefined, "expired");
    cache.insert("c");
    cache.insert("d");
    cache.insert("e");
    assert.throws(() => cache.insert("f"), /maximum number of in-flight requests/);
    now += 60_001;
    assert.doesNotThrow(() => cache.insert("g"));
  });

  it("splits concatenated JSON objects however they are cut", () => {
    const text = '{"Width":80,"Height":24}\n{"Width":100,"Height":30}{"Width":1,"Height":2,"x":"}{"}\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const s = new JsonValueSplitter();
      const got = [...s.push(text.slice(0, cut)), ...s.push(text.slice(cut))];
      assert.deepEqual(got.map((t) => JSON.parse(t) as unknown), [{ Width: 80, Height: 24 }, { Width: 100, Height: 30 }, { Width: 1, Height: 2, x: "}{" }], `cut at ${cut}`);
    }
  });
});

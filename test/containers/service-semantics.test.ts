// The container service's Docker semantics that clients depend on: wait conditions (and waits
// cancelled by a client that goes away), removal of --rm containers whatever ends them, the
// 409 for removing a running container, and per-container log options with dockerd's errors.
// Needs root (real containers).

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import type { ContainerService } from "../../src/containers/index.js";
import { collect, exited, setup, until, type Harness } from "./harness.js";

const IS_ROOT = process.getuid?.() === 0;

/** The number of wait/attach listeners the service holds for a container (exit and removal). */
function listeners(svc: ContainerService, id: string): number {
  const live = (svc as unknown as { core: { containers: Map<string, { exitListeners: Set<unknown>; removeListeners: Set<unknown> }> } }).core.containers.get(id);
  assert.ok(live, `container ${id} is known`);
  return live.exitListeners.size + live.removeListeners.size;
}

/** Mount points under dir (the container's rootfs while it runs). */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dir));
}

const isError = (kind: string, message: string | RegExp) => (e: unknown) =>
  e instanceof CoveError && e.kind === kind && (typeof message === "string" ? e.message === message : message.test(e.message));

describe("container service: wait, removal and log options", { skip: !IS_ROOT && "needs root" }, () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(async () => {
    await h?.cleanup();
  });

  it("next-exit ignores a failed start; the removal ends the wait without the start error", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["no-such-command"] });
    const next = h.svc.wait(Id, "next-exit");
    let settled = false;
    void next.then(() => (settled = true));
    await assert.rejects(h.svc.start(Id), isError("invalid", 'OCI runtime create failed: unable to start container process: exec: "no-such-command": executable file not found in $PATH'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(settled, false, "a failed start is no exit");
    const info = await h.svc.inspect(Id);
    assert.equal(info.State.ExitCode, 127);
    assert.match(info.State.Error, /executable file not found/);
    // not-running answers at once for a container that is not running, with the error
    assert.deepEqual(await h.svc.wait(Id, "not-running"), { StatusCode: 127, Error: { Message: info.State.Error } });
    const removed = h.svc.wait(Id, "removed");
    await h.svc.remove(Id);
    assert.deepEqual(await next, { StatusCode: 127, Error: null });
    assert.deepEqual(await removed, { StatusCode: 127, Error: null });
  });

  it("a non-executable command: 126 and Docker's words", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["/etc/passwd"] });
    await assert.rejects(h.svc.start(Id), isError("invalid", 'OCI runtime create failed: unable to start container process: exec: "/etc/passwd": permission denied'));
    assert.equal((await h.svc.inspect(Id)).State.ExitCode, 126);
    await h.svc.remove(Id);
  });

  it("a failed start of a --rm container removes it in the service, leaving no mount or cgroup", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["no-such-command"], HostConfig: { AutoRemove: true } });
    const removed = h.svc.wait(Id, "removed");
    await assert.rejects(h.svc.start(Id), /executable file not found/);
    assert.deepEqual(await removed, { StatusCode: 127, Error: null });
    await assert.rejects(h.svc.inspect(Id), isError("not-found", `No such container: ${Id}`));
    assert.equal(existsSync(path.join(h.root, "containers", Id)), false);
    assert.equal(existsSync(path.join(h.runtimeRoot, Id)), false);
    assert.deepEqual(mountsUnder(path.join(h.root, "containers", Id)), []);
    for (const hier of readdirSync("/sys/fs/cgroup")) assert.equal(existsSync(path.join("/sys/fs/cgroup", hier, "cove", Id)), false, `${hier} cgroup`);
    assert.deepEqual(h.events.filter((e) => e.Actor.ID === Id).map((e) => e.Action), ["create", "destroy"]);
  });

  it("a --rm container that is killed is removed; removed waiters get its exit code", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "60"], HostConfig: { AutoRemove: true } });
    const removed = h.svc.wait(Id, "removed");
    await h.svc.start(Id);
    await h.svc.kill(Id, "SIGKILL");
    assert.deepEqual(await removed, { StatusCode: 137, Error: null });
    await assert.rejects(h.svc.inspect(Id), /No such container/);
  });

  it("a --rm container's rootfs is a volatile overlay (no sync at its unmount); another container's is not", async () => {
    /** The super options of the overlay mounted on the container's rootfs, from the kernel's mount table. */
    const overlayOptions = (id: string) => {
      const line = readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .find((l) => l.split(" ")[4]?.endsWith(`/${id}/rootfs`));
      assert.ok(line, `the rootfs of ${id} is mounted`);
      return line.split(" - ")[1]!.split(" ")[2]!.split(",");
    };
    const rm = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "60"], HostConfig: { AutoRemove: true } });
    const kept = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "60"] });
    try {
      await h.svc.start(rm.Id);
      await h.svc.start(kept.Id);
      // newer kernels show the option as fsync=volatile
      const volatile = (o: string[]) => o.includes("volatile") || o.includes("fsync=volatile");
      assert.ok(volatile(overlayOptions(rm.Id)), overlayOptions(rm.Id).join(","));
      assert.ok(!volatile(overlayOptions(kept.Id)), overlayOptions(kept.Id).join(","));
    } finally {
      await h.svc.remove(rm.Id, { force: true }).catch(() => undefined);
      await h.svc.remove(kept.Id, { force: true });
    }
  });

  it("a --rm container that exits while the service is down is removed when it comes back", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "1"], HostConfig: { AutoRemove: true } });
    await h.svc.start(Id);
    const pid = (await h.svc.inspect(Id)).State.Pid;
    await h.svc.close();
    await until("the container's exit while the service is down", () => exited(pid));
    const svc = await h.reopen();
    await until("removed", async () => !(await svc.list({ all: true })).some((c) => c.Id === Id));
    assert.equal(existsSync(path.join(h.root, "containers", Id)), false);
  });

  it("a restart that fails ends a next-exit wait once no restart is left", async () => {
    // the first run deletes its own command, so the restart fails at start (127)
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["/bin/sh", "-c", "rm /bin/sh; exit 1"], HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 1 } } });
    const first = h.svc.wait(Id, "next-exit");
    await h.svc.start(Id);
    assert.equal((await first).StatusCode, 1);
    const second = h.svc.wait(Id, "next-exit");
    const res = await Promise.race([second, new Promise<undefined>((r) => setTimeout(() => r(undefined), 60_000).unref())]);
    assert.ok(res, "the wait ended");
    assert.equal(res.StatusCode, 127);
    const info = await h.svc.inspect(Id);
    assert.equal(info.State.Status, "exited");
    assert.equal(info.RestartCount, 1);
    await h.svc.remove(Id);
  });

  it("removing a running container: 409 with Docker's words, and nothing changes", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "60"] }, { name: "busy-remove" });
    await h.svc.start(Id);
    await assert.rejects(
      h.svc.remove("busy-remove"),
      isError("conflict", 'cannot remove container "/busy-remove": container is running: stop the container before removing or force remove'),
    );
    assert.equal((await h.svc.inspect(Id)).State.Status, "running");
    await h.svc.remove(Id, { force: true });
  });

  it("aborted waits leave no listener behind", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "60"] });
    await h.svc.start(Id);
    const base = listeners(h.svc, Id);
    const controllers = Array.from({ length: 500 }, () => new AbortController());
    const waits = controllers.map((c, i) => h.svc.wait(Id, i % 2 ? "next-exit" : "removed", { signal: c.signal }));
    assert.equal(listeners(h.svc, Id), base + 1000);
    for (const c of controllers) c.abort();
    const results = await Promise.allSettled(waits);
    assert.ok(results.every((r) => r.status === "rejected"));
    assert.equal(listeners(h.svc, Id), base);
    await h.svc.remove(Id, { force: true });
  });

  it("log options: create checks the driver and option names with dockerd's errors", async () => {
    const create = (Type: string, Config: Record<string, string> = {}) => h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { LogConfig: { Type, Config } } });
    const before = (await h.svc.list({ all: true })).length;
    await assert.rejects(create("json-file", { foo: "1" }), isError("invalid", "unknown log opt 'foo' for json-file log driver"));
    await assert.rejects(create("local", { foo: "1" }), isError("invalid", "unknown log opt 'foo' for log driver local"));
    await assert.rejects(create("nosuch"), isError("invalid", 'error looking up logging plugin nosuch: plugin "nosuch" not found'));
    await assert.rejects(create("syslog"), isError("unsupported", /logging driver "syslog" is not supported/));
    assert.equal((await h.svc.list({ all: true })).length, before, "no container was left");
  });

  it("log options: start checks the values with dockerd's errors and leaves the container created", async () => {
    const cases: [string, Record<string, string>, string][] = [
      ["json-file", { "max-size": "abc" }, "failed to initialize logging driver: invalid size: 'abc'"],
      ["json-file", { "max-size": "-1" }, "failed to initialize logging driver: invalid size: '-1'"],
      ["json-file", { "max-size": "0" }, "failed to initialize logging driver: max-size must be a positive number"],
      ["json-file", { "max-file": "x" }, 'failed to initialize logging driver: strconv.Atoi: parsing "x": invalid syntax'],
      ["json-file", { "max-file": "0" }, "failed to initialize logging driver: max-file cannot be less than 1"],
      ["json-file", { compress: "true" }, "failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set"],
      ["local", { "max-size": "abc" }, "failed to initialize logging driver: invalid value for max-size: abc: invalid size: 'abc'"],
      ["local", { "max-file": "x" }, 'failed to initialize logging driver: invalid value for max-file: x: strconv.Atoi: parsing "x": invalid syntax'],
      ["local", { compress: "x" }, 'failed to initialize logging driver: error reading compress log option: strconv.ParseBool: parsing "x": invalid syntax'],
    ];
    for (const [Type, Config, message] of cases) {
      const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { LogConfig: { Type, Config } } });
      await assert.rejects(h.svc.start(Id), isError("system", message), `${Type} ${JSON.stringify(Config)}`);
      const info = await h.svc.inspect(Id);
      assert.equal(info.State.Status, "created");
      assert.deepEqual(mountsUnder(path.join(h.root, "containers", Id)), []);
      await h.svc.remove(Id);
    }
  });

  it("--log-opt max-size/max-file rotate the log; local is accepted the same way", async () => {
    for (const Type of ["json-file", "local"]) {
      const { Id } = await h.svc.create({
        Image: "busybox",
        Cmd: ["sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"],
        HostConfig: { LogConfig: { Type, Config: { "max-size": "2k", "max-file": "3", ...(Type === "local" ? { compress: "false" } : {}) } } },
      });
      const exited = h.svc.wait(Id, "next-exit");
      await h.svc.start(Id);
      assert.equal((await exited).StatusCode, 0);
      const logPath = (await h.svc.inspect(Id)).LogPath;
      const files = readdirSync(path.dirname(logPath)).filter((n) => n.startsWith("container.log")).sort();
      assert.deepEqual(files, ["container.log", "container.log.1", "container.log.2"], Type);
      for (const f of files) assert.ok(statSync(path.join(path.dirname(logPath), f)).size <= 2000 + 200, `${f} is bounded by max-size`);
      const lines = await collect(h.svc.logs(Id));
      assert.equal(lines.at(-1), "stdout:line-199-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
      assert.ok(lines.length < 200, "the oldest lines rotated away");
      await h.svc.remove(Id);
    }
  });

  it("--log-driver none: nothing is logged, reading the logs fails with Docker's error, attach still works", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "sleep 0.3; echo not-logged"], HostConfig: { LogConfig: { Type: "none", Config: {} } } });
    const session = await h.svc.attach(Id, { stdout: true, stderr: true, stream: true });
    const exited = h.svc.wait(Id, "next-exit");
    await h.svc.start(Id);
    let text = "";
    for await (const chunk of session.output) text += chunk.data.toString();
    assert.equal(text, "not-logged\n");
    assert.equal((await exited).StatusCode, 0);
    assert.throws(() => h.svc.logs(Id), isError("unsupported", "configured logging driver does not support reading"));
    const logPath = (await h.svc.inspect(Id)).LogPath;
    assert.equal(existsSync(logPath) ? statSync(logPath).size : 0, 0);
    await h.svc.remove(Id);
  });
});

describe("the wait route cancels the waits of clients that go away", { skip: !IS_ROOT && "needs root" }, () => {
  let h: Harness;
  let daemon: Daemon;
  let socket: string;
  before(async () => {
    h = await setup();
    socket = path.join(h.base, "cove.sock");
    daemon = await startDaemon({ root: h.root, socket, images: h.images, containerService: h.svc, log: () => undefined });
  });
  after(async () => {
    await daemon?.close();
    await h?.cleanup();
  });

  it("200 disconnected waits leave no listener", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "60"] });
    await h.svc.start(Id);
    const base = listeners(h.svc, Id);
    const requests = Array.from({ length: 200 }, (_, i) => {
      const req = http.request({ socketPath: socket, method: "POST", path: `/v1.47/containers/${Id}/wait?condition=${i % 2 ? "next-exit" : "removed"}` });
      req.on("error", () => undefined);
      const headers = new Promise<void>((resolve) => req.on("response", () => resolve()));
      req.end();
      return { req, headers };
    });
    await Promise.all(requests.map((r) => r.headers));
    assert.equal(listeners(h.svc, Id), base + 400, "each wait listens for the exit and the removal");
    for (const r of requests) r.req.destroy();
    await until("listeners released", () => listeners(h.svc, Id) === base);
    // a wait that stays gets its answer
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ socketPath: socket, method: "POST", path: `/v1.47/containers/${Id}/wait` }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve(text));
      });
      req.on("error", reject);
      req.end();
      void h.svc.kill(Id, "SIGKILL");
    });
    assert.deepEqual(JSON.parse(body), { StatusCode: 137 });
    await h.svc.remove(Id);
  });
});

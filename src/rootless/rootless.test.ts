import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { isInitialUidMap } from "../common/userns.js";
import { CoveError } from "../common/errors.js";
import { delegateCgroup, ownCgroupPath } from "./cgroup.js";
import { childDaemonArgs, parseSubIds, PortDriver, PortDriverClient, rootlessPaths } from "./index.js";
import { deframer } from "./ports.js";

describe("subordinate ids", () => {
  const text = "# comment\nalice:100000:65536\n1001:200000:65536\nbob:300000:1000\nbob:400000:65536\nbroken:x:1\n";
  it("finds the first range by name or by uid", () => {
    assert.deepEqual(parseSubIds(text, "alice", 1000), { start: 100000, count: 65536 });
    assert.deepEqual(parseSubIds(text, "carol", 1001), { start: 200000, count: 65536 });
    assert.deepEqual(parseSubIds(text, "bob", 1002), { start: 300000, count: 1000 });
  });
  it("has none for a user not listed or a malformed line", () => {
    assert.equal(parseSubIds(text, "dave", 1003), undefined);
    assert.equal(parseSubIds(text, "broken", 1004), undefined);
  });
});

describe("the initial user namespace", () => {
  it("is the identity map of every id", () => {
    assert.equal(isInitialUidMap("         0          0 4294967295\n"), true);
    assert.equal(isInitialUidMap("         0       1001          1\n         1     300000      65536\n"), false);
    assert.equal(isInitialUidMap("0 0 65536\n"), false);
  });
});

describe("rootless paths", () => {
  it("follow the XDG directories, with Podman's /tmp fallback for the runtime directory", () => {
    const p = rootlessPaths({ HOME: "/home/u", XDG_RUNTIME_DIR: "/run/user/1000" }, 1000);
    assert.equal(p.dataRoot, "/home/u/.local/share/cove");
    assert.equal(p.socket, "/run/user/1000/cove.sock");
    assert.equal(p.execRoot, "/run/user/1000/cove");
    assert.equal(p.configFile, "/home/u/.config/cove/daemon.json");
    const q = rootlessPaths({ HOME: "/home/u", XDG_DATA_HOME: "/data", XDG_CONFIG_HOME: "/cfg" }, 1000);
    assert.equal(q.runtimeDir, "/tmp/cove-run-1000");
    assert.equal(q.dataRoot, "/data/cove");
    assert.equal(q.configFile, "/cfg/cove/daemon.json");
  });
  it("give the daemon the user's places unless its flags choose others", () => {
    const p = rootlessPaths({ HOME: "/home/u", XDG_RUNTIME_DIR: "/run/user/1000" }, 1000);
    assert.deepEqual(childDaemonArgs(["--debug"], p), ["--root", "/home/u/.local/share/cove", "daemon", "-H", "unix:///run/user/1000/cove.sock", "--exec-root", "/run/user/1000/cove", "--debug"]);
    assert.deepEqual(childDaemonArgs(["-H", "unix:///x.sock", "--exec-root=/e"], p, "/r"), ["--root", "/r", "daemon", "-H", "unix:///x.sock", "--exec-root=/e"]);
  });
});

describe("the port driver", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cove-ports-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const listen = (server: net.Server, port = 0) => new Promise<number>((r) => server.listen(port, "127.0.0.1", () => r((server.address() as net.AddressInfo).port)));
  const roundTrip = (port: number, text: string) =>
    new Promise<string>((resolve, reject) => {
      const c = net.connect(port, "127.0.0.1");
      let got = "";
      c.setEncoding("utf8");
      c.on("data", (d: string) => (got += d));
      c.on("end", () => resolve(got));
      c.on("error", reject);
      c.end(text);
    });

  it("publishes a TCP port on the host that reaches the target through the daemon's forward socket, and unpublishes it", async () => {
    const driver = new PortDriver(path.join(dir, "ports.sock"), path.join(dir, "forward.sock"));
    const client = new PortDriverClient(path.join(dir, "ports.sock"), path.join(dir, "forward.sock"));
    await driver.start();
    await client.start();
    // the "container": echoes in upper case
    const target = net.createServer((c) => c.on("data", (d: Buffer) => c.end(d.toString().toUpperCase())));
    const targetPort = await listen(target);
    const free = net.createServer();
    const hostPort = await listen(free);
    await new Promise((r) => free.close(r));
    try {
      const hold = await client.expose({ proto: "tcp", hostIp: "127.0.0.1", hostPort, containerIp: "127.0.0.1", containerPort: targetPort });
      assert.ok(hold);
      assert.equal(await roundTrip(hostPort, "hello"), "HELLO");
      // the same host port again is taken: Docker's error, nothing changed
      await assert.rejects(
        client.expose({ proto: "tcp", hostIp: "127.0.0.1", hostPort, containerIp: "127.0.0.1", containerPort: targetPort }),
        (err: unknown) => err instanceof CoveError && err.kind === "conflict" && /address already in use/.test(err.message),
      );
      assert.equal(await client.expose({ proto: "sctp", hostIp: "127.0.0.1", hostPort, containerIp: "127.0.0.1", containerPort: targetPort }), undefined, "SCTP stays in the daemon's namespace");
      hold.close();
      // the unexpose request is asynchronous: the port frees within a bounded wait
      const deadline = Date.now() + 10_000;
      for (;;) {
        const probe = net.createServer();
        const freed = await new Promise<boolean>((r) => {
          probe.once("error", () => r(false));
          probe.listen(hostPort, "127.0.0.1", () => r(true));
        });
        if (freed) {
          await new Promise((r) => probe.close(r));
          break;
        }
        assert.ok(Date.now() < deadline, "the host port is released after close");
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      target.close();
      client.close();
      await driver.close();
    }
  });

  it("publishes a UDP port: each client's datagrams reach the target whole and its replies come back to that client", async () => {
    const driver = new PortDriver(path.join(dir, "ports-u.sock"), path.join(dir, "forward-u.sock"));
    const client = new PortDriverClient(path.join(dir, "ports-u.sock"), path.join(dir, "forward-u.sock"));
    await driver.start();
    await client.start();
    // the "container": answers each datagram with it in upper case
    const target = dgram.createSocket("udp4");
    target.on("message", (m, from) => target.send(Buffer.from(m.toString().toUpperCase()), from.port, from.address));
    await new Promise<void>((r) => target.bind(0, "127.0.0.1", () => r()));
    const probe = dgram.createSocket("udp4");
    await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
    const hostPort = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const clients = [dgram.createSocket("udp4"), dgram.createSocket("udp4")];
    try {
      const hold = await client.expose({ proto: "udp", hostIp: "127.0.0.1", hostPort, containerIp: "127.0.0.1", containerPort: target.address().port });
      assert.ok(hold);
      // UDP may drop a datagram: each client asks until it has its answer (bounded)
      const ask = async (c: dgram.Socket, text: string) => {
        const answer = new Promise<string>((resolve) => c.once("message", (m) => resolve(m.toString())));
        const deadline = Date.now() + 20_000;
        for (;;) {
          c.send(text, hostPort, "127.0.0.1");
          const got = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(r, 500))]);
          if (got !== undefined) return got;
          assert.ok(Date.now() < deadline, `no answer to ${text}`);
        }
      };
      assert.equal(await ask(clients[0]!, "first client"), "FIRST CLIENT");
      assert.equal(await ask(clients[1]!, "second"), "SECOND");
      const big = "x".repeat(60_000);
      assert.equal(await ask(clients[0]!, big), big.toUpperCase(), "a large datagram crosses whole");
      // the same host port again is taken
      await assert.rejects(
        client.expose({ proto: "udp", hostIp: "127.0.0.1", hostPort, containerIp: "127.0.0.1", containerPort: 1 }),
        (err: unknown) => err instanceof CoveError && err.kind === "conflict",
      );
      hold.close();
    } finally {
      for (const c of clients) c.close();
      target.close();
      client.close();
      await driver.close();
    }
  });

  it("frames datagrams however the stream cuts them", () => {
    const got: string[] = [];
    const feed = deframer((d) => got.push(d.toString()));
    const bytes = Buffer.concat([Buffer.from([0, 3]), Buffer.from("abc"), Buffer.from([0, 0]), Buffer.from([0, 2]), Buffer.from("de")]);
    for (const b of bytes) feed(Buffer.from([b]));
    assert.deepEqual(got, ["abc", "", "de"]);
  });

  it("says what to do when the launcher's port driver is not there", async () => {
    const client = new PortDriverClient(path.join(dir, "absent.sock"), path.join(dir, "forward2.sock"));
    await assert.rejects(client.expose({ proto: "tcp", hostIp: "127.0.0.1", hostPort: 1, containerIp: "127.0.0.1", containerPort: 1 }), (err: unknown) => err instanceof CoveError && /restart the rootless daemon/.test(err.hint ?? ""));
  });
});

describe("the rootless daemon's cgroups", () => {
  it("takes its own cgroup from /proc/self/cgroup on a pure cgroup v2 host only", () => {
    assert.equal(ownCgroupPath("0::/user.slice/user-1000.slice/user@1000.service/app.slice/cove.service\n"), "/user.slice/user-1000.slice/user@1000.service/app.slice/cove.service");
    assert.equal(ownCgroupPath("0::/\n"), "/");
    // a hybrid host lists its v1 hierarchies beside the unified one
    assert.equal(ownCgroupPath("12:pids:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice\n"), undefined);
    assert.equal(ownCgroupPath(""), undefined);
  });

  const tmp = mkdtempSync(path.join(os.tmpdir(), "cove-rl-cg-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("says why there is no delegation, and changes nothing, on a v1/hybrid layout or without controllers", () => {
    const v1 = path.join(tmp, "v1");
    mkdirSync(path.join(v1, "memory"), { recursive: true });
    assert.match((delegateCgroup(v1, "/x") as { reason: string }).reason, /cgroup v1 or hybrid/);
    const v2 = path.join(tmp, "v2");
    mkdirSync(path.join(v2, "me"), { recursive: true });
    writeFileSync(path.join(v2, "cgroup.controllers"), "cpu memory pids\n");
    assert.match((delegateCgroup(v2, undefined) as { reason: string }).reason, /cgroup v1 or hybrid/);
    for (const f of ["cgroup.procs", "cgroup.subtree_control"]) writeFileSync(path.join(v2, "me", f), "");
    writeFileSync(path.join(v2, "me", "cgroup.controllers"), "io hugetlb\n");
    assert.match((delegateCgroup(v2, "/me") as { reason: string }).reason, /has none of the cpu, memory and pids controllers/);
    assert.deepEqual(readdirSync(path.join(v2, "me")).sort(), ["cgroup.controllers", "cgroup.procs", "cgroup.subtree_control"]);
  });
});

import assert from "node:assert/strict";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, writeSync } from "node:fs";
import { link, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { addon, packageRoot } from "./addon.js";

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("native addon", () => {
  it("is found from the package root", () => {
    assert.ok(packageRoot().length > 1);
    assert.equal(typeof addon().lsetxattr, "function");
  });

  it("throws errors shaped like Node's fs errors", () => {
    const p = path.join(tmp, "missing");
    assert.throws(() => addon().llistxattr(p), (e: unknown) => {
      const err = e as NodeJS.ErrnoException;
      return err.code === "ENOENT" && err.errno === -2 && err.syscall === "llistxattr" && err.path === p && /^ENOENT: .*llistxattr/.test(err.message);
    });
  });

  it("sets, lists, reads and removes xattrs on a symlink itself", async () => {
    const l = path.join(tmp, "link");
    await symlink("/nonexistent", l);
    const value = Buffer.from([0, 1, 2, 255]);
    addon().lsetxattr(l, "trusted.cove", value, 0);
    assert.deepEqual(addon().llistxattr(l), ["trusted.cove"]);
    assert.deepEqual(addon().lgetxattr(l, "trusted.cove"), value);
    assert.equal(addon().lgetxattr(l, "trusted.other"), null);
    assert.throws(() => addon().lsetxattr(l, "trusted.cove", value, addon().constants.XATTR_CREATE), { code: "EEXIST" });
    addon().lremovexattr(l, "trusted.cove");
    assert.deepEqual(addon().llistxattr(l), []);
  });

  it("measures a tree's disk bytes as an lstat walk does: hard links once, symlinks and the top not followed", async () => {
    const top = path.join(tmp, "du");
    await mkdir(path.join(top, "a/b/c"), { recursive: true });
    await writeFile(path.join(top, "a/one"), Buffer.alloc(10_000, 1));
    await writeFile(path.join(top, "a/b/c/two"), Buffer.alloc(100_000, 2));
    await link(path.join(top, "a/b/c/two"), path.join(top, "a/two-again"));
    await link(path.join(top, "a/b/c/two"), path.join(top, "two-thrice"));
    await writeFile(path.join(top, "empty"), "");
    await symlink("/usr", path.join(top, "usr")); // a walk that followed it would count /usr
    await symlink("x".repeat(300), path.join(top, "long-link"));
    const seen = new Set<string>();
    const walk = async (d: string): Promise<number> => {
      let n = 0;
      for (const name of await readdir(d)) {
        const st = await lstat(path.join(d, name), { bigint: true });
        if (!seen.has(`${st.ino}`)) n += Number(st.blocks) * 512;
        seen.add(`${st.ino}`);
        if (st.isDirectory()) n += await walk(path.join(d, name));
      }
      return n;
    };
    const want = await walk(top);
    assert.ok(want >= 110_000, String(want));
    assert.equal(addon().diskUsage(top), want);
    assert.equal(addon().diskUsage(path.join(top, "a/b/c")), (await lstat(path.join(top, "a/b/c/two"))).blocks * 512);
    assert.throws(() => addon().diskUsage(path.join(top, "missing")), { code: "ENOENT", syscall: "open" });
    assert.throws(() => addon().diskUsage(path.join(top, "empty")), { code: "ENOTDIR" });
  });

  it("sets nanosecond times on a symlink without following it", async () => {
    const l = path.join(tmp, "link2");
    await symlink("/etc/passwd", l);
    addon().utimensat(l, 1, 2, 1_234_567_890, 123_456_789);
    const st = await lstat(l, { bigint: true });
    assert.equal(st.mtimeNs, 1_234_567_890_123_456_789n);
    assert.equal(st.atimeNs, 1_000_000_002n);
  });

  it("makes fifos and devices", async () => {
    const k = addon().constants;
    addon().mknod(path.join(tmp, "fifo"), k.S_IFIFO | 0o600, 0, 0);
    addon().mknod(path.join(tmp, "wh"), k.S_IFCHR, 0, 0);
    assert.ok((await lstat(path.join(tmp, "fifo"))).isFIFO());
    const wh = await lstat(path.join(tmp, "wh"));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
  });

  it("tells whether a socket's peer has read all of its output", () => {
    const [a, b] = addon().socketpair();
    try {
      assert.equal(addon().unreadOutput(a), 0);
      writeSync(a, Buffer.from("12345"));
      assert.ok(addon().unreadOutput(a) > 0);
      const buf = Buffer.alloc(16);
      assert.equal(readSync(b, buf, 0, 3, null), 3);
      assert.ok(addon().unreadOutput(a) > 0, "a partly read write is still unread");
      assert.equal(readSync(b, buf, 0, 16, null), 2);
      assert.equal(addon().unreadOutput(a), 0);
    } finally {
      closeSync(a);
      closeSync(b);
    }
    assert.throws(() => addon().unreadOutput(1 << 30), (e: unknown) => (e as NodeJS.ErrnoException).code === "EBADF");
  });

  it("sends an fd with bytes over a unix socket", () => {
    const [a, b] = addon().socketpair();
    const [c, d] = addon().socketpair();
    try {
      assert.equal(addon().sendFd(a, c, Buffer.from("fd!")), 3);
      // the message in flight holds c's socket: closing the sender's fd leaves d's peer alive
      closeSync(c);
      assert.equal(writeSync(d, Buffer.from("x")), 1);
      const buf = Buffer.alloc(16);
      assert.equal(readSync(b, buf, 0, 16, null), 3);
      assert.equal(buf.subarray(0, 3).toString(), "fd!");
      // a plain read drops the fd that came with the bytes: now d's peer is gone
      assert.throws(() => writeSync(d, Buffer.from("x")), (e: unknown) => (e as NodeJS.ErrnoException).code === "EPIPE");
    } finally {
      closeSync(a);
      closeSync(b);
      closeSync(d);
    }
    assert.throws(() => addon().sendFd(1 << 30, 0, Buffer.from("x")), (e: unknown) => (e as NodeJS.ErrnoException).code === "EBADF");
    assert.throws(() => addon().sendFd(0, 0, Buffer.alloc(0)), TypeError);
  });

  it("sends up to three fds with bytes over a unix socket", () => {
    const [a, b] = addon().socketpair();
    const [c, d] = addon().socketpair();
    const [e, f] = addon().socketpair();
    try {
      assert.equal(addon().sendFds(a, [c, e], Buffer.from([6])), 1);
      // the message in flight holds both sockets: closing the sender's fds leaves their peers alive
      closeSync(c);
      closeSync(e);
      assert.equal(writeSync(d, Buffer.from("x")), 1);
      assert.equal(writeSync(f, Buffer.from("x")), 1);
      const buf = Buffer.alloc(4);
      assert.equal(readSync(b, buf, 0, 4, null), 1);
      assert.equal(buf[0], 6);
      // a plain read drops the fds that came with the byte: both peers are gone now
      for (const peer of [d, f]) assert.throws(() => writeSync(peer, Buffer.from("x")), (err: unknown) => (err as NodeJS.ErrnoException).code === "EPIPE");
    } finally {
      for (const fd of [a, b, d, f]) closeSync(fd);
    }
    assert.throws(() => addon().sendFds(0, [], Buffer.from("x")), TypeError);
    assert.throws(() => addon().sendFds(0, [0, 1, 2, 0], Buffer.from("x")), TypeError);
    assert.throws(() => addon().sendFds(0, [0], Buffer.alloc(0)), TypeError);
  });

  it("spawns a program with the given fds in its own session, as init's child, holding no fd for it", async () => {
    const out = path.join(tmp, "spawn-out");
    const fd = openSync(out, "w");
    const [ours, theirs] = addon().socketpair();
    const fdsBefore = readdirSync("/proc/self/fd").length;
    let pid: number;
    try {
      // fd 1 is the file, fd 3 the socket: the program reports its pid, session and parent there
      const script = 'echo "$$ $(cut -d" " -f6 /proc/$$/stat) $(cut -d" " -f4 /proc/$$/stat)" >&3; echo hello; read line <&3; echo "got $line"';
      pid = addon().spawnDetached("/bin/sh", ["sh", "-c", script], [fd, fd, fd, theirs]);
    } finally {
      closeSync(fd);
      closeSync(theirs);
    }
    const sock = new Socket({ fd: ours, readable: true, writable: true });
    const first = await new Promise<string>((resolve) => sock.once("data", (d: Buffer) => resolve(d.toString("utf8").trim())));
    const [reported, sid, ppid] = first.split(" ").map(Number);
    assert.equal(reported, pid);
    assert.equal(sid, pid, "a session of its own");
    assert.notEqual(ppid, process.pid, "not this process's child: reparented at once");
    // the file and the socket's far end were closed after the spawn: nothing is held for the program
    assert.equal(readdirSync("/proc/self/fd").length, fdsBefore - 2);
    sock.end("bye\n");
    await new Promise<void>((resolve) => sock.once("close", () => resolve()));
    assert.equal(await readFile(out, "utf8"), "hello\ngot bye\n");
    // reaped by its new parent: /proc/PID goes away instead of staying a zombie
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      gone = !existsSync(`/proc/${pid}`);
      if (!gone) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(gone, `process ${pid} was not reaped`);
  });

  it("makes a sealed copy of a file above fd 63 that programs start from, and nobody can change", async () => {
    const script = path.join(tmp, "sealed.sh");
    await writeFile(script, '#!/bin/sh\necho "from $(readlink /proc/$$/exe)" >&3\n', { mode: 0o755 });
    const fd = addon().sealedCopy("/bin/sh");
    try {
      assert.ok(fd >= 64, `fd ${fd}`);
      assert.deepEqual(readFileSync(`/proc/self/fd/${fd}`), readFileSync("/bin/sh"));
      assert.throws(() => writeSync(fd, Buffer.from("x"), 0, 1, 0), (err: NodeJS.ErrnoException) => err.code === "EPERM" || err.code === "EBADF");
      // a program started from it runs from the memfd
      const [ours, theirs] = addon().socketpair();
      try {
        addon().spawnDetached(`/proc/self/fd/${fd}`, ["sh", script], [0, 1, 2, theirs]);
      } finally {
        closeSync(theirs);
      }
      const sock = new Socket({ fd: ours, readable: true, writable: false });
      const line = await new Promise<string>((resolve) => sock.once("data", (d: Buffer) => resolve(d.toString("utf8").trim())));
      sock.destroy();
      assert.match(line, /^from \/memfd:sh/);
    } finally {
      closeSync(fd);
    }
    assert.throws(() => addon().sealedCopy(path.join(tmp, "missing")), { code: "ENOENT", syscall: "open" });
  });

  it("reports a program that cannot start as the exec's errno", () => {
    assert.throws(() => addon().spawnDetached(path.join(tmp, "missing"), ["missing"], []), { code: "ENOENT", syscall: "execve" });
    assert.throws(() => addon().spawnDetached("/bin/true", ["true"], [1_000_000]), { code: "EBADF", syscall: "fcntl" });
  });

  it("makes a user namespace with the given mappings as an fd, and refuses a bad mapping", { skip: process.getuid?.() !== 0 && "writing another user's id mapping needs root" }, async () => {
    const fd = addon().usernsCreate("0 100000 1000\n", "0 200000 1000\n");
    try {
      const { readlinkSync } = await import("node:fs");
      assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^user:\[\d+\]$/);
    } finally {
      closeSync(fd);
    }
    assert.throws(() => addon().usernsCreate("0 100000 1000\n0 100000 1000\n", "0 1 1\n"), (err: NodeJS.ErrnoException) => err.code === "EINVAL" && err.syscall === "uid_map");
  });

  it("refuses a bad network namespace or family for a stream socket", () => {
    assert.throws(() => addon().netnsStreamSocket(path.join(tmp, "no-ns"), 2), { code: "ENOENT", syscall: "open" });
    assert.throws(() => addon().netnsStreamSocket("/proc/self/ns/net", 99), { code: "EINVAL" });
    assert.throws(() => (addon().netnsStreamSocket as (...a: unknown[]) => number)(42, 2), TypeError);
    assert.throws(() => (addon().netnsStreamSocket as (...a: unknown[]) => number)("/proc/self/ns/net"), TypeError);
  });

  it("makes a stream socket that connects inside another network namespace", { skip: process.getuid?.() !== 0 && "entering a network namespace needs root" }, async () => {
    const { createServer, Socket: NetSocket } = await import("node:net");
    const server = createServer((c) => c.end("hi"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const nsFile = path.join(tmp, "ns");
    await writeFile(nsFile, "");
    addon().netnsCreate(nsFile);
    const connect = (ns: string) =>
      new Promise<string>((resolve) => {
        const s = new NetSocket({ fd: addon().netnsStreamSocket(ns, 2), readable: true, writable: true });
        let got = "";
        s.on("data", (d: Buffer) => (got += d.toString()));
        s.on("end", () => resolve(got));
        s.on("error", (err: NodeJS.ErrnoException) => resolve(String(err.code)));
        s.connect(port, "127.0.0.1");
      });
    try {
      // the host's loopback answers a socket made in the host's namespace...
      assert.equal(await connect("/proc/self/ns/net"), "hi");
      // ...not one made in a fresh namespace (whose loopback is not even up)
      assert.equal(await connect(nsFile), "ENETUNREACH");
      // and the calling thread is back in its own namespace
      assert.equal(await connect("/proc/self/ns/net"), "hi");
    } finally {
      addon().umount2(nsFile, addon().constants.MNT_DETACH);
      await new Promise((r) => server.close(r));
    }
  });

  it("reports a bad mount cwd as a chdir error and leaves the process cwd alone", () => {
    const cwd = process.cwd();
    assert.throws(() => addon().mount("none", tmp, "tmpfs", 0, null, path.join(tmp, "nope")), { code: "ENOENT", syscall: "chdir" });
    assert.equal(process.cwd(), cwd);
  });
});

// A full disk under the daemon's state root: a tmpfs of bounded size (COVE_FULL_DISK_MB, 96)
// mounted as the root, filled by a filler file, while the daemon creates, starts, writes a
// container's log past the end of the room, commits, loads an image and copies a volume up.
// Each failure is a clear "no space left on device" error and changes nothing (no partial
// container, image or volume); the log writer stops at the full disk without corrupting the
// log or the daemon; and once the room is back, a restarted daemon lists and inspects every
// container, image and volume that existed. The tmpfs and everything under it goes at the end,
// also on failure.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, statfsSync, writeSync } from "node:fs";
import { mkdir, mkdtemp, rm, truncate } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { findBusybox } from "../images/fixtures.js";
import { startLoadDaemon, type LoadDaemon, type Reply } from "../support/load-daemon.js";
import { tearDownDaemon } from "../support/teardown.js";

const SIZE_MB = Number(process.env.COVE_FULL_DISK_MB ?? 96);
const NO_SPACE = /no space left on device/i;
/** The hint that says what to do: make room on the state root's file system. */
const FREE_SPACE = /free (disk )?space/i;
/** load checks the room before it stages an archive: its error names the bytes missing and says to free space. */
const NO_ROOM = /no space left on device|free disk space/i;

const skip = process.getuid?.() !== 0 ? "needs root (tmpfs mount, containers)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

/** Fills the file system of `file` to the last block (1 MiB writes, then 4 KiB ones, until ENOSPC); returns the bytes written. */
function fillUp(file: string): number {
  const fd = openSync(file, "a");
  let written = 0;
  try {
    for (const chunk of [Buffer.alloc(1 << 20, 1), Buffer.alloc(4096, 1)]) {
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** The "message" of an error reply, or the errorDetail of a JSON message stream. */
function errorText(r: Reply): string {
  for (const l of r.body.split("\n").filter(Boolean)) {
    try {
      const m = JSON.parse(l) as { message?: string; errorDetail?: { message: string }; error?: string };
      const text = m.message ?? m.errorDetail?.message ?? m.error;
      if (text) return text;
    } catch {
      // not JSON: the body as it came
    }
  }
  return r.body;
}

interface Listing {
  containers: string[];
  images: string[];
  volumes: string[];
}

describe(`a full disk under the state root (a ${SIZE_MB} MB tmpfs)`, { skip, timeout: 30 * 60_000 }, () => {
  let dir = "";
  let root = "";
  let mounted = false;
  let d: LoadDaemon | undefined;
  const sock = () => path.join(dir, "cove.sock");
  const filler = () => path.join(root, "filler");
  const messages: Record<string, string> = {};

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-fulldisk-"));
    root = path.join(dir, "root");
    await mkdir(root);
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${SIZE_MB}m,mode=0711`, "cove-fulldisk", root]);
    mounted = true;
  });

  after(async () => {
    try {
      await rm(filler(), { force: true }).catch(() => undefined);
      // a daemon that died (a crash is what this test looks for) left its containers: the next
      // one on the same root adopts them, so that they are removed through the API below
      if (d && (d.proc.exitCode !== null || d.proc.signalCode !== null)) {
        d = startLoadDaemon(root, sock());
        await d.line(/^ready$/).catch(() => undefined);
      }
      if (d && d.proc.exitCode === null) {
        await d.removeAll();
      }
    } finally {
      await d?.stop("close");
      // the tmpfs is the deepest mount's parent: teardown unmounts the overlays first, then it
      await tearDownDaemon(undefined, dir);
      if (mounted) console.log("tmpfs and state root removed");
    }
  });

  const listing = async (): Promise<Listing> => ({
    containers: (JSON.parse((await d!.call("GET", "/containers/json?all=1")).body) as { Id: string }[]).map((c) => c.Id).sort(),
    images: (JSON.parse((await d!.call("GET", "/images/json")).body) as { Id: string }[]).map((i) => i.Id).sort(),
    volumes: ((JSON.parse((await d!.call("GET", "/volumes")).body) as { Volumes: { Name: string }[] | null }).Volumes ?? []).map((v) => v.Name).sort(),
  });

  /** The container records on disk: one directory per listed container, nothing half-made. */
  const recordsOnDisk = () => readdirSync(path.join(root, "containers")).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();

  const create = (body: unknown, name?: string) => d!.call("POST", `/containers/create${name ? `?name=${name}` : ""}`, body);
  const idOf = (r: Reply) => (JSON.parse(r.body) as { Id: string }).Id;

  it("clear errors while full, nothing partial, and the state readable after a restart", async () => {
    try {
      await fullDiskScenario();
    } catch (err) {
      // a failure shows what the daemon said
      console.log(d?.out.slice(-40).join("\n"));
      throw err;
    }
  });

  async function fullDiskScenario(): Promise<void> {
    d = startLoadDaemon(root, sock(), { importBusybox: true });
    await d.line(/^ready$/);

    // what exists before the disk fills: an exited container, a running one, a volume with data,
    // a created container to start later, and an image to load later (saved, then removed)
    const exited = await create({ Image: "busybox", Cmd: ["sh", "-c", "echo before the fill"] }, "fd-exited");
    assert.equal(exited.status, 201, exited.body);
    assert.equal((await d.call("POST", `/containers/${idOf(exited)}/start`)).status, 204);
    assert.equal((await d.call("POST", `/containers/${idOf(exited)}/wait`)).status, 200);
    const running = await create({ Image: "busybox", Cmd: ["sleep", "3600"], HostConfig: { Binds: ["fd-keepvol:/data"] } }, "fd-running");
    assert.equal(running.status, 201, running.body);
    assert.equal((await d.call("POST", `/containers/${idOf(running)}/start`)).status, 204);
    const pending = await create({ Image: "busybox", Cmd: ["sh", "-c", "echo started; sleep 3600"] }, "fd-pending");
    assert.equal(pending.status, 201, pending.body);
    const maker = await create({ Image: "busybox", Cmd: ["sh", "-c", "head -c 2000000 /dev/urandom > /payload"] }, "fd-maker");
    assert.equal((await d.call("POST", `/containers/${idOf(maker)}/start`)).status, 204);
    assert.equal((await d.call("POST", `/containers/${idOf(maker)}/wait`)).status, 200);
    const committed = await d.call("POST", `/commit?container=${idOf(maker)}&repo=fd-loadme&tag=1`);
    assert.equal(committed.status, 201, committed.body);
    const saved = await d.stream("GET", "/images/fd-loadme:1/get");
    assert.equal(saved.status, 200);
    const chunks: Buffer[] = [];
    for await (const c of saved.res) chunks.push(c as Buffer);
    const archive = Buffer.concat(chunks);
    assert.ok(archive.length > 2_000_000, "the saved image holds its 2 MB layer");
    assert.equal((await d.call("DELETE", "/images/fd-loadme:1")).status, 200);
    const before = await listing();

    // --- the disk full to the last block
    const filled = fillUp(filler());
    assert.ok(filled > 0 && freeBytes(root) < 4096, `the state root is full (${freeBytes(root)} bytes free)`);

    const c1 = await create({ Image: "busybox", Cmd: ["true"] }, "fd-new");
    assert.ok(c1.status >= 500, `create on a full disk fails: ${c1.status} ${c1.body}`);
    messages.create = errorText(c1);
    assert.match(messages.create, NO_SPACE);
    assert.match(messages.create, FREE_SPACE, "the error says what to do");
    assert.deepEqual(await listing(), before, "a failed create leaves no container");
    assert.deepEqual(recordsOnDisk(), before.containers, "a failed create leaves no record on disk");

    const s1 = await d.call("POST", `/containers/${idOf(pending)}/start`);
    if (s1.status === 204) messages.start = "(started: nothing it needed was written)";
    else {
      messages.start = errorText(s1);
      assert.match(messages.start, NO_SPACE, `start on a full disk: ${s1.status} ${s1.body}`);
      assert.match(messages.start, FREE_SPACE, "the error says what to do");
      const st = JSON.parse((await d.call("GET", `/containers/${idOf(pending)}/json`)).body) as { State: { Status: string } };
      assert.notEqual(st.State.Status, "running", "a start that failed leaves the container not running");
    }

    const k1 = await d.call("POST", `/commit?container=${idOf(running)}&repo=fd-commit&tag=1`);
    messages.commit = errorText(k1);
    assert.ok(k1.status >= 500, `commit on a full disk fails: ${k1.status} ${k1.body}`);
    assert.match(messages.commit, NO_SPACE);
    assert.match(messages.commit, FREE_SPACE, "the error says what to do");
    assert.deepEqual((await listing()).images, before.images, "a failed commit leaves no image");

    const l1 = await d.call("POST", "/images/load?quiet=1", archive);
    messages.load = errorText(l1);
    assert.match(messages.load, NO_ROOM, `load on a full disk fails: ${l1.status} ${l1.body}`);
    assert.deepEqual((await listing()).images, before.images, "a failed load leaves no image");

    const v1 = await create({ Image: "busybox", Cmd: ["true"], HostConfig: { Binds: ["fd-copyup:/etc"] } }, "fd-copyup");
    messages.copyUp = errorText(v1);
    assert.ok(v1.status >= 500, `a volume copy-up on a full disk fails: ${v1.status} ${v1.body}`);
    assert.match(messages.copyUp, NO_SPACE);
    assert.match(messages.copyUp, FREE_SPACE, "the error says what to do");
    const afterCopyUp = await listing();
    assert.deepEqual(afterCopyUp.containers, before.containers, "a failed copy-up leaves no container");
    assert.ok(!afterCopyUp.volumes.includes("fd-copyup") || readdirSync(path.join(root, "volumes/fd-copyup/_data")).length === 0, "a failed copy-up leaves no partial volume");

    // --- a container writing its log past the end of the room (1 MB left)
    await truncate(filler(), filled - (1 << 20));
    const logger = await create({ Image: "busybox", Cmd: ["sh", "-c", 'i=0; while [ $i -lt 100000 ]; do echo "log line $i of the full-disk test, padded to be long enough"; i=$((i+1)); done; echo finished'] }, "fd-logger");
    assert.equal(logger.status, 201, `create with 1 MB free: ${logger.body}`);
    assert.equal((await d.call("POST", `/containers/${idOf(logger)}/start`)).status, 204);
    const waited = await d.call("POST", `/containers/${idOf(logger)}/wait`);
    assert.equal(waited.status, 200, waited.body);
    assert.equal((JSON.parse(waited.body) as { StatusCode: number }).StatusCode, 0, "the container is not hurt by its log's full disk");
    assert.equal((await d.call("GET", "/_ping")).status, 200, "the daemon still answers");
    const logs = await d.call("GET", `/containers/${idOf(logger)}/logs?stdout=1&stderr=1`);
    assert.equal(logs.status, 200, logs.body);
    const lines = demux(Buffer.from(logs.body, "latin1")).split("\n").filter(Boolean);
    assert.ok(lines.length > 0 && lines.length < 100_001, `logs reads what was written before the disk filled (${lines.length} lines)`);
    // what did not fit is dropped (entries may resume once a torn one is cut back), but every
    // entry is whole and they keep their order
    let previous = -1;
    for (const [i, l] of lines.entries()) {
      // the script's last line fits again when room comes back (a torn entry cut back frees some)
      if (l === "finished" && i === lines.length - 1) break;
      const n = Number(/^log line (\d+) of the full-disk test, padded to be long enough$/.exec(l)?.[1] ?? NaN);
      assert.ok(n > previous, `log line ${JSON.stringify(l)} is whole and after line ${previous}`);
      previous = n;
    }
    assert.equal(lines[0], "log line 0 of the full-disk test, padded to be long enough");
    // the json-file itself: one whole JSON entry per line, none torn by the full disk
    const logFile = readFileSync(path.join(root, "containers", idOf(logger), "container.log"), "utf8");
    logFile.split("\n").filter(Boolean).forEach((entry, i) => assert.doesNotThrow(() => JSON.parse(entry), `log file line ${i + 1} is a whole JSON entry: ${entry.slice(0, 120)}`));
    messages.logs = d.out.filter((l) => NO_SPACE.test(l) && l.includes(idOf(logger).slice(0, 12))).at(0) ?? "(no warning in the daemon's log)";

    // --- room again, and a restart on the same root
    await rm(filler());
    await d.stop("close");
    d = startLoadDaemon(root, sock());
    await d.line(/^ready$/);
    const again = await listing();
    for (const id of before.containers) assert.ok(again.containers.includes(id), `container ${id} is listed after the restart`);
    for (const id of before.images) assert.ok(again.images.includes(id), `image ${id} is listed after the restart`);
    for (const v of before.volumes) assert.ok(again.volumes.includes(v), `volume ${v} is listed after the restart`);
    assert.deepEqual(recordsOnDisk(), again.containers, "every record on disk is a listed container");
    for (const id of again.containers) assert.equal((await d.call("GET", `/containers/${id}/json`)).status, 200, `container ${id} is inspectable`);
    for (const id of again.images) assert.equal((await d.call("GET", `/images/${id}/json`)).status, 200, `image ${id} is inspectable`);
    for (const v of again.volumes) assert.equal((await d.call("GET", `/volumes/${v}`)).status, 200, `volume ${v} is inspectable`);
    const still = JSON.parse((await d.call("GET", `/containers/${idOf(running)}/json`)).body) as { State: { Running: boolean } };
    assert.ok(still.State.Running, "the running container was adopted");
    const relogs = await d.call("GET", `/containers/${idOf(logger)}/logs?stdout=1&stderr=1`);
    assert.equal(demux(Buffer.from(relogs.body, "latin1")).split("\n").filter(Boolean).length, lines.length, "the log reads the same after the restart");
    // everything works again with room: the failed operations now succeed
    const k2 = await d.call("POST", `/commit?container=${idOf(running)}&repo=fd-commit&tag=1`);
    assert.equal(k2.status, 201, k2.body);
    const l2 = await d.call("POST", "/images/load?quiet=1", archive);
    assert.equal(l2.status, 200, l2.body);
    assert.doesNotMatch(l2.body, /error/i);
    for (const [what, m] of Object.entries(messages)) console.log(`${what}: ${m}`);
  }
});

/** The text of a multiplexed (stdcopy) log stream. */
function demux(b: Buffer): string {
  let out = "";
  for (let o = 0; o + 8 <= b.length; ) {
    const n = b.readUInt32BE(o + 4);
    out += b.subarray(o + 8, o + 8 + n).toString();
    o += 8 + n;
  }
  return out;
}

// A reader that goes away in the middle of an export (`cove export web | head`, a client that
// disconnects) must end the export with an error and leave no mount behind, and a store whose
// daemon died with an export view still mounted must open again.

import assert from "node:assert/strict";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { ImageService } from "../../src/images/service.js";
import { addon } from "../../src/native/addon.js";
import { mountAll, unmountAll } from "../../src/snapshots/index.js";
import { mountsUnder } from "../support/dockerd.js";
import { importBusybox, tempDir } from "./fixtures.js";

const skip = process.getuid?.() !== 0 ? "needs root (overlay mounts)" : false;

describe("an abandoned export", { skip }, () => {
  let base: string;
  let root: string;
  let images: ImageService;

  before(async () => {
    base = await tempDir();
    root = path.join(base, "root");
    images = await ImageService.open({ root });
    await importBusybox(images);
  });

  after(async () => {
    for (const p of await mountsUnder(base)) unmountAll(p, addon().constants.MNT_DETACH);
    await rm(base, { recursive: true, force: true });
  });

  it("fails with EPIPE when the reader closes, and unmounts its view", { timeout: 60_000 }, async () => {
    await images.prepareRootfs("exp1", "busybox:latest");
    let seen = 0;
    // takes one chunk, then goes away as `head` does
    const reader: Writable = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        setImmediate(() => reader.destroy());
        cb();
      },
    });
    await assert.rejects(images.exportRootfs("exp1", reader), (err: Error & { code?: string }) => /closed before the archive was complete|EPIPE/.test(`${err.message} ${err.code}`));
    assert.ok(seen > 0, "the export had started");
    assert.deepEqual(await mountsUnder(path.join(root, "tmp")), []);
    await images.removeRootfs("exp1");
  });

  it("a store with an export view left mounted by a crash opens again", async () => {
    const stale = path.join(root, "tmp", "export-deadbeef0000");
    await mkdir(stale, { recursive: true });
    mountAll([{ type: "tmpfs", source: "tmpfs", options: ["size=1m"] }], stale);
    const reopened = await ImageService.open({ root });
    assert.deepEqual(await mountsUnder(path.join(root, "tmp")), []);
    assert.ok((await reopened.list()).length > 0);
  });
});

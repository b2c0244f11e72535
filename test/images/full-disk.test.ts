// A disk that fills up during `load` leaves no partial image: the store on a small tmpfs is
// exactly as before, and the space is given back.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, statfsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { ImageService } from "../../src/images/service.js";
import { makeTar } from "../../src/snapshots/testing.js";
import { tempDir } from "./fixtures.js";

const skip = process.getuid?.() !== 0 ? "needs root (tmpfs and overlay snapshots)" : undefined;

describe("load on a full disk", { skip }, () => {
  let dir = "";
  let small = "";
  let archive = "";

  before(async () => {
    dir = await tempDir();
    // an image with 8 MiB of incompressible data, saved from a store on the ordinary disk
    const source = await ImageService.open({ root: path.join(dir, "source") });
    const layer = await makeTar([{ header: { name: "big.bin" }, body: randomBytes(8 * 1024 * 1024) }, { header: { name: "etc/hostname" }, body: "x\n" }]);
    await source.importRootfs(Readable.from([layer]), { reference: "big:latest" });
    archive = path.join(dir, "big.tar");
    await source.save(["big:latest"], createWriteStream(archive));
    small = path.join(dir, "small");
    await mkdir(small);
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // 6 MiB: the archive cannot even be staged; 12 MiB: it can, and the disk fills while the
  // layer is unpacked (and the blobs are stored)
  for (const size of ["6m", "12m"]) {
    it(`refuses on a ${size} disk, keeps the store as it was and frees the space`, async () => {
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "cove-test-full", small]);
      try {
        const svc = await ImageService.open({ root: path.join(small, "root") });
        const state = async () => ({
          images: (await svc.images.list()).map((i) => i.id),
          blobs: (await svc.content.usage()).blobs.count,
          snapshots: svc.snapshots.list().map((s) => s.key),
        });
        const free = () => {
          const s = statfsSync(small);
          return s.bavail * s.bsize;
        };
        const before_ = await state();
        const freeBefore = free();
        await assert.rejects(svc.load(createReadStream(archive)), (e: unknown) => /ENOSPC|no space|bytes left/i.test(String((e as Error).message)));
        assert.deepEqual(await state(), before_, "no image, blob or snapshot was added");
        assert.ok(free() >= freeBefore - 64 * 1024, `the staged data was removed (free ${free()} of ${freeBefore} bytes)`);
      } finally {
        execFileSync("umount", ["-l", small]);
      }
    });
  }
});

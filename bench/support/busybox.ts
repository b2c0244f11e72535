// The offline busybox image as a docker-archive, made by cove's image service: the engine and
// scale benchmarks load the same tar into cove and into dockerd so both hold the same image ID.

import { createWriteStream } from "node:fs";
import path from "node:path";
import { finished } from "node:stream/promises";
import { ImageService } from "../../src/images/service.js";
import { cleanup as cleanupImageRoot } from "../../src/snapshots/testing.js";
import { importBusybox } from "../../test/images/fixtures.js";

/** Writes dir/busybox.docker.tar holding `reference` and returns its path. */
export async function busyboxArchive(dir: string, reference: string): Promise<string> {
  const root = path.join(dir, "img");
  const tar = path.join(dir, "busybox.docker.tar");
  try {
    const svc = await ImageService.open({ root });
    await importBusybox(svc, reference);
    const out = createWriteStream(tar);
    await svc.save([reference], out);
    if (!out.writableFinished) await finished(out);
  } finally {
    await cleanupImageRoot(root);
  }
  return tar;
}

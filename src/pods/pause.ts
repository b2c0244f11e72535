// cove's pause image: the pod's infra container runs build/cove-pause from an image cove makes
// itself on first use (no pull, no registry): one layer holding the program at /pause and the
// empty directories the runtime mounts on. Its tag is the program's digest, so a rebuilt program
// makes a new image and the old one stays with the pods that use it.

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { CoveError, fromErrno, isErrno, unsupported } from "../common/errors.js";
import type { ImageService } from "../images/service.js";
import { packageRoot } from "../native/addon.js";
import { encodeHeader } from "../snapshots/index.js";
import { PAUSE_PATH } from "./spec.js";

/** What the pods use of the image service: the lookup and the commit that makes the pause image. */
export type PauseImages = Pick<ImageService, "inspect" | "commit">;

/** The repository of cove's pause images ("localhost/": never one a registry could answer for). */
export const PAUSE_REPOSITORY = "localhost/cove-pause";

export function defaultPausePath(): string {
  return path.join(packageRoot(), "build", "cove-pause");
}

const BLOCK = 512;

/** The pause image's one layer: /pause and the mount points, owned by root, as an uncompressed tar. */
export function pauseLayer(program: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (const dir of ["dev/", "etc/", "proc/", "sys/"]) parts.push(encodeHeader({ name: dir, type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, mtimeSec: 0 }));
  parts.push(encodeHeader({ name: PAUSE_PATH.slice(1), type: "file", mode: 0o755, uid: 0, gid: 0, size: program.length, mtimeSec: 0 }));
  parts.push(program, Buffer.alloc((BLOCK - (program.length % BLOCK)) % BLOCK));
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** The pause image's reference, made from the program when the image store lacks it. */
export async function ensurePauseImage(images: PauseImages, programPath: string): Promise<string> {
  let program: Buffer;
  try {
    program = await readFile(programPath);
  } catch (err) {
    if (isErrno(err, "ENOENT")) {
      throw unsupported(`the pause program ${programPath} is missing: pods need it for their infra containers`, { code: "pod.pause-missing", hint: "build cove's native parts: bash scripts/build-native.sh" });
    }
    throw fromErrno(err, `reading the pause program ${programPath}`);
  }
  const reference = `${PAUSE_REPOSITORY}:${createHash("sha256").update(program).digest("hex").slice(0, 12)}`;
  try {
    await images.inspect(reference);
    return reference;
  } catch (err) {
    if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
  }
  await images.commit(undefined, () => Readable.from([pauseLayer(program)]), {
    config: { Entrypoint: [PAUSE_PATH], Cmd: null, Env: null, StopSignal: "SIGTERM", Labels: { "io.cove.pause": "true" } },
    reference,
    createdBy: "cove: the pause program of pods (build/cove-pause)",
  });
  return reference;
}

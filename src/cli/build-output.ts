// `cove build --output`: the final stage's filesystem written to a directory (type=local) or a
// tar archive (type=tar, "-" for standard output) instead of only an image, in the words of
// `docker buildx build --output`.
//
// The export happens on the client side, through the Engine API's standard calls, once the build
// has made its image: a container of the image is created (never started), its filesystem read
// with GET /containers/{id}/export (the image's files alone: no volumes, nothing a start adds),
// and the container removed. Why not a query parameter of /build: the legacy /build answers with
// the progress stream, and a second stream (the tar) would need a channel of its own (BuildKit's
// session); the export calls already exist, work against any Engine API daemon, and leave the
// build itself untouched. The image stays in the store, untagged unless -t was given: it is the
// cache the next build reuses.

import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { EngineClient } from "../client/engine.js";

export type BuildOutput = { type: "local"; dest: string } | { type: "tar"; dest: string };

/** A --output value: DIR, "-", or type=local|tar,dest=PATH. */
export function parseOutput(v: string): BuildOutput {
  if (v === "") throw new Error(`invalid --output "": give a directory, - (a tar on standard output) or type=local|tar,dest=PATH`);
  if (v === "-") return { type: "tar", dest: "-" };
  if (!v.includes("=")) return { type: "local", dest: v };
  const fields: Record<string, string> = {};
  for (const part of v.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new Error(`invalid --output ${JSON.stringify(v)}: ${JSON.stringify(part)} is not KEY=VALUE`);
    fields[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1);
  }
  const type = fields.type;
  if (type === undefined) throw new Error(`invalid --output ${JSON.stringify(v)}: type is required (type=local or type=tar)`);
  for (const k of Object.keys(fields)) {
    if (k !== "type" && k !== "dest") throw new Error(`invalid --output ${JSON.stringify(v)}: cove build does not know the attribute ${JSON.stringify(k)} (type, dest)`);
  }
  const dest = fields.dest;
  if (type === "local") {
    if (dest === undefined || dest === "") throw new Error(`invalid --output ${JSON.stringify(v)}: dest=DIR is required for type=local`);
    return { type: "local", dest };
  }
  if (type === "tar") return { type: "tar", dest: dest === undefined || dest === "" ? "-" : dest };
  throw new Error(`--output type=${type} is not supported by cove build: use type=local (a directory) or type=tar (an archive); -t names the image`);
}

/** Writes the filesystem of image `id` where `out` says. */
export async function writeOutput(client: EngineClient, id: string, out: BuildOutput, stdout: NodeJS.WritableStream): Promise<void> {
  // Cmd and Entrypoint given: an image without them (FROM scratch) can be created too
  const { Id } = await client.containerCreate({ Image: id, Cmd: ["/cove-build-output"], Entrypoint: [], NetworkDisabled: true, HostConfig: { NetworkMode: "none" } });
  try {
    const tar = await client.containerExport(Id);
    if (out.type === "tar") {
      if (out.dest === "-") await pipeline(tar, stdout, { end: false });
      else await pipeline(tar, createWriteStream(out.dest));
      return;
    }
    await mkdir(out.dest, { recursive: true });
    // loaded only here: the layer unpacker brings the native addon, which a build without -o DIR does not need
    const { applyLayer } = await import("../snapshots/index.js");
    try {
      await applyLayer(tar, out.dest, { whiteouts: "plain", compression: "none" });
    } catch (err) {
      tar.destroy();
      throw new Error(`cannot write the build's files into ${path.resolve(out.dest)}: ${(err as Error).message}`, { cause: err });
    }
  } finally {
    await client.containerRemove(Id, { force: true, v: true });
  }
}

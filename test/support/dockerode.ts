// What tests that drive dockerode share.

import { PassThrough, type Readable } from "node:stream";
import type Docker from "dockerode";

/** Collects what docker-modem's demuxStream writes to stdout and stderr until the stream ends. */
export function demux(docker: Docker, stream: Readable): Promise<{ stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d: Buffer) => (stdout += d.toString()));
  err.on("data", (d: Buffer) => (stderr += d.toString()));
  docker.modem.demuxStream(stream, out, err);
  return new Promise((resolve, reject) => {
    stream.on("end", () => resolve({ stdout, stderr }));
    stream.on("close", () => resolve({ stdout, stderr }));
    stream.on("error", reject);
  });
}

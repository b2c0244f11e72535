// What the compose tests share: a stream that keeps what compose printed.

import { writeFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { EngineClient } from "../../src/client/index.js";
import { freeSubnets, setupNetwork, type NetHarness } from "../network/harness.js";
import { freePort } from "../registry/support.js";

/** A writable that collects its text in .text. */
export function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string };
  w.text = "";
  return w;
}

/**
 * A cove daemon with networking (test/network/harness.ts) and a compose file written in its base
 * directory, with the variables the tests' files use: SUBNET (a free subnet for the project's
 * default network) and WEB_PORT (a free port on 127.0.0.1).
 */
export async function composeProject(yaml: string): Promise<{ h: NetHarness; client: EngineClient; file: string; env: Record<string, string> }> {
  const h = await setupNetwork();
  try {
    const file = path.join(h.base, "compose.yaml");
    await writeFile(file, yaml);
    const env = { SUBNET: freeSubnets(1, [h.bridgeSubnet])[0]!, WEB_PORT: String(await freePort()) };
    return { h, client: new EngineClient({ socket: h.socket }), file, env };
  } catch (err) {
    await h.cleanup();
    throw err;
  }
}

// What the compose tests share: a stream that keeps what compose printed.

import { Writable } from "node:stream";

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

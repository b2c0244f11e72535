// A JSON message stream (pull, load) shown as the docker CLI's jsonmessage shows it. On a
// terminal each layer keeps one line that is redrawn in place (cursor up, clear, rewrite, cursor
// down) with a progress bar drawn from progressDetail; elsewhere only plain status lines are
// printed and messages carrying a progress bar are left out. An error message ends the command.

import { CoveError } from "../common/errors.js";
import { progressString } from "../docker/index.js";
import type { ProgressMessage } from "../client/stream.js";

export { progressString };

export interface DisplayOptions {
  /** Draw on a terminal (lines redrawn in place). */
  terminal: boolean;
  /** The terminal's width (default 200, as the docker CLI assumes when it cannot tell). */
  width?: number;
}

/** Renders messages to write() as the docker CLI does; throws the stream's error as the command's. */
export async function displayJSONMessages(messages: AsyncIterable<ProgressMessage>, write: (s: string) => void, opts: DisplayOptions): Promise<void> {
  const width = opts.width ?? 200;
  const ids = new Map<string, number>();
  for await (const m of messages) {
    if (m.error !== undefined || m.errorDetail?.message !== undefined) {
      throw new CoveError("system", m.errorDetail?.message ?? m.error ?? "", { code: "engine.stream" });
    }
    if (m.aux !== undefined) continue;
    const hasProgress = m.progressDetail !== undefined;
    let diff = 0;
    if (m.id && (hasProgress || m.progress)) {
      let line = ids.get(m.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(m.id, line);
        if (opts.terminal) write("\n");
      }
      diff = ids.size - line;
      if (opts.terminal && diff > 0) write(`\x1b[${diff}A`);
    } else {
      ids.clear(); // a line outside the layer lines: earlier ones are no longer redrawn
    }
    let endl = "";
    const bar = progressString(m.progressDetail, width);
    if (opts.terminal && m.stream === undefined && hasProgress) {
      write("\x1b[2K\r");
      endl = "\r";
    } else if (hasProgress && bar !== "") {
      continue; // no progress bars off a terminal
    }
    let text = m.id ? `${m.id}: ` : "";
    if (hasProgress && opts.terminal) text += `${m.status ?? ""} ${bar}${endl}`;
    else if (m.progress) text += `${m.status ?? ""} ${m.progress}${endl}`;
    else if (m.stream !== undefined) text += `${m.stream}${endl}`;
    else text += `${m.status ?? ""}${endl}\n`;
    write(text);
    if (m.id && opts.terminal && diff > 0) write(`\x1b[${diff}B`);
  }
}

// Elastic tabstops as Go's text/tabwriter (and docker/cli's fork of it) compute them: cells are
// tab-terminated; a column is a run of consecutive lines that have a cell in that position; each
// column is as wide as its widest cell plus padding, and at least minwidth. docker/cli formats
// tables with NewWriter(out, 10, 1, 3, ' ', 0): minwidth 10, padding 3, space padding.

export interface TabwriterOptions {
  minwidth: number;
  padding: number;
  padchar?: string;
}

export const DOCKER_TABLE: TabwriterOptions = { minwidth: 10, padding: 3, padchar: " " };

interface Cell {
  text: string;
  width: number;
}

/** Display width of a string: East Asian wide characters count 2, combining marks 0. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (/\p{Mn}|\p{Me}|\p{Cf}/u.test(ch)) continue;
    if (
      (cp >= 0x1100 && cp <= 0x115f) ||
      (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
      (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) ||
      (cp >= 0xfe30 && cp <= 0xfe4f) ||
      (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) ||
      (cp >= 0x1f300 && cp <= 0x1f64f) ||
      (cp >= 0x1f900 && cp <= 0x1f9ff) ||
      (cp >= 0x20000 && cp <= 0x3fffd)
    ) {
      w += 2;
    } else {
      w += 1;
    }
  }
  return w;
}

/** Aligns tab-terminated cells of `text` into columns. */
export function tabwrite(text: string, opts: TabwriterOptions = DOCKER_TABLE): string {
  const padchar = opts.padchar ?? " ";
  // Lines are split at \n; the last (unterminated) segment is a line of its own.
  const rawLines = text.split("\n");
  const lines: Cell[][] = rawLines.map((l) => l.split("\t").map((t) => ({ text: t, width: displayWidth(t) })));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (line0: number, line1: number) => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i]!;
      let s = "";
      line.forEach((c, j) => {
        s += c.text;
        if (j < widths.length && j < line.length - 1) s += padchar.repeat(Math.max(0, widths[j]! - c.width));
      });
      out.push(s);
    }
  };

  // Go's format(): recursively find column blocks of contiguous lines.
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= lines[t]!.length - 1) continue;
      writeLines(line0, t);
      line0 = t;
      let width = opts.minwidth;
      for (; t < line1; t++) {
        const line = lines[t]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + opts.padding);
      }
      widths.push(width);
      format(line0, t);
      widths.pop();
      line0 = t;
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out.join("\n");
}

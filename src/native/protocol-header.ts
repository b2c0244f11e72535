// Renders the shim's contract (./protocol.ts) as the C header src/native/shim/protocol.h.
// scripts/gen-native-protocol.js writes its output; protocol.test.ts compares it with the file.

import { DIRECT_FLAGS, FRAME_HEADER_SIZE, FRAME_MAX_CLIENT_DATA, FRAMES, OP_PHASES, OPS, PASS_FDS, PASS_FDS_MASK, PLAN_MAGIC, REPORTS, STATE_FILES, SYNC_ANSWERS } from "./protocol.js";

/** Where the header lives, relative to the package root. */
export const PROTOCOL_HEADER = "src/native/shim/protocol.h";

function cString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

function comment(text: string): string {
  if (text.includes("*/")) throw new Error(`a C comment cannot hold "*/": ${text}`);
  return `/* ${text} */`;
}

/** Lines of a name, a value and a comment, with the values and the comments in columns. */
function columns(rows: [string, string, string][], indent = ""): string[] {
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([a, b, c]) => `${indent}${a.padEnd(w0)} ${b.padEnd(w1)} ${comment(c)}`);
}

export function renderProtocolHeader(): string {
  const ops = Object.entries(OPS);
  const out: string[] = [
    "/* GENERATED from src/native/protocol.ts by scripts/gen-native-protocol.js: do not edit.",
    " * scripts/build-native.sh regenerates it; src/native/protocol.test.ts checks it.",
    " *",
    " * The contract between cove's TypeScript side and the shim: plan ops, report lines, attach",
    " * frames and state files. The TypeScript side decides everything; the shim only performs. */",
    "#ifndef COVE_PROTOCOL_H",
    "#define COVE_PROTOCOL_H",
    "",
    "/* A plan file is PLAN_MAGIC followed by records:",
    " *   u32 opcode, u32 argc, then argc times (u32 length, bytes).",
    " * All integers little-endian; numeric arguments are decimal strings. */",
    `#define PLAN_MAGIC ${cString(PLAN_MAGIC)}`,
    "",
    "/* The ops, by phase: the monitor reads its options up front; the other ops run in plan order. */",
    "enum cove_op {",
  ];
  OP_PHASES.forEach((phase, i) => {
    const inPhase = ops.filter(([, op]) => op.code >= phase.first && op.code <= phase.last);
    if (i > 0) out.push("");
    out.push(`\t${comment(`${phase.title} (${phase.first}..${phase.last})`)}`);
    out.push(...columns(inPhase.map(([name, op]) => [`OP_${name}`, `= ${op.code},`, op.args]), "\t"));
  });
  out.push("};", "");

  out.push("/* Report lines to the runtime on the fd named by --report-fd: the verb, then its fields", " * separated by spaces, then a newline. A sync is answered with one SYNC_ANSWER line. */");
  out.push(...columns(Object.entries(REPORTS).map(([name, r]) => [`#define REPORT_${name}`, cString(r.verb), r.fields])));
  for (const [name, answer] of Object.entries(SYNC_ANSWERS)) out.push(`#define SYNC_ANSWER_${name} ${cString(answer)}`);
  out.push("");

  out.push("/* Frames on the attach socket, both directions: [u8 type][u32 LE length][data]. */", "enum attach_frame {");
  out.push(...columns(Object.entries(FRAMES).map(([name, f]) => [`FRAME_${name}`, `= ${f.type},`, f.data]), "\t"));
  out.push("};");
  out.push(`#define FRAME_HEADER_SIZE ${FRAME_HEADER_SIZE}`);
  out.push(`#define FRAME_MAX_CLIENT_DATA ${FRAME_MAX_CLIENT_DATA} ${comment("a client sending a larger frame is dropped")}`);
  out.push("");
  out.push("/* The flags byte of a DIRECT frame: how the shim serves the connection handed over. */");
  out.push(...columns(Object.entries(DIRECT_FLAGS).map(([name, f]) => [`#define DIRECT_${name}`, String(f.bit), f.what])));
  out.push("");
  out.push("/* The bytes of the stdio hand-over (DIRECT_FDS) and its mask bits. */");
  out.push(...columns(Object.entries(PASS_FDS).map(([name, f]) => [`#define PASS_FDS_${name}`, `0x${f.byte.toString(16)}`, f.what])));
  out.push(...columns(Object.entries(PASS_FDS_MASK).map(([name, f]) => [`#define PASS_FDS_MASK_${name}`, String(f.bit), f.what])));
  out.push("");

  out.push("/* Files in the state directory (OP_STATE_DIR). */");
  out.push(...columns(Object.entries(STATE_FILES).map(([name, f]) => [`#define STATE_${name}`, cString(f.name), f.what])));
  out.push("", "#endif", "");
  return out.join("\n");
}

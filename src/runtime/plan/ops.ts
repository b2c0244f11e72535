// The plan: a flat list of operations the native shim performs in order. The op numbers, the
// plan file's magic and what each op's arguments are live in src/native/protocol.ts, the one
// source the shim's C header is generated from. Each op keeps a human description so a failure
// reported as "op 12, errno EPERM" becomes "mounting proc on /proc: EPERM".

import { Op, PLAN_MAGIC } from "../../native/protocol.js";

export { Op };

export type OpCode = (typeof Op)[keyof typeof Op];
export type OpName = keyof typeof Op;

export type Arg = string | number | bigint | Buffer;

export interface PlanOp {
  code: OpCode;
  args: Arg[];
  /** What this op does, in words, for error messages ("mount proc on /proc"). */
  what: string;
}

const NAMES = new Map<number, string>(Object.entries(Op).map(([k, v]) => [v, k]));

export function opName(code: number): string {
  return NAMES.get(code) ?? `op${code}`;
}

const MAGIC = Buffer.from(PLAN_MAGIC);

/** Serialises ops in the shim's format: magic, then (u32 op, u32 argc, argc × (u32 len, bytes)). */
export function encodePlan(ops: readonly PlanOp[]): Buffer {
  const parts: Buffer[] = [MAGIC];
  for (const op of ops) {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(op.code, 0);
    head.writeUInt32LE(op.args.length, 4);
    parts.push(head);
    for (const arg of op.args) {
      const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg));
      const len = Buffer.alloc(4);
      len.writeUInt32LE(bytes.length, 0);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Parses an encoded plan back into code/args pairs (for tests and `cove runtime` debugging). */
export function decodePlan(buf: Buffer): { code: number; args: Buffer[] }[] {
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error("not a cove plan");
  const out: { code: number; args: Buffer[] }[] = [];
  let p = MAGIC.length;
  while (p < buf.length) {
    const code = buf.readUInt32LE(p);
    const argc = buf.readUInt32LE(p + 4);
    p += 8;
    const args: Buffer[] = [];
    for (let i = 0; i < argc; i++) {
      const len = buf.readUInt32LE(p);
      args.push(buf.subarray(p + 4, p + 4 + len));
      p += 4 + len;
    }
    out.push({ code, args });
  }
  return out;
}

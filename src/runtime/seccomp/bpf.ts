// Classic BPF as seccomp uses it: the instruction encoding (struct sock_filter, 8 bytes, host byte
// order, which is little-endian on every architecture cove supports), the SECCOMP_RET_* values,
// and an interpreter that runs a program against a seccomp_data so unit tests can check what the
// kernel would decide without loading anything.

import { invalid } from "../../common/errors.js";

// Instruction classes and fields (linux/bpf_common.h).
export const BPF_LD = 0x00;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_W = 0x00;
export const BPF_ABS = 0x20;
export const BPF_K = 0x00;
export const BPF_AND = 0x50;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

/** The opcodes the compiler emits and the interpreter runs; anything else is rejected. */
export const OP = {
  LD_W_ABS: BPF_LD | BPF_W | BPF_ABS,
  ALU_AND_K: BPF_ALU | BPF_AND | BPF_K,
  JA: BPF_JMP | BPF_JA,
  JEQ_K: BPF_JMP | BPF_JEQ | BPF_K,
  JGT_K: BPF_JMP | BPF_JGT | BPF_K,
  JGE_K: BPF_JMP | BPF_JGE | BPF_K,
  JSET_K: BPF_JMP | BPF_JSET | BPF_K,
  RET_K: BPF_RET | BPF_K,
} as const;

/** The kernel's limit on the length of one filter (linux/bpf_common.h). */
export const BPF_MAXINSNS = 4096;

/** sizeof(struct seccomp_data): nr(4) arch(4) instruction_pointer(8) args[6](48). */
export const SECCOMP_DATA_SIZE = 64;
export const OFFSET_NR = 0;
export const OFFSET_ARCH = 4;
export const OFFSET_IP = 8;
/** Offset of the low 32 bits of argument i (little-endian); the high half is 4 bytes further. */
export const argLowOffset = (i: number): number => 16 + 8 * i;
export const argHighOffset = (i: number): number => 16 + 8 * i + 4;

// Filter return values (linux/seccomp.h).
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Serialises instructions as an array of struct sock_filter (little-endian). */
export function encodeProgram(insns: readonly Instruction[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8);
    buf.writeUInt8(ins.jt, i * 8 + 2);
    buf.writeUInt8(ins.jf, i * 8 + 3);
    buf.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/** Parses an array of struct sock_filter. */
export function decodeProgram(program: Buffer): Instruction[] {
  if (program.length === 0 || program.length % 8 !== 0) {
    throw invalid(`seccomp program has ${program.length} bytes, not a non-empty multiple of 8`, { code: "seccomp.bad-program" });
  }
  const out: Instruction[] = [];
  for (let off = 0; off < program.length; off += 8) {
    out.push({
      code: program.readUInt16LE(off),
      jt: program.readUInt8(off + 2),
      jf: program.readUInt8(off + 3),
      k: program.readUInt32LE(off + 4),
    });
  }
  return out;
}

const KNOWN_OPS = new Set<number>(Object.values(OP));

/**
 * Checks a program the way the kernel's filter checker would for the subset cove uses: known
 * opcodes, aligned loads inside seccomp_data, forward jumps that stay inside the program, a return
 * as the last instruction and at most BPF_MAXINSNS instructions. Throws on the first problem.
 */
export function validateProgram(insns: readonly Instruction[]): void {
  const bad = (pc: number, what: string) =>
    invalid(`seccomp program instruction ${pc}: ${what}`, { code: "seccomp.bad-program" });
  if (insns.length === 0) throw invalid("seccomp program is empty", { code: "seccomp.bad-program" });
  if (insns.length > BPF_MAXINSNS) {
    throw invalid(`seccomp program has ${insns.length} instructions, more than the kernel's limit of ${BPF_MAXINSNS}`, {
      code: "seccomp.too-long",
    });
  }
  insns.forEach((ins, pc) => {
    if (!KNOWN_OPS.has(ins.code)) throw bad(pc, `unsupported opcode 0x${ins.code.toString(16)}`);
    if (ins.code === OP.LD_W_ABS && (ins.k >= SECCOMP_DATA_SIZE || ins.k % 4 !== 0)) {
      throw bad(pc, `load from offset ${ins.k} outside seccomp_data or unaligned`);
    }
    if (ins.code === OP.JA && pc + 1 + ins.k >= insns.length) throw bad(pc, `jump past the end`);
    if ((ins.code & 0x07) === BPF_JMP && ins.code !== OP.JA) {
      if (pc + 1 + ins.jt >= insns.length || pc + 1 + ins.jf >= insns.length) throw bad(pc, "jump past the end");
    }
  });
  const last = insns[insns.length - 1] as Instruction;
  if (last.code !== OP.RET_K) throw bad(insns.length - 1, "the last instruction is not a return");
}

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  /** Up to six 64-bit arguments; missing ones are 0. */
  args?: readonly bigint[];
}

function seccompDataBytes(data: SeccompData): Buffer {
  const buf = Buffer.alloc(SECCOMP_DATA_SIZE);
  buf.writeUInt32LE(data.nr >>> 0, OFFSET_NR);
  buf.writeUInt32LE(data.arch >>> 0, OFFSET_ARCH);
  buf.writeBigUInt64LE(BigInt.asUintN(64, data.instructionPointer ?? 0n), OFFSET_IP);
  const args = data.args ?? [];
  if (args.length > 6) throw invalid(`seccomp_data has 6 arguments, got ${args.length}`);
  args.forEach((a, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, a), argLowOffset(i)));
  return buf;
}

/**
 * Runs a seccomp BPF program against one system call and returns the filter's 32-bit verdict
 * (a SECCOMP_RET_* action with its data), as the kernel would compute it.
 */
export function runFilter(program: Buffer | readonly Instruction[], data: SeccompData): number {
  const insns = Buffer.isBuffer(program) ? decodeProgram(program) : program;
  validateProgram(insns);
  const mem = seccompDataBytes(data);
  let a = 0;
  let pc = 0;
  // Jumps only go forward, so the loop ends within insns.length steps.
  while (pc < insns.length) {
    const ins = insns[pc] as Instruction;
    switch (ins.code) {
      case OP.LD_W_ABS:
        a = mem.readUInt32LE(ins.k);
        pc += 1;
        break;
      case OP.ALU_AND_K:
        a = (a & ins.k) >>> 0;
        pc += 1;
        break;
      case OP.JA:
        pc += 1 + ins.k;
        break;
      case OP.JEQ_K:
        pc += 1 + (a === ins.k >>> 0 ? ins.jt : ins.jf);
        break;
      case OP.JGT_K:
        pc += 1 + (a > ins.k >>> 0 ? ins.jt : ins.jf);
        break;
      case OP.JGE_K:
        pc += 1 + (a >= ins.k >>> 0 ? ins.jt : ins.jf);
        break;
      case OP.JSET_K:
        pc += 1 + ((a & ins.k) !== 0 ? ins.jt : ins.jf);
        break;
      case OP.RET_K:
        return ins.k >>> 0;
      default:
        throw invalid(`seccomp program instruction ${pc}: unsupported opcode 0x${ins.code.toString(16)}`);
    }
  }
  throw invalid("seccomp program ran past its end", { code: "seccomp.bad-program" });
}

export type VerdictAction = "kill_process" | "kill_thread" | "trap" | "errno" | "user_notif" | "trace" | "log" | "allow";

export interface Verdict {
  action: VerdictAction;
  /** For errno: the errno the syscall fails with. */
  errno?: number;
  /** For trap and trace: the 16-bit data passed along. */
  data?: number;
}

/** Decodes a filter return value the way the kernel does (unknown actions count as kill_process). */
export function decodeVerdict(ret: number): Verdict {
  const r = ret >>> 0;
  const action = (r & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = r & SECCOMP_RET_DATA;
  switch (action) {
    case SECCOMP_RET_KILL_PROCESS:
      return { action: "kill_process" };
    case SECCOMP_RET_KILL_THREAD:
      return { action: "kill_thread" };
    case SECCOMP_RET_TRAP:
      return { action: "trap", data };
    case SECCOMP_RET_ERRNO:
      // The kernel clamps errno data to MAX_ERRNO (4095).
      return { action: "errno", errno: Math.min(data, 4095) };
    case SECCOMP_RET_USER_NOTIF:
      return { action: "user_notif" };
    case SECCOMP_RET_TRACE:
      return { action: "trace", data };
    case SECCOMP_RET_LOG:
      return { action: "log" };
    case SECCOMP_RET_ALLOW:
      return { action: "allow" };
    default:
      return { action: "kill_process" };
  }
}

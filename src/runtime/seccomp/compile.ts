// Compiles the OCI linux.seccomp section into a classic BPF program for
// seccomp(SECCOMP_SET_MODE_FILTER), without libseccomp.
//
// Program layout:
//
//   load seccomp_data.arch
//   one JEQ per architecture section (native first) ─┐
//   RET bad-arch action (KILL_THREAD, libseccomp's)   │
//   per section: load nr; binary search over ranges ◄─┘ of syscall numbers, each leaf a shared
//                RET or an argument chain
//   argument chains: the rules of one syscall, tried in profile order, first match wins, then the
//                default action
//   shared RET instructions
//
// Semantics, following runc + libseccomp where the OCI spec is silent:
// - The native architecture is always included. Syscalls from an architecture the filter does not
//   list get SECCOMP_RET_KILL_THREAD (libseccomp's default "bad arch" action). On x86_64 the x32
//   ABI arrives with AUDIT_ARCH_X86_64 and the 0x40000000 bit in the number: without
//   SCMP_ARCH_X32 those numbers get the bad-arch action too (nr 0xffffffff, the "no syscall" value
//   ptrace uses, is treated as an ordinary x86_64 number).
// - Names unknown on an architecture are skipped for that architecture, not errors.
// - Arguments are compared as 64-bit values (both 32-bit halves); several comparisons in one rule
//   are ANDed, including several on the same argument.
// - ENOSYS for syscalls newer than the profile (runc's "patchbpf" stub, moby/moby#42680): unless
//   the default action is ALLOW, LOG or TRACE, or defaultErrnoRet is already ENOSYS, every syscall
//   number above the highest number the profile names for that architecture returns -ENOSYS, so
//   libc falls back to older syscalls instead of failing with EPERM.
// - SCMP_ACT_ERRNO and SCMP_ACT_TRACE default to EPERM when errnoRet is not given.

import { invalid, unsupported } from "../../common/errors.js";
import type { LinuxSeccomp, SeccompAction, SeccompArg, SeccompOperator, SeccompSyscall } from "../spec.js";
import {
  AUDIT_ARCH,
  OTHER_OCI_ARCHITECTURES,
  SUPPORTED_ARCHITECTURES,
  X32_SYSCALL_BIT,
  hostArch,
  isSupportedArch,
  resolveArch,
  syscallTable,
  type SupportedArch,
} from "./arch.js";
import {
  BPF_MAXINSNS,
  OFFSET_ARCH,
  OFFSET_NR,
  OP,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  argHighOffset,
  argLowOffset,
  encodeProgram,
  type Instruction,
} from "./bpf.js";

export const EPERM = 1;
export const ENOSYS = 38;
/** The kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO. */
const MAX_ERRNO = 4095;

/** seccomp(2) filter flags named by the OCI runtime spec. */
export const SECCOMP_FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};
const SECCOMP_FILTER_FLAG_NEW_LISTENER = "SECCOMP_FILTER_FLAG_NEW_LISTENER";

/** The action for syscalls of architectures the filter does not cover (libseccomp's default). */
export const BAD_ARCH_ACTION = SECCOMP_RET_KILL_THREAD;

export interface CompileOptions {
  /** The architecture the container runs on; always included. Default: this process's. */
  nativeArch?: string;
}

export interface CompiledSeccomp {
  /** struct sock_filter[] as seccomp(SECCOMP_SET_MODE_FILTER) takes it. */
  program: Buffer;
  /** The seccomp(2) flags to load it with. */
  flags: number;
  instructionCount: number;
  /** The architectures the program covers, native first. */
  architectures: SupportedArch[];
  /** Things the caller should tell the user: ignored architectures, dropped flags. */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Profile validation

const OPERATORS: readonly SeccompOperator[] = [
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
];
const ACTIONS: readonly SeccompAction[] = [
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
];

interface Cond {
  index: number;
  op: SeccompOperator;
  value: bigint;
  valueTwo: bigint;
}

interface Rule {
  conds: Cond[];
  ret: number;
}

const U64_LIMIT = 1n << 64n;

function toU64(v: unknown, field: string): bigint {
  let big: bigint;
  if (typeof v === "bigint") big = v;
  else if (typeof v === "number" && Number.isInteger(v)) big = BigInt(v);
  else throw invalid(`seccomp argument value ${String(v)} is not an integer`, { field, code: "seccomp.bad-arg" });
  if (big < 0n || big >= U64_LIMIT) {
    throw invalid(`seccomp argument value ${String(v)} is outside the unsigned 64-bit range`, {
      field,
      code: "seccomp.bad-arg",
      hint: "values above 2^53 lose precision in JSON numbers; use values below 2^53 or a mask that fits",
    });
  }
  return big;
}

function actionValue(action: unknown, errnoRet: unknown, field: string, errnoField: string): number {
  if (typeof action !== "string" || !(ACTIONS as readonly string[]).includes(action)) {
    throw invalid(`unknown seccomp action ${JSON.stringify(action)}`, {
      field,
      code: "seccomp.unknown-action",
      hint: `use one of ${ACTIONS.filter((a) => a !== "SCMP_ACT_NOTIFY").join(", ")}`,
    });
  }
  const takesErrno = action === "SCMP_ACT_ERRNO" || action === "SCMP_ACT_TRACE";
  let errno = EPERM;
  if (errnoRet !== undefined && errnoRet !== null) {
    if (!takesErrno) {
      throw invalid(`seccomp action ${action} does not take an errno, but ${errnoField} is ${String(errnoRet)}`, {
        field: errnoField,
        code: "seccomp.bad-errno",
        hint: "remove the errno or use SCMP_ACT_ERRNO",
      });
    }
    if (typeof errnoRet !== "number" || !Number.isInteger(errnoRet) || errnoRet < 0 || errnoRet > MAX_ERRNO) {
      throw invalid(`seccomp errno ${String(errnoRet)} is not an integer between 0 and ${MAX_ERRNO}`, {
        field: errnoField,
        code: "seccomp.bad-errno",
      });
    }
    errno = errnoRet;
  }
  switch (action as SeccompAction) {
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return SECCOMP_RET_KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return SECCOMP_RET_KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return SECCOMP_RET_TRAP;
    case "SCMP_ACT_ERRNO":
      return (SECCOMP_RET_ERRNO | errno) >>> 0;
    case "SCMP_ACT_TRACE":
      return (SECCOMP_RET_TRACE | errno) >>> 0;
    case "SCMP_ACT_ALLOW":
      return SECCOMP_RET_ALLOW;
    case "SCMP_ACT_LOG":
      return SECCOMP_RET_LOG;
    case "SCMP_ACT_NOTIFY":
      throw unsupported("seccomp action SCMP_ACT_NOTIFY is not supported: cove has no seccomp notify listener yet", {
        field,
        code: "seccomp.notify-unsupported",
        hint: "use SCMP_ACT_ERRNO, SCMP_ACT_TRACE or SCMP_ACT_LOG instead",
      });
  }
}

function parseArgs(args: unknown, field: string): Cond[] {
  if (args === undefined || args === null) return [];
  if (!Array.isArray(args)) throw invalid("seccomp rule args is not a list", { field, code: "seccomp.bad-arg" });
  return args.map((raw: unknown, j): Cond => {
    const f = `${field}[${j}]`;
    if (typeof raw !== "object" || raw === null) throw invalid("seccomp argument is not an object", { field: f, code: "seccomp.bad-arg" });
    const a = raw as Partial<Record<keyof SeccompArg, unknown>>;
    if (typeof a.index !== "number" || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) {
      throw invalid(`seccomp argument index ${String(a.index)} is not between 0 and 5`, {
        field: `${f}.index`,
        code: "seccomp.bad-arg",
        hint: "system calls have at most six arguments, numbered 0 to 5",
      });
    }
    if (typeof a.op !== "string" || !(OPERATORS as readonly string[]).includes(a.op)) {
      throw invalid(`unknown seccomp comparison operator ${JSON.stringify(a.op)}`, {
        field: `${f}.op`,
        code: "seccomp.bad-arg",
        hint: `use one of ${OPERATORS.join(", ")}`,
      });
    }
    return {
      index: a.index,
      op: a.op as SeccompOperator,
      value: toU64(a.value, `${f}.value`),
      valueTwo: a.valueTwo === undefined || a.valueTwo === null ? 0n : toU64(a.valueTwo, `${f}.valueTwo`),
    };
  });
}

function parseFlags(flags: unknown, warnings: string[]): number {
  if (flags === undefined || flags === null) return 0;
  if (!Array.isArray(flags)) throw invalid("seccomp flags is not a list", { field: "flags", code: "seccomp.unknown-flag" });
  let out = 0;
  flags.forEach((flag: unknown, i) => {
    const field = `flags[${i}]`;
    if (flag === SECCOMP_FILTER_FLAG_NEW_LISTENER) {
      throw unsupported("seccomp flag SECCOMP_FILTER_FLAG_NEW_LISTENER is not supported: cove has no notify listener yet", { field });
    }
    const bit = typeof flag === "string" ? SECCOMP_FILTER_FLAGS[flag] : undefined;
    if (bit === undefined) {
      throw invalid(`unknown seccomp flag ${JSON.stringify(flag)}`, {
        field,
        code: "seccomp.unknown-flag",
        hint: `use one of ${Object.keys(SECCOMP_FILTER_FLAGS).join(", ")}`,
      });
    }
    if (flag === "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") {
      // The kernel refuses this flag without SECCOMP_FILTER_FLAG_NEW_LISTENER (EINVAL), and cove
      // never installs a listener, so the flag has nothing to act on.
      warnings.push("seccomp flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: it only applies to a notify listener");
      return;
    }
    out |= bit;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Assembly with labels; conditional jumps whose target is beyond 255 instructions get a JA
// trampoline (JA takes a 32-bit offset).

type Label = number;
type Node =
  | { kind: "label"; id: Label }
  | { kind: "op"; code: number; k: number }
  | { kind: "jmp"; code: number; k: number; t: Label; f: Label; farT: boolean; farF: boolean }
  | { kind: "ja"; target: Label };

class Assembler {
  private nodes: Node[] = [];
  private next = 0;

  label(): Label {
    return this.next++;
  }
  place(id: Label): void {
    this.nodes.push({ kind: "label", id });
  }
  op(code: number, k: number): void {
    this.nodes.push({ kind: "op", code, k: k >>> 0 });
  }
  ret(value: number): void {
    this.op(OP.RET_K, value);
  }
  load(offset: number): void {
    this.op(OP.LD_W_ABS, offset);
  }
  jmp(code: number, k: number, t: Label, f: Label): void {
    this.nodes.push({ kind: "jmp", code, k: k >>> 0, t, f, farT: false, farF: false });
  }
  ja(target: Label): void {
    this.nodes.push({ kind: "ja", target });
  }

  private layout(): Map<Label, number> {
    const pos = new Map<Label, number>();
    let pc = 0;
    for (const n of this.nodes) {
      if (n.kind === "label") pos.set(n.id, pc);
      else if (n.kind === "jmp") pc += 1 + (n.farT ? 1 : 0) + (n.farF ? 1 : 0);
      else pc += 1;
    }
    pos.set(-1, pc);
    return pos;
  }

  assemble(): Instruction[] {
    // Widening only ever lengthens the program, so this reaches a fixed point.
    let pos = this.layout();
    for (;;) {
      let changed = false;
      let pc = 0;
      for (const n of this.nodes) {
        if (n.kind === "label") continue;
        if (n.kind === "jmp") {
          if (!n.farT && (pos.get(n.t) as number) - (pc + 1) > 255) {
            n.farT = true;
            changed = true;
          }
          if (!n.farF && (pos.get(n.f) as number) - (pc + 1) > 255) {
            n.farF = true;
            changed = true;
          }
          pc += 1 + (n.farT ? 1 : 0) + (n.farF ? 1 : 0);
        } else pc += 1;
      }
      if (!changed) break;
      pos = this.layout();
    }
    const out: Instruction[] = [];
    const offset = (target: Label, from: number): number => {
      const d = (pos.get(target) as number) - (from + 1);
      if (d < 0) throw new Error(`seccomp assembler: backward jump to label ${target}`);
      return d;
    };
    for (const n of this.nodes) {
      const pc = out.length;
      switch (n.kind) {
        case "label":
          break;
        case "op":
          out.push({ code: n.code, jt: 0, jf: 0, k: n.k });
          break;
        case "ja":
          out.push({ code: OP.JA, jt: 0, jf: 0, k: offset(n.target, pc) });
          break;
        case "jmp": {
          // Layout: cond, [JA t if farT], [JA f if farF]
          const jt = n.farT ? 0 : offset(n.t, pc);
          const jf = n.farF ? (n.farT ? 1 : 0) : offset(n.f, pc);
          out.push({ code: n.code, jt, jf, k: n.k });
          if (n.farT) out.push({ code: OP.JA, jt: 0, jf: 0, k: offset(n.t, out.length) });
          if (n.farF) out.push({ code: OP.JA, jt: 0, jf: 0, k: offset(n.f, out.length) });
          break;
        }
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Argument comparisons

const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
const hi32 = (v: bigint): number => Number(v >> 32n);

/** Emits code that continues after itself when `c` holds and jumps to `fail` otherwise. */
function emitCond(asm: Assembler, c: Cond, fail: Label): void {
  const pass = asm.label();
  const hiOff = argHighOffset(c.index);
  const loOff = argLowOffset(c.index);
  const vh = hi32(c.value);
  const vl = lo32(c.value);
  const next = (): Label => asm.label();
  switch (c.op) {
    case "SCMP_CMP_EQ": {
      const n = next();
      asm.load(hiOff);
      asm.jmp(OP.JEQ_K, vh, n, fail);
      asm.place(n);
      asm.load(loOff);
      asm.jmp(OP.JEQ_K, vl, pass, fail);
      break;
    }
    case "SCMP_CMP_NE": {
      const n = next();
      asm.load(hiOff);
      asm.jmp(OP.JEQ_K, vh, n, pass);
      asm.place(n);
      asm.load(loOff);
      asm.jmp(OP.JEQ_K, vl, fail, pass);
      break;
    }
    case "SCMP_CMP_GT":
    case "SCMP_CMP_GE": {
      // hi > vh → true; hi < vh → false; equal → compare the low halves.
      const n1 = next();
      const n2 = next();
      asm.load(hiOff);
      asm.jmp(OP.JGT_K, vh, pass, n1);
      asm.place(n1);
      asm.jmp(OP.JEQ_K, vh, n2, fail);
      asm.place(n2);
      asm.load(loOff);
      asm.jmp(c.op === "SCMP_CMP_GT" ? OP.JGT_K : OP.JGE_K, vl, pass, fail);
      break;
    }
    case "SCMP_CMP_LT":
    case "SCMP_CMP_LE": {
      // LT is "not GE", LE is "not GT".
      const n1 = next();
      const n2 = next();
      asm.load(hiOff);
      asm.jmp(OP.JGT_K, vh, fail, n1);
      asm.place(n1);
      asm.jmp(OP.JEQ_K, vh, n2, pass);
      asm.place(n2);
      asm.load(loOff);
      asm.jmp(c.op === "SCMP_CMP_LT" ? OP.JGE_K : OP.JGT_K, vl, fail, pass);
      break;
    }
    case "SCMP_CMP_MASKED_EQ": {
      const mask = c.value;
      const want = c.valueTwo;
      if ((want & ~mask) !== 0n) {
        // (arg & mask) can never have bits outside the mask.
        asm.ja(fail);
        break;
      }
      const half = (off: number, m: number, w: number, onTrue: Label) => {
        asm.load(off);
        if (m !== 0xffffffff) asm.op(OP.ALU_AND_K, m);
        asm.jmp(OP.JEQ_K, w, onTrue, fail);
      };
      if (hi32(mask) !== 0) {
        const n = next();
        half(hiOff, hi32(mask), hi32(want), n);
        asm.place(n);
      }
      if (lo32(mask) !== 0) half(loOff, lo32(mask), lo32(want), pass);
      break;
    }
  }
  asm.place(pass);
}

// ---------------------------------------------------------------------------------------------
// Syscall number dispatch

type Leaf = { kind: "ret"; value: number } | { kind: "chain"; rules: Rule[]; fallback: number };

interface Range {
  start: number;
  key: string;
}

function leafKeyOf(rules: Rule[], fallback: number, leaves: Map<string, Leaf>): string {
  // A chain that starts with an unconditional rule is just that rule's return.
  const first = rules[0];
  if (first === undefined) return retKey(fallback, leaves);
  if (first.conds.length === 0) return retKey(first.ret, leaves);
  // Rules after an unconditional rule can never be reached.
  const cut = rules.findIndex((r) => r.conds.length === 0);
  const live = cut === -1 ? rules : rules.slice(0, cut + 1);
  const key = `chain:${JSON.stringify(live, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}:${fallback}`;
  if (!leaves.has(key)) leaves.set(key, { kind: "chain", rules: live, fallback });
  return key;
}

function retKey(value: number, leaves: Map<string, Leaf>): string {
  const key = `ret:${value >>> 0}`;
  if (!leaves.has(key)) leaves.set(key, { kind: "ret", value: value >>> 0 });
  return key;
}

/**
 * Builds the ranges for the syscall numbers [start, end] of one table architecture: listed
 * syscalls get their own leaves, gaps up to `cutoff` the default, gaps above it `above`.
 */
function rangesFor(
  start: number,
  end: number,
  entries: Map<number, string>,
  cutoff: number,
  gapKey: string,
  aboveKey: string,
): Range[] {
  const out: Range[] = [];
  const push = (s: number, key: string) => {
    const last = out[out.length - 1];
    if (last && last.key === key) return;
    out.push({ start: s, key });
  };
  const gap = (a: number, b: number) => {
    if (a > b) return;
    if (a <= cutoff) push(a, gapKey);
    if (b > cutoff) push(Math.max(a, cutoff + 1), aboveKey);
  };
  const nrs = [...entries.keys()].filter((n) => n >= start && n <= end).sort((a, b) => a - b);
  let at = start;
  for (const nr of nrs) {
    gap(at, nr - 1);
    push(nr, entries.get(nr) as string);
    at = nr + 1;
  }
  gap(at, end);
  return out;
}

function mergeRanges(parts: Range[][]): Range[] {
  const out: Range[] = [];
  for (const part of parts) {
    for (const r of part) {
      const last = out[out.length - 1];
      if (last && last.key === r.key) continue;
      out.push(r);
    }
  }
  return out;
}

/** Emits a binary search over `ranges` (sorted, contiguous from 0) on the accumulator. */
function emitTree(asm: Assembler, ranges: Range[], lo: number, hi: number, leafLabel: (key: string) => Label): void {
  const mid = (lo + hi + 1) >> 1;
  const target = (a: number, b: number): Label => (a === b ? leafLabel((ranges[a] as Range).key) : asm.label());
  const left = target(lo, mid - 1);
  const right = target(mid, hi);
  asm.jmp(OP.JGE_K, (ranges[mid] as Range).start, right, left);
  if (mid - 1 > lo) {
    asm.place(left);
    emitTree(asm, ranges, lo, mid - 1, leafLabel);
  }
  if (hi > mid) {
    asm.place(right);
    emitTree(asm, ranges, mid, hi, leafLabel);
  }
}

// ---------------------------------------------------------------------------------------------

/** Compiles an OCI linux.seccomp section into a seccomp BPF program. */
export function compileSeccomp(profile: LinuxSeccomp, opts: CompileOptions = {}): CompiledSeccomp {
  if (typeof profile !== "object" || profile === null) {
    throw invalid("linux.seccomp is not an object", { field: "linux.seccomp", code: "seccomp.invalid" });
  }
  const warnings: string[] = [];
  const native = opts.nativeArch !== undefined ? resolveArch(opts.nativeArch, "nativeArch") : hostArch();

  const defaultRet = actionValue(profile.defaultAction, profile.defaultErrnoRet, "defaultAction", "defaultErrnoRet");
  const flags = parseFlags(profile.flags, warnings);
  if (profile.listenerPath) warnings.push("seccomp listenerPath ignored: cove has no seccomp notify support");

  // Architectures: native first, then the listed ones cove has tables for, in listed order.
  const arches: SupportedArch[] = [native];
  const listed = profile.architectures ?? [];
  if (!Array.isArray(listed)) throw invalid("seccomp architectures is not a list", { field: "architectures" });
  listed.forEach((name: unknown, i) => {
    const field = `architectures[${i}]`;
    if (typeof name === "string" && isSupportedArch(name)) {
      if (!arches.includes(name)) arches.push(name);
    } else if (typeof name === "string" && OTHER_OCI_ARCHITECTURES.includes(name)) {
      warnings.push(`seccomp architecture ${name} ignored: cove has no syscall table for it, its syscalls get the bad-arch action (kill)`);
    } else {
      throw invalid(`unknown seccomp architecture ${JSON.stringify(name)}`, {
        field,
        code: "seccomp.unknown-arch",
        hint: `use one of ${SUPPORTED_ARCHITECTURES.join(", ")} (or another SCMP_ARCH_* name of the OCI runtime spec)`,
      });
    }
  });

  // Rules per architecture and syscall number, in profile order.
  const perArch = new Map<SupportedArch, Map<number, Rule[]>>(arches.map((a) => [a, new Map()]));
  const syscalls: unknown = profile.syscalls ?? [];
  if (!Array.isArray(syscalls)) throw invalid("seccomp syscalls is not a list", { field: "syscalls" });
  syscalls.forEach((raw: unknown, i) => {
    const field = `syscalls[${i}]`;
    if (typeof raw !== "object" || raw === null) throw invalid("seccomp syscall rule is not an object", { field });
    const sc = raw as Partial<Record<keyof SeccompSyscall, unknown>>;
    if (!Array.isArray(sc.names) || sc.names.length === 0 || !sc.names.every((n: unknown) => typeof n === "string" && n !== "")) {
      throw invalid("seccomp syscall rule has no names", {
        field: `${field}.names`,
        code: "seccomp.bad-rule",
        hint: "give the rule a non-empty list of syscall names",
      });
    }
    const ret = actionValue(sc.action, sc.errnoRet, `${field}.action`, `${field}.errnoRet`);
    const conds = parseArgs(sc.args, `${field}.args`);
    for (const arch of arches) {
      const table = syscallTable(arch);
      const rules = perArch.get(arch) as Map<number, Rule[]>;
      for (const name of sc.names as string[]) {
        if (!Object.prototype.hasOwnProperty.call(table, name)) continue; // unknown on this arch
        const nr = table[name] as number;
        const list = rules.get(nr);
        if (list) list.push({ conds, ret });
        else rules.set(nr, [{ conds, ret }]);
      }
    }
  });

  // runc's ENOSYS stub policy.
  const allowLike = ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"].includes(profile.defaultAction);
  const defaultIsEnosys = profile.defaultAction === "SCMP_ACT_ERRNO" && profile.defaultErrnoRet === ENOSYS;
  const enosysStub = !allowLike && !defaultIsEnosys;

  const leaves = new Map<string, Leaf>();
  const defaultKey = retKey(defaultRet, leaves);
  const enosysKey = enosysStub ? retKey((SECCOMP_RET_ERRNO | ENOSYS) >>> 0, leaves) : defaultKey;
  const badArchKey = retKey(BAD_ARCH_ACTION, leaves);

  const section = (arch: SupportedArch, start: number, end: number): Range[] => {
    const rules = perArch.get(arch) as Map<number, Rule[]>;
    const entries = new Map<number, string>();
    for (const [nr, list] of rules) entries.set(nr, leafKeyOf(list, defaultRet, leaves));
    // Without any named syscall there is no "newer than the profile" boundary: all default.
    const cutoff = entries.size > 0 && enosysStub ? Math.max(...entries.keys()) : end;
    return rangesFor(start, end, entries, cutoff, defaultKey, enosysKey);
  };

  // One section per AUDIT_ARCH value; x86_64 and x32 share AUDIT_ARCH_X86_64.
  interface Section {
    audit: number;
    ranges: Range[];
  }
  const sections: Section[] = [];
  const has = (a: SupportedArch) => arches.includes(a);
  for (const arch of arches) {
    if (arch === "SCMP_ARCH_X86_64" || arch === "SCMP_ARCH_X32") {
      if (sections.some((s) => s.audit === AUDIT_ARCH.X86_64)) continue;
      const low = has("SCMP_ARCH_X86_64")
        ? section("SCMP_ARCH_X86_64", 0, X32_SYSCALL_BIT - 1)
        : [{ start: 0, key: badArchKey }];
      let high: Range[];
      if (has("SCMP_ARCH_X32")) high = section("SCMP_ARCH_X32", X32_SYSCALL_BIT, 0xffffffff);
      else if (has("SCMP_ARCH_X86_64")) {
        // x32 numbers are a foreign ABI here; 0xffffffff (no syscall) behaves like any unknown number.
        const last = section("SCMP_ARCH_X86_64", 0xffffffff, 0xffffffff);
        high = [{ start: X32_SYSCALL_BIT, key: badArchKey }, ...last];
      } else high = [{ start: X32_SYSCALL_BIT, key: badArchKey }];
      sections.push({ audit: AUDIT_ARCH.X86_64, ranges: mergeRanges([low, high]) });
    } else if (arch === "SCMP_ARCH_X86") {
      sections.push({ audit: AUDIT_ARCH.I386, ranges: section(arch, 0, 0xffffffff) });
    } else {
      sections.push({ audit: AUDIT_ARCH.AARCH64, ranges: section(arch, 0, 0xffffffff) });
    }
  }

  // Code generation.
  const asm = new Assembler();
  const leafLabels = new Map<string, Label>();
  const leafLabel = (key: string): Label => {
    let l = leafLabels.get(key);
    if (l === undefined) {
      l = asm.label();
      leafLabels.set(key, l);
    }
    return l;
  };

  asm.load(OFFSET_ARCH);
  const sectionLabels = sections.map((s) => (s.ranges.length === 1 ? leafLabel((s.ranges[0] as Range).key) : asm.label()));
  sections.forEach((s, i) => {
    const next = asm.label();
    asm.jmp(OP.JEQ_K, s.audit, sectionLabels[i] as Label, next);
    asm.place(next);
  });
  asm.ret(BAD_ARCH_ACTION);
  sections.forEach((s, i) => {
    if (s.ranges.length === 1) return;
    asm.place(sectionLabels[i] as Label);
    asm.load(OFFSET_NR);
    emitTree(asm, s.ranges, 0, s.ranges.length - 1, leafLabel);
  });

  // Argument chains first (they end in inline returns), then the shared returns.
  const used = [...leafLabels.keys()];
  for (const key of used) {
    const leaf = leaves.get(key) as Leaf;
    if (leaf.kind !== "chain") continue;
    asm.place(leafLabels.get(key) as Label);
    for (const rule of leaf.rules) {
      const nextRule = asm.label();
      for (const c of rule.conds) emitCond(asm, c, nextRule);
      asm.ret(rule.ret);
      asm.place(nextRule);
    }
    asm.ret(leaf.fallback);
  }
  for (const key of used) {
    const leaf = leaves.get(key) as Leaf;
    if (leaf.kind !== "ret") continue;
    asm.place(leafLabels.get(key) as Label);
    asm.ret(leaf.value);
  }

  const insns = asm.assemble();
  if (insns.length > BPF_MAXINSNS) {
    throw invalid(`seccomp profile compiles to ${insns.length} BPF instructions, more than the kernel's limit of ${BPF_MAXINSNS}`, {
      field: "linux.seccomp.syscalls",
      code: "seccomp.too-long",
      hint: "merge rules with the same action into one rule with several names, or use fewer argument comparisons",
    });
  }
  return { program: encodeProgram(insns), flags, instructionCount: insns.length, architectures: arches, warnings };
}

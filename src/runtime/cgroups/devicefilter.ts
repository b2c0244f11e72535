// linux.resources.devices for both cgroup versions. The rule list is applied on top of
// "deny everything" and the last matching rule wins, decided per access bit (mknod, read, write):
// a request is allowed when, for each bit it asks for, the last rule that matches the device and
// names that bit is an allow rule. That is what cgroup v1's devices controller converges to after
// the writes in order, and what runc's devicefilter compiles (it too starts from deny-all).
//
// v1: devices.deny "a" then one devices.allow / devices.deny write per rule.
// v2: a BPF_PROG_TYPE_CGROUP_DEVICE program, built here as struct bpf_insn words; the caller
// loads and attaches it (bpf(2) is not reachable from Node).

import type { DeviceCgroupRule } from "../spec.js";

export interface DeviceRule {
  allow: boolean;
  type: "a" | "b" | "c";
  major: number; // -1 = any
  minor: number; // -1 = any
  access: string; // subset of "rwm", canonical order
}

export function normalizeDeviceRule(r: DeviceCgroupRule): DeviceRule {
  const access = r.access === undefined || r.access === "" ? "rwm" : ["r", "w", "m"].filter((c) => r.access?.includes(c)).join("");
  return { allow: r.allow, type: r.type ?? "a", major: r.major ?? -1, minor: r.minor ?? -1, access };
}

export function isDenyAll(r: DeviceRule): boolean {
  return !r.allow && r.type === "a" && r.major === -1 && r.minor === -1 && r.access === "rwm";
}

function num(n: number): string {
  return n === -1 ? "*" : String(n);
}

/**
 * The (file, value) writes that give a v1 devices cgroup this rule list: a reset to deny-all,
 * then each rule. A type "a" rule that is not a full wildcard is written for c and b, because
 * the kernel reads "a" alone as "every device, every access".
 */
export function v1DeviceWrites(rules: DeviceCgroupRule[]): { file: "devices.allow" | "devices.deny"; value: string }[] {
  const out: { file: "devices.allow" | "devices.deny"; value: string }[] = [{ file: "devices.deny", value: "a" }];
  for (const raw of rules) {
    const r = normalizeDeviceRule(raw);
    if (r.access === "") continue;
    const file = r.allow ? "devices.allow" : "devices.deny";
    if (r.type === "a" && r.major === -1 && r.minor === -1 && r.access === "rwm") {
      out.push({ file, value: "a" });
      continue;
    }
    for (const t of r.type === "a" ? ["c", "b"] : [r.type]) out.push({ file, value: `${t} ${num(r.major)}:${num(r.minor)} ${r.access}` });
  }
  // The leading reset is already there when the list itself starts with deny-all.
  if (out.length > 1 && out[1]?.file === "devices.deny" && out[1].value === "a") out.shift();
  return out;
}

// ---- eBPF encoding --------------------------------------------------------------------------

export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

// Opcodes used (class | op | source).
export const OP = {
  LDXW: 0x61, // BPF_LDX | BPF_MEM | BPF_W
  AND32_K: 0x54, // BPF_ALU | BPF_AND | BPF_K
  RSH32_K: 0x74, // BPF_ALU | BPF_RSH | BPF_K
  MOV32_K: 0xb4, // BPF_ALU | BPF_MOV | BPF_K
  MOV32_X: 0xbc, // BPF_ALU | BPF_MOV | BPF_X
  JA: 0x05, // BPF_JMP | BPF_JA
  JEQ_K: 0x15, // BPF_JMP | BPF_JEQ | BPF_K
  JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K
  EXIT: 0x95, // BPF_JMP | BPF_EXIT
} as const;

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** Encodes instructions as struct bpf_insn in the host's byte order (little-endian on x86/arm64). */
export function encodeInsns(insns: Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((i, n) => {
    buf.writeUInt8(i.code, n * 8);
    buf.writeUInt8(((i.src & 0xf) << 4) | (i.dst & 0xf), n * 8 + 1);
    buf.writeInt16LE(i.off, n * 8 + 2);
    buf.writeInt32LE(i.imm, n * 8 + 4);
  });
  return buf;
}

export function decodeInsns(buf: Buffer): Insn[] {
  const out: Insn[] = [];
  for (let n = 0; n + 8 <= buf.length; n += 8) {
    const regs = buf.readUInt8(n + 1);
    out.push({ code: buf.readUInt8(n), dst: regs & 0xf, src: regs >> 4, off: buf.readInt16LE(n + 2), imm: buf.readInt32LE(n + 4) });
  }
  return out;
}

/** Instructions with symbolic jump targets, resolved by assemble(). */
type Item = { insn: Insn; target?: string } | { label: string };

function assemble(items: Item[]): Insn[] {
  const labels = new Map<string, number>();
  let pc = 0;
  for (const it of items) {
    if ("label" in it) labels.set(it.label, pc);
    else pc++;
  }
  const out: Insn[] = [];
  for (const it of items) {
    if ("label" in it) continue;
    if (it.target !== undefined) {
      const to = labels.get(it.target);
      if (to === undefined) throw new Error(`devicefilter: unknown label ${it.target}`);
      const off = to - (out.length + 1);
      if (off < 0 || off > 0x7fff) throw new Error(`devicefilter: jump to ${it.target} out of range`);
      out.push({ ...it.insn, off });
    } else out.push(it.insn);
  }
  return out;
}

const R0 = 0;
const R1 = 1;
const R2 = 2; // device type
const R3 = 3; // access bits
const R4 = 4; // major
const R5 = 5; // minor

const ins = (code: number, dst = 0, src = 0, imm = 0, off = 0): Insn => ({ code, dst, src, off, imm });

/** Compiles the rule list to a cgroup device program. */
export function compileDeviceFilter(rules: DeviceCgroupRule[]): Buffer {
  const norm = rules.map(normalizeDeviceRule);
  const items: Item[] = [
    { insn: ins(OP.LDXW, R2, R1, 0, 0) }, // r2 = ctx->access_type
    { insn: ins(OP.AND32_K, R2, 0, 0xffff) }, // r2 &= 0xffff  (type)
    { insn: ins(OP.LDXW, R3, R1, 0, 0) }, // r3 = ctx->access_type
    { insn: ins(OP.RSH32_K, R3, 0, 16) }, // r3 >>= 16  (access)
    { insn: ins(OP.LDXW, R4, R1, 0, 4) }, // r4 = ctx->major
    { insn: ins(OP.LDXW, R5, R1, 0, 8) }, // r5 = ctx->minor
  ];
  const bits: [number, string][] = [
    [BPF_DEVCG_ACC_MKNOD, "m"],
    [BPF_DEVCG_ACC_READ, "r"],
    [BPF_DEVCG_ACC_WRITE, "w"],
  ];
  for (const [bit, letter] of bits) {
    const next = `bit${bit}_done`;
    // if ((r3 & bit) == 0) skip this bit
    items.push({ insn: ins(OP.MOV32_X, R0, R3) }, { insn: ins(OP.AND32_K, R0, 0, bit) }, { insn: ins(OP.JEQ_K, R0, 0, 0) , target: next });
    // The verifier refuses unreachable instructions: stop after a rule that matches everything.
    let decided = false;
    for (let i = norm.length - 1; i >= 0 && !decided; i--) {
      const r = norm[i] as DeviceRule;
      if (!r.access.includes(letter)) continue;
      const miss = `bit${bit}_rule${i}_miss`;
      decided = r.type === "a" && r.major === -1 && r.minor === -1;
      if (r.type !== "a") items.push({ insn: ins(OP.JNE_K, R2, 0, r.type === "b" ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR), target: miss });
      if (r.major !== -1) items.push({ insn: ins(OP.JNE_K, R4, 0, r.major), target: miss });
      if (r.minor !== -1) items.push({ insn: ins(OP.JNE_K, R5, 0, r.minor), target: miss });
      if (r.allow) items.push({ insn: ins(OP.JA), target: next });
      else items.push({ insn: ins(OP.MOV32_K, R0, 0, 0) }, { insn: ins(OP.EXIT) });
      if (!decided) items.push({ label: miss });
    }
    // no rule names this bit for this device: denied
    if (!decided) items.push({ insn: ins(OP.MOV32_K, R0, 0, 0) }, { insn: ins(OP.EXIT) });
    items.push({ label: next });
  }
  items.push({ insn: ins(OP.MOV32_K, R0, 0, 1) }, { insn: ins(OP.EXIT) });
  return encodeInsns(assemble(items));
}

/** The reference semantics the program implements, for tests and for explaining a decision. */
export function deviceAllowed(rules: DeviceCgroupRule[], type: "b" | "c", major: number, minor: number, access: string): boolean {
  const norm = rules.map(normalizeDeviceRule);
  for (const letter of ["m", "r", "w"]) {
    if (!access.includes(letter)) continue;
    let allowed = false;
    for (let i = norm.length - 1; i >= 0; i--) {
      const r = norm[i] as DeviceRule;
      if (!r.access.includes(letter)) continue;
      if (r.type !== "a" && r.type !== type) continue;
      if (r.major !== -1 && r.major !== major) continue;
      if (r.minor !== -1 && r.minor !== minor) continue;
      allowed = r.allow;
      break;
    }
    if (!allowed) return false;
  }
  return true;
}

export const DEVICE_FILTER_LICENSE = "Apache";

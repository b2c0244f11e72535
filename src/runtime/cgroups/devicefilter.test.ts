import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DeviceCgroupRule } from "../spec.js";
import { BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR, compileDeviceFilter, decodeInsns, deviceAllowed, v1DeviceWrites, type Insn } from "./devicefilter.js";

/**
 * A small eBPF interpreter for cgroup device programs: 64-bit registers, the ALU32/JMP/LDX
 * subset, ctx = struct bpf_cgroup_dev_ctx in a 12-byte buffer. It also checks what the kernel's
 * verifier would: forward jumps only, in range, R0 set before exit, no unknown opcodes.
 */
function run(prog: Buffer, type: number, access: number, major: number, minor: number): number {
  const insns: Insn[] = decodeInsns(prog);
  const ctx = Buffer.alloc(12);
  ctx.writeUInt32LE((access << 16) | type, 0);
  ctx.writeUInt32LE(major, 4);
  ctx.writeUInt32LE(minor, 8);
  const reg: (bigint | undefined)[] = new Array(11).fill(undefined);
  reg[1] = -1n; // the ctx pointer (only used as LDX base)
  reg[10] = -2n;
  const M32 = 0xffffffffn;
  const get = (r: number) => {
    const v = reg[r];
    if (v === undefined) throw new Error(`read of uninitialized r${r}`);
    return v;
  };
  for (let pc = 0, steps = 0; ; steps++) {
    assert.ok(steps < 100000, "program does not terminate");
    const i = insns[pc];
    assert.ok(i, `pc ${pc} out of program (${insns.length} insns)`);
    const imm32 = BigInt(i.imm) & M32;
    const immS = BigInt(i.imm); // sign-extended for 64-bit compares
    let next = pc + 1;
    const jump = (taken: boolean) => {
      assert.ok(i.off >= 0, "backward jump");
      if (taken) next = pc + 1 + i.off;
      assert.ok(next < insns.length, "jump out of range");
    };
    switch (i.code) {
      case 0x61: // ldxw
        assert.equal(i.src, 1, "loads only from ctx");
        assert.ok(i.off >= 0 && i.off <= 8 && i.off % 4 === 0, "ctx access in bounds");
        reg[i.dst] = BigInt(ctx.readUInt32LE(i.off));
        break;
      case 0x54:
        reg[i.dst] = (get(i.dst) & imm32) & M32;
        break;
      case 0x74:
        reg[i.dst] = ((get(i.dst) & M32) >> imm32) & M32;
        break;
      case 0xb4:
        reg[i.dst] = imm32;
        break;
      case 0xbc:
        reg[i.dst] = get(i.src) & M32;
        break;
      case 0x05:
        jump(true);
        break;
      case 0x15:
        jump(get(i.dst) === (immS & 0xffffffffffffffffn));
        break;
      case 0x55:
        jump(get(i.dst) !== (immS & 0xffffffffffffffffn));
        break;
      case 0x95:
        return Number(get(0));
      default:
        assert.fail(`unknown opcode 0x${i.code.toString(16)} at ${pc}`);
    }
    pc = next;
  }
}

const ACC: Record<string, number> = { m: 1, r: 2, w: 4 };
const acc = (s: string) => [...s].reduce((a, c) => a | (ACC[c] ?? 0), 0);

/** The kernel verifier refuses a program with an instruction no path reaches ("unreachable insn"). */
function assertAllReachable(prog: Buffer): void {
  const insns = decodeInsns(prog);
  const seen = new Set<number>();
  const todo = [0];
  while (todo.length) {
    const pc = todo.pop()!;
    if (seen.has(pc) || pc >= insns.length) continue;
    seen.add(pc);
    const i = insns[pc]!;
    if (i.code === 0x95) continue; // exit
    if (i.code === 0x05) todo.push(pc + 1 + i.off); // ja
    else if (i.code === 0x15 || i.code === 0x55) todo.push(pc + 1, pc + 1 + i.off);
    else todo.push(pc + 1);
  }
  const dead = insns.map((_, pc) => pc).filter((pc) => !seen.has(pc));
  assert.deepEqual(dead, [], "unreachable instructions");
}

function check(rules: DeviceCgroupRule[], type: "b" | "c", major: number, minor: number, access: string): boolean {
  assertAllReachable(compileDeviceFilter(rules));
  const got = run(compileDeviceFilter(rules), type === "b" ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, acc(access), major, minor) === 1;
  assert.equal(got, deviceAllowed(rules, type, major, minor, access), `program and reference disagree on ${type} ${major}:${minor} ${access}`);
  return got;
}

const DOCKER_DEFAULT: DeviceCgroupRule[] = [
  { allow: false, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, // null
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" }, // zero
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" }, // urandom
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" }, // tty
  { allow: true, type: "c", major: 136, minor: null, access: "rwm" }, // pts/*
  { allow: false, type: "c", major: 10, minor: 229, access: "rwm" }, // fuse
  { allow: true, type: "c", major: -1, minor: -1, access: "m" }, // mknod any char
  { allow: true, type: "b", access: "m" }, // mknod any block
];

describe("cgroup v2 device filter (eBPF)", () => {
  it("an allow-list over deny-all", () => {
    assert.equal(check(DOCKER_DEFAULT, "c", 1, 3, "rw"), true);
    assert.equal(check(DOCKER_DEFAULT, "c", 1, 3, "rwm"), true);
    assert.equal(check(DOCKER_DEFAULT, "c", 136, 7, "rw"), true);
    assert.equal(check(DOCKER_DEFAULT, "c", 1, 1, "r"), false); // /dev/mem
    assert.equal(check(DOCKER_DEFAULT, "b", 8, 0, "r"), false);
    assert.equal(check(DOCKER_DEFAULT, "b", 8, 0, "m"), true);
    assert.equal(check(DOCKER_DEFAULT, "c", 10, 229, "m"), true); // mknod allowed by the later wildcard
    assert.equal(check(DOCKER_DEFAULT, "c", 10, 229, "r"), false);
  });

  it("denies everything with no rules and with only deny-all", () => {
    assert.equal(check([], "c", 1, 3, "r"), false);
    assert.equal(check([{ allow: false, access: "rwm" }], "c", 1, 3, "r"), false);
  });

  it("wildcards: type a, any major, any minor", () => {
    const rules: DeviceCgroupRule[] = [{ allow: true, type: "a", access: "r" }];
    assert.equal(check(rules, "c", 4, 1, "r"), true);
    assert.equal(check(rules, "b", 8, 16, "r"), true);
    assert.equal(check(rules, "b", 8, 16, "rw"), false); // w not granted
    const majorOnly: DeviceCgroupRule[] = [{ allow: true, type: "b", major: 8, access: "rw" }];
    assert.equal(check(majorOnly, "b", 8, 0, "rw"), true);
    assert.equal(check(majorOnly, "b", 8, 33, "w"), true);
    assert.equal(check(majorOnly, "b", 9, 0, "w"), false);
    assert.equal(check(majorOnly, "c", 8, 0, "w"), false);
  });

  it("the last matching rule wins", () => {
    const allowThenDeny: DeviceCgroupRule[] = [
      { allow: true, access: "rwm" },
      { allow: false, type: "c", major: 1, minor: 3, access: "w" },
    ];
    assert.equal(check(allowThenDeny, "c", 1, 3, "r"), true);
    assert.equal(check(allowThenDeny, "c", 1, 3, "w"), false);
    assert.equal(check(allowThenDeny, "c", 1, 3, "rw"), false); // a denied bit denies the request
    assert.equal(check(allowThenDeny, "c", 1, 4, "w"), true);
    const denyThenAllow: DeviceCgroupRule[] = [
      { allow: false, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", major: 1, access: "rwm" },
    ];
    assert.equal(check(denyThenAllow, "c", 1, 3, "rw"), true);
    const resetAtEnd: DeviceCgroupRule[] = [...DOCKER_DEFAULT, { allow: false, access: "rwm" }];
    assert.equal(check(resetAtEnd, "c", 1, 3, "r"), false);
    const allowAllAtEnd: DeviceCgroupRule[] = [...DOCKER_DEFAULT, { allow: true, type: "a", access: "rwm" }];
    assert.equal(check(allowAllAtEnd, "c", 1, 1, "rwm"), true);
  });

  it("access bits granted by separate rules combine", () => {
    const rules: DeviceCgroupRule[] = [
      { allow: true, type: "c", major: 4, minor: 1, access: "r" },
      { allow: true, type: "c", major: 4, minor: 1, access: "w" },
    ];
    assert.equal(check(rules, "c", 4, 1, "rw"), true);
    assert.equal(check(rules, "c", 4, 1, "m"), false);
  });

  it("agrees with the reference semantics on random rule lists", () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let t = 0; t < 200; t++) {
      const rules: DeviceCgroupRule[] = [];
      for (let k = rnd(6); k >= 0; k--) {
        const access = ["r", "w", "m", "rw", "rwm", "wm"][rnd(6)];
        rules.push({ allow: rnd(2) === 0, type: (["a", "b", "c"] as const)[rnd(3)], major: rnd(3) === 0 ? null : rnd(3), minor: rnd(3) === 0 ? -1 : rnd(3), access });
      }
      for (const type of ["b", "c"] as const) for (let maj = 0; maj < 3; maj++) for (let min = 0; min < 3; min++) for (const a of ["r", "w", "m", "rw", "rwm"]) check(rules, type, maj, min, a);
    }
  });

  it("encodes struct bpf_insn: code, dst|src<<4, s16 off, s32 imm (little-endian)", () => {
    const prog = compileDeviceFilter([]);
    assert.equal(prog.length % 8, 0);
    // first insn: r2 = *(u32 *)(r1 + 0)
    assert.deepEqual([...prog.subarray(0, 8)], [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
    // last insn: exit
    assert.deepEqual([...prog.subarray(prog.length - 8)], [0x95, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe("cgroup v1 device writes", () => {
  it("starts from deny-all and expands partial type-a rules to c and b", () => {
    assert.deepEqual(v1DeviceWrites([{ allow: true, type: "c", major: 1, minor: 3, access: "rw" }]), [
      { file: "devices.deny", value: "a" },
      { file: "devices.allow", value: "c 1:3 rw" },
    ]);
    assert.deepEqual(v1DeviceWrites([{ allow: false, access: "rwm" }, { allow: true, major: 7, access: "mr" }]), [
      { file: "devices.deny", value: "a" },
      { file: "devices.allow", value: "c 7:* rm" },
      { file: "devices.allow", value: "b 7:* rm" },
    ]);
    assert.deepEqual(v1DeviceWrites([{ allow: true, access: "" }]), [
      { file: "devices.deny", value: "a" },
      { file: "devices.allow", value: "a" },
    ]);
  });
});

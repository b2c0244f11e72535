import { test } from "node:test";
import assert from "node:assert/strict";
import {
  OP,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  decodeProgram,
  decodeVerdict,
  encodeProgram,
  runFilter,
  type Instruction,
} from "./bpf.js";

const ins = (code: number, k = 0, jt = 0, jf = 0): Instruction => ({ code, jt, jf, k });

test("encodeProgram writes struct sock_filter little-endian and decodeProgram reads it back", () => {
  const prog = [ins(OP.LD_W_ABS, 4), ins(OP.JEQ_K, 0xc000003e, 1, 2), ins(OP.RET_K, SECCOMP_RET_ALLOW)];
  const buf = encodeProgram(prog);
  assert.equal(buf.length, 24);
  assert.deepEqual([...buf.subarray(8, 16)], [0x15, 0x00, 0x01, 0x02, 0x3e, 0x00, 0x00, 0xc0]);
  assert.deepEqual(decodeProgram(buf), prog);
});

test("runFilter loads seccomp_data fields and follows conditional jumps", () => {
  const prog = encodeProgram([
    ins(OP.LD_W_ABS, 0), // nr
    ins(OP.JGE_K, 100, 0, 2),
    ins(OP.JGT_K, 200, 1, 0),
    ins(OP.RET_K, (SECCOMP_RET_ERRNO | 5) >>> 0), // 100..200
    ins(OP.LD_W_ABS, 20), // arg0 high half
    ins(OP.ALU_AND_K, 0xf0),
    ins(OP.JSET_K, 0x10, 0, 1),
    ins(OP.RET_K, SECCOMP_RET_KILL_PROCESS),
    ins(OP.JA, 0),
    ins(OP.RET_K, SECCOMP_RET_ALLOW),
  ]);
  assert.deepEqual(decodeVerdict(runFilter(prog, { nr: 150, arch: 0 })), { action: "errno", errno: 5 });
  assert.deepEqual(decodeVerdict(runFilter(prog, { nr: 100, arch: 0 })), { action: "errno", errno: 5 });
  assert.deepEqual(decodeVerdict(runFilter(prog, { nr: 200, arch: 0 })), { action: "errno", errno: 5 });
  assert.deepEqual(decodeVerdict(runFilter(prog, { nr: 5, arch: 0 })), { action: "allow" });
  assert.deepEqual(decodeVerdict(runFilter(prog, { nr: 201, arch: 0, args: [0x10n << 32n] })), { action: "kill_process" });
  assert.deepEqual(decodeVerdict(runFilter(prog, { nr: 201, arch: 0, args: [0x0fn << 32n] })), { action: "allow" });
});

test("runFilter rejects programs the kernel would refuse", () => {
  const run = (p: Instruction[]) => runFilter(encodeProgram(p), { nr: 0, arch: 0 });
  assert.throws(() => run([ins(0x07), ins(OP.RET_K)]), /unsupported opcode 0x7/);
  assert.throws(() => run([ins(OP.LD_W_ABS, 64), ins(OP.RET_K)]), /outside seccomp_data/);
  assert.throws(() => run([ins(OP.LD_W_ABS, 2), ins(OP.RET_K)]), /unaligned/);
  assert.throws(() => run([ins(OP.JEQ_K, 0, 5, 0), ins(OP.RET_K)]), /jump past the end/);
  assert.throws(() => run([ins(OP.JA, 1), ins(OP.RET_K)]), /jump past the end/);
  assert.throws(() => run([ins(OP.LD_W_ABS, 0)]), /last instruction is not a return/);
  assert.throws(() => runFilter(Buffer.alloc(12), { nr: 0, arch: 0 }), /multiple of 8/);
  assert.throws(() => run(Array.from({ length: 4097 }, () => ins(OP.RET_K))), /limit of 4096/);
});

test("decodeVerdict maps every SECCOMP_RET action", () => {
  assert.deepEqual(decodeVerdict(0x80000000), { action: "kill_process" });
  assert.deepEqual(decodeVerdict(0), { action: "kill_thread" });
  assert.deepEqual(decodeVerdict(0x00030007), { action: "trap", data: 7 });
  assert.deepEqual(decodeVerdict(0x00050026), { action: "errno", errno: 38 });
  assert.deepEqual(decodeVerdict(0x0005ffff), { action: "errno", errno: 4095 });
  assert.deepEqual(decodeVerdict(0x7fc00000), { action: "user_notif" });
  assert.deepEqual(decodeVerdict(0x7ff00001), { action: "trace", data: 1 });
  assert.deepEqual(decodeVerdict(0x7ffc0000), { action: "log" });
  assert.deepEqual(decodeVerdict(0x7fff0000), { action: "allow" });
  assert.deepEqual(decodeVerdict(0x12340000), { action: "kill_process" });
});

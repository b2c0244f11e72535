// The plan: a flat list of operations the native shim performs in order. The numbers must
// match src/native/shim/ops.h. Each op keeps a human description so a failure reported as
// "op 12, errno EPERM" becomes "mounting proc on /proc: EPERM".

export const Op = {
  STATE_DIR: 1,
  CGROUP_PROCS: 2,
  UID_MAP: 3,
  GID_MAP: 4,
  SETGROUPS: 5,
  OOM_SCORE_ADJ: 6,
  CONSOLE_SOCKET: 7,
  AUTOSTART: 8,
  CONSOLE_PROXY: 9,
  EXIT_FILE: 10,
  KEEP_STDIO: 11,
  LOG_FILE: 12,
  ATTACH_SOCKET: 13,
  STDIO_PIPES: 14,
  START_ON_ATTACH: 15,
  RUNTIME_CMD: 16,
  RUNTIME_PID_FILE: 17,
  RUNTIME_CONSOLE: 18,

  JOIN_NS: 20,
  UNSHARE: 21,
  TIMENS_OFFSETS: 22,
  FORK: 23,

  SETSID: 30,
  ROOT: 31,
  MOUNT: 32,
  MKNOD: 33,
  SYMLINK: 34,
  PIVOT_ROOT: 35,
  MOVE_ROOT: 36,
  MASK: 37,
  READONLY: 38,
  REMOUNT_ROOT_RO: 39,
  PROPAGATION: 40,
  SYSCTL: 41,
  HOSTNAME: 42,
  DOMAINNAME: 43,
  SYNC: 44,
  HOOK: 45,
  CONSOLE: 46,
  RLIMIT: 47,
  NO_NEW_PRIVS: 48,
  KEEPCAPS: 49,
  CAPBSET: 50,
  GROUPS: 51,
  SETGID: 52,
  SETUID: 53,
  CAPSET: 54,
  AMBIENT: 55,
  UMASK: 56,
  CHDIR: 57,
  SECCOMP: 58,
  CLOSE_FDS: 59,
  WAIT_START: 60,
  EXEC: 61,
  PERSONALITY: 62,
  RESOLVE: 63,
} as const;

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

const MAGIC = Buffer.from("COVEPLAN1\n");

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

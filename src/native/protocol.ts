// The contract between cove's TypeScript side and its shim (src/native/shim), in one place: the
// plan's op numbers, the report lines the shim writes to the runtime, the frames of the attach
// socket, and the files the shim keeps in a container's state directory.
//
// This file is the only source. scripts/gen-native-protocol.js renders it as the C header
// src/native/shim/protocol.h (scripts/build-native.sh runs it before compiling the shim), and
// protocol.test.ts fails when the committed header differs. Change a value here, never there.
// The generator loads this file before the rest of cove is compiled: keep it free of imports.

/** A phase of the shim: which process performs the ops whose codes fall in [first, last]. */
export interface OpPhase {
  first: number;
  last: number;
  title: string;
}

/**
 * Where an op runs is decided by its number. The monitor reads its options up front; the
 * remaining ops run in plan order, in the first child (namespaces) and then, after FORK, in the
 * container init. The shim relies on every namespace op coming after the monitor options.
 */
export const OP_PHASES: readonly OpPhase[] = [
  { first: 1, last: 19, title: "monitor options, read up front" },
  { first: 20, last: 29, title: "first child: namespaces" },
  { first: 30, last: 255, title: "container init, after FORK" },
];

/**
 * The plan's operations. `args` says what the op's arguments are, in order; every argument
 * travels as bytes, numbers as decimal text (see encodePlan in src/runtime/plan/ops.ts).
 */
export const OPS = {
  STATE_DIR: { code: 1, args: "dir: exit file, start fifo and started marker live here" },
  CGROUP_PROCS: { code: 2, args: "file: write the new process's pid into it before namespaces" },
  UID_MAP: { code: 3, args: "text for /proc/<pid>/uid_map" },
  GID_MAP: { code: 4, args: "text for /proc/<pid>/gid_map" },
  SETGROUPS: { code: 5, args: '"allow" or "deny" for /proc/<pid>/setgroups' },
  OOM_SCORE_ADJ: { code: 6, args: "value for /proc/<init>/oom_score_adj" },
  CONSOLE_SOCKET: { code: 7, args: "path of a unix socket that receives the pty master" },
  AUTOSTART: { code: 8, args: "none: start as soon as created" },
  CONSOLE_PROXY: { code: 9, args: "none: relay own stdin/stdout with the pty master" },
  EXIT_FILE: { code: 10, args: "name of the exit status file inside the state dir" },
  KEEP_STDIO: { code: 11, args: "none: the monitor keeps its stdio (otherwise /dev/null after fork)" },
  LOG_FILE: { code: 12, args: "path, max size in bytes (0 = unbounded), max files, [binary: 1 keeps an entry that is not UTF-8 as base64 under \"bytes\"]: json-file log" },
  ATTACH_SOCKET: { code: 13, args: "path of the unix socket attach clients connect to" },
  STDIO_PIPES: { code: 14, args: "open stdin (0|1), stdin once (0|1): the monitor owns the container's stdio" },
  START_ON_ATTACH: { code: 15, args: "none: start when the first attach client connects (no start fifo); with RUNTIME_CMD, run that command then" },
  RUNTIME_CMD: { code: 16, args: "argv...: instead of cove's init, run this command (an OCI runtime's create, or exec --detach) and adopt the process it leaves behind" },
  RUNTIME_PID_FILE: { code: 17, args: "path: where that command writes the process's pid" },
  RUNTIME_CONSOLE: { code: 18, args: "path: listen here for the pty master (the runtime's --console-socket)" },
  DIRECT_SOCKET: { code: 19, args: "path of a unix socket whose clients hand over an attach connection (STDIN frames, then a DIRECT frame; no output before it)" },

  JOIN_NS: { code: 20, args: "clone flag, path" },
  UNSHARE: { code: 21, args: "clone flags; CLONE_NEWUSER alone triggers the id-map handshake" },
  TIMENS_OFFSETS: { code: 22, args: "text for /proc/self/timens_offsets" },
  FORK: { code: 23, args: "none: the container init is born here" },

  SETSID: { code: 30, args: "none" },
  ROOT: { code: 31, args: "path: root against which later destinations resolve" },
  MOUNT: { code: 32, args: "source, dest, fstype, flags, data, create (dir|file|none), propagation, attr_set, attr_clr" },
  MKNOD: { code: 33, args: "dest, mode, major, minor, uid, gid" },
  SYMLINK: { code: 34, args: "target, dest" },
  PIVOT_ROOT: { code: 35, args: "rootfs" },
  MOVE_ROOT: { code: 36, args: "rootfs (no pivot_root: MS_MOVE + chroot)" },
  MASK: { code: 37, args: "path" },
  READONLY: { code: 38, args: "path" },
  REMOUNT_ROOT_RO: { code: 39, args: "none" },
  PROPAGATION: { code: 40, args: "path, flags" },
  SYSCTL: { code: 41, args: "path under /proc/sys, value" },
  HOSTNAME: { code: 42, args: "name" },
  DOMAINNAME: { code: 43, args: "name" },
  SYNC: { code: 44, args: "name: ask the runtime to run its hooks, wait for its answer (with the hook-state file, when the runtime wrote one)" },
  HOOK: { code: 45, args: "path, timeout seconds, stdin (empty: the hook-state the last SYNC delivered), argc, args..., env..." },
  CONSOLE: { code: 46, args: "rows, cols" },
  RLIMIT: { code: 47, args: "resource, soft, hard (-1 = infinity)" },
  NO_NEW_PRIVS: { code: 48, args: "none" },
  KEEPCAPS: { code: 49, args: "0 or 1" },
  CAPBSET: { code: 50, args: "mask of capabilities to keep in the bounding set" },
  GROUPS: { code: 51, args: "gid..." },
  SETGID: { code: 52, args: "gid" },
  SETUID: { code: 53, args: "uid" },
  CAPSET: { code: 54, args: "effective, permitted, inheritable masks" },
  AMBIENT: { code: 55, args: "mask" },
  UMASK: { code: 56, args: "mask" },
  CHDIR: { code: 57, args: "path, which must end up inside the container root" },
  SECCOMP: { code: 58, args: "flags, program (struct sock_filter[])" },
  CLOSE_FDS: { code: 59, args: "first fd to mark close-on-exec (3 + preserved fds)" },
  WAIT_START: { code: 60, args: "none" },
  EXEC: { code: 61, args: "argc, argv..., env... (path resolved by RESOLVE)" },
  PERSONALITY: { code: 62, args: "persona" },
  RESOLVE: { code: 63, args: "name, PATH: find the executable now so a typo fails at create" },
  CHROOT: { code: 64, args: "path: chroot there (a container without its own mount namespace; an exec into one)" },
} as const satisfies Record<string, { code: number; args: string }>;

/** A plan file starts with these bytes; records follow (u32 op, u32 argc, argc × (u32 len, bytes), little-endian). */
export const PLAN_MAGIC = "COVEPLAN1\n";

/**
 * The lines the shim writes on its report socket (the fd named by --report-fd), one event per
 * line: the verb, then its fields separated by spaces. `fields` documents them.
 */
export const REPORTS = {
  PID: { verb: "pid", fields: "PID: the container init exists (host pid); setup goes on" },
  SYNC: { verb: "sync", fields: "NAME: the init waits at a hook point; answer with a sync answer line" },
  CREATED: { verb: "created", fields: "PID: created, waiting for start" },
  STARTED: { verb: "started", fields: "none: the process was exec'd" },
  ERROR: { verb: "error", fields: "OP ERRNO TEXT: failed at plan op index OP (-1: no op)" },
  EXIT: { verb: "exit", fields: "CODE SIGNAL: the process exited" },
} as const satisfies Record<string, { verb: string; fields: string }>;

/** The runtime's answer to a sync report, one line each. */
export const SYNC_ANSWERS = {
  OK: "ok",
  ABORT: "abort",
} as const;

/**
 * Frames on the attach socket, both directions: [u8 type][u32 LE length][data].
 * The output frame types equal the stream's fd number (stdout 1, stderr 2).
 */
export const FRAMES = {
  STDIN: { type: 0, data: "client -> shim: bytes for the container's stdin" },
  STDOUT: { type: 1, data: "shim -> client: output" },
  STDERR: { type: 2, data: "shim -> client: output" },
  RESIZE: { type: 3, data: "client -> shim: u16 LE rows, u16 LE cols" },
  CLOSE_STDIN: { type: 4, data: "client -> shim: no data" },
  EXIT: { type: 5, data: 'shim -> client: "CODE SIGNAL"' },
  QUIET: { type: 7, data: "client -> shim: no data; send this client no output from now on, only the exit frame (a watcher of the exit)" },
  DIRECT: { type: 6, data: "client -> shim on the DIRECT_SOCKET, after STDIN frames of input already read from the fd that came with the first byte (SCM_RIGHTS): u8 DIRECT_FLAGS; the shim serves that fd from then on" },
} as const satisfies Record<string, { type: number; data: string }>;

/**
 * How the shim serves a connection handed over by a DIRECT frame: a Docker attach stream, raw
 * stdin bytes in, output out (with stdcopy's 8-byte headers when MUX), no frames. The hand-off
 * connection stays open while the shim serves the fd and closes when the session ends.
 */
export const DIRECT_FLAGS = {
  MUX: { bit: 1, what: "output in stdcopy frames [stream, 0, 0, 0, u32 BE size] (else raw bytes)" },
  STDIN: { bit: 2, what: "the connection's bytes go to the container's stdin (else they are read and dropped)" },
  CLOSE_STDIN: { bit: 4, what: "at the connection's end of input, close stdin (else the session ends)" },
  STDOUT: { bit: 8, what: "send the stdout stream" },
  STDERR: { bit: 16, what: "send the stderr stream" },
  FDS: {
    bit: 32,
    what: "the client may hand over its own stdio: the shim first sends PASS_FDS.ASK, the client answers one byte of PASS_FDS_MASK bits with those fds attached (SCM_RIGHTS, in stream order), the shim answers the bits it took; then the stream goes on for the other streams",
  },
} as const satisfies Record<string, { bit: number; what: string }>;

/**
 * The bytes that open an attach stream whose client offered its stdio (the request header
 * PASS_FDS_HEADER, answered with the same header): ASK from the monitor (send the fds now), or
 * NONE from the daemon (it serves the stream itself: the ordinary stream follows).
 */
export const PASS_FDS = {
  ASK: { byte: 0x46, what: "'F': send the mask byte with the fds" },
  NONE: { byte: 0x4e, what: "'N': no fds taken, the ordinary stream follows" },
} as const satisfies Record<string, { byte: number; what: string }>;

/** The streams in the client's mask byte and in the monitor's answer. */
export const PASS_FDS_MASK = {
  STDIN: { bit: 1, what: "a file or pipe the monitor reads into the container's stdin" },
  STDOUT: { bit: 2, what: "a file or pipe the monitor writes the stdout stream to" },
  STDERR: { bit: 4, what: "a file or pipe the monitor writes the stderr stream to" },
} as const satisfies Record<string, { bit: number; what: string }>;

/** The HTTP header of an attach request that offers the client's stdio, and of the 101 that takes the offer. */
export const PASS_FDS_HEADER = "Cove-Attach-Fds";

/** Bytes before a frame's data: the type and the length. */
export const FRAME_HEADER_SIZE = 5;
/** The largest frame a client may send; the shim drops a client that sends a larger one. */
export const FRAME_MAX_CLIENT_DATA = 65536;

/** Files the shim writes in a container's state directory (OP_STATE_DIR). */
export const STATE_FILES = {
  INIT_PID: { name: "init.pid", what: "the init's pid, once created" },
  START_FIFO: { name: "start.fifo", what: "present while created: writing a byte starts the process" },
  STARTED: { name: "started", what: "empty: the process was exec'd" },
  START_ERROR: { name: "start-error", what: "why the start failed" },
  EXIT: { name: "exit", what: '"CODE SIGNAL" (the default name; OP_EXIT_FILE names another)' },
  HOOK_STATE: { name: "hook-state", what: "the state JSON for the init's hooks, written by the runtime before it answers a sync; the monitor passes it to the init as an fd" },
} as const satisfies Record<string, { name: string; what: string }>;

type Values<T, K extends string> = { readonly [N in keyof T]: T[N] extends Record<K, infer V> ? V : never };

function pick<T extends Record<string, Record<K, unknown>>, K extends string>(table: T, key: K): Values<T, K> {
  return Object.fromEntries(Object.entries(table).map(([name, entry]) => [name, entry[key]])) as Values<T, K>;
}

/** Op numbers by name: Op.MOUNT === 32. */
export const Op = pick(OPS, "code");
/** Report verbs by name: Report.CREATED === "created". */
export const Report = pick(REPORTS, "verb");
/** Attach frame types by name: Frame.EXIT === 5. */
export const Frame = pick(FRAMES, "type");
/** Direct-attach flag bits by name: DirectFlag.MUX === 1. */
export const DirectFlag = pick(DIRECT_FLAGS, "bit");
/** Pass-fds bytes by name: PassFds.ASK === 0x46. */
export const PassFds = pick(PASS_FDS, "byte");
/** Pass-fds mask bits by name: PassFdsMask.STDOUT === 2. */
export const PassFdsMask = pick(PASS_FDS_MASK, "bit");
/** State file names by name: StateFile.START_FIFO === "start.fifo". */
export const StateFile = pick(STATE_FILES, "name");

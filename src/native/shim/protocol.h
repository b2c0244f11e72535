/* GENERATED from src/native/protocol.ts by scripts/gen-native-protocol.js: do not edit.
 * scripts/build-native.sh regenerates it; src/native/protocol.test.ts checks it.
 *
 * The contract between cove's TypeScript side and the shim: plan ops, report lines, attach
 * frames and state files. The TypeScript side decides everything; the shim only performs. */
#ifndef COVE_PROTOCOL_H
#define COVE_PROTOCOL_H

/* A plan file is PLAN_MAGIC followed by records:
 *   u32 opcode, u32 argc, then argc times (u32 length, bytes).
 * All integers little-endian; numeric arguments are decimal strings. */
#define PLAN_MAGIC "COVEPLAN1\n"

/* The ops, by phase: the monitor reads its options up front; the other ops run in plan order. */
enum cove_op {
	/* monitor options, read up front (1..19) */
	OP_STATE_DIR        = 1,  /* dir: exit file, start fifo and started marker live here */
	OP_CGROUP_PROCS     = 2,  /* file: write the new process's pid into it before namespaces */
	OP_UID_MAP          = 3,  /* text for /proc/<pid>/uid_map */
	OP_GID_MAP          = 4,  /* text for /proc/<pid>/gid_map */
	OP_SETGROUPS        = 5,  /* "allow" or "deny" for /proc/<pid>/setgroups */
	OP_OOM_SCORE_ADJ    = 6,  /* value for /proc/<init>/oom_score_adj */
	OP_CONSOLE_SOCKET   = 7,  /* path of a unix socket that receives the pty master */
	OP_AUTOSTART        = 8,  /* none: start as soon as created */
	OP_CONSOLE_PROXY    = 9,  /* none: relay own stdin/stdout with the pty master */
	OP_EXIT_FILE        = 10, /* name of the exit status file inside the state dir */
	OP_KEEP_STDIO       = 11, /* none: the monitor keeps its stdio (otherwise /dev/null after fork) */
	OP_LOG_FILE         = 12, /* path, max size in bytes (0 = unbounded), max files, [binary: 1 keeps an entry that is not UTF-8 as base64 under "bytes"]: json-file log */
	OP_ATTACH_SOCKET    = 13, /* path of the unix socket attach clients connect to */
	OP_STDIO_PIPES      = 14, /* open stdin (0|1), stdin once (0|1): the monitor owns the container's stdio */
	OP_START_ON_ATTACH  = 15, /* none: start when the first attach client connects (no start fifo); with RUNTIME_CMD, run that command then */
	OP_RUNTIME_CMD      = 16, /* argv...: instead of cove's init, run this command (an OCI runtime's create, or exec --detach) and adopt the process it leaves behind */
	OP_RUNTIME_PID_FILE = 17, /* path: where that command writes the process's pid */
	OP_RUNTIME_CONSOLE  = 18, /* path: listen here for the pty master (the runtime's --console-socket) */
	OP_DIRECT_SOCKET    = 19, /* path of a unix socket whose clients hand over an attach connection (STDIN frames, then a DIRECT frame; no output before it) */

	/* first child: namespaces (20..29) */
	OP_JOIN_NS        = 20, /* clone flag, path */
	OP_UNSHARE        = 21, /* clone flags; CLONE_NEWUSER alone triggers the id-map handshake */
	OP_TIMENS_OFFSETS = 22, /* text for /proc/self/timens_offsets */
	OP_FORK           = 23, /* none: the container init is born here */

	/* container init, after FORK (30..255) */
	OP_SETSID          = 30, /* none */
	OP_ROOT            = 31, /* path: root against which later destinations resolve */
	OP_MOUNT           = 32, /* source, dest, fstype, flags, data, create (dir|file|none), propagation, attr_set, attr_clr */
	OP_MKNOD           = 33, /* dest, mode, major, minor, uid, gid */
	OP_SYMLINK         = 34, /* target, dest */
	OP_PIVOT_ROOT      = 35, /* rootfs */
	OP_MOVE_ROOT       = 36, /* rootfs (no pivot_root: MS_MOVE + chroot) */
	OP_MASK            = 37, /* path */
	OP_READONLY        = 38, /* path */
	OP_REMOUNT_ROOT_RO = 39, /* none */
	OP_PROPAGATION     = 40, /* path, flags */
	OP_SYSCTL          = 41, /* path under /proc/sys, value */
	OP_HOSTNAME        = 42, /* name */
	OP_DOMAINNAME      = 43, /* name */
	OP_SYNC            = 44, /* name: ask the runtime to run its hooks, wait for its answer (with the hook-state file, when the runtime wrote one) */
	OP_HOOK            = 45, /* path, timeout seconds, stdin (empty: the hook-state the last SYNC delivered), argc, args..., env... */
	OP_CONSOLE         = 46, /* rows, cols */
	OP_RLIMIT          = 47, /* resource, soft, hard (-1 = infinity) */
	OP_NO_NEW_PRIVS    = 48, /* none */
	OP_KEEPCAPS        = 49, /* 0 or 1 */
	OP_CAPBSET         = 50, /* mask of capabilities to keep in the bounding set */
	OP_GROUPS          = 51, /* gid... */
	OP_SETGID          = 52, /* gid */
	OP_SETUID          = 53, /* uid */
	OP_CAPSET          = 54, /* effective, permitted, inheritable masks */
	OP_AMBIENT         = 55, /* mask */
	OP_UMASK           = 56, /* mask */
	OP_CHDIR           = 57, /* path, which must end up inside the container root */
	OP_SECCOMP         = 58, /* flags, program (struct sock_filter[]) */
	OP_CLOSE_FDS       = 59, /* first fd to mark close-on-exec (3 + preserved fds) */
	OP_WAIT_START      = 60, /* none */
	OP_EXEC            = 61, /* argc, argv..., env... (path resolved by RESOLVE) */
	OP_PERSONALITY     = 62, /* persona */
	OP_RESOLVE         = 63, /* name, PATH: find the executable now so a typo fails at create */
	OP_CHROOT          = 64, /* path: chroot there (a container without its own mount namespace; an exec into one) */
};

/* Report lines to the runtime on the fd named by --report-fd: the verb, then its fields
 * separated by spaces, then a newline. A sync is answered with one SYNC_ANSWER line. */
#define REPORT_PID     "pid"     /* PID: the container init exists (host pid); setup goes on */
#define REPORT_SYNC    "sync"    /* NAME: the init waits at a hook point; answer with a sync answer line */
#define REPORT_CREATED "created" /* PID: created, waiting for start */
#define REPORT_STARTED "started" /* none: the process was exec'd */
#define REPORT_ERROR   "error"   /* OP ERRNO TEXT: failed at plan op index OP (-1: no op) */
#define REPORT_EXIT    "exit"    /* CODE SIGNAL: the process exited */
#define SYNC_ANSWER_OK "ok"
#define SYNC_ANSWER_ABORT "abort"

/* Frames on the attach socket, both directions: [u8 type][u32 LE length][data]. */
enum attach_frame {
	FRAME_STDIN       = 0, /* client -> shim: bytes for the container's stdin */
	FRAME_STDOUT      = 1, /* shim -> client: output */
	FRAME_STDERR      = 2, /* shim -> client: output */
	FRAME_RESIZE      = 3, /* client -> shim: u16 LE rows, u16 LE cols */
	FRAME_CLOSE_STDIN = 4, /* client -> shim: no data */
	FRAME_EXIT        = 5, /* shim -> client: "CODE SIGNAL" */
	FRAME_QUIET       = 7, /* client -> shim: no data; send this client no output from now on, only the exit frame (a watcher of the exit) */
	FRAME_DIRECT      = 6, /* client -> shim on the DIRECT_SOCKET, after STDIN frames of input already read from the fd that came with the first byte (SCM_RIGHTS): u8 DIRECT_FLAGS; the shim serves that fd from then on */
};
#define FRAME_HEADER_SIZE 5
#define FRAME_MAX_CLIENT_DATA 65536 /* a client sending a larger frame is dropped */

/* The flags byte of a DIRECT frame: how the shim serves the connection handed over. */
#define DIRECT_MUX         1  /* output in stdcopy frames [stream, 0, 0, 0, u32 BE size] (else raw bytes) */
#define DIRECT_STDIN       2  /* the connection's bytes go to the container's stdin (else they are read and dropped) */
#define DIRECT_CLOSE_STDIN 4  /* at the connection's end of input, close stdin (else the session ends) */
#define DIRECT_STDOUT      8  /* send the stdout stream */
#define DIRECT_STDERR      16 /* send the stderr stream */
#define DIRECT_FDS         32 /* the client may hand over its own stdio: the shim first sends PASS_FDS.ASK, the client answers one byte of PASS_FDS_MASK bits with those fds attached (SCM_RIGHTS, in stream order), the shim answers the bits it took; then the stream goes on for the other streams */

/* The bytes of the stdio hand-over (DIRECT_FDS) and its mask bits. */
#define PASS_FDS_ASK  0x46 /* 'F': send the mask byte with the fds */
#define PASS_FDS_NONE 0x4e /* 'N': no fds taken, the ordinary stream follows */
#define PASS_FDS_MASK_STDIN  1 /* a file or pipe the monitor reads into the container's stdin */
#define PASS_FDS_MASK_STDOUT 2 /* a file or pipe the monitor writes the stdout stream to */
#define PASS_FDS_MASK_STDERR 4 /* a file or pipe the monitor writes the stderr stream to */

/* Files in the state directory (OP_STATE_DIR). */
#define STATE_INIT_PID    "init.pid"    /* the init's pid, once created */
#define STATE_START_FIFO  "start.fifo"  /* present while created: writing a byte starts the process */
#define STATE_STARTED     "started"     /* empty: the process was exec'd */
#define STATE_START_ERROR "start-error" /* why the start failed */
#define STATE_EXIT        "exit"        /* "CODE SIGNAL" (the default name; OP_EXIT_FILE names another) */
#define STATE_HOOK_STATE  "hook-state"  /* the state JSON for the init's hooks, written by the runtime before it answers a sync; the monitor passes it to the init as an fd */

#endif

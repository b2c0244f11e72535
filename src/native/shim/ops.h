/* Operation codes of a cove plan. Must match src/runtime/plan/ops.ts.
 *
 * A plan file is the magic "COVEPLAN1\n" followed by records:
 *   u32 opcode, u32 argc, then argc times (u32 length, bytes).
 * All integers little-endian; numeric arguments are decimal strings.
 *
 * The monitor reads monitor options (1..19) up front. The remaining ops run in file order:
 * 20..29 in the first child (namespaces), 30.. in the container init after OP_FORK.
 * The TypeScript compiler decides everything; this program only performs. */
#ifndef COVE_OPS_H
#define COVE_OPS_H

enum cove_op {
	/* monitor options */
	OP_STATE_DIR = 1,        /* dir: exit file, start fifo and started marker live here */
	OP_CGROUP_PROCS = 2,     /* file: write the new process's pid into it before namespaces */
	OP_UID_MAP = 3,          /* text for /proc/<pid>/uid_map */
	OP_GID_MAP = 4,          /* text for /proc/<pid>/gid_map */
	OP_SETGROUPS = 5,        /* "allow" or "deny" for /proc/<pid>/setgroups */
	OP_OOM_SCORE_ADJ = 6,    /* value for /proc/<init>/oom_score_adj */
	OP_CONSOLE_SOCKET = 7,   /* path of a unix socket that receives the pty master */
	OP_AUTOSTART = 8,        /* start as soon as created */
	OP_CONSOLE_PROXY = 9,    /* relay own stdin/stdout with the pty master */
	OP_EXIT_FILE = 10,       /* name of the exit status file inside the state dir */
	OP_KEEP_STDIO = 11,      /* the monitor keeps its stdio (otherwise /dev/null after fork) */
	OP_LOG_FILE = 12,        /* path, max size in bytes (0 = unbounded), max files: json-file log */
	OP_ATTACH_SOCKET = 13,   /* path of the unix socket attach clients connect to */
	OP_STDIO_PIPES = 14,     /* open stdin (0|1), stdin once (0|1): the monitor owns the container's stdio */
	OP_START_ON_ATTACH = 15, /* start when the first attach client connects (no start fifo) */
	OP_RUNTIME_CMD = 16,     /* argv...: instead of cove's init, run this command (an OCI runtime's
	                          * create, or exec --detach) and adopt the process it leaves behind */
	OP_RUNTIME_PID_FILE = 17, /* path: where that command writes the process's pid */
	OP_RUNTIME_CONSOLE = 18, /* path: listen here for the pty master (the runtime's --console-socket) */

	/* first child: namespaces */
	OP_JOIN_NS = 20,         /* clone flag, path */
	OP_UNSHARE = 21,         /* clone flags; CLONE_NEWUSER alone triggers the id-map handshake */
	OP_TIMENS_OFFSETS = 22,  /* text for /proc/self/timens_offsets */
	OP_FORK = 23,            /* the container init is born here */

	/* container init */
	OP_SETSID = 30,
	OP_ROOT = 31,            /* path: root against which later destinations resolve */
	OP_MOUNT = 32,           /* source, dest, fstype, flags, data, create(dir|file|none), propagation, attr_set, attr_clr */
	OP_MKNOD = 33,           /* dest, mode, major, minor, uid, gid */
	OP_SYMLINK = 34,         /* target, dest */
	OP_PIVOT_ROOT = 35,      /* rootfs */
	OP_MOVE_ROOT = 36,       /* rootfs (no pivot_root: MS_MOVE + chroot) */
	OP_MASK = 37,            /* path */
	OP_READONLY = 38,        /* path */
	OP_REMOUNT_ROOT_RO = 39,
	OP_PROPAGATION = 40,     /* path, flags */
	OP_SYSCTL = 41,          /* path under /proc/sys, value */
	OP_HOSTNAME = 42,
	OP_DOMAINNAME = 43,
	OP_SYNC = 44,            /* name: ask the runtime to run its hooks, wait for its answer */
	OP_HOOK = 45,            /* path, timeout seconds, stdin, argc, args..., env... */
	OP_CONSOLE = 46,         /* rows, cols */
	OP_RLIMIT = 47,          /* resource, soft, hard (-1 = infinity) */
	OP_NO_NEW_PRIVS = 48,
	OP_KEEPCAPS = 49,        /* 0 or 1 */
	OP_CAPBSET = 50,         /* mask of capabilities to keep in the bounding set */
	OP_GROUPS = 51,          /* gid... */
	OP_SETGID = 52,
	OP_SETUID = 53,
	OP_CAPSET = 54,          /* effective, permitted, inheritable masks */
	OP_AMBIENT = 55,         /* mask */
	OP_UMASK = 56,
	OP_CHDIR = 57,           /* path, which must end up inside the container root */
	OP_SECCOMP = 58,         /* flags, program (struct sock_filter[]) */
	OP_CLOSE_FDS = 59,       /* first fd to mark close-on-exec (3 + preserved fds) */
	OP_WAIT_START = 60,
	OP_EXEC = 61,            /* argc, argv..., env... (path resolved by OP_RESOLVE) */
	OP_PERSONALITY = 62,     /* persona */
	OP_RESOLVE = 63,         /* name, PATH: find the executable now so a typo fails at create */
	OP_DEV_SYMLINKS_DONE = 64, /* reserved */
};

#endif

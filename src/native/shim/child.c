/* The first child (joins and creates namespaces) and the container init (everything from
 * OP_FORK to exec). Each op is performed as written; on failure the op index and errno go
 * back to the monitor, which reports them to the runtime. Nothing here decides policy. */
#include "shim.h"

#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef MOUNT_ATTR_SIZE_VER0
struct mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};
#endif

extern char **environ;

static int sock = -1;
static size_t current = 0;      /* index of the op being performed, for error reports */
static int root_fd = -1;        /* destinations resolve inside this directory */
static char exec_path[4096];    /* set by OP_RESOLVE */
static char *hook_state;        /* the state for hooks, delivered with the last MSG_SYNC_OK */
static size_t hook_state_len;
static int exec_errno = 0;

static void fail(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail(int err, const char *fmt, ...)
{
	char text[480];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	msg_send(sock, MSG_ERROR, (int)current, err, text);
	_exit(1);
}

/* Waits for the monitor's message of this type (and the fd it may carry, when fd is given). */
static void expect_with_fd(uint32_t type, int *fd)
{
	struct msg m;
	int n = msg_recv(sock, &m, fd);
	if (n <= 0)
		_exit(1); /* the monitor is gone: nobody to report to */
	if (m.type == MSG_SYNC_ABORT)
		fail(ECANCELED, "aborted by the runtime");
	if (m.type != type)
		fail(EPROTO, "unexpected message %u from the monitor", m.type);
}

static void expect(uint32_t type)
{
	expect_with_fd(type, NULL);
}

/* Waits for the monitor's answer to a sync; it may come with an fd of the hooks' state. */
static void receive_sync_answer(void)
{
	int fd = -1;
	expect_with_fd(MSG_SYNC_OK, &fd);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail(errno, "stat the hooks' state");
	free(hook_state);
	hook_state = malloc((size_t)st.st_size + 1);
	if (!hook_state)
		fail(ENOMEM, "read the hooks' state");
	hook_state_len = 0;
	while (hook_state_len < (size_t)st.st_size) {
		ssize_t r = read(fd, hook_state + hook_state_len, (size_t)st.st_size - hook_state_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail(errno, "read the hooks' state");
		if (r == 0)
			break;
		hook_state_len += (size_t)r;
	}
	close(fd);
}

/* ---- path resolution inside the container root ---- */

static int openat2_in_root(const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	while (*path == '/')
		path++;
	if (*path == 0)
		return fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
	return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
}

/* Resolves path inside the root the way a container would see it: every symlink of an
 * existing component is followed inside the root (an absolute target restarts at the root,
 * ".." stops at it); components that do not exist yet are kept as written. The result has
 * no leading slash; "" is the root itself. */
static int resolve_in_root(const char *path, char *out, size_t size)
{
	char work[4096], next[4096], target[4096];
	char resolved[4096] = "";
	int links = 0;
	if (snprintf(work, sizeof(work), "%s", path) >= (int)sizeof(work))
		return errno = ENAMETOOLONG, -1;
	char *rest = work;
	for (;;) {
		while (*rest == '/')
			rest++;
		if (*rest == 0)
			break;
		char *slash = strchr(rest, '/');
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
		char comp[256];
		if (n >= sizeof(comp))
			return errno = ENAMETOOLONG, -1;
		memcpy(comp, rest, n);
		comp[n] = 0;
		rest += n;
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *last = strrchr(resolved, '/');
			if (last)
				*last = 0;
			else
				resolved[0] = 0;
			continue;
		}
		int dfd = resolved[0] ? openat2_in_root(resolved, O_PATH | O_DIRECTORY) : fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
		struct stat st;
		int missing = dfd < 0 || fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0;
		if (missing && errno != ENOENT) {
			if (dfd >= 0)
				close(dfd);
			return -1;
		}
		if (!missing && S_ISLNK(st.st_mode)) {
			if (++links > 40) {
				close(dfd);
				return errno = ELOOP, -1;
			}
			ssize_t len = readlinkat(dfd, comp, target, sizeof(target) - 1);
			close(dfd);
			if (len < 0)
				return -1;
			target[len] = 0;
			if (snprintf(next, sizeof(next), "%s/%s", target, rest) >= (int)sizeof(next))
				return errno = ENAMETOOLONG, -1;
			if (target[0] == '/')
				resolved[0] = 0;
			strcpy(work, next);
			rest = work;
			continue;
		}
		if (dfd >= 0)
			close(dfd);
		size_t used = strlen(resolved);
		if (used + 1 + n + 1 > sizeof(resolved))
			return errno = ENAMETOOLONG, -1;
		if (used)
			resolved[used++] = '/';
		memcpy(resolved + used, comp, n + 1);
	}
	if (snprintf(out, size, "/%s", resolved) >= (int)size)
		return errno = ENAMETOOLONG, -1;
	return 0;
}

/* Opens dest (a path in the container) as O_PATH, creating missing directories and, when
 * create is "file", an empty final file. Symlinks resolve inside the root, never outside. */
static int open_dest(const char *dest, const char *create)
{
	int fd = openat2_in_root(dest, O_PATH);
	if (fd >= 0 || errno != ENOENT || strcmp(create, "none") == 0)
		return fd;
	char buf[4096];
	/* a symlink whose target does not exist yet: create the target, inside the root */
	if (resolve_in_root(dest, buf, sizeof(buf)) < 0)
		return -1;
	dest = buf[1] ? buf : "/";
	fd = openat2_in_root(dest, O_PATH);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	char *p = buf;
	while (*p == '/')
		p++;
	for (;;) {
		char *slash = strchr(p, '/');
		int last = slash == NULL;
		if (slash)
			*slash = 0;
		int probe = openat2_in_root(buf, O_PATH);
		if (probe < 0) {
			if (errno != ENOENT)
				return -1;
			/* create this component inside its (safely resolved) parent */
			char *name = strrchr(buf, '/');
			int parent;
			if (name) {
				*name = 0;
				parent = openat2_in_root(buf, O_PATH | O_DIRECTORY);
				*name = '/';
				name++;
			} else {
				parent = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
				name = buf;
			}
			if (parent < 0)
				return -1;
			int rc;
			if (last && strcmp(create, "file") == 0) {
				rc = openat(parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (rc >= 0)
					close(rc);
			} else {
				rc = mkdirat(parent, name, 0755);
			}
			close(parent);
			if (rc < 0 && errno != EEXIST)
				return -1;
		} else {
			close(probe);
		}
		if (last)
			break;
		*slash = '/';
		p = slash + 1;
	}
	return openat2_in_root(dest, O_PATH);
}

/* Opens the parent directory of dest inside the root and returns the final component. */
static int open_parent(const char *dest, char *name_out, size_t name_size)
{
	char buf[4096];
	if (strlen(dest) >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	strcpy(buf, dest);
	char *slash = strrchr(buf, '/');
	const char *name = slash ? slash + 1 : buf;
	if (*name == 0 || strlen(name) >= name_size)
		return errno = EINVAL, -1;
	snprintf(name_out, name_size, "%s", name);
	if (slash) {
		*slash = 0;
		return open_dest(buf[0] ? buf : "/", "dir");
	}
	return fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
}

static void fd_path(int fd, char *out, size_t size)
{
	snprintf(out, size, "/proc/self/fd/%d", fd);
}

/* Flags of an existing mount that an unprivileged remount may not clear. */
static unsigned long locked_flags(const char *path)
{
	struct statvfs sv;
	unsigned long flags = 0;
	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		flags |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		flags |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		flags |= MS_NOEXEC;
	if (sv.f_flag & ST_RDONLY)
		flags |= 0; /* read-only is what we may be setting */
	if (sv.f_flag & ST_NOATIME)
		flags |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		flags |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		flags |= MS_RELATIME;
	return flags;
}

static void do_mount(const struct op *o)
{
	const char *source = arg_str(o, 0), *dest = arg_str(o, 1), *fstype = arg_str(o, 2);
	unsigned long flags = arg_ull(o, 3);
	const char *data = arg_str(o, 4), *create = arg_str(o, 5);
	unsigned long propagation = arg_ull(o, 6);
	uint64_t attr_set = arg_ull(o, 7), attr_clr = arg_ull(o, 8);
	char target[64];

	int fd = open_dest(dest, create);
	if (fd < 0)
		fail(errno, "resolve mount destination %s", dest);
	fd_path(fd, target, sizeof(target));
	if (flags & MS_BIND) {
		if (mount(source, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
			fail(errno, "bind mount %s on %s", source, dest);
		unsigned long extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
		if (extra) {
			close(fd);
			fd = open_dest(dest, "none");
			if (fd < 0)
				fail(errno, "reopen %s", dest);
			fd_path(fd, target, sizeof(target));
			unsigned long remount = MS_BIND | MS_REMOUNT | extra | locked_flags(target);
			if (mount(NULL, target, NULL, remount, NULL) < 0)
				fail(errno, "remount %s with its options", dest);
		}
	} else {
		if (mount(source, target, fstype, flags, *data ? data : NULL) < 0)
			fail(errno, "mount %s (%s) on %s", source, fstype, dest);
	}
	if (propagation || attr_set || attr_clr) {
		close(fd);
		fd = open_dest(dest, "none");
		if (fd < 0)
			fail(errno, "reopen %s", dest);
		fd_path(fd, target, sizeof(target));
		if (propagation && mount(NULL, target, NULL, propagation, NULL) < 0)
			fail(errno, "set propagation of %s", dest);
		if (attr_set || attr_clr) {
			struct mount_attr attr = { .attr_set = attr_set, .attr_clr = attr_clr };
			if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
				fail(errno, "set recursive mount attributes of %s", dest);
		}
	}
	close(fd);
}

static void do_mknod(const struct op *o)
{
	const char *dest = arg_str(o, 0);
	mode_t mode = (mode_t)arg_ull(o, 1);
	dev_t dev = makedev(arg_ull(o, 2), arg_ull(o, 3));
	char name[256];
	int parent = open_parent(dest, name, sizeof(name));
	if (parent < 0)
		fail(errno, "resolve parent of device %s", dest);
	unlinkat(parent, name, 0);
	if (mknodat(parent, name, mode, dev) < 0)
		fail(errno, "mknod %s", dest);
	if (fchmodat(parent, name, mode & 07777, 0) < 0)
		fail(errno, "chmod %s", dest);
	if (fchownat(parent, name, (uid_t)arg_ll(o, 4), (gid_t)arg_ll(o, 5), AT_SYMLINK_NOFOLLOW) < 0)
		fail(errno, "chown %s", dest);
	close(parent);
}

static void do_symlink(const struct op *o)
{
	const char *target = arg_str(o, 0), *dest = arg_str(o, 1);
	char name[256];
	int parent = open_parent(dest, name, sizeof(name));
	if (parent < 0)
		fail(errno, "resolve parent of %s", dest);
	if (symlinkat(target, parent, name) < 0 && errno != EEXIST)
		fail(errno, "symlink %s -> %s", dest, target);
	close(parent);
}

static void set_root(const char *path)
{
	if (root_fd >= 0)
		close(root_fd);
	root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		fail(errno, "open root %s", path);
}

static void do_pivot_root(const char *rootfs)
{
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0 || newroot < 0)
		fail(errno, "open roots for pivot_root");
	if (fchdir(newroot) < 0)
		fail(errno, "chdir %s", rootfs);
	/* pivot_root(".", ".") stacks the old root on the new one; detach it right after. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(errno, "pivot_root to %s", rootfs);
	if (fchdir(oldroot) < 0)
		fail(errno, "chdir to old root");
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail(errno, "make old root slave");
	if (umount2(".", MNT_DETACH) < 0)
		fail(errno, "detach old root");
	if (chdir("/") < 0)
		fail(errno, "chdir /");
	close(oldroot);
	close(newroot);
	set_root("/");
}

static void do_move_root(const char *rootfs)
{
	if (chdir(rootfs) < 0)
		fail(errno, "chdir %s", rootfs);
	if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
		fail(errno, "move %s to /", rootfs);
	if (chroot(".") < 0)
		fail(errno, "chroot %s", rootfs);
	if (chdir("/") < 0)
		fail(errno, "chdir /");
	set_root("/");
}

/* A container that shares the caller's mount namespace cannot pivot_root without moving the
 * caller's root too: it is confined to its root filesystem by chroot instead. */
static void do_chroot(const char *rootfs)
{
	if (chdir(rootfs) < 0)
		fail(errno, "chdir %s", rootfs);
	if (chroot(".") < 0)
		fail(errno, "chroot %s", rootfs);
	if (chdir("/") < 0)
		fail(errno, "chdir /");
	set_root("/");
}

/* The first masked directory's empty tmpfs; the others are bind mounts of it. Each superblock
 * costs every memory cgroup on the host a share of the kernel's shrinker bookkeeping, which
 * grows as containers times superblocks: one per container instead of one per masked path. */
static char first_mask[PATH_MAX];

static void do_mask(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return;
		fail(errno, "stat masked path %s", path);
	}
	if (S_ISDIR(st.st_mode)) {
		/* a bind that fails (the first one masked by a later path) falls back to its own tmpfs */
		if (first_mask[0] != '\0' && mount(first_mask, path, NULL, MS_BIND, NULL) == 0)
			return;
		if (mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k") < 0)
			fail(errno, "mask directory %s", path);
		if (first_mask[0] == '\0' && strlen(path) < sizeof(first_mask))
			strcpy(first_mask, path);
	} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
		fail(errno, "mask %s", path);
	}
}

static void do_readonly(const char *path)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return;
		fail(errno, "bind %s for read-only", path);
	}
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked_flags(path);
	if (mount(NULL, path, NULL, flags, NULL) < 0)
		fail(errno, "remount %s read-only", path);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail(errno, "open %s", path);
	if (write(fd, data, len) != (ssize_t)len)
		fail(errno, "write %s", path);
	close(fd);
}

static void do_hook(const struct op *o)
{
	const char *path = arg_str(o, 0);
	long long timeout = arg_ll(o, 1);
	const char *input = arg_str(o, 2);
	size_t input_len = o->lens[2];
	if (input_len == 0 && hook_state) {
		input = hook_state;
		input_len = hook_state_len;
	}
	int argc = (int)arg_ll(o, 3);
	int nenv = (int)o->argc - 4 - argc;
	if (argc < 0 || nenv < 0)
		fail(EINVAL, "malformed hook op");
	char **args = calloc(argc + 1, sizeof(char *));
	char **env = calloc(nenv + 1, sizeof(char *));
	for (int i = 0; i < argc; i++)
		args[i] = o->argv[4 + i];
	for (int i = 0; i < nenv; i++)
		env[i] = o->argv[4 + argc + i];
	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		fail(errno, "pipe for hook %s", path);
	pid_t pid = fork();
	if (pid < 0)
		fail(errno, "fork hook %s", path);
	if (pid == 0) {
		dup2(in[0], 0);
		execve(path, argc ? args : (char *[]){ (char *)path, NULL }, env);
		_exit(127);
	}
	close(in[0]);
	signal(SIGPIPE, SIG_IGN);
	if (input_len && write(in[1], input, input_len) < 0 && errno != EPIPE)
		fail(errno, "write state to hook %s", path);
	close(in[1]);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0 && timeout > 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int r = poll(&p, 1, (int)(timeout * 1000));
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail(ETIMEDOUT, "hook %s timed out after %llds", path, timeout);
		}
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		fail(errno, "wait for hook %s", path);
	if (pidfd >= 0)
		close(pidfd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		fail(ENOENT, "hook %s could not be executed", path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail(ECHILD, "hook %s failed: %s %d", path, WIFEXITED(status) ? "exit status" : "signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	free(args);
	free(env);
}

static void do_console(const struct op *o)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		fail(errno, "open /dev/ptmx");
	if (unlockpt(master) < 0)
		fail(errno, "unlockpt");
	char name[128];
	if (ptsname_r(master, name, sizeof(name)) != 0)
		fail(errno, "ptsname");
	int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		fail(errno, "open %s", name);
	struct winsize ws = { .ws_row = (unsigned short)arg_ll(o, 0), .ws_col = (unsigned short)arg_ll(o, 1) };
	if (ws.ws_row && ws.ws_col && ioctl(master, TIOCSWINSZ, &ws) < 0)
		fail(errno, "set console size");
	if (o->argc >= 4 && fchown(slave, (uid_t)arg_ll(o, 2), (gid_t)arg_ll(o, 3)) < 0)
		fail(errno, "chown %s", name);
	if (msg_send_fd(sock, MSG_CONSOLE, master) < 0)
		fail(errno, "send console to monitor");
	close(master);
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		fail(errno, "set controlling terminal");
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			fail(errno, "dup console");
	if (slave > 2)
		close(slave);
}

static void do_capset(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = {
		{ .effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh },
		{ .effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32) },
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail(errno, "capset");
}

static void do_capbset(uint64_t keep)
{
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break; /* past the kernel's last capability */
		if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			fail(errno, "drop capability %d from the bounding set", cap);
	}
}

static void do_ambient(uint64_t mask)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail(errno, "clear ambient capabilities");
	for (int cap = 0; cap < 64; cap++)
		if ((mask & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			fail(errno, "raise ambient capability %d", cap);
}

static void do_seccomp(const struct op *o)
{
	unsigned int flags = (unsigned int)arg_ull(o, 0);
	size_t len = o->lens[1];
	if (len == 0 || len % sizeof(struct sock_filter) != 0)
		fail(EINVAL, "seccomp program has a bad length %zu", len);
	struct sock_fprog prog = { .len = (unsigned short)(len / sizeof(struct sock_filter)),
				   .filter = (struct sock_filter *)o->argv[1] };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
		fail(errno, "load seccomp filter");
}

/* Marks every fd from first up close-on-exec, so nothing the runtime's caller left open reaches
 * the container. close_range(2) does it in one call; where it is missing (ENOSYS, or EINVAL
 * before Linux 5.11 knew CLOSE_RANGE_CLOEXEC) or a seccomp filter the caller runs under refuses
 * it (EPERM), the fds are walked one by one: those /proc/self/fd lists, or without /proc every
 * number up to the hard RLIMIT_NOFILE. */
static void mark_fds_cloexec(int first)
{
	if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	if (errno != ENOSYS && errno != EPERM && errno != EINVAL)
		fail(errno, "mark fds close-on-exec");
	DIR *dir = opendir("/proc/self/fd");
	if (dir) {
		int self = dirfd(dir);
		struct dirent *e;
		while ((e = readdir(dir)) != NULL) {
			char *end;
			long fd = strtol(e->d_name, &end, 10);
			if (*end != 0 || end == e->d_name || fd < first || fd == self)
				continue;
			int flags = fcntl((int)fd, F_GETFD);
			if (flags >= 0 && fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) < 0)
				fail(errno, "mark fd %ld close-on-exec", fd);
		}
		closedir(dir);
		return;
	}
	struct rlimit rl;
	rlim_t last = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_max : 1024;
	if (last == RLIM_INFINITY || last > (1 << 20))
		last = 1 << 20; /* the kernel's default fs.nr_open */
	for (rlim_t fd = (rlim_t)first; fd < last; fd++) {
		int flags = fcntl((int)fd, F_GETFD);
		if (flags >= 0 && fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) < 0)
			fail(errno, "mark fd %d close-on-exec", (int)fd);
	}
}

static void do_resolve(const char *name, const char *path_var)
{
	exec_errno = 0;
	if (strchr(name, '/')) {
		snprintf(exec_path, sizeof(exec_path), "%s", name);
		struct stat st;
		if (stat(name, &st) < 0)
			fail(errno, "executable %s", name);
		if (S_ISDIR(st.st_mode) || access(name, X_OK) < 0)
			fail(EACCES, "executable %s", name);
		return;
	}
	int saw_eacces = 0;
	const char *p = path_var;
	while (*p) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char candidate[4096];
		if (n == 0)
			snprintf(candidate, sizeof(candidate), "%s", name);
		else
			snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)n, p, name);
		struct stat st;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(candidate, X_OK) == 0) {
				snprintf(exec_path, sizeof(exec_path), "%s", candidate);
				return;
			}
			saw_eacces = 1;
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	fail(saw_eacces ? EACCES : ENOENT, "executable %s in $PATH", name);
}

static void do_exec(const struct op *o)
{
	int argc = (int)arg_ll(o, 0);
	int nenv = (int)o->argc - 1 - argc;
	if (argc < 1 || nenv < 0)
		fail(EINVAL, "malformed exec op");
	char **args = calloc(argc + 1, sizeof(char *));
	char **env = calloc(nenv + 1, sizeof(char *));
	for (int i = 0; i < argc; i++)
		args[i] = o->argv[1 + i];
	for (int i = 0; i < nenv; i++)
		env[i] = o->argv[1 + argc + i];
	const char *path = exec_path[0] ? exec_path : args[0];
	execve(path, args, env);
	fail(errno, "exec %s", path);
}

static void run_init_op(const struct op *o)
{
	switch (o->code) {
	case OP_SETSID:
		if (setsid() < 0 && errno != EPERM)
			fail(errno, "setsid");
		break;
	case OP_ROOT:
		set_root(arg_str(o, 0));
		break;
	case OP_MOUNT:
		do_mount(o);
		break;
	case OP_MKNOD:
		do_mknod(o);
		break;
	case OP_SYMLINK:
		do_symlink(o);
		break;
	case OP_PIVOT_ROOT:
		do_pivot_root(arg_str(o, 0));
		break;
	case OP_MOVE_ROOT:
		do_move_root(arg_str(o, 0));
		break;
	case OP_CHROOT:
		do_chroot(arg_str(o, 0));
		break;
	case OP_MASK:
		do_mask(arg_str(o, 0));
		break;
	case OP_READONLY:
		do_readonly(arg_str(o, 0));
		break;
	case OP_REMOUNT_ROOT_RO:
		if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), NULL) < 0)
			fail(errno, "remount / read-only");
		break;
	case OP_PROPAGATION:
		if (mount(NULL, arg_str(o, 0), NULL, arg_ull(o, 1), NULL) < 0)
			fail(errno, "set propagation of %s", arg_str(o, 0));
		break;
	case OP_SYSCTL: {
		char path[512];
		snprintf(path, sizeof(path), "/proc/sys/%s", arg_str(o, 0));
		write_file(path, arg_str(o, 1), o->lens[1]);
		break;
	}
	case OP_HOSTNAME:
		if (sethostname(arg_str(o, 0), o->lens[0]) < 0)
			fail(errno, "sethostname");
		break;
	case OP_DOMAINNAME:
		if (setdomainname(arg_str(o, 0), o->lens[0]) < 0)
			fail(errno, "setdomainname");
		break;
	case OP_SYNC:
		msg_send(sock, MSG_SYNC, 0, 0, arg_str(o, 0));
		receive_sync_answer();
		break;
	case OP_HOOK:
		do_hook(o);
		break;
	case OP_CONSOLE:
		do_console(o);
		break;
	case OP_RLIMIT: {
		long long soft = arg_ll(o, 1), hard = arg_ll(o, 2);
		struct rlimit rl = { .rlim_cur = soft < 0 ? RLIM_INFINITY : (rlim_t)soft,
				     .rlim_max = hard < 0 ? RLIM_INFINITY : (rlim_t)hard };
		if (prlimit(0, (int)arg_ll(o, 0), &rl, NULL) < 0)
			fail(errno, "setrlimit %lld", arg_ll(o, 0));
		break;
	}
	case OP_NO_NEW_PRIVS:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			fail(errno, "set no_new_privs");
		break;
	case OP_KEEPCAPS:
		if (prctl(PR_SET_KEEPCAPS, arg_ll(o, 0), 0, 0, 0) < 0)
			fail(errno, "set keepcaps");
		break;
	case OP_CAPBSET:
		do_capbset(arg_ull(o, 0));
		break;
	case OP_GROUPS: {
		gid_t *gids = calloc(o->argc + 1, sizeof(gid_t));
		for (uint32_t i = 0; i < o->argc; i++)
			gids[i] = (gid_t)arg_ll(o, (int)i);
		if (setgroups(o->argc, gids) < 0)
			fail(errno, "setgroups");
		free(gids);
		break;
	}
	case OP_SETGID:
		if (setresgid((gid_t)arg_ll(o, 0), (gid_t)arg_ll(o, 0), (gid_t)arg_ll(o, 0)) < 0)
			fail(errno, "setgid %lld", arg_ll(o, 0));
		break;
	case OP_SETUID:
		if (setresuid((uid_t)arg_ll(o, 0), (uid_t)arg_ll(o, 0), (uid_t)arg_ll(o, 0)) < 0)
			fail(errno, "setuid %lld", arg_ll(o, 0));
		break;
	case OP_CAPSET:
		do_capset(arg_ull(o, 0), arg_ull(o, 1), arg_ull(o, 2));
		break;
	case OP_AMBIENT:
		do_ambient(arg_ull(o, 0));
		break;
	case OP_UMASK:
		umask((mode_t)arg_ll(o, 0));
		break;
	case OP_CHDIR: {
		/* No magic link on the way (CVE-2024-21626: /proc/self/fd/N would be a directory fd
		 * this process holds, not a directory of the container). */
		const char *wd = arg_str(o, 0);
		struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS };
		int wfd = (int)syscall(SYS_openat2, AT_FDCWD, wd, &how, sizeof(how));
		if (wfd < 0 && errno == ENOSYS) {
			if (chdir(wd) < 0)
				fail(errno, "chdir to %s", wd);
		} else if (wfd < 0) {
			if (errno == ELOOP)
				fail(ELOOP, "working directory %s goes through a /proc magic link (such as /proc/self/fd/N) or too many symlinks", wd);
			fail(errno, "chdir to %s", wd);
		} else {
			int rc = fchdir(wfd);
			int saved = errno;
			close(wfd);
			if (rc < 0)
				fail(saved, "chdir to %s", wd);
		}
		/* A cwd outside the container root shows as "(unreachable)..." (CVE-2024-21626). */
		char cwd[4096];
		if (!getcwd(cwd, sizeof(cwd)) || cwd[0] != '/')
			fail(EPERM, "working directory %s is outside the container", wd);
		break;
	}
	case OP_SECCOMP:
		do_seccomp(o);
		break;
	case OP_CLOSE_FDS:
		mark_fds_cloexec((int)arg_ll(o, 0));
		break;
	case OP_WAIT_START:
		msg_send(sock, MSG_CREATED, 0, 0, "");
		expect(MSG_START);
		break;
	case OP_RESOLVE:
		do_resolve(arg_str(o, 0), arg_str(o, 1));
		break;
	case OP_EXEC:
		do_exec(o);
		break;
	case OP_PERSONALITY:
		if (personality((unsigned long)arg_ull(o, 0)) < 0)
			fail(errno, "personality");
		break;
	default:
		fail(EINVAL, "op %u is not valid in the container init", o->code);
	}
}

static void write_proc_self(const char *name, const char *data, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/%s", name);
	write_file(path, data, len);
}

void child_main(struct plan *plan, int fd)
{
	sock = fd;
	first_mask[0] = '\0';
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	expect(MSG_GO); /* the monitor has put us into our cgroups */
	/* Not dumpable: a container process must not reach our /proc/<pid>/exe or memory. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Open every namespace to join before joining any: after setns into a mount namespace,
	 * /proc/<pid>/ns paths of the host no longer resolve. */
	int *ns_fds = calloc(plan->count, sizeof(int));
	for (current = 0; current < plan->count; current++) {
		const struct op *o = &plan->ops[current];
		if (o->code != OP_JOIN_NS)
			continue;
		ns_fds[current] = open(arg_str(o, 1), O_RDONLY | O_CLOEXEC);
		if (ns_fds[current] < 0)
			fail(errno, "open namespace %s", arg_str(o, 1));
	}
	int is_init = 0;
	for (current = 0; current < plan->count; current++) {
		const struct op *o = &plan->ops[current];
		if (o->code < OP_JOIN_NS)
			continue; /* monitor options */
		if (is_init) {
			run_init_op(o);
			continue;
		}
		switch (o->code) {
		case OP_JOIN_NS:
			if (setns(ns_fds[current], (int)arg_ll(o, 0)) < 0)
				fail(errno, "join namespace %s", arg_str(o, 1));
			close(ns_fds[current]);
			break;
		case OP_UNSHARE: {
			int flags = (int)arg_ll(o, 0);
			if (unshare(flags) < 0)
				fail(errno, "unshare namespaces 0x%x", flags);
			if (flags == CLONE_NEWUSER) {
				msg_send(sock, MSG_USERNS_READY, 0, 0, "");
				expect(MSG_USERNS_MAPPED);
				/* become root of the new namespace when root is mapped */
				if (setresgid(0, 0, 0) < 0 && errno != EINVAL)
					fail(errno, "setgid 0 in the user namespace");
				if (setresuid(0, 0, 0) < 0 && errno != EINVAL)
					fail(errno, "setuid 0 in the user namespace");
			}
			break;
		}
		case OP_TIMENS_OFFSETS:
			write_proc_self("timens_offsets", arg_str(o, 0), o->lens[0]);
			break;
		case OP_FORK: {
			pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
			if (pid < 0)
				fail(errno, "clone the container init");
			if (pid > 0) {
				msg_send(sock, MSG_CHILD_PID, pid, 0, "");
				_exit(0);
			}
			is_init = 1;
			prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
			prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
			umask(0);
			expect(MSG_GO);
			break;
		}
		default:
			fail(EINVAL, "op %u is not valid before the container init exists", o->code);
		}
	}
	fail(EINVAL, "the plan ended without an exec");
}

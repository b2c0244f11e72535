/* cove-shim: the per-container monitor.
 *
 *   cove-shim PLAN          run a plan (create a container, or exec into one) and stay as the
 *                           process's monitor until it exits
 *   cove-shim --attach-device-filter CGROUP_DIR PROGRAM
 *                           load a cgroup v2 device program and attach it (replacing older ones)
 *
 * The monitor forks the first child, which joins/creates namespaces and forks the container init
 * as the monitor's own child (CLONE_PARENT). The monitor writes id maps and cgroup membership
 * from outside, relays hook synchronisation to the runtime over fd 3 (a socket, line protocol),
 * waits for `start` on a fifo in the state directory, and records the exit status atomically in
 * the state directory so that the runtime may come and go. In runtime mode (OP_RUNTIME_CMD) it
 * runs another OCI runtime's command instead of cove's init (runc create, or runc exec --detach)
 * and, as a child subreaper, adopts the process that command leaves behind; everything after
 * that (logs, attach, exit status) is the same. The report lines to the runtime, and the files
 * in the state directory, are defined in src/native/protocol.ts (REPORT_*, STATE_* in protocol.h).
 */
#include "shim.h"
#include "io.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int report_fd = -1;
static const char *state_dir = NULL;
static const char *exit_file = STATE_EXIT;
static pid_t init_pid = 0;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	if (report_fd < 0)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(report_fd, line, n) < 0) {
		close(report_fd); /* the runtime went away: carry on without it */
		report_fd = -1;
	}
}

/* Reads one line from the runtime; returns 0 on "ok". */
static int await_runtime_ok(void)
{
	if (report_fd < 0)
		return 0;
	char line[64];
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		ssize_t r = read(report_fd, line + n, 1);
		if (r <= 0)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = 0;
	return strcmp(line, SYNC_ANSWER_OK) == 0 ? 0 : -1;
}

static void state_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", state_dir, name);
}

/* Writes a small file in the state dir atomically: temp file, rename. No fsync: the state dir
 * describes live processes (it is normally on tmpfs), and a reader needs only atomicity. */
static void write_state_file(const char *name, const char *content)
{
	if (!state_dir)
		return;
	char path[4096], tmp[4200];
	state_path(path, sizeof(path), name);
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	size_t len = strlen(content);
	if (write(fd, content, len) != (ssize_t)len) {
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	rename(tmp, path);
}

static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)len ? 0 : -1;
}

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* clone3's argument block, as far as CLONE_INTO_CGROUP needs it (Linux 5.7). */
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* The directory of a cgroup.procs path, in buf; 0 if it is a cgroup v1 hierarchy (it has a tasks file). */
static int cgroup_dir_of(const char *procs, char *buf, size_t size, int *v1)
{
	const char *slash = strrchr(procs, '/');
	size_t n = slash ? (size_t)(slash - procs) : 0;
	if (n == 0 || n + sizeof("/tasks") > size)
		return errno = ENAMETOOLONG, -1;
	memcpy(buf, procs, n);
	strcpy(buf + n, "/tasks");
	*v1 = access(buf, F_OK) == 0;
	buf[n] = 0;
	return 0;
}

/*
 * Cgroup membership without the kernel's wait: moving another process (a pid written to
 * cgroup.procs) takes a global lock whose first writer after a quiet spell waits for an RCU
 * grace period, ~10 ms on every container start. A single-threaded process that writes "0" to a
 * v1 hierarchy's tasks file moves only itself, without that lock; on the v2 hierarchy it was
 * cloned straight into its cgroup (CLONE_INTO_CGROUP) when the kernel allows, else it writes "0"
 * to cgroup.procs as before. Runs in the first child; on failure it reports the op and exits.
 */
static void join_cgroups_self(const struct plan *plan, int v2_joined, int sock)
{
	char dir[4096];
	for (size_t i = 0; i < plan->count; i++) {
		const struct op *o = &plan->ops[i];
		if (o->code != OP_CGROUP_PROCS)
			continue;
		const char *procs = arg_str(o, 0);
		int v1 = 0;
		if (cgroup_dir_of(procs, dir, sizeof(dir), &v1) < 0) {
			msg_send(sock, MSG_ERROR, (int)i, errno, procs);
			_exit(1);
		}
		if (!v1 && v2_joined)
			continue;
		if (v1)
			strcat(dir, "/tasks");
		if (write_file(v1 ? dir : procs, "0", 1) < 0) {
			msg_send(sock, MSG_ERROR, (int)i, errno, procs);
			_exit(1);
		}
	}
}

/* Forks the first child straight into the v2 cgroup of the plan, if it has one; -1 if it cannot. */
static pid_t fork_into_cgroup(const struct plan *plan)
{
	char dir[4096];
	for (size_t i = 0; i < plan->count; i++) {
		const struct op *o = &plan->ops[i];
		int v1 = 0;
		if (o->code != OP_CGROUP_PROCS || cgroup_dir_of(arg_str(o, 0), dir, sizeof(dir), &v1) < 0 || v1)
			continue;
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		struct clone3_args args = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)fd };
		/* the child is single-threaded and runs none of libc's fork handlers' state: it only
		 * writes files, talks over its socket and execs, as after fork */
		pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
		int saved = errno;
		if (pid != 0)
			close(fd);
		errno = saved;
		return pid;
	}
	return -1;
}

/* Re-executes from a sealed in-memory copy, so that no process in a container can reach the
 * binary on disk through /proc/<pid>/exe and overwrite it (CVE-2019-5736). */
static void ensure_sealed_copy(char **argv)
{
	const int all = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals >= 0 && (seals & all) == all) {
		close(fd);
		return;
	}
	struct stat st;
	int mfd = memfd_create("cove-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0 || fstat(fd, &st) < 0)
		goto out;
	off_t left = st.st_size;
	while (left > 0) {
		ssize_t n = sendfile(mfd, fd, NULL, left);
		if (n <= 0)
			goto out;
		left -= n;
	}
	if (fcntl(mfd, F_ADD_SEALS, all) < 0)
		goto out;
	close(fd);
	fexecve(mfd, argv, environ);
	fd = -1;
out:
	/* Refuse to go on unprotected: a plain run would expose the binary. */
	fprintf(stderr, "cove-shim: cannot run from a sealed copy of itself: %s\n", strerror(errno));
	_exit(125);
}

static void kill_and_reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static void fail_setup(int op, int err, const char *text, pid_t c1)
{
	report(REPORT_ERROR " %d %d %s", op, err, text);
	kill_and_reap(init_pid);
	kill_and_reap(c1);
	_exit(1);
}

static int send_to_console_socket(const char *path, int master)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return errno = ENAMETOOLONG, -1;
	strcpy(addr.sun_path, path);
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;
		close(s);
		return errno = saved, -1;
	}
	/* runc's protocol: one message whose payload is the terminal name, with the fd attached. */
	char name[] = "/dev/ptmx";
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) - 1 };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	int rc = sendmsg(s, &mh, 0) < 0 ? -1 : 0;
	int saved = errno;
	close(s);
	errno = saved;
	return rc;
}

static void copy_winsize(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

/* Copies what is readable from one fd to another; returns -1 at EOF or error. */
static int relay(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n <= 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, n - off);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		off += w;
	}
	return 0;
}

/* Listens on a unix socket for the pty master an OCI runtime sends (its --console-socket). */
static int console_listen(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return errno = ENAMETOOLONG, -1;
	strcpy(addr.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	unlink(path);
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 1) < 0) {
		int saved = errno;
		close(s);
		return errno = saved, -1;
	}
	return s;
}

/* Accepts the runtime's connection and takes the fd it carries. The runtime has exited by now,
 * so the connection is already queued: a short timeout only covers a runtime that never sent. */
static int console_receive(int listen_fd)
{
	struct pollfd p = { .fd = listen_fd, .events = POLLIN };
	if (poll(&p, 1, 5000) <= 0)
		return errno = ETIMEDOUT, -1;
	int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return -1;
	char name[256];
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	do
		n = recvmsg(c, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	int fd = -1;
	if (n > 0)
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	close(c);
	return fd < 0 ? (errno = EPROTO, -1) : fd;
}

/* Runtime mode: runs the runtime's command (its create, or exec --detach) with the container's
 * stdio, waits for it, and adopts the process it leaves: as a child subreaper this monitor
 * becomes its parent and collects its exit status. Returns the pty master or -1; sets init_pid. */
static int runtime_create(const struct op *cmd, const char *pid_file, const char *console_path, int stdio[3])
{
	int listen_fd = -1;
	if (console_path && (listen_fd = console_listen(console_path)) < 0)
		fail_setup(-1, errno, console_path, 0);
	char **argv = calloc(cmd->argc + 1, sizeof(char *));
	if (!argv)
		fail_setup(-1, errno, "runtime command", 0);
	for (uint32_t i = 0; i < cmd->argc; i++)
		argv[i] = cmd->argv[i];
	pid_t child = fork();
	if (child < 0)
		fail_setup(-1, errno, "fork", 0);
	if (child == 0) {
		for (int i = 0; i < 3; i++)
			if (stdio[i] >= 0 && dup2(stdio[i], i) < 0)
				_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		_exit(127);
	}
	free(argv);
	int status;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (console_path)
			unlink(console_path);
		char text[128];
		snprintf(text, sizeof(text), "%s exited with status %d", cmd->argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		fail_setup(-1, 0, text, 0);
	}
	char buf[32] = { 0 };
	int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		fail_setup(-1, errno, pid_file, 0);
	close(fd);
	init_pid = atoi(buf);
	if (init_pid <= 0)
		fail_setup(-1, EPROTO, pid_file, 0);
	int master = -1;
	if (listen_fd >= 0) {
		master = console_receive(listen_fd);
		int saved = errno;
		close(listen_fd);
		unlink(console_path);
		if (master < 0) {
			kill(init_pid, SIGKILL);
			fail_setup(-1, saved, "receiving the terminal from the runtime", 0);
		}
	}
	return master;
}

static void record_exit(int status)
{
	char content[64];
	if (WIFSIGNALED(status)) {
		snprintf(content, sizeof(content), "%d %d\n", 128 + WTERMSIG(status), WTERMSIG(status));
		report(REPORT_EXIT " %d %d", 128 + WTERMSIG(status), WTERMSIG(status));
	} else {
		snprintf(content, sizeof(content), "%d 0\n", WEXITSTATUS(status));
		report(REPORT_EXIT " %d 0", WEXITSTATUS(status));
	}
	write_state_file(exit_file, content);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--attach-device-filter") == 0) {
		if (attach_device_filter(argv[2], argv[3]) < 0) {
			fprintf(stderr, "cove-shim: attach device filter to %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		return 0;
	}
	/* The runtime's report socket arrives as an inherited fd named with --report-fd; fds
	 * below it (3...) are the caller's preserved fds, passed into the container. */
	const char *plan_path = NULL;
	if (argc == 4 && strcmp(argv[1], "--report-fd") == 0) {
		report_fd = atoi(argv[2]);
		plan_path = argv[3];
	} else if (argc == 2) {
		plan_path = argv[1];
	} else {
		fprintf(stderr, "usage: cove-shim [--report-fd N] PLAN | --attach-device-filter CGROUP_DIR PROGRAM\n");
		return 2;
	}
	ensure_sealed_copy(argv);
	if (report_fd >= 0 && fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0)
		report_fd = -1;
	struct plan plan;
	if (plan_load(plan_path, &plan) < 0) {
		report(REPORT_ERROR " -1 %d cannot read plan %s", errno, plan_path);
		return 1;
	}
	int autostart = 0, proxy = 0, keep_stdio = 0, stdio_pipes = 0, open_stdin = 0, stdin_once = 0, start_on_attach = 0;
	const char *console_socket = NULL, *attach_path = NULL, *direct_path = NULL, *runtime_pid_file = NULL, *runtime_console = NULL;
	const struct op *log_op = NULL, *runtime_cmd = NULL;
	for (size_t i = 0; i < plan.count; i++) {
		const struct op *o = &plan.ops[i];
		switch (o->code) {
		case OP_STATE_DIR: state_dir = arg_str(o, 0); break;
		case OP_EXIT_FILE: exit_file = arg_str(o, 0); break;
		case OP_AUTOSTART: autostart = 1; break;
		case OP_START_ON_ATTACH: start_on_attach = 1; break;
		case OP_CONSOLE_PROXY: proxy = 1; break;
		case OP_KEEP_STDIO: keep_stdio = 1; break;
		case OP_CONSOLE_SOCKET: console_socket = arg_str(o, 0); break;
		case OP_LOG_FILE: log_op = o; break;
		case OP_ATTACH_SOCKET: attach_path = arg_str(o, 0); break;
		case OP_DIRECT_SOCKET: direct_path = arg_str(o, 0); break;
		case OP_STDIO_PIPES: stdio_pipes = 1; open_stdin = arg_ll(o, 0) != 0; stdin_once = arg_ll(o, 1) != 0; break;
		case OP_RUNTIME_CMD: runtime_cmd = o; break;
		case OP_RUNTIME_PID_FILE: runtime_pid_file = arg_str(o, 0); break;
		case OP_RUNTIME_CONSOLE: runtime_console = arg_str(o, 0); break;
		default: break;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigset_t mask, oldmask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);

	if (log_op && log_open(arg_str(log_op, 0), arg_ll(log_op, 1), (int)arg_ll(log_op, 2), log_op->argc > 3 && arg_ll(log_op, 3) != 0) < 0) {
		report(REPORT_ERROR " -1 %d cannot open the log %s", errno, arg_str(log_op, 0));
		return 1;
	}
	if (attach_path && attach_listen(attach_path) < 0) {
		report(REPORT_ERROR " -1 %d cannot listen on %s", errno, attach_path);
		return 1;
	}
	if (direct_path && attach_listen_direct(direct_path) < 0) {
		report(REPORT_ERROR " -1 %d cannot listen on %s", errno, direct_path);
		return 1;
	}
	/* engine mode: the container's stdio are pipes whose other ends this monitor keeps */
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	if (stdio_pipes) {
		if ((open_stdin && pipe2(in_pipe, O_CLOEXEC) < 0) || pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
			report(REPORT_ERROR " -1 %d cannot create stdio pipes", errno);
			return 1;
		}
		/* larger pipes: fewer wakeups per byte for a stream (best effort: the kernel may cap
		 * it at pipe-max-size, or refuse over a user's pipe quota) */
		int fds[3] = { in_pipe[1], out_pipe[0], err_pipe[0] };
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				fcntl(fds[i], F_SETPIPE_SZ, 1 << 20);
	}
	if (runtime_cmd && !runtime_pid_file) {
		report(REPORT_ERROR " -1 %d a runtime command needs a pid file", EINVAL);
		return 1;
	}
	int master = -1, sock = -1;
	pid_t c1 = 0;
	int sv[2] = { -1, -1 };
	if (runtime_cmd) {
		/* START_ON_ATTACH: the runtime's command starts the process, so it runs only once the
		 * first client is connected: nothing the process prints can be missed */
		if (start_on_attach && attach_path)
			attach_wait_first();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int stdio[3] = { -1, -1, -1 };
		if (stdio_pipes) {
			stdio[0] = open_stdin ? in_pipe[0] : null;
			stdio[1] = out_pipe[1];
			stdio[2] = err_pipe[1];
		} else if (!keep_stdio) {
			stdio[0] = stdio[1] = stdio[2] = null;
		}
		master = runtime_create(runtime_cmd, runtime_pid_file, runtime_console, stdio);
		if (null >= 0)
			close(null);
		goto adopted;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		report(REPORT_ERROR " -1 %d socketpair", errno);
		return 1;
	}
	int v2_joined = 0;
	c1 = fork_into_cgroup(&plan);
	if (c1 >= 0)
		v2_joined = 1;
	else
		c1 = fork();
	if (c1 < 0) {
		report(REPORT_ERROR " -1 %d fork", errno);
		return 1;
	}
	if (c1 == 0) {
		close(sv[0]);
		join_cgroups_self(&plan, v2_joined, sv[1]);
		if (stdio_pipes) {
			int null = open("/dev/null", O_RDWR);
			if (dup2(open_stdin ? in_pipe[0] : null, 0) < 0 || dup2(out_pipe[1], 1) < 0 || dup2(err_pipe[1], 2) < 0)
				_exit(1);
		}
		if (report_fd >= 0)
			close(report_fd);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		signal(SIGPIPE, SIG_DFL);
		child_main(&plan, sv[1]);
	}
	close(sv[1]);
	sock = sv[0];
adopted:;
	int out_fd[3] = { -1, -1, -1 };
	struct stdio_target target = { .stdin_fd = -1, .pty_fd = -1 };
	attach_set_stdin_once(stdin_once);
	if (stdio_pipes) {
		if (open_stdin) {
			close(in_pipe[0]);
			/* never wait on the container to read: input waits in its client's buffer */
			fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
			target.stdin_fd = in_pipe[1];
		}
		close(out_pipe[1]);
		close(err_pipe[1]);
		out_fd[1] = out_pipe[0];
		out_fd[2] = err_pipe[0];
	}
	if (!keep_stdio && !proxy) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int i = 0; i < 3 && null >= 0; i++)
			dup2(null, i);
		if (null > 2)
			close(null);
	}

	/* The child joined its cgroups itself (join_cgroups_self) before it creates its cgroup
	 * namespace; it reports a failure instead of waiting for this message. */
	if (!runtime_cmd)
		msg_send(sock, MSG_GO, 0, 0, "");

	struct msg m;
	/* cove's own init: follow its setup until it is created (a runtime's process already is) */
	for (; !runtime_cmd;) {
		int passfd = -1;
		int n = msg_recv(sock, &m, &passfd);
		if (n <= 0) {
			int status = 0;
			if (init_pid > 0 && waitpid(init_pid, &status, WNOHANG) == init_pid)
				fail_setup(-1, 0, WIFSIGNALED(status) ? "container init was killed during setup" : "container init exited during setup", c1);
			fail_setup(-1, 0, "container init exited during setup", c1);
		}
		if (m.type == MSG_ERROR) {
			fail_setup(m.a, m.b, m.text, c1);
		} else if (m.type == MSG_USERNS_READY) {
			char path[64];
			for (size_t i = 0; i < plan.count; i++) {
				const struct op *o = &plan.ops[i];
				const char *file = o->code == OP_SETGROUPS ? "setgroups" : o->code == OP_UID_MAP ? "uid_map" : o->code == OP_GID_MAP ? "gid_map" : NULL;
				if (!file)
					continue;
				snprintf(path, sizeof(path), "/proc/%d/%s", c1, file);
				if (write_file(path, arg_str(o, 0), o->lens[0]) < 0)
					fail_setup((int)i, errno, path, c1);
			}
			msg_send(sock, MSG_USERNS_MAPPED, 0, 0, "");
		} else if (m.type == MSG_CHILD_PID) {
			init_pid = m.a;
			waitpid(c1, NULL, 0);
			c1 = 0;
			for (size_t i = 0; i < plan.count; i++) {
				const struct op *o = &plan.ops[i];
				if (o->code != OP_OOM_SCORE_ADJ)
					continue;
				char path[64];
				snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", init_pid);
				if (write_file(path, arg_str(o, 0), o->lens[0]) < 0)
					fail_setup((int)i, errno, path, 0);
			}
			report(REPORT_PID " %d", init_pid);
			msg_send(sock, MSG_GO, 0, 0, "");
		} else if (m.type == MSG_SYNC) {
			report(REPORT_SYNC " %s", m.text);
			if (await_runtime_ok() != 0) {
				msg_send(sock, MSG_SYNC_ABORT, 0, 0, "");
			} else {
				/* the state for the init's hooks, as an fd: the init may not be able to
				 * reach the state dir (a user namespace, or after pivot_root) */
				char path[4096];
				state_path(path, sizeof(path), STATE_HOOK_STATE);
				int state_fd = open(path, O_RDONLY | O_CLOEXEC);
				if (state_fd >= 0) {
					msg_send_fd(sock, MSG_SYNC_OK, state_fd);
					close(state_fd);
				} else {
					msg_send(sock, MSG_SYNC_OK, 0, 0, "");
				}
			}
		} else if (m.type == MSG_CONSOLE) {
			if (passfd < 0)
				fail_setup(-1, EPROTO, "console message without a terminal", 0);
			if (console_socket) {
				if (send_to_console_socket(console_socket, passfd) < 0)
					fail_setup(-1, errno, console_socket, 0);
				close(passfd);
			} else {
				master = passfd;
			}
		} else if (m.type == MSG_CREATED) {
			break;
		}
	}

	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	char fifo[4096];
	int fifo_r = -1, fifo_w = -1;
	if (!autostart && !start_on_attach && !runtime_cmd) {
		state_path(fifo, sizeof(fifo), STATE_START_FIFO);
		unlink(fifo);
		if (mkfifo(fifo, 0600) < 0)
			fail_setup(-1, errno, fifo, 0);
		fifo_r = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		fifo_w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC); /* keeps POLLHUP away */
		if (fifo_r < 0 || fifo_w < 0)
			fail_setup(-1, errno, fifo, 0);
	}
	char content[32];
	snprintf(content, sizeof(content), "%d\n", init_pid);
	write_state_file(STATE_INIT_PID, content);
	report(REPORT_CREATED " %d", init_pid);

	/* a runtime's process is started by the runtime itself (its start, or exec --detach) */
	int started = autostart || runtime_cmd, exec_seen = runtime_cmd != NULL, init_status = -1, stdin_open = proxy;
	if (master >= 0 && !proxy) {
		/* engine mode with a terminal: its output is the stdout stream, input goes to it */
		fcntl(master, F_SETFL, O_NONBLOCK);
		out_fd[1] = master;
		if (open_stdin)
			target.stdin_fd = master;
		target.pty_fd = master;
	}
	if (proxy && master >= 0)
		copy_winsize(0, master);
	if (started && sock >= 0)
		msg_send(sock, MSG_START, 0, 0, "");
	if (runtime_cmd && autostart) {
		write_state_file(STATE_STARTED, "");
		report(REPORT_STARTED);
	}
	for (;;) {
		struct pollfd p[12 + ATTACH_POLLFDS_MAX];
		int np = 0;
		p[np++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		int i_fifo = -1, i_sock = -1, i_master = -1, i_stdin = -1, i_listen = -1, i_dlisten = -1, i_out[3] = { -1, -1, -1 }, i_room = -1;
		if (!started && fifo_r >= 0) {
			i_fifo = np;
			p[np++] = (struct pollfd){ .fd = fifo_r, .events = POLLIN };
		}
		if (started && !exec_seen) {
			i_sock = np;
			p[np++] = (struct pollfd){ .fd = sock, .events = POLLIN };
		}
		if (proxy && master >= 0) {
			i_master = np;
			p[np++] = (struct pollfd){ .fd = master, .events = POLLIN };
			if (stdin_open && started) {
				i_stdin = np;
				p[np++] = (struct pollfd){ .fd = 0, .events = POLLIN };
			}
		}
		/* output is read only when every client took the last frame: the container waits for
		 * its slowest attached reader (backpressure, as Docker's attach) */
		int outputs = 0, pending = attach_output_pending();
		for (int k = 1; k <= 2; k++)
			if (out_fd[k] >= 0) {
				if (!pending) {
					i_out[k] = np;
					p[np++] = (struct pollfd){ .fd = out_fd[k], .events = POLLIN };
				}
				outputs++;
			}
		if (target.stdin_fd >= 0 && attach_stdin_blocked()) {
			i_room = np;
			p[np++] = (struct pollfd){ .fd = target.stdin_fd, .events = POLLOUT };
		}
		if (attach_listen_fd() >= 0) {
			i_listen = np;
			p[np++] = (struct pollfd){ .fd = attach_listen_fd(), .events = POLLIN };
		}
		if (attach_direct_listen_fd() >= 0) {
			i_dlisten = np;
			p[np++] = (struct pollfd){ .fd = attach_direct_listen_fd(), .events = POLLIN };
		}
		int first_client = np;
		np += attach_clients(p + np, ATTACH_POLLFDS_MAX);
		if (init_status >= 0 && i_master < 0 && outputs == 0 && !pending)
			break;
		int asking = attach_asking();
		int r = poll(p, np, init_status >= 0 || asking ? 100 : -1);
		if (r < 0 && errno != EINTR)
			break;
		if (init_status >= 0 || asking)
			attach_drop_stalled(init_status >= 0);
		if (init_status >= 0 && r == 0 && !pending)
			break; /* the init is gone and its output is quiet */
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH && master >= 0 && proxy)
					copy_winsize(0, master);
			}
			int status;
			pid_t w;
			while ((w = waitpid(-1, &status, WNOHANG)) > 0)
				if (w == init_pid)
					init_status = status;
		}
		/* clients first: one that connected while the process started gets all of its output */
		if ((i_listen >= 0 && (p[i_listen].revents & POLLIN)) || (i_dlisten >= 0 && (p[i_dlisten].revents & POLLIN))) {
			attach_accept(&target);
			if (!started && start_on_attach && attach_count() > 0) {
				/* the first client is connected: nothing the process prints can be missed */
				started = 1;
				msg_send(sock, MSG_START, 0, 0, "");
			}
		}
		/* then what the clients sent (a hand-off's DIRECT frame among it), before this round's output */
		attach_handle(p + first_client, np - first_client, &target);
		if (i_fifo >= 0 && (p[i_fifo].revents & POLLIN)) {
			char b;
			if (read(fifo_r, &b, 1) == 1) {
				started = 1;
				unlink(fifo);
				close(fifo_r);
				close(fifo_w);
				msg_send(sock, MSG_START, 0, 0, "");
			}
		}
		if (i_sock >= 0 && (p[i_sock].revents & (POLLIN | POLLHUP))) {
			int n = msg_recv(sock, &m, NULL);
			if (n > 0 && m.type == MSG_ERROR) {
				report(REPORT_ERROR " %d %d %s", m.a, m.b, m.text);
				write_state_file(STATE_START_ERROR, m.text);
			} else if (n <= 0) {
				/* close-on-exec took the init's end: the exec happened (even if the
				 * process has already exited by now) */
				exec_seen = 1;
				close(sock);
				write_state_file(STATE_STARTED, "");
				report(REPORT_STARTED);
			}
		}
		if (i_master >= 0 && (p[i_master].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (relay(master, 1) < 0) {
				close(master);
				master = -1;
			}
		}
		if (i_stdin >= 0 && (p[i_stdin].revents & (POLLIN | POLLHUP))) {
			if (relay(0, master) < 0)
				stdin_open = 0;
		}
		for (int k = 1; k <= 2; k++) {
			if (i_out[k] < 0 || !(p[i_out[k]].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			/* stdout's bytes may still wait for a client: stderr's stay in their pipe until
			 * it took them (a client holds one frame at a time) */
			if (k == 2 && attach_output_pending())
				continue;
			if (out_fd[k] != target.pty_fd && attach_can_splice(k)) {
				if (attach_splice_output(k, out_fd[k], p[i_out[k]].revents & (POLLHUP | POLLERR)) < 0) {
					close(out_fd[k]);
					out_fd[k] = -1;
				}
				continue;
			}
			static char buf[OUTPUT_CHUNK];
			ssize_t n = read(out_fd[k], buf, sizeof(buf));
			if (n <= 0) {
				if (n < 0 && (errno == EINTR || errno == EAGAIN))
					continue;
				if (out_fd[k] != target.stdin_fd)
					close(out_fd[k]);
				out_fd[k] = -1;
				continue;
			}
			log_output(k, buf, (size_t)n);
			_Static_assert(FRAME_STDOUT == 1 && FRAME_STDERR == 2, "an output frame's type is its stream's fd");
			attach_broadcast(k, buf, (size_t)n);
		}
		if (i_room >= 0 && p[i_room].revents)
			attach_resume_stdin(&target);
		while (attach_take_stdin_close()) {
			if (target.stdin_fd >= 0 && target.stdin_fd != target.pty_fd) {
				close(target.stdin_fd); /* stdin once, or the client closed stdin */
				target.stdin_fd = -1;
			}
			attach_resume_stdin(&target); /* input behind the close has nowhere to go */
		}
	}
	if (init_status < 0) {
		/* the terminal closed first: wait for the init itself */
		while (waitpid(init_pid, &init_status, 0) < 0 && errno == EINTR)
			;
	}
	if (!started && fifo_r >= 0)
		unlink(fifo);
	log_flush();
	record_exit(init_status);
	char exit_text[32];
	int n = WIFSIGNALED(init_status) ? snprintf(exit_text, sizeof(exit_text), "%d %d", 128 + WTERMSIG(init_status), WTERMSIG(init_status))
					  : snprintf(exit_text, sizeof(exit_text), "%d 0", WEXITSTATUS(init_status));
	/* the socket goes before the clients see the end: one that saw it finds the socket gone */
	if (attach_path)
		unlink(attach_path);
	if (direct_path)
		unlink(direct_path);
	attach_broadcast(FRAME_EXIT, exit_text, (size_t)n);
	attach_finish();
	return 0;
}

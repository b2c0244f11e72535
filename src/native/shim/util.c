/* Messages between the monitor and its children, and the cgroup v2 device filter tool. */
#include "shim.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int msg_send(int fd, uint32_t type, int a, int b, const char *text)
{
	struct msg m = { .type = type, .a = a, .b = b };
	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	ssize_t n;
	do
		n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == sizeof(m) ? 0 : -1;
}

int msg_send_fd(int fd, uint32_t type, int passfd)
{
	struct msg m = { .type = type };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == sizeof(m) ? 0 : -1;
}

/* Returns the message size, 0 at EOF, -1 on error. A passed fd lands in *passfd. */
int msg_recv(int fd, struct msg *m, int *passfd)
{
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	if (passfd) {
		*passfd = -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				memcpy(passfd, CMSG_DATA(c), sizeof(int));
	}
	if ((size_t)n < sizeof(*m))
		return errno = EPROTO, -1;
	return (int)n;
}

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int attach_device_filter(const char *cgroup_dir, const char *program_file)
{
	int pf = open(program_file, O_RDONLY | O_CLOEXEC);
	if (pf < 0)
		return -1;
	struct stat st;
	if (fstat(pf, &st) < 0 || st.st_size == 0 || st.st_size % sizeof(struct bpf_insn) != 0) {
		close(pf);
		return errno = EINVAL, -1;
	}
	struct bpf_insn *insns = malloc(st.st_size);
	if (!insns || read(pf, insns, st.st_size) != st.st_size) {
		close(pf);
		return errno = EIO, -1;
	}
	close(pf);
	int cg = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -1;

	/* programs already attached, to detach once the new one is in place */
	uint32_t old_ids[64];
	union bpf_attr q = { 0 };
	q.query.target_fd = cg;
	q.query.attach_type = BPF_CGROUP_DEVICE;
	q.query.prog_ids = (uint64_t)(uintptr_t)old_ids;
	q.query.prog_cnt = 64;
	uint32_t old_count = bpf(BPF_PROG_QUERY, &q) == 0 ? q.query.prog_cnt : 0;

	static char log[65536];
	union bpf_attr load = { 0 };
	load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	load.insns = (uint64_t)(uintptr_t)insns;
	load.insn_cnt = st.st_size / sizeof(struct bpf_insn);
	load.license = (uint64_t)(uintptr_t) "Apache";
	load.log_buf = (uint64_t)(uintptr_t)log;
	load.log_size = sizeof(log);
	load.log_level = 1;
	int prog = (int)bpf(BPF_PROG_LOAD, &load);
	if (prog < 0) {
		int saved = errno;
		if (log[0])
			fprintf(stderr, "verifier: %s\n", log);
		return errno = saved, -1;
	}
	union bpf_attr at = { 0 };
	at.target_fd = cg;
	at.attach_bpf_fd = prog;
	at.attach_type = BPF_CGROUP_DEVICE;
	at.attach_flags = BPF_F_ALLOW_MULTI;
	if (bpf(BPF_PROG_ATTACH, &at) < 0)
		return -1;
	for (uint32_t i = 0; i < old_count; i++) {
		union bpf_attr g = { 0 };
		g.prog_id = old_ids[i];
		int old = (int)bpf(BPF_PROG_GET_FD_BY_ID, &g);
		if (old < 0)
			continue;
		union bpf_attr d = { 0 };
		d.target_fd = cg;
		d.attach_bpf_fd = old;
		d.attach_type = BPF_CGROUP_DEVICE;
		bpf(BPF_PROG_DETACH, &d);
		close(old);
	}
	close(prog);
	close(cg);
	free(insns);
	return 0;
}

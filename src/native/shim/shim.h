#ifndef COVE_SHIM_H
#define COVE_SHIM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h" /* generated from src/native/protocol.ts */

struct op {
	uint32_t code;
	uint32_t argc;
	char **argv;  /* NUL-terminated copies */
	size_t *lens; /* byte lengths (arguments may hold binary data) */
};

struct plan {
	struct op *ops;
	size_t count;
};

int plan_load(const char *path, struct plan *plan);
long long arg_ll(const struct op *o, int i);
unsigned long long arg_ull(const struct op *o, int i);
const char *arg_str(const struct op *o, int i);

/* Messages on the socketpair between the monitor and its children: internal to the shim (the
 * TypeScript side never sees them), so they are not part of protocol.h. */
enum msg_type {
	MSG_GO = 1,            /* monitor -> child: proceed */
	MSG_USERNS_READY,      /* child -> monitor: write my id maps */
	MSG_USERNS_MAPPED,     /* monitor -> child: maps written */
	MSG_CHILD_PID,         /* first child -> monitor: a = init pid */
	MSG_SYNC,              /* init -> monitor: text = phase name */
	MSG_SYNC_OK,           /* monitor -> init */
	MSG_SYNC_ABORT,        /* monitor -> init */
	MSG_CONSOLE,           /* init -> monitor, carries the pty master fd */
	MSG_CREATED,           /* init -> monitor: waiting for start */
	MSG_START,             /* monitor -> init */
	MSG_ERROR,             /* child -> monitor: a = op index, b = errno, text = detail */
};

struct msg {
	uint32_t type;
	int32_t a;
	int32_t b;
	char text[512];
};

int msg_send(int fd, uint32_t type, int a, int b, const char *text);
int msg_send_fd(int fd, uint32_t type, int passfd);
int msg_recv(int fd, struct msg *m, int *passfd);

/* Runs the ops of the first child and, after OP_FORK, of the container init. Never returns. */
void child_main(struct plan *plan, int sock) __attribute__((noreturn));

/* Tool mode: load a cgroup v2 device filter program and attach it to a cgroup. */
int attach_device_filter(const char *cgroup_dir, const char *program_file);

#endif

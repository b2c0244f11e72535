#ifndef COVE_IO_H
#define COVE_IO_H

#include <poll.h>
#include <stddef.h>

#include "shim.h"

/* Where attached clients' input goes. */
struct stdio_target {
	int stdin_fd;   /* the container's stdin (pipe or pty master), -1 when closed */
	int pty_fd;     /* the pty master for resizes, -1 without a terminal */
	int stdin_once; /* close stdin when the first client that wrote to it leaves */
};

int log_open(const char *path, long long max_size, int max_files);
void log_output(int stream, const char *data, size_t n);
void log_flush(void);

int attach_listen(const char *path);
int attach_listen_fd(void);
void attach_accept(void);
int attach_count(void);
/* Blocks until a first client is connected (a runtime's command held by START_ON_ATTACH). */
void attach_wait_first(void);
int attach_clients(struct pollfd *p, int max);
void attach_broadcast(int type, const void *data, size_t n);
int attach_read(int fd, struct stdio_target *t);
void attach_close_all(void);

#endif

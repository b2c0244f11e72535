#ifndef COVE_IO_H
#define COVE_IO_H

#include <poll.h>
#include <stddef.h>

#include "shim.h"

/* Where attached clients' input goes. */
struct stdio_target {
	int stdin_fd; /* the container's stdin (pipe or pty master, non-blocking), -1 when closed */
	int pty_fd;   /* the pty master for resizes, -1 without a terminal */
};

/* The most output read from the container at a time: one frame to the clients. */
#define OUTPUT_CHUNK 65536
/* After the container exited, a client that takes no output for this long is let go. */
#define ATTACH_STALL_MS 5000

int log_open(const char *path, long long max_size, int max_files, int binary);
void log_output(int stream, const char *data, size_t n);
void log_flush(void);

int attach_listen(const char *path);
int attach_listen_fd(void);
/* The direct socket: its clients hand over a connection for the monitor to serve (FRAME_DIRECT). */
int attach_listen_direct(const char *path);
int attach_direct_listen_fd(void);
/* Accepts the clients waiting on either socket. */
void attach_accept(const struct stdio_target *t);
int attach_count(void);
/* Blocks until a first client is connected (a runtime's command held by START_ON_ATTACH). */
void attach_wait_first(void);
void attach_set_stdin_once(int once);
/* The most pollfds attach_clients fills: four per client. */
#define ATTACH_POLLFDS_MAX (4 * 64)
/* Fills pollfds for the clients (up to four each): POLLIN unless a client's input waits for
 * stdin, POLLOUT while its output waits for the client; a direct client's hand-off connection,
 * and the stdin and the output it handed over. */
int attach_clients(struct pollfd *p, int max);
/* Acts on the clients' poll results: reads and applies their frames, sends waiting output. */
void attach_handle(const struct pollfd *p, int n, const struct stdio_target *t);
/* Whether a client's stdin waits for room in the container's stdin (poll it for POLLOUT). */
int attach_stdin_blocked(void);
/* Retries waiting input (stdin has room, or was closed: then the input is dropped). */
void attach_resume_stdin(const struct stdio_target *t);
/* 1 once, when stdin is to be closed: a close frame, or a stdin-once writer left. */
int attach_take_stdin_close(void);
/* Whether some client has not taken all of its output yet (read no more output until then). */
int attach_output_pending(void);
/* Whether stream 1 or 2 may go from its pipe straight to the client, in the kernel: a direct
 * client alone that takes that stream, nothing waiting for it, no log to write. */
int attach_can_splice(int stream);
/* Moves what the pipe holds to that client (framed when it asks for frames); -1 at the end of
 * the pipe (nothing in it, and hup: the poll said it hung up). */
int attach_splice_output(int stream, int pipe_fd, int hup);
/* Sends a frame to every client; what a client cannot take now waits in its buffer. */
void attach_broadcast(int type, const void *data, size_t n);
/* Lets go of clients asked for their stdio that have not answered in ATTACH_STALL_MS, and once
 * the container exited (exited), of clients whose output has waited that long. */
void attach_drop_stalled(int exited);
/* Whether a client was asked for its stdio and has not answered yet (poll with a timeout). */
int attach_asking(void);
/* Sends what the clients still wait for (bounded by ATTACH_STALL_MS each), then closes them all. */
void attach_finish(void);

#endif

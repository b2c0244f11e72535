/* The container's stdio as the monitor owns it in engine mode: output goes to a json-file log
 * (Docker's format, rotated by size) and to every attached client; attached clients may write
 * stdin and resize the terminal. Nothing here decides policy: paths, sizes and modes come from
 * the plan.
 *
 * Attach protocol on the unix socket, both directions: frames of [u8 type][u32 LE length][data],
 * the FRAME_* types of protocol.h (defined in src/native/protocol.ts). */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384

static struct {
	int fd;
	char path[4096];
	long long max_size, size;
	int max_files;
} logf = { .fd = -1 };

static char partial[3][LINE_MAX_BYTES];
static size_t partial_len[3];

int log_open(const char *path, long long max_size, int max_files)
{
	snprintf(logf.path, sizeof(logf.path), "%s", path);
	logf.max_size = max_size;
	logf.max_files = max_files < 1 ? 1 : max_files;
	logf.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logf.fd < 0)
		return -1;
	struct stat st;
	logf.size = fstat(logf.fd, &st) == 0 ? st.st_size : 0;
	return 0;
}

static void log_rotate(void)
{
	close(logf.fd);
	char from[4200], to[4200];
	if (logf.max_files <= 1) {
		logf.fd = open(logf.path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	} else {
		for (int i = logf.max_files - 1; i >= 1; i--) {
			if (i == 1)
				snprintf(from, sizeof(from), "%s", logf.path);
			else
				snprintf(from, sizeof(from), "%s.%d", logf.path, i - 1);
			snprintf(to, sizeof(to), "%s.%d", logf.path, i);
			rename(from, to);
		}
		logf.fd = open(logf.path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	}
	logf.size = 0;
}

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (len == 0 || len > n || (len == 2 && s[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Appends data as the inside of a JSON string, as Go's encoder writes it. */
static size_t json_escape(char *out, const unsigned char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c == '\n') {
			memcpy(out + o, "\\n", 2), o += 2, i++;
		} else if (c == '\r') {
			memcpy(out + o, "\\r", 2), o += 2, i++;
		} else if (c == '\t') {
			memcpy(out + o, "\\t", 2), o += 2, i++;
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			o += sprintf(out + o, "\\u%04x", c);
			i++;
		} else {
			size_t len = utf8_len(s + i, n - i);
			if (len == 0) {
				memcpy(out + o, "\\ufffd", 6), o += 6, i++;
			} else {
				memcpy(out + o, s + i, len), o += len, i += len;
			}
		}
	}
	return o;
}

static void log_entry(int stream, const unsigned char *data, size_t n)
{
	if (logf.fd < 0 || n == 0)
		return;
	static char line[LINE_MAX_BYTES * 6 + 256];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	size_t o = (size_t)sprintf(line, "{\"log\":\"");
	o += json_escape(line + o, data, n);
	o += (size_t)sprintf(line + o, "\",\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n",
			     stream == 2 ? "stderr" : "stdout", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ts.tv_nsec);
	if (logf.max_size > 0 && logf.size > 0 && logf.size + (long long)o > logf.max_size)
		log_rotate();
	if (logf.fd >= 0 && write(logf.fd, line, o) == (ssize_t)o)
		logf.size += (long long)o;
}

/* Splits output into log entries at newlines (or every 16 KiB), as Docker's json-file does. */
void log_output(int stream, const char *data, size_t n)
{
	size_t *plen = &partial_len[stream];
	char *buf = partial[stream];
	for (size_t i = 0; i < n; i++) {
		buf[(*plen)++] = data[i];
		if (data[i] == '\n' || *plen == LINE_MAX_BYTES) {
			log_entry(stream, (unsigned char *)buf, *plen);
			*plen = 0;
		}
	}
}

void log_flush(void)
{
	for (int s = 1; s <= 2; s++) {
		log_entry(s, (unsigned char *)partial[s], partial_len[s]);
		partial_len[s] = 0;
	}
}

/* ---- attach clients ---- */

#define MAX_CLIENTS 64

struct client {
	int fd;
	unsigned char in[FRAME_MAX_CLIENT_DATA + FRAME_HEADER_SIZE];
	size_t in_len;
	int sent_stdin;
};

static struct client clients[MAX_CLIENTS];
static int nclients;
static int listen_fd = -1;

int attach_listen(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return errno = ENAMETOOLONG, -1;
	strcpy(addr.sun_path, path);
	unlink(path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0)
		return -1;
	if (bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listen_fd, 16) < 0) {
		int saved = errno;
		close(listen_fd);
		listen_fd = -1;
		return errno = saved, -1;
	}
	chmod(path, 0600);
	return 0;
}

int attach_listen_fd(void)
{
	return listen_fd;
}

void attach_accept(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (nclients == MAX_CLIENTS) {
			close(fd);
			continue;
		}
		int size = 4 << 20; /* room for bursts of output: a slow client is dropped, never waited on */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		clients[nclients++] = (struct client){ .fd = fd };
	}
}

static void drop_client(int i)
{
	close(clients[i].fd);
	clients[i] = clients[--nclients];
}

int attach_count(void)
{
	return nclients;
}

void attach_wait_first(void)
{
	while (nclients == 0 && listen_fd >= 0) {
		struct pollfd p = { .fd = listen_fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return;
		attach_accept();
	}
}

int attach_clients(struct pollfd *p, int max)
{
	int n = 0;
	for (int i = 0; i < nclients && n < max; i++)
		p[n++] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
	return n;
}

static int send_all(int fd, const void *buf, size_t n)
{
	const char *b = buf;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

void attach_broadcast(int type, const void *data, size_t n)
{
	unsigned char head[FRAME_HEADER_SIZE] = { (unsigned char)type };
	uint32_t len = (uint32_t)n;
	memcpy(head + 1, &len, 4);
	for (int i = nclients - 1; i >= 0; i--)
		if (send_all(clients[i].fd, head, sizeof(head)) < 0 || send_all(clients[i].fd, data, n) < 0)
			drop_client(i);
}

/* Reads what a client sent and acts on complete frames. Returns 1 when a stdin-once close is due. */
int attach_read(int fd, struct stdio_target *t)
{
	int i;
	for (i = 0; i < nclients && clients[i].fd != fd; i++)
		;
	if (i == nclients)
		return 0;
	struct client *c = &clients[i];
	ssize_t r = read(fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (r <= 0) {
		int once = c->sent_stdin && t->stdin_once;
		drop_client(i);
		return once;
	}
	c->in_len += (size_t)r;
	for (;;) {
		if (c->in_len < FRAME_HEADER_SIZE)
			break;
		uint32_t len;
		memcpy(&len, c->in + 1, 4);
		if (len > FRAME_MAX_CLIENT_DATA) {
			drop_client(i);
			return 0;
		}
		if (c->in_len < FRAME_HEADER_SIZE + len)
			break;
		unsigned char type = c->in[0];
		unsigned char *payload = c->in + FRAME_HEADER_SIZE;
		if (type == FRAME_STDIN && t->stdin_fd >= 0) {
			c->sent_stdin = 1;
			/* a blocking write: stdin is flow-controlled by the container reading it */
			for (size_t off = 0; off < len;) {
				ssize_t w = write(t->stdin_fd, payload + off, len - off);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					break;
				}
				off += (size_t)w;
			}
		} else if (type == FRAME_RESIZE && len >= 4 && t->pty_fd >= 0) {
			uint16_t rows, cols;
			memcpy(&rows, payload, 2);
			memcpy(&cols, payload + 2, 2);
			struct winsize ws = { .ws_row = rows, .ws_col = cols };
			ioctl(t->pty_fd, TIOCSWINSZ, &ws);
		} else if (type == FRAME_CLOSE_STDIN) {
			return 1;
		}
		memmove(c->in, c->in + FRAME_HEADER_SIZE + len, c->in_len - FRAME_HEADER_SIZE - len);
		c->in_len -= FRAME_HEADER_SIZE + len;
	}
	return 0;
}

void attach_close_all(void)
{
	while (nclients > 0)
		drop_client(nclients - 1);
	if (listen_fd >= 0)
		close(listen_fd);
}

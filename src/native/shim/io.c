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
#include <sys/uio.h>
#include <sys/un.h>
#include <stddef.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384

static struct {
	int fd;
	char path[4096];
	long long max_size, size;
	int max_files;
	/* an entry that is not UTF-8 keeps its bytes (base64 under "bytes") instead of U+FFFD */
	int binary;
} logf = { .fd = -1 };

static char partial[3][LINE_MAX_BYTES];
static size_t partial_len[3];

int log_open(const char *path, long long max_size, int max_files, int binary)
{
	logf.binary = binary;
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

/* How each ASCII byte goes into a JSON string, as Go's encoder writes it: itself (printable but
 * for " \ < > &), a two-character escape, or \u00XX. Eight bytes each, so that an entry is
 * copied with one fixed-size store whatever its length (esc_len says how much of it counts). */
static char esc_txt[128][8];
static unsigned char esc_len[128];
/* The length of the UTF-8 sequence a byte from 0x80 up starts: 0 for one that starts none. */
static unsigned char lead_len[128];

static void esc_init(void)
{
	static const char hex[] = "0123456789abcdef";
	for (int c = 0x80; c < 0x100; c++)
		lead_len[c - 0x80] = c >= 0xc2 && c < 0xe0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
	for (int c = 0; c < 128; c++) {
		char *t = esc_txt[c];
		if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&')
			t[0] = (char)c, esc_len[c] = 1;
		else if (c == '"' || c == '\\')
			t[0] = '\\', t[1] = (char)c, esc_len[c] = 2;
		else if (c == '\n' || c == '\r' || c == '\t')
			t[0] = '\\', t[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't', esc_len[c] = 2;
		else
			memcpy(t, "\\u00", 4), t[4] = hex[c >> 4], t[5] = hex[c & 15], esc_len[c] = 6;
	}
}

/* Appends data as the inside of a JSON string, as Go's encoder writes it; writes up to 7 bytes
 * past the returned length (scratch the caller's buffer has room for). */
static size_t json_escape(char *out, const unsigned char *s, size_t n)
{
	if (esc_len[0] == 0)
		esc_init();
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c < 0x80) {
			memcpy(out + o, esc_txt[c], 8);
			o += esc_len[c];
			i++;
			continue;
		}
		size_t len = lead_len[c - 0x80];
		if (len > n - i)
			len = 0;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				len = 0;
		if (len == 0) {
			memcpy(out + o, "\\ufffd\0", 8);
			o += 6, i++;
		} else {
			memcpy(out + o, s + i, len);
			o += len, i += len;
		}
	}
	return o;
}

/* Whether json_escape keeps every byte of s (it is UTF-8 as the escaper reads it). */
static int utf8_whole(const unsigned char *s, size_t n)
{
	if (esc_len[0] == 0)
		esc_init();
	for (size_t i = 0; i < n;) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t len = lead_len[s[i] - 0x80];
		if (len == 0 || len > n - i)
			return 0;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += len;
	}
	return 1;
}

/* Appends the standard base64 of s; returns the length written. */
static size_t base64(char *out, const unsigned char *s, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
		out[o++] = tab[v >> 18], out[o++] = tab[(v >> 12) & 63], out[o++] = tab[(v >> 6) & 63], out[o++] = tab[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
		out[o++] = tab[v >> 18], out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	return o;
}

/* Entries are gathered here and written together: one write per read of output, not per line. */
static char wbuf[1 << 18];
static size_t wlen;
#define ENTRY_MAX (LINE_MAX_BYTES * 6 + 256)

/* Appends n bytes of whole entries; on a short write (a full disk) the file is cut back to its
 * last whole entry, so that the entries written once there is room again are not glued to a torn
 * one. What did not fit is dropped: the container is never held up by its log. */
static void log_append(const char *buf, size_t n)
{
	ssize_t w = write(logf.fd, buf, n);
	if (w == (ssize_t)n) {
		logf.size += (long long)n;
		return;
	}
	if (w > 0 && ftruncate(logf.fd, (off_t)logf.size) != 0) {
		/* cannot cut it back: count the torn bytes, the next entries still start a line */
		logf.size += (long long)w;
		if (write(logf.fd, "\n", 1) == 1)
			logf.size++;
	}
}

static void log_write_out(void)
{
	if (wlen > 0 && logf.fd >= 0)
		log_append(wbuf, wlen);
	wlen = 0;
}

static void log_entry(int stream, const unsigned char *data, size_t n)
{
	if (logf.fd < 0 || n == 0)
		return;
	if (sizeof(wbuf) - wlen < ENTRY_MAX)
		log_write_out();
	static time_t stamp_sec = -1;
	static char stamp[80]; /* "2006-01-02T15:04:05." of stamp_sec */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != stamp_sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec);
		stamp_sec = ts.tv_sec;
	}
	char *line = wbuf + wlen;
	size_t o = 0;
	if (logf.binary && !utf8_whole(data, n)) {
		memcpy(line, "{\"bytes\":\"", 10), o = 10;
		o += base64(line + o, data, n);
	} else {
		memcpy(line, "{\"log\":\"", 8), o = 8;
		o += json_escape(line + o, data, n);
	}
	const char *tail = stream == 2 ? "\",\"stream\":\"stderr\",\"time\":\"" : "\",\"stream\":\"stdout\",\"time\":\"";
	memcpy(line + o, tail, 28), o += 28;
	size_t sl = strlen(stamp);
	memcpy(line + o, stamp, sl), o += sl;
	long ns = ts.tv_nsec;
	for (int d = 8; d >= 0; d--, ns /= 10)
		line[o + (size_t)d] = (char)('0' + ns % 10);
	o += 9;
	memcpy(line + o, "Z\"}\n", 4), o += 4;
	if (logf.max_size > 0 && logf.size + (long long)wlen > 0 && logf.size + (long long)(wlen + o) > logf.max_size) {
		/* the entries before this one end the current file */
		size_t before = wlen;
		if (before > 0)
			log_append(wbuf, before);
		memmove(wbuf, wbuf + before, o);
		wlen = 0;
		log_rotate();
	}
	wlen += o;
}

/* Splits output into log entries at newlines (or every 16 KiB), as Docker's json-file does. */
void log_output(int stream, const char *data, size_t n)
{
	if (logf.fd < 0)
		return; /* no log: not even a scan for its lines */
	size_t *plen = &partial_len[stream];
	char *buf = partial[stream];
	while (n > 0) {
		size_t room = LINE_MAX_BYTES - *plen;
		size_t take = n < room ? n : room;
		const char *nl = memchr(data, '\n', take);
		if (nl)
			take = (size_t)(nl - data) + 1;
		if (*plen == 0 && (nl || take == LINE_MAX_BYTES)) {
			log_entry(stream, (const unsigned char *)data, take); /* a whole entry: no copy */
		} else {
			memcpy(buf + *plen, data, take);
			*plen += take;
			if (nl || *plen == LINE_MAX_BYTES) {
				log_entry(stream, (unsigned char *)buf, *plen);
				*plen = 0;
			}
		}
		data += take;
		n -= take;
	}
	log_write_out();
}

void log_flush(void)
{
	for (int s = 1; s <= 2; s++) {
		log_entry(s, (unsigned char *)partial[s], partial_len[s]);
		partial_len[s] = 0;
	}
	log_write_out();
}

/* ---- attach clients ----
 *
 * Flow control both ways, with a bounded buffer per client and never a blocking call:
 * - stdin: a client's frames are taken in order; when the container's stdin (a non-blocking pipe
 *   or pty) is full, the frame waits in the client's buffer and the client is not read from until
 *   the container reads (the monitor polls stdin for room). The client's sender blocks in turn.
 * - output: what the kernel's socket buffer does not take waits in the client's buffer (at most
 *   one frame), and the monitor stops reading the container's output until every client took
 *   its frame: the container waits for its slowest attached reader, as with Docker. Once the
 *   container has exited, a client that takes nothing for ATTACH_STALL_MS is let go, so that a
 *   client that stopped reading cannot keep the exit from being recorded.
 *
 * Direct clients: a connection accepted on the direct socket hands over another connection (a
 * Docker attach stream whose HTTP upgrade the daemon answered) with a DIRECT frame and the fd,
 * and the monitor serves that fd from then on as the client, in the same slot: raw bytes in go to
 * stdin, output goes out raw or in stdcopy frames, per the frame's flags. The hand-off connection
 * is kept (not read) and closed with the client, so its sender learns when the session ended.
 *
 * A direct client may also hand over its own stdio (DIRECT_FDS): the monitor asks for it with one
 * byte (PASS_FDS_ASK) before any output, the client answers one byte of PASS_FDS_MASK bits with
 * those files or pipes attached, and the monitor answers the bits it took. From then on the
 * container's stdin is read from the client's stdin and its output written to the client's
 * stdout and stderr directly (spliced when nothing else wants the bytes); the connection carries
 * only the streams not taken, and its close still tells the client that the session ended. A
 * pipe is reopened through /proc/self/fd, so that the monitor's non-blocking mode stays its own
 * and never changes the description the client's processes share; a regular file is used as it
 * came, at its shared offset. */

#define MAX_CLIENTS 64

/* The longest header before a client's output: a frame's, or stdcopy's 8 bytes. */
#define OUT_HEAD_MAX 8

struct client {
	int fd;
	int handoff;   /* accepted on the direct socket: no output until its DIRECT frame */
	int direct;    /* serves a handed-over connection (fd); flags are its DIRECT_* bits */
	int flags;
	int ctl_fd;    /* the hand-off connection of a direct client, else -1 */
	int passed_fd; /* an fd received with the client's bytes, not used yet, else -1 */
	int in_eof;    /* a direct client's input ended (acted on once its bytes went to stdin) */
	int conn_eof;  /* a direct client's connection ended (it read EOF there) */
	int fds_state; /* DIRECT_FDS: 1 while the client is asked for its stdio, 2 once answered */
	int pfd[3];    /* the client's own stdin, stdout, stderr when it handed them over, else -1 */
	int stdin_passed; /* stdin comes from pfd[0], not from the connection */
	int quiet;     /* asked for no output (FRAME_QUIET): gets the exit frame only */
	int out_dst;   /* where the waiting output goes: fd, or one of pfd */
	size_t splice_left; /* bytes of output still to move from splice_fd (a pipe) to out_dst */
	int splice_fd;
	unsigned char in[2 * (FRAME_MAX_CLIENT_DATA + FRAME_HEADER_SIZE)];
	size_t in_off, in_len; /* received, not yet acted on: in[in_off, in_len) */
	size_t stdin_off;  /* bytes of the first frame's data already written to stdin */
	int stdin_blocked; /* the first frame waits for room in the container's stdin */
	int sent_stdin;
	unsigned char out[OUT_HEAD_MAX + OUTPUT_CHUNK];
	size_t out_off, out_len; /* unsent bytes: out[out_off, out_len) */
	long long out_since;     /* when the client last took bytes, while some wait */
};

static struct client clients[MAX_CLIENTS];
static int nclients;
static int listen_fd = -1;
static int direct_listen_fd = -1;
static int stdin_once;      /* close stdin when the first client that wrote to it leaves */
static int stdin_close_due; /* a stdin-once leave or a close frame, not yet acted on */

/* Whether client c has output waiting: bytes in its buffer, or bytes to move from a pipe. */
static int waits(const struct client *c)
{
	return c->out_len > c->out_off || c->splice_left > 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return errno = ENAMETOOLONG, -1;
	strcpy(addr.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		int saved = errno;
		close(fd);
		return errno = saved, -1;
	}
	chmod(path, 0600);
	return fd;
}

int attach_listen(const char *path)
{
	listen_fd = listen_on(path);
	return listen_fd < 0 ? -1 : 0;
}

int attach_listen_direct(const char *path)
{
	direct_listen_fd = listen_on(path);
	return direct_listen_fd < 0 ? -1 : 0;
}

int attach_listen_fd(void)
{
	return listen_fd;
}

int attach_direct_listen_fd(void)
{
	return direct_listen_fd;
}

static void more_sndbuf(int fd)
{
	int size = 4 << 20; /* room for bursts of output (the kernel caps it at wmem_max) */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

static void accept_from(int lfd, int handoff)
{
	for (;;) {
		int fd = lfd < 0 ? -1 : accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (nclients == MAX_CLIENTS) {
			close(fd);
			continue;
		}
		if (!handoff)
			more_sndbuf(fd);
		struct client *c = &clients[nclients++];
		memset(c, 0, offsetof(struct client, in));
		c->fd = fd;
		c->out_dst = fd;
		c->handoff = handoff;
		c->ctl_fd = c->passed_fd = -1;
		c->pfd[0] = c->pfd[1] = c->pfd[2] = -1;
		c->in_off = c->in_len = c->stdin_off = c->out_off = c->out_len = 0;
		c->stdin_blocked = c->sent_stdin = 0;
		c->out_since = 0;
	}
}

void attach_accept(const struct stdio_target *t)
{
	int before = nclients;
	accept_from(listen_fd, 0);
	accept_from(direct_listen_fd, 1);
	if (!t)
		return;
	/* a hand-off connection sent its fd and DIRECT frame before the container started: read
	 * them now, before this round reads any output, so the session gets all of it */
	struct pollfd p[MAX_CLIENTS];
	int n = 0;
	for (int i = before; i < nclients; i++)
		if (clients[i].handoff)
			p[n++] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN, .revents = POLLIN };
	attach_handle(p, n, t);
}

/* Lets client i go; the last client moves into slot i. */
static void drop_client(int i)
{
	if (clients[i].sent_stdin && stdin_once)
		stdin_close_due = 1;
	close(clients[i].fd);
	if (clients[i].ctl_fd >= 0)
		close(clients[i].ctl_fd);
	if (clients[i].passed_fd >= 0)
		close(clients[i].passed_fd);
	for (int k = 0; k < 3; k++)
		if (clients[i].pfd[k] >= 0)
			close(clients[i].pfd[k]);
	if (i != nclients - 1)
		clients[i] = clients[nclients - 1];
	nclients--;
}

void attach_set_stdin_once(int once)
{
	stdin_once = once;
}

int attach_take_stdin_close(void)
{
	int due = stdin_close_due;
	stdin_close_due = 0;
	return due;
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
		attach_accept(NULL);
	}
}

int attach_clients(struct pollfd *p, int max)
{
	int n = 0;
	for (int i = 0; i < nclients && n + 4 <= max; i++) {
		const struct client *c = &clients[i];
		short events = 0;
		/* with stdin handed over, the connection is read only for its end */
		if (c->stdin_passed ? !c->conn_eof : !c->stdin_blocked && !c->in_eof)
			events |= POLLIN;
		if (waits(c) && c->out_dst == c->fd)
			events |= POLLOUT;
		p[n++] = (struct pollfd){ .fd = c->fd, .events = events };
		/* the hand-off connection of a direct client: its end (or any byte) ends the session */
		if (c->ctl_fd >= 0)
			p[n++] = (struct pollfd){ .fd = c->ctl_fd, .events = POLLIN };
		if (c->pfd[0] >= 0 && !c->stdin_blocked && !c->in_eof)
			p[n++] = (struct pollfd){ .fd = c->pfd[0], .events = POLLIN };
		if (waits(c) && c->out_dst != c->fd)
			p[n++] = (struct pollfd){ .fd = c->out_dst, .events = POLLOUT };
	}
	return n;
}

int attach_stdin_blocked(void)
{
	for (int i = 0; i < nclients; i++)
		if (clients[i].stdin_blocked)
			return 1;
	return 0;
}

int attach_output_pending(void)
{
	for (int i = 0; i < nclients; i++)
		if (waits(&clients[i]) || clients[i].fds_state == 1)
			return 1; /* (a client asked for its stdio gets no output before its answer) */
	return 0;
}

/* Writes to where client c's output goes without waiting: its connection (a socket), or the
 * stdout or stderr it handed over (a non-blocking pipe, or a file). */
static ssize_t put(const struct client *c, int fd, const void *buf, size_t n)
{
	if (fd == c->fd)
		return send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	return write(fd, buf, n);
}

/* Sends what client c has waiting; -1 when the client is gone. */
static int flush_client(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = put(c, c->out_dst, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->out_off += (size_t)w;
		c->out_since = now_ms();
	}
	c->out_off = c->out_len = 0;
	while (c->splice_left > 0) {
		ssize_t w = splice(c->splice_fd, NULL, c->out_dst, NULL, c->splice_left, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (w == 0)
			return -1; /* the pipe ended inside a frame: the stream cannot go on */
		c->splice_left -= (size_t)w;
		c->out_since = now_ms();
	}
	return 0;
}

/* The one client that takes output, for attach_splice_output. */
static int splice_client = -1;

int attach_can_splice(int stream)
{
	if (logf.fd >= 0)
		return 0;
	/* the one client that takes output (quiet ones, watching for the exit, do not count) */
	splice_client = -1;
	for (int i = 0; i < nclients; i++) {
		if (clients[i].quiet)
			continue;
		if (splice_client >= 0)
			return 0;
		splice_client = i;
	}
	if (splice_client < 0)
		return 0;
	const struct client *c = &clients[splice_client];
	if (!c->direct || c->fds_state == 1 || waits(c))
		return 0;
	if (c->pfd[stream] >= 0)
		return 1;
	return stream == 1 ? (c->flags & DIRECT_STDOUT) != 0 : (c->flags & DIRECT_STDERR) && (c->flags & DIRECT_MUX);
}

int attach_splice_output(int stream, int pipe_fd, int hup)
{
	int ci = splice_client;
	struct client *c = &clients[ci];
	int avail = 0;
	if (ioctl(pipe_fd, FIONREAD, &avail) < 0 || avail < 0)
		return -1;
	if (avail == 0)
		return hup ? -1 : 0;
	size_t n = (size_t)avail;
	c->splice_fd = pipe_fd;
	c->splice_left = n;
	c->out_since = now_ms();
	c->out_dst = c->pfd[stream] >= 0 ? c->pfd[stream] : c->fd;
	if ((c->flags & DIRECT_MUX) && c->out_dst == c->fd) {
		unsigned char h[8] = { (unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
				       (unsigned char)n };
		ssize_t w;
		do
			w = send(c->fd, h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			drop_client(ci);
			return 0;
		}
		size_t sent = w < 0 ? 0 : (size_t)w;
		if (sent < sizeof(h)) {
			/* the rest of the header goes first, when the client reads */
			memcpy(c->out, h + sent, sizeof(h) - sent);
			c->out_off = 0;
			c->out_len = sizeof(h) - sent;
			return 0;
		}
	}
	if (flush_client(c) < 0)
		drop_client(ci);
	return 0;
}

void attach_broadcast(int type, const void *data, size_t n)
{
	if (n > OUTPUT_CHUNK)
		n = OUTPUT_CHUNK; /* callers read at most OUTPUT_CHUNK bytes at a time */
	unsigned char frame_head[FRAME_HEADER_SIZE] = { (unsigned char)type };
	uint32_t len = (uint32_t)n;
	memcpy(frame_head + 1, &len, 4);
	/* stdcopy's header: [stream, 0, 0, 0, size as big-endian u32] */
	unsigned char mux_head[8] = { (unsigned char)type, 0, 0, 0, (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
				      (unsigned char)len };
	for (int i = nclients - 1; i >= 0; i--) {
		struct client *c = &clients[i];
		if (c->handoff && !c->direct)
			continue; /* not serving anything yet */
		if (c->quiet && type != FRAME_EXIT)
			continue; /* it watches for the exit only */
		const unsigned char *head = frame_head;
		size_t hl = sizeof(frame_head);
		int dst = c->fd;
		if (c->direct) {
			/* the exit goes by the connection's close; a raw stream without a terminal is
			 * stdout only, as Docker's (unless the client handed over its stderr) */
			int passed = (type == FRAME_STDOUT || type == FRAME_STDERR) && c->pfd[type] >= 0;
			if (type == FRAME_EXIT || (type == FRAME_STDOUT && !(c->flags & DIRECT_STDOUT)) ||
			    (type == FRAME_STDERR && (!(c->flags & DIRECT_STDERR) || (!(c->flags & DIRECT_MUX) && !passed))))
				continue;
			head = mux_head;
			hl = c->flags & DIRECT_MUX ? sizeof(mux_head) : 0;
			if (passed) {
				dst = c->pfd[type];
				hl = 0; /* the client's own stream: raw bytes */
			}
		}
		if (c->out_len > c->out_off && c->out_dst != dst) {
			drop_client(i); /* (cannot happen: output waits for an empty buffer) */
			continue;
		}
		if (c->out_len > c->out_off) {
			/* callers wait for an empty buffer before they read more output: only the exit
			 * frame comes here with bytes waiting, and it fits behind them */
			if (c->out_len + hl + n > sizeof(c->out)) {
				memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
				c->out_len -= c->out_off;
				c->out_off = 0;
			}
			if (c->out_len + hl + n > sizeof(c->out)) {
				drop_client(i);
				continue;
			}
			memcpy(c->out + c->out_len, head, hl);
			memcpy(c->out + c->out_len + hl, data, n);
			c->out_len += hl + n;
			continue;
		}
		struct iovec iov[2] = { { .iov_base = (void *)head, .iov_len = hl }, { .iov_base = (void *)data, .iov_len = n } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t w;
		do
			w = dst == c->fd ? sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) : writev(dst, iov, 2);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			drop_client(i);
			continue;
		}
		size_t sent = w < 0 ? 0 : (size_t)w;
		if (sent == hl + n)
			continue;
		/* keep the rest of the frame for when the client reads */
		size_t k = 0;
		if (sent < hl) {
			memcpy(c->out, head + sent, hl - sent);
			k = hl - sent;
			sent = hl;
		}
		memcpy(c->out + k, (const unsigned char *)data + (sent - hl), hl + n - sent);
		c->out_dst = dst;
		c->out_off = 0;
		c->out_len = k + hl + n - sent;
		c->out_since = now_ms();
	}
}

/* Writes a direct client's input to stdin until it has to wait for room (or drops it when
 * stdin is closed or not the client's), then acts on the end of its input. -1: the client goes. */
static int process_direct(struct client *c, const struct stdio_target *t)
{
	c->stdin_blocked = 0;
	while (c->in_off < c->in_len && (c->flags & DIRECT_STDIN) && t->stdin_fd >= 0) {
		c->sent_stdin = 1;
		ssize_t w = write(t->stdin_fd, c->in + c->in_off, c->in_len - c->in_off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return c->stdin_blocked = 1, 0;
			break; /* the container closed its stdin: the rest has nowhere to go */
		}
		c->in_off += (size_t)w;
	}
	c->in_off = c->in_len = 0;
	if (c->in_eof == 1) {
		c->in_eof = 2; /* acted on */
		if (c->flags & DIRECT_STDIN) {
			if (!(c->flags & DIRECT_CLOSE_STDIN))
				return -1; /* a session that may not close stdin ends with its input */
			stdin_close_due = 1;
		}
	}
	return 0;
}

/* Makes client c serve the connection it handed over (the fd that came with its bytes); the
 * frame's data is the flags. Input the sender had already read from that connection came before,
 * in STDIN frames. */
static int take_over(struct client *c, const unsigned char *payload, uint32_t len, const struct stdio_target *t)
{
	if (!c->handoff || c->direct || c->passed_fd < 0 || len != 1)
		return -1;
	c->ctl_fd = c->fd;
	c->fd = c->passed_fd;
	c->passed_fd = -1;
	int fl = fcntl(c->fd, F_GETFL);
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	more_sndbuf(c->fd);
	c->direct = 1;
	c->flags = payload[0];
	/* nothing follows the frame on the hand-off connection */
	c->in_off = c->in_len = 0;
	c->stdin_off = 0;
	if (c->flags & DIRECT_FDS) {
		/* ask for the client's stdio before anything else goes out */
		c->fds_state = 1;
		c->out[0] = PASS_FDS_ASK;
		c->out_off = 0;
		c->out_len = 1;
		c->out_dst = c->fd;
		c->out_since = now_ms();
		if (flush_client(c) < 0)
			return -1;
	}
	return process_direct(c, t);
}

/* A stream the client handed over, ready for the monitor (fd is consumed): a regular file as it
 * came, a pipe reopened non-blocking; -1 for anything else, or a file the stream cannot use. */
static int open_passed(int fd, int stream)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	int out = -1;
	/* (only for the use the client's own descriptor allows: a pipe reopened for writing must
	 * have come open for writing) */
	int acc = fl & O_ACCMODE;
	if (fstat(fd, &st) == 0 && fl >= 0 && (stream == 0 ? acc != O_WRONLY : acc != O_RDONLY)) {
		if (S_ISREG(st.st_mode)) {
			return fd;
		} else if (S_ISFIFO(st.st_mode)) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			out = open(path, (stream == 0 ? O_RDONLY : O_WRONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		}
	}
	close(fd);
	return out;
}

/* Takes the client's answer to PASS_FDS_ASK: a mask byte with the fds of those streams, in
 * stream order. All of them are taken, or none (the session goes on over the connection then);
 * the answer says which. -1: the client goes (its connection ended). */
static int recv_fds(struct client *c)
{
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	unsigned char mask;
	struct iovec iov = { .iov_base = &mask, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	if (r == 0)
		return -1;
	int fds[3], nfds = 0, bad = (mh.msg_flags & MSG_CTRUNC) != 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t k = 0; k < n; k++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(fd));
			if (nfds < 3)
				fds[nfds++] = fd;
			else
				close(fd), bad = 1;
		}
	}
	/* each stream offered must be one the session has */
	const int bits[3] = { PASS_FDS_MASK_STDIN, PASS_FDS_MASK_STDOUT, PASS_FDS_MASK_STDERR };
	const int allowed[3] = { DIRECT_STDIN, DIRECT_STDOUT, DIRECT_STDERR };
	int count = 0;
	for (int k = 0; k < 3; k++)
		if (mask & bits[k]) {
			count++;
			if (!(c->flags & allowed[k]))
				bad = 1;
		}
	if ((mask & ~(PASS_FDS_MASK_STDIN | PASS_FDS_MASK_STDOUT | PASS_FDS_MASK_STDERR)) || count != nfds)
		bad = 1;
	int got[3] = { -1, -1, -1 }, j = 0;
	for (int k = 0; k < 3; k++) {
		if (!(mask & bits[k]) || j >= nfds)
			continue;
		int fd = fds[j++];
		if (bad)
			close(fd);
		else if ((got[k] = open_passed(fd, k)) < 0)
			bad = 1;
	}
	for (; j < nfds; j++)
		close(fds[j]);
	unsigned char taken = 0;
	for (int k = 0; k < 3; k++) {
		if (bad && got[k] >= 0)
			close(got[k]), got[k] = -1;
		c->pfd[k] = got[k];
		if (got[k] >= 0)
			taken |= (unsigned char)bits[k];
	}
	c->stdin_passed = c->pfd[0] >= 0;
	c->fds_state = 2;
	c->out[0] = taken;
	c->out_off = 0;
	c->out_len = 1;
	c->out_dst = c->fd;
	c->out_since = now_ms();
	return flush_client(c);
}

/* Moves the client's own stdin into the container's, in the kernel when it can. -1: the
 * client goes. */
static int pump_passed_stdin(struct client *c, const struct stdio_target *t)
{
	if (!(c->flags & DIRECT_STDIN) || t->stdin_fd < 0) {
		/* stdin is closed: the rest has nowhere to go, and is left where it is */
		close(c->pfd[0]);
		c->pfd[0] = -1;
		return 0;
	}
	ssize_t w = -1;
	if (c->in_len == c->in_off && t->stdin_fd != t->pty_fd)
		w = splice(c->pfd[0], NULL, t->stdin_fd, NULL, 1 << 20, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
	else
		errno = EINVAL;
	if (w > 0) {
		c->sent_stdin = 1;
		return 0;
	}
	if (w == 0) {
		c->in_eof = 1;
		return process_direct(c, t);
	}
	if (errno == EINTR)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		/* (the container's stdin is full, or the pipe had nothing after all: poll stdin for
		 * room either way, then the client's stdin again) */
		c->stdin_blocked = 1;
		return 0;
	}
	if (errno == EINVAL) {
		/* no splice between these two: through the buffer */
		if (c->in_off > 0) {
			memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
			c->in_len -= c->in_off;
			c->in_off = 0;
		}
		ssize_t r = read(c->pfd[0], c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (r < 0)
			return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ? 0 : (c->in_eof = 1, process_direct(c, t));
		if (r == 0)
			c->in_eof = 1;
		c->in_len += (size_t)r;
		return process_direct(c, t);
	}
	/* the container closed its stdin (EPIPE), or the client's stdin broke: no more input */
	close(c->pfd[0]);
	c->pfd[0] = -1;
	return 0;
}

/* Acts on client c's complete frames, in order, until one has to wait for room in stdin.
 * Returns -1 when the client must go (it broke the protocol), else 0. */
static int process_frames(struct client *c, const struct stdio_target *t)
{
	if (c->direct)
		return process_direct(c, t);
	c->stdin_blocked = 0;
	for (;;) {
		unsigned char *f = c->in + c->in_off;
		size_t avail = c->in_len - c->in_off;
		if (avail < FRAME_HEADER_SIZE)
			return 0;
		uint32_t len;
		memcpy(&len, f + 1, 4);
		if (len > FRAME_MAX_CLIENT_DATA)
			return -1;
		if (avail < FRAME_HEADER_SIZE + len)
			return 0;
		unsigned char type = f[0];
		unsigned char *payload = f + FRAME_HEADER_SIZE;
		if (type == FRAME_DIRECT)
			return take_over(c, payload, len, t);
		if (c->handoff && type != FRAME_STDIN)
			return -1; /* a hand-off connection sends input already read, then its DIRECT frame */
		if (type == FRAME_STDIN && t->stdin_fd >= 0) {
			c->sent_stdin = 1;
			while (c->stdin_off < len) {
				ssize_t w = write(t->stdin_fd, payload + c->stdin_off, len - c->stdin_off);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					if (errno == EAGAIN || errno == EWOULDBLOCK) {
						c->stdin_blocked = 1;
						return 0;
					}
					break; /* the container closed its stdin: the rest has nowhere to go */
				}
				c->stdin_off += (size_t)w;
			}
		} else if (type == FRAME_RESIZE && len >= 4 && t->pty_fd >= 0) {
			uint16_t rows, cols;
			memcpy(&rows, payload, 2);
			memcpy(&cols, payload + 2, 2);
			struct winsize ws = { .ws_row = rows, .ws_col = cols };
			ioctl(t->pty_fd, TIOCSWINSZ, &ws);
		} else if (type == FRAME_CLOSE_STDIN) {
			stdin_close_due = 1;
		} else if (type == FRAME_QUIET) {
			c->quiet = 1;
		}
		c->stdin_off = 0;
		c->in_off += FRAME_HEADER_SIZE + len;
		if (c->in_off == c->in_len)
			c->in_off = c->in_len = 0;
		if (stdin_close_due)
			return 0; /* the caller closes stdin before the next frames */
	}
}

/* Reads what client c sent into its input buffer; a hand-off connection's bytes may come with an
 * fd, kept until its DIRECT frame is read. */
static ssize_t read_client(struct client *c)
{
	if (c->direct)
		return read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = c->in + c->in_len, .iov_len = sizeof(c->in) - c->in_len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	if (r <= 0)
		return r;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(sizeof(int)))
			continue;
		int fd;
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		if (c->passed_fd >= 0 || !c->handoff)
			close(fd); /* one fd per hand-off, and only on the direct socket */
		else
			c->passed_fd = fd;
	}
	return r;
}

static int find_client(int fd)
{
	for (int i = 0; i < nclients; i++)
		if (clients[i].fd == fd)
			return i;
	return -1;
}

static int find_ctl(int fd)
{
	for (int i = 0; i < nclients; i++)
		if (clients[i].ctl_fd == fd)
			return i;
	return -1;
}

/* The client with a handed-over stdin (role 0) or stdout/stderr (role 1) of fd, else -1. */
static int find_passed(int fd, int *role)
{
	for (int i = 0; i < nclients; i++) {
		if (clients[i].pfd[0] == fd)
			return *role = 0, i;
		if ((clients[i].pfd[1] == fd || clients[i].pfd[2] == fd) && clients[i].out_dst == fd)
			return *role = 1, i;
	}
	return -1;
}

void attach_handle(const struct pollfd *p, int n, const struct stdio_target *t)
{
	for (int k = 0; k < n; k++) {
		if (!p[k].revents)
			continue;
		int i = find_client(p[k].fd), role;
		if (i < 0) {
			if ((i = find_ctl(p[k].fd)) >= 0) {
				drop_client(i); /* the sender of a direct client ended the session */
			} else if ((i = find_passed(p[k].fd, &role)) >= 0) {
				struct client *c = &clients[i];
				/* the client's own output: room again (or its reader is gone: then it goes) */
				if (role == 1 && flush_client(c) < 0)
					drop_client(i);
				else if (role == 0 && !c->stdin_blocked && !c->in_eof && pump_passed_stdin(c, t) < 0)
					drop_client(i);
			}
			continue;
		}
		struct client *c = &clients[i];
		if ((p[k].revents & POLLOUT) && c->out_dst == c->fd && flush_client(c) < 0) {
			drop_client(i);
			continue;
		}
		if (c->fds_state == 1) {
			/* the answer to the stdio question: nothing else is read before it */
			if ((p[k].revents & (POLLIN | POLLHUP | POLLERR)) && recv_fds(c) < 0)
				drop_client(i);
			continue;
		}
		if (c->stdin_passed) {
			/* the connection carries no input now: only its end matters (the client left) */
			if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) {
				static char sink[4096];
				ssize_t r = read(c->fd, sink, sizeof(sink));
				if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
					drop_client(i);
			}
			continue;
		}
		if ((p[k].revents & POLLIN) && !c->stdin_blocked && c->direct && (c->flags & DIRECT_STDIN) && t->stdin_fd >= 0 &&
		    t->stdin_fd != t->pty_fd && c->in_len == c->in_off) {
			/* from the client's socket into the container's stdin pipe, in the kernel */
			ssize_t w = splice(c->fd, NULL, t->stdin_fd, NULL, 1 << 20, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (w > 0) {
				c->sent_stdin = 1;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				/* (the pipe is full, or the socket had nothing after all: poll the pipe
				 * for room either way, then the socket again) */
				c->stdin_blocked = 1;
				continue;
			}
			/* the end of input (0), or stdin is gone (EPIPE): the read below takes it */
		}
		if ((p[k].revents & POLLIN) && !c->stdin_blocked) {
			if (sizeof(c->in) - c->in_len < FRAME_MAX_CLIENT_DATA + FRAME_HEADER_SIZE) {
				/* room for a whole frame at the end: move the partial one to the front */
				memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
				c->in_len -= c->in_off;
				c->in_off = 0;
			}
			ssize_t r = read_client(c);
			if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
				continue;
			if (r == 0 && c->direct && !c->in_eof) {
				c->in_eof = 1; /* the client closed its side: output goes on */
				c->conn_eof = 1;
				if (process_direct(c, t) < 0)
					drop_client(i);
				continue;
			}
			if (r <= 0 || (c->in_len += (size_t)r, process_frames(c, t) < 0))
				drop_client(i);
			continue;
		}
		if (p[k].revents & (POLLHUP | POLLERR)) {
			/* gone while its input waited for the container: that input goes with it */
			drop_client(i);
		}
	}
}

void attach_resume_stdin(const struct stdio_target *t)
{
	for (int i = nclients - 1; i >= 0; i--) {
		struct client *c = &clients[i];
		size_t waiting = c->in_len - c->in_off;
		if (c->direct && c->stdin_blocked && waiting == 0 && c->in_eof != 1) {
			c->stdin_blocked = 0; /* its splice waited for room: read the client again */
			continue;
		}
		if ((c->direct ? waiting > 0 || c->in_eof == 1 : waiting >= FRAME_HEADER_SIZE) && process_frames(c, t) < 0)
			drop_client(i);
	}
}

void attach_drop_stalled(int exited)
{
	long long now = now_ms();
	for (int i = nclients - 1; i >= 0; i--)
		if ((clients[i].fds_state == 1 || (exited && waits(&clients[i]))) && now - clients[i].out_since >= ATTACH_STALL_MS)
			drop_client(i);
}

int attach_asking(void)
{
	for (int i = 0; i < nclients; i++)
		if (clients[i].fds_state == 1)
			return 1;
	return 0;
}

/* Ends the direct clients' streams (their output is all sent) as the daemon did: shuts the
 * write side, then reads and drops what they still send until they close (bounded by
 * ATTACH_STALL_MS), so that no unread input turns the close into a reset that loses the end of
 * their output. */
static void finish_direct(void)
{
	for (int i = 0; i < nclients; i++)
		if (clients[i].direct)
			shutdown(clients[i].fd, SHUT_WR);
	long long deadline = now_ms() + ATTACH_STALL_MS;
	for (;;) {
		struct pollfd p[MAX_CLIENTS];
		int n = 0;
		for (int i = 0; i < nclients; i++)
			if (clients[i].direct && !clients[i].conn_eof)
				p[n++] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		long long left = deadline - now_ms();
		if (n == 0 || left <= 0)
			return;
		if (poll(p, n, (int)left) < 0 && errno != EINTR)
			return;
		for (int k = 0; k < n; k++) {
			int i = p[k].revents ? find_client(p[k].fd) : -1;
			if (i < 0)
				continue;
			static char sink[65536];
			ssize_t r = read(clients[i].fd, sink, sizeof(sink));
			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				clients[i].conn_eof = 1; /* closed (or broken): nothing more to wait for */
		}
	}
}

void attach_finish(void)
{
	while (attach_output_pending()) {
		struct pollfd p[MAX_CLIENTS];
		int n = 0;
		for (int i = 0; i < nclients; i++)
			if (waits(&clients[i]))
				p[n++] = (struct pollfd){ .fd = clients[i].out_dst, .events = POLLOUT };
		if (poll(p, n, 100) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < n; k++) {
			int i = -1;
			for (int j = 0; p[k].revents && j < nclients && i < 0; j++)
				if (clients[j].out_dst == p[k].fd && waits(&clients[j]))
					i = j;
			if (i >= 0 && flush_client(&clients[i]) < 0)
				drop_client(i);
		}
		attach_drop_stalled(1);
	}
	finish_direct();
	while (nclients > 0)
		drop_client(nclients - 1);
	if (listen_fd >= 0)
		close(listen_fd);
	if (direct_listen_fd >= 0)
		close(direct_listen_fd);
}

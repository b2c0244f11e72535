/* Reading a plan file into memory. No interpretation happens here. */
#include "shim.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char MAGIC[] = PLAN_MAGIC;

static int read_u32(const unsigned char **p, const unsigned char *end, uint32_t *out)
{
	if (end - *p < 4)
		return -1;
	memcpy(out, *p, 4); /* little-endian host assumed: x86_64 and aarch64 */
	*p += 4;
	return 0;
}

int plan_load(const char *path, struct plan *plan)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	unsigned char *buf = malloc(st.st_size + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);
		if (n <= 0) {
			free(buf);
			close(fd);
			return -1;
		}
		got += n;
	}
	close(fd);

	size_t mlen = sizeof(MAGIC) - 1;
	if (got < mlen || memcmp(buf, MAGIC, mlen) != 0) {
		free(buf);
		errno = EINVAL;
		return -1;
	}
	const unsigned char *p = buf + mlen, *end = buf + got;
	/* First pass counts records so one allocation holds them all. */
	size_t count = 0;
	for (const unsigned char *q = p; q < end; count++) {
		uint32_t op, argc, len;
		if (read_u32(&q, end, &op) || read_u32(&q, end, &argc))
			goto bad;
		for (uint32_t i = 0; i < argc; i++) {
			if (read_u32(&q, end, &len) || (size_t)(end - q) < len)
				goto bad;
			q += len;
		}
	}
	plan->ops = calloc(count ? count : 1, sizeof(struct op));
	if (!plan->ops)
		goto bad;
	plan->count = count;
	for (size_t k = 0; k < count; k++) {
		struct op *o = &plan->ops[k];
		uint32_t argc = 0;
		read_u32(&p, end, &o->code);
		read_u32(&p, end, &argc);
		o->argc = argc;
		o->argv = calloc(argc + 1, sizeof(char *));
		o->lens = calloc(argc + 1, sizeof(size_t));
		if (!o->argv || !o->lens)
			goto bad;
		for (uint32_t i = 0; i < argc; i++) {
			uint32_t len = 0;
			read_u32(&p, end, &len);
			char *s = malloc(len + 1);
			if (!s)
				goto bad;
			memcpy(s, p, len);
			s[len] = 0;
			o->argv[i] = s;
			o->lens[i] = len;
			p += len;
		}
	}
	free(buf);
	return 0;
bad:
	free(buf);
	errno = EINVAL;
	return -1;
}

long long arg_ll(const struct op *o, int i)
{
	if (i >= (int)o->argc)
		return 0;
	return strtoll(o->argv[i], NULL, 10);
}

unsigned long long arg_ull(const struct op *o, int i)
{
	if (i >= (int)o->argc)
		return 0;
	return strtoull(o->argv[i], NULL, 10);
}

const char *arg_str(const struct op *o, int i)
{
	return i < (int)o->argc ? o->argv[i] : "";
}

// cove's N-API addon: the few syscalls the engine makes in process that Node does not offer
// (xattrs on symlinks, mknod, nanosecond utimensat without following symlinks, mount, umount2,
// socketpair, how much of a socket's output its peer has not read, and a detached spawn that does
// not fork the daemon's whole address space).
// Every function is a thin synchronous wrapper: arguments in, syscall, result out. Failures throw
// an Error shaped like Node's own fs errors: message "ECODE: description, syscall 'path'", with
// code (errno name), errno (negative, as Node reports it), syscall and path. No policy lives here.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <node_api.h>

#include "addon.h"

extern char **environ;

#define PATH_BUF 4096
#define XATTR_NAME_BUF 256
#define DATA_BUF 16384

napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  const char *name = strerrorname_np(err);
  if (name == NULL) name = "EUNKNOWN";
  char msg[PATH_BUF + 256];
  if (path != NULL)
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", name, strerror(err), syscall, path);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s", name, strerror(err), syscall);
  napi_value jmsg, jcode, error, jerrno, jsyscall, jpath;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jcode);
  napi_create_error(env, jcode, jmsg, &error);
  napi_create_int32(env, -err, &jerrno);
  napi_set_named_property(env, error, "errno", jerrno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &jsyscall);
  napi_set_named_property(env, error, "syscall", jsyscall);
  if (path != NULL) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &jpath);
    napi_set_named_property(env, error, "path", jpath);
  }
  napi_throw(env, error);
  return NULL;
}

napi_value xattr_names(napi_env env, const char *buf, ssize_t len) {
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t idx = 0;
  for (ssize_t off = 0; off < len;) {
    size_t n = strnlen(buf + off, (size_t)(len - off));
    if (n > 0) {
      napi_value s;
      napi_create_string_utf8(env, buf + off, n, &s);
      napi_set_element(env, arr, idx++, s);
    }
    off += (ssize_t)n + 1;
  }
  return arr;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

// Copies a JS string argument into buf (NUL-terminated). Returns 0 on success, -1 when the value is
// not a string or does not fit (a TypeError is pending then).
int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a string", what);
    throw_type(env, msg);
    return -1;
  }
  if (len + 1 > size) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s is too long (%zu bytes, at most %zu)", what, len, size - 1);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return -1;
  }
  napi_get_value_string_utf8(env, v, buf, size, &len);
  if (strlen(buf) != len) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must not contain NUL bytes", what);
    throw_type(env, msg);
    return -1;
  }
  return 0;
}

// Like get_string, but null/undefined give *out = NULL.
int get_opt_string(napi_env env, napi_value v, char *buf, size_t size, const char **out, const char *what) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) {
    *out = NULL;
    return 0;
  }
  if (get_string(env, v, buf, size, what) != 0) return -1;
  *out = buf;
  return 0;
}

int get_i64(napi_env env, napi_value v, int64_t *out, const char *what) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    throw_type(env, msg);
    return -1;
  }
  return 0;
}

#define ARGS(n)                                                   \
  size_t argc = (n);                                              \
  napi_value argv[(n) > 0 ? (n) : 1];                             \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);           \
  for (size_t i_ = argc; i_ < (size_t)(n); i_++) napi_get_undefined(env, &argv[i_]);

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// lsetxattr(path: string, name: string, value: Buffer, flags: number): void
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(4);
  char path[PATH_BUF], name[XATTR_NAME_BUF];
  int64_t flags = 0;
  if (get_string(env, argv[0], path, sizeof path, "path") || get_string(env, argv[1], name, sizeof name, "name")) return NULL;
  bool isbuf = false;
  napi_is_buffer(env, argv[2], &isbuf);
  if (!isbuf) return throw_type(env, "value must be a Buffer");
  void *data = NULL;
  size_t len = 0;
  napi_get_buffer_info(env, argv[2], &data, &len);
  napi_valuetype t;
  napi_typeof(env, argv[3], &t);
  if (t != napi_undefined && get_i64(env, argv[3], &flags, "flags")) return NULL;
  if (lsetxattr(path, name, len > 0 ? data : "", len, (int)flags) != 0) return throw_errno(env, errno, "lsetxattr", path);
  return undefined(env);
}

// lgetxattr of path with retries while the value grows; null when absent. shown names the file in errors.
napi_value xattr_get(napi_env env, const char *path, const char *name, const char *shown) {
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0) {
      if (errno == ENODATA) {
        napi_value n;
        napi_get_null(env, &n);
        return n;
      }
      return throw_errno(env, errno, "lgetxattr", shown);
    }
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) return throw_errno(env, ENOMEM, "lgetxattr", shown);
    ssize_t got = lgetxattr(path, name, buf, (size_t)size);
    if (got < 0) {
      int err = errno;
      free(buf);
      if (err == ERANGE) continue; // the value grew between the two calls
      if (err == ENODATA) {
        napi_value n;
        napi_get_null(env, &n);
        return n;
      }
      return throw_errno(env, err, "lgetxattr", shown);
    }
    napi_value result;
    napi_create_buffer_copy(env, (size_t)got, buf, NULL, &result);
    free(buf);
    return result;
  }
  return throw_errno(env, ERANGE, "lgetxattr", shown);
}

// llistxattr of path with retries while the list grows.
napi_value xattr_list(napi_env env, const char *path, const char *shown) {
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) return throw_errno(env, errno, "llistxattr", shown);
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) return throw_errno(env, ENOMEM, "llistxattr", shown);
    ssize_t got = llistxattr(path, buf, (size_t)size);
    if (got < 0) {
      int err = errno;
      free(buf);
      if (err == ERANGE) continue;
      return throw_errno(env, err, "llistxattr", shown);
    }
    napi_value arr = xattr_names(env, buf, got);
    free(buf);
    return arr;
  }
  return throw_errno(env, ERANGE, "llistxattr", shown);
}

// lgetxattr(path: string, name: string): Buffer | null   (null when the attribute is absent)
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[PATH_BUF], name[XATTR_NAME_BUF];
  if (get_string(env, argv[0], path, sizeof path, "path") || get_string(env, argv[1], name, sizeof name, "name")) return NULL;
  return xattr_get(env, path, name, path);
}

// llistxattr(path: string): string[]
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[PATH_BUF];
  if (get_string(env, argv[0], path, sizeof path, "path")) return NULL;
  return xattr_list(env, path, path);
}

// lremovexattr(path: string, name: string): void
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[PATH_BUF], name[XATTR_NAME_BUF];
  if (get_string(env, argv[0], path, sizeof path, "path") || get_string(env, argv[1], name, sizeof name, "name")) return NULL;
  if (lremovexattr(path, name) != 0) return throw_errno(env, errno, "lremovexattr", path);
  return undefined(env);
}

// mknod(path: string, mode: number, major: number, minor: number): void
// mode carries the file type bits (S_IFCHR, S_IFBLK, S_IFIFO) and the permission bits.
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  ARGS(4);
  char path[PATH_BUF];
  int64_t mode, major, minor;
  if (get_string(env, argv[0], path, sizeof path, "path") || get_i64(env, argv[1], &mode, "mode") ||
      get_i64(env, argv[2], &major, "major") || get_i64(env, argv[3], &minor, "minor"))
    return NULL;
  if (mknod(path, (mode_t)mode, makedev((unsigned)major, (unsigned)minor)) != 0) return throw_errno(env, errno, "mknod", path);
  return undefined(env);
}

// utimensat(path: string, atimeSec, atimeNsec, mtimeSec, mtimeNsec): void
// Relative to the cwd, never following a final symlink (AT_SYMLINK_NOFOLLOW), nanosecond exact.
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  ARGS(5);
  char path[PATH_BUF];
  int64_t as, an, ms, mn;
  if (get_string(env, argv[0], path, sizeof path, "path") || get_i64(env, argv[1], &as, "atimeSec") ||
      get_i64(env, argv[2], &an, "atimeNsec") || get_i64(env, argv[3], &ms, "mtimeSec") || get_i64(env, argv[4], &mn, "mtimeNsec"))
    return NULL;
  struct timespec ts[2] = {{.tv_sec = as, .tv_nsec = an}, {.tv_sec = ms, .tv_nsec = mn}};
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) return throw_errno(env, errno, "utimensat", path);
  return undefined(env);
}

// diskUsage(dir: string): number
// Disk bytes (st_blocks * 512) of everything under dir, dir itself not counted, a file with
// several hard links counted once, symlinks never followed: what a walk with lstat measures, in
// one call instead of a readdir and an lstat per entry from JavaScript (a fresh layer is
// thousands of entries). Directories are walked by fd (openat, O_NOFOLLOW), so nothing outside
// dir is reached even if the tree changes meanwhile.
struct du_inodes {
  uint64_t *v;
  size_t n, cap;
};

static int du_walk(int dfd, struct du_inodes *links, uint64_t *total, char *failed, size_t failed_size) {
  DIR *d = fdopendir(dfd);
  if (d == NULL) {
    int e = errno;
    close(dfd);
    return e;
  }
  int err = 0;
  struct dirent *de;
  while (err == 0) {
    errno = 0;
    de = readdir(d);
    if (de == NULL) {
      err = errno;
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      err = errno;
      snprintf(failed, failed_size, "%s", de->d_name);
      break;
    }
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      // counted once at the end, after the duplicates are dropped
      if (links->n == links->cap) {
        size_t cap = links->cap ? links->cap * 2 : 256;
        uint64_t *v = realloc(links->v, cap * 2 * sizeof *v);
        if (v == NULL) {
          err = ENOMEM;
          break;
        }
        links->v = v;
        links->cap = cap;
      }
      links->v[links->n * 2] = (uint64_t)st.st_ino;
      links->v[links->n * 2 + 1] = (uint64_t)st.st_blocks * 512;
      links->n++;
    } else {
      *total += (uint64_t)st.st_blocks * 512;
    }
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        err = errno;
        snprintf(failed, failed_size, "%s", de->d_name);
        break;
      }
      err = du_walk(sub, links, total, failed, failed_size);
    }
  }
  closedir(d);
  return err;
}

static int du_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static napi_value js_disk_usage(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[PATH_BUF];
  if (get_string(env, argv[0], path, sizeof path, "dir")) return NULL;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", path);
  struct du_inodes links = {0};
  uint64_t total = 0;
  char failed[256] = "";
  int err = du_walk(fd, &links, &total, failed, sizeof failed);
  if (err == 0 && links.n > 0) {
    // one directory tree is one filesystem (overlay upper dirs hold no mounts): the inode
    // number alone identifies a file
    qsort(links.v, links.n, 2 * sizeof *links.v, du_cmp);
    for (size_t i = 0; i < links.n; i++)
      if (i == 0 || links.v[i * 2] != links.v[(i - 1) * 2]) total += links.v[i * 2 + 1];
  }
  free(links.v);
  if (err != 0) return throw_errno(env, err, "diskUsage", failed[0] ? failed : path);
  napi_value out;
  napi_create_double(env, (double)total, &out);
  return out;
}

struct mount_args {
  const char *source, *target, *fstype, *data, *cwd;
  unsigned long flags;
  int err;
};

// Runs in a CLONE_VM|CLONE_VFORK child with its own cwd: only raw syscalls, result in args->err.
static int mount_child(void *p) {
  struct mount_args *a = p;
  if (chdir(a->cwd) != 0) {
    a->err = errno;
    return 1;
  }
  a->err = mount(a->source, a->target, a->fstype, a->flags, a->data) == 0 ? 0 : errno;
  return 0;
}

// mount(source: string|null, target: string, fstype: string|null, flags: number, data: string|null,
//       cwd?: string|null): void
// With cwd, the mount is made from a short-lived child (sharing memory and the mount namespace,
// not the working directory) that first changes into cwd, so relative paths in data (overlay's
// lowerdir=1/fs:2/fs) resolve there. The calling process's cwd never changes.
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(6);
  char source_buf[PATH_BUF], target[PATH_BUF], fstype_buf[256], data_buf[DATA_BUF], cwd_buf[PATH_BUF];
  const char *source, *fstype, *data, *cwd;
  int64_t flags;
  if (get_opt_string(env, argv[0], source_buf, sizeof source_buf, &source, "source") ||
      get_string(env, argv[1], target, sizeof target, "target") ||
      get_opt_string(env, argv[2], fstype_buf, sizeof fstype_buf, &fstype, "fstype") || get_i64(env, argv[3], &flags, "flags") ||
      get_opt_string(env, argv[4], data_buf, sizeof data_buf, &data, "data") ||
      get_opt_string(env, argv[5], cwd_buf, sizeof cwd_buf, &cwd, "cwd"))
    return NULL;
  if (cwd == NULL) {
    if (mount(source, target, fstype, (unsigned long)flags, data) != 0) return throw_errno(env, errno, "mount", target);
    return undefined(env);
  }
  struct mount_args a = {source, target, fstype, data, cwd, (unsigned long)flags, 0};
  size_t stack_size = 64 * 1024;
  char *stack = malloc(stack_size);
  if (stack == NULL) return throw_errno(env, ENOMEM, "mount", target);
  pid_t pid = clone(mount_child, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  if (pid < 0) {
    int err = errno;
    free(stack);
    return throw_errno(env, err, "clone", target);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  free(stack);
  if (a.err != 0) return throw_errno(env, a.err, WIFEXITED(status) && WEXITSTATUS(status) == 1 ? "chdir" : "mount",
                                     WIFEXITED(status) && WEXITSTATUS(status) == 1 ? cwd : target);
  return undefined(env);
}

// umount2(target: string, flags: number): void
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  ARGS(2);
  char target[PATH_BUF];
  int64_t flags = 0;
  if (get_string(env, argv[0], target, sizeof target, "target")) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_undefined && get_i64(env, argv[1], &flags, "flags")) return NULL;
  if (umount2(target, (int)flags) != 0) return throw_errno(env, errno, "umount2", target);
  return undefined(env);
}

// adoptListener(fd): path. Takes over a listening socket a service manager passed (systemd's
// socket activation, fd 3 on): checks that it is a listening AF_UNIX stream socket, marks it
// close-on-exec (systemd passes it without, and no container or monitor may inherit it) and
// returns the path it is bound to ("" when unnamed).
static napi_value js_adopt_listener(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  if (get_i64(env, argv[0], &fd, "fd")) return NULL;
  int domain = 0, type = 0, listening = 0;
  socklen_t len = sizeof domain;
  if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return throw_errno(env, errno, "getsockopt", NULL);
  len = sizeof type;
  if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return throw_errno(env, errno, "getsockopt", NULL);
  len = sizeof listening;
  if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) return throw_errno(env, errno, "getsockopt", NULL);
  if (domain != AF_UNIX || type != SOCK_STREAM || !listening) return throw_errno(env, EINVAL, "adoptListener", NULL);
  int flags = fcntl((int)fd, F_GETFD);
  if (flags < 0 || fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) != 0) return throw_errno(env, errno, "fcntl", NULL);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  len = sizeof addr;
  if (getsockname((int)fd, (struct sockaddr *)&addr, &len) != 0) return throw_errno(env, errno, "getsockname", NULL);
  size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
  if (n > 0 && addr.sun_path[0] == '\0') n = 0; // abstract: no path
  while (n > 0 && addr.sun_path[n - 1] == '\0') n--;
  napi_value out;
  napi_create_string_utf8(env, addr.sun_path, n, &out);
  return out;
}

// socketpair(): [fd, fd], a connected pair of AF_UNIX stream sockets, both close-on-exec.
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return throw_errno(env, errno, "socketpair", NULL);
  napi_value arr, a, b;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, sv[0], &a);
  napi_create_int32(env, sv[1], &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

// unreadOutput(fd): what ioctl(SIOCOUTQ) reports for a socket: 0 once its peer has read everything
// written to it (AF_UNIX stream: the memory still charged for unread data, more than its byte
// count; TCP: the bytes not acknowledged yet).
static napi_value js_unread_output(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  if (get_i64(env, argv[0], &fd, "fd")) return NULL;
  int n = 0;
  if (ioctl((int)fd, SIOCOUTQ, &n) != 0) return throw_errno(env, errno, "ioctl", NULL);
  napi_value out;
  napi_create_int64(env, n, &out);
  return out;
}

// sendFd(sock, fd, data): sendmsg(2) of data on the unix socket sock with fd attached
// (SCM_RIGHTS), without waiting (MSG_DONTWAIT); returns the bytes sent.
static napi_value js_send_fd(napi_env env, napi_callback_info info) {
  ARGS(3);
  int64_t sock, fd;
  if (get_i64(env, argv[0], &sock, "sock") || get_i64(env, argv[1], &fd, "fd")) return NULL;
  bool isbuf = false;
  napi_is_buffer(env, argv[2], &isbuf);
  if (!isbuf) return throw_type(env, "data must be a Buffer");
  void *data = NULL;
  size_t len = 0;
  napi_get_buffer_info(env, argv[2], &data, &len);
  if (len == 0) return throw_type(env, "data must not be empty: the fd travels with its first byte");
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  int f = (int)fd;
  memcpy(CMSG_DATA(cm), &f, sizeof f);
  ssize_t n;
  do n = sendmsg((int)sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "sendmsg", NULL);
  napi_value out;
  napi_create_int64(env, n, &out);
  return out;
}

// sendFds(sock, fds, data): as sendFd, with up to 3 fds attached (SCM_RIGHTS, in order).
static napi_value js_send_fds(napi_env env, napi_callback_info info) {
  ARGS(3);
  int64_t sock;
  if (get_i64(env, argv[0], &sock, "sock")) return NULL;
  bool isarr = false, isbuf = false;
  napi_is_array(env, argv[1], &isarr);
  if (!isarr) return throw_type(env, "fds must be an array of fds");
  uint32_t nfds = 0;
  napi_get_array_length(env, argv[1], &nfds);
  if (nfds < 1 || nfds > 3) return throw_type(env, "fds must hold 1 to 3 fds");
  int fds[3];
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    int64_t fd;
    napi_get_element(env, argv[1], i, &v);
    if (get_i64(env, v, &fd, "fd")) return NULL;
    fds[i] = (int)fd;
  }
  napi_is_buffer(env, argv[2], &isbuf);
  if (!isbuf) return throw_type(env, "data must be a Buffer");
  void *data = NULL;
  size_t len = 0;
  napi_get_buffer_info(env, argv[2], &data, &len);
  if (len == 0) return throw_type(env, "data must not be empty: the fds travel with its first byte");
  union {
    char buf[CMSG_SPACE(3 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
  ssize_t n;
  do n = sendmsg((int)sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "sendmsg", NULL);
  napi_value out;
  napi_create_int64(env, n, &out);
  return out;
}

#define SPAWN_MAX_FDS 64
#define SPAWN_MAX_ARGS 64
#define SPAWN_STACK (64 * 1024)

struct spawn_args {
  const char *file;
  char **argv;
  const int *fds;
  int nfds;
  /** The grandchild's stack (the child's is above it in the same allocation). */
  char *stack;
  /** The program's pid, once it has been exec'd. */
  pid_t pid;
  int err;
  const char *failed;
};

// The grandchild (CLONE_VM|CLONE_VFORK from the child): a session of its own, an empty signal
// mask as a fresh process expects, then exec. A failure is left in the shared args.
static int spawn_grandchild(void *p) {
  struct spawn_args *a = p;
  if (setsid() < 0) {
    a->err = errno;
    a->failed = "setsid";
    _exit(127);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(a->file, a->argv, environ);
  a->err = errno;
  a->failed = "execve";
  _exit(127);
}

// The child (CLONE_VM|CLONE_VFORK, so only raw syscalls and no allocation): default signal
// dispositions, fds[i] at i, then the program started as its own child, and out. The program is
// thus nobody's child here: it is reparented to init (or the nearest subreaper) at once, as
// containerd's shims are, and reaped there. Were it this process's child, something here would
// have to wait for it: a pidfd per program, which for a monitor per container is one fd per
// running container, and 10,000 containers would use up a daemon's RLIMIT_NOFILE. A failure is
// left in the shared args for the caller.
static int spawn_child(void *p) {
  struct spawn_args *a = p;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
  // move every source above the target range first, so that no dup2 clobbers a later source
  int moved[SPAWN_MAX_FDS];
  for (int i = 0; i < a->nfds; i++) {
    moved[i] = fcntl(a->fds[i], F_DUPFD_CLOEXEC, a->nfds);
    if (moved[i] < 0) {
      a->err = errno;
      a->failed = "fcntl";
      _exit(127);
    }
  }
  for (int i = 0; i < a->nfds; i++) {
    if (dup2(moved[i], i) < 0) {
      a->err = errno;
      a->failed = "dup2";
      _exit(127);
    }
  }
  // every signal stays blocked here (the caller blocked them): the grandchild unblocks its own
  pid_t pid = clone(spawn_grandchild, a->stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
  if (pid < 0) {
    a->err = errno;
    a->failed = "clone";
    _exit(127);
  }
  if (a->err != 0) {
    // it never ran anything: reap it now
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    _exit(127);
  }
  a->pid = pid;
  _exit(0);
}

// Where this process adopts orphans (the init of its pid namespace, as a rootless daemon is, or
// a child subreaper), a program started here comes back to it as its child: one thread waits on
// the pidfds of those and reaps each as it exits (their exit status is not wanted: a monitor
// records its own). Elsewhere init reaps them and nothing here holds an fd per program.
static int reaper_epoll = -1;
static pthread_once_t reaper_once = PTHREAD_ONCE_INIT;

static void *reaper_main(void *unused) {
  (void)unused;
  struct epoll_event ev[16];
  for (;;) {
    int n = epoll_wait(reaper_epoll, ev, 16, -1);
    for (int i = 0; i < n; i++) {
      int fd = (int)(ev[i].data.u64 & 0xffffffffu);
      pid_t pid = (pid_t)(ev[i].data.u64 >> 32);
      epoll_ctl(reaper_epoll, EPOLL_CTL_DEL, fd, NULL);
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
      close(fd);
    }
  }
  return NULL;
}

static void reaper_start(void) {
  reaper_epoll = epoll_create1(EPOLL_CLOEXEC);
  if (reaper_epoll < 0) return;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  // the thread takes no signals: Node's handlers run on the main thread
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  if (pthread_create(&t, &attr, reaper_main, NULL) != 0) {
    close(reaper_epoll);
    reaper_epoll = -1;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

static bool adopts_orphans(void) {
  int subreaper = 0;
  return getpid() == 1 || (prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) == 0 && subreaper != 0);
}

// Hands pid (an orphan this process adopted) to the reaper thread.
static void reap_later(pid_t pid) {
  pthread_once(&reaper_once, reaper_start);
  if (reaper_epoll < 0) return;
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)(uint32_t)pid << 32) | (uint32_t)fd};
  if (epoll_ctl(reaper_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) close(fd);
}

// spawnDetached(file: string, argv: string[], fds: number[]): number
// Starts file with argv, fds[i] as its fd i and every other fd closed (the caller's are
// close-on-exec), in a new session, as a child of init (see spawn_child), or of this process where
// it adopts orphans (reaped here then, see reap_later). Node's child_process forks
// the whole daemon, which costs milliseconds per spawn for a daemon of some tens of MB (its page
// tables are copied); a vfork-style clone shares the memory until the exec instead.
// Returns the pid once the program has been exec'd; throws when the exec fails.
static napi_value js_spawn_detached(napi_env env, napi_callback_info info) {
  ARGS(3);
  char file[PATH_BUF];
  if (get_string(env, argv[0], file, sizeof file, "file")) return NULL;
  uint32_t nargs = 0, nfds = 0;
  bool is_array = false;
  napi_is_array(env, argv[1], &is_array);
  if (!is_array) return throw_type(env, "argv must be an array of strings");
  napi_get_array_length(env, argv[1], &nargs);
  napi_is_array(env, argv[2], &is_array);
  if (!is_array) return throw_type(env, "fds must be an array of numbers");
  napi_get_array_length(env, argv[2], &nfds);
  if (nargs == 0 || nargs > SPAWN_MAX_ARGS) return throw_type(env, "argv must hold 1 to 64 strings");
  if (nfds > SPAWN_MAX_FDS) return throw_type(env, "fds must hold at most 64 descriptors");
  char *args[SPAWN_MAX_ARGS + 1];
  int fds[SPAWN_MAX_FDS];
  memset(args, 0, sizeof args);
  napi_value result = NULL;
  char *stack = NULL;
  for (uint32_t i = 0; i < nargs; i++) {
    napi_value v;
    napi_get_element(env, argv[1], i, &v);
    size_t len = 0;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
      throw_type(env, "argv must be an array of strings");
      goto out;
    }
    args[i] = malloc(len + 1);
    if (args[i] == NULL) {
      throw_errno(env, ENOMEM, "spawn", file);
      goto out;
    }
    napi_get_value_string_utf8(env, v, args[i], len + 1, &len);
  }
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    napi_get_element(env, argv[2], i, &v);
    int32_t fd;
    if (napi_get_value_int32(env, v, &fd) != napi_ok || fd < 0) {
      throw_type(env, "fds must be an array of open descriptors");
      goto out;
    }
    fds[i] = fd;
  }
  stack = malloc(2 * SPAWN_STACK);
  if (stack == NULL) {
    throw_errno(env, ENOMEM, "spawn", file);
    goto out;
  }
  struct spawn_args a = {file, args, fds, (int)nfds, stack, 0, 0, NULL};
  // no signal handler of this process may run in the child, which shares its memory
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(spawn_child, stack + 2 * SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    throw_errno(env, clone_err, "clone", file);
    goto out;
  }
  // the child is gone by now (the program exec'd, or starting it failed): reaped at once
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  if (a.err != 0) {
    throw_errno(env, a.err, a.failed, file);
    goto out;
  }
  // the program is ours now if this process adopts orphans: someone must reap it
  if (adopts_orphans()) reap_later(a.pid);
  napi_create_int32(env, a.pid, &result);
out:
  for (uint32_t i = 0; i < nargs; i++) free(args[i]);
  free(stack);
  return result;
}

// sealedCopy(path: string): number
// A memfd holding the file's bytes, sealed against writing, growing, shrinking and further
// sealing, close-on-exec, at fd 64 or above (so that spawnDetached's moves to fds 0..63 never
// land on it). Started as /proc/self/fd/N, the shim runs from it as from its own sealed copy
// (CVE-2019-5736), and every monitor shares its pages instead of each copying the binary.
static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  ARGS(1);
  char file[PATH_BUF];
  if (get_string(env, argv[0], file, sizeof file, "path")) return NULL;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", file);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "fstat", file);
  }
  int mfd = memfd_create(strrchr(file, '/') ? strrchr(file, '/') + 1 : file, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "memfd_create", file);
  }
  const char *failed = NULL;
  for (off_t left = st.st_size; left > 0 && failed == NULL;) {
    ssize_t n = sendfile(mfd, fd, NULL, (size_t)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) failed = "sendfile";
    else left -= n;
  }
  if (failed == NULL && fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) failed = "fcntl";
  int high = failed == NULL ? fcntl(mfd, F_DUPFD_CLOEXEC, 64) : -1;
  if (failed == NULL && high < 0) failed = "fcntl";
  int err = errno;
  close(fd);
  close(mfd);
  if (failed != NULL) return throw_errno(env, err, failed, file);
  napi_value out;
  napi_create_int32(env, high, &out);
  return out;
}

static void set_int(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_value n;
  napi_create_int64(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

// network namespaces and netlink (net.c)

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"utimensat", NULL, js_utimensat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"diskUsage", NULL, js_disk_usage, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adoptListener", NULL, js_adopt_listener, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unreadOutput", NULL, js_unread_output, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendFd", NULL, js_send_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendFds", NULL, js_send_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spawnDetached", NULL, js_spawn_detached, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealedCopy", NULL, js_sealed_copy, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  cove_register_net(env, exports);
  cove_register_fsat(env, exports);
  napi_value c;
  napi_create_object(env, &c);
  set_int(env, c, "XATTR_CREATE", XATTR_CREATE);
  set_int(env, c, "XATTR_REPLACE", XATTR_REPLACE);
  set_int(env, c, "S_IFCHR", S_IFCHR);
  set_int(env, c, "S_IFBLK", S_IFBLK);
  set_int(env, c, "S_IFIFO", S_IFIFO);
  set_int(env, c, "MS_RDONLY", MS_RDONLY);
  set_int(env, c, "MS_NOSUID", MS_NOSUID);
  set_int(env, c, "MS_NODEV", MS_NODEV);
  set_int(env, c, "MS_NOEXEC", MS_NOEXEC);
  set_int(env, c, "MS_REMOUNT", MS_REMOUNT);
  set_int(env, c, "MS_BIND", MS_BIND);
  set_int(env, c, "MS_REC", MS_REC);
  set_int(env, c, "MS_PRIVATE", MS_PRIVATE);
  set_int(env, c, "MS_SLAVE", MS_SLAVE);
  set_int(env, c, "MS_SHARED", MS_SHARED);
  set_int(env, c, "MS_NOATIME", MS_NOATIME);
  set_int(env, c, "MS_NODIRATIME", MS_NODIRATIME);
  set_int(env, c, "MS_RELATIME", MS_RELATIME);
  set_int(env, c, "MS_STRICTATIME", MS_STRICTATIME);
  set_int(env, c, "MS_SYNCHRONOUS", MS_SYNCHRONOUS);
  set_int(env, c, "MS_DIRSYNC", MS_DIRSYNC);
  set_int(env, c, "MS_NOSYMFOLLOW", 256);
  set_int(env, c, "MNT_FORCE", MNT_FORCE);
  set_int(env, c, "MNT_DETACH", MNT_DETACH);
  set_int(env, c, "MNT_EXPIRE", MNT_EXPIRE);
  set_int(env, c, "UMOUNT_NOFOLLOW", UMOUNT_NOFOLLOW);
  napi_set_named_property(env, exports, "constants", c);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

// Directory-fd relative file calls (the *at family and openat2), so the engine can work inside a
// container's filesystem through file descriptors it holds instead of path strings the kernel
// would walk again from the host's root. Thin wrappers only: arguments in, one syscall, result
// out; which flags and resolve modes to use is decided in TypeScript (src/fsroot).

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <node_api.h>

#include "addon.h"

#define AT_PATH_BUF 4096
#define AT_XATTR_NAME_BUF 256

#define AT_ARGS(n)                                                \
  size_t argc = (n);                                              \
  napi_value argv[(n)];                                           \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);           \
  for (size_t i_ = argc; i_ < (size_t)(n); i_++) napi_get_undefined(env, &argv[i_]);

// An int argument where undefined means 0.
static int at_int(napi_env env, napi_value v, int64_t *out, const char *what) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) {
    *out = 0;
    return 0;
  }
  return get_i64(env, v, out, what);
}

// Reads the arguments (dirfd, path, n numbers) most *at calls take.
static int at_args(napi_env env, napi_value *argv, int64_t *dirfd, char *path, int64_t *nums, int n) {
  if (at_int(env, argv[0], dirfd, "dirfd") || get_string(env, argv[1], path, AT_PATH_BUF, "path")) return -1;
  for (int i = 0; i < n; i++)
    if (at_int(env, argv[2 + i], &nums[i], "argument")) return -1;
  return 0;
}

// Reads (olddirfd, oldpath, newdirfd, newpath, flags), as linkat and renameat2 take them.
static int pair_args(napi_env env, napi_value *argv, int64_t *oldfd, char *oldpath, int64_t *newfd, char *newpath, int64_t *flags) {
  return at_int(env, argv[0], oldfd, "olddirfd") || get_string(env, argv[1], oldpath, AT_PATH_BUF, "oldpath") ||
                 at_int(env, argv[2], newfd, "newdirfd") || get_string(env, argv[3], newpath, AT_PATH_BUF, "newpath") ||
                 at_int(env, argv[4], flags, "flags")
             ? -1
             : 0;
}

// A path naming one entry of a directory fd, for the xattr calls Linux has no *at form of
// before 6.13: /proc/self/fd/N jumps to the directory the fd holds, and the l* calls do not
// follow the final name. name must be a single component.
static int entry_path(napi_env env, int dirfd, const char *name, char *out, size_t size) {
  if (name[0] == 0 || strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "name must be a single path component");
    return -1;
  }
  if (snprintf(out, size, "/proc/self/fd/%d/%s", dirfd, name) >= (int)size) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "name is too long");
    return -1;
  }
  return 0;
}

// openat2(dirfd, path, flags, mode, resolve): fd   (O_CLOEXEC is always added)
static napi_value js_openat2(napi_env env, napi_callback_info info) {
  AT_ARGS(5);
  int64_t dirfd, n[3];
  char path[AT_PATH_BUF];
  if (at_args(env, argv, &dirfd, path, n, 3)) return NULL;
  struct open_how how = {.flags = (uint64_t)n[0] | O_CLOEXEC, .mode = (uint64_t)n[1], .resolve = (uint64_t)n[2]};
  long fd = syscall(SYS_openat2, (int)dirfd, path, &how, sizeof how);
  if (fd < 0) return throw_errno(env, errno, "openat2", path);
  napi_value r;
  napi_create_int32(env, (int32_t)fd, &r);
  return r;
}

static void set_big(napi_env env, napi_value arr, uint32_t i, uint64_t v) {
  napi_value b;
  napi_create_bigint_uint64(env, v, &b);
  napi_set_element(env, arr, i, b);
}

static uint64_t ns(struct timespec t) {
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

// fstatat(dirfd, path, flags): bigint[] [dev, ino, mode, nlink, uid, gid, rdev, size, blocks,
// atimeNs, mtimeNs, ctimeNs]. An empty path with AT_EMPTY_PATH stats the fd itself.
static napi_value js_fstatat(napi_env env, napi_callback_info info) {
  AT_ARGS(3);
  int64_t dirfd, flags;
  char path[AT_PATH_BUF];
  if (at_args(env, argv, &dirfd, path, &flags, 1)) return NULL;
  struct stat st;
  if (fstatat((int)dirfd, path, &st, (int)flags) != 0) return throw_errno(env, errno, "fstatat", path);
  napi_value arr;
  napi_create_array_with_length(env, 12, &arr);
  set_big(env, arr, 0, st.st_dev);
  set_big(env, arr, 1, st.st_ino);
  set_big(env, arr, 2, st.st_mode);
  set_big(env, arr, 3, st.st_nlink);
  set_big(env, arr, 4, st.st_uid);
  set_big(env, arr, 5, st.st_gid);
  set_big(env, arr, 6, st.st_rdev);
  set_big(env, arr, 7, (uint64_t)st.st_size);
  set_big(env, arr, 8, (uint64_t)st.st_blocks);
  set_big(env, arr, 9, ns(st.st_atim));
  set_big(env, arr, 10, ns(st.st_mtim));
  set_big(env, arr, 11, ns(st.st_ctim));
  return arr;
}

// readlinkat(dirfd, path): string   (an empty path reads the symlink an O_PATH fd holds)
static napi_value js_readlinkat(napi_env env, napi_callback_info info) {
  AT_ARGS(2);
  int64_t dirfd;
  char path[AT_PATH_BUF], target[AT_PATH_BUF + 1];
  if (at_int(env, argv[0], &dirfd, "dirfd") || get_string(env, argv[1], path, sizeof path, "path")) return NULL;
  ssize_t n = readlinkat((int)dirfd, path, target, sizeof target);
  if (n < 0) return throw_errno(env, errno, "readlinkat", path);
  if ((size_t)n >= sizeof target) return throw_errno(env, ENAMETOOLONG, "readlinkat", path);
  napi_value r;
  napi_create_string_utf8(env, target, (size_t)n, &r);
  return r;
}

// mkdirat(dirfd, path, mode)
static napi_value js_mkdirat(napi_env env, napi_callback_info info) {
  AT_ARGS(3);
  int64_t dirfd, mode;
  char path[AT_PATH_BUF];
  if (at_args(env, argv, &dirfd, path, &mode, 1)) return NULL;
  if (mkdirat((int)dirfd, path, (mode_t)mode) != 0) return throw_errno(env, errno, "mkdirat", path);
  return undefined(env);
}

// mknodat(dirfd, path, mode, major, minor)   (mode holds the type bits)
static napi_value js_mknodat(napi_env env, napi_callback_info info) {
  AT_ARGS(5);
  int64_t dirfd, n[3];
  char path[AT_PATH_BUF];
  if (at_args(env, argv, &dirfd, path, n, 3)) return NULL;
  if (mknodat((int)dirfd, path, (mode_t)n[0], makedev((unsigned)n[1], (unsigned)n[2])) != 0) return throw_errno(env, errno, "mknodat", path);
  return undefined(env);
}

// symlinkat(target, dirfd, path)
static napi_value js_symlinkat(napi_env env, napi_callback_info info) {
  AT_ARGS(3);
  int64_t dirfd;
  char target[AT_PATH_BUF], path[AT_PATH_BUF];
  if (get_string(env, argv[0], target, sizeof target, "target") || at_int(env, argv[1], &dirfd, "dirfd") ||
      get_string(env, argv[2], path, sizeof path, "path"))
    return NULL;
  if (symlinkat(target, (int)dirfd, path) != 0) return throw_errno(env, errno, "symlinkat", path);
  return undefined(env);
}

// linkat(olddirfd, oldpath, newdirfd, newpath, flags)
static napi_value js_linkat(napi_env env, napi_callback_info info) {
  AT_ARGS(5);
  int64_t olddirfd, newdirfd, flags;
  char oldpath[AT_PATH_BUF], newpath[AT_PATH_BUF];
  if (pair_args(env, argv, &olddirfd, oldpath, &newdirfd, newpath, &flags)) return NULL;
  if (linkat((int)olddirfd, oldpath, (int)newdirfd, newpath, (int)flags) != 0) return throw_errno(env, errno, "linkat", newpath);
  return undefined(env);
}

// unlinkat(dirfd, path, flags)   (AT_REMOVEDIR for directories)
static napi_value js_unlinkat(napi_env env, napi_callback_info info) {
  AT_ARGS(3);
  int64_t dirfd, flags;
  char path[AT_PATH_BUF];
  if (at_args(env, argv, &dirfd, path, &flags, 1)) return NULL;
  if (unlinkat((int)dirfd, path, (int)flags) != 0) return throw_errno(env, errno, "unlinkat", path);
  return undefined(env);
}

// renameat2(olddirfd, oldpath, newdirfd, newpath, flags)
static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  AT_ARGS(5);
  int64_t olddirfd, newdirfd, flags;
  char oldpath[AT_PATH_BUF], newpath[AT_PATH_BUF];
  if (pair_args(env, argv, &olddirfd, oldpath, &newdirfd, newpath, &flags)) return NULL;
  if (syscall(SYS_renameat2, (int)olddirfd, oldpath, (int)newdirfd, newpath, (unsigned)flags) != 0)
    return throw_errno(env, errno, "renameat2", oldpath);
  return undefined(env);
}

// fchownat(dirfd, path, uid, gid, flags)
static napi_value js_fchownat(napi_env env, napi_callback_info info) {
  AT_ARGS(5);
  int64_t dirfd, n[3];
  char path[AT_PATH_BUF];
  if (at_args(env, argv, &dirfd, path, n, 3)) return NULL;
  if (fchownat((int)dirfd, path, (uid_t)n[0], (gid_t)n[1], (int)n[2]) != 0) return throw_errno(env, errno, "fchownat", path);
  return undefined(env);
}

// fchmodat(dirfd, path, mode, flags)   (glibc carries out AT_SYMLINK_NOFOLLOW through an O_PATH fd
// and answers EOPNOTSUPP for a symlink)
static napi_value js_fchmodat(napi_env env, napi_callback_info info) {
  AT_ARGS(4);
  int64_t dirfd, n[2];
  char path[AT_PATH_BUF];
  if (at_args(env, argv, &dirfd, path, n, 2)) return NULL;
  if (fchmodat((int)dirfd, path, (mode_t)n[0], (int)n[1]) != 0) return throw_errno(env, errno, "fchmodat", path);
  return undefined(env);
}

// utimensatAt(dirfd, path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, flags)
static napi_value js_utimensat_at(napi_env env, napi_callback_info info) {
  AT_ARGS(7);
  int64_t dirfd, n[5];
  char path[AT_PATH_BUF];
  if (at_args(env, argv, &dirfd, path, n, 5)) return NULL;
  struct timespec ts[2] = {{.tv_sec = n[0], .tv_nsec = n[1]}, {.tv_sec = n[2], .tv_nsec = n[3]}};
  if (utimensat((int)dirfd, path, ts, (int)n[4]) != 0) return throw_errno(env, errno, "utimensat", path);
  return undefined(env);
}

// readdirFd(fd): string[]   (the directory the fd holds, O_PATH or not; "." and ".." left out)
static napi_value js_readdir_fd(napi_env env, napi_callback_info info) {
  AT_ARGS(1);
  int64_t fd;
  if (at_int(env, argv[0], &fd, "fd")) return NULL;
  int dfd = openat((int)fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return throw_errno(env, errno, "openat", ".");
  DIR *d = fdopendir(dfd);
  if (d == NULL) {
    int err = errno;
    close(dfd);
    return throw_errno(env, err, "fdopendir", NULL);
  }
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t idx = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (e == NULL) {
      int err = errno;
      closedir(d);
      if (err != 0) return throw_errno(env, err, "readdir", NULL);
      return arr;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    napi_value s;
    napi_create_string_utf8(env, e->d_name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, idx++, s);
  }
}

// lgetxattrAt(dirfd, name, attr): Buffer | null
static napi_value js_lgetxattr_at(napi_env env, napi_callback_info info) {
  AT_ARGS(3);
  int64_t dirfd;
  char name[AT_PATH_BUF], attr[AT_XATTR_NAME_BUF], path[AT_PATH_BUF + 64];
  if (at_int(env, argv[0], &dirfd, "dirfd") || get_string(env, argv[1], name, sizeof name, "name") ||
      get_string(env, argv[2], attr, sizeof attr, "attr") || entry_path(env, (int)dirfd, name, path, sizeof path))
    return NULL;
  return xattr_get(env, path, attr, name);
}

// llistxattrAt(dirfd, name): string[]
static napi_value js_llistxattr_at(napi_env env, napi_callback_info info) {
  AT_ARGS(2);
  int64_t dirfd;
  char name[AT_PATH_BUF], path[AT_PATH_BUF + 64];
  if (at_int(env, argv[0], &dirfd, "dirfd") || get_string(env, argv[1], name, sizeof name, "name") ||
      entry_path(env, (int)dirfd, name, path, sizeof path))
    return NULL;
  return xattr_list(env, path, name);
}

// lsetxattrAt(dirfd, name, attr, value: Buffer, flags)
static napi_value js_lsetxattr_at(napi_env env, napi_callback_info info) {
  AT_ARGS(5);
  int64_t dirfd, flags;
  char name[AT_PATH_BUF], attr[AT_XATTR_NAME_BUF], path[AT_PATH_BUF + 64];
  if (at_int(env, argv[0], &dirfd, "dirfd") || get_string(env, argv[1], name, sizeof name, "name") ||
      get_string(env, argv[2], attr, sizeof attr, "attr") || at_int(env, argv[4], &flags, "flags") ||
      entry_path(env, (int)dirfd, name, path, sizeof path))
    return NULL;
  bool isbuf = false;
  napi_is_buffer(env, argv[3], &isbuf);
  if (!isbuf) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "value must be a Buffer");
    return NULL;
  }
  void *data = NULL;
  size_t len = 0;
  napi_get_buffer_info(env, argv[3], &data, &len);
  if (lsetxattr(path, attr, len > 0 ? data : "", len, (int)flags) != 0) return throw_errno(env, errno, "lsetxattr", name);
  return undefined(env);
}

// openTree(dirfd, path, flags): fd   (open_tree(2); OPEN_TREE_CLOEXEC is always added)
static napi_value js_open_tree(napi_env env, napi_callback_info info) {
  AT_ARGS(3);
  int64_t dirfd, flags;
  char path[AT_PATH_BUF];
  if (at_int(env, argv[0], &dirfd, "dirfd") || get_string(env, argv[1], path, sizeof path, "path") || at_int(env, argv[2], &flags, "flags"))
    return NULL;
  long fd = syscall(SYS_open_tree, (int)dirfd, path, (unsigned)flags | OPEN_TREE_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open_tree", path);
  napi_value r;
  napi_create_int32(env, (int32_t)fd, &r);
  return r;
}

// moveMount(fromDirfd, fromPath, toDirfd, toPath, flags)   (move_mount(2))
static napi_value js_move_mount(napi_env env, napi_callback_info info) {
  AT_ARGS(5);
  int64_t fromfd, tofd, flags;
  char from[AT_PATH_BUF], to[AT_PATH_BUF];
  if (at_int(env, argv[0], &fromfd, "fromDirfd") || get_string(env, argv[1], from, sizeof from, "fromPath") ||
      at_int(env, argv[2], &tofd, "toDirfd") || get_string(env, argv[3], to, sizeof to, "toPath") || at_int(env, argv[4], &flags, "flags"))
    return NULL;
  if (syscall(SYS_move_mount, (int)fromfd, from, (int)tofd, to, (unsigned)flags) != 0) return throw_errno(env, errno, "move_mount", to);
  return undefined(env);
}

// mountSetattr(dirfd, path, flags, attrSet, attrClr, propagation, usernsFd?)   (mount_setattr(2);
// usernsFd is the user namespace whose mapping MOUNT_ATTR_IDMAP applies)
static napi_value js_mount_setattr(napi_env env, napi_callback_info info) {
  AT_ARGS(7);
  int64_t dirfd, flags, set, clr, prop, userns;
  char path[AT_PATH_BUF];
  if (at_int(env, argv[0], &dirfd, "dirfd") || get_string(env, argv[1], path, sizeof path, "path") || at_int(env, argv[2], &flags, "flags") ||
      at_int(env, argv[3], &set, "attrSet") || at_int(env, argv[4], &clr, "attrClr") || at_int(env, argv[5], &prop, "propagation") ||
      at_int(env, argv[6], &userns, "usernsFd"))
    return NULL;
  struct mount_attr attr = {.attr_set = (uint64_t)set, .attr_clr = (uint64_t)clr, .propagation = (uint64_t)prop, .userns_fd = (uint64_t)userns};
  if (syscall(SYS_mount_setattr, (int)dirfd, path, (unsigned)flags, &attr, sizeof attr) != 0) return throw_errno(env, errno, "mount_setattr", path);
  return undefined(env);
}

// Writes text to /proc/<pid>/<file>; 0 or an errno.
static int write_proc(pid_t pid, const char *file, const char *text) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/%s", (int)pid, file);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t len = strlen(text);
  ssize_t n = write(fd, text, len);
  int err = n < 0 ? errno : (size_t)n != len ? EIO : 0;
  close(fd);
  return err;
}

// usernsCreate(uidMap, gidMap): fd of a new user namespace with these mappings (uid_map/gid_map
// text). A child made in the namespace holds it while the maps are written and its ns file is
// opened, then exits; the fd keeps the namespace alive (for MOUNT_ATTR_IDMAP).
static napi_value js_userns_create(napi_env env, napi_callback_info info) {
  AT_ARGS(2);
  char uid_map[AT_PATH_BUF], gid_map[AT_PATH_BUF];
  if (get_string(env, argv[0], uid_map, sizeof uid_map, "uidMap") || get_string(env, argv[1], gid_map, sizeof gid_map, "gidMap")) return NULL;
  int hold[2];
  if (pipe2(hold, O_CLOEXEC) != 0) return throw_errno(env, errno, "pipe2", NULL);
  // a fork-like clone: only this thread is copied, and the child only waits for the pipe to close
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) {
    int err = errno;
    close(hold[0]);
    close(hold[1]);
    return throw_errno(env, err, "clone", NULL);
  }
  if (pid == 0) {
    char c;
    close(hold[1]);
    while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(hold[0]);
  int err = write_proc(pid, "uid_map", uid_map);
  const char *failed = "uid_map";
  if (err == 0) {
    err = write_proc(pid, "gid_map", gid_map);
    failed = "gid_map";
  }
  int fd = -1;
  if (err == 0) {
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/ns/user", (int)pid);
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) err = errno;
    failed = "open ns/user";
  }
  close(hold[1]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  if (err != 0) return throw_errno(env, err, failed, NULL);
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

static void at_const(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_value n;
  napi_create_int64(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

void cove_register_fsat(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"openat2", NULL, js_openat2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fstatat", NULL, js_fstatat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readlinkat", NULL, js_readlinkat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mkdirat", NULL, js_mkdirat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mknodat", NULL, js_mknodat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"symlinkat", NULL, js_symlinkat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"linkat", NULL, js_linkat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unlinkat", NULL, js_unlinkat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"renameat2", NULL, js_renameat2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fchownat", NULL, js_fchownat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fchmodat", NULL, js_fchmodat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"utimensatAt", NULL, js_utimensat_at, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readdirFd", NULL, js_readdir_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattrAt", NULL, js_lgetxattr_at, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattrAt", NULL, js_llistxattr_at, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattrAt", NULL, js_lsetxattr_at, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openTree", NULL, js_open_tree, NULL, NULL, NULL, napi_enumerable, NULL},
      {"moveMount", NULL, js_move_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mountSetattr", NULL, js_mount_setattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"usernsCreate", NULL, js_userns_create, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  napi_value c;
  napi_create_object(env, &c);
  at_const(env, c, "O_PATH", O_PATH);
  at_const(env, c, "O_DIRECTORY", O_DIRECTORY);
  at_const(env, c, "O_NOFOLLOW", O_NOFOLLOW);
  at_const(env, c, "O_RDONLY", O_RDONLY);
  at_const(env, c, "O_WRONLY", O_WRONLY);
  at_const(env, c, "O_RDWR", O_RDWR);
  at_const(env, c, "O_CREAT", O_CREAT);
  at_const(env, c, "O_EXCL", O_EXCL);
  at_const(env, c, "O_TRUNC", O_TRUNC);
  at_const(env, c, "O_NONBLOCK", O_NONBLOCK);
  at_const(env, c, "O_NOCTTY", O_NOCTTY);
  at_const(env, c, "AT_FDCWD", AT_FDCWD);
  at_const(env, c, "AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW);
  at_const(env, c, "AT_SYMLINK_FOLLOW", AT_SYMLINK_FOLLOW);
  at_const(env, c, "AT_REMOVEDIR", AT_REMOVEDIR);
  at_const(env, c, "AT_EMPTY_PATH", AT_EMPTY_PATH);
  at_const(env, c, "RENAME_NOREPLACE", 1);
  at_const(env, c, "RENAME_EXCHANGE", 2);
  at_const(env, c, "RESOLVE_NO_XDEV", RESOLVE_NO_XDEV);
  at_const(env, c, "RESOLVE_NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS);
  at_const(env, c, "RESOLVE_NO_SYMLINKS", RESOLVE_NO_SYMLINKS);
  at_const(env, c, "RESOLVE_BENEATH", RESOLVE_BENEATH);
  at_const(env, c, "RESOLVE_IN_ROOT", RESOLVE_IN_ROOT);
  at_const(env, c, "AT_RECURSIVE", AT_RECURSIVE);
  at_const(env, c, "OPEN_TREE_CLONE", OPEN_TREE_CLONE);
  at_const(env, c, "MOVE_MOUNT_F_EMPTY_PATH", MOVE_MOUNT_F_EMPTY_PATH);
  at_const(env, c, "MOVE_MOUNT_T_EMPTY_PATH", MOVE_MOUNT_T_EMPTY_PATH);
  at_const(env, c, "MOUNT_ATTR_RDONLY", MOUNT_ATTR_RDONLY);
  at_const(env, c, "MOUNT_ATTR_IDMAP", MOUNT_ATTR_IDMAP);
  napi_set_named_property(env, exports, "at", c);
}

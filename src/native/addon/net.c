// Network namespace and netlink syscalls for cove's network service. Policy-free like the rest
// of the addon: the TypeScript side builds and parses every netlink message; these functions
// only create a namespace, open a NETLINK_ROUTE socket inside a namespace, and send/receive
// datagrams. Namespace switches happen on the calling thread only and are undone before return.

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <node_api.h>

#include "addon.h"

#define NET_PATH_BUF 4096
#define NL_RECV_BUF 65536

// Reads an optional string argument; returns 0 with *out NULL for null/undefined, -1 on a type error.
static int net_opt_string(napi_env env, napi_value v, char *buf, size_t size, const char **out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  *out = NULL;
  if (t == napi_null || t == napi_undefined) return 0;
  size_t len = 0;
  if (t != napi_string || napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len + 1 >= size || strlen(buf) != len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a string without NUL bytes, shorter than 4096 bytes");
    return -1;
  }
  *out = buf;
  return 0;
}

static napi_value net_undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// netnsCreate(path: string): void — a new network namespace, kept alive by a bind mount on path
// (an existing empty file). The calling thread returns to its own namespace.
static napi_value js_netns_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char buf[NET_PATH_BUF];
  const char *target = NULL;
  if (argc < 1 || net_opt_string(env, argv[0], buf, sizeof buf, &target) != 0) return NULL;
  if (target == NULL) return throw_errno(env, EINVAL, "netnsCreate", NULL);
  int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) return throw_errno(env, errno, "open", "/proc/thread-self/ns/net");
  if (unshare(CLONE_NEWNET) != 0) {
    int e = errno;
    close(orig);
    return throw_errno(env, e, "unshare", NULL);
  }
  int err = 0;
  if (mount("/proc/thread-self/ns/net", target, NULL, MS_BIND, NULL) != 0) err = errno;
  if (setns(orig, CLONE_NEWNET) != 0) {
    // the thread would stay in the new namespace: nothing sane can follow
    fprintf(stderr, "cove addon: cannot return to the original network namespace: %s\n", strerror(errno));
    abort();
  }
  close(orig);
  if (err) return throw_errno(env, err, "mount", target);
  return net_undefined(env);
}

// A socket made inside the network namespace at ns (the caller's own when ns is NULL): the
// calling thread enters the namespace, makes the socket and returns, so the socket belongs to that
// namespace while the caller stays in its own. Returns the fd, or -1 with *err and *call set.
static int socket_in_netns(const char *ns, int domain, int type, int protocol, int *err, const char **call) {
  int orig = -1, target = -1;
  if (ns != NULL) {
    target = open(ns, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      *err = errno, *call = "open";
      return -1;
    }
    orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig < 0) {
      *err = errno, *call = "open /proc/thread-self/ns/net";
      close(target);
      return -1;
    }
    if (setns(target, CLONE_NEWNET) != 0) {
      *err = errno, *call = "setns";
      close(target);
      close(orig);
      return -1;
    }
  }
  int fd = socket(domain, type, protocol);
  *err = fd < 0 ? errno : 0, *call = "socket";
  if (ns != NULL) {
    if (setns(orig, CLONE_NEWNET) != 0) {
      fprintf(stderr, "cove addon: cannot return to the original network namespace: %s\n", strerror(errno));
      abort();
    }
    close(orig);
    close(target);
  }
  return fd;
}

// netlinkSocket(netnsPath: string | null, protocol: number): number — a netlink socket (fd)
// created inside the namespace at netnsPath (or the caller's own), with a 5 s receive timeout.
static napi_value js_netlink_socket(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char buf[NET_PATH_BUF];
  const char *ns = NULL;
  int32_t protocol = NETLINK_ROUTE;
  if (argc >= 1 && net_opt_string(env, argv[0], buf, sizeof buf, &ns) != 0) return NULL;
  if (argc >= 2) napi_get_value_int32(env, argv[1], &protocol);
  int err;
  const char *call;
  int fd = socket_in_netns(ns, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol, &err, &call);
  if (fd < 0) return throw_errno(env, err, call, ns);
  struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

// netnsStreamSocket(netnsPath: string, family: number): number — an unconnected, non-blocking
// stream socket (fd) of the family (AF_INET or AF_INET6) created inside the network namespace at
// netnsPath: a socket belongs to the namespace it was made in, so connecting it reaches the
// addresses of that namespace (a pod's loopback included) while the caller stays in its own.
static napi_value js_netns_stream_socket(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char buf[NET_PATH_BUF];
  const char *ns = NULL;
  int32_t family = AF_INET;
  if (argc < 2 || napi_get_value_int32(env, argv[1], &family) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "netnsStreamSocket(netnsPath: string, family: number)");
    return NULL;
  }
  if (net_opt_string(env, argv[0], buf, sizeof buf, &ns) != 0) return NULL;
  if (ns == NULL || (family != AF_INET && family != AF_INET6)) return throw_errno(env, EINVAL, "netnsStreamSocket", ns);
  int err;
  const char *call;
  int fd = socket_in_netns(ns, family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, &err, &call);
  if (fd < 0) return throw_errno(env, err, call, ns);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

// netlinkSend(fd: number, message: Buffer): void
static napi_value js_netlink_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  void *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_is_buffer(env, argv[1], &isbuf) != napi_ok || !isbuf) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "netlinkSend(fd: number, message: Buffer)");
    return NULL;
  }
  napi_get_buffer_info(env, argv[1], &data, &len);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t n;
  do n = sendto(fd, data, len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "sendto", NULL);
  return net_undefined(env);
}

// netlinkRecv(fd: number): Buffer — one datagram (blocks up to the socket's 5 s timeout).
static napi_value js_netlink_recv(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "netlinkRecv(fd: number)");
    return NULL;
  }
  static char rbuf[NL_RECV_BUF];
  ssize_t n;
  do n = recv(fd, rbuf, sizeof rbuf, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "recv", NULL);
  napi_value out;
  void *copy;
  napi_create_buffer_copy(env, (size_t)n, rbuf, &copy, &out);
  return out;
}

void cove_register_net(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"netnsCreate", NULL, js_netns_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkSocket", NULL, js_netlink_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netnsStreamSocket", NULL, js_netns_stream_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkSend", NULL, js_netlink_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkRecv", NULL, js_netlink_recv, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}

// Shared by the addon's source files: errors thrown the way Node's fs throws them, and the
// registration of the network part.
#ifndef COVE_ADDON_H
#define COVE_ADDON_H

#include <stdint.h>
#include <sys/types.h>

#include <node_api.h>

// Throws a Node-style errno error. Returns NULL so callers can `return throw_errno(...)`.
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path);

// Argument readers: 0 on success, -1 with a TypeError/RangeError pending. get_i64 takes
// undefined as 0 when optional is set.
int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what);
int get_opt_string(napi_env env, napi_value v, char *buf, size_t size, const char **out, const char *what);
int get_i64(napi_env env, napi_value v, int64_t *out, const char *what);
napi_value undefined(napi_env env);

// The names of a listxattr(2) buffer as a JS array.
napi_value xattr_names(napi_env env, const char *buf, ssize_t len);
// lgetxattr / llistxattr of path, retried while the value grows; shown names the file in errors.
napi_value xattr_get(napi_env env, const char *path, const char *name, const char *shown);
napi_value xattr_list(napi_env env, const char *path, const char *shown);

void cove_register_net(napi_env env, napi_value exports);

// The directory-fd relative file calls (fsat.c), with their constants under exports.at.
void cove_register_fsat(napi_env env, napi_value exports);

#endif

// Shared by the addon's source files: errors thrown the way Node's fs throws them, and the
// registration of the network part.
#ifndef COVE_ADDON_H
#define COVE_ADDON_H

#include <node_api.h>

// Throws a Node-style errno error. Returns NULL so callers can `return throw_errno(...)`.
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path);

void cove_register_net(napi_env env, napi_value exports);

// The directory-fd relative file calls (fsat.c), with their constants under exports.at.
void cove_register_fsat(napi_env env, napi_value exports);

#endif

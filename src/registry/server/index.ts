// Public entry of cove's registry server: the distribution API over the content store, its
// auth (htpasswd basic, bearer tokens from its own token endpoint) and its errors.

export { Authenticator, loadHtpasswd, parseHtpasswd, parseScope, type Access, type AuthMode } from "./auth.js";
export { bcryptVerify, isBcrypt } from "./bcrypt.js";
export { ERROR_STATUS, ServeError, type ErrorCode } from "./errors.js";
export { NAME_RE, Repositories, TAG_RE, type ManifestMeta } from "./repos.js";
export { RegistryServer, UPLOAD_INGEST_PREFIX, parseManifest, readTls, type LocalImages, type RegistryServerOptions } from "./server.js";

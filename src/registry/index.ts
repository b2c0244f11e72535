// Public entry of the registry client: a distribution client for one repository (manifests, blobs
// into the content store, tags), Docker's registry auth, and the registry's errors.

export {
  DOCKER_HUB_DOMAIN,
  DOCKER_HUB_REGISTRY,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  RepositoryClient,
  isLoopbackRegistry,
  registryBaseUrl,
  type BlobSink,
  type BlobTarget,
  type FetchBlobOptions,
  type FetchedManifest,
  type RegistryOptions,
  type RepositoryClientOptions,
} from "./client.js";
export { basicAuthorization, decodeRegistryAuth, encodeRegistryAuth, parseChallenges, type AuthConfig, type Challenge } from "./auth.js";
export { RegistryError, TokenRefusedError, codeText, entryText, parseErrorBody, tokenErrorText, type RegistryErrorEntry } from "./errors.js";
export { DEFAULT_SEARCH_LIMIT, checkSearchOptions, searchRegistry, splitSearchTerm, type SearchOptions, type SearchResult } from "./search.js";
export { limiter, type Limiter } from "./limit.js";
export { RegistryServer, UPLOAD_INGEST_PREFIX, loadHtpasswd, readTls, type AuthMode, type LocalImages, type RegistryServerOptions } from "./server/index.js";
export { login, loginDomain, type LoginResult } from "./login.js";
export { MirroredRepository, pullSource, type PullSource } from "./mirror.js";
export { DEFAULT_INSECURE_CIDRS, cidrContains, isInsecureRegistry, normalizeMirror, parseCIDR, registryConfigInfo, validateInsecureRegistry, type IndexInfo, type RegistryConfigInfo } from "./config.js";

// Compose: the loader (files → a normalized Project), the dependency graph, and the translation of
// services to Docker Engine API requests. The orchestration that sends those requests lives with
// the command line (src/cli/compose), where the API client is: compose's layer sits below the
// client's, so this folder stays free of any engine and the same model drives any Docker-compatible
// daemon.

export { loadProject, normalizeProjectName, DEFAULT_FILES, type LoadOptions } from "./loader.js";
export { interpolate, parseEnvFile, readEnvFile, type Env } from "./interpolate.js";
export { dependencyOrder, dependencies, dependents } from "./graph.js";
export { bindsGrant, configHash, configYaml, containerName, createBody, endpoint, projectLabels, LABEL, COMPOSE_VERSION } from "./convert.js";
export { shellSplit, parsePorts, parseVolumes, fileMode } from "./normalize.js";
export type * from "./model.js";

// Public entry of OCI config handling: loading and validating a bundle's config.json, the default
// spec `cove runtime spec` writes, the features document, and the Linux and Docker constants the
// rest of the runtime shares.

export { loadConfig, parseJson } from "./load.js";
export {
  validateSpec,
  validateBundleSpec,
  lsmWarnings,
  activeLsms,
  type ValidateOptions,
  type ValidatedBundle,
  type LsmState,
} from "./validate.js";
export { schemaProblems, type Problem, type SchemaName } from "./schema.js";
export { defaultSpec, type DefaultSpecOptions } from "./default.js";
export { features, type Features } from "./features.js";
export { boundingCapabilities, outsideBounding } from "./bounding.js";
export {
  CAPABILITIES,
  RLIMITS,
  NAMESPACE_TYPES,
  DOCKER_DEFAULT_CAPABILITIES,
  DOCKER_MASKED_PATHS,
  DOCKER_READONLY_PATHS,
  DOCKER_DEFAULT_DEVICE_RULES,
  ROOTFS_PROPAGATIONS,
  dockerMaskedPaths,
} from "./constants.js";

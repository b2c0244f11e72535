// The image model's JSON shapes: OCI descriptor, manifest, index and config (image-spec v1.1),
// and Docker's schema 2 manifest and manifest list, which share the same shapes. Field names are
// the on-the-wire JSON names, so a parsed object can be written back unchanged.

import type { Digest } from "../content/digest.js";
import type { ContainerConfig, HealthConfig } from "../docker/index.js";

/** The execution parameters of an image config ("config" in OCI config.md, plus Docker's) are Docker's ContainerConfig. */
export type { ContainerConfig, HealthConfig };

export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  /** Docker's manifest list only (deprecated there). */
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** An OCI image manifest or a Docker schema 2 manifest. */
export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image index or a Docker manifest list. */
export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface History {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface RootFS {
  type: "layers";
  diff_ids: Digest[];
}

/** An image config (OCI config.md, Docker image spec v1.2/1.3). Unknown fields are kept. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFS;
  history?: History[];
  // Docker's legacy fields, kept for `inspect`
  container?: string;
  container_config?: ContainerConfig;
  docker_version?: string;
  comment?: string;
  [extra: string]: unknown;
}

// Media types of the OCI image spec (media-types.md) and Docker's image manifest v2 schema 2
// (manifest-v2-2.md), with the few classifications the rest of cove needs.

export const MediaType = {
  // OCI
  OCIDescriptor: "application/vnd.oci.descriptor.v1+json",
  OCILayoutHeader: "application/vnd.oci.layout.header.v1+json",
  OCIIndex: "application/vnd.oci.image.index.v1+json",
  OCIManifest: "application/vnd.oci.image.manifest.v1+json",
  OCIConfig: "application/vnd.oci.image.config.v1+json",
  OCIEmpty: "application/vnd.oci.empty.v1+json",
  OCILayer: "application/vnd.oci.image.layer.v1.tar",
  OCILayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OCILayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OCILayerNonDistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OCILayerNonDistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OCILayerNonDistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  // Docker schema 2
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  DockerLayerForeign: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  DockerPluginConfig: "application/vnd.docker.plugin.v1+json",
  // Docker schema 1 (refused, recognized for the error message)
  DockerSchema1Manifest: "application/vnd.docker.distribution.manifest.v1+json",
  DockerSchema1SignedManifest: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

export type Compression = "none" | "gzip" | "zstd";

const MANIFESTS = new Set<string>([MediaType.OCIManifest, MediaType.DockerManifest]);
const INDEXES = new Set<string>([MediaType.OCIIndex, MediaType.DockerManifestList]);
const CONFIGS = new Set<string>([MediaType.OCIConfig, MediaType.DockerConfig]);
const LAYERS: Record<string, Compression> = {
  [MediaType.OCILayer]: "none",
  [MediaType.OCILayerGzip]: "gzip",
  [MediaType.OCILayerZstd]: "zstd",
  [MediaType.OCILayerNonDistributable]: "none",
  [MediaType.OCILayerNonDistributableGzip]: "gzip",
  [MediaType.OCILayerNonDistributableZstd]: "zstd",
  [MediaType.DockerLayer]: "none",
  [MediaType.DockerLayerGzip]: "gzip",
  [MediaType.DockerLayerZstd]: "zstd",
  [MediaType.DockerLayerForeign]: "gzip",
};

export const isManifestType = (mt: string): boolean => MANIFESTS.has(mt);
export const isIndexType = (mt: string): boolean => INDEXES.has(mt);
export const isConfigType = (mt: string): boolean => CONFIGS.has(mt);
export const isLayerType = (mt: string): boolean => mt in LAYERS;
export const isSchema1Type = (mt: string): boolean =>
  mt === MediaType.DockerSchema1Manifest || mt === MediaType.DockerSchema1SignedManifest;

/** Foreign / non-distributable layers: fetched from their URLs, never pushed. */
export const isForeignLayer = (mt: string): boolean =>
  mt === MediaType.DockerLayerForeign ||
  mt === MediaType.OCILayerNonDistributable ||
  mt === MediaType.OCILayerNonDistributableGzip ||
  mt === MediaType.OCILayerNonDistributableZstd;

/** How a layer of this media type is compressed; undefined for a type that is not a layer. */
export function layerCompression(mt: string): Compression | undefined {
  return LAYERS[mt];
}

// Image IDs and layer chain IDs.
//
// Docker's image ID is the digest of the image config blob's exact bytes (moby image/image.go:
// ID = digest.FromBytes(config)); re-serializing the JSON would change it, so always hash the
// bytes as stored. The chain ID of a layer stack is defined by OCI config.md ("Layer ChainID"):
//   ChainID(L0) = DiffID(L0)
//   ChainID(L0|...|Ln) = Digest(ChainID(L0|...|Ln-1) + " " + DiffID(Ln))

import { digestOf, validateDigest, type Digest } from "../content/digest.js";
import { invalid } from "../common/errors.js";

/** Docker's image ID: sha256 of the config blob bytes. */
export function imageID(configBytes: Uint8Array): Digest {
  return digestOf(configBytes, "sha256");
}

/** The chain IDs of every prefix of the layer stack: result[i] = ChainID(L0|...|Li). */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  diffIDs.forEach((d, i) => {
    validateDigest(d, `rootfs.diff_ids[${i}]`);
    out.push(i === 0 ? d : digestOf(`${out[i - 1]} ${d}`, "sha256"));
  });
  return out;
}

/** The chain ID of the whole layer stack (OCI config.md). Needs at least one layer. */
export function chainID(diffIDs: readonly Digest[]): Digest {
  if (diffIDs.length === 0) {
    throw invalid("cannot compute a chain ID of zero layers", { code: "image.no-layers", field: "rootfs.diff_ids" });
  }
  return chainIDs(diffIDs)[diffIDs.length - 1] as Digest;
}

/** Docker's short ID for display: the first 12 hex characters of the digest. */
export function shortID(id: Digest): string {
  const hex = id.includes(":") ? id.slice(id.indexOf(":") + 1) : id;
  return hex.slice(0, 12);
}

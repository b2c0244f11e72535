// `docker commit` and `docker container prune`: the pure parts. The new image's config is the
// request's config (else the container's) with the Dockerfile `changes` applied, its gaps filled
// from the container's config as dockerd's merge does; prune's label filters.

import { applyChanges } from "../images/archive/changes.js";
import { mergeConfig } from "./spec.js";
import type { ContainerConfig } from "./types.js";

export interface CommitOptions {
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  /** Freeze the container while its layer is read (default true). */
  pause?: boolean;
  /** Dockerfile instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR). */
  changes?: string[];
  /** The request body's config; the container's when absent. */
  config?: ContainerConfig | null;
  /**
   * The image's config exactly as `config` gives it, no gaps filled from the container's (the
   * builder's: a RUN container's command is not the image's). Needs `config`.
   */
  exactConfig?: boolean;
  /** The history entry's created_by (default: the container's command, as docker commit). */
  createdBy?: string;
  /**
   * The image's container_config in place of the container's own config (the builder's: a RUN
   * container's environment may hold secrets that must not be kept in the image).
   */
  containerConfig?: ContainerConfig;
  /** Record the container's image as the new image's Parent (the builder's steps). */
  recordParent?: boolean;
}

/** The bytes of an empty tar (the end-of-archive marker alone): a commit with no changes. */
export const END_OF_ARCHIVE_SIZE = 1024;

/**
 * The committed image's config: the request's config (empty when none was sent, as the docker CLI
 * sends none) with the changes applied, then what it leaves unset taken from the container's
 * config (user, env, labels, ports, cmd/entrypoint, working dir, healthcheck, ...). The
 * container's own settings (hostname, terminal, stdin) do not go into the image.
 */
export function commitConfig(base: ContainerConfig | null | undefined, changes: string[], container: ContainerConfig): ContainerConfig {
  const lines = changes.flatMap((c) => c.split("\n")).filter((l) => l.trim() !== "");
  const changed = applyChanges(structuredClone(base ?? {}), lines);
  return mergeConfig(changed, container);
}

/** label=k / label=k=v must all match; label!=k / label!=k=v must all not match. */
export function matchLabels(labels: Record<string, string>, want: string[], notWant: string[]): boolean {
  const has = (l: string) => {
    const eq = l.indexOf("=");
    return eq < 0 ? l in labels : labels[l.slice(0, eq)] === l.slice(eq + 1);
  };
  return want.every(has) && !notWant.some(has);
}

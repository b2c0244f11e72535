// The image shapes of the Docker Engine API (v1.47): list, inspect, history, remove and prune.

import type { ContainerConfig } from "./containers.js";

/** An item of GET /images/json. */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  /** Unix seconds. */
  Created: number;
  /** Bytes. */
  Size: number;
  /** -1 unless asked for (shared-size=1 or /system/df). */
  SharedSize: number;
  /** API < 1.44 only. */
  VirtualSize?: number;
  Labels: Record<string, string>;
  /** -1 unless counted (/system/df). */
  Containers: number;
}

/** GET /images/{name}/json. */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  DockerVersion: string;
  Author: string;
  /** The container a commit was made from (API < 1.45; absent when none). */
  Container?: string;
  /** That container's config, every field present (API < 1.45). */
  ContainerConfig?: ContainerConfig;
  /** Every field present, as dockerd shows it: "" or false, and null for absent lists. */
  Config: ContainerConfig;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  Size: number;
  /** API < 1.44 only. */
  VirtualSize?: number;
  GraphDriver: { Name: string; Data: Record<string, string> };
  RootFS: { Type: "layers"; Layers: string[] };
  Metadata: { LastTagTime: string };
}

/** An item of GET /images/{name}/history, newest first. */
export interface ImageHistoryItem {
  Id: string;
  /** Unix seconds. */
  Created: number;
  CreatedBy: string;
  Tags: string[];
  Size: number;
  Comment: string;
}

/** An item of GET /images/search (field order as dockerd sends them). */
export interface ImageSearchResult {
  star_count: number;
  is_official: boolean;
  name: string;
  /** Deprecated by Docker: always false. */
  is_automated: boolean;
  description: string;
}

/** One line of DELETE /images/{name} and of prune's ImagesDeleted. */
export interface ImageDeleteItem {
  Untagged?: string;
  Deleted?: string;
}

/** POST /images/prune. */
export interface ImagePruneResponse {
  ImagesDeleted: ImageDeleteItem[] | null;
  SpaceReclaimed: number;
}

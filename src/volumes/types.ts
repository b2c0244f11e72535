// Docker's volume JSON (Engine API v1.47 Volume, VolumeListResponse, VolumePruneResponse, defined
// in src/docker) and the events the volume service publishes.

export type { Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse, VolumeUsage } from "../docker/index.js";

export interface VolumeEvent {
  Type: "volume";
  Action: "create" | "mount" | "unmount" | "destroy" | "prune";
  Actor: { ID: string; Attributes: Record<string, string> };
}

/** The label Docker 23+ puts on anonymous volumes; prune without all=true removes only these. */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

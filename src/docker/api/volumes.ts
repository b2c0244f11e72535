// The volume shapes of the Docker Engine API (v1.47): Volume, VolumeListResponse,
// VolumeCreateRequest and VolumePruneResponse.

export interface VolumeUsage {
  /** Bytes used under the volume's data directory; -1 when not computed. */
  Size: number;
  /** Containers referring to the volume; -1 when not computed. */
  RefCount: number;
}

export interface Volume {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: "local";
  Status?: Record<string, unknown>;
  UsageData?: VolumeUsage | null;
}

export interface VolumeCreateRequest {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export interface VolumeListResponse {
  Volumes: Volume[];
  Warnings: string[] | null;
}

export interface VolumePruneResponse {
  VolumesDeleted: string[] | null;
  SpaceReclaimed: number;
}

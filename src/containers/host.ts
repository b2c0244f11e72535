// The seams of the container service: what it asks of the machine directly (ContainerHost), and
// the part of the network service it uses (ContainerNetwork), with NullNetwork for an engine
// without networking. A unit test passes fakes for both (see testing.ts) and runs the lifecycle
// without root.

import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { isErrno, unsupported } from "../common/errors.js";
import { bestEffortSync } from "../common/ignore.js";
import { endpointSettings } from "../docker/index.js";
import type { NetworkService } from "../network/index.js";
import { IDMAP_UNSUPPORTED, mountIdmapped, mountSnapshot, storageDriver, unmountAll, type IdmapText, type Mount as SnapshotMount } from "../snapshots/index.js";
import type { EndpointSettings, NetworkSettings } from "./types.js";

/** The host operations the container service performs itself (the rest goes through the runtime). */
export interface ContainerHost {
  /** 2 on a pure cgroup v2 host, 1 on a v1 or hybrid one. */
  cgroupVersion(): 1 | 2;
  /** Whether p is a mount point (a missing path is not). */
  isMountpoint(p: string): Promise<boolean>;
  /**
   * Mounts a snapshot's mounts (as prepareRootfs described them) on target; with idmap, its
   * image layers seen through that user namespace's mapping (staging: a directory of the
   * daemon's for the layers' idmapped mounts while the overlay is made). A rootless daemon on
   * fuse-overlayfs mounts overlays with it (a process that lives until the target is unmounted).
   */
  mount(mounts: SnapshotMount[], target: string, idmap?: { text: IdmapText; staging: string }): void | Promise<void>;
  /** Detaches whatever is mounted on target (lazily); nothing mounted is no error. */
  unmount(target: string): void;
}

/** A text file under /proc/<pid>; "" once the process has exited (its directory is gone); anything else fails. */
export async function readProcFile(p: string): Promise<string> {
  try {
    return await readFile(p, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT", "ESRCH")) return "";
    throw err;
  }
}

export async function isMountpoint(p: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([stat(p), stat(path.dirname(p))]);
    return a.dev !== b.dev || a.ino === b.ino;
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return false; // nothing there: nothing mounted
    throw err;
  }
}

/** This machine. */
export const realHost: ContainerHost = {
  cgroupVersion: () => (existsSync("/sys/fs/cgroup/cgroup.controllers") ? 2 : 1),
  isMountpoint,
  mount: (mounts, target, idmap) => {
    if (!idmap) return mountSnapshot(mounts, target);
    // fuse-overlayfs takes no idmapped layers: the caller falls back to chowned copies
    if (storageDriver().driver === "fuse-overlayfs") throw unsupported("the fuse-overlayfs storage driver mounts no idmapped layers", { code: IDMAP_UNSUPPORTED });
    mountIdmapped(mounts, target, idmap.text, idmap.staging);
  },
  unmount: (target) => {
    // nothing mounted is no error for unmountAll already: what it throws is a real failure
    bestEffortSync(`unmount ${target}`, () => unmountAll(target, 2 /* MNT_DETACH */));
  },
};

/** What the container service uses of the network service. */
export type ContainerNetwork = Pick<
  NetworkService,
  "attach" | "setUp" | "tearDown" | "forget" | "reconcile" | "rename" | "sandbox" | "settings" | "addressOn" | "containerFiles" | "tryFind"
>;

/**
 * The network of an engine without networking: containers get a loopback only (in their own
 * network namespace, or the host's), the default modes are accepted, user-defined networks are
 * refused, and inspect shows the mode's network without addresses.
 */
export class NullNetwork implements ContainerNetwork {
  /** pidOf gives a container's init pid (for the SandboxKey inspect shows). */
  constructor(private readonly pidOf: (containerId: string) => number | undefined = () => undefined) {}

  attach(_containerId: string, mode: string): Promise<void> {
    if (!["bridge", "none", "host"].includes(mode) && !mode.startsWith("container:")) {
      return Promise.reject(unsupported(`network ${mode} is not available: this engine runs without networking`, { code: "container.network-unsupported" }));
    }
    return Promise.resolve();
  }

  setUp(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  tearDown(): Promise<void> {
    return Promise.resolve();
  }

  forget(): Promise<void> {
    return Promise.resolve();
  }

  reconcile(): Promise<void> {
    return Promise.resolve();
  }

  rename(): void {}

  sandbox(): undefined {
    return undefined;
  }

  addressOn(): undefined {
    return undefined;
  }

  tryFind(): undefined {
    return undefined;
  }

  containerFiles(): { hostsEntries: string[]; nameservers: string[] } {
    return { hostsEntries: [], nameservers: [] };
  }

  settings(containerId: string, mode: string): NetworkSettings {
    const networks: Record<string, EndpointSettings> = {};
    if (!mode.startsWith("container:")) networks[mode] = endpointSettings();
    const pid = this.pidOf(containerId);
    return {
      Bridge: "",
      SandboxID: "",
      SandboxKey: pid && mode !== "host" ? `/proc/${pid}/ns/net` : "",
      HairpinMode: false,
      LinkLocalIPv6Address: "",
      LinkLocalIPv6PrefixLen: 0,
      Ports: {},
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: "",
      Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      IPAddress: "",
      IPPrefixLen: 0,
      IPv6Gateway: "",
      MacAddress: "",
      Networks: networks,
    };
  }
}

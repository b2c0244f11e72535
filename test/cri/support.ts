// What the CRI tests' daemons leave on the host by design, removed after them: the network
// service's bridge and firewall chains (its uninstall on the daemon's root) and every mount under
// the exec root (the namespace directory's bind mount), then the exec root itself.

import { rm } from "node:fs/promises";
import path from "node:path";
import { NetworkService } from "../../src/network/index.js";
import { addon } from "../../src/native/addon.js";
import { mountsUnder } from "../support/dockerd.js";

export async function removeDaemonLeftovers(d: { root: string; execRoot: string; bridge?: string; bip?: string }): Promise<void> {
  if (d.bridge && d.bip) {
    const net = await NetworkService.open({ root: d.root, netnsDir: path.join(d.execRoot, "netns"), defaultBridge: { name: d.bridge, subnet: d.bip }, log: () => undefined });
    await net.uninstall();
    net.close();
  }
  if (!d.execRoot) return;
  for (const m of await mountsUnder(d.execRoot)) {
    try {
      addon().umount2(m, addon().constants.MNT_DETACH);
    } catch {
      // gone already: the rest still comes off
    }
  }
  await rm(d.execRoot, { recursive: true, force: true });
}

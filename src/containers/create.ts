// Creating containers: the create body merged with the image, names, volumes (copy-up included), network attachment and the network files.

import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import path from "node:path";
import { conflict, CoveError, fromErrno, invalid, isErrno, notFound, unsupported } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { span } from "../common/trace.js";
import { replaceFile, settleAll, writeFileAtomic } from "../common/fs.js";
import { type ImageService } from "../images/service.js";
import { Dir } from "../fsroot/index.js";
import { copyTree, isEmptyDir } from "../volumes/index.js";
import { linkEnv, parseLink } from "./links.js";
import { ociMount, planMounts, tmpfsFlagMounts, type MountEntry } from "./mounts.js";
import { generateName, VALID_NAME } from "./names.js";
import { buildSpec, commandOf, hostnameOf, hostsFile, mergeConfig, networkResolvConf, normalizeNetworkMode, NO_NETWORK_WARNING, resolvConfFile, withHostConfigDefaults, type ContainerMounts } from "./spec.js";
import type { CreateBody, HostConfig } from "./types.js";
import { ContainerRecord, CreateResult, Live, RUNTIME_NAMES, ZERO_TIME, newId, nowIso } from "./core.js";
import { checkLogConfig } from "./log-config.js";
import { overlayDirs } from "./rootfs.js";
import { allocateRange, checkUsernsCombination, hostRanges, parseUsernsMode, rootOwner, type IdMap, type UsernsMode } from "./userns.js";
import type { ContainerCore } from "./core.js";
import { storageDriver } from "../snapshots/index.js";

export class Creator {
  constructor(private readonly core: ContainerCore) {}

  async create(body: CreateBody, opts: { name?: string; platform?: string } = {}): Promise<CreateResult> {
    if (this.core.closed) throw new CoveError("unavailable", "the container service is closed");
    const { HostConfig: hostConfig, NetworkingConfig: networking, ...userConfig } = body;
    if (!userConfig.Image) throw invalid("no image specified: config.Image is empty", { code: "container.no-image", field: "Image" });
    let name: string;
    if (opts.name) {
      if (!VALID_NAME.test(opts.name)) throw invalid(`Invalid container name (${opts.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { code: "container.name-invalid" });
      name = opts.name.startsWith("/") ? opts.name : `/${opts.name}`;
      this.checkNameFree(name);
    } else {
      name = `/${generateName()}`;
      for (let i = 1; this.core.names.has(name); i++) name = `/${generateName(i)}`;
    }
    const hc = withHostConfigDefaults(hostConfig, this.core.cgroupVersion);
    const warnings: string[] = [];
    if (hc.OomKillDisable) {
      // moby's verifyPlatformContainerResources: cgroup v2 has no switch for the OOM killer
      if (this.core.cgroupVersion === 2) {
        warnings.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.");
        hc.OomKillDisable = false;
      } else if (!hc.Memory) {
        warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.");
      }
    }
    const limits = this.core.cgroupless !== undefined ? resourceLimitFlags(hc) : [];
    if (limits.length > 0) warnings.push(`Resource limits are not supported and ignored on this rootless daemon (${limits.join(", ")} discarded): ${this.core.cgroupless}`);
    checkLogConfig(hc.LogConfig?.Type ?? "json-file", hc.LogConfig?.Config ?? {});
    if (!this.core.networked && hc.PortBindings && Object.keys(hc.PortBindings).length > 0) warnings.push("cove: port publishing is not available without networking; published ports are ignored");
    if (hc.RestartPolicy?.Name && !["no", "always", "unless-stopped", "on-failure"].includes(hc.RestartPolicy.Name)) {
      throw invalid(`invalid restart policy '${hc.RestartPolicy.Name}'`, { code: "container.restart-policy" });
    }
    if (hc.AutoRemove && hc.RestartPolicy?.Name && hc.RestartPolicy.Name !== "no") {
      throw invalid("can't create 'AutoRemove' container with restart policy", { code: "container.restart-policy" });
    }
    // a container that names no runtime gets the daemon's default (daemon.json's default-runtime),
    // recorded in its HostConfig so that it keeps it
    if (!hc.Runtime && this.core.defaultRuntime !== "cove") hc.Runtime = this.core.defaultRuntime;
    if (!(RUNTIME_NAMES as readonly string[]).includes(hc.Runtime ?? "cove")) throw invalid(`unknown or invalid runtime name: ${hc.Runtime}`, { code: "container.runtime" });
    if (hc.Runtime === "runc" && !this.core.runtimes.has("runc")) throw invalid("unknown or invalid runtime name: runc (runc is not installed)", { code: "container.runtime", hint: "install runc (apt-get install runc)" });
    const usernsMode = parseUsernsMode(hc.UsernsMode);
    const id = newId();
    const endCreate = span("create", id);
    const dir = path.join(this.core.containersDir(), id);
    // a placeholder claims the name while the rootfs is prepared
    this.core.names.set(name, id);
    let entries: MountEntry[] = [];
    let createdVolumes: string[] = [];
    let prepared: Awaited<ReturnType<ImageService["prepareRootfs"]>> | undefined;
    try {
      // decided (and its ids taken) before anything is made, so a refusal leaves nothing behind
      const userns = this.chooseUserns(id, usernsMode, hc);
      const endSnapshot = span("create.snapshot", id);
      // a --rm container is worth nothing after a crash (the restore removes it): its snapshot
      // and record are written without waiting for the disk
      prepared = await this.core.images.prepareRootfs(id, userConfig.Image, { volatile: !!hc.AutoRemove });
      endSnapshot();
      // the container's root owns its writable layer (the layers below are idmapped at mount)
      if (userns) {
        const upper = overlayDirs(prepared.mounts).UpperDir;
        const owner = rootOwner(userns);
        if (upper) await chown(upper, owner.uid, owner.gid);
      }
      const imageConfig = prepared.config.config;
      const config = mergeConfig(userConfig, imageConfig);
      // `--entrypoint ''` (Entrypoint [""] or ""): the image's entrypoint is cleared, as moby's mergeAndVerifyConfig does
      if (config.Entrypoint?.length === 1 && config.Entrypoint[0] === "") config.Entrypoint = null;
      config.Image = userConfig.Image;
      config.Hostname = normalizeNetworkMode(hc.NetworkMode) === "host" && !config.Hostname ? osHostname() : hostnameOf(id, config);
      config.Domainname ??= "";
      config.User ??= "";
      config.AttachStdin ??= false;
      config.AttachStdout ??= false;
      config.AttachStderr ??= false;
      config.Tty ??= false;
      config.OpenStdin ??= false;
      config.StdinOnce ??= false;
      // no environment from the image or the request: null, as dockerd shows it
      if (!config.Env?.length) config.Env = null;
      config.Cmd ??= null;
      config.Entrypoint ??= null;
      config.WorkingDir ??= "";
      config.OnBuild ??= null;
      const cmd = commandOf(config);
      // validate the spec now so a bad option fails at create, as dockerd's verifyContainerSettings does
      const mountsOf = (ref: string) => {
        try {
          return this.core.find(ref).rec.MountPoints;
        } catch (err) {
          // a bad --volumes-from is the request's fault (400), not a missing image the client should pull
          if (err instanceof CoveError && err.kind === "not-found") throw invalid(err.message, { code: "container.volumes-from", field: "HostConfig.VolumesFrom" });
          throw err;
        }
      };
      entries = planMounts({ hostConfig: hc, volumes: config.Volumes ?? null, mountsOf, daemonRoot: path.resolve(this.core.root) });
      const mounts: ContainerMounts = { mounts: [...entries.map((e) => ociMount(e, "/")), ...tmpfsFlagMounts(hc)], points: [], create: [] };
      const probe = buildSpec({
        id,
        config,
        hostConfig: hc,
        rootfs: "/",
        files: { hostname: "/", hosts: "/", resolvConf: "/" },
        user: { uid: 0, gid: 0, additionalGids: [], home: "/" },
        cgroupVersion: this.core.cgroupVersion,
        cgroupParent: this.core.cgroupParent,
        initPath: this.core.initPath,
        join: { network: "/", pid: "/", ipc: "/", uts: "/" },
        mounts,
        hostDevices: () => [],
        ...(userns ? { userns } : {}),
      });
      warnings.push(...probe.warnings);
      if (!this.core.networked && normalizeNetworkMode(hc.NetworkMode) === "bridge") warnings.push(NO_NETWORK_WARNING);
      for (const mode of [hc.NetworkMode, hc.PidMode, hc.IpcMode, hc.UTSMode]) {
        if (mode?.startsWith("container:")) this.core.find(mode.slice("container:".length));
      }
      createdVolumes = await this.createVolumes(id, entries, userns);
      await mkdir(dir, { mode: 0o710 });
      await mkdir(path.join(dir, "rootfs"), { mode: 0o755 });
      if (userns) await this.openToUserns(dir, userns);
      const sec = (hc.SecurityOpt ?? []).find((o) => o.startsWith("apparmor=") || o.startsWith("apparmor:"));
      const rec: ContainerRecord = {
        ID: id,
        Created: nowIso(),
        Path: cmd.path,
        Args: cmd.args,
        Config: config,
        Image: prepared.imageId,
        Name: name,
        RestartCount: 0,
        Driver: storageDriver().driver,
        Platform: "linux",
        MountLabel: "",
        ProcessLabel: "",
        AppArmorProfile: sec ? sec.slice("apparmor=".length) : "",
        State: {
          Status: "created",
          Running: false,
          Paused: false,
          Restarting: false,
          OOMKilled: false,
          Dead: false,
          Pid: 0,
          ExitCode: 0,
          Error: "",
          StartedAt: ZERO_TIME,
          FinishedAt: ZERO_TIME,
        },
        HasBeenStartedBefore: false,
        HasBeenManuallyStopped: false,
        MountPoints: entries,
        RootfsMounts: prepared.mounts,
        ...(userns ? { UserNamespace: userns } : {}),
      };
      const c = this.core.newLive(rec, hc);
      await this.copyUp(c);
      const mode = normalizeNetworkMode(hc.NetworkMode);
      const endAttach = span("create.network", id);
      await this.core.network.attach(id, mode, (networking?.EndpointsConfig ?? {}) as Record<string, never>);
      endAttach();
      // independent files: their fsyncs overlap instead of queueing
      const endRecord = span("create.record", id);
      await settleAll([this.writeNetworkFiles(c), writeFile(path.join(dir, "container.log"), "", { mode: 0o640 }), this.core.save(c)]);
      endRecord();
      this.core.containers.set(id, c);
      this.core.pendingUserns.delete(id);
      this.core.event(c, "create");
      endCreate();
      return { Id: id, Warnings: warnings };
    } catch (err) {
      this.core.pendingUserns.delete(id);
      this.core.names.delete(name);
      await this.core.bestEffort(`forget the network endpoints of failed create ${id}`, this.core.network.forget(id));
      await this.core.bestEffort(`remove the directory of failed create ${id}`, rm(dir, { recursive: true, force: true }));
      if (prepared) await this.core.bestEffort(`remove the rootfs of failed create ${id}`, this.core.images.removeRootfs(id));
      for (const e of entries) if (e.Type === "volume" && e.Name) this.core.volumes.dereference(e.Name, id);
      for (const v of createdVolumes) await this.core.bestEffort(`remove volume ${v} of failed create ${id}`, this.core.volumes.remove(v, { force: true }));
      throw err;
    }
  }

  /**
   * Creates the volumes the mount points name (anonymous ones get a name) and references them for
   * the container at once; returns the ones made here.
   */
  async createVolumes(id: string, entries: MountEntry[], userns?: IdMap): Promise<string[]> {
    const made: string[] = [];
    try {
      for (const e of entries) {
        if (e.Type !== "volume") continue;
        const { volume, created } = await this.core.volumes.createFor(
          id,
          { ...(e.Name ? { Name: e.Name } : {}), Driver: e.Driver || "local", ...(e.VolumeDriverOpts ? { DriverOpts: e.VolumeDriverOpts } : {}), ...(e.VolumeLabels ? { Labels: e.VolumeLabels } : {}) },
          { anonymous: !e.Name },
        );
        if (created) made.push(volume.Name);
        e.Name = volume.Name;
        e.Source = volume.Mountpoint;
        // a volume made for a container in a user namespace belongs to its root, as with dockerd
        if (created && userns) {
          const owner = rootOwner(userns);
          await chown(volume.Mountpoint, owner.uid, owner.gid);
        }
      }
      return made;
    } catch (err) {
      for (const e of entries) if (e.Type === "volume" && e.Name) this.core.volumes.dereference(e.Name, id);
      for (const v of made) await this.core.bestEffort(`remove volume ${v} of failed create ${id}`, this.core.volumes.remove(v, { force: true }));
      throw err;
    }
  }

  /** Copies the image's content at each volume's destination into the volume while it is empty (Docker does it at create). */
  async copyUp(c: Live): Promise<void> {
    const wanted = c.rec.MountPoints.filter((e) => e.Type === "volume" && e.CopyData && e.Name && !e.Subpath);
    if (wanted.length === 0) return;
    const rootfs = await this.core.mountRootfs(c);
    try {
      // the image's tree and the volume are read and written through directory handles only
      const root = Dir.open(rootfs);
      try {
        for (const e of wanted) {
          let src: Dir;
          try {
            src = root.dirInRoot(e.Destination);
          } catch (err) {
            if (err instanceof CoveError) throw err; // no openat2: nothing here is safe
            // missing, or not a directory in the image: nothing to copy; anything else is logged,
            // and the volume starts empty
            if (!isErrno(err, "ENOENT", "ENOTDIR")) ignored(`open ${e.Destination} in the image of container ${c.rec.ID} to copy it into volume ${e.Name}`, err, this.core.log);
            continue;
          }
          try {
            const holder = `copy-up:${c.rec.ID}`;
            const dst = await this.core.volumes.acquire(e.Name!, holder, { destination: e.Destination, rw: true, propagation: "" }, true);
            try {
              await this.core.volumes.serialCopyUp(e.Name!, () =>
                Dir.with(dst, async (vol) => {
                  // a copy a crash cut short left part of the image's content: start it again
                  if (this.core.volumes.copyUpUnfinished(e.Name!)) for (const name of vol.list()) vol.removeAll(name);
                  if (!isEmptyDir(vol)) return;
                  await this.core.volumes.beginCopyUp(e.Name!);
                  await copyTree(src, vol);
                  await this.core.volumes.endCopyUp(e.Name!);
                }),
              );
            } finally {
              await this.core.volumes.release(e.Name!, holder, true);
            }
          } finally {
            src.close();
          }
        }
      } finally {
        root.close();
      }
    } finally {
      this.core.unmountRootfs(c);
    }
  }

  /**
   * The user namespace a new container gets: none for --userns=host, the daemon's remapping for
   * no --userns, a range of its own for --userns=auto (recorded as pending until the container
   * exists, so concurrent creates never share ids). Docker's rules for privileged and host
   * namespaces are checked first.
   */
  chooseUserns(id: string, mode: UsernsMode, hc: HostConfig): IdMap | undefined {
    if (mode.kind === "host") return undefined;
    const settings = this.core.userns;
    const combination = { Privileged: !!hc.Privileged, NetworkMode: normalizeNetworkMode(hc.NetworkMode), PidMode: hc.PidMode ?? "" };
    if (mode.kind === "default") {
      if (!settings?.remap) return undefined;
      checkUsernsCombination(combination);
      return structuredClone(settings.remap);
    }
    if (!settings) {
      throw unsupported("--userns=auto needs subordinate ids for containers: this daemon runs without --userns-remap", {
        code: "container.userns-auto",
        hint: "start the daemon with --userns-remap=default (it makes the cove-remap account and its /etc/subuid and /etc/subgid ranges)",
      });
    }
    checkUsernsCombination(combination);
    const taken = [...[...this.core.containers.values()].map((c) => c.rec.UserNamespace), ...this.core.pendingUserns.values()].filter((m): m is IdMap => m !== undefined);
    const uids = allocateRange(settings.pool.uids, taken.flatMap((m) => hostRanges(m.uidMappings)), mode.size);
    const gids = allocateRange(settings.pool.gids, taken.flatMap((m) => hostRanges(m.gidMappings)), mode.size);
    if (!uids || !gids) {
      throw unsupported(`--userns=auto: no ${mode.size} free subordinate ${uids ? "gids" : "uids"} are left in the ranges of ${settings.account} (other containers hold them)`, {
        code: "container.userns-exhausted",
        hint: `remove containers that use --userns=auto, ask for fewer ids (--userns=auto:size=N), or give ${settings.account} more ids in /etc/subuid and /etc/subgid`,
      });
    }
    const map: IdMap = { uidMappings: [{ containerID: 0, hostID: uids.start, size: mode.size }], gidMappings: [{ containerID: 0, hostID: gids.start, size: mode.size }] };
    this.core.pendingUserns.set(id, map);
    return map;
  }

  /**
   * The runtime reaches the rootfs and the container's files from inside the user namespace, as
   * its root: the container's directory is given to that root's group (0710, as dockerd gives its
   * remapped root's), and the containers' directory lets anyone through (0711: no listing).
   */
  async openToUserns(dir: string, userns: IdMap): Promise<void> {
    await chown(dir, 0, rootOwner(userns).gid);
    const parent = this.core.containersDir();
    const st = await stat(parent);
    if ((st.mode & 0o001) === 0) await chmod(parent, (st.mode & 0o7777) | 0o001);
  }

  checkNameFree(name: string): void {
    const holder = this.core.names.get(name);
    if (holder) {
      throw conflict(`Conflict. The container name "${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`, {
        code: "container.name-conflict",
      });
    }
  }

  /**
   * Writes the container's hostname, hosts and resolv.conf files. inPlace rewrites them in their
   * own inodes, for a running container whose /etc files are bind mounts of them.
   */
  async writeNetworkFiles(c: Live, inPlace = false): Promise<void> {
    const mode = normalizeNetworkMode(c.hc.NetworkMode);
    // a missing file gets the defaults (as a host without /etc/resolv.conf); an unreadable one is an error
    const readHost = (f: string) =>
      readFile(f, "utf8").catch((err: unknown) => {
        if (isErrno(err, "ENOENT")) return undefined;
        throw fromErrno(err, `reading ${f} for container ${c.rec.ID}`);
      });
    let hosts: string;
    let resolv: string;
    const other = mode.startsWith("container:") ? this.core.find(mode.slice("container:".length)) : undefined;
    if (other) {
      hosts = (await readHost(path.join(other.dir, "hosts"))) ?? hostsFile("none", undefined);
      resolv = (await readHost(path.join(other.dir, "resolv.conf"))) ?? resolvConfFile("none", undefined, c.hc);
    } else if (this.core.networked && mode !== "host" && mode !== "none") {
      const net = this.core.network.containerFiles(c.rec.ID, c.rec.Config.Hostname ?? "");
      const gateway = this.core.network.tryFind("bridge")?.IPAM.Config?.[0]?.Gateway;
      const extra = (c.hc.ExtraHosts ?? []).map((h) => (h.endsWith(":host-gateway") && gateway ? `${h.slice(0, -"host-gateway".length)}${gateway}` : h));
      hosts = hostsFile(mode, undefined, extra, [...this.linkEntries(c), ...net.hostsEntries]);
      resolv = networkResolvConf(await readHost("/etc/resolv.conf"), c.hc, net.nameservers[0]);
    } else {
      hosts = hostsFile(mode, await readHost("/etc/hosts"), c.hc.ExtraHosts ?? []);
      resolv = resolvConfFile(mode, await readHost("/etc/resolv.conf"), c.hc);
    }
    const owner = c.rec.UserNamespace ? rootOwner(c.rec.UserNamespace) : undefined;
    // a --rm container's files need not survive a crash (core.save says why)
    const put = inPlace ? (f: string, text: string) => writeFile(f, text) : c.hc.AutoRemove ? replaceFile : writeFileAtomic;
    const write = async (f: string, text: string) => {
      await put(f, text);
      // root in a user namespace may rewrite them, as root elsewhere
      if (owner) await chown(f, owner.uid, owner.gid);
    };
    await settleAll([write(path.join(c.dir, "hostname"), `${c.rec.Config.Hostname}\n`), write(path.join(c.dir, "hosts"), hosts), write(path.join(c.dir, "resolv.conf"), resolv)]);
  }

  /** The containers c links to (legacy --link on the default bridge) that exist, with their full link names (/parent/alias). */
  links(c: Live): { child: Live; linkName: string; index: number }[] {
    const out: { child: Live; linkName: string; index: number }[] = [];
    (c.hc.Links ?? []).forEach((link, index) => {
      const { target, alias } = parseLink(link);
      let child: Live;
      try {
        child = this.core.find(target);
      } catch (err) {
        // the linked container is gone (or its name now ambiguous): no link to it
        if (err instanceof CoveError && (err.kind === "not-found" || err.kind === "invalid")) return;
        throw err;
      }
      out.push({ child, linkName: `${c.rec.Name}/${alias}`, index });
    });
    return out;
  }

  /**
   * After a running container joined a network: once it is on a network the embedded DNS serves,
   * its resolv.conf names that server (Docker's container on the default bridge switches to
   * 127.0.0.11 at `docker network connect`), keeping its --dns-search and --dns-option; its --dns
   * servers become the embedded DNS's upstreams. The file is rewritten in place, since the
   * container has it bind-mounted; one that names the embedded DNS already is left alone, and so
   * is the file after a disconnect (as Docker's, until the next start).
   */
  async useEmbeddedDns(c: Live): Promise<void> {
    const mode = normalizeNetworkMode(c.hc.NetworkMode);
    if (!this.core.networked || mode === "host" || mode === "none" || mode.startsWith("container:")) return;
    await this.core.exclusive(c, async () => {
      if (!c.rec.State.Running) return; // the next start writes the files afresh
      const embedded = this.core.network.containerFiles(c.rec.ID, c.rec.Config.Hostname ?? "").nameservers;
      if (embedded.length === 0) return;
      const file = path.join(c.dir, "resolv.conf");
      const current = await readFile(file, "utf8");
      const named = current.split("\n").map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]);
      if (named.some((ns) => ns !== undefined && embedded.includes(ns))) return;
      const host = await readFile("/etc/resolv.conf", "utf8").catch(() => undefined);
      await writeFile(file, networkResolvConf(host, c.hc, embedded[0]));
    });
  }

  /** /etc/hosts lines for legacy --link name[:alias] on the default bridge: "<ip>\t<alias> <short id> <name>". */
  linkEntries(c: Live): string[] {
    const out: string[] = [];
    for (const { child: other, linkName } of this.links(c)) {
      const ip = this.core.network.addressOn(other.rec.ID, "bridge");
      if (!ip) continue;
      const alias = linkName.slice(linkName.lastIndexOf("/") + 1);
      const name = other.rec.Name.slice(1);
      out.push(`${ip}\t${[...new Set([alias, other.rec.ID.slice(0, 12), name])].join(" ")}`);
    }
    return out;
  }

  /**
   * The environment legacy links give c's processes (moby's setupLinkedContainers): for each
   * linked container on the default bridge, its address, ports, link name and config env. Only
   * a container that is itself on the default bridge gets them.
   */
  linkEnv(c: Live): string[] {
    if (!this.core.network.addressOn(c.rec.ID, "bridge")) return [];
    const env: string[] = [];
    for (const { child, linkName } of this.links(c)) {
      const ip = this.core.network.addressOn(child.rec.ID, "bridge");
      if (!ip) continue;
      env.push(...linkEnv(linkName, ip, child.rec.Config.Env, child.rec.Config.ExposedPorts));
    }
    return env;
  }

  /**
   * `docker rm --link /parent/alias`: removes the link from the parent, and its entry from the
   * parent's /etc/hosts (a running parent keeps the variables its processes have); the linked
   * container stays. As dockerd, a name without a parent is
   * the container's own name, which cannot be removed this way.
   */
  async removeLink(ref: string): Promise<void> {
    const full = ref.startsWith("/") ? ref : `/${ref}`;
    const slash = full.lastIndexOf("/");
    if (slash === 0) {
      this.core.find(ref); // a missing container is "No such container"
      throw conflict("Conflict, cannot remove the default link name of the container", { code: "container.link-default" });
    }
    const parentName = full.slice(0, slash);
    const parentId = this.core.names.get(parentName);
    const parent = parentId ? this.core.containers.get(parentId) : undefined;
    const link = parent ? this.links(parent).find((l) => l.linkName === full) : undefined;
    if (!parent || !link) throw notFound(`No such container: ${ref.replace(/^\//, "")}`, { code: "container.not-found" });
    parent.hc.Links = (parent.hc.Links ?? []).filter((_, i) => i !== link.index);
    if (parent.hc.Links.length === 0) parent.hc.Links = null;
    await this.core.save(parent);
    if (this.core.isRunning(parent) && this.core.networked) await this.writeNetworkFiles(parent, true);
  }
}

/** The resource limits a HostConfig sets, by their docker run flags (what a cgroup would enforce). */
export function resourceLimitFlags(hc: HostConfig): string[] {
  const set = (v: unknown) => v !== undefined && v !== null && v !== 0 && v !== "" && !(Array.isArray(v) && v.length === 0);
  const flags: [unknown, string][] = [
    [hc.Memory, "--memory"],
    [hc.MemoryReservation, "--memory-reservation"],
    // a swap limit beside a memory limit is part of it (the daemon derives one when none is given)
    [!hc.Memory && hc.MemorySwap !== undefined && hc.MemorySwap !== null && hc.MemorySwap > 0 ? hc.MemorySwap : undefined, "--memory-swap"],
    [hc.NanoCpus, "--cpus"],
    [hc.CpuShares, "--cpu-shares"],
    [hc.CpuQuota, "--cpu-quota"],
    [hc.CpuPeriod, "--cpu-period"],
    [hc.CpusetCpus, "--cpuset-cpus"],
    [hc.CpusetMems, "--cpuset-mems"],
    [hc.PidsLimit !== undefined && hc.PidsLimit !== null && hc.PidsLimit > 0 ? hc.PidsLimit : undefined, "--pids-limit"],
    [hc.BlkioWeight, "--blkio-weight"],
    [hc.BlkioDeviceReadBps, "--device-read-bps"],
    [hc.BlkioDeviceWriteBps, "--device-write-bps"],
    [hc.BlkioDeviceReadIOps, "--device-read-iops"],
    [hc.BlkioDeviceWriteIOps, "--device-write-iops"],
  ];
  return flags.filter(([v]) => set(v)).map(([, f]) => f);
}

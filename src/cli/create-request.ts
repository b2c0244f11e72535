// `run`/`create` flags → the POST /containers/create request, exactly as the docker CLI builds it
// (cli/command/container/opts.go: parse and the Config/HostConfig/NetworkingConfig it fills, in
// its field order); test/cli/create-body.test.ts holds that against the docker CLI.

import { parseGoDuration, parseNanoCpus, ramInBytes } from "../docker/index.js";
import { effectiveCaps, parseDevice, parseGpuRequest, parseThrottleDevice, parseWeightDevice, validateDeviceCgroupRule, parseEnvFile, parseLabelFile, parseMount, parsePortRange, parsePortSpecs, parseRestart, parseSecurityOpts, parseUlimit, validateEnv, type PortSpecs } from "./container-opts.js";
import { CliError } from "./command.js";
import { socketPath } from "./daemon-client.js";
import { UsageError, type FlagSpecs, type Parsed } from "./flags.js";
import { networkingConfig } from "./network-opts.js";

/** The CPU flags of run, create and update. */
export const CPU_FLAGS = {
  "cpu-period": { type: "int", valueName: "int", description: "Limit CPU CFS (Completely Fair Scheduler) period" },
  "cpu-quota": { type: "int", valueName: "int", description: "Limit CPU CFS (Completely Fair Scheduler) quota" },
  "cpu-shares": { type: "int", short: "c", valueName: "int", description: "CPU shares (relative weight)" },
  cpus: { type: "string", valueName: "decimal", description: "Number of CPUs" },
  "cpuset-cpus": { type: "string", valueName: "string", description: "CPUs in which to allow execution (0-3, 0,1)" },
  "cpuset-mems": { type: "string", valueName: "string", description: "MEMs in which to allow execution (0-3, 0,1)" },
} as const satisfies FlagSpecs;

export const RUN_FLAGS = {
  "add-host": { type: "list", valueName: "list", description: "Add a custom host-to-IP mapping (host:ip)" },
  annotation: { type: "list", valueName: "map", description: "Add an annotation to the container (passed through to the OCI runtime) (default map[])" },
  attach: { type: "list", short: "a", valueName: "list", description: "Attach to STDIN, STDOUT or STDERR" },
  "blkio-weight": { type: "int", valueName: "uint16", description: "Block IO (relative weight), between 10 and 1000, or 0 to disable" },
  "blkio-weight-device": { type: "list", valueName: "list", description: "Block IO weight (relative device weight) (default [])" },
  "cap-add": { type: "list", valueName: "list", description: "Add Linux capabilities" },
  "cap-drop": { type: "list", valueName: "list", description: "Drop Linux capabilities" },
  "cgroup-parent": { type: "string", valueName: "string", description: "Optional parent cgroup for the container" },
  cgroupns: { type: "string", valueName: "string", description: "Cgroup namespace to use (host|private)" },
  cidfile: { type: "string", valueName: "string", description: "Write the container ID to the file" },
  "cpu-count": { type: "int", valueName: "int", description: "CPU count (Windows only)" },
  "cpu-percent": { type: "int", valueName: "int", description: "CPU percent (Windows only)" },
  "cpu-rt-period": { type: "int", valueName: "int", description: "Limit CPU real-time period in microseconds" },
  "cpu-rt-runtime": { type: "int", valueName: "int", description: "Limit CPU real-time runtime in microseconds" },
  ...CPU_FLAGS,
  detach: { type: "bool", short: "d", description: "Run container in background and print container ID" },
  "detach-keys": { type: "string", valueName: "string", description: "Override the key sequence for detaching a container" },
  device: { type: "list", valueName: "list", description: "Add a host device to the container" },
  "device-cgroup-rule": { type: "list", valueName: "list", description: "Add a rule to the cgroup allowed devices list" },
  "device-read-bps": { type: "list", valueName: "list", description: "Limit read rate (bytes per second) from a device (default [])" },
  "device-read-iops": { type: "list", valueName: "list", description: "Limit read rate (IO per second) from a device (default [])" },
  "device-write-bps": { type: "list", valueName: "list", description: "Limit write rate (bytes per second) to a device (default [])" },
  "device-write-iops": { type: "list", valueName: "list", description: "Limit write rate (IO per second) to a device (default [])" },
  "disable-content-trust": { type: "bool", default: true, description: "Skip image verification (default true)" },
  dns: { type: "list", valueName: "list", description: "Set custom DNS servers" },
  "dns-option": { type: "list", valueName: "list", description: "Set DNS options" },
  "dns-search": { type: "list", valueName: "list", description: "Set custom DNS search domains" },
  domainname: { type: "string", valueName: "string", description: "Container NIS domain name" },
  entrypoint: { type: "string", valueName: "string", description: "Overwrite the default ENTRYPOINT of the image" },
  env: { type: "list", short: "e", valueName: "list", description: "Set environment variables" },
  "env-file": { type: "list", valueName: "list", description: "Read in a file of environment variables" },
  expose: { type: "list", valueName: "list", description: "Expose a port or a range of ports" },
  gpus: { type: "list", valueName: "gpu-request", description: "GPU devices to add to the container ('all' to pass all GPUs)" },
  "group-add": { type: "list", valueName: "list", description: "Add additional groups to join" },
  "health-cmd": { type: "string", valueName: "string", description: "Command to run to check health" },
  "health-interval": { type: "string", valueName: "duration", description: "Time between running the check (ms|s|m|h) (default 0s)" },
  "health-retries": { type: "int", valueName: "int", description: "Consecutive failures needed to report unhealthy" },
  "health-start-interval": { type: "string", valueName: "duration", description: "Time between running the check during the start period (ms|s|m|h) (default 0s)" },
  "health-start-period": { type: "string", valueName: "duration", description: "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)" },
  "health-timeout": { type: "string", valueName: "duration", description: "Maximum time to allow one check to run (ms|s|m|h) (default 0s)" },
  hostname: { type: "string", short: "h", valueName: "string", description: "Container host name" },
  init: { type: "bool", description: "Run an init inside the container that forwards signals and reaps processes" },
  interactive: { type: "bool", short: "i", description: "Keep STDIN open even if not attached" },
  "io-maxbandwidth": { type: "string", valueName: "bytes", description: "Maximum IO bandwidth limit for the system drive (Windows only)" },
  "io-maxiops": { type: "int", valueName: "uint", description: "Maximum IOps limit for the system drive (Windows only)" },
  ip: { type: "string", valueName: "string", description: "IPv4 address (e.g., 172.30.100.104)" },
  ip6: { type: "string", valueName: "string", description: "IPv6 address (e.g., 2001:db8::33)" },
  ipc: { type: "string", valueName: "string", description: "IPC mode to use" },
  isolation: { type: "string", valueName: "string", description: "Container isolation technology" },
  "kernel-memory": { type: "string", valueName: "bytes", description: "Kernel memory limit" },
  label: { type: "list", short: "l", valueName: "list", description: "Set meta data on a container" },
  "label-file": { type: "list", valueName: "list", description: "Read in a line delimited file of labels" },
  link: { type: "list", valueName: "list", description: "Add link to another container" },
  "link-local-ip": { type: "list", valueName: "list", description: "Container IPv4/IPv6 link-local addresses" },
  "log-driver": { type: "string", valueName: "string", description: "Logging driver for the container" },
  "log-opt": { type: "list", valueName: "list", description: "Log driver options" },
  "mac-address": { type: "string", valueName: "string", description: "Container MAC address (e.g., 92:d0:c6:0a:29:33)" },
  memory: { type: "string", short: "m", valueName: "bytes", description: "Memory limit" },
  "memory-reservation": { type: "string", valueName: "bytes", description: "Memory soft limit" },
  "memory-swap": { type: "string", valueName: "bytes", description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  "memory-swappiness": { type: "int", valueName: "int", default: -1, description: "Tune container memory swappiness (0 to 100) (default -1)" },
  mount: { type: "list", valueName: "mount", description: "Attach a filesystem mount to the container" },
  name: { type: "string", valueName: "string", description: "Assign a name to the container" },
  network: { type: "list", valueName: "network", description: "Connect a container to a network" },
  "network-alias": { type: "list", valueName: "list", description: "Add network-scoped alias for the container" },
  net: { type: "list", valueName: "network", hidden: true },
  "net-alias": { type: "list", valueName: "list", hidden: true },
  "no-healthcheck": { type: "bool", description: "Disable any container-specified HEALTHCHECK" },
  "oom-kill-disable": { type: "bool", description: "Disable OOM Killer" },
  "oom-score-adj": { type: "int", valueName: "int", description: "Tune host's OOM preferences (-1000 to 1000)" },
  pid: { type: "string", valueName: "string", description: "PID namespace to use" },
  pod: { type: "string", valueName: "string", description: "Run the container in a pod (name or ID): it joins the pod's shared namespaces" },
  "pids-limit": { type: "int", valueName: "int", description: "Tune container pids limit (set -1 for unlimited)" },
  platform: { type: "string", valueName: "string", description: "Set platform if server is multi-platform capable" },
  privileged: { type: "bool", description: "Give extended privileges to this container" },
  publish: { type: "list", short: "p", valueName: "list", description: "Publish a container's port(s) to the host" },
  "publish-all": { type: "bool", short: "P", description: "Publish all exposed ports to random ports" },
  pull: { type: "string", valueName: "string", default: "missing", description: 'Pull image before running ("always", "missing", "never")' },
  quiet: { type: "bool", short: "q", description: "Suppress the pull output" },
  "read-only": { type: "bool", description: "Mount the container's root filesystem as read only" },
  restart: { type: "string", valueName: "string", default: "no", description: "Restart policy to apply when a container exits" },
  rm: { type: "bool", description: "Automatically remove the container and its associated anonymous volumes when it exits" },
  runtime: { type: "string", valueName: "string", description: "Runtime to use for this container" },
  "security-opt": { type: "list", valueName: "list", description: "Security Options" },
  "shm-size": { type: "string", valueName: "bytes", description: "Size of /dev/shm" },
  "sig-proxy": { type: "bool", default: true, description: "Proxy received signals to the process" },
  "stop-signal": { type: "string", valueName: "string", description: "Signal to stop the container" },
  "stop-timeout": { type: "int", valueName: "int", description: "Timeout (in seconds) to stop a container" },
  "storage-opt": { type: "list", valueName: "list", description: "Storage driver options for the container" },
  sysctl: { type: "list", valueName: "map", description: "Sysctl options" },
  tmpfs: { type: "list", valueName: "list", description: "Mount a tmpfs directory" },
  tty: { type: "bool", short: "t", description: "Allocate a pseudo-TTY" },
  ulimit: { type: "list", valueName: "ulimit", description: "Ulimit options" },
  "use-api-socket": { type: "bool", description: "Bind mount the Engine API socket and required auth" },
  user: { type: "string", short: "u", valueName: "string", description: "Username or UID (format: <name|uid>[:<group|gid>])" },
  userns: { type: "string", valueName: "string", description: "User namespace to use" },
  uts: { type: "string", valueName: "string", description: "UTS namespace to use" },
  volume: { type: "list", short: "v", valueName: "list", description: "Bind mount a volume" },
  "volume-driver": { type: "string", valueName: "string", description: "Optional volume driver for the container" },
  "volumes-from": { type: "list", valueName: "list", description: "Mount volumes from the specified container(s)" },
  workdir: { type: "string", short: "w", valueName: "string", description: "Working directory inside the container" },
} as const satisfies FlagSpecs;

export type RunFlags = Parsed<typeof RUN_FLAGS>;

export interface CreateRequest {
  body: Record<string, unknown>;
  name?: string;
  platform?: string;
  /** The pod the container joins (cove's POST /containers/create?pod=). */
  pod?: string;
}

/** The docker CLI's create request for `run`/`create` flags, image and command. */
export async function buildCreateRequest(flags: RunFlags["flags"], set: Set<string>, image: string, cmd: string[], opts: { detach: boolean; env: NodeJS.ProcessEnv; consoleSize?: [number, number]; apiSocket?: string }): Promise<CreateRequest> {
  const flagErr = (name: string, short: string | undefined, value: string, err: unknown) =>
    new UsageError(`invalid argument "${value}" for "${short ? `-${short}, ` : ""}--${name}" flag: ${(err as Error).message}`, "run");
  const bytes = (name: keyof typeof RUN_FLAGS, short?: string): number => {
    const v = flags[name] as string | undefined;
    if (v === undefined || v === "") return 0;
    if (name === "memory-swap" && v === "-1") return -1;
    try {
      return ramInBytes(v);
    } catch (err) {
      throw flagErr(name, short, v, err);
    }
  };
  const duration = (name: keyof typeof RUN_FLAGS): number | undefined => {
    const v = flags[name] as string | undefined;
    if (v === undefined) return undefined;
    let ns: number;
    try {
      ns = parseGoDuration(v);
    } catch (err) {
      throw flagErr(name, undefined, v, err);
    }
    return ns;
  };

  // attach
  const attach = new Set<string>();
  for (const a of flags.attach) {
    const s = a.toLowerCase();
    if (!["stdin", "stdout", "stderr"].includes(s)) throw new UsageError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`, "run");
    attach.add(s);
  }
  let attachStdin = attach.has("stdin") || flags.interactive;
  let attachStdout = attach.has("stdout");
  let attachStderr = attach.has("stderr");
  if (flags.attach.length === 0) {
    attachStdout = true;
    attachStderr = true;
  }
  let stdinOnce = attachStdin;
  if (opts.detach) {
    attachStdin = attachStdout = attachStderr = false;
    stdinOnce = false;
  }

  // env and labels
  const env: string[] = [];
  for (const f of flags["env-file"]) env.push(...(await parseEnvFile(f, opts.env)));
  for (const e of flags.env) env.push(validateEnv(e, opts.env));
  const labels: Record<string, string> = {};
  const labelLines: string[] = [];
  for (const f of flags["label-file"]) labelLines.push(...(await parseLabelFile(f)));
  labelLines.push(...flags.label);
  for (const l of labelLines) {
    const eq = l.indexOf("=");
    if (eq === 0) throw new UsageError(`invalid argument "${l}" for "-l, --label" flag: invalid label '${l}': empty name`, "run");
    if (eq < 0) labels[l] = "";
    else labels[l.slice(0, eq)] = l.slice(eq + 1);
  }

  // ports
  let ports: PortSpecs;
  try {
    ports = parsePortSpecs(flags.publish);
  } catch (err) {
    throw new UsageError(`invalid argument "${flags.publish.join(",")}" for "-p, --publish" flag: ${(err as Error).message}`, "run");
  }
  for (const e of flags.expose) {
    const slash = e.lastIndexOf("/");
    const proto = slash >= 0 ? e.slice(slash + 1) : "tcp";
    const range = slash >= 0 ? e.slice(0, slash) : e;
    let start: number;
    let end: number;
    try {
      [start, end] = parsePortRange(range);
    } catch (err) {
      throw new UsageError(`invalid range format for --expose: ${e}, error: ${(err as Error).message}`, "run");
    }
    for (let p = start; p <= end; p++) ports.exposed[`${p}/${proto}`] = {};
  }

  // volumes
  const volumes: Record<string, object> = {};
  const binds: string[] = [];
  for (const v of flags.volume) {
    if (v.split(":").length === 1 || (v.split(":").length === 2 && /^(ro|rw|z|Z|[a-z,]+)$/.test(v.split(":")[1]!) && !v.split(":")[1]!.startsWith("/"))) {
      if (!v.includes(":")) {
        volumes[v] = {};
        continue;
      }
    }
    binds.push(v);
  }
  const mounts: Record<string, unknown>[] = [];
  for (const m of flags.mount) {
    try {
      mounts.push(parseMount(m));
    } catch (err) {
      throw new UsageError(`invalid argument "${m}" for "--mount" flag: ${(err as Error).message}`, "run");
    }
  }
  if (flags["use-api-socket"]) {
    // the engine's socket at the path clients look for it inside the container
    mounts.push({ Type: "bind", Source: opts.apiSocket ?? socketPath(opts.env), Target: "/var/run/docker.sock", BindOptions: {} });
  }
  const tmpfs: Record<string, string> = {};
  for (const t of flags.tmpfs) {
    const colon = t.indexOf(":");
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? "" : t.slice(colon + 1);
  }

  // health
  let healthcheck: Record<string, unknown> | undefined;
  const healthSet = ["health-cmd", "health-interval", "health-retries", "health-timeout", "health-start-period", "health-start-interval"].some((f) => set.has(f));
  if (flags["no-healthcheck"]) {
    if (healthSet) throw new UsageError("--no-healthcheck conflicts with --health-* options", "run");
    healthcheck = { Test: ["NONE"] };
  } else if (healthSet) {
    healthcheck = {};
    if (flags["health-cmd"] !== undefined && flags["health-cmd"] !== "") healthcheck.Test = ["CMD-SHELL", flags["health-cmd"]];
    const positive = (name: keyof typeof RUN_FLAGS, field: string) => {
      const ns = duration(name);
      if (ns === undefined) return;
      if (ns < 0) throw new UsageError(`--${name} cannot be negative`, "run");
      if (ns !== 0) healthcheck![field] = ns;
    };
    positive("health-interval", "Interval");
    positive("health-timeout", "Timeout");
    positive("health-start-period", "StartPeriod");
    positive("health-start-interval", "StartInterval");
    const retries = flags["health-retries"] ?? 0;
    if (retries < 0) throw new UsageError("--health-retries cannot be negative", "run");
    if (retries !== 0) healthcheck.Retries = retries;
  }

  // resources
  const ulimits = flags.ulimit.map((u) => {
    try {
      return parseUlimit(u);
    } catch (err) {
      throw flagErr("ulimit", undefined, u, err);
    }
  });
  const devices = flags.device.map((d) => {
    try {
      return parseDevice(d);
    } catch (err) {
      throw flagErr("device", undefined, d, err);
    }
  });
  const each = <T>(name: keyof typeof RUN_FLAGS, parse: (v: string) => T): T[] =>
    (flags[name] as string[]).map((v) => {
      try {
        return parse(v);
      } catch (err) {
        throw flagErr(name, undefined, v, err);
      }
    });
  const weightDevices = each("blkio-weight-device", parseWeightDevice);
  const readBps = each("device-read-bps", (v) => parseThrottleDevice(v, "bps"));
  const writeBps = each("device-write-bps", (v) => parseThrottleDevice(v, "bps"));
  const readIops = each("device-read-iops", (v) => parseThrottleDevice(v, "iops"));
  const writeIops = each("device-write-iops", (v) => parseThrottleDevice(v, "iops"));
  const cgroupRules = each("device-cgroup-rule", validateDeviceCgroupRule);
  const gpus = each("gpus", parseGpuRequest);
  const annotations: Record<string, string> = {};
  for (const a of flags.annotation) {
    const eq = a.indexOf("=");
    annotations[eq < 0 ? a : a.slice(0, eq)] = eq < 0 ? "" : a.slice(eq + 1);
  }
  // Windows-only resource flags: the docker CLI refuses them before it sends anything
  const windowsOnly = (["cpu-count", "cpu-percent", "io-maxbandwidth", "io-maxiops"] as const).filter((f) => set.has(f));
  if (windowsOnly.length) throw new CliError(windowsOnly.map((f) => `"--${f}" is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux`).join("\n"));
  let nanoCpus = 0;
  if (flags.cpus !== undefined) {
    try {
      nanoCpus = parseNanoCpus(flags.cpus);
    } catch (err) {
      throw flagErr("cpus", undefined, flags.cpus, err);
    }
  }
  const sysctls: Record<string, string> = {};
  for (const s of flags.sysctl) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw flagErr("sysctl", undefined, s, new Error(`${s} is not a valid sysctl value`));
    sysctls[s.slice(0, eq)] = s.slice(eq + 1);
  }
  const logOpts: Record<string, string> = {};
  for (const l of flags["log-opt"]) {
    const eq = l.indexOf("=");
    if (eq <= 0) throw flagErr("log-opt", undefined, l, new Error(`invalid key value pair format in log-opt`));
    logOpts[l.slice(0, eq)] = l.slice(eq + 1);
  }
  let restart: { Name: string; MaximumRetryCount: number };
  try {
    restart = parseRestart(flags.restart);
  } catch (err) {
    throw new UsageError((err as Error).message, "run");
  }
  if (flags.rm && restart.Name !== "no") throw new UsageError("Conflicting options: --restart and --rm", "run");
  let securityOpt: string[];
  try {
    securityOpt = await parseSecurityOpts(flags["security-opt"]);
  } catch (err) {
    throw new UsageError(`invalid argument "${flags["security-opt"].join(",")}" for "--security-opt" flag: ${(err as Error).message}`, "run");
  }
  const [capAdd, capDrop] = effectiveCaps(flags["cap-add"], flags["cap-drop"]);
  const network = networkingConfig(
    { network: [...flags.network, ...flags.net], aliases: [...flags["network-alias"], ...flags["net-alias"]], links: flags.link, ip: flags.ip ?? "", ip6: flags.ip6 ?? "", mac: flags["mac-address"] ?? "", linkLocal: flags["link-local-ip"] },
    "run",
  );

  let entrypoint: string[] | null = null;
  if (flags.entrypoint !== undefined && flags.entrypoint !== "") entrypoint = [flags.entrypoint];
  else if (set.has("entrypoint")) entrypoint = [""];

  const config: Record<string, unknown> = {
    Hostname: flags.hostname ?? "",
    Domainname: flags.domainname ?? "",
    User: flags.user ?? "",
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
  };
  if (Object.keys(ports.exposed).length) config.ExposedPorts = ports.exposed;
  Object.assign(config, {
    Tty: flags.tty,
    OpenStdin: flags.interactive,
    StdinOnce: stdinOnce,
    Env: env.length ? env : null,
    Cmd: cmd.length ? cmd : null,
  });
  if (healthcheck) config.Healthcheck = healthcheck;
  Object.assign(config, {
    Image: image,
    Volumes: volumes,
    WorkingDir: flags.workdir ?? "",
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: labels,
  });
  if (flags["stop-signal"] !== undefined && flags["stop-signal"] !== "") config.StopSignal = flags["stop-signal"];
  if (set.has("stop-timeout")) config.StopTimeout = flags["stop-timeout"];

  const pidsLimit = flags["pids-limit"];
  const hostConfig: Record<string, unknown> = {
    Binds: binds.length ? binds : null,
    ContainerIDFile: flags.cidfile ?? "",
    LogConfig: { Type: flags["log-driver"] ?? "", Config: logOpts },
    NetworkMode: network.mode,
    PortBindings: ports.bindings,
    RestartPolicy: restart,
    AutoRemove: flags.rm,
    VolumeDriver: flags["volume-driver"] ?? "",
    VolumesFrom: flags["volumes-from"].length ? flags["volumes-from"] : null,
    ConsoleSize: flags.tty && opts.consoleSize ? opts.consoleSize : [0, 0],
    ...(flags.annotation.length ? { Annotations: annotations } : {}),
    CapAdd: capAdd,
    CapDrop: capDrop,
    CgroupnsMode: flags.cgroupns ?? "",
    Dns: flags.dns,
    DnsOptions: flags["dns-option"],
    DnsSearch: flags["dns-search"],
    ExtraHosts: flags["add-host"].length ? flags["add-host"] : null,
    GroupAdd: flags["group-add"].length ? flags["group-add"] : null,
    IpcMode: flags.ipc ?? "",
    Cgroup: "",
    Links: flags.link.length ? flags.link : null,
    OomScoreAdj: flags["oom-score-adj"] ?? 0,
    PidMode: flags.pid ?? "",
    Privileged: flags.privileged,
    PublishAllPorts: flags["publish-all"],
    ReadonlyRootfs: flags["read-only"],
    SecurityOpt: securityOpt.length ? securityOpt : null,
  };
  if (flags["storage-opt"].length) {
    const so: Record<string, string> = {};
    for (const s of flags["storage-opt"]) {
      const eq = s.indexOf("=");
      if (eq <= 0) throw flagErr("storage-opt", undefined, s, new Error("invalid storage option"));
      so[s.slice(0, eq)] = s.slice(eq + 1);
    }
    hostConfig.StorageOpt = so;
  }
  if (Object.keys(tmpfs).length) hostConfig.Tmpfs = tmpfs;
  Object.assign(hostConfig, { UTSMode: flags.uts ?? "", UsernsMode: flags.userns ?? "", ShmSize: bytes("shm-size") });
  if (Object.keys(sysctls).length) hostConfig.Sysctls = sysctls;
  if (flags.runtime !== undefined && flags.runtime !== "") hostConfig.Runtime = flags.runtime;
  Object.assign(hostConfig, {
    Isolation: flags.isolation ?? "",
    CpuShares: flags["cpu-shares"] ?? 0,
    Memory: bytes("memory", "m"),
    NanoCpus: nanoCpus,
    CgroupParent: flags["cgroup-parent"] ?? "",
    BlkioWeight: flags["blkio-weight"] ?? 0,
    BlkioWeightDevice: weightDevices,
    BlkioDeviceReadBps: readBps,
    BlkioDeviceWriteBps: writeBps,
    BlkioDeviceReadIOps: readIops,
    BlkioDeviceWriteIOps: writeIops,
    CpuPeriod: flags["cpu-period"] ?? 0,
    CpuQuota: flags["cpu-quota"] ?? 0,
    CpuRealtimePeriod: flags["cpu-rt-period"] ?? 0,
    CpuRealtimeRuntime: flags["cpu-rt-runtime"] ?? 0,
    CpusetCpus: flags["cpuset-cpus"] ?? "",
    CpusetMems: flags["cpuset-mems"] ?? "",
    Devices: devices,
    DeviceCgroupRules: cgroupRules.length ? cgroupRules : null,
    DeviceRequests: gpus.length ? gpus : null,
    MemoryReservation: bytes("memory-reservation"),
    MemorySwap: bytes("memory-swap"),
    MemorySwappiness: flags["memory-swappiness"],
    OomKillDisable: flags["oom-kill-disable"],
    PidsLimit: pidsLimit ?? 0,
    Ulimits: ulimits,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
  });
  if (mounts.length) hostConfig.Mounts = mounts;
  Object.assign(hostConfig, { MaskedPaths: null, ReadonlyPaths: null });
  if (flags["security-opt"].includes("systempaths=unconfined")) Object.assign(hostConfig, { MaskedPaths: [], ReadonlyPaths: [] });
  if (set.has("init")) hostConfig.Init = flags.init;

  const networking = { EndpointsConfig: network.endpoints };
  const body: Record<string, unknown> = { ...config, HostConfig: hostConfig, NetworkingConfig: networking };
  const req: CreateRequest = { body };
  if (flags.name !== undefined && flags.name !== "") req.name = flags.name;
  if (flags.platform !== undefined && flags.platform !== "") req.platform = flags.platform;
  if (flags.pod !== undefined && flags.pod !== "") req.pod = flags.pod;
  return req;
}

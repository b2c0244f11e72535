// The normalized compose model: what the loader hands to `config` and to the engine side. Every
// short syntax is expanded (ports, volumes, depends_on, environment and label lists), paths are
// absolute, and variables are interpolated, so two files that mean the same give equal models.

export interface PortConfig {
  target: number;
  published?: string;
  host_ip?: string;
  protocol: string;
  mode?: string;
}

export interface VolumeMount {
  type: "bind" | "volume" | "tmpfs";
  source?: string;
  target: string;
  read_only?: boolean;
  bind?: { create_host_path?: boolean; propagation?: string };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: number | string; mode?: number };
}

export interface Dependency {
  condition: "service_started" | "service_healthy" | "service_completed_successfully";
  required: boolean;
  restart: boolean;
}

export interface ServiceNetwork {
  aliases?: string[];
  ipv4_address?: string;
  ipv6_address?: string;
  priority?: number;
}

export interface Healthcheck {
  test?: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  start_interval?: string;
  disable?: boolean;
}

/** A service's grant of a config or secret: the file it gets, where, owned by whom, with what mode. */
export interface FileGrant {
  source: string;
  /** Absolute: /<source> for a config, /run/secrets/<source> for a secret by default. */
  target: string;
  uid?: string;
  gid?: string;
  /** Permission bits (default 0444). */
  mode?: number;
}

/** A top-level config or secret: its content comes from a file, a variable of the project's environment, or the file itself (content, configs only). */
export interface FileObject {
  name: string;
  /** Absolute. */
  file?: string;
  environment?: string;
  content?: string;
  external?: boolean;
}

export interface ServiceConfig {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | null>;
  ports?: PortConfig[];
  expose?: string[];
  networks?: Record<string, ServiceNetwork | null>;
  volumes?: VolumeMount[];
  tmpfs?: string[];
  depends_on?: Record<string, Dependency>;
  healthcheck?: Healthcheck;
  restart?: string;
  scale?: number;
  labels?: Record<string, string>;
  user?: string;
  working_dir?: string;
  init?: boolean;
  read_only?: boolean;
  cap_add?: string[];
  cap_drop?: string[];
  privileged?: boolean;
  ulimits?: Record<string, number | { soft: number; hard: number }>;
  sysctls?: Record<string, string>;
  extra_hosts?: string[];
  dns?: string[];
  dns_search?: string[];
  hostname?: string;
  domainname?: string;
  stop_signal?: string;
  stop_grace_period?: string;
  logging?: { driver?: string; options?: Record<string, string> };
  network_mode?: string;
  tty?: boolean;
  stdin_open?: boolean;
  profiles?: string[];
  container_name?: string;
  configs?: FileGrant[];
  secrets?: FileGrant[];
  /** The build section as written (cli/compose/build.ts builds from it; pull and push tell such a service apart). */
  build?: unknown;
  /** The develop section as written (develop.watch: compose watch's rules). */
  develop?: unknown;
  security_opt?: string[];
  /** "/dev/x[:/dev/y[:rwm]]" or {source, target, permissions}. */
  devices?: (string | { source: string; target?: string; permissions?: string })[];
  pid?: string;
  ipc?: string;
  pull_policy?: "always" | "never" | "missing" | "if_not_present" | "build";
  /** deploy.resources: limits (cpus, memory, pids) and reservations (memory). */
  resources?: { limits: { cpus?: string | number; memory?: string | number; pids?: number }; reservations: { memory?: string | number } };
  [key: string]: unknown;
}

export interface NetworkConfig {
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  ipam?: { driver?: string; config?: { subnet?: string; gateway?: string; ip_range?: string }[] };
  internal?: boolean;
  attachable?: boolean;
  enable_ipv6?: boolean;
  external?: boolean;
  labels?: Record<string, string>;
}

export interface VolumeConfig {
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  external?: boolean;
  labels?: Record<string, string>;
}

export interface Project {
  name: string;
  /** The project directory: relative paths in the files are taken from here. */
  workingDir: string;
  /** The compose files, absolute, in the order given. */
  configFiles: string[];
  /** The environment the files were interpolated with (the process's over the .env file's). */
  environment: Record<string, string>;
  services: Record<string, ServiceConfig>;
  /** Services left out by their profiles. */
  disabled: Record<string, ServiceConfig>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  configs: Record<string, FileObject>;
  secrets: Record<string, FileObject>;
  /** What the loader could not honour (an unsupported field, an unset variable), one line each. */
  warnings: string[];
}

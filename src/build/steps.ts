// The build executor's vocabulary: typed build steps, one per Dockerfile instruction, as the
// Dockerfile parser (src/build/dockerfile) produces them once it has expanded variables and
// checked flags. The executor (executor.ts) runs the steps of a stage on top of its base image.
//
// A step carries meaning, not syntax: a command is either a shell string (run with the stage's
// SHELL) or an argv (exec form); key/value lists keep their order; `text` is the instruction as the
// user wrote it, shown in "Step N/M : TEXT" (a canonical rendering stands in when absent).

import type { HealthConfig } from "../docker/index.js";

/** A command: a shell string run with the stage's SHELL (shell form) or an argv (exec form). */
export type Command = string | string[];

/** Where a stage starts: an image reference, an earlier stage (by name or index), or nothing. */
export type StageBase = { image: string } | { stage: string } | { scratch: true };

interface StepBase {
  /** The instruction as written ("COPY --chown=1:2 src/ /app/"), for the progress stream. */
  text?: string;
}

/** A RUN --mount, its words expanded and checked. */
export interface RunMount {
  type: "bind" | "cache" | "tmpfs" | "secret" | "ssh";
  /** Where it appears in the RUN's container (secret: /run/secrets/<id>, ssh: /run/buildkit/ssh_agent.<n> when not given). */
  target?: string;
  /** bind/cache: a path of `from` (default its root); secret/ssh: the id (BuildKit's source alias). */
  source?: string;
  /** bind/cache: an earlier stage (name or index) or an image; the context when absent. */
  from?: string;
  /** cache: the cache's name (default the target); secret/ssh: which one (default the target's base name / "default"). */
  id?: string;
  /** cache: shared (default), private or locked. */
  sharing?: "shared" | "private" | "locked";
  readonly: boolean;
  /** secret/ssh: a missing one fails the step (otherwise the mount is left out). */
  required?: boolean;
  /** tmpfs: bytes. */
  size?: number;
  /** cache: the new cache directory's mode, owner; secret/ssh: the file's (octal text, numbers). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** secret: also (or only) give the value in this environment variable. */
  env?: string;
}

/** A file a RUN's command reads from /dev/pipes (a heredoc with a #! line, run as a script). */
export interface RunFile {
  name: string;
  data: string;
  mode: number;
}

export interface RunStep extends StepBase {
  kind: "run";
  command: Command;
  /** RUN --network: the default network (as `docker run`), none, or the host's. */
  network?: "default" | "none" | "host";
  /** RUN --mount: mounts of the step's container only; what they hold never lands in the image. */
  mounts?: RunMount[];
  /** Heredoc scripts mounted read-only at /dev/pipes/<name> for the command. */
  files?: RunFile[];
}

/** MAINTAINER (deprecated): the image's author, for this and every later step of the stage. */
export interface MaintainerStep extends StepBase {
  kind: "maintainer";
  maintainer: string;
}

/** A file given inline in COPY/ADD (`COPY <<EOF /dest`): a source named `name` holding `data`. */
export interface InlineSource {
  name: string;
  data: string;
  /** $VARS in data expand with the stage's variables (the delimiter was not quoted). */
  expand: boolean;
}

/** COPY and ADD. */
export interface CopyStep extends StepBase {
  kind: "copy" | "add";
  /**
   * Paths in the build context, or in `from` when given; Go filepath.Match globs (*, ?, [...])
   * in any segment. ADD also takes http(s) URLs.
   */
  sources: string[];
  /** Absolute, or relative to the stage's WORKDIR; a trailing "/" makes it a directory. */
  dest: string;
  /** --from: an earlier stage (name or index) or an image reference. */
  from?: string;
  /** --chown: user[:group], names (looked up in the image's /etc/passwd and /etc/group) or ids. */
  chown?: string;
  /** --chmod: octal mode bits for every copied file and directory ("0755", "644"). */
  chmod?: string;
  /**
   * --link: the files land as without it (the layer holds the same entries); cove makes the layer
   * on the current image as every other COPY, so it is cached with its parent.
   */
  link?: boolean;
  /** --parents: each source keeps its context path under dest (a/b/c.txt → dest/a/b/c.txt). */
  parents?: boolean;
  /** --exclude: globs (relative to the context) of paths left out. */
  exclude?: string[];
  /** Heredoc sources: files written with the given content (mode 0644), copied as context files are. */
  contents?: InlineSource[];
  /** ADD --checksum=sha256:<hex>: a URL source's content must have this digest. */
  checksum?: string;
  /** ADD of a git URL: keep the .git directory in what is added (BuildKit's --keep-git-dir). */
  keepGitDir?: boolean;
}

export interface EnvStep extends StepBase {
  kind: "env";
  vars: [string, string][];
}

export interface LabelStep extends StepBase {
  kind: "label";
  labels: [string, string][];
}

export interface ExposeStep extends StepBase {
  kind: "expose";
  /** "80", "53/udp", "8000-8002/tcp". */
  ports: string[];
}

export interface VolumeStep extends StepBase {
  kind: "volume";
  paths: string[];
}

export interface UserStep extends StepBase {
  kind: "user";
  user: string;
}

export interface WorkdirStep extends StepBase {
  kind: "workdir";
  /** Absolute, or relative to the current WORKDIR. */
  path: string;
}

export interface CmdStep extends StepBase {
  kind: "cmd";
  command: Command;
}

/** ENTRYPOINT: Docker's rule applies: a CMD not set in this stage (the base image's) is reset. */
export interface EntrypointStep extends StepBase {
  kind: "entrypoint";
  command: Command;
}

export interface ShellStep extends StepBase {
  kind: "shell";
  shell: string[];
}

export interface StopSignalStep extends StepBase {
  kind: "stopsignal";
  signal: string;
}

export interface HealthcheckStep extends StepBase {
  kind: "healthcheck";
  /** Test ["NONE"] disables the base image's; ["CMD", ...] or ["CMD-SHELL", cmd] sets one. Durations in ns. */
  healthcheck: HealthConfig;
}

export interface OnbuildStep extends StepBase {
  kind: "onbuild";
  /** The trigger instruction as written ("RUN echo hi"). */
  instruction: string;
}

/** ARG: declares a build argument (with a default) for the RUN steps that follow; not in the image's env. */
export interface ArgStep extends StepBase {
  kind: "arg";
  name: string;
  default?: string;
  /** The value of the global ARG of that name (before the first FROM): used when there is no default and no --build-arg. */
  inherited?: string;
}

export type Step = MaintainerStep | RunStep | CopyStep | EnvStep | LabelStep | ExposeStep | VolumeStep | UserStep | WorkdirStep | CmdStep | EntrypointStep | ShellStep | StopSignalStep | HealthcheckStep | OnbuildStep | ArgStep;

export interface Stage {
  /** FROM ... AS name. */
  name?: string;
  base: StageBase;
  /** FROM --platform (os/arch[/variant]). */
  platform?: string;
  /** Its position in the Dockerfile, what --from=N names (default: its position in the list built). */
  index?: number;
  /**
   * The stages or images its COPY --from and RUN --mount from= name, as the planner expanded them
   * (global ARGs); without it they are read from the steps as written. The executor starts the
   * stage once the earlier stages named here are built.
   */
  uses?: string[];
  /** The FROM line as written, for "Step 1/M : FROM ...". */
  text?: string;
  steps: Step[];
  /**
   * Words still to expand (a Dockerfile's $VARS): called before each step, the base image's
   * ONBUILD triggers included, with the variables of that moment (the stage's ENV, then the
   * build arguments in use); returns the step to run.
   */
  resolve?: (step: Step, vars: (name: string) => string | undefined) => Step;
  /** The base image's ONBUILD triggers as steps; without it a base with triggers is refused. */
  triggers?: (instructions: string[]) => Step[];
}

/** How a shell-form command is shown: Go's %q of each word, as dockerd's history shows lists. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u([0-9a-f]{4})/g, (_, h: string) => `\\u${h}`);
}

const form = (c: Command): string => (typeof c === "string" ? c : `[${c.map(goQuote).join(", ")}]`);
const pairs = (kv: [string, string][]): string => kv.map(([k, v]) => `${k}=${goQuote(v)}`).join(" ");

/** The step as a Dockerfile line: the user's text, else a canonical rendering. */
export function stepText(step: Step): string {
  if (step.text !== undefined) return step.text;
  switch (step.kind) {
    case "run":
      return `RUN ${(step.mounts ?? []).map((m) => `--mount=${mountText(m)} `).join("")}${step.network && step.network !== "default" ? `--network=${step.network} ` : ""}${form(step.command)}`;
    case "maintainer":
      return `MAINTAINER ${step.maintainer}`;
    case "copy":
    case "add": {
      const flags = [
        step.from !== undefined ? `--from=${step.from}` : "",
        step.chown !== undefined ? `--chown=${step.chown}` : "",
        step.chmod !== undefined ? `--chmod=${step.chmod}` : "",
        step.link ? "--link" : "",
        step.parents ? "--parents" : "",
        step.checksum !== undefined ? `--checksum=${step.checksum}` : "",
        ...(step.exclude ?? []).map((e) => `--exclude=${e}`),
      ].filter((f) => f !== "");
      return [step.kind.toUpperCase(), ...flags, ...(step.contents ?? []).map((c) => `<<${c.name}`), ...step.sources, step.dest].join(" ");
    }
    case "env":
      return `ENV ${pairs(step.vars)}`;
    case "label":
      return `LABEL ${pairs(step.labels)}`;
    case "expose":
      return `EXPOSE ${step.ports.join(" ")}`;
    case "volume":
      return `VOLUME ${JSON.stringify(step.paths)}`;
    case "user":
      return `USER ${step.user}`;
    case "workdir":
      return `WORKDIR ${step.path}`;
    case "cmd":
      return `CMD ${form(step.command)}`;
    case "entrypoint":
      return `ENTRYPOINT ${form(step.command)}`;
    case "shell":
      return `SHELL ${JSON.stringify(step.shell)}`;
    case "stopsignal":
      return `STOPSIGNAL ${step.signal}`;
    case "healthcheck":
      return `HEALTHCHECK ${JSON.stringify(step.healthcheck)}`;
    case "onbuild":
      return `ONBUILD ${step.instruction}`;
    case "arg":
      return `ARG ${step.name}${step.default !== undefined ? `=${step.default}` : ""}`;
  }
}

/** A mount as a --mount value (type=cache,target=/x,...). */
export function mountText(m: RunMount): string {
  const f = [`type=${m.type}`];
  for (const k of ["target", "source", "from", "id", "sharing", "env"] as const) if (m[k] !== undefined) f.push(`${k}=${m[k]}`);
  if (m.size !== undefined) f.push(`size=${m.size}`);
  if (m.mode !== undefined) f.push(`mode=0${m.mode.toString(8)}`);
  if (m.uid !== undefined) f.push(`uid=${m.uid}`);
  if (m.gid !== undefined) f.push(`gid=${m.gid}`);
  if (m.required) f.push("required");
  if (!m.readonly && (m.type === "bind" || m.type === "secret" || m.type === "ssh")) f.push("rw");
  if (m.readonly && (m.type === "cache" || m.type === "tmpfs")) f.push("ro");
  return f.join(",");
}

/** The FROM line of a stage: the user's text, else a canonical rendering. */
export function fromText(stage: Stage): string {
  if (stage.text !== undefined) return stage.text;
  const base = "image" in stage.base ? stage.base.image : "stage" in stage.base ? stage.base.stage : "scratch";
  return `FROM ${stage.platform ? `--platform=${stage.platform} ` : ""}${base}${stage.name ? ` AS ${stage.name}` : ""}`;
}

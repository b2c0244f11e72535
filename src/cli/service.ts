// `cove system install` and `cove system uninstall`: cove as a systemd service, the way Docker's
// packages install dockerd. Two units go to /etc/systemd/system (under --root-dir DIR instead,
// for packaging and tests):
//
//   cove.socket   systemd listens on /run/cove/cove.sock (mode 0660, group cove: members of the
//                 group use cove without sudo, as members of Docker's "docker" group do) and
//                 starts cove.service at the first connection (socket activation)
//   cove.service  `cove daemon -H fd://`: the daemon serves the socket systemd passes it.
//                 KillMode=process: stopping or restarting the service stops the daemon only; the
//                 containers' monitors keep running, and the next daemon adopts them (live restore)
//
// install also creates the system group (groupadd --system) and enables both units (the
// wants/ links `systemctl enable` makes); when systemd runs the machine it reloads it and starts
// the socket. Without systemd the units wait for a boot with it, and the cove command keeps
// starting its daemon on first use.

import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { mkdir, rm, symlink } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isErrno } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { command, CliError, type Command, type Run } from "./command.js";
import { UsageError } from "./flags.js";

export const SERVICE_SOCKET = "/run/cove/cove.sock";
export const SERVICE_GROUP = "cove";
const UNIT_DIR = "etc/systemd/system";

export interface UnitOptions {
  /** The node binary and cove's CLI entry the service runs. */
  node: string;
  main: string;
  /** The socket's group. */
  group: string;
  /** The daemon's state root when not the default. */
  dataRoot?: string;
}

/** cove.socket's text. */
export function socketUnit(o: UnitOptions): string {
  return `# cove's API socket: systemd listens here and starts cove.service at the first connection.
# Installed by \`cove system install\`; members of the group ${o.group} may use it.
[Unit]
Description=cove container engine API socket
PartOf=cove.service

[Socket]
ListenStream=${SERVICE_SOCKET}
SocketMode=0660
SocketUser=root
SocketGroup=${o.group}

[Install]
WantedBy=sockets.target
`;
}

/** A word of ExecStart, quoted for systemd when it needs it. */
function execWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `"${w.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** cove.service's text. */
export function serviceUnit(o: UnitOptions): string {
  const exec = [o.node, o.main, ...(o.dataRoot ? ["--root", o.dataRoot] : []), "daemon", "-H", "fd://"].map(execWord).join(" ");
  return `# The cove daemon, started by cove.socket (socket activation).
# Installed by \`cove system install\`; \`systemctl reload cove\` sends SIGHUP.
[Unit]
Description=cove container engine
After=network-online.target cove.socket
Wants=network-online.target
Requires=cove.socket
StartLimitBurst=3
StartLimitIntervalSec=60

[Service]
Type=simple
ExecStart=${exec}
ExecReload=/bin/kill -s HUP $MAINPID
# stopping or restarting the daemon leaves the containers' monitors running: the next daemon
# adopts them (live restore)
KillMode=process
Delegate=yes
Restart=always
RestartSec=2
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
`;
}

/** The unit files and the links `systemctl enable` makes for them, relative to the root dir. */
function layout(rootDir: string) {
  const dir = path.join(rootDir, UNIT_DIR);
  return {
    dir,
    socket: path.join(dir, "cove.socket"),
    service: path.join(dir, "cove.service"),
    links: [
      { link: path.join(dir, "sockets.target.wants", "cove.socket"), target: "/" + UNIT_DIR + "/cove.socket" },
      { link: path.join(dir, "multi-user.target.wants", "cove.service"), target: "/" + UNIT_DIR + "/cove.service" },
    ],
  };
}

/** Whether systemd runs this machine (sd_booted(3)'s test). */
export function systemdRuns(): boolean {
  return existsSync("/run/systemd/system");
}

function groupExists(name: string): boolean {
  try {
    return readFileSync("/etc/group", "utf8")
      .split("\n")
      .some((l) => l.split(":")[0] === name);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

function sh(run: Run, file: string, args: string[]): void {
  try {
    execFileSync(file, args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new CliError(`${file} ${args.join(" ")} failed: ${(e.stderr?.toString().trim() || e.message).split("\n")[0]}`);
  }
  run.err(`ran ${file} ${args.join(" ")}\n`);
}

function checkRootDir(value: string | undefined): string {
  if (value === undefined) return "/";
  if (!path.isAbsolute(value)) throw new UsageError(`invalid argument "${value}" for "--root-dir" flag: give an absolute path`, "system install");
  let st;
  try {
    st = statSync(value);
  } catch (err) {
    if (isErrno(err, "ENOENT")) throw new CliError(`--root-dir ${value} does not exist: create it first`);
    throw err;
  }
  if (!st.isDirectory()) throw new CliError(`--root-dir ${value} is not a directory`);
  return value;
}

function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new CliError(`cove system ${what} changes the machine's services and groups: run it as root (sudo cove system ${what})`);
}

const rootDirFlag = { type: "string", valueName: "dir", description: "Write the units under this directory instead of / (for packaging and tests; systemd is not told)" } as const;

/** The CLI's own entry (main.js), as installed: the service runs the same cove. */
function cliMain(): string {
  return realpathSync(fileURLToPath(new URL("./main.js", import.meta.url)));
}

export function serviceCommands(opts: { dataRoot?: string } = {}): Record<string, Command> {
  const install = command(
    {
      name: "system install",
      usage: "cove system install [OPTIONS]",
      summary: `Install cove as a systemd service: cove.socket on ${SERVICE_SOCKET} (group ${SERVICE_GROUP}) starting cove.service`,
      flags: {
        group: { type: "string", valueName: "name", default: SERVICE_GROUP, description: "Group whose members may use the socket (created when missing)" },
        "root-dir": rootDirFlag,
      },
      args: { max: 0 },
    },
    async ({ flags }, run) => {
      const rootDir = checkRootDir(flags["root-dir"]);
      if (!/^[a-z_][a-z0-9_-]*$/.test(flags.group)) throw new UsageError(`invalid argument "${flags.group}" for "--group" flag: not a group name`, "system install");
      needRoot("install");
      if (!groupExists(flags.group)) sh(run, "groupadd", ["--system", flags.group]);
      const l = layout(rootDir);
      const unit: UnitOptions = { node: realpathSync(process.execPath), main: cliMain(), group: flags.group, ...(opts.dataRoot ? { dataRoot: path.resolve(opts.dataRoot) } : {}) };
      await mkdir(l.dir, { recursive: true, mode: 0o755 });
      await writeFileAtomic(l.socket, socketUnit(unit));
      await writeFileAtomic(l.service, serviceUnit(unit));
      for (const { link, target } of l.links) {
        await mkdir(path.dirname(link), { recursive: true, mode: 0o755 });
        await rm(link, { force: true });
        await symlink(target, link);
      }
      run.out(`wrote ${l.socket} and ${l.service}, enabled\n`);
      if (rootDir !== "/") return 0;
      if (systemdRuns()) {
        sh(run, "systemctl", ["daemon-reload"]);
        sh(run, "systemctl", ["start", "cove.socket"]);
        run.out(`cove.socket listens on ${SERVICE_SOCKET}; add users to the group with: usermod -aG ${flags.group} USER (they log in again to use it)\n`);
      } else {
        run.out(`systemd does not run this machine: the units start at the next boot with systemd; until then cove starts its daemon on first use (as root)\n`);
      }
      return 0;
    },
  );
  const uninstall = command(
    {
      name: "system uninstall",
      usage: "cove system uninstall [OPTIONS]",
      summary: "Remove cove's systemd units (the containers keep running; the group stays: groupdel cove removes it)",
      flags: { "root-dir": rootDirFlag },
      args: { max: 0 },
    },
    async ({ flags }, run) => {
      const rootDir = checkRootDir(flags["root-dir"]);
      needRoot("uninstall");
      const l = layout(rootDir);
      const units = [l.socket, l.service].filter((f) => existsSync(f));
      for (const f of units) {
        if (!readFileSync(f, "utf8").includes("cove system install")) throw new CliError(`${f} was not written by cove system install: remove it yourself`);
      }
      if (rootDir === "/" && systemdRuns() && existsSync(l.socket)) sh(run, "systemctl", ["stop", "cove.socket", "cove.service"]);
      const removed: string[] = [];
      for (const { link, target } of l.links) {
        try {
          // only the links install made: a link pointing elsewhere is the administrator's
          if (lstatSync(link).isSymbolicLink() && readlinkSync(link) === target) {
            await rm(link);
            removed.push(link);
          }
        } catch (err) {
          if (!isErrno(err, "ENOENT")) throw err;
        }
      }
      for (const f of units) {
        await rm(f);
        removed.push(f);
      }
      if (rootDir === "/" && systemdRuns()) sh(run, "systemctl", ["daemon-reload"]);
      run.out(removed.length ? `removed ${removed.join(", ")}\n` : "cove's units are not installed: nothing to remove\n");
      return 0;
    },
  );
  return { "system install": install, "system uninstall": uninstall };
}

// Escape battery: a container made the way a user makes one (`docker run` through cove's daemon)
// tries the classic ways out (test/fixtures/escape-probe.c, one result line per attempt: mount,
// umount, init_module, finit_module, /proc/sysrq-trigger, /proc/kcore, the host's disk by mknod,
// host PIDs, ptrace of a host process, keyctl, bpf, perf_event_open, open_by_handle_at, unshare of
// user, mount and net namespaces, cgroup files, a host sysctl, /proc/irq, Docker's masked paths;
// on this host's kernel /proc/sysrq-trigger and /proc/kcore do not exist at all), and the
// same image does the same under Debian's dockerd side by side. A default container must be denied
// every attempt (Docker's defaults deny them all); a --privileged one must be allowed exactly what
// dockerd's --privileged container is allowed. Then the two container-breakout CVEs of runc:
// CVE-2019-5736 (overwrite the binary that entered the container during `exec`, through
// /proc/<pid>/exe) and CVE-2024-21626 (a working directory of /proc/self/fd/N reaching a host
// directory through an fd the runtime leaked), with a check that neither a container's first
// process nor an exec inherits any fd beyond stdio.
//
// dockerd 20.10 gives a --privileged container every capability the kernel knows, so on a host
// whose bounding set lacks one (this machine lacks CAP_SYS_RESOURCE) its containers fail to start
// ("unable to apply caps"); cove gives the daemon's bounding set. For the comparison, dockerd's
// --privileged container then runs through a runc wrapper (a runtime in its daemon.json) that
// removes just those missing capabilities from the config before calling runc.
//
// The host's "disk" is the first block device the test itself can open on the host (on this
// machine /dev/vda refuses even the host's root, a loop device does not). The host process the
// container looks for is the test itself. Both daemons have private state roots, sockets and
// runtime roots; containers run with --network none; everything is removed in `after`.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { closeSync, createWriteStream, openSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { CAPABILITIES, outsideBounding } from "../../src/runtime/config/index.js";
import { tarDirectory } from "../../src/snapshots/diff.js";
import { PACKAGE_ROOT } from "../fixtures/bundle.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { dockerCliSkip, run, type Result } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";

const skip = (await dockerCliSkip()) || dockerdAvailable() || false;
if (skip) console.warn(`test/security/escape.test: ${skip}: the escape battery did NOT run`);

const IMAGE = "escape-probe:latest";
const PROBE = "/escape-probe";
/** What the container looks for in the host process's command line (the test runs under node). */
const HOST_MARKER = "node";

/** The items of the battery, in the probe's order. */
const ITEMS = [
  "mount",
  "umount",
  "init_module",
  "finit_module",
  "sysrq-trigger",
  "kcore",
  "block-device",
  "host-pids",
  "ptrace",
  "keyctl",
  "bpf",
  "perf_event_open",
  "open_by_handle_at",
  "unshare-user",
  "unshare-mount",
  "unshare-net",
  "cgroup-write",
  "sysctl-host",
  "proc-irq",
  "masked-paths",
] as const;

interface Outcome {
  allowed: boolean;
  detail: string;
}

/** The RESULT lines of the probe's output, by item. */
function parseResults(out: string): Map<string, Outcome> {
  const results = new Map<string, Outcome>();
  for (const line of out.split("\n")) {
    const m = /^RESULT (\S+) (allowed|denied) (.*)$/.exec(line);
    if (m) results.set(m[1]!, { allowed: m[2] === "allowed", detail: m[3]! });
  }
  return results;
}

const word = (o: Outcome | undefined) => (o ? (o.allowed ? "ALLOWED" : "denied") : "(no result)");

/** A table of both daemons' outcomes, for the test output. */
function table(title: string, cove: Map<string, Outcome>, dockerd: Map<string, Outcome>): string {
  const rows = [...new Set([...cove.keys(), ...dockerd.keys()])].map((k) => `  ${k.padEnd(18)} cove: ${word(cove.get(k)).padEnd(8)} dockerd: ${word(dockerd.get(k)).padEnd(8)} | cove: ${cove.get(k)?.detail ?? ""} | dockerd: ${dockerd.get(k)?.detail ?? ""}`);
  return `${title}\n${rows.join("\n")}`;
}

/** The first block device under /sys/block that the host itself can open for reading. */
function hostBlockDevice(): { name: string; major: number; minor: number } {
  for (const name of readdirSync("/sys/block").sort((a, b) => Number(a.startsWith("loop")) - Number(b.startsWith("loop")) || a.localeCompare(b))) {
    const [major, minor] = readFileSync(`/sys/block/${name}/dev`, "utf8").trim().split(":").map(Number);
    try {
      closeSync(openSync(`/dev/${name}`, "r"));
      return { name, major: major!, minor: minor! };
    } catch {
      // the host cannot open it either: not a fair test of the container
    }
  }
  throw new Error("no block device under /sys/block can be opened on the host");
}

/** Capabilities the kernel knows that this host's bounding set lacks. */
const MISSING_CAPS = outsideBounding(CAPABILITIES.map((c) => c.name));

/**
 * A runc wrapper for dockerd that removes MISSING_CAPS from a container's config.json (create) or
 * an exec's process file, then runs runc with the same arguments.
 */
function boundedRuncWrapper(): string {
  const strip = `import json, sys
path = sys.argv[1]
with open(path) as f:
    doc = json.load(f)
proc = doc.get("process", doc)
caps = proc.get("capabilities") or {}
for k in list(caps):
    caps[k] = [c for c in caps[k] if c not in ${JSON.stringify(MISSING_CAPS)}]
with open(path, "w") as f:
    json.dump(doc, f)
`;
  return `#!/bin/sh
prev=
for a in "$@"; do
  case "$prev" in
    --bundle) python3 -c '${strip}' "$a/config.json" || exit 1 ;;
    --process|-p) python3 -c '${strip}' "$a" || exit 1 ;;
  esac
  prev=$a
done
exec runc "$@"
`;
}

function sh(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(file, args, (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))));
}

describe("escape battery: cove's containers beside dockerd's", { skip }, () => {
  let dir: string;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  let env: NodeJS.ProcessEnv;
  let runtimeRoot: string;
  let disk: { name: string; major: number; minor: number };
  const logs: string[] = [];

  /** The docker CLI against cove's daemon, and against dockerd. */
  const cove = (args: string[]): Promise<Result> => run(env, args);
  const peer = (args: string[]): Promise<Result> => dockerd!.docker(args);
  const both = async (args: string[]): Promise<{ cove: Result; dockerd: Result }> => ({ cove: await cove(args), dockerd: await peer(args) });
  const ok = (r: Result, what: string): string => {
    assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-esc-"));
    disk = hostBlockDevice();
    runtimeRoot = `/run/cove-esc-${process.pid}`;
    const socket = path.join(dir, "cove.sock");
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: (l) => logs.push(l) });
    env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    const wrapper = path.join(dir, "bounded-runc");
    await writeFile(wrapper, boundedRuncWrapper(), { mode: 0o755 });
    dockerd = await startDockerd({ dir: path.join(dir, "d"), daemonJson: { runtimes: { "bounded-runc": { path: wrapper } } } });

    // busybox with the probe at /escape-probe, imported into both daemons from the same tar
    await busyboxRootfsTar(path.join(dir, "bb"));
    const rootfs = path.join(dir, "bb", "rootfs");
    await sh("gcc", ["-static", "-O2", "-Wall", "-o", path.join(rootfs, PROBE), path.join(PACKAGE_ROOT, "test", "fixtures", "escape-probe.c")]);
    await chmod(path.join(rootfs, PROBE), 0o755);
    const tar = path.join(dir, "probe.tar");
    await tarDirectory(rootfs, createWriteStream(tar));
    ok(await cove(["import", "--change", 'CMD ["sh"]', tar, IMAGE]), "cove: import");
    ok(await peer(["import", "--change", 'CMD ["sh"]', tar, IMAGE]), "dockerd: import");
  });

  after(async () => {
    try {
      if (dockerd) {
        const ids = (await peer(["ps", "-aq"])).stdout.trim().split("\n").filter(Boolean);
        if (ids.length) await peer(["rm", "-f", ...ids]);
        await dockerd.stop();
      }
    } finally {
      await tearDownDaemon(daemon, dir);
      await rm(runtimeRoot, { recursive: true, force: true }).catch(() => undefined);
    }
  });

  const runBattery = async (extra: string[], dockerdExtra: string[] = []): Promise<{ cove: Map<string, Outcome>; dockerd: Map<string, Outcome> }> => {
    const args = (more: string[]) => ["run", ...extra, ...more, "--rm", "--network", "none", IMAGE, PROBE, "battery", String(process.pid), HOST_MARKER, String(disk.major), String(disk.minor)];
    const r = { cove: await cove(args([])), dockerd: await peer(args(dockerdExtra)) };
    const c = parseResults(ok(r.cove, "cove: run the battery"));
    const d = parseResults(ok(r.dockerd, "dockerd: run the battery"));
    for (const item of ITEMS) {
      assert.ok(c.has(item), `cove: no result for ${item}:\n${r.cove.stdout}${r.cove.stderr}`);
      assert.ok(d.has(item), `dockerd: no result for ${item}:\n${r.dockerd.stdout}${r.dockerd.stderr}`);
    }
    return { cove: c, dockerd: d };
  };

  it("a default container is denied every attempt, and everything dockerd's is denied", async () => {
    const r = await runBattery([]);
    console.log(table(`default container (host disk /dev/${disk.name} ${disk.major}:${disk.minor}):`, r.cove, r.dockerd));
    for (const item of ITEMS) {
      const c = r.cove.get(item)!;
      const d = r.dockerd.get(item)!;
      if (!d.allowed) assert.equal(c.allowed, false, `${item}: dockerd denies it (${d.detail}), cove allowed it (${c.detail})`);
      assert.equal(c.allowed, false, `${item}: cove allowed it (${c.detail})`);
    }
  });

  it("a --privileged container is allowed what dockerd's --privileged container is allowed", async () => {
    const r = await runBattery(["--privileged"], MISSING_CAPS.length ? ["--runtime", "bounded-runc"] : []);
    const note = MISSING_CAPS.length ? ` (dockerd through runc without ${MISSING_CAPS.join(", ")}, which this host's bounding set lacks)` : "";
    console.log(table(`--privileged container${note}:`, r.cove, r.dockerd));
    for (const item of ITEMS) {
      const c = r.cove.get(item)!;
      const d = r.dockerd.get(item)!;
      assert.equal(word(c), word(d), `${item}: cove ${word(c)} (${c.detail}), dockerd ${word(d)} (${d.detail})`);
    }
  });

  it("CVE-2019-5736: the binary that entered the container for an exec cannot be opened for writing", async () => {
    const outcomes: Record<string, string> = {};
    for (const [who, docker] of [
      ["cove", cove],
      ["dockerd", peer],
    ] as const) {
      const name = `esc-exe-${who}-${process.pid}`;
      ok(await docker(["run", "-d", "--name", name, "--network", "none", IMAGE, PROBE, "exe-watch", "/trigger", "/stop"]), `${who}: run the watcher`);
      try {
        // the watcher made the fifo; the exec re-executes whatever entered the container, which
        // then blocks opening the fifo until the watcher has tried its overwrites (cove's
        // monitor does; runc's binary does not take a plan file and exits at once, so the
        // watcher may miss it and stops once told to)
        for (let i = 0; i < 600 && !(await docker(["logs", name])).stdout.includes("READY"); i++) await new Promise((res) => setTimeout(res, 50));
        await docker(["exec", name, "/proc/self/exe", "/trigger"]);
        await docker(["exec", name, "touch", "/stop"]);
        ok(await docker(["wait", name]), `${who}: wait for the watcher`);
        const out = ok(await docker(["logs", name]), `${who}: the watcher's logs`);
        const result = parseResults(out).get("exe-overwrite");
        assert.ok(result, `${who}: the watcher reported nothing:\n${out}`);
        outcomes[who] = `${word(result)}: ${result.detail} [${/^EXE (.*)$/m.exec(out)?.[1] ?? "no process seen"}]`;
        if (who === "cove") {
          assert.match(out, /^EXE /m, `cove: the watcher never saw the re-executed entering process:\n${out}`);
          assert.equal(result.allowed, false, `cove: ${result.detail}`);
        }
      } finally {
        await docker(["rm", "-f", name]);
      }
    }
    console.log(`exe-overwrite during exec:\n  cove:    ${outcomes.cove}\n  dockerd: ${outcomes.dockerd}`);
  });

  /** What a probe's `fds` run says: refused (no CWD line), or where it ran and which fds it had. */
  const fdReport = (r: Result): { refused: boolean; cwd: string; fds: string[]; text: string } => {
    const cwd = /^CWD (.*)$/m.exec(r.stdout)?.[1];
    const fds = [...r.stdout.matchAll(/^FD (\d+ .*)$/gm)].map((m) => m[1]!);
    const text = cwd === undefined ? `refused (${r.code}: ${r.stderr.trim().split("\n")[0] ?? ""})` : `cwd ${cwd}${fds.length ? `, fds ${fds.join("; ")}` : ""}`;
    return { refused: cwd === undefined, cwd: cwd ?? "", fds, text };
  };

  it("CVE-2024-21626: -w /proc/self/fd/N never reaches the host, and no process inherits an fd beyond stdio", async () => {
    const lines: string[] = [];
    const check = (who: string, what: string, r: Result) => {
      const rep = fdReport(r);
      lines.push(`  ${what.padEnd(28)} ${who.padEnd(8)} ${rep.text}`);
      if (who !== "cove") return;
      if (/\/proc\/self\/fd\//.test(what)) assert.ok(rep.refused, `cove: ${what} must be refused, as Docker does: ${rep.text}`);
      assert.ok(!rep.cwd.startsWith("(unreachable)"), `cove: ${what}: the working directory is outside the container: ${rep.cwd}`);
      assert.deepEqual(rep.fds, [], `cove: ${what}: fds beyond stdio`);
    };
    // a container's first process, and an exec, without any working directory trick
    const plain = await both(["run", "--rm", "--network", "none", IMAGE, PROBE, "fds"]);
    ok(plain.cove, "cove: run fds");
    check("cove", "run", plain.cove);
    check("dockerd", "run", plain.dockerd);
    const names = { cove: `esc-fd-cove-${process.pid}`, dockerd: `esc-fd-dockerd-${process.pid}` };
    ok(await cove(["run", "-d", "--name", names.cove, "--network", "none", IMAGE, "sleep", "100000"]), "cove: run a container to exec in");
    ok(await peer(["run", "-d", "--name", names.dockerd, "--network", "none", IMAGE, "sleep", "100000"]), "dockerd: run a container to exec in");
    try {
      const execPlain = { cove: await cove(["exec", names.cove, PROBE, "fds"]), dockerd: await peer(["exec", names.dockerd, PROBE, "fds"]) };
      ok(execPlain.cove, "cove: exec fds");
      check("cove", "exec", execPlain.cove);
      check("dockerd", "exec", execPlain.dockerd);
      for (let fd = 3; fd <= 10; fd++) {
        const wd = `/proc/self/fd/${fd}`;
        const r = await both(["run", "--rm", "--network", "none", "-w", wd, IMAGE, PROBE, "fds"]);
        check("cove", `run -w ${wd}`, r.cove);
        check("dockerd", `run -w ${wd}`, r.dockerd);
        const e = { cove: await cove(["exec", "-w", wd, names.cove, PROBE, "fds"]), dockerd: await peer(["exec", "-w", wd, names.dockerd, PROBE, "fds"]) };
        check("cove", `exec -w ${wd}`, e.cove);
        check("dockerd", `exec -w ${wd}`, e.dockerd);
      }
    } finally {
      console.log(`working directory /proc/self/fd/N and inherited fds:\n${lines.join("\n")}`);
      await cove(["rm", "-f", names.cove]);
      await peer(["rm", "-f", names.dockerd]);
    }
  });
});

// Benchmark: create + start + wait + delete of a `true` container on the same bundle through
// cove's runtime in process, through `cove-runtime run` (what containerd, CRI-O or podman would
// be given as the runtime's path: the launcher scripts/install-command.sh writes, run as users
// run it, which starts the runtime's startup snapshot, its bundle or its modules, whichever this
// build has; see scripts/build-runtime.js), through `cove runtime run` (the whole cove command),
// and through `runc run`; then each runc-style CLI command on its own (state, create, start,
// delete, run), cove-runtime's and runc's interleaved, as containerd and the OCI test suites call
// them: one process per operation. Prints medians and ratios against runc, and each
// cove-runtime command's time split into node's own start-up (the floor of any command written
// for it), the loading of the runtime's code, and the runtime's work, so that a slower command
// points at its phase. Not a test: nothing here asserts on time.

import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CoveRuntime } from "../src/runtime/cove.js";
import { defaultSpec } from "../src/runtime/config/index.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const root = fileURLToPath(new URL("../..", import.meta.url));

function makeBundle(dir: string): string {
  const bundle = path.join(dir, "bundle");
  for (const d of ["bin", "proc", "sys", "dev", "tmp", "etc"]) mkdirSync(path.join(bundle, "rootfs", d), { recursive: true });
  copyFileSync("/bin/busybox", path.join(bundle, "rootfs/bin/busybox"));
  for (const applet of ["true", "sh"]) symlinkSync("busybox", path.join(bundle, "rootfs/bin", applet));
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = ["/bin/true"];
  spec.root = { path: "rootfs", readonly: true };
  writeFileSync(path.join(bundle, "config.json"), JSON.stringify(spec));
  return bundle;
}

/**
 * node as the launcher scripts/install-command.sh writes starts cove-runtime (as containerd, CRI-O
 * and podman run it): without NODE_EXTRA_CA_CERTS (see src/cli/runtime-main.ts).
 */
const RUNTIME_NODE = ["env", "-u", "NODE_EXTRA_CA_CERTS", process.execPath];

/** What cove-runtime's launcher starts: node's arguments before the command's own. */
interface LaunchedForm {
  form: "snapshot" | "bundle" | "modules";
  nodeArgs: string[];
}

/**
 * Writes cove-runtime's launcher into dir (scripts/install-command.sh, as the set-up does for
 * /usr/local/bin) and reads from bash's trace which form of the runtime it starts.
 */
function installLauncher(dir: string): { launcher: string; launched: LaunchedForm } {
  const bin = path.join(dir, "bin");
  execFileSync("bash", [path.join(root, "scripts/install-command.sh"), bin], { stdio: "ignore" });
  const launcher = path.join(bin, "cove-runtime");
  const traced = spawnSync("bash", ["-x", launcher, "--version"], { encoding: "utf8" });
  const line = /^\+ exec (.*) --version$/m.exec(traced.stderr)?.[1];
  if (traced.status !== 0 || !line) throw new Error(`cove-runtime's launcher ${launcher} failed: ${traced.stderr}`);
  // the launcher's paths have no spaces here (bash -x would quote them otherwise)
  const [, ...nodeArgs] = line.split(" ");
  const form = nodeArgs[0] === "--snapshot-blob" ? "snapshot" : nodeArgs[0]!.endsWith(".cjs") ? "bundle" : "modules";
  return { launcher, launched: { form, nodeArgs } };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => Promise<void> | void): Promise<number[]> {
  const out: number[] = [];
  await fn(); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * Files for splitting a cove-runtime command's time by phase, for the form its launcher starts.
 * The modules: a module hook that lists, in a file named by COVE_BENCH_MODULES, every module the
 * command loads (recorded once, in the warm-up round), and a probe that loads the same modules
 * (all but the entry, which would run the command) and exits. The bundle and the snapshot: the
 * same code built the same way (scripts/build-runtime.js) from an entry that loads it and does
 * nothing; the modules a command imports on demand (dynamic imports, all in the one file) are
 * then evaluated in its work. node -e 0 is node's start; the probe less that is the loading of
 * the runtime's code; the command less the probe is the runtime's work (and the launcher's bash).
 */
async function phaseProbes(dir: string, launched: LaunchedForm): Promise<{ recordArgs: string[]; probe: (op: string) => string[] }> {
  const moduleList = (op: string) => path.join(dir, `modules-${op}.txt`);
  if (launched.form !== "modules") {
    const build = (await import(pathToFileURL(path.join(root, "scripts/build-runtime.js")).href)) as {
      bundle(entry: string, outfile: string): Promise<string>;
      snapshot(script: string, blob: string): string;
    };
    const entry = path.join(dir, "probe-entry.mjs");
    // absolute paths: esbuild would take a file: URL for a package, which it leaves out
    const url = (p: string) => JSON.stringify(path.join(root, "dist/src", p));
    writeFileSync(
      entry,
      `import v8 from "node:v8";
import { setTraceFile } from ${url("common/trace.js")};
import { runRuntimeCommand } from ${url("cli/runtime-run.js")};
globalThis.coveBenchLoaded = [setTraceFile, runRuntimeCommand];
if (v8.startupSnapshot.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(() => {});
`,
    );
    const script = await build.bundle(entry, path.join(dir, "probe.cjs"));
    if (launched.form === "bundle") return { recordArgs: [], probe: () => [script] };
    const blob = build.snapshot(script, path.join(dir, "probe.blob"));
    return { recordArgs: [], probe: () => ["--snapshot-blob", blob, "--"] };
  }
  const hooks = path.join(dir, "module-hooks.mjs");
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";
let file;
export function initialize(data) { file = data; }
export async function load(url, context, next) {
  if (url.startsWith("file:")) appendFileSync(file, url + "\\n");
  return next(url, context);
}
`,
  );
  const register = path.join(dir, "module-register.mjs");
  writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)}, { data: process.env.COVE_BENCH_MODULES });\n`);
  const probe = path.join(dir, "module-probe.mjs");
  writeFileSync(
    probe,
    `import { readFileSync } from "node:fs";
const [list, entry] = process.argv.slice(2);
for (const url of readFileSync(list, "utf8").split("\\n")) if (url && url !== entry) await import(url);
`,
  );
  const entry = launched.nodeArgs.at(-1)!;
  return { recordArgs: ["--import", register], probe: (op) => [probe, moduleList(op), pathToFileURL(entry).href] };
}

/**
 * Each CLI command on its own, cove's and runc's interleaved round by round: create (stdio to
 * /dev/null: a created container keeps the caller's), start, state, kill of a running container,
 * delete --force, and run; beside them node -e 0 and, per command, a probe that loads the
 * command's modules and does nothing else (see phaseProbes).
 */
async function perCommand(launcher: string, launched: LaunchedForm, bundle: string, stateRoot: string): Promise<void> {
  const probes = await phaseProbes(path.dirname(bundle), launched);
  const moduleList = (op: string) => path.join(path.dirname(bundle), `modules-${op}.txt`);
  // node as cove-runtime's launcher starts it, for the probes and node's own start
  const node = RUNTIME_NODE;
  const sides = [
    {
      name: "cove-runtime",
      // through its launcher, as users run it; the warm-up round of the modules records them with
      // node started as the launcher would, with the hook
      argv: (args: string[], recordArgs: string[] = []) =>
        recordArgs.length > 0 ? [...node, ...recordArgs, ...launched.nodeArgs, "--root", path.join(stateRoot, "cove-ops"), ...args] : [launcher, "--root", path.join(stateRoot, "cove-ops"), ...args],
    },
    { name: "runc", argv: (args: string[]) => ["runc", "--root", path.join(stateRoot, "runc-ops"), ...args] },
  ];
  const run = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1), { stdio: "ignore" });
  // bash's time keyword: the command's wall time and its CPU time (user + system, its waited-for
  // children included), to the millisecond; on a loaded machine the CPU time says more than the
  // wall time of a process that waits for a core
  const timed = (argv: string[], env?: NodeJS.ProcessEnv) => {
    const r = spawnSync("bash", ["-c", 'TIMEFORMAT="%3R %3U %3S"; time "$@" </dev/null >/dev/null 2>&1', "bash", ...argv], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", env: env ?? process.env });
    const m = /(\d+\.\d+) (\d+\.\d+) (\d+\.\d+)\s*$/.exec(r.stderr);
    if (!m) throw new Error(`no timing from bash for ${argv.join(" ")}: ${r.stderr}`);
    return { status: r.status, wall: Number(m[1]) * 1000, cpu: (Number(m[2]) + Number(m[3])) * 1000 };
  };
  const ops = ["create", "start", "state", "kill", "delete", "run"] as const;
  const times = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const load = loadavg();
  // the container sleeps so that state and kill see it running
  const sleeping = path.join(path.dirname(bundle), "sleeping");
  mkdirSync(sleeping);
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = ["/bin/sleep", "3600"];
  spec.root = { path: path.join(bundle, "rootfs"), readonly: true };
  writeFileSync(path.join(sleeping, "config.json"), JSON.stringify(spec));
  symlinkSync("busybox", path.join(bundle, "rootfs/bin/sleep"));
  const made: string[] = [];
  const add = (key: string, r: { wall: number; cpu: number }) => {
    times.set(key, [...(times.get(key) ?? []), r.wall]);
    cpu.set(key, [...(cpu.get(key) ?? []), r.cpu]);
  };
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      for (const side of sides) {
        const id = `op${made.length}`;
        made.push(id, `${id}r`);
        const steps: [(typeof ops)[number], string[]][] = [
          ["create", ["create", "--bundle", sleeping, id]],
          ["start", ["start", id]],
          ["state", ["state", id]],
          ["kill", ["kill", id, "KILL"]],
          ["delete", ["delete", "--force", id]],
          ["run", ["run", "--bundle", bundle, `${id}r`]],
        ];
        for (const [op, args] of steps) {
          // the first round warms caches, and records which modules each cove-runtime command loads
          const record = round === 0 && side.name === "cove-runtime" && probes.recordArgs.length > 0;
          const r = record ? timed(side.argv(args, probes.recordArgs), { ...process.env, COVE_BENCH_MODULES: moduleList(op) }) : timed(side.argv(args));
          if (r.status !== 0) throw new Error(`${side.name} ${args.join(" ")} failed (${r.status})`);
          if (round > 0) add(`${side.name} ${op}`, r);
        }
      }
      for (const op of ops) {
        const r = timed([...node, ...probes.probe(op)]);
        if (r.status !== 0) throw new Error(`the module probe of ${op} failed (${r.status})`);
        if (round > 0) add(`modules ${op}`, r);
      }
      const floor = timed([...node, "-e", "0"]);
      if (round > 0) add("node -e 0", floor);
      // and as any other command starts it, in this environment
      const plain = timed(["node", "-e", "0"]);
      if (round > 0) add("plain node -e 0", plain);
    }
  } finally {
    // a failed round leaves its sleeping container: removed, whichever side made it
    for (const id of made) for (const side of sides) run(side.argv(["delete", "--force", id]));
  }
  const tables: [string, Map<string, number[]>][] = [
    ["wall time", times],
    ["CPU time (user + system)", cpu],
  ];
  for (const [what, table] of tables) {
    console.log(`each CLI command on its own, ${what}, ${ROUNDS} rounds interleaved, median ms (load ${load.map((x) => x.toFixed(2)).join(" ")} at the start):`);
    console.log(`  ${"".padEnd(14)}${ops.map((o) => o.padStart(9)).join("")}${"create+start+delete".padStart(22)}`);
    const m = (side: string, op: string) => median(table.get(`${side} ${op}`)!);
    const both = (side: string) => m(side, "create") + m(side, "start") + m(side, "delete");
    for (const side of sides) console.log(`  ${side.name.padEnd(14)}${ops.map((o) => m(side.name, o).toFixed(1).padStart(9)).join("")}${both(side.name).toFixed(1).padStart(22)}`);
    const ratio = (op: string) => (m("cove-runtime", op) / m("runc", op)).toFixed(2);
    console.log(`  ${"ratio to runc".padEnd(14)}${ops.map((o) => ratio(o).padStart(9)).join("")}${(both("cove-runtime") / both("runc")).toFixed(2).padStart(22)}`);
    // cove-runtime's phases: node's start, its modules' loading, the runtime's work
    const nodeStart = median(table.get("node -e 0")!);
    const phases: [string, (op: string) => number][] = [
      ["node start", () => nodeStart],
      ["module load", (op) => m("modules", op) - nodeStart],
      ["runtime work", (op) => m("cove-runtime", op) - m("modules", op)],
    ];
    console.log(
      `  cove-runtime (its ${launched.form}) by phase (node -e 0 as its launcher runs node; a probe that loads the ${launched.form === "modules" ? "command's modules" : `same ${launched.form}`}, less node -e 0; the command through its launcher less the probe):`,
    );
    for (const [name, of] of phases) console.log(`  ${`  ${name}`.padEnd(14)}${ops.map((o) => of(o).toFixed(1).padStart(9)).join("")}`);
    console.log(`  node -e 0: ${nodeStart.toFixed(1)} ms as cove-runtime's launcher runs node (${node.join(" ")}), ${median(table.get("plain node -e 0")!).toFixed(1)} ms as other commands start it here`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("runtime benchmark skipped: needs root");
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "cove-bench-"));
  try {
    const bundle = makeBundle(dir);
    const stateRoot = path.join("/run/cove-bench", path.basename(dir));
    const rt = new CoveRuntime({ root: path.join(stateRoot, "cove") });
    let n = 0;
    const results: [string, number[]][] = [];
    results.push([
      "cove in-process (CoveRuntime.run)",
      await time(async () => {
        const exit = await rt.run(`b${n++}`, { bundle, stdio: "ignore" });
        if (exit.code !== 0) throw new Error(`container exited ${exit.code}`);
      }),
    ]);
    const { launcher, launched } = installLauncher(dir);
    results.push([
      `cove-runtime run (its ${launched.form})`,
      await time(() => {
        execFileSync(launcher, ["--root", path.join(stateRoot, "cove-entry"), "run", "--bundle", bundle, `e${n++}`], { stdio: "ignore" });
      }),
    ]);
    const cli = path.join(root, "dist/src/cli/main.js");
    results.push([
      "cove CLI (cove runtime run)",
      await time(() => {
        execFileSync(process.execPath, [cli, "runtime", "--root", path.join(stateRoot, "cove-cli"), "run", "--bundle", bundle, `c${n++}`], { stdio: "ignore" });
      }),
    ]);
    const runc = spawnSync("runc", ["--version"]).status === 0;
    if (runc) {
      results.push([
        "runc run",
        await time(() => {
          execFileSync("runc", ["--root", path.join(stateRoot, "runc"), "run", "--bundle", bundle, `r${n++}`], { stdio: "ignore" });
        }),
      ]);
    }
    const base = runc ? median(results.at(-1)![1]) : undefined;
    console.log(`create+start+wait+delete of /bin/true, ${ROUNDS} rounds, median (p10..p90):`);
    for (const [name, xs] of results) {
      const s = [...xs].sort((a, b) => a - b);
      const p = (q: number) => s[Math.floor((s.length - 1) * q)]!.toFixed(1);
      const ratio = base ? `  ratio to runc ${(median(xs) / base).toFixed(2)}` : "";
      console.log(`  ${name.padEnd(40)} ${median(xs).toFixed(1).padStart(7)} ms  (${p(0.1)}..${p(0.9)})${ratio}`);
    }
    if (runc) await perCommand(launcher, launched, bundle, stateRoot);
    rmSync(stateRoot, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    // the parent of every run's state root goes once no other run of this benchmark uses it
    try {
      rmdirSync("/run/cove-bench");
    } catch {
      // another run's state is still there, or it is gone already
    }
  }
}

await main();

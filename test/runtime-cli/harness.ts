// Differential harness for the runtime CLI: each scenario runs the same command lines against
// `runc` and `node dist/src/cli/main.js runtime`, each with its own temp --root, and the test
// compares what the two observed. A scenario is three tests: "[runc]" (the reference must behave
// as the scenario expects), "[cove]" (cove must too), and "cove agrees with runc" (the observations
// are equal). Commands run with their stdout and stderr going to files (a container started by
// `create` keeps the caller's stdio, so pipes would never reach their end), with a time limit.
// Everything lives under /tmp/cove-test-<random>/ and is removed after each test, containers and
// cgroups included.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { BUSYBOX, CLI as BUILT_CLI, IS_ROOT, makeBundle, RUNC, removeCgroup, sleep, type Bundle } from "../fixtures/bundle.js";
import type { Spec } from "../../src/runtime/spec.js";

export type Kind = "runc" | "cove";

/**
 * create/run -d/exec -d return at once in runc; a hang (the command never returns) is a bug.
 * The bound still leaves room for a busy machine, where starting node alone can take seconds.
 */
export const QUICK = 60_000;

/** cove's CLI entry: this package's build, or COVE_TEST_CLI (another build of cove to compare). */
export const CLI = process.env.COVE_TEST_CLI ?? BUILT_CLI;
/**
 * A cove-runtime command to run instead of `node CLI runtime`: COVE_TEST_RUNTIME, e.g. the
 * launcher scripts/install-command.sh writes, to run the scenarios from its snapshot or bundle.
 */
export const RUNTIME_COMMAND = process.env.COVE_TEST_RUNTIME || undefined;
export const KINDS: Kind[] = ["runc", "cove"];

export const SCHEMA_DIR = (() => {
  for (const dir of ["/work/shared/specs/oci-runtime/schema", path.resolve(CLI, "../../../../../shared/specs/oci-runtime/schema")]) {
    if (existsSync(path.join(dir, "config-schema.json"))) return dir;
  }
  return undefined;
})();

/** Why this directory cannot run here, or undefined. */
export function skipReason(): string | undefined {
  if (!IS_ROOT) return "needs root (namespaces, cgroups, mounts)";
  if (!existsSync(RUNC)) return `${RUNC} is missing (apt-get install runc): the differential suite compares against it`;
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static)`;
  if (!existsSync(CLI)) return `${CLI} is missing: build first (npx tsc -p tsconfig.json)`;
  if (!(process.env.PATH ?? "/usr/bin").split(":").some((d) => existsSync(path.join(d, "gcc")))) return "gcc is missing: it builds the probe";
  return undefined;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The command line, for messages. */
  line: string;
}

export interface CliOptions {
  cwd?: string;
  /** Text for stdin (otherwise /dev/null). */
  input?: string;
  /** Extra fds handed to the command as its fds 3, 4, ... */
  extraFds?: number[];
  /** Give up (and kill the command) after this long; default a minute. */
  timeoutMs?: number;
  /** Global flags before the command (e.g. --log). */
  globals?: string[];
  /** A command line the runtime runs under (it execs the rest of its arguments). */
  wrapper?: string[];
}

/** One runtime's side of a scenario: its binary, temp root, bundles and containers. */
export class Side {
  readonly base: string;
  readonly root: string;
  private ids: string[] = [];
  private bundles: Bundle[] = [];
  private deferred: (() => Promise<unknown> | unknown)[] = [];

  constructor(
    readonly kind: Kind,
    base: string,
  ) {
    this.base = base;
    this.root = path.join(base, "root");
  }

  static async make(kind: Kind): Promise<Side> {
    return new Side(kind, await mkdtemp("/tmp/cove-test-"));
  }

  /** argv of the binary with --root. */
  argv(globals: string[] = []): string[] {
    const g = ["--root", this.root, ...globals];
    if (this.kind === "runc") return [RUNC, ...g];
    return RUNTIME_COMMAND ? [RUNTIME_COMMAND, ...g] : [process.execPath, CLI, "runtime", ...g];
  }

  /** Runs `<runtime> --root R [globals] args...`; never rejects for a non-zero status. */
  async cli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
    const tag = randomBytes(4).toString("hex");
    const outFile = path.join(this.base, `cli-${tag}.out`);
    const errFile = path.join(this.base, `cli-${tag}.err`);
    const out = await open(outFile, "w");
    const err = await open(errFile, "w");
    let inp: Awaited<ReturnType<typeof open>> | undefined;
    if (opts.input !== undefined) {
      const inFile = path.join(this.base, `cli-${tag}.in`);
      await writeFile(inFile, opts.input);
      inp = await open(inFile, "r");
    }
    const [cmd, ...rest] = [...(opts.wrapper ?? []), ...this.argv(opts.globals), ...args];
    const line = [this.kind, ...args].join(" ");
    try {
      const child = spawn(cmd!, rest, {
        cwd: opts.cwd ?? this.base,
        stdio: [inp ? inp.fd : "ignore", out.fd, err.fd, ...(opts.extraFds ?? [])],
        detached: true,
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // gone
        }
      }, opts.timeoutMs ?? 60_000);
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
        child.once("error", reject);
        child.once("exit", (c, s) => resolve([c, s]));
      });
      clearTimeout(timer);
      return { code, signal, stdout: await readFile(outFile, "utf8"), stderr: await readFile(errFile, "utf8"), timedOut, line };
    } finally {
      await out.close();
      await err.close();
      await inp?.close();
    }
  }

  /** Like cli() but the command must exit 0 in time; returns stdout. */
  async ok(args: string[], opts: CliOptions = {}): Promise<string> {
    const r = await this.cli(args, opts);
    if (r.timedOut) throw new Error(`\`${r.line}\` did not return within ${opts.timeoutMs ?? 60_000} ms (killed); stderr: ${r.stderr.trim()}`);
    if (r.code !== 0) throw new Error(`\`${r.line}\` exited with ${r.code ?? r.signal}; stderr: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A unique container id, force-deleted after the test. */
  id(prefix = "c"): string {
    const id = `${prefix}-${randomBytes(4).toString("hex")}`;
    this.ids.push(id);
    return id;
  }

  /** A fresh bundle (makeBundle's), with the process replaced by args when given. */
  async bundle(tweak?: (spec: Spec, b: { base: string; rootfs: string }) => unknown): Promise<Bundle> {
    const b = await makeBundle(tweak);
    this.bundles.push(b);
    return b;
  }

  defer(fn: () => Promise<unknown> | unknown): void {
    this.deferred.push(fn);
  }

  /** The parsed `state` of a container. */
  async state(id: string): Promise<Record<string, unknown>> {
    return JSON.parse(await this.ok(["state", id])) as Record<string, unknown>;
  }

  async status(id: string): Promise<string> {
    const r = await this.cli(["state", id]);
    if (r.code !== 0) return `(state failed: ${r.stderr.trim()})`;
    return String((JSON.parse(r.stdout) as { status: unknown }).status);
  }

  /** Polls state until it reports status (or throws). */
  async waitStatus(id: string, status: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      last = await this.status(id);
      if (last === status) return;
      await sleep(50);
    }
    throw new Error(`${this.kind}: container ${id} did not become ${status} within ${timeoutMs} ms (last: ${last})`);
  }

  async cleanup(): Promise<void> {
    while (this.deferred.length) {
      try {
        await this.deferred.pop()!();
      } catch {
        // keep cleaning
      }
    }
    for (const id of this.ids) await this.cli(["delete", "--force", id], { timeoutMs: 10_000 }).catch(() => undefined);
    // anything else still listed under this root
    const listed = await this.cli(["list", "-q"], { timeoutMs: 10_000 }).catch(() => undefined);
    for (const id of listed?.stdout.split("\n").filter(Boolean) ?? []) await this.cli(["delete", "--force", id], { timeoutMs: 10_000 }).catch(() => undefined);
    for (const b of this.bundles) {
      await removeCgroup(b.cgroupsPath).catch(() => undefined);
      await b.cleanup().catch(() => undefined);
    }
    await rm(this.base, { recursive: true, force: true });
  }
}

export interface ScenarioOptions<T> {
  /** Compares cove's observation with runc's; the default is deepEqual. */
  compare?: (cove: T, runc: T, t: TestContext) => void;
  /** Run only for these (e.g. a cove-only feature); no comparison then. */
  only?: Kind[];
  timeout?: number;
}

/**
 * Defines describe(title) with one test per runtime running scenario (which asserts what both
 * must do and returns an observation) and a test comparing the observations.
 */
export function differential<T>(title: string, scenario: (s: Side, t: TestContext) => Promise<T>, opts: ScenarioOptions<T> = {}): void {
  const skip = skipReason();
  describe(title, { skip }, () => {
    const seen = new Map<Kind, T>();
    const kinds = opts.only ?? KINDS;
    for (const kind of kinds) {
      it(`[${kind}]`, { timeout: opts.timeout ?? 600_000 }, async (t) => {
        const side = await Side.make(kind);
        try {
          seen.set(kind, await scenario(side, t));
        } finally {
          await side.cleanup();
        }
      });
    }
    if (kinds.length === 2) {
      it("cove agrees with runc", async (t) => {
        const cove = seen.get("cove");
        const runc = seen.get("runc");
        if (runc === undefined) return t.skip("the runc run of this scenario failed: nothing to compare with");
        if (cove === undefined) assert_fail("the cove run of this scenario failed (see [cove]): nothing to compare");
        if (opts.compare) opts.compare(cove, runc, t);
        else deepEqualReport(cove, runc);
      });
    }
  });
}

function assert_fail(message: string): never {
  throw new Error(message);
}

/** deepEqual with a message that names both sides. */
export function deepEqualReport(cove: unknown, runc: unknown, what = "observations"): void {
  const a = JSON.stringify(cove, null, 1);
  const b = JSON.stringify(runc, null, 1);
  if (a !== b) throw new Error(`cove's ${what} differ from runc's\n--- runc\n${b}\n--- cove\n${a}`);
}

// ---------------------------------------------------------------- schemas

interface AjvLike {
  addSchema(schema: unknown, key: string): unknown;
  getSchema(key: string): ((data: unknown) => boolean) & { errors?: unknown[] | null };
}

let ajv: AjvLike | undefined;

/** Validates doc against one of the runtime spec's schemas; returns the problems (empty = valid). */
export function schemaErrors(entry: "config-schema.json" | "features-schema.json" | "state-schema.json", doc: unknown): string[] {
  if (!SCHEMA_DIR) throw new Error("the OCI runtime spec's schema directory is missing (/work/shared/specs/oci-runtime/schema)");
  if (!ajv) {
    // the schemas say draft-04; their keywords mean the same under ajv 8's default draft
    const { Ajv } = createRequire(import.meta.url)("ajv") as { Ajv: new (o: object) => AjvLike };
    const a = new Ajv({ allErrors: true, strict: false, validateSchema: false, validateFormats: false });
    for (const f of ["defs.json", "defs-linux.json", "config-linux.json", "config-solaris.json", "config-windows.json", "config-vm.json", "config-zos.json", "config-freebsd.json", "defs-windows.json", "defs-vm.json", "defs-zos.json", "defs-freebsd.json", "features-linux.json", "config-schema.json", "features-schema.json", "state-schema.json"]) {
      const file = path.join(SCHEMA_DIR, f);
      if (existsSync(file)) a.addSchema(JSON.parse(readFileSync(file, "utf8")), f);
    }
    ajv = a;
  }
  const validate = ajv.getSchema(entry);
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => JSON.stringify(e));
}

// ---------------------------------------------------------------- small helpers

/** Sets the bundle's process args (and terminal off) and rewrites config.json. */
export async function setArgs(b: Bundle, args: string[]): Promise<void> {
  b.spec.process!.args = args;
  await b.write();
}

export function sortedKeys(o: unknown): string[] {
  return o && typeof o === "object" ? Object.keys(o).sort() : [];
}

/** True while pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

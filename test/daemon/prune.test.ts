// Pruning as Docker users do it. The docker CLI v28 runs the same scenario against cove (with
// networking, on a private root) and against Debian's dockerd: `docker system prune` with its
// filters, -a and --volumes, its prompt, `docker builder prune`, and `docker system df`, and the
// outputs and what remains afterwards must agree once IDs, sizes and times are normalized. Both
// daemons are driven at API 1.41 (what dockerd 20.10 speaks, where volume prune takes every unused
// volume); cove's 1.42+ rule (anonymous volumes only) is checked on its own. Then the cove CLI's
// prune commands run against the same cove daemon as the docker CLI and must print what it prints.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startDaemon } from "../../src/daemon/index.js";
import { busyboxRootfsTar, importBusybox } from "../images/fixtures.js";
import { freeSubnets, runDocker, setupNetwork, skipReason, type CliResult, type NetHarness } from "../network/harness.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const DOCKER = "/usr/local/bin/docker";
const COVE = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const skip = skipReason || dockerdAvailable() || false;

/** IDs, sizes, times and the order of names within a section differ between daemons by nature; the rest must not. */
function normalize(text: string): string {
  const flat = text
    .replace(/\b(sha256:)?[0-9a-f]{64}\b/g, "<id>")
    .replace(/\b[0-9a-f]{12}\b/g, "<short>")
    .replace(/\d+(\.\d+)?(B|kB|MB|GB)\b/g, "<size>")
    .replace(/\(\d+%\)/g, "(<pct>)")
    .replace(/(Less than a second|About a minute|\d+ (seconds?|minutes?)) ago/g, "<ago>")
    .replace(/(Up|Exited \(\d+\)|Created) ?(Less than a second|About a minute|\d+ (seconds?|minutes?))?( ago)?/g, (m) => m.split(" ")[0]!)
    // each CLI's own pointer to --help after a usage error
    .replace(/\nSee 'cove [a-z ]+ --help'\.\n$/, "\n")
    .replace(/\n\nUsage:\s+docker [a-z ]+ \[OPTIONS\]\n\nRun 'docker [a-z ]+ --help' for more information\n$/, "\n")
    .replace(/ {2,}/g, "\t")
    .replace(/\t+$/gm, "");
  // "Deleted ...:" sections list names in each daemon's own order
  return flat
    .split("\n\n")
    .map((section) => {
      const [head, ...lines] = section.split("\n");
      if (!head?.startsWith("Deleted")) return section;
      // dockerd also lists each layer an image deletion frees; cove lists the image
      return [head, ...[...new Set(lines)].sort()].join("\n");
    })
    .join("\n\n");
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, input = ""): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.on("error", () => undefined); // EPIPE: the command exited without reading its input
    child.stdin?.end(input);
  });
}

describe("docker system prune, builder prune and system df: cove against dockerd", { skip }, () => {
  let cove: NetHarness;
  let dockerd: Dockerd | undefined;
  let subnets: string[];

  const coveEnv = (version: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: cove.base, DOCKER_CONFIG: path.join(cove.base, "docker-config"), DOCKER_HOST: `unix://${cove.socket}`, DOCKER_API_VERSION: version });
  const onCove = (args: string[], input?: string, version = "1.41") => run(DOCKER, args, coveEnv(version), input);
  const onDocker = (args: string[], input?: string) => run(DOCKER, args, { ...dockerd!.env, DOCKER_API_VERSION: "1.41" }, input);
  const ok = async (r: Promise<CliResult>, what: string): Promise<string> => {
    const res = await r;
    assert.equal(res.code, 0, `${what}: ${res.stderr}`);
    return res.stdout;
  };
  /** Runs args on both daemons and compares the normalized results; returns cove's. */
  const same = async (args: string[], opts: { input?: string; sort?: boolean } = {}): Promise<CliResult> => {
    const [c, d] = [await onCove(args, opts.input), await onDocker(args, opts.input)];
    const shape = (r: CliResult) => {
      let stdout = normalize(r.stdout);
      if (opts.sort) stdout = stdout.split("\n").sort().join("\n");
      return { code: r.code, stdout, stderr: normalize(r.stderr) };
    };
    assert.deepEqual(shape(c), shape(d), `docker ${args.join(" ")}`);
    return c;
  };
  /** The same setup on both daemons: each gets its own subnets. */
  const both = async (make: (args: (args: string[]) => Promise<string>, subnet: (i: number) => string) => Promise<void>) => {
    await make((a) => ok(onCove(a), `cove: docker ${a.join(" ")}`), (i) => subnets[i]!);
    await make((a) => ok(onDocker(a), `dockerd: docker ${a.join(" ")}`), (i) => subnets[4 + i]!);
  };
  const remaining = async () => {
    for (const args of [
      ["ps", "-a", "--format", "{{.Names}} {{.Image}} {{.State}}"],
      // the private dockerd runs without its default bridge
      ["network", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "type=custom"],
      ["volume", "ls", "--format", "{{.Name}}"],
      ["images", "--format", "{{.Repository}}:{{.Tag}}"],
    ]) {
      const r = await same(args, { sort: true });
      assert.equal(r.code, 0, r.stderr);
    }
  };

  before(async () => {
    cove = await setupNetwork();
    subnets = freeSubnets(8, [cove.bridgeSubnet]);
    dockerd = await startDockerd({ dir: path.join(cove.base, "dockerd") });
    await ok(onDocker(["import", "--change", 'CMD ["sh"]', await busyboxRootfsTar(path.join(cove.base, "bb")), "busybox:latest"]), "import on dockerd");
  });

  after(async () => {
    try {
      // dockerd leaves the bridges of its networks behind when it stops: remove them first
      if (dockerd) {
        const ids = (await onDocker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
        if (ids.length) await onDocker(["rm", "-f", "-v", ...ids]);
        await onDocker(["network", "prune", "-f"]);
      }
    } finally {
      try {
        await dockerd?.stop();
      } finally {
        await cove?.cleanup();
      }
    }
  });

  it("prompts, refuses until with --volumes, and finds nothing on a fresh daemon", async () => {
    await same(["system", "prune"], { input: "n\n" });
    await same(["system", "prune", "-a", "--volumes", "--filter", "label=a=b", "--filter", "until=10m"], { input: "\n" });
    await same(["system", "prune", "--volumes", "--filter", "until=1h", "-f"]);
    await same(["system", "prune", "-f"]);
    await same(["system", "prune", "-f", "--filter", "until=1h"]);
    await same(["builder", "prune", "-f"]);
    await same(["builder", "prune", "-af"]);
    await same(["builder", "prune", "-f", "--filter", "nope=1"]);
    await same(["builder", "prune", "-f", "--filter", "until=24h", "--filter", "until=1h"]);
    // dockerd 20.10 words a bad duration differently from later ones: the status and its start must agree
    const [c, d] = [await onCove(["builder", "prune", "-f", "--filter", "until=soon"]), await onDocker(["builder", "prune", "-f", "--filter", "until=soon"])];
    assert.equal(c.code, d.code);
    assert.match(c.stderr, /^Error response from daemon: failed to prune build cache: "until" filter expects a duration \(e\.g\., '24h'\)/m);
  });

  it("POST /build/prune and /system/df's build cache: the answers dockerd gives for an empty cache", async () => {
    const api = (socket: string, method: string, url: string) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const req = http.request({ socketPath: socket, method, path: url }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || "{}") as Record<string, unknown> }));
        });
        req.on("error", reject);
        req.end();
      });
    const filters = (f: Record<string, string[]>) => encodeURIComponent(JSON.stringify(Object.fromEntries(Object.entries(f).map(([k, vs]) => [k, Object.fromEntries(vs.map((v) => [v, true]))]))));
    const okCases = ["/v1.41/build/prune", "/v1.41/build/prune?all=1&keep-storage=1000", `/v1.41/build/prune?filters=${filters({ until: ["24h"], label: ["a=b"] })}`, `/v1.41/build/prune?filters=${filters({ "unused-for": ["1h"], type: ["regular"] })}`];
    for (const url of okCases) {
      const [c, d] = [await api(cove.socket, "POST", url), await api(dockerd!.socket, "POST", url)];
      assert.equal(c.status, 200, url);
      assert.equal(d.status, 200, url);
      // dockerd 20.10 sends null for the empty list: the docker CLI reads both alike
      assert.deepEqual(c.body, { CachesDeleted: [], SpaceReclaimed: 0 }, url);
      assert.deepEqual({ ...d.body, CachesDeleted: [] }, c.body, url);
    }
    for (const url of [`/v1.41/build/prune?filters=${filters({ nope: ["x"] })}`, `/v1.41/build/prune?filters=${filters({ until: ["1h", "2h"] })}`]) {
      const [c, d] = [await api(cove.socket, "POST", url), await api(dockerd!.socket, "POST", url)];
      assert.deepEqual(c, d, url);
    }
    // dockerd 20.10 answers these with 500; cove says they are the caller's mistake (400), as later dockerd versions do
    for (const url of [`/v1.41/build/prune?filters=${filters({ until: ["soon"] })}`, "/v1.41/build/prune?keep-storage=lots"]) {
      const [c, d] = [await api(cove.socket, "POST", url), await api(dockerd!.socket, "POST", url)];
      assert.equal(c.status, 400, url);
      assert.ok(d.status >= 400, url);
    }
    for (const url of ["/system/df", "/system/df?type=build-cache", "/system/df?type=image"]) {
      const c = await api(cove.socket, "GET", url);
      assert.equal(c.status, 200);
      assert.deepEqual(c.body.BuildCache, url.endsWith("image") ? null : [], url);
    }
  });

  it("system df and df -v show containers, volumes and images as dockerd does", async () => {
    await both(async (docker) => {
      await docker(["volume", "create", "dfvol"]);
      await docker(["create", "--name", "dfc", "-v", "dfvol:/data", "-v", "/anon", "busybox", "true"]);
    });
    try {
      await same(["system", "df"]);
      // dockerd lists volumes in Go's map order
      await same(["system", "df", "-v"], { sort: true });
      await same(["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"]);
      await same(["system", "df", "-v", "--format", "{{json .BuildCache}}"]);
    } finally {
      // passed or not, the next test starts without them
      for (const run of [onCove, onDocker]) {
        await run(["rm", "-f", "-v", "dfc"]);
        await run(["volume", "rm", "-f", "dfvol"]);
      }
    }
  });

  it("system prune with filters, then -a --volumes: the same things go and the same remain", async () => {
    try {
      await both(async (docker, subnet) => {
        await docker(["network", "create", "--subnet", subnet(0), "pn-used"]);
        await docker(["network", "create", "--subnet", subnet(1), "pn-unused"]);
        await docker(["network", "create", "--subnet", subnet(2), "--label", "keep=1", "pn-kept"]);
        await docker(["volume", "create", "pv-named"]);
        await docker(["volume", "create", "--label", "keep=1", "pv-kept"]);
        await docker(["run", "-d", "--name", "p-running", "--network", "pn-used", "-v", "pv-kept:/k", "busybox", "sleep", "300"]);
        await docker(["run", "--name", "p-exited", "--network", "none", "-v", "/anon", "busybox", "true"]);
        await docker(["create", "--name", "p-created", "--network", "none", "busybox", "true"]);
        await docker(["create", "--name", "p-labeled", "--network", "none", "--label", "keep=1", "busybox", "true"]);
        // a dangling image: the tag moves to a second image
        await docker(["commit", "--change", "LABEL v=1", "p-exited", "p-img:new"]);
        await docker(["commit", "--change", "LABEL v=2", "p-exited", "p-img:new"]);
      });
      await remaining();
      await same(["system", "prune", "-f", "--filter", "label!=keep"]);
      await remaining();
      await same(["system", "prune", "-a", "--volumes"], { input: "y\n" });
      await remaining();
      await both(async (docker) => {
        await docker(["rm", "-f", "p-running"]);
        await docker(["network", "rm", "pn-used"]);
      });
      await same(["system", "prune", "-af", "--volumes"]);
      await remaining();
    } finally {
      // what a failure left on either daemon goes too, as the last prune takes it when all passes
      for (const run of [onCove, onDocker]) {
        const ids = (await run(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
        if (ids.length) await run(["rm", "-f", "-v", ...ids]);
        await run(["system", "prune", "-af", "--volumes"]);
      }
    }
  });

  it("at API 1.42+ system prune --volumes removes anonymous volumes and keeps named ones", async () => {
    // the scenario before pruned every unused image, busybox too
    if ((await onCove(["image", "inspect", "busybox"])).code !== 0) await importBusybox(cove.daemon.images);
    await ok(onCove(["volume", "create", "named-stays"], "", "1.47"), "volume create");
    await ok(onCove(["create", "--name", "anon-owner", "--network", "none", "-v", "/anon", "busybox", "true"], "", "1.47"), "create");
    const anon = (await ok(onCove(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon-owner"], "", "1.47"), "inspect")).trim();
    assert.match(anon, /^[0-9a-f]{64}$/);
    const out = await ok(onCove(["system", "prune", "-f", "--volumes"], "", "1.47"), "system prune");
    assert.match(out, /^Deleted Containers:\n([0-9a-f]{64}\n)+\n(Deleted Networks:\n(.+\n)+\n)?Deleted Volumes:\n([0-9a-f]{64}\n)+\n/);
    assert.ok(out.includes(`Deleted Volumes:\n${anon}\n`) || out.includes(`\n${anon}\n`), out);
    assert.ok(!out.includes("named-stays"), out);
    const left = (await ok(onCove(["volume", "ls", "-q"], "", "1.47"), "volume ls")).split("\n");
    assert.ok(left.includes("named-stays") && !left.includes(anon), left.join(" "));
    await ok(onCove(["volume", "rm", "named-stays"], "", "1.47"), "volume rm");
  });
});

/** Runs the cove command (src/cli/main.ts) against the harness's daemon. */
function coveCli(h: NetHarness, args: string[], input = ""): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [COVE, ...args], { env: { PATH: process.env.PATH, HOME: h.base, COVE_HOST: `unix://${h.socket}` }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
  });
}

describe("cove's prune commands print what the docker CLI prints against the same daemon", { skip: skipReason }, () => {
  let h: NetHarness;
  let subnet: string;

  before(async () => {
    h = await setupNetwork();
    [subnet] = freeSubnets(1, [h.bridgeSubnet]);
  });
  after(async () => {
    await h?.cleanup();
  });

  /** Builds the same leftovers before each run: stopped containers, unused networks and volumes, a dangling image. */
  const scenario = async () => {
    await h.ok(["network", "create", "--subnet", subnet, "--label", "team=a", "cp-net"]);
    await h.ok(["volume", "create", "--label", "team=a", "cp-vol"]);
    await h.ok(["create", "--name", "cp-a", "--network", "none", "--label", "team=a", "-v", "/anon", "busybox", "true"]);
    await h.ok(["create", "--name", "cp-b", "--network", "none", "busybox", "true"]);
    await h.ok(["commit", "--change", "LABEL n=1", "cp-b", "cp-img"]);
    await h.ok(["commit", "--change", "LABEL n=2", "cp-b", "cp-img"]);
  };
  const names = async () => [await h.ok(["ps", "-a", "--format", "{{.Names}}"]), await h.ok(["network", "ls", "--format", "{{.Name}}"]), await h.ok(["volume", "ls", "--format", "{{.Name}}"]), await h.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])].map((s) => normalize(s).split("\n").sort().join(","));

  /** Runs each command line with the docker CLI, then the same scenario again with the cove CLI, comparing output and leftovers. */
  const compare = async (commands: { args: string[]; input?: string }[]) => {
    const results: Record<"docker" | "cove", { out: CliResult[]; left: string[][] }> = { docker: { out: [], left: [] }, cove: { out: [], left: [] } };
    for (const who of ["docker", "cove"] as const) {
      try {
        await scenario();
        for (const c of commands) {
          results[who].out.push(who === "docker" ? await runDocker(h.socket, h.base, c.args, { input: c.input ?? "" }) : await coveCli(h, c.args, c.input));
          results[who].left.push(await names());
        }
      } finally {
        // leave nothing of this round for the next, nor for the next test when this one failed
        await h.ok(["rm", "-f", "-v", "cp-a", "cp-b"]).catch(() => undefined);
        await runDocker(h.socket, h.base, ["system", "prune", "-af", "--volumes"]);
        await runDocker(h.socket, h.base, ["volume", "prune", "-af"]);
        // prune -a takes the base image too
        if ((await runDocker(h.socket, h.base, ["image", "inspect", "busybox"])).code !== 0) await importBusybox(h.daemon.images);
      }
    }
    const shape = (r: CliResult) => ({ code: r.code, stdout: normalize(r.stdout), stderr: normalize(r.stderr) });
    const cases = (who: "docker" | "cove") => commands.map((c, i) => ({ command: c.args.join(" "), ...shape(results[who].out[i]!), remaining: results[who].left[i] }));
    assert.deepEqual(cases("cove"), cases("docker"));
  };

  it("container, image, volume and network prune: prompts, filters, output", async () => {
    await compare([
      { args: ["container", "prune"], input: "n\n" },
      { args: ["image", "prune"], input: "no\n" },
      { args: ["volume", "prune"], input: "\n" },
      { args: ["network", "prune"], input: "n\n" },
      { args: ["container", "prune", "-f", "--filter", "label=team=a"] },
      { args: ["container", "prune", "--filter", "until=1h"], input: "y\n" },
      { args: ["network", "prune", "-f", "--filter", "label=team=b"] },
      { args: ["network", "prune", "--filter", "label=team=a"], input: "y\n" },
      { args: ["volume", "prune", "-f", "--filter", "label=team=a"] },
      { args: ["volume", "prune", "-f"] },
      { args: ["volume", "prune", "-af", "--filter", "label=team=a"] },
      { args: ["image", "prune", "-f"] },
      { args: ["image", "prune", "-af", "--filter", "until=1h"] },
      { args: ["container", "prune", "-f", "--filter", "nope=1"] },
      { args: ["network", "prune", "-f", "--filter", "bad"] },
    ]);
  });

  it("system prune: prompt, filters, -a, --volumes and the total", async () => {
    await compare([
      { args: ["system", "prune"], input: "n\n" },
      { args: ["system", "prune", "-a", "--volumes", "--filter", "label=team=a", "--filter", "until=5m"], input: "n\n" },
      { args: ["system", "prune", "--volumes", "-f", "--filter", "until=1h"] },
      { args: ["system", "prune", "-f", "--filter", "label=team=a"] },
      { args: ["system", "prune", "--volumes"], input: "y\n" },
      { args: ["system", "prune", "-a", "-f"] },
    ]);
  });

  it("system df, and -v, as the docker CLI prints them", async () => {
    await scenario();
    try {
      for (const args of [["system", "df"], ["system", "df", "-v"], ["system", "df", "--format", "json"]]) {
        const [d, c] = [await runDocker(h.socket, h.base, args), await coveCli(h, args)];
        assert.deepEqual({ code: c.code, stdout: normalize(c.stdout), stderr: c.stderr }, { code: d.code, stdout: normalize(d.stdout), stderr: d.stderr }, args.join(" "));
      }
    } finally {
      await h.ok(["rm", "-f", "-v", "cp-a", "cp-b"]).catch(() => undefined);
      await runDocker(h.socket, h.base, ["system", "prune", "-af", "--volumes"]);
      await runDocker(h.socket, h.base, ["volume", "prune", "-af"]);
    }
  });
});

describe("docker system prune against a cove daemon without networking", { skip: skipReason }, () => {
  it("prunes what there is and reports no networks", async () => {
    const base = await mkdtemp(path.join(os.tmpdir(), "cvpn-"));
    const daemon = await startDaemon({ root: path.join(base, "root"), socket: path.join(base, "cove.sock"), runtimeRoot: path.join(base, "rt"), log: () => undefined });
    try {
      await importBusybox(daemon.images);
      const env = { PATH: process.env.PATH, HOME: base, DOCKER_CONFIG: path.join(base, "cli"), DOCKER_HOST: `unix://${daemon.socket}` };
      const created = await run(DOCKER, ["create", "--network", "none", "busybox", "true"], env);
      assert.equal(created.code, 0, created.stderr);
      const r = await run(DOCKER, ["system", "prune", "-f"], env);
      assert.deepEqual(r, { code: 0, stdout: `Deleted Containers:\n${created.stdout.trim()}\n\nTotal reclaimed space: 0B\n`, stderr: "" });
      const n = await run(DOCKER, ["network", "prune", "-f"], env);
      assert.deepEqual(n, { code: 0, stdout: "", stderr: "" });
    } finally {
      for (const c of await daemon.containers.list({ all: true })) await daemon.containers.remove(c.Id, { force: true }).catch(() => undefined);
      await daemon.close();
      await rm(base, { recursive: true, force: true });
    }
  });
});

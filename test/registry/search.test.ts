// `docker search` against cove: GET /images/search through the docker CLI, cove's CLI and
// Python's docker library. Three registries on 127.0.0.1, none on the internet:
//  - a tiny server of the test speaking the v1 search API with Docker Hub's shape of answer
//    (official images, stars, long descriptions): cove's answers are compared line for line with
//    Debian's dockerd searching the same server;
//  - Debian's docker-registry with a few repositories, which speaks only v2: cove searches its
//    catalog (as podman does), where dockerd answers "Unexpected status code 404";
//  - a v2-only server of the test whose catalog comes two names a page, for the pagination.
// Filters, limits and bad terms get Docker's errors, compared with dockerd's.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { encodeRegistryAuth } from "../../src/registry/auth.js";
import { ImageService } from "../../src/images/service.js";
import { tarDirectory } from "../../src/snapshots/diff.js";
import { api, run as docker } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";
import { tempDir } from "../images/fixtures.js";
import { freePort, registryAvailable, saveArchive, skopeoCopy, startRegistry, type Registry } from "./support.js";

const execFileP = promisify(execFile);
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const skip = process.getuid?.() !== 0 ? "needs root (dockerd)" : (registryAvailable() ?? dockerdAvailable());

/** What the Hub-shaped server knows. */
const HUB_RESULTS = [
  { name: "busybox", description: "Busybox base image.", star_count: 3412, is_official: true, is_automated: false },
  {
    name: "someone/busybox-tools",
    description: "Tools built on busybox, with a description longer than forty-five\ncharacters and a newline",
    star_count: 2,
    is_official: false,
    is_automated: true,
  },
  { name: "other/busyboxplus", description: "", star_count: 5, is_official: false, is_automated: false },
  { name: "alpine", description: "A minimal Docker image based on Alpine Linux", star_count: 11000, is_official: true, is_automated: false },
];

interface Fake {
  host: string;
  /** Requests seen: "GET /v1/search?q=busy&n=25". */
  seen: string[];
  stop(): Promise<void>;
}

async function listen(handler: http.RequestListener): Promise<{ host: string; stop: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The v1 search API as Docker Hub answers it: q matched in names, n results at most. */
async function startHubLike(): Promise<Fake> {
  const seen: string[] = [];
  const s = await listen((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/v1/_ping") {
      res.writeHead(200, { "Content-Type": "application/json" }).end("true");
      return;
    }
    if (u.pathname === "/v1/search") {
      const q = u.searchParams.get("q") ?? "";
      const n = Number(u.searchParams.get("n") ?? 25);
      const results = HUB_RESULTS.filter((r) => r.name.includes(q)).slice(0, n);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ num_pages: 1, num_results: results.length, page_size: n, page: 1, query: q, results }));
      return;
    }
    res.writeHead(404).end("not found");
  });
  return { host: s.host, seen, stop: s.stop };
}

/** A registry that speaks only v2, its catalog two names a page (it ignores the n asked for, as registries may cap it). */
async function startPagedCatalog(names: string[]): Promise<Fake> {
  const seen: string[] = [];
  const s = await listen((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/v2/_catalog") {
      const last = u.searchParams.get("last");
      const start = last === null ? 0 : names.indexOf(last) + 1;
      const page = names.slice(start, start + 2);
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      if (start + 2 < names.length) headers.Link = `</v2/_catalog?last=${encodeURIComponent(page[page.length - 1]!)}&n=2>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify({ repositories: page }));
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "NOT_FOUND", message: "not found" }] }));
  });
  return { host: s.host, seen, stop: s.stop };
}

describe("docker search through cove", { skip, timeout: 600_000 }, () => {
  let dir = "";
  let reg: Registry | undefined;
  let authReg: Registry | undefined;
  let hub: Fake | undefined;
  let paged: Fake | undefined;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  let socket = "";
  let coveEnv: NodeJS.ProcessEnv = {};
  /** The docker CLI against cove (its output read as UTF-8, as dockerd.docker reads it). */
  const cove = async (args: string[]) => {
    const r = await docker(coveEnv, args);
    return { ...r, stdout: Buffer.from(r.stdout, "latin1").toString("utf8") };
  };
  const real = (args: string[]) => dockerd!.docker(args);
  const coveCli = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await execFileP(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH, HOME: dir, COVE_HOST: `unix://${socket}` } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  };

  before(async () => {
    dir = await tempDir();
    // one small image, copied into a few repositories of a docker-registry
    const fixtures = await ImageService.open({ root: path.join(dir, "fixtures") });
    await mkdir(path.join(dir, "one"));
    await writeFile(path.join(dir, "one", "hello"), "hello\n");
    await tarDirectory(path.join(dir, "one"), createWriteStream(path.join(dir, "one.tar")));
    await fixtures.importRootfs(createReadStream(path.join(dir, "one.tar")), { reference: "one:1", changes: ['CMD ["/hello"]'] });
    await saveArchive(fixtures, ["one:1"], path.join(dir, "one-archive.tar"));
    reg = await startRegistry(path.join(dir, "reg"));
    for (const repo of ["busybox", "busybox-extra", "alpine", "team/bus-tools"]) {
      await skopeoCopy(`docker-archive:${path.join(dir, "one-archive.tar")}`, `docker://${reg.host}/${repo}:1`);
    }
    authReg = await startRegistry(path.join(dir, "authreg"), { cove: "s3cret" });
    await skopeoCopy(`docker-archive:${path.join(dir, "one-archive.tar")}`, `docker://${authReg.host}/private/busybox:1`, { creds: "cove:s3cret" });
    hub = await startHubLike();
    paged = await startPagedCatalog(["a1", "a2", "b1", "b2", "wanted", "z9"]);

    socket = path.join(dir, "cove.sock");
    daemon = await startDaemon({ root: path.join(dir, "cove"), socket, runtimeRoot: path.join(dir, "run"), log: () => undefined });
    coveEnv = { PATH: process.env.PATH, HOME: dir, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, "cli") };
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
  });

  after(async () => {
    try {
      await dockerd?.stop();
      await hub?.stop();
      await paged?.stop();
      await reg?.stop();
      await authReg?.stop();
    } finally {
      await tearDownDaemon(daemon, dir || undefined);
    }
  });

  it("a registry with the v1 search API: the docker CLI prints what it prints against dockerd", async () => {
    const term = `${hub!.host}/busy`;
    for (const extra of [[], ["--no-trunc"], ["--limit", "2"], ["--filter", "is-official=true"], ["--filter", "stars=3"], ["--filter", "is-official=false", "--filter", "stars=1"], ["--format", "{{.Name}}|{{.StarCount}}|{{.IsOfficial}}|{{.Description}}"]]) {
      const c = await cove(["search", ...extra, term]);
      const d = await real(["search", ...extra, term]);
      assert.equal(c.code, 0, c.stderr);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(c.stdout, d.stdout, `docker search ${extra.join(" ")}`);
    }
    const table = (await cove(["search", term])).stdout;
    assert.match(table, /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL\n/);
    assert.match(table, /\nbusybox\s+Busybox base image\.\s+3412\s+\[OK\]\n/);
    assert.match(table, /\nsomeone\/busybox-tools\s+Tools built on busybox, with a description l…\s+2\s*\n/);
    assert.equal((await cove(["search", "--filter", "stars=3", term])).stdout.split("\n").filter((l) => l !== "").length, 3);
    // the request cove made, as dockerd makes it
    assert.ok(hub!.seen.includes("GET /v1/search?q=busy&n=25"), hub!.seen.join("\n"));
    assert.ok(hub!.seen.includes("GET /v1/search?q=busy&n=2"), hub!.seen.join("\n"));
    // cove's own CLI prints the same
    const own = await coveCli(["search", term]);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.stdout, table);
  });

  it("the API answers Docker's JSON shape; is_automated is always false, and filtering for it finds nothing", async () => {
    const res = await api(socket, "GET", `/images/search?term=${encodeURIComponent(`${hub!.host}/alpine`)}`);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), [{ star_count: 11000, is_official: true, name: "alpine", is_automated: false, description: "A minimal Docker image based on Alpine Linux" }]);
    const tools = JSON.parse((await api(socket, "GET", `/images/search?term=${encodeURIComponent(`${hub!.host}/tools`)}`)).body) as { is_automated: boolean }[];
    assert.deepEqual(
      tools.map((t) => t.is_automated),
      [false],
    );
    const automated = await api(socket, "GET", `/images/search?term=${encodeURIComponent(`${hub!.host}/busy`)}&filters=${encodeURIComponent(JSON.stringify({ "is-automated": ["true"] }))}`);
    assert.equal(automated.status, 200, automated.body);
    assert.deepEqual(JSON.parse(automated.body), []);
  });

  it("a v2-only docker-registry: cove matches the term in its catalog, where dockerd answers 404", async () => {
    const term = `${reg!.host}/bus`;
    const c = await cove(["search", term]);
    assert.equal(c.code, 0, c.stderr);
    const names = c.stdout
      .split("\n")
      .slice(1)
      .filter((l) => l !== "")
      .map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(names, [`${reg!.host}/busybox`, `${reg!.host}/busybox-extra`, `${reg!.host}/team/bus-tools`]);
    assert.match(c.stdout, new RegExp(`\\n${reg!.host}/busybox\\s+0\\s*\\n`));
    const own = await coveCli(["search", term]);
    assert.equal(own.stdout, c.stdout);
    // dockerd knows only the v1 search API
    const d = await real(["search", term]);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /Unexpected status code 404/);
    // a result is a name cove pulls
    const pulled = await cove(["pull", `${reg!.host}/team/bus-tools:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    // --limit holds for a catalog too
    const one = await cove(["search", "--limit", "1", term]);
    assert.equal(one.stdout.split("\n").filter((l) => l !== "").length, 2);
  });

  it("a registry behind basic auth: its catalog with the credentials of X-Registry-Auth, a clear refusal without", async () => {
    const term = encodeURIComponent(`${authReg!.host}/busy`);
    const withAuth = await api(socket, "GET", `/images/search?term=${term}`, undefined, { "X-Registry-Auth": encodeRegistryAuth({ username: "cove", password: "s3cret" }) });
    assert.equal(withAuth.status, 200, withAuth.body);
    assert.deepEqual(
      (JSON.parse(withAuth.body) as { name: string }[]).map((r) => r.name),
      [`${authReg!.host}/private/busybox`],
    );
    const without = await api(socket, "GET", `/images/search?term=${term}`);
    // as a pull without credentials answers (the client's "no basic auth credentials", a 500 as dockerd's)
    assert.equal(without.status, 500, without.body);
    assert.match(without.body, /_catalog\?n=1000\\": no basic auth credentials/);
    // an X-Registry-Auth that cannot be read is ignored, as dockerd ignores it
    const garbled = await api(socket, "GET", `/images/search?term=${encodeURIComponent(`${hub!.host}/alpine`)}`, undefined, { "X-Registry-Auth": "%%%not-base64" });
    assert.equal(garbled.status, 200, garbled.body);
  });

  it("a catalog that comes in pages is read page after page", async () => {
    const res = await api(socket, "GET", `/images/search?term=${encodeURIComponent(`${paged!.host}/want`)}`);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), [{ star_count: 0, is_official: false, name: `${paged!.host}/wanted`, is_automated: false, description: "" }]);
    assert.deepEqual(
      paged!.seen.filter((l) => l.includes("_catalog")),
      ["GET /v2/_catalog?n=1000", "GET /v2/_catalog?last=a2&n=2", "GET /v2/_catalog?last=b2&n=2"],
    );
  });

  it("Python's docker library searches", async () => {
    const script = [
      "import docker, json",
      `c = docker.DockerClient(base_url="unix://${socket}")`,
      `print(json.dumps([r["name"] for r in c.images.search("${reg!.host}/busybox")]))`,
      `print(json.dumps(c.images.search("${hub!.host}/busybox", limit=1)))`,
    ].join("\n");
    const { stdout } = await execFileP("python3", ["-c", script]);
    const [names, limited] = stdout.trim().split("\n");
    assert.deepEqual(JSON.parse(names!), [`${reg!.host}/busybox`, `${reg!.host}/busybox-extra`]);
    assert.deepEqual(JSON.parse(limited!), [{ star_count: 3412, is_official: true, name: "busybox", is_automated: false, description: "Busybox base image." }]);
  });

  it("bad filters, limits and terms get dockerd's errors, and no request leaves", async () => {
    const term = `${hub!.host}/busy`;
    for (const args of [
      ["--limit", "101", term],
      ["--filter", "foo=bar", term],
      ["--filter", "stars=many", term],
      ["--filter", "is-official=maybe", term],
    ]) {
      const before = hub!.seen.length;
      const c = await cove(["search", ...args]);
      assert.equal(hub!.seen.length, before, "cove sent no request");
      const d = await real(["search", ...args]);
      assert.equal(c.code, 1, `${args.join(" ")}: ${c.stdout}`);
      // dockerd 20.10 capitalised "Limit ..." and "Invalid filter ..."; moby has since lowercased
      // its errors ("limit 101 is outside ...", "invalid filter 'foo'"), and cove says them so
      assert.equal(c.stderr, d.stderr.replace(/^(Error response from daemon: )([A-Z])/, (_, head: string, first: string) => head + first.toLowerCase()), args.join(" "));
    }
    // a term with a scheme: dockerd 20.10 said 'Invalid repository name (ex: "registry.domain.tld/myrepos")';
    // moby now names the term and what is wrong with it, as cove does
    const scheme = `http://${hub!.host}/busy`;
    const before = hub!.seen.length;
    const c = await cove(["search", scheme]);
    assert.equal(hub!.seen.length, before, "cove sent no request");
    const d = await real(["search", scheme]);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /invalid repository name/i);
    assert.equal(c.code, 1);
    assert.equal(c.stderr, `Error response from daemon: invalid repository name: repository name (${scheme}) should not have a scheme\n`);
    const bad = await api(socket, "GET", `/images/search?term=x&limit=lots`);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /invalid limit specified/);
  });

  it("a registry that is not there is a clear error", async () => {
    const port = await freePort();
    const c = await cove(["search", `127.0.0.1:${port}/x`]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, new RegExp(`^Error response from daemon: cannot reach the registry 127\\.0\\.0\\.1:${port}`));
  });
});

// The image commands against the daemon's own image and system routes (served in process on a
// temp socket and root, no container service: these tests need no root).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Writable } from "node:stream";
import { EngineClient } from "../client/index.js";
import { imageRoutes } from "../daemon/images.js";
import { Router } from "../daemon/router.js";
import { systemRoutes } from "../daemon/system.js";
import { EventBus } from "../events/index.js";
import { ImageService } from "../images/service.js";
import { makeTar } from "../snapshots/testing.js";
import type { CommandContext } from "./command.js";
import { imageCommands } from "./images.js";

let dir: string;
let root: string;
let server: http.Server;
let client: EngineClient;
let rootfsTar: string;
let imageId: string;
let created: number;

class Capture extends Writable {
  text = "";
  isTTY: boolean;
  constructor(tty = false) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cove(command: string, argv: string[], opts: { now?: number; stdinTTY?: boolean; stdoutTTY?: boolean; stdin?: PassThrough } = {}): Promise<Result> {
  const stdout = new Capture(opts.stdoutTTY);
  const stderr = new Capture();
  const stdin = opts.stdin ?? new PassThrough();
  (stdin as PassThrough & { isTTY?: boolean }).isTTY = opts.stdinTTY ?? false;
  if (!opts.stdin) stdin.end();
  const ctx: CommandContext = { client, io: { stdout, stderr, stdin }, ...(opts.now !== undefined ? { now: opts.now } : {}) };
  const fn = imageCommands[command];
  assert.ok(fn, `no command ${command}`);
  const code = await fn(argv, ctx);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cove-cli-images-"));
  root = path.join(dir, "root");
  const images = await ImageService.open({ root });
  const events = new EventBus();
  const router = new Router({ log: () => undefined });
  systemRoutes(router, { root, id: "test", images, events, containers: async () => ({ total: 0, running: 0, paused: 0, stopped: 0 }) });
  imageRoutes(router, { images, events });
  server = http.createServer({ requestTimeout: 0 }, (req, res) => void router.handle(req, res));
  const socket = path.join(dir, "api.sock");
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  client = new EngineClient({ socket });
  rootfsTar = path.join(dir, "rootfs.tar");
  const tar = await makeTar([
    { header: { name: "etc/", type: "directory", mode: 0o755 } },
    { header: { name: "etc/hello", mode: 0o644 }, body: "hello\n" },
    { header: { name: "bin/", type: "directory", mode: 0o755 } },
    { header: { name: "bin/run", mode: 0o755 }, body: "#!/bin/sh\necho hi\n" },
  ]);
  await writeFile(rootfsTar, tar);
});

after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await rm(dir, { recursive: true, force: true });
});

const TWO_HOURS = 2 * 3600 * 1000;

test("import prints the new image ID; images lists it in docker's table", async () => {
  const imp = await cove("import", ["-c", 'CMD ["/bin/run"]', "-c", "LABEL a=<b>", "-m", "from a test", rootfsTar, "demo:1"]);
  assert.equal(imp.stderr, "");
  assert.equal(imp.code, 0);
  assert.match(imp.stdout, /^sha256:[0-9a-f]{64}\n$/);
  imageId = imp.stdout.trim();

  const json = await cove("images", ["--no-trunc", "--format", "{{.ID}} {{.CreatedAt}}"]);
  assert.equal(json.code, 0);
  assert.ok(json.stdout.startsWith(imageId + " "));
  const inspect = JSON.parse((await cove("image inspect", [imageId])).stdout) as { Created: string }[];
  created = Math.floor(Date.parse(inspect[0]!.Created) / 1000);

  const ls = await cove("images", [], { now: created * 1000 + TWO_HOURS });
  assert.equal(ls.code, 0);
  const lines = ls.stdout.split("\n");
  assert.equal(lines[0], "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE");
  assert.match(lines[1]!, new RegExp(`^demo         1         ${imageId.slice(7, 19)}   2 hours ago   \\d+(\\.\\d+)?kB$`));
  assert.equal(lines[2], "");
  assert.equal(lines.length, 3);
});

test("images: -q, --digests, --format json, a positional reference filter", async () => {
  const q = await cove("images", ["-q"]);
  assert.equal(q.stdout, imageId.slice(7, 19) + "\n");
  const qn = await cove("images", ["-q", "--no-trunc"]);
  assert.equal(qn.stdout, imageId + "\n");

  const dg = await cove("images", ["--digests"], { now: created * 1000 + TWO_HOURS });
  assert.match(dg.stdout, /^REPOSITORY {3}TAG {7}DIGEST {4}IMAGE ID {7}CREATED {7}SIZE\ndemo {9}1 {9}<none> {4}/);

  const js = await cove("images", ["--format", "json"], { now: created * 1000 + TWO_HOURS });
  const row = JSON.parse(js.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(row), ["Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize", "Size", "Tag", "UniqueSize", "VirtualSize"]);
  assert.equal(row.Digest, "<none>");
  assert.ok(js.stdout.includes('"Digest":"\\u003cnone\\u003e"'), "docker escapes <none> in JSON rows");
  assert.equal(row.CreatedSince, "2 hours ago");
  assert.equal(row.Containers, "N/A");

  const none = await cove("images", ["other"]);
  assert.equal(none.stdout, "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n");
});

test("images: flag and template errors", async () => {
  const bad = await cove("images", ["--foo"]);
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr, "unknown flag: --foo\nSee 'cove images --help'.\n");
  const typo = await cove("images", ["--format", "{{.Nmae}}"]);
  assert.equal(typo.code, 1);
  assert.equal(typo.stderr, `template parsing error: template: :1:2: executing "" at <.Nmae>: can't evaluate field Nmae in type *formatter.imageContext\n`);
  const filter = await cove("images", ["--filter", "bogus=1"]);
  assert.equal(filter.code, 1);
  assert.match(filter.stderr, /^Error response from daemon: invalid filter 'bogus'/);
});

test("inspect: a JSON array indented with 4 spaces, --format, and docker's not-found text", async () => {
  const r = await cove("inspect", ["demo:1"]);
  assert.equal(r.code, 0);
  assert.ok(r.stdout.startsWith('[\n    {\n        "Id": "' + imageId + '",'));
  const [img] = JSON.parse(r.stdout) as { RepoTags: string[]; Config: { Cmd: string[]; Labels: Record<string, string> }; Comment: string }[];
  assert.deepEqual(img!.RepoTags, ["demo:1"]);
  assert.deepEqual(img!.Config.Cmd, ["/bin/run"]);
  assert.equal(img!.Config.Labels.a, "<b>");
  assert.ok(r.stdout.includes('"a": "\\u003cb\\u003e"'), "inspect JSON escapes HTML as json.MarshalIndent");

  const f = await cove("image inspect", ["-f", '{{.Config.Cmd}} {{index .Config.Labels "a"}} {{json .Config.Labels}} {{.RepoTags}}', "demo:1"]);
  assert.equal(f.stderr, "");
  assert.equal(f.stdout, '[/bin/run] <b> {"a":"<b>"} [demo:1]\n');

  // an unknown field falls back to the raw map, as docker's inspect does
  const raw = await cove("inspect", ["--format", "{{.NoSuchField}}", "demo:1"]);
  assert.equal(raw.stdout, "<no value>\n");

  const missing = await cove("image inspect", ["nosuch"]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, "[]\n");
  assert.equal(missing.stderr, "Error response from daemon: No such image: nosuch:latest\n");
});

test("history shows the import layer with its comment", async () => {
  const h = await cove("history", ["demo:1"], { now: created * 1000 + TWO_HOURS });
  assert.equal(h.code, 0);
  const lines = h.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^IMAGE {10}CREATED {7}CREATED BY +SIZE +COMMENT$/);
  assert.match(lines[1]!, new RegExp(`^${imageId.slice(7, 19)}   2 hours ago .*from a test$`));
  const q = await cove("history", ["-q", "--no-trunc", "demo:1"]);
  assert.equal(q.stdout.split("\n")[0], imageId);
  const raw = await cove("image history", ["-H=false", "--format", "{{.Size}}|{{.CreatedSince}}", "demo:1"]);
  assert.match(raw.stdout, /^\d+\|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\n/);
});

test("tag, rmi and their messages", async () => {
  assert.equal((await cove("tag", ["demo:1", "demo:extra"])).code, 0);
  const few = await cove("tag", ["demo:1"]);
  assert.equal(few.code, 1);
  assert.equal(few.stderr, `"cove tag" requires exactly 2 arguments.\nSee 'cove tag --help'.\n`);
  const rmi = await cove("rmi", ["demo:extra", "nosuch"]);
  assert.equal(rmi.code, 1);
  assert.equal(rmi.stdout, "Untagged: demo:extra\n");
  assert.equal(rmi.stderr, "Error response from daemon: No such image: nosuch:latest\n");
});

test("save refuses a terminal, writes a file with -o; load reads it back", async () => {
  const tty = await cove("save", ["demo:1"], { stdoutTTY: true });
  assert.equal(tty.code, 1);
  assert.equal(tty.stderr, "cowardly refusing to save to a terminal. Use the -o flag or redirect\n");

  const out = path.join(dir, "demo.tar");
  const saved = await cove("save", ["-o", out, "demo:1"]);
  assert.equal(saved.stderr, "");
  assert.equal(saved.code, 0);
  assert.ok((await stat(out)).size > 1024);

  const rm1 = await cove("image rm", ["demo:1"]);
  assert.equal(rm1.stdout, `Untagged: demo:1\nDeleted: ${imageId}\n`);
  assert.equal((await cove("images", ["-q"])).stdout, "");

  const load = await cove("load", ["-i", out]);
  assert.equal(load.stderr, "");
  assert.equal(load.stdout, "Loaded image: demo:1\n");
  assert.equal((await cove("images", ["-q", "--no-trunc"])).stdout, imageId + "\n");

  const missing = await cove("load", ["-i", path.join(dir, "nope.tar")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such file or directory/);
});

test("system df counts the image", async () => {
  const df = await cove("system df", []);
  assert.equal(df.code, 0);
  const lines = df.stdout.split("\n");
  assert.equal(lines[0], "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE");
  assert.match(lines[1]!, /^Images {10}1 {9}0 {9}\S+B +\S+B \(100%\)$/);
  const f = await cove("system df", ["--format", "{{.Type}}={{.TotalCount}}"]);
  assert.equal(f.stdout, "Images=1\nContainers=0\nLocal Volumes=0\nBuild Cache=0\n");
  const v = await cove("system df", ["-v"]);
  assert.match(v.stdout, /^Images space usage:\n\nREPOSITORY {3}TAG {7}IMAGE ID {7}CREATED +SIZE {6}SHARED SIZE {3}UNIQUE SIZE {3}CONTAINERS\ndemo {2}/);
});

test("image prune asks (as docker does, whether or not stdin is a terminal) and prunes with -f", async () => {
  // make a dangling image: import without a name
  const imp = await cove("import", [rootfsTar]);
  assert.equal(imp.code, 0);
  const dangling = imp.stdout.trim();

  // stdin at its end is a no, as for docker
  const ended = await cove("image prune", []);
  assert.deepEqual([ended.code, ended.stdout, ended.stderr], [0, "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ", ""]);

  const stdin = new PassThrough();
  stdin.end("n\n");
  const no = await cove("image prune", [], { stdin, stdinTTY: true });
  assert.equal(no.code, 0);
  assert.equal(no.stdout, "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ");
  assert.equal((await cove("images", ["-q", "--no-trunc", "--filter", "dangling=true"])).stdout, dangling + "\n");

  const yes = await cove("image prune", ["-f"]);
  assert.equal(yes.code, 0);
  assert.match(yes.stdout, new RegExp(`^Deleted Images:\ndeleted: ${dangling}\n\nTotal reclaimed space: \\S+B\n$`));
  const left = await cove("images", ["-q", "--no-trunc"]);
  assert.equal(left.stdout, imageId + "\n");

  const all = await cove("image prune", ["-a", "--force"]);
  assert.match(all.stdout, /^Deleted Images:\nuntagged: demo:1\ndeleted: sha256:/);
  assert.equal((await cove("images", ["-q"])).stdout, "");
});

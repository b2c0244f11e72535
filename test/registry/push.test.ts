// Push to a real registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1. The docker
// CLI pushes through cove's daemon and through Debian's dockerd side by side, and both must print
// the same progress and errors; what cove pushed must read back (skopeo, dockerd pull) with the
// digest cove records as the image's RepoDigest. Auth goes through a registry with htpasswd and
// `docker login` against cove's socket; Python's docker library logs in and pushes too.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { digestOf } from "../../src/content/digest.js";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { ImageService } from "../../src/images/service.js";
import { encodeRegistryAuth } from "../../src/registry/auth.js";
import { api, run as docker } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { registryAvailable, saveArchive, skopeoCopy, skopeoRaw, startProxy, startRegistry, type Proxy, type Registry } from "./support.js";

const execFileP = promisify(execFile);
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

const skip =
  process.getuid?.() !== 0
    ? "needs root (snapshots, dockerd)"
    : (registryAvailable() ?? dockerdAvailable() ?? (!(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined));

interface Msg {
  status?: string;
  id?: string;
  error?: string;
  aux?: { Tag: string; Digest: string; Size: number };
  progressDetail?: { current?: number; total?: number };
}

const lines = (body: string): Msg[] =>
  body
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Msg);

/**
 * The lines of a push's CLI output that do not depend on timing ("Pushing" updates and "Waiting"
 * come and go), with the manifest's digest and size left out: dockerd 20.10 writes a new schema 2
 * manifest at each push, where cove pushes the manifest it holds (so a pull back gives the same digest).
 */
const stable = (out: string): string =>
  out
    .split("\n")
    .filter((l) => !/: (Pushing|Waiting)/.test(l))
    .join("\n")
    .replace(/digest: sha256:[0-9a-f]{64} size: \d+/g, "digest: D size: N");

/** POST /images/{name}/push on a socket. */
function pushApi(socket: string, name: string, tag: string, auth?: string): Promise<{ status: number; body: string }> {
  return api(socket, "POST", `/v1.41/images/${name}/push?tag=${encodeURIComponent(tag)}`, undefined, { "X-Registry-Auth": auth ?? encodeRegistryAuth({}) });
}

describe("push to a registry: cove beside dockerd", { skip, timeout: 600_000 }, () => {
  let dir = "";
  let regA: Registry | undefined;
  let regB: Registry | undefined;
  let authReg: Registry | undefined;
  let proxy: Proxy | undefined;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  let socket = "";
  let coveEnv: NodeJS.ProcessEnv = {};
  let bbId = "";
  let bbTar = "";

  const cove = (args: string[], input?: string) => docker(coveEnv, args, input);
  const real = (args: string[], input?: string) => dockerd!.docker(args, input !== undefined ? { input } : {});
  /** cove's own CLI against cove's daemon, with a docker config directory of its own. */
  const coveCli = (args: string[], opts: { config: string; input?: string; path?: string }): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [MAIN, ...args],
        { env: { PATH: opts.path ?? process.env.PATH, HOME: dir, COVE_HOST: `unix://${socket}`, DOCKER_CONFIG: opts.config } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
      );
      child.stdin?.on("error", () => undefined); // EPIPE: the command exited without reading its input
      child.stdin?.end(opts.input ?? "");
    });
  const rawDigest = async (ref: string, creds?: string) => digestOf(Buffer.from(await skopeoRaw(`docker://${ref}`, creds)));

  before(async () => {
    dir = await tempDir();
    const fixtures = await ImageService.open({ root: path.join(dir, "fixtures") });
    bbTar = await busyboxRootfsTar(path.join(dir, "bbroot"));
    bbId = await fixtures.importRootfs(createReadStream(bbTar), { reference: "busybox:1", changes: ['CMD ["sh"]'] });
    await saveArchive(fixtures, ["busybox:1"], path.join(dir, "bb.tar"));
    await fixtures.importRootfs(createReadStream(bbTar), { reference: "busybox:part", changes: ['CMD ["sh"]', "LABEL part=yes"] });
    await saveArchive(fixtures, ["busybox:part"], path.join(dir, "bbpart.tar"));
    regA = await startRegistry(path.join(dir, "rega"));
    await skopeoCopy(`docker-archive:${path.join(dir, "bb.tar")}`, `docker://${regA.host}/busybox:1`);
    regB = await startRegistry(path.join(dir, "regb"));
    authReg = await startRegistry(path.join(dir, "authreg"), { cove: "s3cret" });
    proxy = await startProxy(regB.host);

    socket = path.join(dir, "cove.sock");
    // small upload chunks: a layer of busybox goes up in several PATCHes
    const images = await ImageService.open({ root: path.join(dir, "cove"), registry: { retryDelaysMs: [50, 100, 200], uploadChunkBytes: 256 * 1024 } });
    daemon = await startDaemon({ root: path.join(dir, "cove"), socket, runtimeRoot: path.join(dir, "run"), images, log: () => undefined });
    coveEnv = { PATH: process.env.PATH, HOME: dir, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, "cli") };
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
    for (const d of [cove, real]) {
      const p = await d(["pull", `${regA.host}/busybox:1`]);
      assert.equal(p.code, 0, p.stderr);
    }
  });

  after(async () => {
    try {
      await dockerd?.stop();
      await proxy?.stop();
      await regA?.stop();
      await regB?.stop();
      await authReg?.stop();
    } finally {
      await tearDownDaemon(daemon, dir || undefined);
    }
  });

  it("docker push prints what dockerd prints; the registry holds the same manifest, named as cove's RepoDigest", async () => {
    const src = `${regA!.host}/busybox:1`;
    assert.equal((await cove(["tag", src, `${regB!.host}/cove/bb:1`])).code, 0);
    assert.equal((await real(["tag", src, `${regB!.host}/dockerd/bb:1`])).code, 0);
    const c = await cove(["push", `${regB!.host}/cove/bb:1`]);
    const d = await real(["push", `${regB!.host}/dockerd/bb:1`]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(stable(c.stdout).replaceAll("cove/bb", "X"), stable(d.stdout).replaceAll("dockerd/bb", "X"));
    assert.match(c.stdout, /: Pushed\n/);
    const pushed = await rawDigest(`${regB!.host}/cove/bb:1`);
    // a pull from registry A and a push to registry B keep the manifest byte for byte
    assert.equal(pushed, await rawDigest(src));
    assert.match(c.stdout, new RegExp(`1: digest: ${pushed} size: \\d+\n$`));
    const digests = (await daemon!.images.inspect(`${regB!.host}/cove/bb:1`)).RepoDigests;
    assert.ok(digests.includes(`${regB!.host}/cove/bb@${pushed}`), digests.join(" "));
    // dockerd pulls what cove pushed: the same image, under the same digest
    const back = await real(["pull", `${regB!.host}/cove/bb:1`]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, new RegExp(`Digest: ${pushed}\n`));
    assert.equal((await real(["image", "inspect", "-f", "{{.Id}}", `${regB!.host}/cove/bb:1`])).stdout.trim(), bbId);
  });

  it("a second push says 'Layer already exists', as dockerd's does", async () => {
    const c = await cove(["push", `${regB!.host}/cove/bb:1`]);
    const d = await real(["push", `${regB!.host}/dockerd/bb:1`]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(stable(c.stdout).replaceAll("cove/bb", "X"), stable(d.stdout).replaceAll("dockerd/bb", "X"));
    assert.match(c.stdout, /: Layer already exists\n/);
    assert.doesNotMatch(c.stdout, /Pushed/);
  });

  it("a push to another repository of the same registry mounts the layer", async () => {
    assert.equal((await cove(["tag", `${regB!.host}/cove/bb:1`, `${regB!.host}/cove/other:2`])).code, 0);
    assert.equal((await real(["tag", `${regB!.host}/dockerd/bb:1`, `${regB!.host}/dockerd/other:2`])).code, 0);
    const c = await cove(["push", `${regB!.host}/cove/other:2`]);
    const d = await real(["push", `${regB!.host}/dockerd/other:2`]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(stable(c.stdout).replaceAll("cove/", "X/"), stable(d.stdout).replaceAll("dockerd/", "X/"));
    assert.match(c.stdout, /: Mounted from cove\/bb\n/);
  });

  it("push --all-tags pushes every tag of the repository, in dockerd's order", async () => {
    for (const [d, repo] of [
      [cove, "cove"],
      [real, "dockerd"],
    ] as const) {
      for (const t of ["b", "a", "10"]) assert.equal((await d(["tag", `${regA!.host}/busybox:1`, `${regB!.host}/${repo}/all:${t}`])).code, 0);
    }
    const c = await cove(["push", "--all-tags", `${regB!.host}/cove/all`]);
    const d = await real(["push", "--all-tags", `${regB!.host}/dockerd/all`]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(stable(c.stdout).replaceAll("cove/", "X/"), stable(d.stdout).replaceAll("dockerd/", "X/"));
    assert.deepEqual(
      [...c.stdout.matchAll(/^(\w+): digest:/gm)].map((m) => m[1]),
      ["10", "a", "b"],
    );
  });

  it("the API streams dockerd's JSON messages, the aux PushResult included", async () => {
    const c = lines((await pushApi(socket, `${regB!.host}/cove/bb`, "1")).body);
    const d = lines((await pushApi(dockerd!.socket, `${regB!.host}/dockerd/bb`, "1")).body);
    const shape = (ms: Msg[]) =>
      ms.map((m) => ({ ...m, status: m.status?.replace(/cove\/|dockerd\//, "X/").replace(/digest: sha256:[0-9a-f]{64} size: \d+/, "digest: D size: N"), ...(m.aux ? { aux: { ...m.aux, Digest: "D", Size: 0 } } : {}) }));
    assert.deepEqual(shape(c), shape(d));
    const aux = c.find((m) => m.aux)?.aux;
    assert.equal(aux?.Tag, "1");
    assert.equal(aux?.Digest, await rawDigest(`${regB!.host}/cove/bb:1`));
  });

  it("pushing an image that does not exist fails with dockerd's words", async () => {
    for (const ref of [`${regB!.host}/nosuch`, `${regB!.host}/nosuch:1`, `${regB!.host}/cove/bb:nosuchtag`]) {
      const c = await cove(["push", ref]);
      const d = await real(["push", ref.replace("cove/", "dockerd/")]);
      assert.equal(c.code, d.code, `${ref}: ${c.stderr}`);
      assert.equal(c.stdout.replace("cove/", "dockerd/"), d.stdout);
      assert.equal(c.stderr.replace("cove/", "dockerd/"), d.stderr);
    }
    assert.match((await cove(["push", `${regB!.host}/nosuch:1`])).stderr, /An image does not exist locally with the tag: 127\.0\.0\.1:\d+\/nosuch/);
  });

  it("an image never pushed anywhere goes up in chunks (PATCH with Content-Range, then PUT ?digest=)", async () => {
    const ref = `${proxy!.host}/fresh/bb:1`;
    await daemon!.images.importRootfs(createReadStream(bbTar), { reference: ref, changes: ['CMD ["sh"]', "LABEL fresh=1"] });
    proxy!.seen.length = 0;
    const c = await cove(["push", ref]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /: Pushed\n/);
    const patches = proxy!.seen.filter((s) => /^PATCH \/v2\/fresh\/bb\/blobs\/uploads\//.test(s));
    assert.ok(patches.length >= 2, proxy!.seen.join("\n"));
    assert.ok(proxy!.seen.some((s) => /^PUT \/v2\/fresh\/bb\/blobs\/uploads\/.*[?&]digest=sha256%3A/.test(s)), proxy!.seen.join("\n"));
    const pushed = await rawDigest(`${regB!.host}/fresh/bb:1`);
    assert.deepEqual((await daemon!.images.inspect(ref)).RepoDigests, [`${proxy!.host}/fresh/bb@${pushed}`]);
    const back = await real(["pull", `${regB!.host}/fresh/bb:1`]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((await real(["run", "--rm", "--network", "none", `${regB!.host}/fresh/bb:1`, "echo", "pushed by cove"])).stdout, "pushed by cove\n");
  });

  it("docker login against cove checks the credentials as dockerd does; a push after it goes through", async () => {
    const wrong = await cove(["login", "-u", "cove", "--password-stdin", authReg!.host], "wrong\n");
    const wrongD = await real(["login", "-u", "cove", "--password-stdin", authReg!.host], "wrong\n");
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, wrongD.stderr);
    assert.match(wrong.stderr, /login attempt to http:\/\/127\.0\.0\.1:\d+\/v2\/ failed with status: 401 Unauthorized/);

    const ref = `${authReg!.host}/private/bb:1`;
    assert.equal((await cove(["tag", `${regA!.host}/busybox:1`, ref])).code, 0);
    assert.equal((await real(["tag", `${regA!.host}/busybox:1`, ref.replace("private/", "privated/")])).code, 0);
    const anon = await cove(["push", ref]);
    const anonD = await real(["push", ref.replace("private/", "privated/")]);
    assert.equal(anon.code, 1);
    assert.equal(anon.stdout.replace("private/", "privated/"), anonD.stdout);
    assert.equal(anon.stderr.split("\n")[0], anonD.stderr.split("\n")[0]);

    // wrong credentials in X-Registry-Auth: dockerd's words
    const bad = encodeRegistryAuth({ username: "cove", password: "wrong", serveraddress: authReg!.host });
    const errOf = (r: { body: string }) => lines(r.body).find((m) => m.error)?.error;
    const badC = await pushApi(socket, `${authReg!.host}/private/bb`, "1", bad);
    const badD = await pushApi(dockerd!.socket, `${authReg!.host}/privated/bb`, "1", bad);
    assert.equal(badC.status, 200);
    assert.equal(errOf(badC)?.split("\n")[0], errOf(badD));
    assert.match(errOf(badC) ?? "", /unauthorized/);

    const ok = await cove(["login", "-u", "cove", "--password-stdin", authReg!.host], "s3cret\n");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Login Succeeded/);
    const c = await cove(["push", ref]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(await rawDigest(ref, "cove:s3cret"), await rawDigest(`${regA!.host}/busybox:1`));
  });

  it("Python's docker library logs in and pushes", async () => {
    const ref = `${authReg!.host}/py/bb`;
    const script = [
      "import docker, json",
      `c = docker.DockerClient(base_url="unix://${socket}")`,
      `print(c.login(username="cove", password="s3cret", registry="${authReg!.host}")["Status"])`,
      `c.images.get("${regA!.host}/busybox:1").tag("${ref}", tag="3")`,
      `out = [json.loads(l) for l in c.images.push("${ref}", tag="3", auth_config={"username": "cove", "password": "s3cret"}).splitlines() if l.strip()]`,
      "print([m['aux']['Digest'] for m in out if 'aux' in m][0])",
      `try:\n  c.login(username="cove", password="nope", registry="${authReg!.host}", reauth=True)\nexcept docker.errors.APIError as e:\n  print(e.status_code)`,
    ].join("\n");
    const { stdout } = await execFileP("python3", ["-c", script]);
    const [status, digest, code] = stdout.trim().split("\n");
    assert.equal(status, "Login Succeeded");
    assert.equal(digest, await rawDigest(`${ref}:3`, "cove:s3cret"));
    assert.equal(code, "500"); // dockerd 20.10's status for a refused login (bad-credentials.test.ts)
  });

  it("cove login, push, pull and logout keep credentials as the docker CLI does", async () => {
    const config = path.join(dir, "cove-cli");
    const file = path.join(config, "config.json");
    const wrong = await coveCli(["login", "-u", "cove", "--password-stdin", authReg!.host], { config, input: "wrong\n" });
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, (await cove(["login", "-u", "cove", "--password-stdin", authReg!.host], "wrong\n")).stderr);
    await assert.rejects(readFile(file, "utf8"), /ENOENT/);

    const ok = await coveCli(["login", "-u", "cove", "--password-stdin", authReg!.host], { config, input: "s3cret\n" });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "Login Succeeded\n");
    const saved = JSON.parse(await readFile(file, "utf8")) as { auths: Record<string, { auth: string }> };
    assert.deepEqual(saved.auths[authReg!.host], { auth: Buffer.from("cove:s3cret").toString("base64") });
    // the docker CLI reads what cove wrote: its push goes through with those credentials
    const ref = `${authReg!.host}/cli/bb:1`;
    assert.equal((await cove(["tag", `${regA!.host}/busybox:1`, ref])).code, 0);
    const viaDocker = await docker({ ...coveEnv, DOCKER_CONFIG: config }, ["push", ref]);
    assert.equal(viaDocker.code, 0, viaDocker.stderr);

    // cove push prints what docker push prints
    const again = await coveCli(["push", ref], { config });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, (await docker({ ...coveEnv, DOCKER_CONFIG: config }, ["push", ref])).stdout);
    assert.match(again.stdout, /: Layer already exists\n/);
    assert.equal((await coveCli(["image", "push", "-q", ref], { config })).stdout, `${ref}\n`);
    const noTag = await coveCli(["push", `${authReg!.host}/cli/bb`], { config });
    const noTagD = await docker({ ...coveEnv, DOCKER_CONFIG: config }, ["push", `${authReg!.host}/cli/bb`]);
    assert.equal(noTag.code, 1);
    assert.equal(noTag.stdout, noTagD.stdout);
    assert.equal(noTag.stderr, noTagD.stderr);

    // cove pull sends the stored credentials
    await daemon!.images.remove(ref);
    const pulled = await coveCli(["pull", ref], { config });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /Status: Downloaded newer image for/);

    const out = await coveCli(["logout", authReg!.host], { config });
    assert.equal(out.stdout, `Removing login credentials for ${authReg!.host}\n`);
    assert.deepEqual((JSON.parse(await readFile(file, "utf8")) as { auths: object }).auths, {});
    assert.equal((await coveCli(["logout", authReg!.host], { config })).stdout, `Not logged in to ${authReg!.host}\n`);
    const anon = await coveCli(["push", ref], { config });
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /no basic auth credentials/);
  });

  it("a credential helper (credsStore) holds the secret: login stores, push and pull get, logout erases", async () => {
    const config = path.join(dir, "helper-cli");
    const bin = path.join(dir, "helper-bin");
    const vault = path.join(dir, "vault");
    await mkdir(config, { recursive: true });
    await mkdir(vault, { recursive: true });
    await mkdir(bin, { recursive: true });
    // a docker-credential-helpers protocol speaker that keeps each secret in a file named after the server
    const helper = path.join(bin, "docker-credential-covetest");
    await writeFile(
      helper,
      [
        "#!/usr/bin/env python3",
        "import json, os, sys, urllib.parse",
        `vault = ${JSON.stringify(vault)}`,
        "action, data = sys.argv[1], sys.stdin.read()",
        "log = open(os.path.join(vault, 'log'), 'a'); log.write(action + '\\n'); log.close()",
        "def path(url): return os.path.join(vault, urllib.parse.quote(url.strip(), safe=''))",
        "if action == 'store':",
        "    c = json.loads(data); open(path(c['ServerURL']), 'w').write(json.dumps(c))",
        "elif action == 'get':",
        "    p = path(data)",
        "    if not os.path.exists(p): print('credentials not found in native keychain'); sys.exit(1)",
        "    print(open(p).read())",
        "elif action == 'erase':",
        "    p = path(data)",
        "    if not os.path.exists(p): print('credentials not found in native keychain'); sys.exit(1)",
        "    os.remove(p)",
      ].join("\n") + "\n",
    );
    await chmod(helper, 0o755);
    await writeFile(path.join(config, "config.json"), JSON.stringify({ credsStore: "covetest", keep: { me: true } }));
    const PATH = `${bin}:${process.env.PATH ?? ""}`;
    const ok = await coveCli(["login", "-u", "cove", "--password-stdin", authReg!.host], { config, input: "s3cret", path: PATH });
    assert.equal(ok.code, 0, ok.stderr);
    assert.doesNotMatch(ok.stderr, /unencrypted/);
    const file = JSON.parse(await readFile(path.join(config, "config.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(file, { credsStore: "covetest", keep: { me: true }, auths: { [authReg!.host]: {} } });
    assert.deepEqual(JSON.parse(await readFile(path.join(vault, encodeURIComponent(authReg!.host)), "utf8")), { ServerURL: authReg!.host, Username: "cove", Secret: "s3cret" });

    const ref = `${authReg!.host}/helper/bb:1`;
    assert.equal((await cove(["tag", `${regA!.host}/busybox:1`, ref])).code, 0);
    const pushed = await coveCli(["push", ref], { config, path: PATH });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, new RegExp(`1: digest: ${await rawDigest(ref, "cove:s3cret")} size: \\d+\n$`));

    const out = await coveCli(["logout", authReg!.host], { config, path: PATH });
    assert.equal(out.stdout, `Removing login credentials for ${authReg!.host}\n`);
    await assert.rejects(readFile(path.join(vault, encodeURIComponent(authReg!.host))), /ENOENT/);
    assert.deepEqual((await readFile(path.join(vault, "log"), "utf8")).split("\n").filter(Boolean), ["store", "get", "erase"]);
  });

  it("an image loaded with its index goes up as that index, same digest; one platform of an index goes up as its manifest", async () => {
    // two images in one OCI layout: busybox:1 under an index of its one platform, busybox:part
    // under an index that also names another platform's manifest (not in the layout)
    const layout = path.join(dir, "layout");
    await execFileP("/usr/bin/skopeo", ["copy", "--quiet", "--insecure-policy", `docker-archive:${path.join(dir, "bb.tar")}`, `oci:${layout}:1`]);
    await execFileP("/usr/bin/skopeo", ["copy", "--quiet", "--insecure-policy", `docker-archive:${path.join(dir, "bbpart.tar")}`, `oci:${layout}:part`]);
    type Desc = { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
    const top = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8")) as { manifests: Desc[] };
    const byRef = (r: string) => top.manifests.find((d) => d.annotations?.["org.opencontainers.image.ref.name"] === r)!;
    const m = byRef("1");
    const mp = byRef("part");
    const arch = process.arch === "x64" ? "amd64" : process.arch;
    const platformOf = (d: Desc) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform: { architecture: arch, os: "linux" } });
    const other = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digestOf(Buffer.from("not here")), size: 8, platform: { architecture: "s390x", os: "linux" } };
    const blobs: Record<string, Buffer> = {};
    const indexBlob = (manifests: unknown[]) => {
      const b = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
      blobs[digestOf(b)] = b;
      return { mediaType: "application/vnd.oci.image.index.v1+json", digest: digestOf(b), size: b.length };
    };
    const whole = indexBlob([platformOf(m)]);
    const partial = indexBlob([platformOf(mp), other]);
    for (const [d, b] of Object.entries(blobs)) await writeFile(path.join(layout, "blobs", "sha256", d.slice("sha256:".length)), b);
    const one = `${regB!.host}/multi/bb:one`;
    const part = `${regB!.host}/multi/bb:part`;
    await writeFile(
      path.join(layout, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { ...whole, annotations: { "io.containerd.image.name": one } },
          { ...partial, annotations: { "io.containerd.image.name": part } },
        ],
      }),
    );
    await daemon!.images.importOciLayout({ dir: layout });

    const c = await cove(["push", one]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`one: digest: ${whole.digest} size: ${whole.size}\n$`));
    assert.equal(await skopeoRaw(`docker://${one}`), blobs[whole.digest]!.toString());
    assert.ok((await daemon!.images.inspect(one)).RepoDigests.includes(`${regB!.host}/multi/bb@${whole.digest}`));
    // dockerd pulls the index cove pushed and finds the host's image in it
    const back = await real(["pull", one]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, new RegExp(`Digest: ${whole.digest}\n`));

    const p = await cove(["push", part]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, new RegExp(`part: digest: ${mp.digest} size: ${mp.size}\n$`));
    assert.equal(await rawDigest(part), mp.digest);

    // --platform: that platform's manifest alone goes up, as a single-platform image
    const single = `${regB!.host}/multi/bb:single`;
    assert.equal((await cove(["tag", one, single])).code, 0);
    const s = await cove(["push", "--platform", `linux/${arch}`, single]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, new RegExp(`single: digest: ${m.digest} size: ${m.size}\n$`));
    assert.equal(await rawDigest(single), m.digest);
    // a platform the image names but cove does not hold, and one it does not name: dockerd's words, nothing pushed
    for (const [ref, platform] of [[part, "linux/s390x"], [single, "linux/arm64"]] as const) {
      const refused = await cove(["push", "--platform", platform, ref]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, new RegExp(`image with reference ${ref.replace(/[.]/g, "\\.")} was found but does not provide the specified platform \\(${platform}\\)`));
    }
  });
});

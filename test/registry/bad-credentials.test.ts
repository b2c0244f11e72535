// Wrong or missing credentials: cove's daemon and Debian's dockerd (20.10) are asked the same
// login, pull, push and /distribution requests against the same two registries (docker-registry
// with htpasswd Basic auth, and cove's registry server with the token flow) and must answer
// with the same status code and the same message (cove may add a hint on the lines after it).
// Nothing is pulled into either daemon.

import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { ImageService } from "../../src/images/service.js";
import { encodeRegistryAuth } from "../../src/registry/auth.js";
import { parseHtpasswd, RegistryServer } from "../../src/registry/server/index.js";
import { api, type ApiResponse } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { bcrypt, registryAvailable, saveArchive, skopeoCopy, startRegistry, type Registry } from "./support.js";

const skip =
  process.getuid?.() !== 0
    ? "needs root (snapshots, dockerd)"
    : (registryAvailable() ?? dockerdAvailable() ?? (!(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined));

interface Answer {
  status: number;
  /** The error's first line: from the JSON error body, or the first error message of a stream. */
  message: string | undefined;
}

/** A daemon's answer as the docker CLI reads it: an error body, or the error message in a JSON stream. */
function answerOf(r: ApiResponse): Answer {
  if (r.status !== 200) return { status: r.status, message: (JSON.parse(r.body) as { message: string }).message.split("\n")[0] };
  const streamed = r.body
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { error?: string })
    .find((m) => m.error !== undefined);
  return { status: 200, message: streamed?.error?.split("\n")[0] };
}

describe("wrong credentials: cove answers as dockerd does", { skip, timeout: 600_000 }, () => {
  let dir = "";
  let basic: Registry | undefined;
  let token: RegistryServer | undefined;
  let tokenHost = "";
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  let socket = "";

  /** The same request to both daemons: cove's answer, then dockerd's. */
  const both = async (method: string, p: string, body?: string, headers: Record<string, string> = {}): Promise<[Answer, Answer]> => [
    answerOf(await api(socket, method, p, body, headers)),
    answerOf(await api(dockerd!.socket, method, p, body, headers)),
  ];
  const login = (auth: Record<string, string>) => both("POST", "/v1.41/auth", JSON.stringify(auth), { "Content-Type": "application/json" });
  const pull = (host: string, auth?: Record<string, string>) =>
    both("POST", `/v1.41/images/create?fromImage=${encodeURIComponent(`${host}/private/busybox`)}&tag=1`, undefined, auth ? { "X-Registry-Auth": encodeRegistryAuth(auth) } : {});
  const wrong = (host: string) => ({ username: "cove", password: "wrong", serveraddress: host });

  before(async () => {
    dir = await tempDir();
    const fixtures = await ImageService.open({ root: path.join(dir, "fixtures") });
    await fixtures.importRootfs(createReadStream(await busyboxRootfsTar(path.join(dir, "bbroot"))), { reference: "busybox:1", changes: ['CMD ["sh"]'] });
    const tar = path.join(dir, "bb.tar");
    await saveArchive(fixtures, ["busybox:1"], tar);
    basic = await startRegistry(path.join(dir, "basic"), { cove: "s3cret" });
    await skopeoCopy(`docker-archive:${tar}`, `docker://${basic.host}/private/busybox:1`, { creds: "cove:s3cret" });
    token = new RegistryServer({ root: path.join(dir, "token"), auth: "token", users: parseHtpasswd(`cove:${await bcrypt("s3cret")}\n`) });
    tokenHost = `127.0.0.1:${(await token.listen("127.0.0.1", 0)).port}`;
    await skopeoCopy(`docker-archive:${tar}`, `docker://${tokenHost}/private/busybox:1`, { creds: "cove:s3cret" });
    socket = path.join(dir, "cove.sock");
    daemon = await startDaemon({ root: path.join(dir, "cove"), socket, runtimeRoot: path.join(dir, "run"), log: () => undefined });
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
    // the image to push, in both daemons, named for both registries
    const archive = await readFile(tar);
    for (const s of [socket, dockerd.socket]) {
      assert.equal((await api(s, "POST", "/v1.41/images/load?quiet=1", archive, { "Content-Type": "application/x-tar" })).status, 200);
      for (const host of [basic.host, tokenHost]) assert.equal((await api(s, "POST", `/v1.41/images/busybox:1/tag?repo=${encodeURIComponent(`${host}/private/pushed`)}&tag=1`)).status, 201);
    }
  });

  after(async () => {
    try {
      await dockerd?.stop();
      await basic?.stop();
      await token?.close();
    } finally {
      await tearDownDaemon(daemon, dir || undefined);
    }
  });

  it("docker login with a wrong password, an unknown user or no credentials: dockerd's status and words", async () => {
    for (const host of [basic!.host, tokenHost]) {
      for (const auth of [wrong(host), { username: "nobody", password: "x", serveraddress: host }, { serveraddress: host }]) {
        const [c, d] = await login(auth);
        assert.deepEqual(c, d, `${host} ${JSON.stringify(auth)}`);
        assert.equal(c.status, 500);
      }
    }
    assert.deepEqual((await login(wrong(basic!.host)))[0], { status: 500, message: `login attempt to http://${basic!.host}/v2/ failed with status: 401 Unauthorized` });
    assert.deepEqual((await login(wrong(tokenHost)))[0], { status: 500, message: `Get "http://${tokenHost}/v2/": unauthorized` });
    // and the right ones log in
    const [ok, okD] = await both("POST", "/v1.41/auth", JSON.stringify({ username: "cove", password: "s3cret", serveraddress: tokenHost }), { "Content-Type": "application/json" });
    assert.deepEqual(ok, okD);
    assert.equal(ok.status, 200);
  });

  it("a pull with wrong or no credentials: dockerd's status and words, nothing pulled", async () => {
    for (const host of [basic!.host, tokenHost]) {
      for (const auth of [wrong(host), undefined]) {
        const [c, d] = await pull(host, auth);
        assert.deepEqual(c, d, `${host} ${JSON.stringify(auth)}`);
      }
    }
    assert.deepEqual((await pull(basic!.host, wrong(basic!.host)))[0], { status: 500, message: "unauthorized: authentication required" });
    assert.deepEqual((await pull(tokenHost, wrong(tokenHost)))[0], { status: 500, message: `Head "http://${tokenHost}/v2/private/busybox/manifests/1": unauthorized` });
    assert.deepEqual((await pull(basic!.host))[0], { status: 500, message: `Head "http://${basic!.host}/v2/private/busybox/manifests/1": no basic auth credentials` });
    const images = (await daemon!.images.list()).flatMap((i) => i.RepoTags);
    assert.equal(
      images.some((t) => t.includes("/private/busybox")),
      false,
      images.join(" "),
    );
  });

  it("GET /distribution/{name}/json with wrong credentials: dockerd's status and words", async () => {
    for (const host of [basic!.host, tokenHost]) {
      const [c, d] = await both("GET", `/v1.41/distribution/${host}/private/busybox:1/json`, undefined, { "X-Registry-Auth": encodeRegistryAuth(wrong(host)) });
      assert.deepEqual(c, d, host);
    }
  });

  it("a push with wrong or no credentials: dockerd's error in the stream", async () => {
    for (const auth of [wrong(basic!.host), {}]) {
      const [c, d] = await both("POST", `/v1.41/images/${basic!.host}/private/pushed/push?tag=1`, undefined, { "X-Registry-Auth": encodeRegistryAuth(auth) });
      assert.deepEqual(c, d, JSON.stringify(auth));
      assert.notEqual(c.message, undefined);
    }
    // through the token flow dockerd retries for about a minute before it says "unauthorized", the
    // refusal alone (its pull names the request): cove says it at once
    const c = answerOf(await api(socket, "POST", `/v1.41/images/${tokenHost}/private/pushed/push?tag=1`, undefined, { "X-Registry-Auth": encodeRegistryAuth(wrong(tokenHost)) }));
    assert.deepEqual(c, { status: 200, message: "unauthorized" });
  });
});

// The docker CLI's credential file and helpers, as cove login/logout/pull/push use them.

import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { configPath, credentialKey, eraseCredentials, getCredentials, storeCredentials } from "./credentials.js";

describe("credentials", () => {
  let dir = "";
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-creds-"));
    env = { HOME: dir, DOCKER_CONFIG: path.join(dir, "conf"), PATH: `${path.join(dir, "bin")}:${process.env.PATH ?? ""}` };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("keys Docker Hub by its index URL and other registries by host[:port]", () => {
    assert.equal(credentialKey(""), "https://index.docker.io/v1/");
    assert.equal(credentialKey("docker.io"), "https://index.docker.io/v1/");
    assert.equal(credentialKey("https://index.docker.io/v1/"), "https://index.docker.io/v1/");
    assert.equal(credentialKey("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    assert.equal(configPath({ HOME: "/h" }), "/h/.docker/config.json");
    assert.equal(configPath({ HOME: "/h", DOCKER_CONFIG: "/c" }), "/c/config.json");
  });

  it("stores base64 user:password in the file (mode 0600), keeps other keys, reads and erases it", async () => {
    await mkdir(path.join(dir, "conf"), { recursive: true });
    await writeFile(configPath(env), JSON.stringify({ psFormat: "table {{.ID}}" }));
    await storeCredentials(env, "127.0.0.1:5000", { username: "u", password: "p:w" });
    const file = JSON.parse(await readFile(configPath(env), "utf8")) as Record<string, unknown>;
    assert.deepEqual(file, { psFormat: "table {{.ID}}", auths: { "127.0.0.1:5000": { auth: Buffer.from("u:p:w").toString("base64") } } });
    assert.equal((await stat(configPath(env))).mode & 0o777, 0o600);
    assert.deepEqual(await getCredentials(env, "127.0.0.1:5000"), { serveraddress: "127.0.0.1:5000", username: "u", password: "p:w" });
    assert.equal(await getCredentials(env, "other:5000"), undefined);
    assert.equal(await eraseCredentials(env, "127.0.0.1:5000"), true);
    assert.equal(await eraseCredentials(env, "127.0.0.1:5000"), false);
    assert.equal(await getCredentials(env, "127.0.0.1:5000"), undefined);
  });

  it("uses credHelpers for its registry and credsStore for the others, over the helper protocol", async () => {
    const bin = path.join(dir, "bin");
    await mkdir(bin, { recursive: true });
    const store = path.join(dir, "store");
    await mkdir(store, { recursive: true });
    const helper = (name: string) =>
      [
        "#!/bin/sh",
        `d=${store}/${name}`,
        "mkdir -p $d",
        'in=$(cat)',
        'case "$1" in',
        '  store) key=$(printf %s "$in" | python3 -c "import json,sys; print(json.load(sys.stdin)[\'ServerURL\'])" | tr / _); printf %s "$in" > "$d/$key" ;;',
        '  get) key=$(printf %s "$in" | tr / _); [ -f "$d/$key" ] || { echo "credentials not found in native keychain"; exit 1; }; cat "$d/$key" ;;',
        '  erase) key=$(printf %s "$in" | tr / _); [ -f "$d/$key" ] || { echo "credentials not found in native keychain"; exit 1; }; rm "$d/$key" ;;',
        "esac",
      ].join("\n") + "\n";
    for (const n of ["one", "two"]) {
      await writeFile(path.join(bin, `docker-credential-${n}`), helper(n));
      await chmod(path.join(bin, `docker-credential-${n}`), 0o755);
    }
    await writeFile(configPath(env), JSON.stringify({ credsStore: "one", credHelpers: { "reg.two:5000": "two" } }));
    assert.deepEqual(await storeCredentials(env, "reg.two:5000", { username: "a", password: "b" }), { helper: "two", file: configPath(env) });
    await storeCredentials(env, "docker.io", { username: "hub", password: "c" });
    assert.deepEqual(JSON.parse(await readFile(path.join(store, "two", "reg.two:5000"), "utf8")), { ServerURL: "reg.two:5000", Username: "a", Secret: "b" });
    assert.deepEqual(JSON.parse(await readFile(path.join(store, "one", "https:__index.docker.io_v1_"), "utf8")), { ServerURL: "https://index.docker.io/v1/", Username: "hub", Secret: "c" });
    assert.deepEqual(await getCredentials(env, "reg.two:5000"), { username: "a", password: "b", serveraddress: "reg.two:5000" });
    assert.deepEqual(await getCredentials(env, "docker.io"), { username: "hub", password: "c", serveraddress: "https://index.docker.io/v1/" });
    assert.equal(await getCredentials(env, "nobody:1"), undefined);
    const file = JSON.parse(await readFile(configPath(env), "utf8")) as { auths: Record<string, unknown> };
    assert.deepEqual(file.auths, { "reg.two:5000": {}, "https://index.docker.io/v1/": {} });
    assert.equal(await eraseCredentials(env, "reg.two:5000"), true);
    assert.equal(await getCredentials(env, "reg.two:5000"), undefined);
    await writeFile(configPath(env), JSON.stringify({ credsStore: "missing" }));
    await assert.rejects(getCredentials(env, "x:1"), /docker-credential-missing is not on PATH/);
  });

  it("refuses a config file that is not JSON, naming it", async () => {
    await writeFile(configPath(env), "{oops");
    await assert.rejects(getCredentials(env, "x:1"), new RegExp(`${configPath(env).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} is not valid JSON`));
  });
});

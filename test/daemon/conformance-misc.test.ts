// Conformance: container and image behaviours real clients trip over, driven through the docker
// CLI v28, Python's docker library (Debian's python3-docker) and raw Engine API requests, side by
// side against cove (with networking on its own default bridge) and a private Debian dockerd (on
// a bridge this test makes, without iptables). Compared: outputs, exit codes, status codes and
// error texts; never ids, addresses or times. Where dockerd 20.10 (API 1.41) and Docker 28 differ,
// cove follows Docker 28 and the test says so.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseCidr } from "../../src/network/index.js";
import { Netlink } from "../../src/network/netlink.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { freeSubnets, setupNetwork, skipReason, type NetHarness } from "../network/harness.js";
import { api, run, type Result } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : undefined;
const skip =
  skipReason ||
  dockerdAvailable() ||
  (!(await findBusybox()) ? "busybox-static is not installed" : false) ||
  (!python ? "python3 is missing" : false) ||
  (await new Promise<string | false>((resolve) => execFile(python!, ["-c", "import docker"], (err) => resolve(err ? "python3-docker is not installed" : false))));

type Who = "cove" | "dockerd";

/** Runs a Python snippet with `docker` imported and `client` made from DOCKER_HOST (API version `version`). */
function py(env: NodeJS.ProcessEnv, code: string, version = "1.41"): Promise<Result> {
  const prelude = `import docker, json, sys\nclient = docker.DockerClient(base_url=${JSON.stringify(env.DOCKER_HOST)}, version=${JSON.stringify(version)}, timeout=120)\n`;
  return new Promise((resolve) => {
    execFile(python!, ["-c", prelude + code], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 180_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The text with every IPv4 address as <ip> (each daemon has its own subnet). */
const noIps = (s: string) => s.replace(/\b\d{1,3}(\.\d{1,3}){3}\b/g, "<ip>");

describe("container and image behaviours clients rely on, against dockerd", { skip }, () => {
  let h: NetHarness;
  let dir: string;
  let dockerd: Dockerd | undefined;
  let bridge: string | undefined;
  const env: Record<Who, NodeJS.ProcessEnv> = { cove: {}, dockerd: {} };
  const socket: Record<Who, string> = { cove: "", dockerd: "" };
  const docker = (who: Who, args: string[], input?: Buffer | string) => run(env[who], args, input);
  const both = async (args: string[], input?: Buffer | string): Promise<Record<Who, Result>> => ({ cove: await docker("cove", args, input), dockerd: await docker("dockerd", args, input) });
  const ok = async (who: Who, args: string[]): Promise<string> => {
    const r = await docker(who, args);
    assert.equal(r.code, 0, `${who}: docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const bothOk = async (args: string[]): Promise<Record<Who, string>> => ({ cove: await ok("cove", args), dockerd: await ok("dockerd", args) });
  const inspect = async (who: Who, ref: string, version = "v1.41"): Promise<Record<string, unknown>> => {
    const r = await api(socket[who], "GET", `/${version}/containers/${ref}/json`);
    assert.equal(r.status, 200, `${who}: inspect ${ref}: ${r.body}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  };

  before(async () => {
    h = await setupNetwork();
    dir = await tempDir();
    const name = `cbm${path.basename(dir).replace(/[^a-z0-9]/gi, "").slice(-6)}`;
    const [sub] = freeSubnets(1, [h.bridgeSubnet]);
    const nl = Netlink.open();
    try {
      nl.createBridge(name);
      bridge = name;
      nl.addAddress(nl.link(name)!.index, sub!.replace(/\.0\/24$/, ".1"), parseCidr(sub!).prefix);
      nl.setUp(name);
    } finally {
      nl.close();
    }
    dockerd = await startDockerd({ dir: path.join(dir, "d"), bridge: name });
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    await mkdir(path.join(h.base, "cli"), { recursive: true });
    env.cove = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: h.base, DOCKER_CONFIG: path.join(h.base, "cli"), DOCKER_HOST: `unix://${h.socket}` };
    env.dockerd = dockerd.env;
    socket.cove = h.socket;
    socket.dockerd = dockerd.socket;
    // busybox is in cove already; an image with an ENTRYPOINT and a CMD in both
    await ok("dockerd", ["import", "-c", 'CMD ["sh"]', tar, "busybox:latest"]);
    await bothOk(["import", "-c", 'ENTRYPOINT ["/bin/echo", "from-entrypoint"]', "-c", 'CMD ["from-cmd"]', tar, "cm-ep:1"]);
  });

  after(async () => {
    try {
      if (dockerd) {
        const ids = (await docker("dockerd", ["ps", "-aq"])).stdout.split("\n").filter(Boolean);
        if (ids.length) await docker("dockerd", ["rm", "-f", ...ids]);
        await dockerd.stop();
      }
    } finally {
      if (bridge) {
        const nl = Netlink.open();
        try {
          nl.deleteLink(bridge);
        } finally {
          nl.close();
        }
      }
      await h?.cleanup();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  it("--entrypoint '' clears the image's entrypoint; Entrypoint [\"\"], \"\", [] and null as dockerd reads them", async () => {
    const r = await both(["run", "--rm", "--entrypoint", "", "cm-ep:1", "echo", "hi"]);
    for (const w of ["cove", "dockerd"] as const) assert.deepEqual([r[w].code, r[w].stdout], [0, "hi\n"], `${w}: ${r[w].stderr}`);
    const plain = await both(["run", "--rm", "cm-ep:1"]);
    assert.equal(plain.cove.stdout, "from-entrypoint from-cmd\n");
    assert.equal(plain.cove.stdout, plain.dockerd.stdout);
    // nothing left to run: both refuse at create (dockerd 20.10 capitalises "No")
    const none = await both(["run", "--rm", "--entrypoint", "", "cm-ep:1"]);
    assert.equal(none.cove.code, 125);
    assert.equal(none.cove.code, none.dockerd.code);
    assert.equal(none.cove.stderr.split("\n")[0]!.toLowerCase(), none.dockerd.stderr.split("\n")[0]!.toLowerCase());
    // the API's forms: what the container runs and what inspect shows
    const cases: [string, Record<string, unknown>][] = [
      ['[""] with a Cmd', { Entrypoint: [""], Cmd: ["echo", "x"] }],
      ['"" with a Cmd', { Entrypoint: "", Cmd: ["echo", "x"] }],
      ["[] without a Cmd (the image's Cmd alone)", { Entrypoint: [] }],
      ["null with a Cmd", { Entrypoint: null, Cmd: ["x"] }],
      ["absent", {}],
    ];
    for (const [what, fields] of cases) {
      const seen: Record<string, unknown> = {};
      for (const w of ["cove", "dockerd"] as const) {
        const res = await api(socket[w], "POST", "/v1.41/containers/create", JSON.stringify({ Image: "cm-ep:1", ...fields }));
        assert.equal(res.status, 201, `${w} ${what}: ${res.body}`);
        const id = (JSON.parse(res.body) as { Id: string }).Id;
        const doc = await inspect(w, id);
        const config = doc.Config as Record<string, unknown>;
        seen[w] = { Path: doc.Path, Args: doc.Args, Entrypoint: config.Entrypoint, Cmd: config.Cmd };
        await api(socket[w], "DELETE", `/v1.41/containers/${id}?force=1`);
      }
      assert.deepEqual(seen.cove, seen.dockerd, what);
    }
  });

  it("commit of a container that is exiting (started, then committed at once) succeeds, as in dockerd", async () => {
    // docker-py's own tests do this: run `true` detached, commit it at once
    const script = `
ids = []
for i in range(6):
    c = client.containers.run("busybox", ["true"], detach=True)
    img = client.images.get(c.commit(repository="cm-commit", tag=str(i)).id)
    ids.append(img.attrs.get("Container") == c.id)
    c.remove(force=True)
print(json.dumps(ids))`;
    for (const w of ["cove", "dockerd"] as const) {
      const r = await py(env[w], script);
      assert.equal(r.code, 0, `${w}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout), [true, true, true, true, true, true], `${w}: the image names the container it was committed from`);
    }
  });

  it("a committed image shows Container and ContainerConfig before API 1.45, and neither from 1.45", async () => {
    const made: Record<Who, string> = { cove: "", dockerd: "" };
    for (const w of ["cove", "dockerd"] as const) {
      await ok(w, ["run", "--name", "cm-cc", "-e", "X=1", "busybox", "sh", "-c", "echo > /f"]);
      await ok(w, ["commit", "cm-cc", "cm-cc:1"]);
      made[w] = (await ok(w, ["inspect", "-f", "{{.Id}}", "cm-cc"])).trim();
      await ok(w, ["rm", "cm-cc"]);
    }
    const view = async (w: Who, version: string, ref: string) => JSON.parse((await api(socket[w], "GET", `/${version}/images/${ref}/json`)).body) as Record<string, unknown>;
    const pick = (doc: Record<string, unknown>, id: string) => {
      const cc = doc.ContainerConfig as Record<string, unknown>;
      return { Container: doc.Container === id, keys: Object.keys(cc).sort(), Env: cc.Env, Cmd: cc.Cmd, Image: cc.Image, Labels: cc.Labels };
    };
    assert.deepEqual(pick(await view("cove", "v1.41", "cm-cc:1"), made.cove), pick(await view("dockerd", "v1.41", "cm-cc:1"), made.dockerd));
    assert.deepEqual(pick(await view("cove", "v1.44", "cm-cc:1"), made.cove), pick(await view("dockerd", "v1.41", "cm-cc:1"), made.dockerd));
    // Docker 28 omits both from API 1.45 on (dockerd 20.10 here stops at 1.41)
    for (const v of ["v1.45", "v1.47"]) {
      const doc = await view("cove", v, "cm-cc:1");
      assert.ok(!("Container" in doc) && !("ContainerConfig" in doc), `${v}: ${Object.keys(doc).join(",")}`);
    }
    // an imported image: ContainerConfig with every field empty, as dockerd shows it
    const imported = await view("cove", "v1.41", "busybox");
    const peer = await view("dockerd", "v1.41", "busybox");
    assert.deepEqual(imported.ContainerConfig, peer.ContainerConfig);
    // the docker CLI's template reads it
    assert.equal((await ok("cove", ["image", "inspect", "-f", "{{.Container}}", "cm-cc:1"])).trim(), "", "the CLI negotiates 1.47: no Container");
  });

  it("AutoRemove with a restart policy: the same 400 through docker-py, and the same 409 for an update", async () => {
    const script = `
try:
    client.containers.create("busybox", ["true"], auto_remove=True, restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    print("created")
except docker.errors.APIError as e:
    print(e.status_code, e.explanation)`;
    const r = { cove: await py(env.cove, script), dockerd: await py(env.dockerd, script) };
    assert.equal(r.cove.stdout, "400 can't create 'AutoRemove' container with restart policy\n", r.cove.stderr);
    assert.equal(r.cove.stdout, r.dockerd.stdout);
    const update = `
c = client.containers.create("busybox", ["true"], auto_remove=True)
try:
    c.update(restart_policy={"Name": "always"})
    print("updated")
except docker.errors.APIError as e:
    print(e.status_code, e.explanation.replace(c.id, "<id>"))
finally:
    c.remove(force=True)`;
    const u = { cove: await py(env.cove, update), dockerd: await py(env.dockerd, update) };
    assert.equal(u.cove.stdout, "409 Cannot update container <id>: Restart policy cannot be updated because AutoRemove is enabled for the container\n", u.cove.stderr);
    assert.equal(u.cove.stdout, u.dockerd.stdout);
  });

  it("--mac-address: eth0 gets it (legacy Config.MacAddress and the endpoint's), inspect shows it, a bad one is a 400", async () => {
    // API 1.41 (docker-py): the container-wide Config.MacAddress, side by side
    const script = `
c = client.containers.run("busybox", ["sleep", "600"], mac_address="02:42:ac:11:00:97", name="cm-mac", detach=True)
print(c.exec_run(["cat", "/sys/class/net/eth0/address"]).output.decode().strip())
a = client.api.inspect_container("cm-mac")
print(a["Config"].get("MacAddress"), a["NetworkSettings"]["MacAddress"], a["NetworkSettings"]["Networks"]["bridge"]["MacAddress"])
c.remove(force=True)`;
    const r = { cove: await py(env.cove, script), dockerd: await py(env.dockerd, script) };
    assert.equal(r.cove.stdout, "02:42:ac:11:00:97\n02:42:ac:11:00:97 02:42:ac:11:00:97 02:42:ac:11:00:97\n", r.cove.stderr);
    assert.equal(r.cove.stdout, r.dockerd.stdout);
    // API 1.47 (the docker CLI): the endpoint's MacAddress; Docker 28's inspect shows it as Config.MacAddress too
    assert.equal(await ok("cove", ["run", "--rm", "--mac-address", "02:42:AC:11:00:98", "busybox", "cat", "/sys/class/net/eth0/address"]), "02:42:ac:11:00:98\n");
    await ok("cove", ["create", "--name", "cm-mac2", "--mac-address", "02:42:ac:11:00:99", "busybox", "true"]);
    assert.equal((await ok("cove", ["inspect", "-f", "{{.Config.MacAddress}} {{.NetworkSettings.Networks.bridge.MacAddress}}", "cm-mac2"])).trim(), "02:42:ac:11:00:99 02:42:ac:11:00:99");
    await ok("cove", ["rm", "cm-mac2"]);
    // a container-wide MAC with API 1.44+ is migrated to the endpoint, with Docker 28's warning
    const legacy = await api(socket.cove, "POST", "/v1.47/containers/create?name=cm-mac3", JSON.stringify({ Image: "busybox", Cmd: ["true"], MacAddress: "02:42:ac:11:00:9a" }));
    assert.equal(legacy.status, 201, legacy.body);
    assert.deepEqual((JSON.parse(legacy.body) as { Warnings: string[] }).Warnings, ["The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead."]);
    const doc = await inspect("cove", "cm-mac3", "v1.47");
    assert.equal(((doc.NetworkSettings as { Networks: Record<string, { MacAddress: string }> }).Networks.bridge!).MacAddress, "02:42:ac:11:00:9a");
    await ok("cove", ["rm", "cm-mac3"]);
    // bad addresses: Docker 28 refuses at create (dockerd 20.10 only fails at start); nothing is made
    const before = (await ok("cove", ["ps", "-aq"])).trim();
    for (const [v, body] of [
      ["v1.41", { Image: "busybox", MacAddress: "zz:42:ac:11:00:97" }],
      ["v1.47", { Image: "busybox", NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: "02:42:ac:11:00" } } } }],
    ] as const) {
      const res = await api(socket.cove, "POST", `/${v}/containers/create`, JSON.stringify(body));
      assert.equal(res.status, 400, res.body);
      assert.match(JSON.parse(res.body).message as string, /^invalid config for network bridge: invalid MAC address (zz:42:ac:11:00:97|02:42:ac:11:00)$/);
    }
    const conflictNet = await api(socket.cove, "POST", "/v1.41/containers/create", JSON.stringify({ Image: "busybox", MacAddress: "02:42:ac:11:00:97", HostConfig: { NetworkMode: "none" } }));
    assert.equal(conflictNet.status, 400);
    assert.equal(JSON.parse(conflictNet.body).message, "conflicting options: mac-address and the network mode");
    assert.equal((await ok("cove", ["ps", "-aq"])).trim(), before);
  });

  it("--link sets the link variables as dockerd does, and rm --link removes a link", async () => {
    await bothOk(["run", "-d", "--name", "cm-srv", "-e", "FOO=bar", "-e", "MULTI=a b", "--expose", "8080", "--expose", "9090", "busybox", "sleep", "600"]);
    await bothOk(["run", "-d", "--name", "cm-cli", "--link", "cm-srv:db", "--link", "cm-srv", "busybox", "sleep", "600"]);
    // the run's process and an exec both get them; HOSTNAME differs
    const norm = (s: string) => noIps(s).split("\n").filter((l) => l && !l.startsWith("HOSTNAME=")).sort().join("\n");
    const runEnv = await both(["run", "--rm", "--name", "cm-env", "--link", "cm-srv:db", "busybox", "env"]);
    assert.equal(runEnv.cove.code, 0, runEnv.cove.stderr);
    assert.equal(norm(runEnv.cove.stdout), norm(runEnv.dockerd.stdout));
    assert.match(runEnv.cove.stdout, /^DB_PORT_8080_TCP_ADDR=\d+\.\d+\.\d+\.\d+$/m);
    assert.match(runEnv.cove.stdout, /^DB_ENV_MULTI=a b$/m);
    const execEnv = await bothOk(["exec", "cm-cli", "env"]);
    assert.equal(norm(execEnv.cove), norm(execEnv.dockerd));
    assert.match(execEnv.cove, /^CM_SRV_NAME=\/cm-cli\/cm-srv$/m);
    const links = await bothOk(["inspect", "-f", "{{json .HostConfig.Links}}", "cm-cli"]);
    assert.equal(links.cove, '["/cm-srv:/cm-cli/db","/cm-srv:/cm-cli/cm-srv"]\n');
    // dockerd lists them from a map: its order varies from run to run, so compare them as sets
    const sorted = (json: string) => (JSON.parse(json) as string[]).sort();
    assert.deepEqual(sorted(links.cove), sorted(links.dockerd));

    const rmLink = await both(["rm", "--link", "/cm-cli/db"]);
    for (const w of ["cove", "dockerd"] as const) assert.deepEqual([rmLink[w].code, rmLink[w].stdout], [0, "/cm-cli/db\n"], `${w}: ${rmLink[w].stderr}`);
    const after = await bothOk(["inspect", "-f", "{{json .HostConfig.Links}}", "cm-cli"]);
    assert.equal(after.cove, '["/cm-srv:/cm-cli/cm-srv"]\n');
    assert.equal(after.cove, after.dockerd);
    // the running parent's /etc/hosts loses the alias; the linked container keeps running
    const hosts = await bothOk(["exec", "cm-cli", "cat", "/etc/hosts"]);
    for (const w of ["cove", "dockerd"] as const) {
      assert.doesNotMatch(hosts[w], /\bdb\b/, w);
      assert.match(hosts[w], /\bcm-srv\b/, w);
    }
    assert.equal((await bothOk(["inspect", "-f", "{{.State.Running}}", "cm-srv"])).cove, "true\n");
    for (const args of [["rm", "--link", "cm-cli"], ["rm", "--link", "/cm-none/db"], ["rm", "--link", "/cm-cli/nope"], ["rm", "--link", "/cm-cli/db"]]) {
      const r = await both(args);
      assert.equal(r.cove.code, r.dockerd.code, args.join(" "));
      assert.notEqual(r.cove.code, 0, args.join(" "));
      assert.equal(r.cove.stderr, r.dockerd.stderr, args.join(" "));
    }
    await bothOk(["rm", "-f", "cm-cli", "cm-srv"]);
  });

  it("a container linked to one that is not running does not start, in dockerd's words, and stays created", async () => {
    await bothOk(["create", "--name", "cm-down", "busybox", "true"]);
    const r = await both(["run", "-d", "--name", "cm-up", "--link", "cm-down:db", "busybox", "sleep", "600"]);
    for (const w of ["cove", "dockerd"] as const) {
      assert.notEqual(r[w].code, 0, `${w}: the start must fail`);
      assert.match(r[w].stderr, /Cannot link to a non running container: \/cm-down AS \/cm-up\/db/, w);
    }
    const state = await bothOk(["inspect", "-f", "{{.State.Status}} {{.State.Running}}", "cm-up"]);
    assert.equal(state.cove, state.dockerd);
    await bothOk(["rm", "-f", "cm-up", "cm-down"]);
  });

  it("load of a bad archive: 200 with the error in the stream (quiet or not), the CLI exits 1, docker-py raises ImageLoadError, no image is left", async () => {
    const good = path.join(dir, "good.tar");
    await ok("dockerd", ["save", "-o", good, "busybox"]);
    const { readFile } = await import("node:fs/promises");
    const bytes = await readFile(good);
    const files: Record<string, Buffer> = {
      "not a tar": Buffer.from("this is not a tar archive\n".repeat(40)),
      truncated: bytes.subarray(0, 5000),
    };
    // a tar with neither manifest.json nor an OCI layout
    const plain = path.join(dir, "plain");
    await mkdir(plain, { recursive: true });
    await writeFile(path.join(plain, "x"), "hello\n");
    const tarred = await new Promise<Buffer>((resolve, reject) =>
      execFile("tar", ["-cf", "-", "-C", plain, "x"], { encoding: "buffer" }, (err, out) => (err ? reject(err) : resolve(out))),
    );
    files["no manifest"] = tarred;
    const imagesBefore = (await ok("cove", ["images", "-aq", "--no-trunc"])).split("\n").sort().join("\n");
    for (const [what, data] of Object.entries(files)) {
      const file = path.join(dir, `bad-${what.replace(/ /g, "-")}.tar`);
      await writeFile(file, data);
      for (const quiet of ["0", "1"]) {
        for (const w of ["cove", "dockerd"] as const) {
          const res = await api(socket[w], "POST", `/v1.41/images/load?quiet=${quiet}`, data);
          assert.equal(res.status, 200, `${w} ${what} quiet=${quiet}: ${res.body}`);
          assert.match(String(res.headers["content-type"]), /^application\/json/);
          const lines = res.body.trim().split(/\r?\n/).map((l) => JSON.parse(l) as { error?: string; errorDetail?: { message: string } });
          const last = lines[lines.length - 1]!;
          assert.ok(last.error && last.errorDetail?.message === last.error, `${w} ${what} quiet=${quiet}: ${res.body}`);
        }
      }
      const cli = await both(["load", "-i", file]);
      for (const w of ["cove", "dockerd"] as const) {
        assert.equal(cli[w].code, 1, `${w} ${what}: ${cli[w].stderr}`);
        assert.equal(cli[w].stdout, "", w);
        assert.notEqual(cli[w].stderr.trim(), "", w);
      }
      const script = `
try:
    client.images.load(open(${JSON.stringify(file)}, "rb").read())
    print("loaded")
except docker.errors.ImageLoadError as e:
    print("ImageLoadError")`;
      for (const w of ["cove", "dockerd"] as const) {
        const r = await py(env[w], script);
        assert.equal(r.stdout, "ImageLoadError\n", `${w} ${what}: ${r.stdout} ${r.stderr}`);
      }
    }
    assert.equal((await ok("cove", ["images", "-aq", "--no-trunc"])).split("\n").sort().join("\n"), imagesBefore, "no image was left behind");
  });
});

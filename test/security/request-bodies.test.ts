// Regression: request bodies of the wrong shape are refused by cove's daemon with a 400 naming
// the field, and change nothing. A create whose Config.Labels held a 10,000-deep array used to be
// stored (201); from then on `docker ps -a`, inspect and start failed for everyone with "Maximum
// call stack size exceeded" until that container was removed. The daemon runs in process on a
// temp socket and root, without networking, with the busybox image imported offline; the requests
// are raw HTTP, as any client could send them, and the docker CLI lists containers afterwards.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { findBusybox, importBusybox } from "../images/fixtures.js";
import { tearDownDaemon } from "../support/teardown.js";

const DOCKER = "/usr/local/bin/docker";
const skip = process.getuid?.() !== 0 ? "needs root (container root filesystems are overlay mounts)" : false;

interface Reply {
  status: number;
  body: string;
}

describe("request bodies of the wrong shape through cove's daemon", { skip }, () => {
  let dir: string;
  let socket: string;
  let daemon: Daemon;
  const logs: string[] = [];

  /** One request with a raw body text. */
  const api = (method: string, url: string, body?: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath: socket, method, path: url, headers: body !== undefined ? { "Content-Type": "application/json" } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      req.end(body);
    });
  const message = (r: Reply): string => (JSON.parse(r.body) as { message: string }).message;
  const nested = (n: number) => "[".repeat(n) + "]".repeat(n);

  /** The containers the daemon lists, and the records on disk: both must be what the test made. */
  const stored = async (): Promise<{ listed: string[]; onDisk: string[] }> => {
    const list = await api("GET", "/containers/json?all=1");
    assert.equal(list.status, 200, list.body);
    const listed = (JSON.parse(list.body) as { Id: string }[]).map((c) => c.Id).sort();
    const onDisk = (await readdir(path.join(dir, "root", "containers")).catch(() => [] as string[])).sort();
    return { listed, onDisk };
  };

  const dockerPs = (): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(DOCKER, ["ps", "-a", "--no-trunc", "--format", "{{.ID}}"], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });

  before(async () => {
    if (!(await findBusybox())) throw new Error("busybox-static is not installed (apt-get install -y busybox-static)");
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    socket = path.join(dir, "cove.sock");
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot: path.join(dir, "r"), log: (l) => logs.push(l) });
    await importBusybox(daemon.images);
  });

  after(() => tearDownDaemon(daemon, dir));

  it("refuses Config.Labels nested 10,000 deep with a 400; listing still works and nothing is stored", async () => {
    const before = await stored();
    const r = await api("POST", "/v1.47/containers/create?name=deep", `{"Image":"busybox","Labels":{"a":${nested(10_000)}}}`);
    assert.equal(r.status, 400, r.body);
    assert.match(message(r), /^invalid body: JSON nested deeper than 100 levels/);
    assert.deepEqual(await stored(), before);
    assert.equal((await api("GET", "/containers/deep/json")).status, 404);
    if (existsSync(DOCKER)) {
      const ps = await dockerPs();
      assert.equal(ps.code, 0, ps.stderr);
      assert.deepEqual(ps.stdout.split("\n").filter(Boolean).sort(), before.listed);
    }
    assert.deepEqual(logs.filter((l) => /Maximum call stack/.test(l)), []);
  });

  it("refuses a wrong type at any depth naming the field, and stores nothing", async () => {
    const before = await stored();
    const cases: [string, string][] = [
      ['{"Image":"busybox","Labels":{"a":[["x"]]}}', "invalid body: Labels.a: expected a string, got an array"],
      ['{"Image":"busybox","HostConfig":{"Memory":"1g"}}', 'invalid body: HostConfig.Memory: expected an integer, got a string ("1g")'],
      ['{"Image":"busybox","HostConfig":{"Binds":["/tmp:/x"],"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"Labels":{"k":{}}}}]}}', "invalid body: HostConfig.Mounts[0].VolumeOptions.Labels.k: expected a string, got an object"],
      ['{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"none":{"Aliases":"a"}}}}', 'invalid body: NetworkingConfig.EndpointsConfig.none.Aliases: expected an array of strings, got a string ("a")'],
      ['["busybox"]', "invalid body: expected a JSON object, got an array"],
    ];
    for (const [body, want] of cases) {
      const r = await api("POST", "/containers/create", body);
      assert.equal(r.status, 400, `${body}: ${r.body}`);
      assert.equal(message(r), want);
    }
    assert.deepEqual(await stored(), before);
    const vols = await api("GET", "/volumes");
    const r = await api("POST", "/volumes/create", '{"Name":"typed","Labels":{"a":1}}');
    assert.equal(r.status, 400);
    assert.equal(message(r), "invalid body: Labels.a: expected a string, got a number (1)");
    assert.equal((await api("GET", "/volumes")).body, vols.body);
  });

  it("accepts nulls, unknown fields and a string Cmd as dockerd does; an update or exec of the wrong shape changes nothing", async () => {
    const body = `{"Image":"busybox","Cmd":"true","Entrypoint":null,"Labels":null,"Env":null,"HostConfig":{"Memory":null,"CapAdd":"CHOWN","Unknown":{"x":${nested(90)}}},"NetworkingConfig":null,"NotInTheApi":[1]}`;
    const created = await api("POST", "/containers/create?name=shapes", body);
    assert.equal(created.status, 201, created.body);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    const inspect = await api("GET", `/containers/${id}/json`);
    assert.equal(inspect.status, 200, inspect.body);
    const doc = JSON.parse(inspect.body) as { Config: { Cmd: string[] }; HostConfig: { CapAdd: string[]; Memory: number } };
    assert.deepEqual(doc.Config.Cmd, ["true"]);
    assert.deepEqual(doc.HostConfig.CapAdd, ["CHOWN"]);
    assert.deepEqual((await stored()).listed, [id]);

    const update = await api("POST", `/containers/${id}/update`, '{"Memory":"64m","RestartPolicy":{"Name":"always"}}');
    assert.equal(update.status, 400);
    assert.equal(message(update), 'invalid body: Memory: expected an integer, got a string ("64m")');
    const after = JSON.parse((await api("GET", `/containers/${id}/json`)).body) as { HostConfig: { RestartPolicy: unknown; Memory: number } };
    assert.deepEqual(after.HostConfig, (JSON.parse(inspect.body) as { HostConfig: unknown }).HostConfig);

    // checked before the service looks at the container (which is not running)
    const exec = await api("POST", `/containers/${id}/exec`, '{"Cmd":["true"],"Env":[1]}');
    assert.equal(exec.status, 400);
    assert.equal(message(exec), "invalid body: Env[0]: expected a string, got a number (1)");
    const commit = await api("POST", `/commit?container=${id}&repo=never`, '{"Cmd":[1]}');
    assert.equal(commit.status, 400);
    assert.equal(message(commit), "invalid body: Cmd[0]: expected a string, got a number (1)");
    assert.equal((await api("GET", "/images/never/json")).status, 404);

    assert.equal((await api("DELETE", `/containers/${id}`)).status, 204);
  });
});

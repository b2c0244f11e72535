import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CoveError, httpStatus } from "../common/errors.js";
import { jsonTooDeepAt } from "../common/json.js";
import { BODY_SCHEMAS } from "./body-schema.generated.js";
import { checkJSONDepth, MAX_JSON_DEPTH, parseJSONBody, validateBody, type BodyName } from "./body-schema.js";
import { defaultSpecPath, generateBodySchemas, generatedPaths, packageRoot } from "./gen-body-schema.js";
import { readJSON, Router, sendJSON } from "./router.js";

/** Bodies recorded from real clients (docker CLI 28.2.2, docker-py 7.1, dockerode 5) by a recording server. */
interface Recorded {
  client: string;
  command?: string;
  operation: BodyName;
  body: Record<string, unknown>;
}
const RECORDED = JSON.parse(readFileSync(path.join(packageRoot(), "src", "daemon", "testdata", "client-bodies.json"), "utf8")) as Recorded[];

/** A deep copy (the validator turns StrSlice strings into arrays in place). */
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Asserts a 400 whose message is exactly `message` and whose field is `field`. */
function refused(name: BodyName, body: unknown, message: string, field?: string): void {
  assert.throws(
    () => validateBody(name, body),
    (e: unknown) => {
      assert.ok(e instanceof CoveError, String(e));
      assert.equal(e.message, message);
      assert.equal(httpStatus(e), 400);
      assert.equal(e.code, "request.invalid");
      if (field !== undefined) assert.equal(e.field, field);
      return true;
    },
  );
}

/** Every path in a JSON value to an object's property: [["HostConfig"], ["HostConfig", "Memory"], ...]. */
function fieldPaths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...fieldPaths(x, [...at, i])));
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push([...at, k]);
      out.push(...fieldPaths(x, [...at, k]));
    }
  }
  return out;
}

function setAt(root: unknown, p: (string | number)[], value: unknown): void {
  let cur = root as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[p[p.length - 1] as string | number] = value;
}

describe("generated body schemas", () => {
  const spec = defaultSpecPath();
  it("match the swagger and the generator (re-run gen-body-schema when this fails)", { skip: existsSync(spec) ? false : `${spec} is missing` }, () => {
    const fresh = generateBodySchemas(readFileSync(spec, "utf8"));
    const paths = generatedPaths();
    assert.ok(fresh.schemas === readFileSync(paths.schemas, "utf8"), `${paths.schemas} is out of date: npx tsc -p tsconfig.json && node dist/src/daemon/gen-body-schema.js`);
    assert.ok(fresh.validators === readFileSync(paths.validators, "utf8"), `${paths.validators} is out of date: npx tsc -p tsconfig.json && node dist/src/daemon/gen-body-schema.js`);
  });

  it("cover every operation whose JSON body cove's routes read", () => {
    assert.deepEqual(Object.keys(BODY_SCHEMAS).sort(), [
      "ContainerCreate",
      "ContainerExec",
      "ContainerUpdate",
      "ExecStart",
      "ImageCommit",
      "NetworkConnect",
      "NetworkCreate",
      "NetworkDisconnect",
      "VolumeCreate",
    ]);
  });
});

describe("request bodies of real clients", () => {
  it("has bodies of every operation from the docker CLI, docker-py and dockerode", () => {
    for (const client of ["docker CLI 28.2.2", "docker-py 7.1", "dockerode"]) {
      const ops = new Set(RECORDED.filter((r) => r.client === client).map((r) => r.operation));
      const want = client === "docker CLI 28.2.2" ? Object.keys(BODY_SCHEMAS).filter((o) => o !== "ImageCommit") : Object.keys(BODY_SCHEMAS);
      for (const op of want) assert.ok(ops.has(op as BodyName), `no ${op} body from ${client}`);
    }
  });

  for (const r of RECORDED) {
    it(`passes unchanged: ${r.client} ${r.command ?? ""} (${r.operation})`, () => {
      const body = copy(r.body);
      assert.equal(validateBody(r.operation, body), body);
      assert.deepEqual(body, r.body);
    });
  }

  it("accepts null for every field of the docker CLI's fullest bodies (Go leaves the zero value)", () => {
    for (const r of RECORDED.filter((x) => x.client === "docker CLI 28.2.2")) {
      for (const p of fieldPaths(r.body)) {
        // a field is a property of an object; array items and map values are not fields
        const parent = p.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], r.body);
        if (Array.isArray(parent)) continue;
        const parentPath = p.slice(0, -1).join(".");
        if (/(^|\.)(Labels|Config|Options|DriverOpts|Sysctls|Tmpfs|Annotations|StorageOpt|EndpointsConfig|PortBindings|AuxiliaryAddresses)$/.test(parentPath)) continue;
        const body = copy(r.body);
        setAt(body, p, null);
        assert.doesNotThrow(() => validateBody(r.operation, body), `${r.command}: ${p.join(".")} = null`);
      }
    }
  });

  it("accepts the shapes older clients send (API 1.24-1.25 era docker-py, compose 1.x)", () => {
    // written after docker-py 1.x's create_container_config: null for unset fields, resource
    // limits and Dns at the top level (ignored since API 1.18), Volumes as a set, MacAddress
    validateBody("ContainerCreate", {
      Hostname: null,
      Domainname: null,
      ExposedPorts: { "80/tcp": {} },
      User: null,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Memory: 0,
      MemorySwap: 0,
      CpuShares: null,
      Cpuset: null,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Env: null,
      Cmd: "echo hi",
      Dns: null,
      Image: "busybox",
      Volumes: { "/data": {} },
      VolumesFrom: null,
      NetworkDisabled: false,
      Entrypoint: null,
      WorkingDir: null,
      MacAddress: "02:42:ac:11:00:05",
      Labels: null,
      StopSignal: null,
      Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 1e9, Timeout: 0, Retries: 3 },
      HostConfig: { Binds: ["/tmp:/a:ro"], PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }], "53/udp": null }, Links: null, LxcConf: [], RestartPolicy: {}, NetworkMode: "default" },
      NetworkingConfig: null,
    });
  });
});

describe("validateBody", () => {
  it("refuses a wrong type at any depth, naming the field and the types", () => {
    refused("ContainerCreate", { Image: "busybox", Labels: { a: [] } }, "invalid body: Labels.a: expected a string, got an array", "Labels.a");
    refused("ContainerCreate", { Image: 5 }, "invalid body: Image: expected a string, got a number (5)", "Image");
    refused("ContainerCreate", { Labels: { "com.example.x": true } }, 'invalid body: Labels["com.example.x"]: expected a string, got a boolean (true)', 'Labels["com.example.x"]');
    refused("ContainerCreate", { Env: "A=1" }, 'invalid body: Env: expected an array of strings, got a string ("A=1")');
    refused("ContainerCreate", { Healthcheck: { Interval: "5s" } }, 'invalid body: Healthcheck.Interval: expected an integer, got a string ("5s")');
    refused("ContainerCreate", { HostConfig: { Memory: "1g" } }, 'invalid body: HostConfig.Memory: expected an integer, got a string ("1g")', "HostConfig.Memory");
    refused("ContainerCreate", { HostConfig: { Memory: 1.5 } }, "invalid body: HostConfig.Memory: expected an integer, got a number (1.5)");
    refused("ContainerCreate", { HostConfig: { PortBindings: { "80/tcp": [{ HostPort: 80 }] } } }, 'invalid body: HostConfig.PortBindings["80/tcp"][0].HostPort: expected a string, got a number (80)');
    refused(
      "ContainerCreate",
      { HostConfig: { Mounts: [{ Type: "volume", VolumeOptions: { DriverConfig: { Options: { size: 1 } } } }] } },
      "invalid body: HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options.size: expected a string, got a number (1)",
    );
    refused("ContainerCreate", { NetworkingConfig: { EndpointsConfig: { n: { IPAMConfig: { LinkLocalIPs: "169.254.0.1" } } } } }, 'invalid body: NetworkingConfig.EndpointsConfig.n.IPAMConfig.LinkLocalIPs: expected an array of strings, got a string ("169.254.0.1")');
    refused("ContainerCreate", { HostConfig: "host" }, 'invalid body: HostConfig: expected an object, got a string ("host")');
    refused("ContainerCreate", { Cmd: 5 }, "invalid body: Cmd: expected an array of strings or a string, got a number (5)");
    refused("ContainerCreate", { Cmd: ["sh", 1] }, "invalid body: Cmd[1]: expected a string, got a number (1)");
    refused("ContainerUpdate", { RestartPolicy: { MaximumRetryCount: "3" } }, 'invalid body: RestartPolicy.MaximumRetryCount: expected an integer, got a string ("3")');
    refused("ContainerUpdate", { Ulimits: [{ Name: "nofile", Soft: "1" }] }, 'invalid body: Ulimits[0].Soft: expected an integer, got a string ("1")');
    refused("ImageCommit", { Labels: { a: { b: "c" } } }, "invalid body: Labels.a: expected a string, got an object");
    refused("ContainerExec", { Cmd: "ls" }, 'invalid body: Cmd: expected an array of strings, got a string ("ls")');
    refused("ExecStart", { Detach: "yes" }, 'invalid body: Detach: expected a boolean, got a string ("yes")');
    refused("NetworkCreate", { Name: "n", IPAM: { Config: [{ Subnet: 10 }] } }, "invalid body: IPAM.Config[0].Subnet: expected a string, got a number (10)");
    refused("NetworkCreate", { Name: ["n"] }, "invalid body: Name: expected a string, got an array");
    refused("NetworkConnect", { Container: "c", EndpointConfig: { Aliases: [1] } }, "invalid body: EndpointConfig.Aliases[0]: expected a string, got a number (1)");
    refused("NetworkDisconnect", { Container: "c", Force: "true" }, 'invalid body: Force: expected a boolean, got a string ("true")');
    refused("VolumeCreate", { Name: "v", DriverOpts: { size: 1 } }, "invalid body: DriverOpts.size: expected a string, got a number (1)");
  });

  it("lists several problems at once (in the schema's order), at most five", () => {
    refused(
      "ContainerCreate",
      { Image: 1, Tty: "yes", HostConfig: { Privileged: 1, Memory: "1g" }, Labels: { a: 1 } },
      'invalid body: Tty: expected a boolean, got a string ("yes"); Image: expected a string, got a number (1); Labels.a: expected a string, got a number (1); HostConfig.Memory: expected an integer, got a string ("1g"); HostConfig.Privileged: expected a boolean, got a number (1)',
      "Tty",
    );
    assert.throws(() => validateBody("ContainerCreate", { Env: [1, 2, 3, 4, 5, 6, 7] }), { message: /^invalid body: Env\[0\]: .*; Env\[4\]: expected a string, got a number \(5\) \(and 2 more\)$/ });
  });

  it("refuses a body that is not an object; lets an empty or null one through to the route", () => {
    refused("ContainerCreate", [], "invalid body: expected a JSON object, got an array");
    refused("VolumeCreate", "v1", 'invalid body: expected a JSON object, got a string ("v1")');
    assert.equal(validateBody("ContainerCreate", null), null);
    assert.equal(validateBody("ContainerCreate", undefined), undefined);
  });

  it("ignores unknown fields and enum values, as Go's decoder does", () => {
    const body = { Image: "busybox", NotAField: [[{ x: 1 }]], HostConfig: { Extra: { y: [1] }, RestartPolicy: { Name: "sometimes" }, Mounts: [{ Type: "weird" }] }, Healthcheck: { Test: [] } };
    assert.deepEqual(validateBody("ContainerCreate", copy(body)), body);
    // integral numbers are integers however they are written
    assert.doesNotThrow(() => validateBody("ContainerCreate", JSON.parse('{"HostConfig":{"Memory":1e9,"CpuShares":512.0}}')));
  });

  it("refuses null as an array item or a map value unless the API allows it there", () => {
    refused("ContainerCreate", { HostConfig: { Mounts: [null] } }, "invalid body: HostConfig.Mounts[0]: expected an object, got null");
    refused("ContainerCreate", { Env: [null] }, "invalid body: Env[0]: expected a string, got null");
    refused("ContainerCreate", { Labels: { a: null } }, "invalid body: Labels.a: expected a string, got null");
    // PortMap values are x-nullable in the swagger; set members (ExposedPorts, Volumes) are empty structs
    assert.doesNotThrow(() => validateBody("ContainerCreate", { HostConfig: { PortBindings: { "80/tcp": null } }, ExposedPorts: { "80/tcp": null }, Volumes: { "/v": null } }));
  });

  it("turns a string in a StrSlice field into a one-element array, as Go does", () => {
    const body = { Image: "busybox", Cmd: "echo hi", Entrypoint: "", Shell: "/bin/sh", HostConfig: { CapAdd: "NET_ADMIN", CapDrop: ["ALL"] } };
    validateBody("ContainerCreate", body);
    assert.deepEqual(body, { Image: "busybox", Cmd: ["echo hi"], Entrypoint: [""], Shell: ["/bin/sh"], HostConfig: { CapAdd: ["NET_ADMIN"], CapDrop: ["ALL"] } });
    const commit = { Cmd: "sh" };
    validateBody("ImageCommit", commit);
    assert.deepEqual(commit, { Cmd: ["sh"] });
  });

  it("stops at the wrong type without walking what is inside it", () => {
    let inner: unknown = [];
    for (let i = 0; i < 10_000; i++) inner = [inner];
    refused("ContainerCreate", { Image: "busybox", Labels: { a: inner } }, "invalid body: Labels.a: expected a string, got an array");
  });
});

describe("JSON depth", () => {
  const nested = (n: number, inner = "") => "[".repeat(n) + inner + "]".repeat(n);

  it("counts arrays and objects, not brackets inside strings", () => {
    assert.equal(jsonTooDeepAt(nested(MAX_JSON_DEPTH)), undefined);
    assert.equal(jsonTooDeepAt(nested(MAX_JSON_DEPTH + 1)), MAX_JSON_DEPTH);
    assert.equal(jsonTooDeepAt(`{"a":${nested(50)},"b":{"c":${nested(98)}}}`), undefined);
    assert.equal(jsonTooDeepAt(`{"a":${nested(99)}}`), undefined);
    assert.equal(jsonTooDeepAt(`{"a":${nested(100)}}`), 104);
    assert.equal(jsonTooDeepAt(`{"a":"${"[".repeat(500)}","b":"\\"[[[[{{{{"}`), undefined);
    assert.equal(jsonTooDeepAt(Buffer.from(`["é${"[".repeat(300)}"]`)), undefined);
    assert.equal(jsonTooDeepAt(`{"a":[1,2,{"b":[]}],"c":{}}`, 4), undefined);
    assert.equal(jsonTooDeepAt(`{"a":[1,2,{"b":[]}],"c":{}}`, 3), 15);
    assert.equal(jsonTooDeepAt(`{"a":[1,2,{"b":[]}],"c":{}}`, 2), 10);
  });

  it("refuses a 10,000-deep body with a 400 before parsing it", () => {
    const text = `{"Image":"busybox","Labels":{"a":${nested(10_000)}}}`;
    assert.throws(
      () => parseJSONBody(Buffer.from(text)),
      (e: unknown) => e instanceof CoveError && httpStatus(e) === 400 && e.code === "request.too-deep" && e.message === "invalid body: JSON nested deeper than 100 levels (at byte 131)",
    );
    assert.throws(() => checkJSONDepth(Buffer.from(`{"Unknown":${nested(101)}}`)), /nested deeper than 100 levels/);
    assert.deepEqual(parseJSONBody(Buffer.from('{"a":[[1]]}')), { a: [[1]] });
    assert.throws(() => parseJSONBody(Buffer.from("{nope")), (e: unknown) => e instanceof CoveError && httpStatus(e) === 400 && /^invalid JSON in the request body: /.test(e.message));
  });
});

describe("readJSON over HTTP", () => {
  let dir: string;
  let socket: string;
  let server: http.Server;
  const handed: unknown[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    socket = path.join(dir, "r.sock");
    const router = new Router();
    router.post("/containers/create", async (c) => {
      const body = await readJSON(c.req, "ContainerCreate");
      handed.push(body); // stands for the service call: only checked bodies get here
      sendJSON(c.res, 201, { Id: "x", Warnings: [] });
    });
    server = http.createServer((req, res) => void router.handle(req, res));
    await new Promise<void>((r) => server.listen(socket, r));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  const post = (p: string, body: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath: socket, method: "POST", path: p, headers: { "Content-Type": "application/json" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      req.end(body);
    });

  it("answers 400 with the field and hands nothing to the handler", async () => {
    const deep = await post("/v1.47/containers/create", `{"Image":"busybox","Labels":{"a":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`);
    assert.equal(deep.status, 400);
    assert.deepEqual(JSON.parse(deep.body), { message: "invalid body: JSON nested deeper than 100 levels (at byte 131)" });
    const typed = await post("/containers/create", '{"Image":"busybox","Labels":{"a":["x"]}}');
    assert.equal(typed.status, 400);
    assert.deepEqual(JSON.parse(typed.body), { message: "invalid body: Labels.a: expected a string, got an array" });
    assert.equal(handed.length, 0);
    const ok = await post("/v1.24/containers/create", '{"Image":"busybox","Cmd":"true","Labels":null}');
    assert.equal(ok.status, 201);
    assert.deepEqual(handed, [{ Image: "busybox", Cmd: ["true"], Labels: null }]);
  });
});

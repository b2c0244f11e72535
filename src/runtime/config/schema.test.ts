import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { findSyntaxError } from "./load.js";
import { child, pointerToPath, schemaProblems, type SchemaName } from "./schema.js";
import { SCHEMAS } from "./schema-data.js";
import { schemaTestFiles, testdataDir } from "./test-helpers.js";

for (const kind of ["config", "features", "state"] as SchemaName[]) {
  for (const { name, text } of schemaTestFiles(kind, "good")) {
    test(`schema: ${kind}/good/${name} is valid`, () => {
      assert.deepEqual(schemaProblems(kind, JSON.parse(text)), []);
    });
  }
  for (const { name, text } of schemaTestFiles(kind, "bad")) {
    test(`schema: ${kind}/bad/${name} is refused`, () => {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        // invalid-json.json: refused before the schema; the scanner must find the spot
        assert.ok(findSyntaxError(text), `${name}: the JSON scanner should find the syntax error`);
        return;
      }
      assert.notDeepEqual(schemaProblems(kind, doc), [], `${name} should fail the ${kind} schema`);
    });
  }
}

test("schema: bad documents name the offending field and value", () => {
  const bad = Object.fromEntries(schemaTestFiles("config", "bad").flatMap(({ name, text }) => (name === "invalid-json.json" ? [] : [[name, JSON.parse(text) as unknown]])));
  assert.deepEqual(schemaProblems("config", bad["linux-hugepage.json"]), [
    { field: "linux.resources.hugepageLimits[0].pageSize", message: 'must match ^[1-9][0-9]*[KMG]B$ (got "64kB")' },
  ]);
  assert.deepEqual(schemaProblems("config", bad["linux-netdevice.json"]), [{ field: "linux.netDevices.eth0.name", message: "must be a string (got integer 23)" }]);
  assert.deepEqual(schemaProblems("config", bad["linux-rdma.json"]), [
    { field: "linux.resources.rdma.mlx5_1.hcaHandles", message: 'must be an integer (got string "not a uint32")' },
  ]);
  assert.deepEqual(schemaProblems("config", bad["freebsd-vnet-disable.json"]), [{ field: "freebsd.jail.vnet", message: 'must be one of new, inherit (got "disable")' }]);
  const [features] = schemaTestFiles("features", "bad");
  assert.deepEqual(schemaProblems("features", JSON.parse(features!.text)), [{ field: "ociVersionMax", message: "is required" }]);
});

test("schema: every problem is reported, not only the first", () => {
  const problems = schemaProblems("config", {
    ociVersion: "1.0.0",
    root: { path: 7 },
    process: { user: { uid: -1, gid: 0 } },
    linux: { namespaces: [{ type: "pid" }, { type: "netwrk" }] },
  });
  assert.deepEqual(problems, [
    { field: "root.path", message: "must be a string (got integer 7)" },
    { field: "process.cwd", message: "is required" },
    { field: "process.user.uid", message: "must be >= 0 (got -1)" },
    { field: "linux.namespaces[1].type", message: 'must be one of mount, pid, network, uts, ipc, user, cgroup, time (got "netwrk")' },
  ]);
});

test("schema: a non-object document is refused as a whole", () => {
  assert.deepEqual(schemaProblems("config", [1]), [{ field: "", message: "must be an object (got array)" }]);
  assert.deepEqual(schemaProblems("config", {}), [{ field: "ociVersion", message: "is required" }]);
  assert.deepEqual(schemaProblems("config", null), [{ field: "", message: "must be an object (got null)" }]);
});

test("schema: recursive rootfsPropagation values runc accepts pass; others list all eight", () => {
  for (const v of ["rshared", "rslave", "rprivate", "runbindable", "private"]) {
    assert.deepEqual(schemaProblems("config", { ociVersion: "1.0.0", linux: { rootfsPropagation: v } }), [], v);
  }
  assert.deepEqual(schemaProblems("config", { ociVersion: "1.0.0", linux: { rootfsPropagation: "rshard" } }), [
    { field: "linux.rootfsPropagation", message: 'must be one of shared, slave, private, unbindable, rshared, rslave, rprivate, runbindable (got "rshard")' },
  ]);
});

test("schema: personality domain must be LINUX or LINUX32", () => {
  assert.deepEqual(schemaProblems("config", { ociVersion: "1.0.0", linux: { personality: { domain: "LINUX32" } } }), []);
  assert.deepEqual(schemaProblems("config", { ociVersion: "1.0.0", linux: { personality: { domain: "LINUX64" } } }), [
    { field: "linux.personality.domain", message: 'must be one of LINUX, LINUX32 (got "LINUX64")' },
  ]);
});

test("schema: JSON pointers become dotted paths; odd keys are quoted", () => {
  assert.equal(pointerToPath(""), "");
  assert.equal(pointerToPath("/linux/namespaces/2/type"), "linux.namespaces[2].type");
  assert.equal(pointerToPath("/linux/sysctl/net.ipv4.ip_forward"), 'linux.sysctl["net.ipv4.ip_forward"]');
  assert.equal(pointerToPath("/annotations/a~1b~0c"), 'annotations["a/b~c"]');
  assert.equal(child("linux.sysctl", "kernel.sem"), 'linux.sysctl["kernel.sem"]');
  assert.equal(child("", "process"), "process");
  assert.equal(child("mounts", 3), "mounts[3]");
});

test("schema: the embedded schemas are exactly the files in schema/", () => {
  const dir = path.join(testdataDir(), "..", "schema");
  const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  assert.deepEqual(Object.keys(SCHEMAS).sort(), files.sort());
  for (const f of files) assert.deepEqual(SCHEMAS[f], JSON.parse(readFileSync(path.join(dir, f), "utf8")), `${f} differs: re-run gen-schema-data`);
});

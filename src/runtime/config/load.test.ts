import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CoveError } from "../../common/errors.js";
import { defaultSpec } from "./default.js";
import { findSyntaxError, lineColumn, loadConfig, parseJson } from "./load.js";
import { catchCove, makeBundle, schemaTestFiles, tempDir, testdataDir } from "./test-helpers.js";

async function rejects(p: Promise<unknown>): Promise<CoveError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CoveError) return err;
    throw err;
  }
  throw new Error("expected loadConfig to fail");
}

describe("loadConfig", () => {
  let t: { dir: string; cleanup: () => void };
  let n = 0;
  const fresh = () => path.join(t.dir, `bundle-${++n}`);
  before(() => {
    t = tempDir();
  });
  after(() => t.cleanup());

  test("loads a valid bundle and returns the absolute rootfs", async () => {
    const bundle = makeBundle(fresh(), defaultSpec());
    const { spec, rootfs } = await loadConfig(bundle);
    assert.deepEqual(spec, defaultSpec());
    assert.equal(rootfs, path.join(bundle, "rootfs"));
  });

  test("a relative bundle path is resolved against the working directory", async () => {
    const bundle = makeBundle(fresh(), defaultSpec());
    const { rootfs } = await loadConfig(path.relative(process.cwd(), bundle));
    assert.equal(rootfs, path.join(bundle, "rootfs"));
  });

  test("a symlinked rootfs resolves to its target", async () => {
    const bundle = fresh();
    mkdirSync(bundle);
    mkdirSync(path.join(bundle, "real"));
    symlinkSync("real", path.join(bundle, "rootfs"));
    writeFileSync(path.join(bundle, "config.json"), JSON.stringify(defaultSpec()));
    assert.equal((await loadConfig(bundle)).rootfs, path.join(bundle, "real"));
  });

  test("a missing config.json says how to make one", async () => {
    const bundle = makeBundle(fresh());
    const err = await rejects(loadConfig(bundle));
    assert.equal(err.kind, "not-found");
    assert.equal(err.code, "config.missing");
    assert.equal(err.message, `no config.json in bundle ${bundle}: run \`cove runtime spec\` to create one`);
  });

  test("a missing bundle directory is named as such", async () => {
    const bundle = fresh();
    const err = await rejects(loadConfig(bundle));
    assert.equal(err.kind, "not-found");
    assert.equal(err.message, `bundle ${bundle} does not exist or is not a directory`);
  });

  test("config.json as a directory is refused", async () => {
    const bundle = makeBundle(fresh());
    mkdirSync(path.join(bundle, "config.json"));
    const err = await rejects(loadConfig(bundle));
    assert.equal(err.kind, "invalid");
    assert.match(err.message, /config\.json is a directory/);
  });

  test("invalid JSON reports line and column", async () => {
    const bundle = makeBundle(fresh(), '{\n  "ociVersion": "1.0.0",\n  "root": {"path": "rootfs",}\n}\n');
    const err = await rejects(loadConfig(bundle));
    assert.equal(err.kind, "invalid");
    assert.equal(err.code, "config.syntax");
    assert.equal(err.message, `config.json in bundle ${bundle} is not valid JSON: line 3, column 28: trailing comma before }`);
  });

  test("the spec's invalid-json.json test document is refused at line 1, column 2", async () => {
    const bad = schemaTestFiles("config", "bad").find((f) => f.name === "invalid-json.json")!;
    const bundle = makeBundle(fresh(), bad.text);
    const err = await rejects(loadConfig(bundle));
    assert.match(err.message, /is not valid JSON: line 1, column 2: expected a "quoted" property name, unexpected "\]"$/);
  });

  test("schema and semantic problems are all reported", async () => {
    const spec = defaultSpec() as unknown as Record<string, Record<string, unknown>>;
    spec.process!.cwd = "relative";
    spec.linux!.namespaces = [{ type: "pid" }, { type: "mount" }, { type: "bogus" }];
    const bundle = makeBundle(fresh(), spec);
    const err = await rejects(loadConfig(bundle));
    assert.equal(err.code, "config.invalid");
    assert.equal(err.field, "linux.namespaces[2].type");
    assert.deepEqual(err.message.split("\n"), [
      'config.json: linux.namespaces[2].type: must be one of mount, pid, network, uts, ipc, user, cgroup, time (got "bogus")',
      'config.json: process.cwd: must be an absolute path (got "relative")',
      "config.json: hostname: cannot be set without a private UTS namespace",
    ]);
  });

  test("a missing rootfs is reported with the resolved path", async () => {
    const bundle = fresh();
    mkdirSync(bundle);
    writeFileSync(path.join(bundle, "config.json"), JSON.stringify({ ...defaultSpec(), root: { path: "missing" } }));
    const err = await rejects(loadConfig(bundle));
    assert.equal(err.field, "root.path");
    assert.equal(err.message, `config.json: root.path: root filesystem ${path.join(bundle, "missing")} does not exist`);
  });
});

describe("JSON syntax errors", () => {
  test("the scanner accepts every valid document it is given", () => {
    for (const kind of ["config", "features", "state"]) {
      for (const { name, text } of schemaTestFiles(kind, "good")) assert.equal(findSyntaxError(text), undefined, name);
    }
    const schemaDir = path.join(testdataDir(), "..", "schema");
    assert.equal(findSyntaxError(readFileSync(path.join(schemaDir, "config-linux.json"), "utf8")), undefined);
    for (const ok of ['"x"', "0", "-1.5e+3", "[]", "{}", ' [true, false, null, "\\u00e9\\n"] ']) assert.equal(findSyntaxError(ok), undefined, ok);
  });

  test("the scanner finds the spot and says what is wrong", () => {
    const cases: [string, number, string][] = [
      ["", 0, "expected a value, unexpected end of input"],
      ['{"a" 1}', 5, "expected ':' after the property name, unexpected \"1\""],
      ['{"a": tru}', 6, "invalid literal: expected true"],
      ['{"a": "x', 8, "unterminated string"],
      ['{"a":1} x', 8, 'unexpected "x" after the end of the document'],
      ["[1,,2]", 3, 'expected a value, unexpected ","'],
      ["[1,2,]", 4, "trailing comma before ]"],
      ['{"a": 1 , }', 8, "trailing comma before }"],
      ['{"a": 01}', 7, "expected ',' or '}' in object, unexpected \"1\""],
      ['"\\q"', 1, "invalid escape in string"],
      ['"a\tb"', 2, "control character in string (escape it, e.g. \\n)"],
      ["\ufeff{}", 0, "byte order mark at the start (save the file as UTF-8 without BOM)"],
    ];
    for (const [text, offset, message] of cases) {
      assert.deepEqual(findSyntaxError(text), { offset, message }, JSON.stringify(text));
      assert.throws(() => JSON.parse(text), SyntaxError, `${JSON.stringify(text)} should be invalid JSON`);
    }
  });

  test("lineColumn counts from 1", () => {
    assert.deepEqual(lineColumn("abc", 0), { line: 1, column: 1 });
    assert.deepEqual(lineColumn("ab\ncd\nef", 7), { line: 3, column: 2 });
  });

  test("parseJson without a bundle names only the document", () => {
    const err = catchCove(() => parseJson("[1,]", "state.json"));
    assert.equal(err.message, "state.json is not valid JSON: line 1, column 3: trailing comma before ]");
    assert.deepEqual(parseJson('{"a":[1]}', "x"), { a: [1] });
  });
});

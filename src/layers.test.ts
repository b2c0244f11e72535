// cove's layering is enforced by the lint rule "cove/layers" (scripts/layers.js, turned on in
// eslint.config.js). These tests lint synthetic modules with the project's real ESLint
// configuration and expect an upward import to fail, so the rule cannot silently stop working.

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";

// dist/src/layers.test.js or src/layers.test.ts: the package root is the nearest package.json's directory
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!readdirSync(dir).includes("package.json")) dir = path.dirname(dir);
  return dir;
}

const root = packageRoot();
const eslint = new ESLint({ cwd: root });

/** The layer rule's messages for `code` as if it were the file src/<file>. */
async function violations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, "src", file) });
  assert.ok(result, "ESLint returned no result");
  return result.messages.filter((m) => m.ruleId === "cove/layers").map((m) => m.message);
}

describe("layers", () => {
  it("fail an upward import: the library importing the daemon", async () => {
    const found = await violations("engine/probe.ts", 'import { startDaemon } from "../daemon/index.js";\nexport const s = startDaemon;\n');
    assert.equal(found.length, 1);
    assert.match(found[0]!, /src\/engine .* may not import src\/daemon/);
  });

  it("fail upward imports of every form", async () => {
    const code = [
      'import type { ContainerService } from "../containers/index.js";',
      'export { Router } from "../daemon/router.js";',
      'export * from "../cli/flags.js";',
      'export const later = () => import("../images/index.js");',
      'export type T = import("../volumes/index.js").VolumeService | ContainerService;',
    ].join("\n");
    const found = await violations("runtime/probe.ts", code);
    assert.equal(found.length, 5, found.join("\n"));
  });

  it("fail a service importing the HTTP layer, and folders of one layer importing each other", async () => {
    assert.equal((await violations("containers/probe.ts", 'import "../daemon/router.js";\n')).length, 1);
    const sideways = await violations("images/probe.ts", 'import "../volumes/index.js";\n');
    assert.equal(sideways.length, 1);
    assert.match(sideways[0]!, /both are in the layer/);
  });

  it("let imports point down, within a folder, and to packages", async () => {
    const code = [
      'import "node:fs";',
      'import "tar-stream";',
      'import "./service.js";',
      'import "../images/index.js";',
      'import "../runtime/runc.js";',
      'import "../native/protocol.js";',
      'import "../common/errors.js";',
    ].join("\n");
    assert.deepEqual(await violations("containers/probe.ts", code), []);
    assert.deepEqual(await violations("engine/probe.ts", 'import "../events/index.js";\n'), []);
    assert.deepEqual(await violations("daemon/probe.ts", 'import "../events/index.js";\nimport "../runtime/runc.js";\n'), []);
  });

  it("put build and compose above the container service, which may not import them", async () => {
    assert.deepEqual(await violations("build/probe.ts", 'import "../containers/index.js";\nimport "../images/service.js";\n'), []);
    assert.deepEqual(await violations("compose/probe.ts", 'import "../containers/index.js";\n'), []);
    assert.equal((await violations("containers/probe.ts", 'import "../build/index.js";\n')).length, 1);
    const sideways = await violations("build/probe.ts", 'import "../compose/index.js";\n');
    assert.equal(sideways.length, 1);
    assert.match(sideways[0]!, /both are in the layer/);
    assert.deepEqual(await violations("engine/probe.ts", 'import "../build/index.js";\n'), []);
  });

  it("keep non-test code inside src", async () => {
    assert.equal((await violations("images/probe.ts", 'import "../../test/images/fixtures.js";\n')).length, 1);
    assert.deepEqual(await violations("images/probe.test.ts", 'import "../../test/images/fixtures.js";\n'), []);
  });

  it("place every folder under src in a layer", async () => {
    assert.equal((await violations("nowhere/probe.ts", "export {};\n")).length, 1, "a folder in no layer fails");
    const folders = readdirSync(path.join(root, "src"), { withFileTypes: true }).filter((d) => d.isDirectory());
    for (const d of folders) assert.deepEqual(await violations(`${d.name}/probe.ts`, "export {};\n"), [], `src/${d.name}`);
  });
});

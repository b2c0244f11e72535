import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import type { Ajv as AjvType } from "ajv";
import { COMPOSE_AJV_OPTIONS, composeSchema, generateComposeValidator, generatedPath } from "./gen-validator.js";
import { validate } from "./schema-validate.generated.js";

describe("the compose schema's compiled validator", () => {
  it("is what the generator makes from schema-data.ts now (re-run gen-validator.js when this fails)", () => {
    assert.equal(readFileSync(generatedPath(), "utf8"), generateComposeValidator());
  });

  it("judges documents as ajv compiling the schema at run time does, errors included", () => {
    const { Ajv } = createRequire(import.meta.url)("ajv") as { Ajv: new (o: object) => AjvType };
    const fresh = new Ajv(COMPOSE_AJV_OPTIONS).compile(composeSchema());
    const docs: unknown[] = [
      { services: { web: { image: "busybox", ports: ["80:80"], cap_add: ["NET_ADMIN", "NET_ADMIN"] } } },
      { services: { web: { image: "busybox", depends_on: { db: { condition: "service_healthy" } } }, db: { image: "x" } } },
      { services: { web: { image: 5, bogus: true } }, networks: { n: { driver: "bridge" } } },
      { services: { "bad name!": {} } },
      { services: { web: { image: "busybox", environment: { A: "1", B: null }, healthcheck: { test: ["CMD", "true"], interval: "1s" } } } },
    ];
    const compiled = validate as unknown as ((d: unknown) => boolean) & { errors?: unknown };
    for (const d of docs) {
      assert.equal(compiled(d), fresh(d), JSON.stringify(d));
      assert.deepEqual(compiled.errors ?? null, fresh.errors ?? null, JSON.stringify(d));
    }
  });
});

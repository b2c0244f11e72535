import assert from "node:assert/strict";
import { test } from "node:test";
import { CoveError } from "../common/errors.js";
import { checkSearchOptions, searchRegistry, splitSearchTerm } from "./search.js";

const invalidWith = (message: string) => (err: unknown) => err instanceof CoveError && err.kind === "invalid" && err.message === message;

test("a search term names its registry as moby's splitReposSearchTerm does", () => {
  assert.deepEqual(splitSearchTerm("busybox"), { index: "docker.io", remote: "busybox" });
  assert.deepEqual(splitSearchTerm("library/busybox"), { index: "docker.io", remote: "library/busybox" });
  assert.deepEqual(splitSearchTerm("someone/tools"), { index: "docker.io", remote: "someone/tools" });
  assert.deepEqual(splitSearchTerm("127.0.0.1:5000/bus"), { index: "127.0.0.1:5000", remote: "bus" });
  assert.deepEqual(splitSearchTerm("localhost/a/b"), { index: "localhost", remote: "a/b" });
  assert.deepEqual(splitSearchTerm("registry.example.com/x"), { index: "registry.example.com", remote: "x" });
});

test("limits and filters are checked as dockerd checks them", () => {
  assert.deepEqual(checkSearchOptions({}), { limit: 25, official: undefined, automated: undefined, stars: undefined });
  assert.deepEqual(checkSearchOptions({ limit: 100, filters: { "is-official": ["1"], stars: ["3", "7"] } }), { limit: 100, official: true, automated: undefined, stars: 7 });
  assert.throws(() => checkSearchOptions({ limit: 101 }), invalidWith("limit 101 is outside the range of [1, 100]"));
  assert.throws(() => checkSearchOptions({ limit: -1 }), invalidWith("limit -1 is outside the range of [1, 100]"));
  assert.throws(() => checkSearchOptions({ filters: { label: ["x"] } }), invalidWith("invalid filter 'label'"));
  assert.throws(() => checkSearchOptions({ filters: { stars: ["many"] } }), invalidWith("invalid filter 'stars=many'"));
  assert.throws(() => checkSearchOptions({ filters: { "is-official": ["true", "false"] } }), invalidWith("invalid filter 'is-official=[true false]'"));
});

test("a bad term or filter fails before any request (no registry is reached)", async () => {
  await assert.rejects(searchRegistry("https://example.com/x"), invalidWith("invalid repository name: repository name (https://example.com/x) should not have a scheme"));
  await assert.rejects(searchRegistry("example.com/x", { filters: { "is-automated": ["yes"] } }), invalidWith("invalid filter 'is-automated=[yes]'"));
  // is-automated=true matches nothing, without asking
  assert.deepEqual(await searchRegistry("example.invalid/x", { filters: { "is-automated": ["true"] } }), []);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoveError } from "../common/errors.js";
import { digestOf } from "../content/digest.js";
import { ContentStore, writeBlob } from "../content/store.js";
import { MediaType } from "./mediatypes.js";
import { parsePlatform } from "./platforms.js";
import { imageChildren, resolveImage } from "./resolve.js";
import type { Descriptor, Platform } from "./types.js";
import { parseImageConfig, parseIndex, parseManifest, parseManifestOrIndex } from "./validate.js";

const layer: Descriptor = { mediaType: MediaType.OCILayerGzip, digest: digestOf("layer"), size: 5 };
const cfgDesc: Descriptor = { mediaType: MediaType.OCIConfig, digest: digestOf("cfg"), size: 3 };
const ociManifest = { schemaVersion: 2, mediaType: MediaType.OCIManifest, config: cfgDesc, layers: [layer] };

function rejects(fn: () => unknown, field: string, code = "image.invalid") {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof CoveError)) return false;
    assert.equal(e.field, field, e.message);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test("valid OCI and Docker manifests parse", () => {
  assert.deepEqual(parseManifest(JSON.stringify(ociManifest), MediaType.OCIManifest), ociManifest);
  const noType = { schemaVersion: 2, config: cfgDesc, layers: [] };
  assert.deepEqual(parseManifest(JSON.stringify(noType)), noType);
  const docker = { ...ociManifest, mediaType: MediaType.DockerManifest, config: { ...cfgDesc, mediaType: MediaType.DockerConfig } };
  assert.equal(parseManifest(JSON.stringify(docker), MediaType.DockerManifest).mediaType, MediaType.DockerManifest);
});

test("manifest errors name the field", () => {
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, schemaVersion: 3 })), "schemaVersion");
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, config: undefined })), "config");
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, config: { ...cfgDesc, digest: "sha256:zz" } })), "config.digest");
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, layers: [layer, { ...layer, size: -1 }] })), "layers[1].size");
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, layers: [{ ...layer, mediaType: "nonsense" }] })), "layers[0].mediaType");
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, layers: "x" })), "layers");
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, annotations: { a: 1 } })), "annotations.a");
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, mediaType: undefined }), MediaType.DockerManifest), "mediaType");
  assert.throws(() => parseManifest("{not json"), (e: unknown) => e instanceof CoveError && e.kind === "invalid" && e.message.includes("malformed JSON"));
  assert.throws(() => parseManifest("[]"), (e: unknown) => e instanceof CoveError && e.message.includes("expected a JSON object"));
  assert.throws(() => parseManifest(JSON.stringify({ schemaVersion: 1 })), (e: unknown) => e instanceof CoveError && e.kind === "unsupported");
});

test("embedded data must match size and digest", () => {
  const data = Buffer.from("cfg").toString("base64");
  parseManifest(JSON.stringify({ ...ociManifest, config: { ...cfgDesc, data } }));
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, config: { ...cfgDesc, data: Buffer.from("xyz").toString("base64") } })), "config.data");
});

test("a mediaType contradicting the declared type is refused", () => {
  rejects(() => parseManifest(JSON.stringify(ociManifest), MediaType.DockerManifest), "mediaType", "image.media-type-mismatch");
  rejects(() => parseIndex(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCIManifest, manifests: [] })), "mediaType");
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, mediaType: MediaType.OCIIndex })), "mediaType");
});

test("documents mixing manifest and index fields are refused", () => {
  rejects(() => parseManifest(JSON.stringify({ ...ociManifest, manifests: [] })), "manifests", "image.ambiguous");
  rejects(() => parseIndex(JSON.stringify({ schemaVersion: 2, manifests: [], layers: [] })), "layers", "image.ambiguous");
  rejects(() => parseManifestOrIndex(JSON.stringify({ schemaVersion: 2, manifests: [], config: cfgDesc })), "config", "image.ambiguous");
});

test("indexes: platform checks; Docker lists need platforms", () => {
  const d = { mediaType: MediaType.OCIManifest, digest: digestOf("m"), size: 1 };
  parseIndex(JSON.stringify({ schemaVersion: 2, manifests: [d] }));
  rejects(() => parseIndex(JSON.stringify({ schemaVersion: 2, manifests: [{ ...d, platform: { os: "linux" } }] })), "manifests[0].platform.architecture");
  rejects(() => parseIndex(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [d] })), "manifests[0].platform");
  const doc = parseManifestOrIndex(JSON.stringify({ schemaVersion: 2, manifests: [d] }));
  assert.equal(doc.kind, "index");
  assert.throws(() => parseManifestOrIndex("{}", "text/plain"), (e: unknown) => e instanceof CoveError && e.kind === "unsupported");
});

test("image configs: Docker fields accepted, bad fields named", () => {
  const cfg = {
    architecture: "amd64",
    os: "linux",
    created: "2024-05-01T10:00:00.123456789Z",
    config: {
      Env: ["A=1"],
      Entrypoint: null,
      Cmd: ["sh"],
      ExposedPorts: { "80/tcp": {} },
      Volumes: { "/data": {} },
      Labels: { a: "b" },
      Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 30000000000, Retries: 3 },
      OnBuild: null,
      Shell: ["/bin/sh", "-c"],
      ArgsEscaped: true,
      StopSignal: "SIGTERM",
    },
    rootfs: { type: "layers", diff_ids: [digestOf("l")] },
    history: [{ created_by: "ADD", empty_layer: false }, { created_by: "CMD", empty_layer: true }],
    docker_version: "28.0.0",
    extra_field: { kept: true },
  };
  const parsed = parseImageConfig(JSON.stringify(cfg));
  assert.deepEqual(parsed, cfg);
  const bad = (patch: Record<string, unknown>, field: string) => rejects(() => parseImageConfig(JSON.stringify({ ...cfg, ...patch })), field);
  bad({ architecture: undefined }, "architecture");
  bad({ os: 7 }, "os");
  bad({ created: "yesterday" }, "created");
  bad({ rootfs: { type: "tar", diff_ids: [] } }, "rootfs.type");
  bad({ rootfs: { type: "layers", diff_ids: ["nope"] } }, "rootfs.diff_ids[0]");
  bad({ config: { ...cfg.config, Env: "A=1" } }, "config.Env");
  bad({ config: { ...cfg.config, ExposedPorts: { "eighty": {} } } }, "config.ExposedPorts");
  bad({ config: { ...cfg.config, Healthcheck: { Interval: "30s" } } }, "config.Healthcheck.Interval");
  bad({ history: [{ empty_layer: "no" }] }, "history[0].empty_layer");
  bad({ history: [{}, {}] }, "history");
});

test("image configs and manifests nested past the depth bound are refused before they are kept", () => {
  const base = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } };
  // a set member's value, an unknown field: places the field checks leave free, and that a
  // container's config inherits (ExposedPorts) or inspect shows
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  const text = (inner: string) => `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"ExposedPorts":{"80/tcp":{"x":${inner}}}}}`;
  assert.throws(() => parseImageConfig(text(deep(10000))), (e: unknown) => e instanceof CoveError && e.code === "image.invalid" && /nested deeper than 100 levels/.test(e.message));
  assert.throws(() => parseManifest(`{"schemaVersion":2,"config":${JSON.stringify(cfgDesc)},"layers":[],"annotations":{"a":${deep(200)}}}`, MediaType.OCIManifest), /nested deeper than 100 levels/);
  // 100 levels in all is still fine (the config object, ExposedPorts, its member and "x" are 4)
  assert.equal(parseImageConfig(text(deep(96))).os, "linux");
  assert.deepEqual(parseImageConfig(JSON.stringify({ ...base, config: { Labels: { a: "[[[[" } } })).config?.Labels, { a: "[[[[" });
});

// ---- resolution against a real content store

async function put(store: ContentStore, obj: unknown, mediaType: string, platform?: Platform): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(obj));
  const digest = await writeBlob(store, bytes);
  const d: Descriptor = { mediaType, digest, size: bytes.length };
  if (platform) d.platform = platform;
  return d;
}

async function image(store: ContentStore, platform: Platform, tag: string) {
  const layerBytes = Buffer.from(`layer-${tag}`);
  const layerDesc: Descriptor = { mediaType: MediaType.OCILayer, digest: await writeBlob(store, layerBytes), size: layerBytes.length };
  const config = await put(store, { architecture: platform.architecture, os: platform.os, variant: platform.variant, rootfs: { type: "layers", diff_ids: [layerDesc.digest] } }, MediaType.OCIConfig);
  const manifest = await put(store, { schemaVersion: 2, mediaType: MediaType.OCIManifest, config, layers: [layerDesc] }, MediaType.OCIManifest, platform);
  return { manifest, config, layer: layerDesc };
}

test("resolveImage walks nested indexes to the best manifest; gc keeps the graph", async () => {
  const root = await mkdtemp(path.join(tmpdir(), "cove-resolve-"));
  try {
    const store = new ContentStore({ root });
    const amd = await image(store, { os: "linux", architecture: "amd64" }, "amd");
    const arm64 = await image(store, { os: "linux", architecture: "arm64", variant: "v8" }, "arm64");
    const armv7 = await image(store, { os: "linux", architecture: "arm", variant: "v7" }, "armv7");
    const inner = await put(store, { schemaVersion: 2, mediaType: MediaType.OCIIndex, manifests: [arm64.manifest, armv7.manifest] }, MediaType.OCIIndex);
    const top = await put(store, { schemaVersion: 2, mediaType: MediaType.OCIIndex, manifests: [inner, amd.manifest] }, MediaType.OCIIndex);

    const onAmd = await resolveImage(store, top, parsePlatform("linux/amd64"));
    assert.equal(onAmd.manifestDescriptor.digest, amd.manifest.digest);
    assert.equal(onAmd.id, amd.config.digest);
    assert.deepEqual(onAmd.indexes.map((d) => d.digest), [top.digest]);

    const onArm64 = await resolveImage(store, top, parsePlatform("linux/arm64"));
    assert.equal(onArm64.manifestDescriptor.digest, arm64.manifest.digest);
    assert.deepEqual(onArm64.indexes.map((d) => d.digest), [top.digest, inner.digest]);
    const onArm6 = resolveImage(store, top, parsePlatform("linux/arm/v6"));
    await assert.rejects(onArm6, { message: "no matching manifest for linux/arm/v6 in the manifest list entries" });

    // A single manifest resolves whatever the platform, flagged as a mismatch.
    const single = await resolveImage(store, amd.manifest, parsePlatform("linux/arm64"));
    assert.equal(single.platformMatches, false);

    // GC from the top index keeps everything; an orphan goes.
    const orphan = await writeBlob(store, Buffer.from("orphan"));
    const result = await store.gc([top.digest], imageChildren(store));
    assert.deepEqual(result.removed, [orphan]);
    assert.equal(result.kept, 11);
    // Dropping the root frees all of it.
    const all = await store.gc([], imageChildren(store));
    assert.equal(all.removed.length, 11);
    assert.equal((await store.usage()).blobs.count, 0);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

// The CRI server of `cove daemon` (runtime.v1 over gRPC on --cri-socket): the runtime's Version,
// Status and UpdateRuntimeConfig, and the ImageService over the same images the Docker API shows.
// A gRPC client made from the same api.proto drives it; with CRICTL naming a crictl binary
// (cri-tools, built from its source), crictl drives the same calls too.

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { criServices } from "../../src/cri/proto.js";
import { pingSocket } from "../../src/daemon/index.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { registryAvailable, skopeoCopy, startRegistry, type Registry } from "../registry/support.js";
import { DOCKER } from "../support/docker-api.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const CRICTL = process.env.CRICTL;

const skip = process.getuid?.() !== 0 ? "needs root (the daemon)" : !(await findBusybox()) ? "busybox-static is not installed" : !existsSync(DOCKER) ? `${DOCKER} is missing` : false;

type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

interface Image {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  uid: { value: string } | null;
  username: string;
}

describe("the CRI server", { skip }, () => {
  let dir: string;
  let daemon: ChildProcess | undefined;
  let log = "";
  let runtime: grpc.Client & Record<string, Unary>;
  let images: grpc.Client & Record<string, Unary>;
  let registry: Registry | undefined;
  let bbTar: string;
  const at = (p: string) => path.join(dir, p);
  const criSocket = () => at("x/cri.sock");
  const docker = (...args: string[]) => {
    const r = spawnSync(DOCKER, ["-H", `unix://${at("cove.sock")}`, ...args], { encoding: "utf8", env: { PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: at("docker-config") } });
    assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const call = (client: Record<string, Unary>, method: string, req: object = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => client[method]!(req, (err, res) => (err ? reject(err) : resolve(res))));
  const status = async (ref: string) => (await call(images, "ImageStatus", { image: { image: ref } })).image as Image | null;
  const listed = async () => (await call(images, "ListImages")).images as Image[];

  before(async () => {
    dir = await tempDir();
    daemon = spawn(process.execPath, [MAIN, "--root", at("root"), "daemon", "--socket", at("cove.sock"), "--exec-root", at("x"), "--no-network", "--cri-socket", criSocket()], { stdio: ["ignore", "pipe", "pipe"] });
    daemon.stdout!.on("data", (c: Buffer) => (log += c.toString()));
    daemon.stderr!.on("data", (c: Buffer) => (log += c.toString()));
    const until = Date.now() + 60_000;
    while (!(/CRI \(runtime\.v1\) on unix:/.test(log) && (await pingSocket(at("cove.sock"))))) {
      assert.ok(daemon.exitCode === null && Date.now() < until, `the daemon did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const { RuntimeService, ImageService } = criServices();
    const Runtime = grpc.makeGenericClientConstructor(RuntimeService, "RuntimeService");
    const Images = grpc.makeGenericClientConstructor(ImageService, "ImageService");
    runtime = new Runtime(`unix://${criSocket()}`, grpc.credentials.createInsecure()) as unknown as typeof runtime;
    images = new Images(`unix://${criSocket()}`, grpc.credentials.createInsecure()) as unknown as typeof images;
    bbTar = await busyboxRootfsTar(at("bb"));
    docker("import", bbTar, "busybox:latest");
    docker("import", "--change", "USER 1000:1000", bbTar, "example.com/cri/uid-group:1");
    docker("import", "--change", "USER nobody", bbTar, "example.com/cri/username:1");
  });

  after(async () => {
    runtime?.close();
    images?.close();
    await registry?.stop();
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once("exit", r));
      daemon.kill("SIGTERM");
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("answers Version and Status as a runtime.v1 runtime, and takes the pod CIDR", async () => {
    const v = await call(runtime, "Version", { version: "v1" });
    assert.equal(v.runtime_name, "cove");
    assert.equal(v.runtime_api_version, "v1");
    assert.match(String(v.runtime_version), /^\d+\.\d+\.\d+/);
    await call(runtime, "UpdateRuntimeConfig", { runtime_config: { network_config: { pod_cidr: "10.88.0.0/16" } } });
    const s = await call(runtime, "Status", { verbose: true });
    const conditions = (s.status as { conditions: { type: string; status: boolean; reason: string }[] }).conditions;
    assert.deepEqual(
      conditions.map((c) => [c.type, c.status]),
      [
        ["RuntimeReady", true],
        ["NetworkReady", false],
      ],
    );
    assert.equal(conditions[1]!.reason, "NetworkDisabled", "this daemon runs with --no-network");
    assert.match((s.info as Record<string, string>).config ?? "", /"podCidr":"10\.88\.0\.0\/16"/);
  });

  it("lists the images the Docker API has, fully qualified", async () => {
    const all = await listed();
    const byTag = new Map(all.flatMap((i) => i.repo_tags.map((t) => [t, i] as const)));
    const bb = byTag.get("docker.io/library/busybox:latest");
    assert.ok(bb, `busybox is not listed: ${JSON.stringify(all.map((i) => i.repo_tags))}`);
    assert.equal(bb.id, docker("image", "inspect", "--format", "{{.Id}}", "busybox"));
    assert.ok(Number(bb.size) > 0);
    assert.ok(byTag.has("example.com/cri/uid-group:1") && byTag.has("example.com/cri/username:1"));
    const filtered = (await call(images, "ListImages", { filter: { image: { image: "busybox" } } })).images as Image[];
    assert.deepEqual(
      filtered.map((i) => i.id),
      [bb.id],
    );
  });

  it("gives the same status by short name, full name and ID; none for an absent image", async () => {
    const short = await status("busybox");
    assert.ok(short);
    assert.deepEqual(await status("docker.io/library/busybox:latest"), short);
    assert.deepEqual(await status(short.id), short);
    assert.equal(await status("example.com/absent:1"), null);
  });

  it("tells the image's user as a uid or a name, as the kubelet reads it", async () => {
    const numeric = await status("example.com/cri/uid-group:1");
    assert.deepEqual([numeric?.uid?.value, numeric?.username], ["1000", ""]);
    const named = await status("example.com/cri/username:1");
    assert.deepEqual([named?.uid, named?.username], [null, "nobody"]);
    const none = await status("busybox");
    assert.deepEqual([none?.uid, none?.username], [null, ""]);
  });

  it("refuses an empty image with INVALID_ARGUMENT, and reports the image filesystem", async () => {
    await assert.rejects(call(images, "ImageStatus", { image: { image: "" } }), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /image\.image is empty/.test(err.details));
    await assert.rejects(call(images, "PullImage", {}), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT);
    const fs = await call(images, "ImageFsInfo");
    const usage = (fs.image_filesystems as { fs_id: { mountpoint: string }; used_bytes: { value: string } }[])[0];
    assert.equal(usage?.fs_id.mountpoint, at("root"));
    assert.ok(Number(usage?.used_bytes.value) > 0);
  });

  it("removes an image by ID (all its names), and an absent one without error", async () => {
    docker("tag", "example.com/cri/username:1", "example.com/cri/username:again");
    const img = await status("example.com/cri/username:1");
    assert.ok(img);
    await call(images, "RemoveImage", { image: { image: img.id } });
    assert.equal(await status("example.com/cri/username:again"), null);
    assert.ok(!(await listed()).some((i) => i.id === img.id));
    await call(images, "RemoveImage", { image: { image: img.id } });
    await call(images, "RemoveImage", { image: { image: "example.com/never:there" } });
  });

  it("pulls from a registry into the store the Docker API shows", { skip: registryAvailable() ?? false }, async () => {
    registry = await startRegistry(at("registry"));
    const archive = at("uid.tar");
    docker("save", "-o", archive, "example.com/cri/uid-group:1");
    await skopeoCopy(`docker-archive:${archive}`, `docker://${registry.host}/cri/pulled:1`);
    // gone here first, so the pull brings it back
    const local = await status("example.com/cri/uid-group:1");
    assert.ok(local);
    await call(images, "RemoveImage", { image: { image: local.id } });
    assert.equal(await status(local.id), null);
    const ref = `${registry.host}/cri/pulled:1`;
    const pulled = await call(images, "PullImage", { image: { image: ref } });
    const img = await status(ref);
    assert.ok(img);
    assert.equal(pulled.image_ref, img.id);
    assert.equal(img.id, local.id);
    assert.deepEqual(img.repo_tags, [ref]);
    assert.equal(img.repo_digests.length, 1);
    assert.match(img.repo_digests[0]!, new RegExp(`^${registry.host.replace(/\./g, "\\.")}/cri/pulled@sha256:[0-9a-f]{64}$`));
    assert.equal(docker("image", "inspect", "--format", "{{.Id}}", ref), img.id);
    await assert.rejects(call(images, "PullImage", { image: { image: `${registry.host}/cri/absent:1` } }), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && /absent/.test(err.details));
  });

  it("answers crictl", { skip: CRICTL ? false : "CRICTL does not name a crictl binary (cri-tools: make crictl)" }, async () => {
    const crictl = (...args: string[]) => {
      const r = spawnSync(CRICTL!, ["--runtime-endpoint", `unix://${criSocket()}`, "--image-endpoint", `unix://${criSocket()}`, "--timeout", "60s", ...args], { encoding: "utf8" });
      assert.equal(r.status, 0, `crictl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    assert.match(crictl("version"), /RuntimeName:\s+cove[\s\S]*RuntimeApiVersion:\s+v1/);
    const info = JSON.parse(crictl("info")) as { status: { conditions: { type: string; status: boolean }[] } };
    assert.ok(info.status.conditions.some((c) => c.type === "RuntimeReady" && c.status));
    const list = JSON.parse(crictl("images", "-o", "json")) as { images: { id: string; repoTags: string[] }[] };
    const bb = list.images.find((i) => i.repoTags.includes("docker.io/library/busybox:latest"));
    assert.ok(bb);
    const inspected = JSON.parse(crictl("inspecti", "-o", "json", "busybox")) as { status: { id: string } };
    assert.equal(inspected.status.id, bb.id);
    // the CRI removes an image with all its names, as containerd does
    docker("import", "--change", "USER 7", bbTar, "example.com/cri/to-remove:1");
    docker("tag", "example.com/cri/to-remove:1", "example.com/cri/to-remove:2");
    crictl("rmi", "example.com/cri/to-remove:1");
    assert.equal(await status("example.com/cri/to-remove:1"), null);
    assert.equal(await status("example.com/cri/to-remove:2"), null);
    assert.match(crictl("imagefsinfo"), new RegExp(at("root").replace(/[/.]/g, "\\$&")));
  });

  it("stops with the daemon, removing its socket", async () => {
    const exited = new Promise((r) => daemon!.once("exit", r));
    daemon!.kill("SIGTERM");
    await exited;
    assert.equal(existsSync(criSocket()), false);
  });
});

// Peer: Debian's dockerd (a private one, test/support/dockerd.ts) through the real docker CLI.
// `docker load` accepts cove's `save` with the same image ID and diff IDs and runs a container
// from it; cove's `load` accepts `docker save` with the same IDs. Skipped with the reason when
// dockerd (apt-get install docker.io) or busybox-static is missing.

import assert from "node:assert/strict";
import { createReadStream, createWriteStream } from "node:fs";
import path from "node:path";
import { finished } from "node:stream/promises";
import { after, before, describe, it } from "node:test";
import { ImageService } from "../../src/images/service.js";
import { cleanup } from "../../src/snapshots/testing.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { findBusybox, importBusybox, tempDir } from "./fixtures.js";

const skip = dockerdAvailable() ?? (!(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined);

describe("docker load / docker save against cove", { skip }, () => {
  let dir: string;
  let svc: ImageService;
  let dockerd: Dockerd | undefined;
  let id: string;
  let diffIds: string[];

  const ok = async (args: string[]): Promise<string> => {
    const r = await dockerd!.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    dir = await tempDir();
    svc = await ImageService.open({ root: path.join(dir, "root") });
    id = await importBusybox(svc);
    diffIds = (await svc.inspect(id)).RootFS.Layers;
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
  });
  after(async () => {
    await dockerd?.stop();
    await cleanup(dir);
  });

  it("docker load takes cove's save with the same image ID and diff IDs", async () => {
    const file = path.join(dir, "cove-save.tar");
    const out = createWriteStream(file);
    await svc.save(["busybox:latest"], out);
    if (!out.writableFinished) await finished(out);
    const loaded = await ok(["load", "-i", file]);
    assert.match(loaded, /Loaded image: busybox:latest/);
    assert.equal((await ok(["image", "inspect", "--format", "{{.Id}}", "busybox:latest"])).trim(), id);
    assert.deepEqual(JSON.parse(await ok(["image", "inspect", "--format", "{{json .RootFS.Layers}}", "busybox:latest"])), diffIds);
  });

  it("docker runs a container from the image cove saved", async () => {
    const r = await dockerd!.docker(["run", "--rm", "--network", "none", "busybox:latest", "echo", "hi"]);
    assert.equal(r.code, 0, `docker run failed (${r.code}): ${r.stderr}`);
    assert.equal(r.stdout, "hi\n");
    // the files are cove's: the passwd the fixture wrote, the applet symlinks busybox installed
    const cat = await dockerd!.docker(["run", "--rm", "--network", "none", "busybox:latest", "sh", "-c", "head -n1 /etc/passwd; readlink /bin/ls"]);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, "root:x:0:0:root:/root:/bin/sh\n/bin/busybox\n");
  });

  it("cove loads docker save with the same image ID and diff IDs", async () => {
    const file = path.join(dir, "docker-save.tar");
    await ok(["save", "-o", file, "busybox:latest"]);
    const svc2 = await ImageService.open({ root: path.join(dir, "root2") });
    const res = await svc2.load(createReadStream(file));
    assert.deepEqual(res.loaded, ["busybox:latest"]);
    const ins = await svc2.inspect("busybox:latest");
    assert.equal(ins.Id, id);
    assert.deepEqual(ins.RootFS.Layers, diffIds);
    assert.equal(ins.Config.Cmd?.join(" "), "sh");
  });
});

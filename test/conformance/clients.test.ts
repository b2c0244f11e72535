// Docker's client libraries through their everyday calls, against cove and against Debian's
// dockerd side by side: Python's docker library (Debian's python3-docker, everyday.py) and
// dockerode. Each run records outcomes (outputs, exit codes, names, error classes, statuses and
// messages; no ids or times), and the two daemons' records must be the same.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { findBusybox } from "../images/fixtures.js";
import { dockerdAvailable } from "../support/dockerd.js";
import { skipReason } from "../network/harness.js";
import { startPair, type Pair, type Side } from "./harness.js";

const EVERYDAY_PY = fileURLToPath(new URL("../../../test/conformance/everyday.py", import.meta.url));

function python(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("python3", args, { timeout: 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
  });
}

const pythonDocker = await python(["-c", "import docker"]);
const skip = skipReason || dockerdAvailable() || (!(await findBusybox()) ? "busybox-static is not installed" : false);

/** dockerode's error for a failed call: its status and the daemon's message. */
async function failure(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (err) {
    const e = err as { statusCode?: number; json?: { message?: string } | null; message: string };
    return [e.statusCode ?? 0, e.json?.message ?? e.message];
  }
  return [0, "succeeded"];
}

/** dockerode's everyday calls against one daemon; the outcomes, without ids or times. */
async function dockerodeRun(s: Side): Promise<Record<string, unknown>> {
  const d = new Docker({ socketPath: s.socket, version: "v1.41" });
  const out: Record<string, unknown> = {};
  const names = ["cfjs-c", "cfjs-sleep", "cfjs-ev"];
  try {
    out.ping = String(await d.ping());
    out.version = Object.keys(await d.version()).filter((k) => k !== "Platform").sort();
    const info = await d.info();
    out.info = [info.OSType, typeof info.Containers, typeof info.Images];
    // BuilderSize left /system/df in API 1.42 (engine-api-CHANGELOG); dockerd 20.10 still sends it
    out.df = Object.keys(await d.df()).filter((k) => k !== "BuilderSize").sort();

    const c = await d.createContainer({ Image: "busybox", name: "cfjs-c", Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], Labels: { cfjs: "1" }, HostConfig: { NetworkMode: "none" } });
    await c.start();
    // newer dockerds, and cove, omit an Error of null (the endpoint suite lists it)
    const w = (await c.wait()) as { StatusCode: number; Error?: unknown };
    out.wait = [w.StatusCode, w.Error ?? null];
    const logs = (await c.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    const so = new PassThrough();
    const se = new PassThrough();
    let stdout = "";
    let stderr = "";
    so.on("data", (b: Buffer) => (stdout += b.toString()));
    se.on("data", (b: Buffer) => (stderr += b.toString()));
    const frames = new PassThrough();
    d.modem.demuxStream(frames, so, se);
    frames.end(logs);
    await new Promise((r) => setImmediate(r));
    out.logs = [stdout, stderr];
    const ins = await c.inspect();
    out.inspect = [ins.Name, ins.State.Status, ins.State.ExitCode, ins.Config.Labels];
    out.list = (await d.listContainers({ all: true, filters: { label: ["cfjs=1"] } })).map((x) => [x.Names, x.State, x.Labels]);
    await c.remove();
    out.removed = await failure(d.getContainer("cfjs-c").inspect());

    const sl = await d.createContainer({ Image: "busybox", name: "cfjs-sleep", Cmd: ["sleep", "600"] });
    await sl.start();
    const ex = await sl.exec({ Cmd: ["sh", "-c", "echo in"], AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: false });
    let exOut = "";
    const exo = new PassThrough();
    exo.on("data", (b: Buffer) => (exOut += b.toString()));
    d.modem.demuxStream(stream, exo, new PassThrough());
    await new Promise((r) => stream.on("end", r));
    out.exec = [exOut, (await ex.inspect()).ExitCode];
    out.top = (await sl.top()).Titles.slice(0, 2);
    out.removeRunning = (await failure(sl.remove()))[0];
    const net = await d.createNetwork({ Name: "cfjs-net", CheckDuplicate: true, IPAM: { Config: [{ Subnet: s.subnet(3) }] } });
    await net.connect({ Container: "cfjs-sleep" });
    out.connected = Object.keys((await sl.inspect()).NetworkSettings.Networks).sort();
    await net.disconnect({ Container: "cfjs-sleep" });
    out.disconnected = Object.keys((await sl.inspect()).NetworkSettings.Networks).sort();
    await net.remove();
    out.networkGone = await failure(d.getNetwork("cfjs-net").inspect());
    await sl.remove({ force: true });

    const img = await d.getImage("busybox").inspect();
    out.image = [img.RepoTags, img.Os, img.Config.Cmd];
    await d.getImage("busybox").tag({ repo: "cfjs-tag", tag: "1" });
    out.images = (await d.listImages()).flatMap((i) => i.RepoTags ?? []).sort();
    out.untag = (await d.getImage("cfjs-tag:1").remove()) as unknown;
    // dockerd 20.10 repeats "no such image: NAME: " before the message newer dockerds (and cove) give
    out.imageMissing = (await failure(d.getImage("cfjs-nosuch").inspect())).map((x) => (typeof x === "string" ? x.replace(/^no such image: .*?: (?=No such image: )/, "") : x));

    await d.createVolume({ Name: "cfjs-vol", Labels: { a: "b" } });
    const vol = await d.getVolume("cfjs-vol").inspect();
    out.volume = [vol.Name, vol.Driver, vol.Labels];
    out.volumes = (await d.listVolumes({ filters: { name: ["cfjs-vol"] } })).Volumes.map((v) => v.Name);
    await d.getVolume("cfjs-vol").remove();
    out.volumeMissing = await failure(d.getVolume("cfjs-vol").inspect());

    const since = Math.floor(Date.now() / 1000) - 1;
    const ev = await d.createContainer({ Image: "busybox", name: "cfjs-ev", Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
    await ev.start();
    await ev.wait();
    await ev.remove();
    const until = Math.floor(Date.now() / 1000) + 1;
    const events = (await d.getEvents({ since, until, filters: { container: ["cfjs-ev"] } })) as unknown as NodeJS.ReadableStream;
    let text = "";
    for await (const chunk of events) text += chunk.toString();
    out.events = text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { Type: string; Action: string })
      .map((e) => [e.Type, e.Action]);
  } finally {
    for (const n of names) await d.getContainer(n).remove({ force: true }).catch(() => undefined);
    await d.getImage("cfjs-tag:1").remove().catch(() => undefined);
    await d.getVolume("cfjs-vol").remove().catch(() => undefined);
    await d.getNetwork("cfjs-net").remove().catch(() => undefined);
  }
  // the untag result names the tag; its digest-free shape is the same on both
  out.untag = JSON.stringify(out.untag).replace(/sha256:[0-9a-f]{64}/g, "<digest>");
  return out;
}

describe("client libraries: the same outcomes from cove and from Debian's dockerd", { skip }, () => {
  let pair: Pair | undefined;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair?.stop();
  });

  it("Python's docker library: run, create, start, logs, wait, exec, remove; images, volumes, networks, ping, version, info, df, events", { skip: pythonDocker.code !== 0 ? "python3-docker is not installed" : false }, async () => {
    const outcomes: Record<string, unknown>[] = [];
    for (const s of [pair!.cove, pair!.dockerd]) {
      const r = await python([EVERYDAY_PY, `unix://${s.socket}`, s.subnet(3)]);
      assert.equal(r.code, 0, `${s.name}: ${r.stderr}`);
      outcomes.push(JSON.parse(r.stdout) as Record<string, unknown>);
    }
    assert.deepEqual(outcomes[0], outcomes[1], `cove and dockerd differ:\ncove    ${JSON.stringify(outcomes[0])}\ndockerd ${JSON.stringify(outcomes[1])}`);
    assert.deepEqual(outcomes[1]!.run, ["hello", "oops"]);
  });

  it("dockerode: the same calls", async () => {
    const c = await dockerodeRun(pair!.cove);
    const d = await dockerodeRun(pair!.dockerd);
    assert.deepEqual(c, d, `cove and dockerd differ:\ncove    ${JSON.stringify(c)}\ndockerd ${JSON.stringify(d)}`);
    assert.deepEqual(d.logs, ["out\n", "err\n"]);
  });
});

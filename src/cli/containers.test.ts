import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseMount, parsePortSpecs } from "./container-opts.js";
import { splitCpArg } from "./cp.js";
import { ContainerRow, displayablePorts, PS_HEADERS } from "./ps.js";
import { startErrorStatus } from "./run.js";
import { eventLine } from "./system.js";
import { endpointSettings } from "../docker/index.js";
import { formatRows } from "./format/index.js";

describe("value parsers", () => {
  it("parsePortSpecs follows nat.ParsePortSpecs", () => {
    const p = parsePortSpecs(["127.0.0.1:80:8080/udp", "9000-9001:9000-9001", "53", "[::1]:1:2"]);
    assert.deepEqual(p.bindings["8080/udp"], [{ HostIp: "127.0.0.1", HostPort: "80" }]);
    assert.deepEqual(p.bindings["9001/tcp"], [{ HostIp: "", HostPort: "9001" }]);
    assert.deepEqual(p.bindings["53/tcp"], [{ HostIp: "", HostPort: "" }]);
    assert.deepEqual(p.bindings["2/tcp"], [{ HostIp: "::1", HostPort: "1" }]);
    assert.throws(() => parsePortSpecs(["x:80"]), /invalid hostPort: x/);
  });

  it("parseMount reads --mount CSV", () => {
    assert.deepEqual(parseMount("type=bind,src=/a,dst=/b,ro"), { Type: "bind", Source: "/a", Target: "/b", ReadOnly: true });
    assert.deepEqual(parseMount("type=tmpfs,dst=/t,tmpfs-size=1k"), { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1024 } });
    assert.throws(() => parseMount("type=bind,dst=/b"), /source is required/);
  });

  it("maps start errors to docker run's exit codes", () => {
    assert.equal(startErrorStatus('exec: "nope": executable file not found in $PATH: unknown'), 127);
    assert.equal(startErrorStatus("exec: /etc/passwd: permission denied"), 126);
    assert.equal(startErrorStatus("cgroup failed"), 125);
  });

  it("splits cp arguments", () => {
    assert.deepEqual(splitCpArg("c:/tmp/x"), ["c", "/tmp/x"]);
    assert.deepEqual(splitCpArg("/abs:odd"), [undefined, "/abs:odd"]);
    assert.deepEqual(splitCpArg("./rel:x"), [undefined, "./rel:x"]);
    assert.deepEqual(splitCpArg("-"), [undefined, "-"]);
  });
});

describe("ps formatting", () => {
  const now = Date.UTC(2024, 0, 2, 12, 0, 0);
  const row = new ContainerRow(
    {
      Id: "c7e47055bb08f0e9d7b7a7e1f5b3a2d4c7e47055bb08f0e9d7b7a7e1f5b3a2d4",
      Names: ["/web", "/other/alias"],
      Image: "docker.io/library/busybox:latest",
      ImageID: "sha256:aaaa",
      Command: "sh -c 'echo started; sleep 100'",
      Created: now / 1000 - 7200,
      Ports: [
        { IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
        { PrivatePort: 53, Type: "udp" },
      ],
      Labels: { a: "1", b: "2" },
      State: "running",
      Status: "Up 2 hours",
      Mounts: [{ Type: "volume", Name: "averyveryverylongvolumename", Source: "/x", Destination: "/data", Mode: "", RW: true, Propagation: "" }],
      HostConfig: { NetworkMode: "none" },
      NetworkSettings: { Networks: { none: endpointSettings() } },
    },
    true,
    now,
  );

  it("renders docker's default table", () => {
    const out = formatRows(undefined, [row], "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}", PS_HEADERS);
    const [h, r] = out.split("\n");
    assert.equal(h, "CONTAINER ID   IMAGE            COMMAND                  CREATED       STATUS       PORTS                          NAMES");
    assert.equal(r, `c7e47055bb08   busybox:latest   "sh -c 'echo started…"   2 hours ago   Up 2 hours   53/udp, 0.0.0.0:8080->80/tcp   web`);
  });

  it("answers docker's field names", () => {
    const out = formatRows("{{.Names}}|{{.Labels}}|{{.Label \"b\"}}|{{.Mounts}}|{{.Networks}}|{{.State}}", [row], "", PS_HEADERS);
    assert.equal(out, "web|a=1,b=2|2|averyveryveryl…|none|running\n");
  });

  it("groups port ranges", () => {
    const ports = [80, 81, 82].map((p) => ({ IP: "0.0.0.0", PrivatePort: p, PublicPort: p, Type: "tcp" }));
    assert.equal(displayablePorts(ports), "0.0.0.0:80-82->80-82/tcp");
  });

  it("prints events as docker does", () => {
    const line = eventLine({ Type: "container", Action: "start", Actor: { ID: "abc", Attributes: { name: "x", image: "busybox" } }, time: 1704196800, timeNano: 1704196800123456000 });
    assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container start abc \(image=busybox, name=x\)$/);
  });
});

import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { CoveError } from "../common/errors.js";
import { pauseLayer } from "./pause.js";
import { readTar } from "../snapshots/index.js";
import { infraBody, INFRA_LABEL, memberBody, POD_LABEL, podRecordOf, podState, portBindings } from "./spec.js";

const ID = "a".repeat(64);
const pod = (spec: Parameters<typeof podRecordOf>[0] = {}) => ({ ...podRecordOf(spec, ID, "gen_name", "2026-01-01T00:00:00Z"), InfraContainerID: "b".repeat(64) });

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof CoveError && pattern.test(err.message));
}

describe("pod records", () => {
  it("defaults as podman's: the generated name, hostname = name, net/ipc/uts shared, the bridge", () => {
    const p = pod();
    assert.equal(p.Name, "gen_name");
    assert.equal(p.Hostname, "gen_name");
    assert.deepEqual(p.SharedNamespaces, ["net", "ipc", "uts"]);
    assert.equal(p.NetworkMode, "bridge");
    assert.deepEqual(p.Networks, ["bridge"]);
  });

  it("takes the CRI's sandbox settings: ports, DNS, hosts, labels, annotations, sysctls, NODE namespaces", () => {
    const p = pod({ name: "web", hostname: "h1", portmappings: [{ container_port: 80, host_port: 8080 }, { container_port: 53, protocol: "UDP" }], dns_server: ["10.0.0.2"], dns_search: ["svc.local"], dns_option: ["ndots:5"], hostadd: ["db:10.0.0.9"], labels: { a: "1" }, annotations: { "k8s/x": "y" }, sysctl: { "net.ipv4.ip_forward": "1" }, pidns: { nsmode: "host" }, shared_namespaces: ["net,ipc", "uts", "pid"], cgroup_parent: "/kubepods/pod1" });
    assert.deepEqual(p.PortMappings, [
      { container_port: 80, host_port: 8080, host_ip: "", protocol: "tcp", range: 1 },
      { container_port: 53, host_port: 0, host_ip: "", protocol: "udp", range: 1 },
    ]);
    assert.deepEqual(p.SharedNamespaces, ["net", "ipc", "uts", "pid"]);
    assert.equal(p.PidNS, "host");
    const body = infraBody(p, "localhost/cove-pause:x", ["/pause"]);
    assert.deepEqual(body.Entrypoint, ["/pause"]);
    assert.equal(body.Hostname, "h1");
    assert.deepEqual(body.Labels, { [POD_LABEL]: ID, [INFRA_LABEL]: "true" });
    assert.deepEqual(body.HostConfig?.PortBindings, { "80/tcp": [{ HostIp: "", HostPort: "8080" }], "53/udp": [{ HostIp: "", HostPort: "" }] });
    assert.deepEqual(body.HostConfig?.Dns, ["10.0.0.2"]);
    assert.deepEqual(body.HostConfig?.ExtraHosts, ["db:10.0.0.9"]);
    assert.equal(body.HostConfig?.IpcMode, "shareable");
    assert.equal(body.HostConfig?.PidMode, "host");
    assert.equal(body.HostConfig?.CgroupParent, "/kubepods/pod1");
    assert.equal(body.HostConfig?.ReadonlyRootfs, true);
    assert.deepEqual(body.HostConfig?.Sysctls, { "net.ipv4.ip_forward": "1" });
  });

  it("gives the infra the aliases of the pod's networks (its primary network's too)", () => {
    const p = pod({ Networks: { n1: { aliases: ["web", "web.default"] }, n2: {}, n3: { aliases: ["db"] } } });
    assert.equal(p.NetworkMode, "n1");
    assert.deepEqual(p.NetworkAliases, { n1: ["web", "web.default"], n3: ["db"] });
    assert.deepEqual(infraBody(p, "i", ["/pause"]).NetworkingConfig?.EndpointsConfig, { n1: { Aliases: ["web", "web.default"] }, n2: {}, n3: { Aliases: ["db"] } });
    assert.equal(pod({ Networks: { n1: {} } }).NetworkAliases, undefined);
    refuses(() => pod({ Networks: { n1: { aliases: "web" as unknown as string[] } } }), /Networks\.n1\.aliases must be a list of strings/);
  });

  it("a pod on the host's network keeps the host's name and publishes nothing", () => {
    const p = pod({ netns: { nsmode: "host" } });
    assert.equal(p.NetworkMode, "host");
    assert.equal(infraBody(p, "i", ["/pause"]).Hostname, undefined);
    refuses(() => pod({ netns: { nsmode: "host" }, portmappings: [{ container_port: 80 }] }), /published ports need a network namespace/);
    refuses(() => pod({ netns: { nsmode: "none" }, Networks: { n1: {} } }), /cannot also join n1/);
  });

  it("joins named networks: the first is the mode, the others endpoints", () => {
    const p = pod({ Networks: { n1: {}, n2: {} } });
    const body = infraBody(p, "i", ["/pause"]);
    assert.equal(body.HostConfig?.NetworkMode, "n1");
    assert.deepEqual(body.NetworkingConfig?.EndpointsConfig, { n2: {} });
  });

  it("refuses bad input by field", () => {
    refuses(() => pod({ name: "bad name" }), /invalid pod name "bad name"/);
    refuses(() => pod({ hostname: "-x" }), /invalid hostname/);
    refuses(() => pod({ shared_namespaces: ["net", "mnt"] }), /invalid namespace "mnt"/);
    refuses(() => pod({ shared_namespaces: ["cgroup"] }), /sharing the cgroup namespace is not supported/);
    refuses(() => pod({ no_infra: true }), /without an infra container is not supported/);
    refuses(() => pod({ netns: { nsmode: "slirp4netns" } }), /network mode "slirp4netns" is not supported/);
    refuses(() => pod({ portmappings: [{ container_port: 0 }] }), /invalid container port 0/);
    refuses(() => pod({ portmappings: [{ host_port: 80 } as never] }), /needs its container_port/);
    refuses(() => pod({ portmappings: [{ container_port: 80, host_port: 70000 }] }), /invalid host port 70000/);
    refuses(() => pod({ portmappings: [{ container_port: 80, protocol: "icmp" }] }), /invalid protocol "icmp"/);
    refuses(() => pod({ shared_namespaces: ["ipc"], portmappings: [{ container_port: 80 }] }), /need --share net/);
    refuses(() => pod({ pidns: { nsmode: "container" } }), /pidns mode "container" is not supported/);
    refuses(() => pod({ labels: { a: 1 } as unknown as Record<string, string> }), /labels must be an object of strings/);
  });

  it("port ranges expand into one binding per port", () => {
    assert.deepEqual(portBindings([{ container_port: 80, host_port: 8080, range: 2, protocol: "tcp", host_ip: "127.0.0.1" }]).bindings, {
      "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }],
      "81/tcp": [{ HostIp: "127.0.0.1", HostPort: "8081" }],
    });
  });
});

describe("pod members", () => {
  it("join the infra's shared namespaces, take the pod's hostname and label", () => {
    const p = pod({ name: "web", shared_namespaces: ["net", "ipc", "uts", "pid"], cgroup_parent: "/kubepods/p" });
    const infra = `container:${"b".repeat(64)}`;
    const body = memberBody(p, { Image: "busybox", Labels: { mine: "1" }, HostConfig: { NetworkMode: "default", IpcMode: "" }, NetworkingConfig: { EndpointsConfig: {} } });
    assert.equal(body.HostConfig?.NetworkMode, infra);
    assert.equal(body.HostConfig?.IpcMode, infra);
    assert.equal(body.HostConfig?.UTSMode, infra);
    assert.equal(body.HostConfig?.PidMode, infra);
    assert.equal(body.HostConfig?.CgroupParent, "/kubepods/p");
    assert.equal(body.Hostname, "web");
    assert.deepEqual(body.Labels, { mine: "1", [POD_LABEL]: ID });
    assert.equal(body.NetworkingConfig, undefined);
  });

  it("keep their own PID namespace unless the pod shares it", () => {
    const body = memberBody(pod(), { Image: "busybox" });
    assert.equal(body.HostConfig?.PidMode, undefined);
  });

  it("cannot ask for what the pod owns", () => {
    const p = pod();
    refuses(() => memberBody(p, { Image: "b", HostConfig: { NetworkMode: "bridge" } }), /networks must be defined when the pod is created/);
    refuses(() => memberBody(p, { Image: "b", HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "1" }] } } }), /published ports must be defined when the pod is created/);
    refuses(() => memberBody(p, { Image: "b", HostConfig: { PublishAllPorts: true } }), /published ports/);
    refuses(() => memberBody(p, { Image: "b", ExposedPorts: { "80/tcp": {} } }), /exposed ports/);
    refuses(() => memberBody(p, { Image: "b", HostConfig: { Dns: ["1.1.1.1"] } }), /DNS settings/);
    refuses(() => memberBody(p, { Image: "b", HostConfig: { ExtraHosts: ["a:1.2.3.4"] } }), /extra hosts/);
    refuses(() => memberBody(p, { Image: "b", Hostname: "other" }), /cannot set hostname when joining the pod UTS namespace/);
    refuses(() => memberBody(p, { Image: "b", HostConfig: { IpcMode: "host" } }), /IPC namespace is shared with the pod/);
    refuses(() => memberBody(p, { Image: "b", NetworkingConfig: { EndpointsConfig: { other: {} } } }), /networks must be defined/);
  });
});

describe("pod state", () => {
  it("derives from the containers' as podman's", () => {
    assert.equal(podState([]), "Created");
    assert.equal(podState(["created", "created"]), "Created");
    assert.equal(podState(["running", "running"]), "Running");
    assert.equal(podState(["running", "exited"]), "Degraded");
    assert.equal(podState(["running", "created"]), "Degraded");
    assert.equal(podState(["paused", "paused"]), "Paused");
    assert.equal(podState(["exited", "exited"]), "Exited");
    assert.equal(podState(["exited", "created"]), "Stopped");
    assert.equal(podState(["dead", "created"]), "Error");
  });
});

describe("the pause image's layer", () => {
  it("holds /pause (0755, root) and the mount points", async () => {
    const program = Buffer.from("#!fake program\n".repeat(50));
    const seen: { name: string; mode: number; size: number; data?: string }[] = [];
    for await (const item of readTar(Readable.from([pauseLayer(program)]))) {
      const chunks: Buffer[] = [];
      for await (const c of item.body) chunks.push(c);
      seen.push({ name: item.header.name, mode: item.header.mode, size: item.header.size, ...(chunks.length ? { data: Buffer.concat(chunks).toString() } : {}) });
    }
    assert.deepEqual(
      seen.map((e) => e.name),
      ["dev/", "etc/", "proc/", "sys/", "pause"],
    );
    const pause = seen.find((e) => e.name === "pause")!;
    assert.equal(pause.mode & 0o777, 0o755);
    assert.equal(pause.data, program.toString());
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import type { ContainerInspect } from "../docker/index.js";
import type { PodInspect } from "../pods/index.js";
import { dnsLabel, dnsSubdomain, generateKube, kubePod } from "./generate.js";

const member = (name: string, extra: { Config?: object; HostConfig?: object; Mounts?: object[] } = {}): ContainerInspect =>
  ({
    Id: name.padEnd(64, "0"),
    Name: `/${name}`,
    Image: "sha256:abc",
    Config: { Image: "busybox", Entrypoint: null, Cmd: ["httpd", "-f"], Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MODE=prod"], WorkingDir: "/srv", User: "1000:1000", Labels: {}, ...extra.Config },
    HostConfig: { RestartPolicy: { Name: "always", MaximumRetryCount: 0 }, CapAdd: ["NET_ADMIN"], Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000, ReadonlyRootfs: true, ...extra.HostConfig },
    Mounts: extra.Mounts ?? [],
  }) as unknown as ContainerInspect;

const pod: PodInspect = {
  Id: "p".repeat(64),
  Name: "Web_Pod",
  Created: "2026-01-01T00:00:00Z",
  State: "Running",
  Hostname: "web_host",
  Labels: { tier: "front", "bad key!": "x" },
  Annotations: { note: "kept" },
  CreateCgroup: false,
  CreateInfra: true,
  InfraContainerID: "i".repeat(64),
  InfraConfig: { PortBindings: { "8080/tcp": [{ HostIp: "", HostPort: "18080" }], "53/udp": [{ HostIp: "127.0.0.1", HostPort: "5353" }] }, HostNetwork: false, DNSServer: ["10.0.0.2"], DNSSearch: ["svc.local"], DNSOption: ["ndots:5"], HostAdd: ["db:10.0.0.9", "cache:10.0.0.9"], Networks: ["bridge"], pid_ns: "private", ipc_ns: "private", InfraImage: "localhost/cove-pause:x", InfraCommand: ["/pause"], Sysctls: {} },
  SharedNamespaces: ["net", "ipc", "uts", "pid"],
  NumContainers: 3,
  Containers: [],
};

describe("kube generate", () => {
  it("maps a pod and its members onto a v1 Pod", () => {
    const obj = kubePod(pod, [member("web", { Mounts: [{ Type: "volume", Name: "data", Source: "/var/lib/cove/volumes/data/_data", Destination: "/data", RW: true }, { Type: "bind", Source: "/etc/app", Destination: "/cfg", RW: false }] }), member("side_car")]) as {
      apiVersion: string;
      kind: string;
      metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
      spec: Record<string, unknown> & { containers: Record<string, unknown>[]; volumes: Record<string, unknown>[] };
    };
    assert.equal(obj.apiVersion, "v1");
    assert.equal(obj.kind, "Pod");
    assert.equal(obj.metadata.name, "web-pod");
    assert.deepEqual(obj.metadata.labels, { app: "web-pod", tier: "front" });
    assert.deepEqual(obj.metadata.annotations, { note: "kept", "bad key!": "x" });
    assert.equal(obj.spec.hostname, "web-host");
    assert.equal(obj.spec.shareProcessNamespace, true);
    assert.equal(obj.spec.restartPolicy, "Always");
    assert.deepEqual(obj.spec.hostAliases, [{ ip: "10.0.0.9", hostnames: ["db", "cache"] }]);
    assert.deepEqual(obj.spec.dnsConfig, { nameservers: ["10.0.0.2"], searches: ["svc.local"], options: [{ name: "ndots", value: "5" }] });
    const [web, side] = obj.spec.containers;
    assert.equal(web!.name, "web");
    assert.equal(side!.name, "side-car");
    assert.deepEqual(web!.ports, [
      { containerPort: 8080, protocol: "TCP", hostPort: 18080 },
      { containerPort: 53, protocol: "UDP", hostPort: 5353, hostIP: "127.0.0.1" },
    ]);
    assert.equal(side!.ports, undefined, "the pod's ports go on its first container only");
    assert.deepEqual(web!.args, ["httpd", "-f"]);
    assert.deepEqual(web!.env, [{ name: "MODE", value: "prod" }]);
    assert.equal(web!.workingDir, "/srv");
    assert.deepEqual(web!.securityContext, { readOnlyRootFilesystem: true, capabilities: { add: ["NET_ADMIN"] }, runAsUser: 1000, runAsGroup: 1000 });
    assert.deepEqual(web!.resources, { limits: { memory: String(64 * 1024 * 1024), cpu: "500m" } });
    assert.deepEqual(web!.volumeMounts, [
      { name: "data-pvc", mountPath: "/data" },
      { name: "etc-app-host", mountPath: "/cfg", readOnly: true },
    ]);
    assert.deepEqual(obj.spec.volumes, [
      { name: "data-pvc", persistentVolumeClaim: { claimName: "data" } },
      { name: "etc-app-host", hostPath: { path: "/etc/app" } },
    ]);
  });

  it("a lone container becomes a pod of its own, with its own ports and namespaces", () => {
    const obj = kubePod(undefined, [member("solo", { HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8081" }] }, NetworkMode: "host", RestartPolicy: { Name: "no" } } })]) as { metadata: { name: string }; spec: { hostNetwork?: boolean; restartPolicy: string; containers: { ports: unknown }[] } };
    assert.equal(obj.metadata.name, "solo-pod");
    assert.equal(obj.spec.hostNetwork, true);
    assert.equal(obj.spec.restartPolicy, "Never");
    assert.deepEqual(obj.spec.containers[0]!.ports, [{ containerPort: 80, protocol: "TCP", hostPort: 8081 }]);
  });

  it("prints YAML that reads back as the same object", () => {
    const text = generateKube(pod, [member("web")]);
    assert.match(text, /^# Generated by cove/);
    assert.deepEqual(parse(text), kubePod(pod, [member("web")]));
  });

  it("makes DNS-1123 names", () => {
    assert.equal(dnsLabel("My_Container.1"), "my-container-1");
    assert.equal(dnsLabel("___"), "container");
    assert.equal(dnsLabel("a".repeat(80)).length, 63);
    assert.equal(dnsSubdomain("Pod.Name_x"), "pod.name-x");
  });
});

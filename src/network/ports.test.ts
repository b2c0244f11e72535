import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NetworkCore } from "./core.js";
import type { FirewallPort } from "./firewall.js";
import { Ports } from "./ports.js";
import type { SandboxRecord } from "./types.js";

/** A core with no networks, the given sandboxes, and a firewall that records each rewrite and finishes it when told. */
function fakeCore() {
  const sandboxes = new Map<string, SandboxRecord>();
  const rewrites: { ports: number[]; finish: (err?: Error) => void }[] = [];
  const firewall = {
    apply: (_networks: unknown[], ports: FirewallPort[]) =>
      new Promise<void>((resolve, reject) => rewrites.push({ ports: ports.map((p) => p.hostPort), finish: (err) => (err ? reject(err) : resolve()) })),
  };
  const core = { networks: new Map(), sandboxes, firewall } as unknown as NetworkCore;
  const publish = (id: string, hostPort: number) =>
    sandboxes.set(id, { containerId: id, name: `/${id}`, netns: "", endpoints: [], dns: [], ports: [{ proto: "tcp", hostIp: "127.0.0.1", hostPort, containerPort: 80, containerIp: "10.0.0.2", bridge: "b0" }] } as unknown as SandboxRecord);
  return { core, rewrites, publish };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("the firewall rewrite", () => {
  it("calls made while one rewrite runs share the next one, which sees every change made before it began", async () => {
    const { core, rewrites, publish } = fakeCore();
    const ports = new Ports(core);
    publish("a", 1001);
    const first = ports.applyFirewall();
    await tick();
    assert.equal(rewrites.length, 1);
    assert.deepEqual(rewrites[0]!.ports, [1001]);
    // three starts while it runs: one rewrite for all three, begun after the first ends
    const waits = [2002, 3003, 4004].map((p, i) => {
      publish(`s${i}`, p);
      return ports.applyFirewall();
    });
    assert.equal(waits[0], waits[2], "the callers share one promise");
    await tick();
    assert.equal(rewrites.length, 1, "nothing new runs beside a rewrite");
    rewrites[0]!.finish();
    await first;
    await tick();
    assert.equal(rewrites.length, 2);
    assert.deepEqual(rewrites[1]!.ports.sort(), [1001, 2002, 3003, 4004]);
    // a change made once the second began gets a third rewrite of its own
    publish("late", 5005);
    const late = ports.applyFirewall();
    assert.notEqual(late, waits[0]);
    rewrites[1]!.finish();
    await Promise.all(waits);
    await tick();
    assert.equal(rewrites.length, 3);
    assert.ok(rewrites[2]!.ports.includes(5005));
    rewrites[2]!.finish();
    await late;
    await ports.applied();
  });

  it("a failed rewrite fails its callers only; the next one still runs", async () => {
    const { core, rewrites, publish } = fakeCore();
    const ports = new Ports(core);
    publish("a", 1001);
    const failing = ports.applyFirewall();
    await tick();
    const next = ports.applyFirewall();
    rewrites[0]!.finish(new Error("iptables-restore: exit 4"));
    await assert.rejects(failing, /exit 4/);
    await tick();
    assert.equal(rewrites.length, 2);
    rewrites[1]!.finish();
    await next;
    await ports.applied();
  });
});

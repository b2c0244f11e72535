// The embedded DNS end to end: containers on a user-defined network look each other up through
// the server the daemon runs on the network's gateway (busybox nslookup, as a user would), other
// names go to the container's --dns servers (a fake resolver on loopback stands in for them, so
// nothing leaves the machine), and an internal network forwards nothing.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { RRClass, RRType, makeReply } from "../../src/dns/index.js";
import { FakeUpstream } from "../dns/fake-upstream.js";
import { freeSubnets, setupNetwork, skipReason, type NetHarness } from "./harness.js";

const UPSTREAM = "127.77.0.1";
const OUTSIDE_ANSWER = "198.51.100.7";

describe("embedded DNS on user-defined networks", { skip: skipReason }, () => {
  let h: NetHarness;
  let upstream: FakeUpstream;

  before(async () => {
    upstream = await new FakeUpstream(UPSTREAM, (q) => {
      const reply = makeReply(q);
      const question = q.questions[0]!;
      if (question.type === RRType.A && question.name.toLowerCase() === "outside.example") {
        reply.answers.push({ name: question.name, type: RRType.A, class: RRClass.IN, ttl: 30, data: { kind: "A" as const, address: OUTSIDE_ANSWER } });
      }
      return reply;
    }).start(53);
    h = await setupNetwork();
  });

  after(async () => {
    await h?.cleanup();
    await upstream?.stop();
  });
  // what a failed test left (containers, networks) must not trip the next one
  afterEach(async () => {
    await h?.reset();
  });

  it("answers names, aliases and short ids of the network, and forwards the rest to --dns", async () => {
    const [subnet] = freeSubnets(1, [h.bridgeSubnet]);
    await h.ok(["network", "create", "--subnet", subnet!, "dnsnet"]);
    const id = (await h.ok(["run", "-d", "--name", "db", "--network", "dnsnet", "--network-alias", "database", "busybox", "sleep", "600"])).trim();
    const dbIp = (await h.ok(["inspect", "-f", "{{.NetworkSettings.Networks.dnsnet.IPAddress}}", "db"])).trim();
    const out = await h.ok([
      "run", "--rm", "--network", "dnsnet", "--dns", UPSTREAM, "busybox", "sh", "-c",
      `nslookup db; nslookup database; nslookup ${id.slice(0, 12)}; nslookup db.dnsnet; nslookup outside.example`,
    ]);
    const addresses = [...out.matchAll(/^Address:\s+(\S+)$/gm)].map((m) => m[1]).filter((a) => !a!.includes("#") && !a!.endsWith(":53"));
    assert.deepEqual(addresses, [dbIp, dbIp, dbIp, dbIp, OUTSIDE_ANSWER], out);
    assert.ok(upstream.received.some((r) => r.message.questions[0]?.name.toLowerCase() === "outside.example"), "the unknown name reached the --dns server");
    assert.ok(!upstream.received.some((r) => r.message.questions[0]?.name.toLowerCase().startsWith("db")), "network names are never forwarded");
    await h.ok(["rm", "-f", "db"]);
  });

  it("a network removed and made again on the same subnet at once resolves its names (its gateway's listener is its own)", async () => {
    const [subnet] = freeSubnets(1, [h.bridgeSubnet]);
    for (let round = 0; round < 3; round++) {
      await h.ok(["network", "create", "--subnet", subnet!, `again${round}`]);
      await h.ok(["run", "-d", "--name", `srv${round}`, "--network", `again${round}`, "busybox", "sleep", "600"]);
      const ip = (await h.ok(["inspect", "-f", `{{.NetworkSettings.Networks.again${round}.IPAddress}}`, `srv${round}`])).trim();
      const out = await h.ok(["run", "--rm", "--network", `again${round}`, "busybox", "nslookup", `srv${round}`]);
      assert.match(out, new RegExp(`^Address:\\s+${ip.replace(/\./g, "\\.")}$`, "m"), `round ${round}: ${out}`);
      await h.ok(["rm", "-f", `srv${round}`]);
      await h.ok(["network", "rm", `again${round}`]);
    }
  });

  it("a container from the default bridge resolves a network's names once connected to it, as with Docker", async () => {
    const [subnet] = freeSubnets(1, [h.bridgeSubnet]);
    await h.ok(["network", "create", "--subnet", subnet!, "joined"]);
    // on the default bridge: no embedded DNS, the --dns server (a fake one on loopback) in resolv.conf
    await h.ok(["run", "-d", "--name", "mover", "--dns", UPSTREAM, "--dns-opt", "timeout:2", "busybox", "sleep", "600"]);
    assert.equal(await h.ok(["exec", "mover", "cat", "/etc/resolv.conf"]), `nameserver ${UPSTREAM}\noptions timeout:2\n`);
    await h.ok(["run", "-d", "--name", "peer", "--network", "joined", "busybox", "sh", "-c", "echo served > /tmp/index.html && httpd -f -p 8080 -h /tmp"]);
    const peerIp = (await h.ok(["inspect", "-f", "{{.NetworkSettings.Networks.joined.IPAddress}}", "peer"])).trim();
    const gateway = (await h.ok(["inspect", "-f", "{{.NetworkSettings.Networks.joined.Gateway}}", "peer"])).trim();

    await h.ok(["network", "connect", "joined", "mover"]);
    // the embedded DNS now, with the container's options; its --dns server went upstream
    assert.equal(await h.ok(["exec", "mover", "cat", "/etc/resolv.conf"]), `nameserver ${gateway}\noptions timeout:2 ndots:0\n`);
    const lookup = await h.ok(["exec", "mover", "nslookup", "peer"]);
    assert.match(lookup, new RegExp(`^Address:\\s+${peerIp.replace(/\./g, "\\.")}$`, "m"), lookup);
    // (no -T: busybox's wget crashes with it, under Docker too)
    assert.equal(await h.ok(["exec", "mover", "wget", "-qO-", "http://peer:8080/"]), "served\n");
    const before = upstream.received.length;
    assert.match(await h.ok(["exec", "mover", "nslookup", "outside.example"]), new RegExp(`^Address:\\s+${OUTSIDE_ANSWER.replace(/\./g, "\\.")}$`, "m"));
    assert.ok(upstream.received.length > before, "other names went to the container's --dns server");

    // a second connect (or a disconnect) leaves the file alone, as Docker's until the next start
    await h.ok(["network", "disconnect", "joined", "mover"]);
    assert.match(await h.ok(["exec", "mover", "cat", "/etc/resolv.conf"]), new RegExp(`^nameserver ${gateway.replace(/\./g, "\\.")}$`, "m"));
    // the next start is on the default bridge only: the --dns server again
    await h.ok(["restart", "-t", "0", "mover"]);
    assert.equal(await h.ok(["exec", "mover", "cat", "/etc/resolv.conf"]), `nameserver ${UPSTREAM}\noptions timeout:2\n`);
    await h.ok(["rm", "-f", "mover", "peer"]);
  });

  it("an internal network resolves its own names and forwards nothing", async () => {
    const [subnet] = freeSubnets(1, [h.bridgeSubnet]);
    await h.ok(["network", "create", "--internal", "--subnet", subnet!, "sealed"]);
    await h.ok(["run", "-d", "--name", "inner", "--network", "sealed", "busybox", "sleep", "600"]);
    const before = upstream.received.length;
    const r = await h.docker(["run", "--rm", "--network", "sealed", "--dns", UPSTREAM, "busybox", "sh", "-c", "nslookup inner && ! nslookup outside.example"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(upstream.received.length, before, "nothing was forwarded from the internal network");
    await h.ok(["rm", "-f", "inner"]);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setIgnoredLog } from "../common/ignore.js";
import { EventBus, EventFilter, eventJSON, parseEventTime, type EventMessage } from "./bus.js";

const ID = "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741";

function img(action: string, name: string, extra: Record<string, string> = {}): EventMessage {
  return { Type: "image", Action: action, Actor: { ID, Attributes: { name, ...extra } }, scope: "local", time: 1, timeNano: 1_000_000_000n };
}

describe("EventFilter", () => {
  it("filters by type and event (action)", () => {
    assert.equal(new EventFilter({ type: ["image"] }).matches(img("tag", "a:b")), true);
    assert.equal(new EventFilter({ type: ["container"] }).matches(img("tag", "a:b")), false);
    assert.equal(new EventFilter({ event: ["tag", "untag"] }).matches(img("untag", "a:b")), true);
    assert.equal(new EventFilter({ event: ["delete"] }).matches(img("untag", "a:b")), false);
    assert.equal(new EventFilter({ event: ["exec_start"] }).matches({ ...img("exec_start: sh -c ls", "x"), Type: "container" }), true);
  });

  it("filters images by name, name without tag, and ID", () => {
    const ev = img("tag", "busybox:latest");
    assert.equal(new EventFilter({ image: ["busybox:latest"] }).matches(ev), true);
    assert.equal(new EventFilter({ image: ["busybox"] }).matches(ev), true);
    assert.equal(new EventFilter({ image: [ID] }).matches(ev), true);
    assert.equal(new EventFilter({ image: ["3f57d9401f8d"] }).matches(ev), true);
    assert.equal(new EventFilter({ image: ["alpine"] }).matches(ev), false);
    assert.equal(new EventFilter({ image: ["localhost:5000/a"] }).matches(img("tag", "localhost:5000/a:1")), true);
  });

  it("filters by labels, ANDs keys and ORs values; container filters exclude image events", () => {
    const ev = img("tag", "a:b", { maintainer: "me", tier: "web" });
    assert.equal(new EventFilter({ label: ["maintainer"] }).matches(ev), true);
    assert.equal(new EventFilter({ label: ["maintainer=me", "tier=web"] }).matches(ev), true);
    assert.equal(new EventFilter({ label: ["tier=db"] }).matches(ev), false);
    assert.equal(new EventFilter({ type: ["image"], event: ["untag"] }).matches(ev), false);
    assert.equal(new EventFilter({ container: ["abc"] }).matches(ev), false);
    assert.equal(new EventFilter({ scope: ["swarm"] }).matches(ev), false);
  });

  it("rejects unknown filter keys and types", () => {
    assert.throws(() => new EventFilter({ color: ["red"] }), /invalid filter 'color'/);
    assert.throws(() => new EventFilter({ type: ["spaceship"] }), /invalid filter 'type=spaceship'/);
  });
});

describe("EventBus", () => {
  it("keeps a bounded history and replays by since/until", () => {
    const bus = new EventBus({ historyLimit: 3 });
    for (let i = 1; i <= 5; i++) bus.publish({ Type: "image", Action: `a${i}`, Actor: { ID: "x" }, timeNano: BigInt(i) * 1_000_000_000n });
    assert.deepEqual(
      bus.past({ since: 0n }).map((e) => e.Action),
      ["a3", "a4", "a5"],
    );
    assert.deepEqual(
      bus.past({ since: 4_000_000_000n }).map((e) => e.Action),
      ["a4", "a5"],
    );
    assert.deepEqual(
      bus.past({ until: 4_000_000_000n }).map((e) => e.Action),
      ["a3", "a4"],
    );
    assert.deepEqual(
      bus.past({ since: 0n, filter: new EventFilter({ event: ["a5"] }) }).map((e) => e.Action),
      ["a5"],
    );
  });

  it("gives strictly increasing times and delivers to subscribers until they leave", () => {
    const bus = new EventBus();
    const got: string[] = [];
    const off = bus.subscribe((e) => got.push(e.Action));
    assert.equal(bus.subscribers, 1);
    const a = bus.publish({ Type: "image", Action: "one", Actor: { ID: "x" }, timeNano: 5n });
    const b = bus.publish({ Type: "image", Action: "two", Actor: { ID: "x" }, timeNano: 5n });
    assert.ok(b.timeNano > a.timeNano);
    off();
    bus.publish({ Type: "image", Action: "three", Actor: { ID: "x" } });
    assert.deepEqual(got, ["one", "two"]);
    assert.equal(bus.subscribers, 0);
    const now = bus.publish({ Type: "daemon", Action: "reload", Actor: { ID: "d" } });
    assert.ok(Math.abs(now.time - Date.now() / 1000) < 5);
    assert.deepEqual(now.Actor.Attributes, {}, "empty attributes are {} not null");
  });

  it("logs a failing subscriber with the event, and still delivers to the others", () => {
    const bus = new EventBus();
    const got: string[] = [];
    const lines: string[] = [];
    bus.subscribe(() => {
      throw new Error("stream closed");
    });
    bus.subscribe((e) => got.push(e.Action));
    setIgnoredLog((l) => lines.push(l));
    try {
      bus.publish({ Type: "container", Action: "start", Actor: { ID: "c1" } });
    } finally {
      setIgnoredLog(undefined);
    }
    assert.deepEqual(got, ["start"]);
    assert.deepEqual(lines, ["deliver the container start event to a subscriber: stream closed (ignored)"]);
  });
});

describe("event wire format", () => {
  it("writes timeNano exactly and the legacy fields for image events", () => {
    const ev: EventMessage = { ...img("tag", "a:b"), time: 1700000000, timeNano: 1700000000123456789n };
    const line = eventJSON(ev);
    assert.ok(line.endsWith("\n"));
    assert.match(line, /"timeNano":1700000000123456789\}/);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed.status, "tag");
    assert.equal(parsed.id, ID);
    assert.equal(parsed.from, undefined);
    assert.equal(parsed.Type, "image");
    assert.equal(parsed.scope, "local");
    const net = JSON.parse(eventJSON({ ...ev, Type: "network" })) as Record<string, unknown>;
    assert.equal(net.status, undefined);
  });

  it("parses since/until as the docker CLI sends them", () => {
    assert.equal(parseEventTime("1700000000.123456789"), 1700000000123456789n);
    assert.equal(parseEventTime("1700000000.5"), 1700000000500000000n);
    assert.equal(parseEventTime("1700000000"), 1700000000000000000n);
    assert.equal(parseEventTime("2023-11-14T22:13:20Z"), 1700000000000000000n);
    assert.equal(parseEventTime(""), undefined);
    assert.throws(() => parseEventTime("yesterday", "until"), /invalid value for until/);
  });
});

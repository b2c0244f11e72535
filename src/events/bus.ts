// The event bus: services publish what happened (image tag/untag/delete/load/import/save/prune,
// later container and network events), `GET /events` streams it. A bounded history lets `since`
// replay recent events, as dockerd keeps its last events in memory. Filters follow moby's
// daemon/events/filter.go: type, event (action), image, container, label, scope, daemon, network,
// volume, plugin...; values of one key are ORed, keys are ANDed.
//
// This module has no HTTP in it: the image service, the container engine and the CLI's
// embedded engine can all publish to the same bus, and the daemon and the library (src/engine)
// both read from it.

import { invalid } from "../common/errors.js";
import { ignored } from "../common/ignore.js";

export type EventType = "builder" | "config" | "container" | "daemon" | "image" | "network" | "node" | "plugin" | "pod" | "secret" | "service" | "volume";

export interface EventActor {
  ID: string;
  Attributes: Record<string, string>;
}

/** Docker's events.Message (API 1.47 fields; status/id/from are added when serialising). */
export interface EventMessage {
  Type: EventType;
  Action: string;
  Actor: EventActor;
  scope: "local" | "swarm";
  /** Unix seconds. */
  time: number;
  /** Unix nanoseconds (bigint: a JS number cannot hold them exactly). */
  timeNano: bigint;
}

export interface PublishInput {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  scope?: "local" | "swarm";
  time?: number;
  timeNano?: bigint | number;
}

export type EventListener = (ev: EventMessage) => void;

/** Current time in unix nanoseconds (ms from Date.now, sub-ms from the monotonic clock). */
export function nowNano(): bigint {
  const subMs = process.hrtime.bigint() % 1_000_000n;
  return BigInt(Date.now()) * 1_000_000n + subMs;
}

export interface EventBusOptions {
  /** Events kept for `since` (default 1024). */
  historyLimit?: number;
}

export class EventBus {
  private readonly history: EventMessage[] = [];
  private readonly listeners = new Set<EventListener>();
  private readonly limit: number;
  private last = 0n;

  constructor(options: EventBusOptions = {}) {
    this.limit = Math.max(1, options.historyLimit ?? 1024);
  }

  /** Records an event and hands it to every subscriber. Times are strictly increasing. */
  publish(input: PublishInput): EventMessage {
    let timeNano = input.timeNano !== undefined ? BigInt(input.timeNano) : input.time !== undefined ? BigInt(input.time) * 1_000_000_000n : nowNano();
    if (timeNano <= this.last) timeNano = this.last + 1n;
    this.last = timeNano;
    const ev: EventMessage = {
      Type: input.Type,
      Action: input.Action,
      Actor: { ID: input.Actor.ID, Attributes: { ...(input.Actor.Attributes ?? {}) } },
      scope: input.scope ?? "local",
      time: Number(timeNano / 1_000_000_000n),
      timeNano,
    };
    this.history.push(ev);
    if (this.history.length > this.limit) this.history.splice(0, this.history.length - this.limit);
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (err) {
        // a failing subscriber must not stop the publisher
        ignored(`deliver the ${ev.Type} ${ev.Action} event to a subscriber`, err);
      }
    }
    return ev;
  }

  /** Past events with since <= timeNano <= until (either bound optional), oldest first. */
  past(opts: { since?: bigint; until?: bigint; filter?: EventFilter } = {}): EventMessage[] {
    return this.history.filter(
      (ev) => (opts.since === undefined || ev.timeNano >= opts.since) && (opts.until === undefined || ev.timeNano <= opts.until) && (!opts.filter || opts.filter.matches(ev)),
    );
  }

  /** Calls fn for each new event until the returned function is called. */
  subscribe(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Number of live subscribers (NEventsListener in /info). */
  get subscribers(): number {
    return this.listeners.size;
  }
}

const FILTER_KEYS = new Set(["config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "pod", "scope", "secret", "service", "type", "volume"]);

/** Removes a tag (":tag", keeping a registry port) from an image name, as moby's stripTag. */
function stripTag(image: string): string {
  const at = image.indexOf("@");
  if (at >= 0) return image.slice(0, at);
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? image.slice(0, colon) : image;
}

/** Docker's event filters. */
export class EventFilter {
  private readonly f: Record<string, string[]>;

  constructor(filters: Record<string, string[]> = {}) {
    for (const k of Object.keys(filters)) {
      if (!FILTER_KEYS.has(k)) throw invalid(`invalid filter '${k}'`, { code: "filter.invalid", field: "filters", hint: `event filters: ${[...FILTER_KEYS].join(", ")}` });
    }
    for (const t of filters.type ?? []) {
      if (!["builder", "config", "container", "daemon", "image", "network", "node", "plugin", "pod", "secret", "service", "volume"].includes(t)) {
        throw invalid(`invalid filter 'type=${t}'`, { code: "filter.invalid", field: "filters.type" });
      }
    }
    this.f = filters;
  }

  private values(key: string): string[] {
    return this.f[key] ?? [];
  }

  /** No values for key, or one equal to a candidate. */
  private exact(key: string, ...candidates: (string | undefined)[]): boolean {
    const vs = this.values(key);
    return vs.length === 0 || vs.some((v) => candidates.includes(v));
  }

  /** No values for key, or one equal to or a prefix of a candidate (IDs may be shortened). */
  private fuzzy(key: string, ...candidates: (string | undefined)[]): boolean {
    const vs = this.values(key);
    if (vs.length === 0) return true;
    return vs.some((v) => candidates.some((c) => c !== undefined && c !== "" && (c === v || c.startsWith(v))));
  }

  private fuzzyName(ev: EventMessage, key: string): boolean {
    return this.fuzzy(key, ev.Actor.ID, ev.Actor.Attributes.name);
  }

  /** pod=NAME|ID: the pod's own events, and those of its containers (labelled io.cove.pod with its ID). */
  private matchPod(ev: EventMessage): boolean {
    const vs = this.values("pod");
    if (vs.length === 0) return true;
    const candidates = ev.Type === "pod" ? [ev.Actor.ID, ev.Actor.Attributes.name] : [ev.Actor.Attributes["io.cove.pod"]];
    return vs.some((v) => candidates.some((c) => c !== undefined && c !== "" && (c === v || c.startsWith(v))));
  }

  private matchEvent(ev: EventMessage): boolean {
    const vs = this.values("event");
    // moby#25798: health_status, exec_create, exec_start carry ": detail" in the action; match by prefix.
    if (vs.some((v) => ["health_status", "exec_create", "exec_start"].includes(v))) return this.fuzzy("event", ev.Action);
    return this.exact("event", ev.Action);
  }

  private matchImage(ev: EventMessage): boolean {
    const id = ev.Actor.ID;
    const name = ev.Actor.Attributes[ev.Type === "image" ? "name" : "image"];
    const vs = this.values("image");
    if (vs.length === 0) return true;
    const candidates = [id, name, stripTag(id), name !== undefined ? stripTag(name) : undefined];
    return vs.some((v) => candidates.includes(v) || (/^(sha256:)?[0-9a-f]{12,64}$/.test(v) && id.replace(/^sha256:/, "").startsWith(v.replace(/^sha256:/, ""))));
  }

  private matchLabels(attrs: Record<string, string>): boolean {
    return this.values("label").every((l) => {
      const eq = l.indexOf("=");
      if (eq < 0) return l in attrs;
      return attrs[l.slice(0, eq)] === l.slice(eq + 1);
    });
  }

  matches(ev: EventMessage): boolean {
    return (
      this.matchEvent(ev) &&
      this.exact("type", ev.Type) &&
      this.exact("scope", ev.scope) &&
      this.fuzzyName(ev, "daemon") &&
      this.fuzzyName(ev, "container") &&
      this.fuzzyName(ev, "plugin") &&
      this.matchPod(ev) &&
      this.exact("volume", ev.Actor.ID, ev.Actor.Attributes.name) &&
      this.fuzzyName(ev, "network") &&
      this.matchImage(ev) &&
      this.fuzzyName(ev, "node") &&
      this.fuzzyName(ev, "service") &&
      this.fuzzyName(ev, "secret") &&
      this.fuzzyName(ev, "config") &&
      this.matchLabels(ev.Actor.Attributes)
    );
  }
}

/**
 * Parses `since`/`until`: unix seconds with optional fraction ("1700000000.123456789", what the
 * docker CLI sends for --since 10m or a date), or an RFC 3339 time. Returns unix nanoseconds.
 */
export function parseEventTime(value: string | undefined, field = "since"): bigint | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const v = value.trim();
  const m = /^(-?\d+)(?:\.(\d{1,9})\d*)?$/.exec(v);
  if (m) {
    const frac = (m[2] ?? "").padEnd(9, "0");
    return BigInt(m[1] as string) * 1_000_000_000n + BigInt(frac === "" ? "0" : frac);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) {
    throw invalid(`invalid value for ${field}: "${value}" is not a timestamp`, { code: "query.invalid", field, hint: "give unix seconds (1700000000.5) or an RFC 3339 time" });
  }
  return BigInt(t) * 1_000_000n;
}

/** One event as a JSON line, with the deprecated status/id/from fields below API 1.52 (dockerd 27 sends them). */
export function eventJSON(ev: EventMessage): string {
  // moby fills the deprecated fields for container and image events only.
  const legacy: Record<string, string> = {};
  if (ev.Type === "container" || ev.Type === "image") {
    legacy.status = ev.Action;
    legacy.id = ev.Actor.ID;
    if (ev.Type === "container" && ev.Actor.Attributes.image) legacy.from = ev.Actor.Attributes.image;
  }
  const body = {
    ...legacy,
    Type: ev.Type,
    Action: ev.Action,
    Actor: ev.Actor,
    scope: ev.scope,
    time: ev.time,
    timeNano: "__TIMENANO__",
  };
  return JSON.stringify(body).replace('"__TIMENANO__"', ev.timeNano.toString()) + "\n";
}

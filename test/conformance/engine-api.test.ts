// The differential suite: every endpoint of the Engine API swagger (shared/specs, v1.47, the
// version cove speaks) is driven with the same requests against cove and against Debian's dockerd
// (test/conformance/cases.ts), and the answers are compared: status code, content type, the JSON
// body's shape (or an error's message), stream framing (multiplexed frames and what each stream
// carried, JSON message streams, tar entry names) and, where a case says so, the state the request
// left behind. Ids, digests, times, sizes, pids and addresses are not compared (compare.ts).
//
// Differences known and accepted are listed on their case (expectDifference, with the reason):
// the case still runs on both daemons, any other difference fails it, and a case that agrees
// again is reported so its entry can go. Endpoints not sent to dockerd are listed in NOT_COMPARED
// with the reason, and cove's own answer to them is checked. A last test checks that every
// swagger endpoint has a case or such an entry, so the coverage cannot silently shrink.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import { findBusybox } from "../images/fixtures.js";
import { dockerdAvailable } from "../support/dockerd.js";
import { skipReason } from "../network/harness.js";
import { cases, fixtures, NOT_COMPARED, remove, type Case } from "./cases.js";
import { diffShapes, errorLine, jsonStreamShapes, muxSummary, normaliseText, shape, tarNames } from "./compare.js";
import { request, startPair, type Pair, type Resp, type Side } from "./harness.js";

const SWAGGER = new URL("../../../../shared/specs/engine-api-v1.47.yaml", import.meta.url);
const METHODS = ["get", "post", "put", "delete", "head"];

/** "METHOD /path" for every operation in the swagger. */
function swaggerEndpoints(): string[] {
  const { load } = createRequire(import.meta.url)("js-yaml") as { load(text: string): unknown };
  const doc = load(readFileSync(SWAGGER, "utf8")) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).filter((m) => METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${p}`));
}

/**
 * Keys that differ by API version (engine-api-CHANGELOG.md), not compared when only the side that
 * follows that change has them: cove speaks 1.47 and sends fields newer versions added at every
 * version (as newer dockerds do); dockerd 20.10 sends fields later versions removed or omit.
 */
const COVE_ONLY_KEYS: Record<string, string> = {
  EnableIPv4: "1.47: networks",
  DNSNames: "1.44: endpoint settings",
  GwPriority: "1.48: endpoint settings",
  Annotations: "1.43: HostConfig",
  ConsoleSize: "1.42: HostConfig",
  DriverOpts: "1.42: endpoint settings",
  DefaultAddressPools: "1.42: /info",
  CDISpecDirs: "1.44: /info",
  CgroupVersion: "1.42: /info",
};
const DOCKERD_ONLY_KEYS: Record<string, string> = {
  KernelMemory: "1.42: omitted from HostConfig and /info",
  KernelMemoryTCP: "1.42: omitted from HostConfig and /info",
  BuilderSize: "1.42: removed from /system/df",
  Expected: "1.48: ContainerdCommit/RuncCommit/InitCommit.Expected deprecated, omitted in 1.49",
};

const SIDES = ["cove", "dockerd"] as const;

function mediaType(r: Resp): string {
  return String(r.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

function bodyKind(c: Case, r: Resp): NonNullable<Case["body"]> | "error" {
  if (r.status >= 400) return "error";
  if (c.body) return c.body;
  if (r.raw.length === 0) return "none";
  const t = mediaType(r);
  if (t === "application/json") return "shape";
  if (t === "application/vnd.docker.raw-stream" || t === "application/vnd.docker.multiplexed-stream") return "mux";
  if (t === "application/x-tar") return "tar";
  return "text";
}

/** A JSON body's shape; a JSON message stream's (the union of its messages'). */
function bodyShape(raw: Buffer): unknown {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString("utf8"));
  } catch {
    return jsonStreamShapes(raw);
  }
  return shape(v);
}

function parseBody(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    return `(not JSON) ${raw.toString().slice(0, 100)}`;
  }
}

/** The message of an error answer, first line normalised; the raw text when it is not Docker's JSON. */
function message(r: Resp): string {
  try {
    const v = JSON.parse(r.raw.toString()) as { message?: unknown };
    if (typeof v.message === "string") return errorLine(v.message);
  } catch {
    // not JSON
  }
  return `(not JSON) ${normaliseText(r.raw.toString().trim().slice(0, 200))}`;
}

/** Sorted, so arrays Docker leaves unordered compare as sets; ids and times normalised. */
function canonical(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, y]) => [k, sort(y)]));
    return x;
  };
  return normaliseText(JSON.stringify(sort(v)) ?? "undefined");
}

/** Every difference between cove's and dockerd's answers to one case, one line each. */
export function differences(c: Case, cove: { r: Resp; after: unknown }, dockerd: { r: Resp; after: unknown }): string[] {
  const out: string[] = [];
  const rc = cove.r;
  const rd = dockerd.r;
  if (rc.status !== rd.status) out.push(`status: cove ${rc.status}, dockerd ${rd.status}`);
  const tc = mediaType(rc);
  const td = mediaType(rd);
  // a HEAD or an empty answer may omit its content type
  if (tc !== td && !(rd.raw.length === 0 && rc.raw.length === 0)) out.push(`content-type: cove ${tc || "(none)"}, dockerd ${td || "(none)"}`);
  const kc = bodyKind(c, rc);
  const kd = bodyKind(c, rd);
  if (kc === "error" && kd === "error") {
    const mc = message(rc);
    const md = message(rd);
    if (mc !== md) out.push(`message: cove ${JSON.stringify(mc)}, dockerd ${JSON.stringify(md)}`);
  } else if (kc === kd && rc.status === rd.status) {
    switch (kd) {
      case "shape": {
        const lines = diffShapes(bodyShape(rc.raw), bodyShape(rd.raw));
        out.push(...lines.filter((l) => !(/only cove has it/.test(l) && lastKey(l) in COVE_ONLY_KEYS) && !(/only dockerd has it/.test(l) && lastKey(l) in DOCKERD_ONLY_KEYS)).map((l) => `body.${l}`));
        break;
      }
      case "value":
        if (canonical(parseBody(rc.raw)) !== canonical(parseBody(rd.raw))) out.push(`body: cove ${canonical(parseBody(rc.raw))}, dockerd ${canonical(parseBody(rd.raw))}`);
        break;
      case "json-stream":
        out.push(...diffShapes(jsonStreamShapes(rc.raw), jsonStreamShapes(rd.raw)).map((l) => `body.${l}`));
        break;
      case "mux": {
        const a = canonical(muxSummary(rc.raw));
        const b = canonical(muxSummary(rd.raw));
        if (a !== b) out.push(`body: cove ${a.slice(0, 200)}, dockerd ${b.slice(0, 200)}`);
        break;
      }
      case "tar": {
        const a = tarNames(rc.raw);
        const b = tarNames(rd.raw);
        if (typeof a === "string" || typeof b === "string") {
          if (a !== b) out.push(`body: cove ${String(a)}, dockerd ${String(b)}`);
        } else {
          const onlyC = a.filter((n) => !b.includes(n));
          const onlyD = b.filter((n) => !a.includes(n));
          if (onlyC.length) out.push(`body: tar entries only cove has: ${onlyC.join(" ")}`);
          if (onlyD.length) out.push(`body: tar entries only dockerd has: ${onlyD.join(" ")}`);
        }
        break;
      }
      case "text":
        if (normaliseText(rc.raw.toString()) !== normaliseText(rd.raw.toString())) out.push(`body: cove ${JSON.stringify(rc.raw.toString().slice(0, 100))}, dockerd ${JSON.stringify(rd.raw.toString().slice(0, 100))}`);
        break;
      case "none":
        break;
    }
  } else if (kc !== kd && rc.status === rd.status) out.push(`body: cove ${kc}, dockerd ${kd}`);
  if (c.after && canonical(cove.after) !== canonical(dockerd.after)) out.push(`after: cove ${canonical(cove.after)}, dockerd ${canonical(dockerd.after)}`);
  return out;
}

function lastKey(line: string): string {
  const m = /\.([^.[\]:]+)(\[\])?: only (cove|dockerd) has it/.exec(line);
  return m?.[1] ?? "";
}

async function runOn(c: Case, s: Side): Promise<{ r: Resp; after: unknown }> {
  try {
    await c.setup?.(s);
    const r = await s.req(await c.request(s));
    const after = c.after ? await c.after(s, r) : undefined;
    return { r, after };
  } finally {
    await c.cleanup?.(s);
  }
}

const skip = skipReason || dockerdAvailable() || (!(await findBusybox()) ? "busybox-static is not installed" : false);

describe("the differential suite's coverage", () => {
  it("every endpoint of the swagger has a case or an entry saying why it is not compared", () => {
    const endpoints = swaggerEndpoints();
    assert.ok(endpoints.length >= 100, `the swagger lists ${endpoints.length} endpoints`);
    const covered = new Set(cases().map((c) => c.endpoint));
    const listed = new Set(NOT_COMPARED.map((n) => n.endpoint));
    const missing = endpoints.filter((e) => !covered.has(e) && !listed.has(e));
    assert.deepEqual(missing, [], "endpoints with neither a case nor a reason");
    const unknown = [...covered, ...listed].filter((e) => !endpoints.includes(e));
    assert.deepEqual(unknown, [], "cases for endpoints the swagger does not have");
    assert.deepEqual([...covered].filter((e) => listed.has(e)), [], "endpoints both compared and listed as not compared");
    for (const n of NOT_COMPARED) assert.ok(n.reason.length > 20, `${n.endpoint}: a reason`);
    for (const c of cases()) if (c.expectDifference) assert.ok(c.expectDifference.reason.length > 20 && c.expectDifference.lines.length > 0, `${c.endpoint}: ${c.name}: a reason and the lines it accepts`);
  });
});

describe("Engine API: cove against Debian's dockerd, endpoint by endpoint", { skip }, () => {
  let pair: Pair | undefined;
  const results: { c: Case; diffs: string[] }[] = [];

  before(async () => {
    pair = await startPair();
    await Promise.all(SIDES.map((n) => fixtures(pair![n])));
  });

  after(async () => {
    try {
      if (pair) for (const n of SIDES) await remove(pair[n], { containers: ["cf-idle", "cf-tty", "cf-done"], volumes: ["cf-vol"], networks: ["cf-net"] }).catch(() => undefined);
    } finally {
      await pair?.stop();
    }
    const endpoints = swaggerEndpoints();
    const byEndpoint = new Map<string, { c: Case; diffs: string[] }[]>();
    for (const r of results) byEndpoint.set(r.c.endpoint, [...(byEndpoint.get(r.c.endpoint) ?? []), r]);
    const agreeing = [...byEndpoint.values()].filter((rs) => rs.every((r) => r.diffs.length === 0)).length;
    const lines = [
      `swagger endpoints: ${endpoints.length}; compared with dockerd: ${byEndpoint.size} (${results.length} cases); not compared: ${NOT_COMPARED.length}`,
      `endpoints where every case agrees: ${agreeing}; cases with known differences: ${results.filter((r) => r.diffs.length > 0).length}`,
    ];
    for (const r of results.filter((x) => x.diffs.length > 0)) lines.push(`  ${r.c.endpoint} (${r.c.name}): ${r.c.expectDifference?.reason ?? "UNEXPECTED"}\n${r.diffs.map((d) => `      ${d}`).join("\n")}`);
    for (const r of results.filter((x) => x.diffs.length === 0 && x.c.expectDifference)) lines.push(`  agrees now, its expectDifference can go: ${r.c.endpoint} (${r.c.name})`);
    for (const n of NOT_COMPARED) lines.push(`  not compared: ${n.endpoint}: ${n.reason}`);
    console.log(lines.join("\n"));
  });

  for (const c of cases()) {
    it(`${c.endpoint}: ${c.name}`, async () => {
      const [cove, dockerd] = await Promise.all(SIDES.map((n) => runOn(c, pair![n])));
      const diffs = differences(c, cove!, dockerd!);
      results.push({ c, diffs });
      const accepted = c.expectDifference?.lines ?? [];
      const unexpected = diffs.filter((d) => !accepted.some((re) => re.test(d)));
      assert.deepEqual(unexpected, [], `cove and dockerd differ${c.expectDifference ? ` beyond the known difference (${c.expectDifference.reason})` : ""}`);
    });
  }

  for (const n of NOT_COMPARED) {
    it(`${n.endpoint}: not compared (${n.reason}); cove answers a clear error`, async () => {
      const r = await request(pair!.cove.socket, n.cove);
      assert.ok(([] as number[]).concat(n.status).includes(r.status), `${r.status}: ${r.raw.toString()}`);
      assert.match((JSON.parse(r.raw.toString()) as { message: string }).message, n.message);
    });
  }
});

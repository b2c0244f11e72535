// Benchmark: answer latency and throughput of cove's embedded DNS server over UDP on loopback,
// for names the network knows (answered from the backend) and for names forwarded to an
// upstream. The server and a fake upstream (test/dns/fake-upstream.ts) each run in their own
// process, so the load generator here does not share their event loop. Reported: median and
// p99 latency of one query at a time, and queries/s with 64 queries in flight; the upstream
// queried directly is the floor for the forwarded case. Not a test: nothing here asserts on time.
// Nothing leaves loopback.

import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DnsServer, encodeMessage, makeQuery, RRClass, RRType } from "../src/dns/index.js";
import { FakeUpstream, replyWith } from "../test/dns/fake-upstream.js";

// The children get the addresses from the parent (their own pids differ).
const HOST = process.env.BENCH_DNS_HOST ?? `127.53.${250 - (process.pid % 5)}`;
const SERVER_ADDRESS = `${HOST}.1`;
const UPSTREAM_ADDRESS = `${HOST}.2`;
const SEQUENTIAL = Number(process.env.BENCH_DNS_SEQUENTIAL ?? 3000);
const PARALLEL = Number(process.env.BENCH_DNS_QUERIES ?? 40000);
const IN_FLIGHT = 64;

async function serveUpstream(): Promise<void> {
  const upstream = await new FakeUpstream(UPSTREAM_ADDRESS, (q) =>
    replyWith(q, { answers: [{ name: q.questions[0]!.name, type: RRType.A, class: RRClass.IN, ttl: 30, data: { kind: "A", address: "198.51.100.53" } }] }),
  ).start();
  console.log(upstream.port);
  process.on("SIGTERM", () => void upstream.stop().then(() => process.exit(0)));
}

async function serveDns(upstreamPort: number): Promise<void> {
  const server = new DnsServer({
    backend: {
      scope: () => ({ forward: true, upstreams: [{ address: UPSTREAM_ADDRESS, port: upstreamPort }] }),
      lookup: (name, type) => (name === "web" ? { addresses: type === "A" ? ["10.89.0.2"] : [] } : "unknown"),
      reverse: () => "unknown",
    },
  });
  const at = await server.listen(SERVER_ADDRESS, 0);
  console.log(at.port);
  process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
}

/** Starts `node this-file <args>` and returns it with the port it prints first. */
async function child(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, BENCH_DNS_HOST: HOST } });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once("line", resolve);
    proc.once("exit", (code) => reject(new Error(`bench child ${args.join(" ")} exited with ${code}`)));
  });
  return { proc, port: Number(first) };
}

interface Result {
  queries: number;
  seconds: number;
  latenciesUs: number[];
  lost: number;
}

/** Sends `total` queries for `name` to address:port keeping `window` in flight; latencies in µs. */
function load(address: string, port: number, name: string, total: number, window: number): Promise<Result> {
  const template = encodeMessage(makeQuery(0, name, RRType.A));
  const socket = createSocket("udp4");
  const sentAt = new Map<number, bigint>();
  const latenciesUs: number[] = [];
  let nextId = 0;
  let sent = 0;
  let lost = 0;
  return new Promise<Result>((resolve) => {
    const started = process.hrtime.bigint();
    const finishIfDone = () => {
      if (sent < total || sentAt.size > 0) return;
      clearInterval(watchdog);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      socket.close();
      resolve({ queries: latenciesUs.length, seconds, latenciesUs, lost });
    };
    const sendOne = () => {
      const id = nextId++ & 0xffff;
      const packet = Buffer.from(template);
      packet.writeUInt16BE(id, 0);
      sentAt.set(id, process.hrtime.bigint());
      sent++;
      socket.send(packet, port, address);
    };
    // A query unanswered for a second is counted lost and replaced, so one drop cannot stall the run.
    const watchdog = setInterval(() => {
      const now = process.hrtime.bigint();
      for (const [id, at] of sentAt) {
        if (now - at > 1_000_000_000n) {
          sentAt.delete(id);
          lost++;
          if (sent < total) sendOne();
        }
      }
      finishIfDone();
    }, 250);
    socket.on("message", (reply: Buffer) => {
      const at = sentAt.get(reply.readUInt16BE(0));
      if (at === undefined) return;
      sentAt.delete(reply.readUInt16BE(0));
      latenciesUs.push(Number(process.hrtime.bigint() - at) / 1000);
      if (sent < total) sendOne();
      else finishIfDone();
    });
    socket.bind(0, "127.0.0.1", () => {
      for (let i = 0; i < Math.min(window, total); i++) sendOne();
    });
  });
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

async function main(): Promise<void> {
  const upstream = await child(["upstream"]);
  const server = await child(["serve", String(upstream.port)]);
  try {
    const cases: Array<[string, string, number, string]> = [
      ["local name", SERVER_ADDRESS, server.port, "web"],
      ["forwarded name", SERVER_ADDRESS, server.port, "www.fwd.test"],
      ["upstream direct (floor)", UPSTREAM_ADDRESS, upstream.port, "www.fwd.test"],
    ];
    // Warm up JIT and sockets on each path.
    for (const [, address, port, name] of cases) await load(address, port, name, 2000, 16);
    console.log(`cove embedded DNS over UDP on loopback (${SEQUENTIAL} sequential queries, ${PARALLEL} with ${IN_FLIGHT} in flight)`);
    console.log("case                        p50 µs   p99 µs    1-at-a-time q/s   64-in-flight q/s   lost");
    for (const [label, address, port, name] of cases) {
      const one = await load(address, port, name, SEQUENTIAL, 1);
      const many = await load(address, port, name, PARALLEL, IN_FLIGHT);
      console.log(
        `${label.padEnd(26)} ${percentile(one.latenciesUs, 50).toFixed(0).padStart(7)} ${percentile(one.latenciesUs, 99).toFixed(0).padStart(8)}` +
          ` ${(one.queries / one.seconds).toFixed(0).padStart(18)} ${(many.queries / many.seconds).toFixed(0).padStart(18)} ${String(one.lost + many.lost).padStart(6)}`,
      );
    }
  } finally {
    for (const c of [server, upstream]) {
      c.proc.kill("SIGTERM");
      await new Promise((resolve) => (c.proc.exitCode !== null ? resolve(undefined) : c.proc.once("exit", resolve)));
    }
  }
}

const [mode, arg] = process.argv.slice(2);
if (mode === "upstream") await serveUpstream();
else if (mode === "serve") await serveDns(Number(arg));
else await main();

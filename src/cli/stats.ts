// `cove stats`: docker's stats table (CPU %, memory without page cache, net and block I/O) from
// the daemon's stats JSON, one sample with --no-stream or redrawn each second until ^C.

import { bytesSize, humanSizeWithPrecision, type StatsResponse } from "../docker/index.js";
import { command, type Command } from "./command.js";
import { formatRows, goMap } from "./format/index.js";
import { truncateID } from "./units.js";

export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

/** docker's calculateCPUPercentUnix and memory usage without page cache. */
export function statsRow(s: StatsResponse, container: string, trunc: boolean): StatsRow {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const online = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const st = s.memory_stats.stats ?? {};
  let mem = s.memory_stats.usage ?? 0;
  const cache = st.total_inactive_file ?? st.inactive_file;
  if (cache !== undefined && cache < mem) mem -= cache;
  const limit = s.memory_stats.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === "read") read += e.value;
    if (e.op.toLowerCase() === "write") write += e.value;
  }
  const id = s.id ?? container;
  return {
    Container: container,
    ID: trunc ? truncateID(id) : id,
    Name: (s.name ?? "").replace(/^\//, "") || "--",
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSizeWithPrecision(rx, 3)} / ${humanSizeWithPrecision(tx, 3)}`,
    BlockIO: `${humanSizeWithPrecision(read, 3)} / ${humanSizeWithPrecision(write, 3)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

const STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const STATS_HEADERS = { Container: "CONTAINER", ID: "CONTAINER ID", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS" };

const statsCommand = command(
  {
    name: "stats",
    usage: "cove stats [OPTIONS] [CONTAINER...]",
    summary: "Display a live stream of container(s) resource usage statistics",
    flags: {
      all: { type: "bool", short: "a", description: "Show all containers (default shows just running)" },
      format: { type: "string", valueName: "string", description: "Format output using a custom template" },
      "no-stream": { type: "bool", description: "Disable streaming stats and only pull the first result" },
      "no-trunc": { type: "bool", description: "Do not truncate output" },
    },
  },
  async ({ flags, args }, run) => {
    const client = await run.client();
    const ids = args.length ? args : (await client.containerList({ all: flags.all || undefined })).map((c) => c.Id);
    const render = (rows: StatsRow[]) => formatRows(flags.format, rows.map((r) => goMap({ ...r })), STATS_TABLE, STATS_HEADERS);
    if (flags["no-stream"]) {
      // one sample each, taken together (the daemon waits a second per sample to measure the CPU)
      const rows = await Promise.all(
        ids.map((id) =>
          client.containerStats(id).then(
            (s) => statsRow(s, id, !flags["no-trunc"]),
            (err: unknown) => {
              if (args.length) throw err;
              return undefined;
            },
          ),
        ),
      );
      run.out(render(rows.filter((r): r is StatsRow => r !== undefined)));
      return 0;
    }
    // live view: one stats stream per container, redrawn once a second until interrupted
    const latest = new Map<string, StatsRow>();
    const streams: AsyncGenerator<StatsResponse>[] = [];
    let stop = false;
    let failure: unknown;
    for (const id of ids) {
      void (async () => {
        try {
          const stream = await client.containerStatsStream(id);
          streams.push(stream);
          for await (const s of stream) {
            latest.set(id, statsRow(s, id, !flags["no-trunc"]));
            if (stop) break;
          }
        } catch (err) {
          if (args.length && !stop) failure ??= err;
        }
      })();
    }
    const onInt = () => {
      stop = true;
    };
    process.once("SIGINT", onInt);
    try {
      while (!stop) {
        await new Promise((r) => setTimeout(r, 1000));
        if (failure) throw failure;
        const rows = ids.map((id) => latest.get(id)).filter((r): r is StatsRow => r !== undefined);
        run.out((run.io.stdout.isTTY ? "\x1b[2J\x1b[H" : "") + render(rows));
      }
    } finally {
      process.removeListener("SIGINT", onInt);
      for (const st of streams) void st.return(undefined);
    }
    return 0;
  },
);

export const statsCommands: Record<string, Command> = {
  stats: statsCommand,
  "container stats": statsCommand,
};

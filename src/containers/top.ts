// `docker top`: ps(1) run on the host with the caller's arguments (default "-ef"), its lines kept
// when their PID is one of the container's cgroup's processes, split into Docker's
// {Titles, Processes} as dockerd splits them (whitespace; the last column keeps its spaces).

import { execFile } from "node:child_process";
import { CoveError, invalid } from "../common/errors.js";
import type { TopResponse as TopResult } from "../docker/index.js";

export type { TopResult };

/** Parses ps output, keeping the rows of `pids`. */
export function parsePs(output: string, pids: number[]): TopResult {
  const lines = output.split("\n").filter((l) => l.trim() !== "");
  const header = lines.shift();
  if (header === undefined) throw new CoveError("system", "ps printed nothing", { code: "top.ps" });
  const titles = header.trim().split(/\s+/);
  const pidIndex = titles.indexOf("PID");
  if (pidIndex < 0) throw new CoveError("system", "Couldn't find PID field in ps output", { code: "top.ps", hint: "give ps arguments whose output has a PID column (e.g. -ef or aux)" });
  const wanted = new Set(pids);
  const processes: string[][] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (fields.length <= pidIndex) continue;
    const pid = Number(fields[pidIndex]);
    if (!Number.isInteger(pid)) throw new CoveError("system", `Unexpected pid '${fields[pidIndex]}': not a number`, { code: "top.ps" });
    if (!wanted.has(pid)) continue;
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(" "));
    processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}

/** Runs ps with psArgs (split on whitespace, as dockerd does) and keeps the container's rows. */
export function runPs(psArgs: string, pids: number[]): Promise<TopResult> {
  const args = (psArgs.trim() === "" ? "-ef" : psArgs).trim().split(/\s+/);
  for (const a of args) if (a.includes("\0")) throw invalid("ps arguments must not contain NUL bytes", { code: "top.args" });
  return new Promise((resolve, reject) => {
    execFile("ps", args, { maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: "C" } }, (err, stdout, stderr) => {
      if (err) {
        reject(new CoveError("system", `Error running ps: ${err.message.split("\n")[0] ?? ""}: ${stderr.trim()}`, { code: "top.ps", hint: "check the ps arguments (ps_args)" }));
        return;
      }
      try {
        resolve(parsePs(stdout, pids));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

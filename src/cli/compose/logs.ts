// The services' output as compose shows it: each line prefixed with its container ("web-1  | ..."),
// coloured per container on a terminal. `logs` prints it; an attached `up` follows it until every
// container has stopped or, with --abort-on-container-exit / --exit-code-from, until the first one
// does, then stops the others.

import type { EngineClient } from "../../client/index.js";
import { FrameDecoder } from "../../client/index.js";
import { LABEL, type Project } from "../../compose/index.js";
import type { ContainerSummary } from "../../docker/index.js";
import { name, serviceContainers, type Streams } from "./common.js";

const COLORS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

export interface LogOptions {
  follow: boolean;
  color: boolean;
  prefix: boolean;
  services?: string[];
  tail?: string;
  timestamps?: boolean;
  /** An attached up: prints "<c> exited with code N" as each container stops. */
  attached?: boolean;
  /** Called once for the first container that stops (attached up). */
  onExit?: (c: ContainerSummary, service: string, code: number) => void;
  /** Ends every stream (attached up, once it stopped the project). */
  signal?: AbortSignal;
}

/** Follows (or prints) the project's logs; resolves when every stream has ended. Returns each container's exit code, by service. */
export async function logs(client: EngineClient, project: Project, io: Streams, opts: LogOptions): Promise<Map<string, number>> {
  const list = await serviceContainers(client, project, opts.services ?? []);
  const names = list.map((c) => {
    const full = name(c);
    return full.startsWith(`${project.name}-`) ? full.slice(project.name.length + 1) : full;
  });
  const width = Math.max(0, ...names.map((n) => n.length));
  const codes = new Map<string, number>();
  await Promise.all(
    list.map(async (c, i) => {
      const label = names[i]!.padEnd(width);
      const prefix = !opts.prefix ? "" : opts.color ? `\x1b[${COLORS[i % COLORS.length]}m${label}  |\x1b[0m ` : `${label}  | `;
      const info = await client.containerInspect(c.Id);
      const res = await client.containerLogs(c.Id, { stdout: true, stderr: true, follow: opts.follow, tail: opts.tail, timestamps: opts.timestamps || undefined });
      const onAbort = () => res.destroy();
      opts.signal?.addEventListener("abort", onAbort);
      const decoder = new FrameDecoder();
      const pending: Record<string, string> = { stdout: "", stderr: "" };
      const emit = (stream: string, text: string, flush = false) => {
        const buf = pending[stream] + text;
        const lines = buf.split("\n");
        pending[stream] = flush ? "" : lines.pop()!;
        for (const line of flush ? lines.filter((l, j) => l !== "" || j < lines.length - 1) : lines) io.stdout.write(`${prefix}${line.replace(/\r$/, "")}\n`);
      };
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          if (info.Config.Tty) emit("stdout", chunk.toString());
          else for (const fr of decoder.push(chunk)) if (fr.stream === "stdout" || fr.stream === "stderr") emit(fr.stream, fr.data.toString());
        }
      } catch (err) {
        if (!opts.signal?.aborted) throw err;
      } finally {
        opts.signal?.removeEventListener("abort", onAbort);
      }
      emit("stdout", "", true);
      emit("stderr", "", true);
      if (opts.follow && opts.attached && !opts.signal?.aborted) {
        // the stream ends as the container stops: its exit code is there a moment later
        const code = (await client.containerWait(c.Id, "not-running")).StatusCode;
        codes.set(c.Labels[LABEL.service] ?? "", code);
        io.stdout.write(`${names[i]} exited with code ${code}\n`);
        opts.onExit?.(c, c.Labels[LABEL.service] ?? "", code);
      }
    }),
  );
  return codes;
}

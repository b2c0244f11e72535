// CRI container logs: the file the kubelet names (the sandbox's log_directory joined with the
// container's log_path), one line per entry, `<RFC3339Nano time> <stdout|stderr> <F|P> <text>`,
// P marking a part of a line longer than 16 KiB or a last line without its newline.
//
// Why a writer in the daemon, fed from the container's json-file log, rather than a second log
// format in the native monitor: the monitor already splits the output into entries exactly as the
// CRI format wants them (at each newline and every 16 KiB, the last piece flushed without a
// newline at exit) and stamps each with the time it read it, so every CRI line follows from one
// json-file entry: F when its text ends in a newline, P otherwise, the same time. Transcribing
// keeps one log per container, so `docker logs` and `cove logs` of a CRI container still work,
// and leaves the C monitor, its plan ops and the protocol shared with TypeScript unchanged.
// ReopenContainerLog (the kubelet's rotation) is then a close and open here. The cost: the CRI
// file is written while the daemon runs; a daemon restart resumes every CRI container's writer
// after the newest time its file holds, so nothing is lost or repeated, only written late. Text
// that is not UTF-8 reaches the file as json-file keeps it (U+FFFD for a stray byte).

import { mkdir, open, readFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { readLogs, timeNanos, type ContainerService } from "../containers/index.js";

/** The CRI log time: RFC 3339 with the fraction's trailing zeros cut, as Go's RFC3339Nano prints it. */
export function criTime(jsonTime: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(jsonTime);
  if (!m) return jsonTime;
  const frac = (m[2] ?? "").replace(/0+$/, "");
  return `${m[1]}${frac ? `.${frac}` : ""}${m[3]}`;
}

/** One CRI log line for a json-file entry. */
export function criLine(time: string, stream: "stdout" | "stderr", text: Buffer): Buffer {
  const full = text.length > 0 && text[text.length - 1] === 10;
  const body = full ? text.subarray(0, text.length - 1) : text;
  return Buffer.concat([Buffer.from(`${criTime(time)} ${stream} ${full ? "F" : "P"} `), body, Buffer.from("\n")]);
}

/** The time of the last line of a CRI log in ns, 0n when it has none. */
export async function lastLoggedTime(file: string): Promise<bigint> {
  let text: string;
  try {
    const fh = await open(file, "r");
    try {
      const size = (await fh.stat()).size;
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      text = buf.toString("utf8");
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (isErrno(err, "ENOENT")) return 0n;
    throw err;
  }
  const lines = text.split("\n").filter((l) => l !== "");
  for (let i = lines.length - 1; i >= 0; i--) {
    const t = timeNanos(lines[i]!.split(" ")[0] ?? "");
    if (t > 0n) return t;
  }
  return 0n;
}

/** One container's CRI log writer: follows its json-file log until it stops, reopened on request. */
export class CriLogWriter {
  private fh: FileHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();
  /** Settles when the container stopped and every entry is written (or the writer was closed). */
  readonly done: Promise<void>;
  /** Settles once the file is open (it exists at its path), or the writer ended without opening it. */
  readonly opened: Promise<void>;
  private markOpened!: () => void;

  constructor(
    private readonly containers: ContainerService,
    readonly id: string,
    readonly file: string,
    private readonly log: (line: string) => void,
  ) {
    this.opened = new Promise<void>((resolve) => (this.markOpened = resolve));
    this.done = this.run()
      .finally(() => this.markOpened())
      .catch((err: unknown) => ignored(`write the CRI log ${file} of container ${id}`, err, log));
  }

  private async openFile(): Promise<FileHandle> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o755 });
    return open(this.file, "a", 0o640);
  }

  private async run(): Promise<void> {
    const after = await lastLoggedTime(this.file);
    this.fh = await this.openFile();
    this.markOpened();
    const c = await this.containers.inspect(this.id);
    let running = c.State.Running;
    const stopped = this.containers.wait(this.id, "not-running").then(
      () => {
        running = false;
      },
      (err: unknown) => {
        running = false;
        // removed meanwhile: what the log holds is read, then the writer ends
        ignored(`wait for container ${this.id} to stop`, err, this.log);
      },
    );
    try {
      for await (const e of readLogs(c.LogPath, { follow: true, signal: this.abort.signal }, { running: () => running, stopped })) {
        if (after > 0n && timeNanos(e.time) <= after) continue; // written before a daemon restart
        const line = criLine(e.time, e.stream, e.line);
        await (this.queue = this.queue.then(() => this.fh?.write(line)));
      }
    } finally {
      await this.queue.catch(() => undefined);
      await this.fh?.close();
      this.fh = undefined;
    }
  }

  /** Closes the file and opens it again at its path (the kubelet renamed it to rotate it). */
  reopen(): Promise<void> {
    const next = this.queue.then(async () => {
      await this.fh?.close();
      this.fh = await this.openFile();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Stops following (the daemon closes). */
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

/** The CRI log writers of the running containers, by container ID. */
export class CriLogs {
  private readonly writers = new Map<string, CriLogWriter>();

  constructor(
    private readonly containers: ContainerService,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts (once) the writer of a container's CRI log; resolves once its file exists, as the kubelet expects after StartContainer. */
  async start(id: string, file: string): Promise<CriLogWriter> {
    const cur = this.writers.get(id);
    if (cur) return cur;
    const w = new CriLogWriter(this.containers, id, file, this.log);
    this.writers.set(id, w);
    void w.done.then(() => {
      if (this.writers.get(id) === w) this.writers.delete(id);
    });
    await w.opened;
    return w;
  }

  get(id: string): CriLogWriter | undefined {
    return this.writers.get(id);
  }

  /** Waits (bounded) for a stopped container's writer to write its last entries. */
  async drained(id: string, ms = 10_000): Promise<void> {
    const w = this.writers.get(id);
    if (!w) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([w.done, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.close()));
    this.writers.clear();
  }
}

/** Reads a whole CRI log (for tests and tools). */
export async function readCriLog(file: string): Promise<{ time: string; stream: string; tag: string; text: string }[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [time = "", stream = "", tag = "", ...rest] = l.split(" ");
      return { time, stream, tag, text: rest.join(" ") };
    });
}

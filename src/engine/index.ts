// The engine as a library: `import { Engine } from "cove"` gives the same image and container
// services the daemon serves, in process and without a daemon, with events as an async
// iterator. Containers keep running when the engine closes (the monitors own them), and a
// later Engine.open on the same root adopts them again.

import { ContainerService, type CreateResult } from "../containers/index.js";
import type { CreateBody, DockerEvent, LogEntry } from "../containers/types.js";
import { ImageService } from "../images/service.js";
import type { VolumeService } from "../volumes/index.js";

export interface EngineOptions {
  /** State root (default /var/lib/cove). */
  root?: string;
  /** Runtime state root on a tmpfs (default /run/cove/runtime). */
  runtimeRoot?: string;
}

export interface RunResult {
  id: string;
  exitCode: number;
  /** What the container printed, in order, with the stream each line came from. */
  output: LogEntry[];
}

export class Engine {
  private readonly listeners = new Set<(e: DockerEvent) => void>();

  private constructor(
    readonly images: ImageService,
    readonly containers: ContainerService,
  ) {}

  /** Named and anonymous volumes (the container service's, so references and mounts agree). */
  get volumes(): VolumeService {
    return this.containers.volumes;
  }

  static async open(opts: EngineOptions = {}): Promise<Engine> {
    const root = opts.root ?? "/var/lib/cove";
    const images = await ImageService.open({ root });
    // events may fire while the service opens (restoring containers): deliver them once the
    // engine exists
    const holder: { engine?: Engine } = {};
    const containers = await ContainerService.open({
      root,
      runtimeRoot: opts.runtimeRoot,
      images,
      events: (e) => holder.engine?.listeners.forEach((l) => l(e)),
    });
    holder.engine = new Engine(images, containers);
    return holder.engine;
  }

  /** Container events as they happen, until the consumer stops iterating. */
  async *events(): AsyncGenerator<DockerEvent> {
    const queue: DockerEvent[] = [];
    let wake: (() => void) | undefined;
    const listener = (e: DockerEvent) => {
      queue.push(e);
      wake?.();
    };
    this.listeners.add(listener);
    try {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.listeners.delete(listener);
    }
  }

  /** create + start + wait + logs + remove: `docker run --rm` as one call. */
  async run(image: string, cmd: string[], body: Omit<CreateBody, "Image" | "Cmd"> = {}): Promise<RunResult> {
    const created: CreateResult = await this.containers.create({ ...body, Image: image, Cmd: cmd });
    try {
      await this.containers.start(created.Id);
      const wait = await this.containers.wait(created.Id, "not-running");
      const output: LogEntry[] = [];
      for await (const entry of this.containers.logs(created.Id, { stdout: true, stderr: true })) output.push(entry);
      return { id: created.Id, exitCode: wait.StatusCode, output };
    } finally {
      await this.containers.remove(created.Id, { force: true });
    }
  }

  /** Stops following containers; they keep running. */
  async close(): Promise<void> {
    await this.containers.close();
  }
}

// `cove run` and `cove create`: the create request (create-request.ts) sent as POST
// /containers/create, pulling the image first when the daemon has none (--pull), then for run the
// start, the attached session and the wait for the exit status. Failures report as the docker
// CLI's run and create do (command.ts): 125 when the engine fails, 126/127 when the container's
// command cannot be invoked or found.

import { writeFile } from "node:fs/promises";
import { CoveError } from "../common/errors.js";
import { ignoring } from "../common/ignore.js";
import { EngineError, type EngineClient } from "../client/engine.js";
import { familiarString, parseNormalizedNamed, tagNameOnly } from "../images/reference.js";
import { attachSession, type AttachOptions, type Session } from "./attach.js";
import { CliError, command, errorLine, StatusError, type Command, type Run } from "./command.js";
import { buildCreateRequest, RUN_FLAGS, type CreateRequest } from "./create-request.js";
import { UsageError } from "./flags.js";
import { pullWithProgress } from "./images.js";
import { detachKeys, monitorTtySize, proxySignals, terminalSize } from "./terminal.js";

/** "busybox" → "busybox:latest", as in "Unable to find image 'busybox:latest' locally". */
function displayRef(image: string): string {
  try {
    return familiarString(tagNameOnly(parseNormalizedNamed(image)));
  } catch (err) {
    if (!(err instanceof CoveError)) throw err;
    return image; // not a reference: the daemon's create says what is wrong with it
  }
}

/** Pulls an image before a create, its progress on stderr as the docker CLI shows it. */
async function pullImage(run: Run, image: string, platform: string | undefined, quiet: boolean): Promise<void> {
  const stderr = run.io.stderr as NodeJS.WriteStream;
  const terminal = stderr.isTTY === true;
  try {
    await pullWithProgress(run, image, {
      quiet,
      ...(platform ? { platform } : {}),
      write: (s) => run.err(s),
      terminal,
      ...(terminal && stderr.columns ? { width: stderr.columns } : {}),
    });
  } catch (err) {
    if (err instanceof CoveError && err.code === "engine.stream") throw new CliError(err.message, 125);
    throw err;
  }
}

/** POST /containers/create, pulling the image when the daemon says it is missing (--pull). */
async function createContainer(run: Run, req: CreateRequest, image: string, pull: string, quiet: boolean): Promise<string> {
  if (!["always", "missing", "never"].includes(pull)) throw new UsageError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`, "run");
  if (pull === "always") await pullImage(run, image, req.platform, quiet);
  const client = await run.client();
  try {
    const res = await client.containerCreate(req.body, { name: req.name, platform: req.platform, pod: req.pod });
    for (const w of res.Warnings ?? []) run.err(`WARNING: ${w}\n`);
    return res.Id;
  } catch (err) {
    if (!(err instanceof EngineError) || err.status !== 404 || pull !== "missing" || !/image/i.test(err.message)) throw err;
  }
  run.err(`Unable to find image '${displayRef(image)}' locally\n`);
  await pullImage(run, image, req.platform, quiet);
  const res = await client.containerCreate(req.body, { name: req.name, platform: req.platform, pod: req.pod });
  for (const w of res.Warnings ?? []) run.err(`WARNING: ${w}\n`);
  return res.Id;
}

/** docker run's exit status for a start error: 127 not found, 126 cannot invoke, 125 otherwise. */
export function startErrorStatus(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

const CREATE_SPEC = { name: "create", usage: "cove create [OPTIONS] IMAGE [COMMAND] [ARG...]", summary: "Create a new container", flags: RUN_FLAGS, stopAtFirstPositional: true, args: { min: 1 } };
const RUN_SPEC = { name: "run", usage: "cove run [OPTIONS] IMAGE [COMMAND] [ARG...]", summary: "Create and run a new container from an image", flags: RUN_FLAGS, stopAtFirstPositional: true, args: { min: 1 } };

async function writeCidFile(file: string | undefined, id: string): Promise<void> {
  if (!file) return;
  await writeFile(file, id, { flag: "wx" }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "EEXIST") throw new CliError(`container ID file found, make sure the other container isn't running or delete ${file}`, 125);
    throw err;
  });
}

/** POST /containers/{id}/start; a failure exits as docker run does (startErrorStatus). */
async function start(client: EngineClient, id: string, detachKeys?: string): Promise<void> {
  try {
    await client.containerStart(id, { detachKeys });
  } catch (err) {
    throw new StatusError(err, err instanceof EngineError ? startErrorStatus(err.message) : 125);
  }
}

const createCommand = command(
  CREATE_SPEC,
  async ({ flags, args, set }, run) => {
    const [image, ...cmd] = args as [string, ...string[]];
    const req = await buildCreateRequest(flags, set, image, cmd, { detach: false, env: run.env, consoleSize: terminalSize(run.io.stdout), apiSocket: flags["use-api-socket"] ? (await run.client()).socket : undefined });
    const id = await createContainer(run, req, image, flags.pull, flags.quiet);
    await writeCidFile(flags.cidfile, id);
    run.out(id + "\n");
    return 0;
  },
  "create",
);

const runCommand = command(
  RUN_SPEC,
  async ({ flags: f, args, set }, run) => {
    if (f.detach && f.attach.length) throw new UsageError("Conflicting options: -a and -d", "run");
    // only an attached terminal needs one: `run -d -it` starts the container as docker does
    if (f.tty && f.interactive && !f.detach && !run.io.stdin.isTTY) {
      run.err("the input device is not a TTY\n");
      return 1;
    }
    if (f["detach-keys"] !== undefined) detachKeys(f["detach-keys"]);
    const [image, ...cmd] = args as [string, ...string[]];
    const req = await buildCreateRequest(f, set, image, cmd, { detach: f.detach, env: run.env, consoleSize: terminalSize(run.io.stdout), apiSocket: f["use-api-socket"] ? (await run.client()).socket : undefined });
    const body = req.body as { AttachStdin: boolean; AttachStdout: boolean; AttachStderr: boolean; Tty: boolean };
    const id = await createContainer(run, req, image, f.pull, f.quiet);
    await writeCidFile(f.cidfile, id);
    const client = await run.client();

    if (f.detach) {
      await start(client, id, f["detach-keys"]);
      run.out(id + "\n");
      return 0;
    }

    const attachOpts: AttachOptions = {
      stdin: body.AttachStdin,
      stdout: body.AttachStdout,
      stderr: body.AttachStderr,
      tty: body.Tty,
      detachKeys: f["detach-keys"],
      sigProxy: f["sig-proxy"],
    };
    let session: Session | undefined;
    let stopSignals = () => undefined as void;
    let stopResize = () => undefined as void;
    try {
      if (attachOpts.stdin || attachOpts.stdout || attachOpts.stderr) {
        session = await attachSession(run, client, id, attachOpts);
      }
      // registered before start so a fast exit is not missed; "removed" with --rm
      const waitP = client.containerWait(id, f.rm ? "removed" : "next-exit");
      // awaited later: this only keeps a rejection meanwhile from counting as unhandled
      waitP.catch(() => undefined);
      // before start: output (and the user's ^C) may arrive before the start request returns
      if (!attachOpts.tty && attachOpts.sigProxy) stopSignals = proxySignals((sig) => client.containerKill(id, sig));
      try {
        await start(client, id);
      } catch (err) {
        session?.close();
        if (f.rm) await client.containerRemove(id, { force: true }).catch(ignoring(`remove --rm container ${id} after its failed start`));
        throw err;
      }
      if (attachOpts.tty && run.io.stdout.isTTY) stopResize = monitorTtySize(run.io.stdout, (h, w) => client.containerResize(id, h, w));
      if (session) {
        const how = await session.done;
        if (how === "detached") {
          session.close();
          run.err("read escape sequence\n");
          return 0;
        }
      }
      try {
        const w = await waitP;
        if (w.Error?.Message) run.err(`cove: ${w.Error.Message}\n`);
        return w.StatusCode;
      } catch (err) {
        run.err(errorLine(err) + "\n");
        return 125;
      }
    } finally {
      stopSignals();
      stopResize();
      session?.close();
    }
  },
  "run",
);

export const runCommands: Record<string, Command> = {
  run: runCommand,
  "container run": runCommand,
  create: createCommand,
  "container create": createCommand,
};

// `cove compose exec SERVICE COMMAND...` and `cove compose run SERVICE [COMMAND...]`, as `docker
// compose` has them: a terminal when our stdin is one (unless -T), stdin forwarded, and the
// command's exit code as ours. run makes a one-off container (labelled oneoff=True, named
// <project>-<service>-run-<hex>) from the service's configuration, after its dependencies.

import { randomBytes } from "node:crypto";
import { invalid } from "../../common/errors.js";
import { ignoring } from "../../common/ignore.js";
import { createBody, endpoint, LABEL, parsePorts, parseVolumes, shellSplit, type Project } from "../../compose/index.js";
import { attachSession, startSession } from "../attach.js";
import { makeRun, type Run } from "../command.js";
import { monitorTtySize, proxySignals, terminalSize } from "../terminal.js";
import { envFlags, intFlag, name, serviceContainers, takeFlags, type Ctx } from "./common.js";
import { prepareRun, putFiles, serviceFiles } from "./engine.js";

function runOf(ctx: Ctx, client: Awaited<ReturnType<Ctx["client"]>>): Run {
  return makeRun({ client, io: { stdout: ctx.io.stdout, stderr: ctx.io.stderr, stdin: ctx.io.stdin ?? process.stdin }, env: ctx.env });
}

export async function exec(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(
    args,
    { "-e": "env", "--env": "env", "-u": "user", "--user": "user", "-w": "workdir", "--workdir": "workdir", "--index": "index" },
    { "-d": "detach", "--detach": "detach", "-T": "notty", "--no-TTY": "notty", "--no-tty": "notty", "--privileged": "privileged", "-i": "interactive", "--interactive": "interactive" },
  );
  const [service, ...cmd] = f.rest;
  if (!service || !cmd.length) throw invalid('"cove compose exec" requires at least 2 arguments: SERVICE COMMAND [ARGS...]', { code: "cli.usage" });
  const index = intFlag(f, "index", "--index", 1) ?? 1;
  const project = ctx.project();
  const client = await ctx.client();
  const c = (await serviceContainers(client, project, [service])).find((x) => x.Labels[LABEL.number] === String(index));
  if (!c || c.State !== "running") throw invalid(index === 1 ? `service "${service}" is not running` : `service "${service}" has no running container number ${index}`, { code: "cli.not-running" });
  const stdin = ctx.io.stdin ?? process.stdin;
  const detach = f.set.has("detach");
  const tty = !f.set.has("notty") && stdin.isTTY === true && !detach;
  const size = tty ? terminalSize(ctx.io.stdout) : undefined;
  const created = await client.execCreate(c.Id, {
    User: f.values.user?.at(-1) ?? "",
    Privileged: f.set.has("privileged"),
    Tty: tty,
    ConsoleSize: size ?? null,
    AttachStdin: !detach,
    AttachStdout: !detach,
    AttachStderr: !detach,
    DetachKeys: "",
    Env: envFlags(f.values.env, project.environment),
    WorkingDir: f.values.workdir?.at(-1) ?? "",
    Cmd: cmd,
  });
  if (detach) {
    await client.execStart(created.Id, { Tty: false });
    return 0;
  }
  const run = runOf(ctx, client);
  const conn = await client.execStartAttached(created.Id, { Tty: tty, ConsoleSize: size ?? null });
  const session = startSession(run, conn, { stdin: true, stdout: true, stderr: true, tty, detachKeys: undefined, sigProxy: false });
  const stopResize = tty && ctx.io.stdout.isTTY ? monitorTtySize(ctx.io.stdout as NodeJS.WriteStream, (h, w) => client.execResize(created.Id, h, w)) : () => undefined;
  try {
    if ((await session.done) === "detached") return 0;
  } finally {
    stopResize();
    session.close();
  }
  // the exit code lands a moment after the stream ends
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ins = await client.execInspect(created.Id);
    if (!ins.Running && ins.ExitCode !== null) return ins.ExitCode;
    if (Date.now() > deadline) throw invalid(`the command in ${name(c)} ended its output but its exit code did not arrive`, { code: "cli.exec" });
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The service as run takes it: from the file, or one its profiles leave out (naming it enables it). */
function withService(project: Project, service: string): Project {
  if (project.services[service]) return project;
  const svc = project.disabled[service];
  if (!svc) throw invalid(`no such service: ${service}`, { code: "cli.no-such-service" });
  const { [service]: _, ...disabled } = project.disabled;
  return { ...project, services: { ...project.services, [service]: svc }, disabled };
}

export async function run(ctx: Ctx, args: string[]): Promise<number> {
  const f = takeFlags(
    args,
    {
      "-e": "env", "--env": "env", "-v": "volume", "--volume": "volume", "-p": "publish", "--publish": "publish", "--name": "name", "--entrypoint": "entrypoint",
      "-u": "user", "--user": "user", "-w": "workdir", "--workdir": "workdir", "-l": "label", "--label": "label",
    },
    {
      "-d": "detach", "--detach": "detach", "--rm": "rm", "--service-ports": "ports", "--no-deps": "nodeps", "-T": "notty", "--no-TTY": "notty", "--no-tty": "notty",
      "-i": "interactive", "--interactive": "interactive", "--use-aliases": "aliases", "--quiet-pull": "quietpull",
    },
  );
  const [service, ...cmd] = f.rest;
  if (!service) throw invalid('"cove compose run" requires at least 1 argument: SERVICE [COMMAND] [ARGS...]', { code: "cli.usage" });
  if (f.set.has("ports") && f.values.publish?.length) throw invalid("--service-ports and --publish are incompatible", { code: "cli.usage" });
  const project = withService(ctx.project(), service);
  const svc = project.services[service]!;
  // check every flag's value before anything is made
  const published = parsePorts(f.values.publish ?? [], "--publish");
  const volumes = parseVolumes(f.values.volume ?? [], project.workingDir, "--volume");
  const labels: Record<string, string> = {};
  for (const l of f.values.label ?? []) {
    const i = l.indexOf("=");
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? "" : l.slice(i + 1);
  }
  const entrypoint = f.values.entrypoint?.at(-1);
  // -e NAME takes NAME's value from the project's environment (.env under the process's)
  const env = envFlags(f.values.env, project.environment);
  const stdin = ctx.io.stdin ?? process.stdin;
  const detach = f.set.has("detach");
  const tty = !f.set.has("notty") && !detach && (svc.tty ?? stdin.isTTY === true) && stdin.isTTY === true;
  const interactive = !detach;

  const client = await ctx.client();
  const imageId = await prepareRun(client, project, service, { noDeps: f.set.has("nodeps"), progress: ctx.progress });
  const body = createBody(project, service, 1, imageId) as Record<string, unknown> & { HostConfig: Record<string, unknown>; Labels: Record<string, string> };
  const slug = randomBytes(32).toString("hex");
  const cname = f.values.name?.at(-1) ?? `${project.name}-${service}-run-${slug.slice(0, 12)}`;
  body.Labels = { ...body.Labels, ...labels, [LABEL.oneoff]: "True", "com.docker.compose.slug": slug };
  // a one-off is none of the service's numbered containers (docker-compose sets no number either)
  delete body.Labels[LABEL.number];
  if (entrypoint !== undefined) {
    body.Entrypoint = entrypoint === "" ? [""] : shellSplit(entrypoint, "--entrypoint");
    body.Cmd = cmd;
  } else if (cmd.length) body.Cmd = cmd;
  // -e overrides the service's variable of the same name
  const names = new Set(env.map((e) => e.slice(0, e.indexOf("="))));
  body.Env = [...(body.Env as string[]).filter((e) => !names.has(e.slice(0, e.indexOf("=")))), ...env];
  if (f.values.user) body.User = f.values.user.at(-1);
  if (f.values.workdir) body.WorkingDir = f.values.workdir.at(-1);
  body.Tty = tty;
  body.OpenStdin = interactive;
  body.StdinOnce = interactive;
  body.AttachStdin = interactive;
  body.HostConfig.RestartPolicy = { Name: "", MaximumRetryCount: 0 };
  body.HostConfig.AutoRemove = f.set.has("rm");
  // the service's ports only with --service-ports; -p's always
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = f.set.has("ports") ? (body.HostConfig.PortBindings as Record<string, { HostIp: string; HostPort: string }[]>) : {};
  const exposed = (body.ExposedPorts ?? {}) as Record<string, object>;
  for (const p of published) {
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: p.host_ip ?? "", HostPort: p.published ?? "" });
  }
  body.ExposedPorts = Object.keys(exposed).length ? exposed : undefined;
  body.HostConfig.PortBindings = bindings;
  const mounts = (body.HostConfig.Mounts as { Target: string }[]).filter((m) => !volumes.some((v) => v.target === m.Target));
  for (const v of volumes) {
    const m: Record<string, unknown> = { Type: v.type, Target: v.target, ReadOnly: v.read_only ?? false };
    if (v.source) m.Source = v.type === "volume" ? (project.volumes[v.source]?.name ?? v.source) : v.source;
    mounts.push(m as { Target: string });
  }
  body.HostConfig.Mounts = mounts;
  // a one-off answers to its own name only, unless --use-aliases
  const nets = Object.keys(svc.networks ?? {}).sort((a, b) => (svc.networks?.[b]?.priority ?? 0) - (svc.networks?.[a]?.priority ?? 0));
  const ep = (key: string) => (f.set.has("aliases") ? endpoint(project, service, key, 1) : { ...endpoint(project, service, key, 1), Aliases: [cname] });
  if (nets[0] && !svc.network_mode) body.NetworkingConfig = { EndpointsConfig: { [project.networks[nets[0]]!.name]: ep(nets[0]) } };
  const { Id } = await client.containerCreate(body, { name: cname });
  const cleanup = async () => {
    if (f.set.has("rm")) await client.containerRemove(Id, { force: true }).catch(ignoring(`remove the one-off container ${cname}`));
  };
  try {
    if (!svc.network_mode)
      for (const key of nets.slice(1)) await client.json("POST", `/networks/${encodeURIComponent(project.networks[key]!.name)}/connect`, { body: { Container: Id, EndpointConfig: ep(key) } });
    await putFiles(client, Id, serviceFiles(project, service));
    if (detach) {
      await client.containerStart(Id);
      ctx.io.stdout.write(`${Id}\n`);
      return 0;
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  const r = runOf(ctx, client);
  const session = await attachSession(r, client, Id, { stdin: interactive, stdout: true, stderr: true, tty, detachKeys: undefined, sigProxy: false });
  const waitP = client.containerWait(Id, f.set.has("rm") ? "removed" : "next-exit");
  waitP.catch(ignoring(`wait for the one-off container ${cname}`));
  const size = tty ? terminalSize(ctx.io.stdout) : undefined;
  let stopResize = () => undefined as void;
  // without a terminal, our signals (Ctrl-C) go to the one-off, as docker compose forwards them
  const stopSignals = tty ? () => undefined : proxySignals((sig) => client.containerKill(Id, sig), ignoring(`forward a signal to ${cname}`));
  try {
    await client.containerStart(Id);
    if (size) await client.containerResize(Id, size[0], size[1]).catch(ignoring(`size the terminal of ${cname}`));
    if (tty && ctx.io.stdout.isTTY) stopResize = monitorTtySize(ctx.io.stdout as NodeJS.WriteStream, (h, w) => client.containerResize(Id, h, w));
    if ((await session.done) === "detached") return 0;
    return (await waitP).StatusCode;
  } catch (err) {
    await cleanup();
    throw err;
  } finally {
    stopResize();
    stopSignals();
    session.close();
  }
}

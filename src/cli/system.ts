// `cove info` (system info), version and events (system events), printed as the docker CLI
// prints them, or through --format.

import type { EngineClient } from "../client/engine.js";
import { buildInfo } from "../common/build-info.js";
import { bytesSize } from "../docker/index.js";
import { timestampArg } from "./attach.js";
import { command, errorLine, type Command } from "./command.js";
import { endpoint } from "./context.js";
import { inspectTemplate, marshalJSON, parseTemplate, type Template } from "./format/index.js";
import { parseFilters } from "./flags.js";

const infoCommand = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS]`, summary: "Display system-wide information", flags: { format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" } }, args: { max: 0 } }, async ({ flags }, run) => {
    const info = await (await run.client()).info();
    if (flags.format !== undefined && flags.format !== "") {
      if (flags.format === "json") run.out(marshalJSON(info, { escapeHTML: true }) + "\n");
      else run.out(inspectTemplate(parseTemplate(flags.format), info) + "\n");
      return 0;
    }
    const l: string[] = [];
    l.push("Client:", ` Version:    ${CLIENT_VERSION}`, ` Context:    ${endpoint(run.env).context}`, ` Debug Mode: false`, "");
    l.push("Server:");
    l.push(` Containers: ${info.Containers}`, `  Running: ${info.ContainersRunning}`, `  Paused: ${info.ContainersPaused}`, `  Stopped: ${info.ContainersStopped}`);
    l.push(` Images: ${info.Images}`, ` Server Version: ${info.ServerVersion}`, ` Storage Driver: ${info.Driver}`);
    for (const [k, v] of info.DriverStatus ?? []) l.push(`  ${k}: ${v}`);
    if (info.LoggingDriver) l.push(` Logging Driver: ${info.LoggingDriver}`);
    if (info.CgroupDriver) l.push(` Cgroup Driver: ${info.CgroupDriver}`);
    if (info.CgroupVersion) l.push(` Cgroup Version: ${info.CgroupVersion}`);
    if (info.Plugins) {
      l.push(" Plugins:");
      l.push(`  Volume: ${(info.Plugins.Volume ?? []).join(" ")}`, `  Network: ${(info.Plugins.Network ?? []).join(" ")}`, `  Log: ${(info.Plugins.Log ?? []).join(" ")}`);
    }
    if (info.Swarm?.LocalNodeState) l.push(` Swarm: ${info.Swarm.LocalNodeState}`);
    if (info.Runtimes) l.push(` Runtimes: ${Object.keys(info.Runtimes).sort().join(" ")}`);
    if (info.DefaultRuntime) l.push(` Default Runtime: ${info.DefaultRuntime}`);
    if (info.SecurityOptions?.length) {
      l.push(" Security Options:");
      for (const o of info.SecurityOptions) {
        const parts = o.split(",");
        l.push(`  ${parts[0]!.replace(/^name=/, "")}`);
        for (const p of parts.slice(1)) l.push(`   ${p.replace("=", ": ").replace(/^./, (c) => c.toUpperCase())}`);
      }
    }
    l.push(` Kernel Version: ${info.KernelVersion}`, ` Operating System: ${info.OperatingSystem}`, ` OSType: ${info.OSType}`, ` Architecture: ${info.Architecture}`);
    l.push(` CPUs: ${info.NCPU}`, ` Total Memory: ${bytesSize(info.MemTotal)}`, ` Name: ${info.Name}`);
    if (info.ID) l.push(` ID: ${info.ID}`);
    l.push(` Docker Root Dir: ${info.DockerRootDir}`, ` Debug Mode: ${info.Debug ? "true" : "false"}`, ` Experimental: ${info.ExperimentalBuild ? "true" : "false"}`);
    l.push(` Live Restore Enabled: ${info.LiveRestoreEnabled ? "true" : "false"}`, "");
    run.out(l.join("\n") + "\n");
    for (const w of info.Warnings ?? []) run.err(w + "\n");
    return 0;
  });

const CLIENT_VERSION = buildInfo().version;

const versionCommand = command({ name: "version", usage: "cove version [OPTIONS]", summary: "Show the cove version information", flags: { format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" } }, args: { max: 0 } }, async ({ flags }, run) => {
  const engine = await run.client();
  const client = {
    Platform: { Name: "cove" },
    Version: CLIENT_VERSION,
    // without a daemon to negotiate with, the client's own version; the server part below reports
    // the connection error
    ApiVersion: await engine.apiVersion().catch(() => "1.47"),
    DefaultAPIVersion: "1.47",
    GoVersion: process.version,
    GitCommit: buildInfo().commit,
    BuildTime: buildInfo().built,
    Os: process.platform,
    Arch: process.arch === "x64" ? "amd64" : process.arch,
    Context: endpoint(run.env).context,
  };
  let server: Awaited<ReturnType<EngineClient["version"]>> | undefined;
  let serverErr: unknown;
  try {
    server = await engine.version();
  } catch (err) {
    serverErr = err;
  }
  if (flags.format !== undefined && flags.format !== "") {
    const data = { Client: client, Server: server ?? null };
    if (flags.format === "json") run.out(marshalJSON(data, { escapeHTML: true }) + "\n");
    else run.out(inspectTemplate(parseTemplate(flags.format), data) + "\n");
  } else {
    const l = ["Client:", ` Version:           ${client.Version}`, ` API version:       ${client.ApiVersion}`, ` Node version:      ${client.GoVersion}`, ` Git commit:        ${client.GitCommit}`, ...(client.BuildTime ? [` Built:             ${client.BuildTime}`] : []), ` OS/Arch:           ${client.Os}/${client.Arch}`, ` Context:           ${client.Context}`];
    if (server) {
      l.push("", `Server: ${server.Platform?.Name ?? ""}`.trimEnd());
      const comps = server.Components?.length ? server.Components : [{ Name: "Engine", Version: server.Version, Details: { ApiVersion: server.ApiVersion, MinAPIVersion: server.MinAPIVersion ?? "", GitCommit: server.GitCommit, GoVersion: server.GoVersion, Os: server.Os, Arch: server.Arch } }];
      for (const c of comps) {
        l.push(` ${c.Name}:`, `  Version:          ${c.Version}`);
        if (c.Name === "Engine") {
          l.push(`  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion ?? ""})`, `  Go version:       ${server.GoVersion}`, `  Git commit:       ${server.GitCommit}`);
          if (server.BuildTime) l.push(`  Built:            ${server.BuildTime}`);
          l.push(`  OS/Arch:          ${server.Os}/${server.Arch}`, `  Experimental:     ${server.Experimental ? "true" : "false"}`);
        } else {
          for (const [k, v] of Object.entries(c.Details ?? {})) l.push(`  ${k}:${" ".repeat(Math.max(1, 17 - k.length))}${v}`);
        }
      }
    }
    run.out(l.join("\n") + "\n");
  }
  if (serverErr) {
    run.err(errorLine(serverErr) + "\n");
    return 1;
  }
  return 0;
});

const eventsCommand = command(
  {
    name: "events",
    usage: "cove events [OPTIONS]",
    summary: "Get real time events from the server",
    flags: {
      filter: { type: "list", short: "f", valueName: "filter", description: "Filter output based on conditions provided" },
      format: { type: "string", valueName: "string", description: "Format output using a custom template" },
      since: { type: "string", valueName: "string", description: "Show all events created since timestamp" },
      until: { type: "string", valueName: "string", description: "Stream events until this timestamp" },
    },
    args: { max: 0 },
  },
  async ({ flags }, run) => {
    const ts = (v: string | undefined) => (v === undefined ? undefined : timestampArg(v, run.now));
    let tmpl: Template | undefined;
    if (flags.format !== undefined && flags.format !== "" && flags.format !== "json") tmpl = parseTemplate(flags.format);
    const events = await (await run.client()).events({ since: ts(flags.since), until: ts(flags.until), filters: parseFilters(flags.filter, "events") });
    for await (const e of events) {
      if (flags.format === "json") run.out(marshalJSON(e, { escapeHTML: true }) + "\n");
      else if (tmpl) run.out(tmpl.execute(e) + "\n");
      else run.out(eventLine(e) + "\n");
    }
    return 0;
  },
);

/** docker's default event line: "2024-01-02T15:04:05.123456789Z container start <id> (image=busybox, name=x)". */
export function eventLine(e: { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> }; time: number; timeNano: number }): string {
  const secs = Math.trunc(e.timeNano / 1e9);
  const nanos = String(e.timeNano % 1e9).padStart(9, "0");
  const d = new Date(secs * 1000);
  const off = -d.getTimezoneOffset();
  const pad = (n: number) => String(n).padStart(2, "0");
  const zone = off === 0 ? "Z" : `${off > 0 ? "+" : "-"}${pad(Math.trunc(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${nanos}${zone}`;
  const attrs = Object.keys(e.Actor.Attributes ?? {})
    .sort()
    .map((k) => `${k}=${e.Actor.Attributes[k]}`);
  return `${stamp} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(", ")})` : ""}`;
}

export const systemCommands: Record<string, Command> = {
  info: infoCommand("info"),
  "system info": infoCommand("system info"),
  version: versionCommand,
  events: eventsCommand,
  "system events": eventsCommand,
};

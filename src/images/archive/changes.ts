// `docker import --change` / `docker commit --change`: Dockerfile instructions applied to an image
// config. Docker accepts CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL,
// USER, VOLUME and WORKDIR here; cove parses each simply: the JSON form (exec form) when the
// argument is a JSON array of strings, the shell form otherwise.

import { invalid } from "../../common/errors.js";
import type { ContainerConfig } from "../types.js";

const ALLOWED = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"];

function jsonArray(s: string): string[] | undefined {
  if (!s.startsWith("[")) return undefined;
  try {
    const v = JSON.parse(s) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  } catch (err) {
    // not JSON: shell form
    if (!(err instanceof SyntaxError)) throw err;
  }
  return undefined;
}

/** Splits "a=1 b='x y' c" into words, honouring double and single quotes and backslashes. */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw invalid(`unterminated quote in ${JSON.stringify(s)}`, { code: "change.invalid" });
  if (inWord) out.push(cur);
  return out;
}

/** key=value pairs (ENV/LABEL), or the legacy "KEY value" form with a single pair. */
function pairs(instr: string, arg: string): [string, string][] {
  const ws = words(arg);
  if (ws.length === 0) throw invalid(`${instr} requires at least one argument`, { code: "change.invalid" });
  if (!ws[0]?.includes("=")) {
    const sp = arg.search(/\s/);
    if (sp === -1) throw invalid(`${instr} ${arg}: expected KEY=VALUE or "KEY VALUE"`, { code: "change.invalid" });
    return [[arg.slice(0, sp), arg.slice(sp).trim()]];
  }
  return ws.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw invalid(`${instr} ${arg}: ${JSON.stringify(w)} is not KEY=VALUE`, { code: "change.invalid" });
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** Applies the --change instructions to a copy of config and returns it. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = structuredClone(config);
  for (const raw of changes) {
    const line = raw.trim();
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line);
    if (!m) continue;
    const instr = (m[1] as string).toUpperCase();
    const arg = (m[2] as string).trim();
    if (!ALLOWED.includes(instr)) {
      throw invalid(`${m[1]} is not a valid change command`, {
        code: "change.invalid",
        hint: `--change accepts ${ALLOWED.join(", ")}`,
      });
    }
    switch (instr) {
      case "CMD":
        c.Cmd = jsonArray(arg) ?? ["/bin/sh", "-c", arg];
        break;
      case "ENTRYPOINT":
        c.Entrypoint = jsonArray(arg) ?? (arg === "" ? null : ["/bin/sh", "-c", arg]);
        break;
      case "ENV": {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of pairs(instr, arg)) {
          const i = env.findIndex((e) => e.split("=")[0] === k);
          if (i === -1) env.push(`${k}=${v}`);
          else env[i] = `${k}=${v}`;
        }
        c.Env = env;
        break;
      }
      case "LABEL": {
        const labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of pairs(instr, arg)) labels[k] = v;
        c.Labels = labels;
        break;
      }
      case "EXPOSE": {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of words(arg)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw invalid(`EXPOSE ${p}: invalid port, expected PORT[/PROTO]`, { code: "change.invalid" });
          ports[p.includes("/") ? p.toLowerCase() : `${p}/tcp`] = {};
        }
        c.ExposedPorts = ports;
        break;
      }
      case "VOLUME": {
        const vols = { ...(c.Volumes ?? {}) };
        for (const v of jsonArray(arg) ?? words(arg)) {
          if (v === "") throw invalid("VOLUME specified can not be an empty string", { code: "change.invalid" });
          vols[v] = {};
        }
        c.Volumes = vols;
        break;
      }
      case "USER":
        c.User = arg;
        break;
      case "WORKDIR":
        c.WorkingDir = arg.startsWith("/") ? arg : `/${c.WorkingDir ?? ""}/${arg}`.replace(/\/+/g, "/");
        break;
      case "STOPSIGNAL":
        if (arg === "") throw invalid("STOPSIGNAL requires a signal", { code: "change.invalid" });
        c.StopSignal = arg;
        break;
      case "ONBUILD":
        if (arg === "") throw invalid("ONBUILD requires an instruction", { code: "change.invalid" });
        c.OnBuild = [...(c.OnBuild ?? []), arg];
        break;
    }
  }
  return c;
}

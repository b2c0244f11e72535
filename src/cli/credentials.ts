// Registry credentials as the docker CLI keeps them, in the same file so the two share logins:
// $DOCKER_CONFIG/config.json (default ~/.docker/config.json) with
//
//   "auths":       {"127.0.0.1:5000": {"auth": base64("user:password")}, ...}
//   "credsStore":  "pass"                      every registry's secret in docker-credential-pass
//   "credHelpers": {"host": "secretservice"}  one registry's in docker-credential-secretservice
//
// A helper speaks the docker-credential-helpers protocol: `docker-credential-<name> get` reads the
// server URL on stdin and writes {"ServerURL","Username","Secret"}; `store` reads that JSON;
// `erase` reads the server URL. Docker Hub's key is "https://index.docker.io/v1/". Keys of the
// file cove does not use are kept as they are. The file is written atomically, mode 0600.

import { execFile } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CoveError, invalid, isErrno } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import type { AuthConfig } from "../registry/auth.js";

/** The key Docker Hub's credentials are stored under. */
export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

export interface DockerConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; [k: string]: unknown }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

/** The config file: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function configPath(env: NodeJS.ProcessEnv): string {
  const dir = env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), ".docker");
  return path.join(dir, "config.json");
}

/** The key a registry's credentials go under: "docker.io" → Docker Hub's URL, others as they are. */
export function credentialKey(registry: string): string {
  const r = registry.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return r === "" || r === "docker.io" || r === "index.docker.io" || r === "registry-1.docker.io" ? DOCKER_HUB_KEY : r;
}

export async function loadConfig(file: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return {};
    throw err;
  }
  if (text.trim() === "") return {};
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    throw invalid(`${file} is not valid JSON: ${(err as Error).message}`, { code: "cli.config", hint: "fix or remove the file" });
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw invalid(`${file} must hold a JSON object`, { code: "cli.config" });
  const c = o as DockerConfigFile;
  if (c.auths !== undefined && (typeof c.auths !== "object" || c.auths === null || Array.isArray(c.auths))) throw invalid(`${file}: "auths" must be an object`, { code: "cli.config" });
  if (c.credsStore !== undefined && typeof c.credsStore !== "string") throw invalid(`${file}: "credsStore" must be a string`, { code: "cli.config" });
  if (c.credHelpers !== undefined && (typeof c.credHelpers !== "object" || c.credHelpers === null || Array.isArray(c.credHelpers))) {
    throw invalid(`${file}: "credHelpers" must be an object`, { code: "cli.config" });
  }
  return c;
}

async function saveConfig(file: string, c: DockerConfigFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify(c, null, "\t") + "\n", 0o600);
}

/** The helper that holds a registry's credentials, if any. */
function helperFor(c: DockerConfigFile, key: string): string | undefined {
  const h = c.credHelpers?.[key] ?? c.credHelpers?.[key.replace(/^https?:\/\//, "").replace(/\/.*$/, "")] ?? c.credsStore;
  return h === "" ? undefined : h;
}

/** Runs docker-credential-<name> <action> with input on stdin; its stdout. */
function runHelper(name: string, action: "get" | "store" | "erase", input: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return Promise.reject(invalid(`invalid credential helper name "${name}"`, { code: "cli.config" }));
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = execFile(program, [action], { env, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const text = (stdout || stderr || "").trim();
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new CoveError("not-found", `error getting credentials - ${program} is not on PATH`, { code: "cli.cred-helper", hint: `install ${program}, or remove the helper from the config file` }));
        } else {
          reject(new HelperError(text || err.message, program));
        }
        return;
      }
      resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

class HelperError extends CoveError {
  constructor(
    readonly output: string,
    program: string,
  ) {
    super("system", `${program}: ${output}`, { code: "cli.cred-helper" });
  }
}

/** The helpers' own "not found" answer (docker-credential-helpers' ErrCredentialsNotFound). */
const NOT_FOUND = "credentials not found in native keychain";

/** The credentials stored for a registry, as X-Registry-Auth wants them; undefined when none. */
export async function getCredentials(env: NodeJS.ProcessEnv, registry: string): Promise<AuthConfig | undefined> {
  const key = credentialKey(registry);
  const c = await loadConfig(configPath(env));
  const helper = helperFor(c, key);
  if (helper) {
    let out: string;
    try {
      out = await runHelper(helper, "get", key, env);
    } catch (err) {
      if (err instanceof HelperError && err.output.includes(NOT_FOUND)) return undefined;
      throw err;
    }
    let o: { Username?: unknown; Secret?: unknown };
    try {
      o = JSON.parse(out) as typeof o;
    } catch {
      throw invalid(`docker-credential-${helper} answered with something that is not JSON`, { code: "cli.cred-helper" });
    }
    const username = typeof o.Username === "string" ? o.Username : "";
    const secret = typeof o.Secret === "string" ? o.Secret : "";
    // "<token>" as the user name marks an identity token (docker-credential-helpers' convention)
    if (username === "<token>") return { identitytoken: secret, serveraddress: key };
    return { username, password: secret, serveraddress: key };
  }
  const entry = c.auths?.[key] ?? c.auths?.[registry];
  if (!entry) return undefined;
  const out: AuthConfig = { serveraddress: key };
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const pair = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = pair.indexOf(":");
    if (colon < 0) throw invalid(`${configPath(env)}: the "auth" of ${key} is not base64 of user:password`, { code: "cli.config" });
    out.username = pair.slice(0, colon);
    out.password = pair.slice(colon + 1);
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") out.identitytoken = entry.identitytoken;
  return out.username !== undefined || out.identitytoken !== undefined ? out : undefined;
}

/** Stores a login: in the helper when one is set (the file keeps an empty entry), else base64 in the file. Returns where it went. */
export async function storeCredentials(env: NodeJS.ProcessEnv, registry: string, auth: { username: string; password: string; identitytoken?: string }): Promise<{ helper?: string; file: string }> {
  const key = credentialKey(registry);
  const file = configPath(env);
  const c = await loadConfig(file);
  const helper = helperFor(c, key);
  c.auths ??= {};
  if (helper) {
    const secret = auth.identitytoken || auth.password;
    await runHelper(helper, "store", JSON.stringify({ ServerURL: key, Username: auth.identitytoken ? "<token>" : auth.username, Secret: secret }), env);
    c.auths[key] = {};
  } else {
    const entry: { auth: string; identitytoken?: string } = { auth: Buffer.from(`${auth.username}:${auth.identitytoken ? "" : auth.password}`).toString("base64") };
    if (auth.identitytoken) entry.identitytoken = auth.identitytoken;
    c.auths[key] = entry;
  }
  await saveConfig(file, c);
  return { ...(helper ? { helper } : {}), file };
}

/** Removes a login; false when there was none. */
export async function eraseCredentials(env: NodeJS.ProcessEnv, registry: string): Promise<boolean> {
  const key = credentialKey(registry);
  const file = configPath(env);
  const c = await loadConfig(file);
  const helper = helperFor(c, key);
  let had = c.auths?.[key] !== undefined;
  if (helper) {
    try {
      await runHelper(helper, "erase", key, env);
      had = true;
    } catch (err) {
      if (!(err instanceof HelperError && err.output.includes(NOT_FOUND))) throw err;
    }
  }
  if (c.auths?.[key] !== undefined) {
    delete c.auths[key];
    await saveConfig(file, c);
  }
  return had;
}

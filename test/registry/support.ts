// A private registry for pull tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1 and
// a free port, its storage and config in a directory of the test's, optionally with htpasswd
// auth (bcrypt hashes made with Python's crypt module, as apache2-utils may be missing); skopeo to
// copy local fixture images into it; and a small proxy in front of it that misbehaves on demand
// (cuts a blob's body after N bytes, alters a manifest), for the failure paths.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, createWriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { finished } from "node:stream/promises";
import { promisify } from "node:util";
import type { ImageService } from "../../src/images/service.js";

const run = promisify(execFile);

export const REGISTRY_BIN = "/usr/bin/docker-registry";
export const SKOPEO = "/usr/bin/skopeo";

/** Why these tests cannot run here, or undefined. */
export function registryAvailable(): string | undefined {
  for (const [bin, pkg] of [
    [REGISTRY_BIN, "docker-registry"],
    [SKOPEO, "skopeo"],
  ] as const) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      return `${bin} is missing (apt-get install ${pkg})`;
    }
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A bcrypt hash of password, for an htpasswd file. */
export async function bcrypt(password: string): Promise<string> {
  const { stdout } = await run("python3", ["-W", "ignore", "-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<4)))", password]);
  const hash = stdout.trim();
  if (!hash.startsWith("$2")) throw new Error(`python3's crypt made no bcrypt hash: ${hash}`);
  return hash;
}

export interface Registry {
  /** "127.0.0.1:PORT". */
  host: string;
  port: number;
  stop(): Promise<void>;
}

function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

export interface RegistryListen {
  /** The port (default: a free one). */
  port?: number;
  /** The address to listen on (default 127.0.0.1; "0.0.0.0" only inside a network namespace of the test's). */
  address?: string;
}

/** Starts docker-registry under dir (storage, config, log); with users, htpasswd auth. */
export async function startRegistry(dir: string, users?: Record<string, string>, listen: RegistryListen = {}): Promise<Registry> {
  await mkdir(dir, { recursive: true });
  const port = listen.port ?? (await freePort());
  const storage = path.join(dir, "storage");
  await mkdir(storage, { recursive: true });
  let auth = "";
  if (users) {
    const lines: string[] = [];
    for (const [u, p] of Object.entries(users)) lines.push(`${u}:${await bcrypt(p)}`);
    await writeFile(path.join(dir, "htpasswd"), lines.join("\n") + "\n");
    auth = `auth:\n  htpasswd:\n    realm: cove-test\n    path: ${path.join(dir, "htpasswd")}\n`;
  }
  const config = `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: ${listen.address ?? "127.0.0.1"}:${port}\n${auth}`;
  await writeFile(path.join(dir, "config.yml"), config);
  const log = createWriteStream(path.join(dir, "registry.log"));
  const child: ChildProcess = spawn(REGISTRY_BIN, ["serve", path.join(dir, "config.yml")], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited = false;
  const gone = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await gone;
    log.end();
    await finished(log).catch(() => undefined);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await get(`http://127.0.0.1:${port}/v2/`);
    if (status === 200 || status === 401) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start on port ${port}: ${await readFile(path.join(dir, "registry.log"), "utf8").catch(() => "")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, port, stop };
}

/** skopeo copy into a registry over plain HTTP; creds "user:password" when it needs them. */
export async function skopeoCopy(src: string, dest: string, opts: { all?: boolean; creds?: string } = {}): Promise<void> {
  const args = ["copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", "--insecure-policy"];
  if (opts.all) args.push("--all");
  if (opts.creds) args.push("--dest-creds", opts.creds);
  args.push(src, dest);
  await run(SKOPEO, args, { maxBuffer: 16 << 20 });
}

/** skopeo inspect --raw of a registry image: the manifest bytes as the registry serves them. */
export async function skopeoRaw(ref: string, creds?: string): Promise<string> {
  const args = ["inspect", "--raw", "--tls-verify=false"];
  if (creds) args.push("--creds", creds);
  args.push(ref);
  return (await run(SKOPEO, args, { maxBuffer: 16 << 20 })).stdout;
}

/** Saves an image of the service to a docker-archive tar (for skopeo's docker-archive: source). */
export async function saveArchive(svc: ImageService, refs: string[], file: string): Promise<void> {
  const out = createWriteStream(file);
  await svc.save(refs, out);
  if (!out.writableFinished) await finished(out);
}

export interface Proxy {
  host: string;
  /** Requests seen, as "METHOD path" (with a Range header noted as " range=..."). */
  seen: string[];
  /** Cuts the body of the next GET of a blob after this many bytes (once). */
  cutNextBlobAfter(bytes: number): void;
  /** Cuts every GET of a blob after this many bytes (a registry that always truncates). */
  cutEveryBlobAfter(bytes: number | undefined): void;
  /** Appends a space to every manifest body served (the digest header kept): its digest no longer matches. */
  alterManifests(on: boolean): void;
  stop(): Promise<void>;
}

/** A proxy to `target` ("127.0.0.1:PORT") that can misbehave (see Proxy). */
export async function startProxy(target: string): Promise<Proxy> {
  const [thost, tport] = target.split(":") as [string, string];
  let cutOnce: number | undefined;
  let cutAlways: number | undefined;
  let alter = false;
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}${req.headers.range ? ` range=${req.headers.range}` : ""}`);
    const up = http.request({ host: thost, port: Number(tport), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const isBlob = req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "") && (ur.statusCode === 200 || ur.statusCode === 206);
      const isManifest = req.method === "GET" && /\/manifests\//.test(req.url ?? "") && ur.statusCode === 200;
      if (isManifest && alter) {
        const chunks: Buffer[] = [];
        ur.on("data", (c: Buffer) => chunks.push(c));
        ur.on("end", () => {
          const body = Buffer.concat([Buffer.concat(chunks), Buffer.from(" ")]);
          const headers = { ...ur.headers, "content-length": String(body.length) };
          res.writeHead(ur.statusCode ?? 200, headers);
          res.end(body);
        });
        return;
      }
      const length = Number(ur.headers["content-length"] ?? Infinity);
      const cut = isBlob ? (cutOnce ?? cutAlways) : undefined;
      if (cut === undefined || length <= cut) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      if (cutOnce !== undefined) cutOnce = undefined;
      res.writeHead(ur.statusCode ?? 200, ur.headers);
      let sent = 0;
      ur.on("data", (c: Buffer) => {
        if (sent >= cut) return;
        const part = c.subarray(0, Math.max(0, cut - sent));
        sent += part.length;
        res.write(part);
        if (sent >= cut) {
          ur.destroy();
          res.socket?.destroy(); // the connection drops mid-body
        }
      });
      ur.on("end", () => res.end());
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    cutNextBlobAfter: (n) => (cutOnce = n),
    cutEveryBlobAfter: (n) => (cutAlways = n),
    alterManifests: (on) => (alter = on),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

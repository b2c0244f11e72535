// `cove registry serve`: cove's own registry (src/registry/server) on a TCP address, over the
// content store of --root (cove's state root unless given), until SIGINT or SIGTERM. With
// --local-images it also serves the images of that root by their repository names ("busybox:1"
// pulled as <host>/busybox:1), from the same blobs.

import { CoveError } from "../common/errors.js";
import { ImageStore } from "../images/index.js";
import { loadHtpasswd, readTls, RegistryServer, type AuthMode, type LocalImages } from "../registry/index.js";
import { helpText, parseFlags, UsageError, type CommandSpec } from "./flags.js";

const SERVE = {
  name: "registry serve",
  usage: "cove registry serve [OPTIONS]",
  summary: "Serve an OCI distribution (Docker registry) API over cove's content store",
  flags: {
    listen: { type: "string", default: "127.0.0.1:5000", valueName: "host:port", description: "Address to listen on" },
    root: { type: "string", valueName: "dir", description: "State root holding the content store and the registry's index (default: cove's root)" },
    auth: { type: "string", default: "none", valueName: "mode", description: "none, basic (htpasswd) or token (bearer tokens from /token, users of the htpasswd file)" },
    htpasswd: { type: "string", valueName: "file", description: "htpasswd file of bcrypt hashes (htpasswd -B)" },
    "tls-cert": { type: "string", valueName: "file", description: "PEM certificate: serve HTTPS" },
    "tls-key": { type: "string", valueName: "file", description: "PEM key of --tls-cert" },
    "local-images": { type: "bool", description: "Also serve the root's images by their repository names" },
    "upload-ttl": { type: "int", default: 86400, valueName: "seconds", description: "Remove an upload idle this long" },
  },
  args: { max: 0 },
} satisfies CommandSpec<Record<string, import("./flags.js").FlagDef>>;

const USAGE = `Usage:  cove registry COMMAND

Commands:
  serve       Serve an OCI distribution (Docker registry) API over cove's content store`;

function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`invalid argument "${value}" for "--listen" flag: expected host:port`, SERVE.name);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** cove's images of `root` as a LocalImages source: name:tag → the manifest the image was pulled or built as. */
function localImages(root: string): LocalImages {
  const store = new ImageStore({ root });
  return {
    async resolve(name, tag) {
      try {
        return { digest: (await store.get(`${name}:${tag}`)).target.digest };
      } catch (err) {
        if (err instanceof CoveError && (err.kind === "not-found" || err.kind === "invalid")) return undefined;
        throw err;
      }
    },
  };
}

export async function registryMain(root: string, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "serve") {
    const help = sub === undefined || sub === "--help" || sub === "-h";
    (help ? process.stdout : process.stderr).write(`${help ? "" : `cove: 'registry ${sub}' is not a cove command.\n`}${USAGE}\n`);
    return help ? 0 : 125;
  }
  let parsed;
  let listen: { host: string; port: number };
  const usage = (message: string) => new UsageError(message, SERVE.name);
  try {
    parsed = parseFlags(rest, SERVE);
    if (parsed.help) {
      process.stdout.write(helpText(SERVE) + "\n");
      return 0;
    }
    const f = parsed.flags;
    listen = parseListen(f.listen);
    if (!["none", "basic", "token"].includes(f.auth)) throw usage(`invalid argument "${f.auth}" for "--auth" flag: expected none, basic or token`);
    if (f.auth !== "none" && !f.htpasswd) throw usage(`--auth ${f.auth} needs --htpasswd FILE`);
    if (f.auth === "none" && f.htpasswd) throw usage("--htpasswd needs --auth basic or --auth token");
    if (!f["tls-cert"] !== !f["tls-key"]) throw usage("--tls-cert and --tls-key go together");
    if (f["upload-ttl"] <= 0) throw usage(`invalid argument "${f["upload-ttl"]}" for "--upload-ttl" flag: a number of seconds above 0`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.describe()}\n`);
      return err.status;
    }
    throw err;
  }
  const f = parsed.flags;
  const auth = f.auth as AuthMode;
  const { host, port } = listen;
  const serverRoot = f.root ?? root;
  const server = new RegistryServer({
    root: serverRoot,
    auth,
    ...(f.htpasswd ? { users: await loadHtpasswd(f.htpasswd) } : {}),
    ...(f["tls-cert"] && f["tls-key"] ? { tls: await readTls(f["tls-cert"], f["tls-key"]) } : {}),
    ...(f["local-images"] ? { local: localImages(serverRoot) } : {}),
    uploadTtlMs: f["upload-ttl"] * 1000,
    log: (line) => process.stderr.write(`cove registry: ${line}\n`),
  });
  const at = await server.listen(host, port);
  const shown = at.host.includes(":") ? `[${at.host}]` : at.host;
  process.stdout.write(`cove registry serving ${f["tls-cert"] ? "https" : "http"}://${shown}:${at.port} (root ${serverRoot}, auth ${auth})\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
  return 0;
}

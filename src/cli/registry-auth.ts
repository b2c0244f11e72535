// The registry commands of the cove CLI, as the docker CLI has them: push / image push, search,
// login and logout. Credentials live where the docker CLI keeps them (credentials.ts), and pull and push
// send the registry's stored credentials as X-Registry-Auth, as the docker CLI does.

import { encodeRegistryAuth, type AuthConfig } from "../registry/auth.js";
import { jsonLines, type ProgressMessage } from "../client/stream.js";
import { familiarString, parseNormalizedNamed, referenceString, tagNameOnly } from "../images/reference.js";
import { normalizePlatform, parsePlatform } from "../images/platforms.js";
import { CliError, command, type Command, type Run } from "./command.js";
import { credentialKey, eraseCredentials, getCredentials, storeCredentials } from "./credentials.js";
import { parseFilters, type FlagSpecs } from "./flags.js";
import { formatRows, GO_TYPE, RowContext } from "./format/index.js";
import { ellipsis } from "./units.js";
import type { ImageSearchResult } from "../docker/index.js";
import { splitSearchTerm } from "../registry/search.js";
import { readLine } from "./input.js";
import { displayJSONMessages } from "./progress.js";

/** The X-Registry-Auth value for a registry: its stored credentials, or an empty auth config. */
export async function registryAuthHeader(env: NodeJS.ProcessEnv, domain: string): Promise<string> {
  const auth = await getCredentials(env, domain);
  return encodeRegistryAuth(auth ?? {});
}

const PUSH_FLAGS = {
  "all-tags": { type: "bool", short: "a", description: "Push all tags of an image to the repository" },
  "disable-content-trust": { type: "bool", default: true, description: "Skip image signing" },
  platform: { type: "string", valueName: "string", description: "Push a platform-specific manifest as a single-platform image to the registry. 'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)" },
  quiet: { type: "bool", short: "q", description: "Suppress verbose output" },
} as const satisfies FlagSpecs;

const imagePush = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS] NAME[:TAG]`, summary: "Upload an image to a registry", flags: PUSH_FLAGS, args: { min: 1, max: 1 } }, async ({ flags, args }, run) => {
    let ref;
    try {
      ref = parseNormalizedNamed(args[0]!);
    } catch (err) {
      throw new CliError(`invalid reference format: ${(err as Error).message}`);
    }
    const nameOnly = ref.tag === undefined && ref.digest === undefined;
    if (flags["all-tags"] && !nameOnly) throw new CliError("tag can't be used with --all-tags/-a");
    if (!flags["all-tags"] && nameOnly) {
      ref = tagNameOnly(ref);
      if (!flags.quiet) run.out(`Using default tag: ${ref.tag as string}\n`);
    }
    let platform: string | undefined;
    if (flags.platform !== undefined && flags.platform !== "") {
      let p;
      try {
        p = normalizePlatform(parsePlatform(flags.platform));
      } catch (err) {
        throw new CliError(`invalid platform: ${(err as Error).message}`);
      }
      // the API's JSON-encoded OCI platform, keys in the docker CLI's order
      platform = JSON.stringify({ architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) });
    }
    const header = await registryAuthHeader(run.env, ref.domain);
    const res = await (await run.client()).imagePush(familiarString({ domain: ref.domain, path: ref.path }), { ...(ref.tag !== undefined ? { tag: ref.tag } : {}), ...(platform ? { platform } : {}) }, header);
    const stdout = run.io.stdout as NodeJS.WriteStream;
    const terminal = stdout.isTTY === true && !flags.quiet;
    await displayJSONMessages(jsonLines<ProgressMessage>(res), flags.quiet ? () => undefined : (s) => run.out(s), {
      terminal,
      ...(terminal && stdout.columns ? { width: stdout.columns } : {}),
    });
    if (flags.quiet) run.out(`${referenceString(ref)}\n`);
    return 0;
  });

const LOGIN_FLAGS = {
  password: { type: "string", short: "p", valueName: "string", description: "Password" },
  "password-stdin": { type: "bool", description: "Take the password from stdin" },
  username: { type: "string", short: "u", valueName: "string", description: "Username" },
} as const satisfies FlagSpecs;

/** Reads a password from a terminal without echoing it. */
async function readSecret(run: Run): Promise<string> {
  const stdin = run.io.stdin;
  stdin.setRawMode?.(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let buf = "";
      const onData = (chunk: Buffer | string) => {
        for (const ch of chunk.toString()) {
          if (ch === "\r" || ch === "\n") {
            stdin.removeListener("data", onData);
            stdin.pause();
            resolve(buf);
            return;
          }
          if (ch === "\u0003") {
            stdin.removeListener("data", onData);
            stdin.pause();
            reject(new CliError("login cancelled", 130));
            return;
          }
          if (ch === "\u007f") buf = buf.slice(0, -1);
          else buf += ch;
        }
      };
      stdin.on("data", onData);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode?.(false);
    run.out("\n");
  }
}

const login = command(
  { name: "login", usage: "cove login [OPTIONS] [SERVER]", summary: "Log in to a registry (Docker Hub when no server is given)", flags: LOGIN_FLAGS, args: { min: 0, max: 1 } },
  async ({ flags, args }, run) => {
    const server = args[0] ?? "";
    const key = credentialKey(server);
    let username = flags.username ?? "";
    let password = flags.password ?? "";
    if (flags.password !== undefined && flags["password-stdin"]) throw new CliError("--password and --password-stdin are mutually exclusive");
    if (flags["password-stdin"]) {
      if (username === "") throw new CliError("Must provide --username with --password-stdin");
      const chunks: Buffer[] = [];
      for await (const c of run.io.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
      password = Buffer.concat(chunks).toString("utf8").replace(/[\r\n]+$/, "");
    } else if (flags.password !== undefined) {
      run.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
    }
    if (username === "" || password === "") {
      if (!run.io.stdin.isTTY) throw new CliError("Error: Cannot perform an interactive login from a non TTY device");
      if (username === "") {
        run.out("Username: ");
        username = (await readLine(run.io.stdin)).trim();
        if (username === "") throw new CliError("Error: Non-null Username Required");
      }
      if (password === "") {
        run.out("Password: ");
        password = await readSecret(run);
        if (password === "") throw new CliError("Error: Password Required");
      }
    }
    const auth: AuthConfig = { username, password, serveraddress: key };
    const answer = await (await run.client()).registryLogin(auth);
    const where = await storeCredentials(run.env, server, { username, password, ...(answer.IdentityToken ? { identitytoken: answer.IdentityToken } : {}) });
    if (!where.helper) {
      run.err(`WARNING! Your credentials are stored unencrypted in '${where.file}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n`);
    }
    run.out(`${answer.Status || "Login Succeeded"}\n`);
    return 0;
  },
);

const logout = command({ name: "logout", usage: "cove logout [SERVER]", summary: "Log out from a registry (Docker Hub when no server is given)", flags: {}, args: { min: 0, max: 1 } }, async ({ args }, run) => {
  const server = args[0] ?? "";
  const key = credentialKey(server);
  const shown = server === "" ? key : server.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  if (!(await eraseCredentials(run.env, server))) {
    run.out(`Not logged in to ${shown}\n`);
    return 0;
  }
  run.out(`Removing login credentials for ${shown}\n`);
  return 0;
});

const SEARCH_FIELDS = ["Description", "IsAutomated", "IsOfficial", "Name", "StarCount"];

/** A search result as the docker CLI's formatter context (cli/command/registry/formatter_search.go). */
export class SearchRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*registry.searchContext" });
  }

  constructor(
    private readonly r: ImageSearchResult,
    private readonly trunc: boolean,
  ) {
    super();
  }

  protected fields(): readonly string[] {
    return SEARCH_FIELDS;
  }

  get Name(): string {
    return this.r.name;
  }
  get Description(): string {
    const d = this.r.description.replace(/[\r\n]/g, " ");
    return this.trunc ? ellipsis(d, 45) : d;
  }
  get StarCount(): string {
    return String(this.r.star_count);
  }
  get IsOfficial(): string {
    return this.r.is_official ? "[OK]" : "";
  }
  get IsAutomated(): string {
    return this.r.is_automated ? "[OK]" : "";
  }
}

const SEARCH_TABLE = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
const SEARCH_HEADERS: Record<string, string> = { Name: "NAME", Description: "DESCRIPTION", StarCount: "STARS", IsOfficial: "OFFICIAL", IsAutomated: "AUTOMATED" };

const SEARCH_FLAGS = {
  filter: { type: "list", short: "f", valueName: "filter", description: "Filter output based on conditions provided" },
  format: { type: "string", valueName: "string", description: "Pretty-print search using a Go template" },
  limit: { type: "int", default: 0, valueName: "int", description: "Max number of search results" },
  "no-trunc": { type: "bool", description: "Don't truncate output" },
} as const satisfies FlagSpecs;

/** `cove search TERM`: the daemon searches the registry the term names (Docker Hub unless it names one). */
const search = command({ name: "search", usage: "cove search [OPTIONS] TERM", summary: "Search a registry for images", flags: SEARCH_FLAGS, args: { min: 1, max: 1 } }, async ({ flags, args }, run) => {
  const term = args[0]!;
  const filters = parseFilters(flags.filter, "search");
  const header = await registryAuthHeader(run.env, splitSearchTerm(term).index);
  const results = await (await run.client()).imageSearch(term, { limit: flags.limit, filters }, header);
  const rows = results.map((r) => new SearchRow(r, !flags["no-trunc"]));
  const format = flags.format === undefined || flags.format === "" ? "table" : flags.format;
  run.out(formatRows(format, rows, SEARCH_TABLE, SEARCH_HEADERS));
  return 0;
});

/** The registry commands, keyed by command path (main.ts dispatches them with the image commands). */
export const registryCommands: Record<string, Command> = {
  push: imagePush("push"),
  "image push": imagePush("image push"),
  search,
  login,
  logout,
};

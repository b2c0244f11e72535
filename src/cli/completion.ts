// Shell completion: `cove completion bash|zsh|fish` prints a script for the shell, and the script
// asks `cove __complete WORD... CURRENT` what may come next, as cobra-based CLIs (docker's
// among them) do. The answers come from the command table (table.ts: commands, subcommands,
// flags, and from each usage line what kind of name an argument is) and from the daemon
// (container, image, network and volume names; never starting one), so a new command completes
// without anything added here. Each answer line is "WORD\tDESCRIPTION" (the description may be
// empty); bash shows the words, zsh and fish the descriptions too.

import { EngineClient } from "../client/index.js";
import { command, type Command } from "./command.js";
import { listContexts, endpoint } from "./context.js";
import type { CommandSpec, FlagSpecs } from "./flags.js";
import { UsageError } from "./flags.js";

export type NameKind = "container" | "image" | "network" | "volume" | "context";
export type ContainerState = "running" | "stopped" | "paused";

/** Where names come from (the daemon, or a test's lists). */
export interface NameSource {
  containers(state?: ContainerState): Promise<string[]>;
  images(): Promise<string[]>;
  networks(): Promise<string[]>;
  volumes(): Promise<string[]>;
  contexts(): Promise<string[]>;
}

/** Which containers make sense for a command, by its last word (docker's completion narrows them the same way). */
const CONTAINER_STATE: Record<string, ContainerState> = {
  start: "stopped",
  stop: "running",
  kill: "running",
  pause: "running",
  exec: "running",
  attach: "running",
  top: "running",
  stats: "running",
  unpause: "paused",
};

/** Flags whose value is a name, by flag name. */
const FLAG_KIND: Record<string, NameKind> = {
  network: "network",
  net: "network",
  "volumes-from": "container",
  volume: "volume",
  v: "volume",
  context: "context",
};

/** The kinds of names a usage token stands for ("CONTAINER", "[IMAGE...]", "NAME|ID"...). */
function tokenKinds(token: string): NameKind[] {
  if (/NAME\|ID/.test(token)) return ["container", "image"];
  if (/CONTAINER/.test(token)) return ["container"];
  if (/IMAGE|REPOSITORY|^\[?NAME\[:TAG/.test(token)) return ["image"];
  if (/NETWORK/.test(token)) return ["network"];
  if (/VOLUME/.test(token)) return ["volume"];
  if (/CONTEXT/.test(token)) return ["context"];
  return [];
}

/** What the n-th argument of a command is, from its usage line; a command that creates an object takes a new name. */
export function argumentKinds(spec: CommandSpec<FlagSpecs>, n: number): NameKind[] {
  if (/(^| )create$/.test(spec.name)) return [];
  const usage = (spec.usage ?? "").split("\n")[0]!.trim().split(/\s+/);
  const tokens = usage.slice(1 + spec.name.split(" ").length).filter((t) => t !== "[OPTIONS]");
  if (tokens.length === 0) return [];
  const token = n < tokens.length ? tokens[n]! : tokens[tokens.length - 1]!.endsWith("...]") ? tokens[tokens.length - 1]! : undefined;
  return token === undefined ? [] : tokenKinds(token);
}

const line = (word: string, description = "") => `${word}\t${description.replace(/\s+/g, " ").trim()}`;
const byPrefix = (cur: string) => (l: string) => l.startsWith(cur);

async function names(source: NameSource, kinds: NameKind[], state?: ContainerState): Promise<string[]> {
  const out: string[] = [];
  for (const k of kinds) {
    if (k === "container") out.push(...(await source.containers(state)));
    else if (k === "image") out.push(...(await source.images()));
    else if (k === "network") out.push(...(await source.networks()));
    else if (k === "volume") out.push(...(await source.volumes()));
    else out.push(...(await source.contexts()));
  }
  return [...new Set(out)].sort();
}

/** The global flags main.ts reads before the command. */
const GLOBAL_FLAGS: Record<string, string> = { "--root": "State directory (default /var/lib/cove, or $COVE_ROOT)", "--help": "Print the list of commands", "--version": "Print the version" };

/**
 * What may stand at the last of `words` (the words after "cove", the last one being typed, maybe
 * ""): lines "WORD\tDESCRIPTION".
 */
export async function completions(words: readonly string[], table: Record<string, Command>, engine: Record<string, string>, source: NameSource): Promise<string[]> {
  const cur = words[words.length - 1] ?? "";
  let before = words.slice(0, -1);
  // the global --root DIR
  while (before[0]?.startsWith("--root")) before = before.slice(before[0] === "--root" ? 2 : 1);
  if (before.length === 0 && words.length >= 2 && words[words.length - 2] === "--root") return []; // a directory: the shell's own completion
  if (before.length === 0) {
    if (cur.startsWith("-")) return Object.entries(GLOBAL_FLAGS).map(([f, d]) => line(f, d)).filter(byPrefix(cur));
    const top = new Map<string, string>();
    for (const [key, cmd] of Object.entries(table)) {
      const [first, second] = key.split(" ") as [string, string | undefined];
      if (second === undefined) top.set(first, cmd.spec?.summary ?? "");
      else if (!top.has(first)) top.set(first, `${first} commands (cove ${first} --help)`);
    }
    for (const [name, summary] of Object.entries(engine)) if (!top.has(name)) top.set(name, summary);
    return [...top].map(([w, d]) => line(w, d)).filter(byPrefix(cur)).sort();
  }
  const first = before[0]!;
  let path: string | undefined;
  let rest: string[] = [];
  if (before.length >= 2 && table[`${first} ${before[1]}`]) {
    path = `${first} ${before[1]}`;
    rest = before.slice(2);
  } else if (before.length === 1 && Object.keys(table).some((k) => k.startsWith(`${first} `))) {
    // a group: its subcommands
    return Object.entries(table)
      .filter(([k]) => k.startsWith(`${first} `))
      .map(([k, c]) => line(k.slice(first.length + 1), c.spec?.summary))
      .filter(byPrefix(cur))
      .sort();
  } else if (table[first]) {
    path = first;
    rest = before.slice(1);
  }
  const spec = path === undefined ? undefined : table[path]!.spec;
  if (!spec) return [];
  const flags = spec.flags;
  const byShort = new Map(Object.entries(flags).flatMap(([n, d]) => (d.short ? [[d.short, n] as const] : [])));
  let positionals = 0;
  let pending: string | undefined; // a flag waiting for its value
  let ended = false;
  for (const w of rest) {
    if (pending !== undefined) {
      pending = undefined;
      continue;
    }
    if (!ended && w === "--") {
      ended = true;
      continue;
    }
    if (!ended && w.startsWith("--")) {
      const name = w.slice(2);
      if (!name.includes("=") && flags[name] && flags[name]!.type !== "bool") pending = name;
      continue;
    }
    if (!ended && w.startsWith("-") && w.length > 1) {
      const last = w[w.length - 1]!;
      const name = byShort.get(last);
      if (name && flags[name]!.type !== "bool" && !w.slice(1, -1).split("").some((c) => byShort.has(c) && flags[byShort.get(c)!]!.type !== "bool")) pending = name;
      continue;
    }
    positionals++;
  }
  const state = CONTAINER_STATE[spec.name.split(" ").pop()!];
  if (pending !== undefined) {
    const kind = FLAG_KIND[pending];
    return kind ? (await names(source, [kind])).filter(byPrefix(cur)).map((n) => line(n)) : [];
  }
  // a command that runs one of its own (run IMAGE COMMAND...) leaves that to the shell
  if (spec.stopAtFirstPositional && positionals >= 1) return [];
  if (cur.startsWith("-")) {
    const eq = cur.indexOf("=");
    if (cur.startsWith("--") && eq > 0) {
      const kind = FLAG_KIND[cur.slice(2, eq)];
      const prefix = cur.slice(0, eq + 1);
      return kind ? (await names(source, [kind])).map((n) => prefix + n).filter(byPrefix(cur)).map((n) => line(n)) : [];
    }
    const shown = Object.entries(flags).filter(([, d]) => !d.hidden);
    const out = shown.map(([n, d]) => line(`--${n}`, d.description));
    out.push(line("--help", "Print usage"));
    // "-" alone, or a short flag: the one-letter forms too
    if (!cur.startsWith("--")) out.push(...shown.flatMap(([, d]) => (d.short ? [line(`-${d.short}`, d.description)] : [])), line("-h", "Print usage"));
    return out.filter(byPrefix(cur)).sort();
  }
  return (await names(source, argumentKinds(spec, positionals), state)).filter(byPrefix(cur)).map((n) => line(n));
}

/** Names from the daemon the CLI would talk to; none when no daemon answers (completion never starts one). */
export function daemonNames(env: NodeJS.ProcessEnv = process.env, timeoutMs = 3000): NameSource {
  let client: EngineClient | undefined;
  const get = async <T>(fn: (c: EngineClient) => Promise<T[]>): Promise<T[]> => {
    try {
      client ??= new EngineClient({ socket: endpoint(env).socket });
      const c = client;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<T[]>((resolve) => (timer = setTimeout(() => resolve([]), timeoutMs)));
      try {
        return await Promise.race([fn(c), timeout]);
      } finally {
        clearTimeout(timer);
      }
    } catch {
      // no daemon, or it failed: completion offers no names rather than an error in the prompt
      return [];
    }
  };
  return {
    containers: async (state) => {
      const status = state === "running" ? ["running"] : state === "paused" ? ["paused"] : state === "stopped" ? ["created", "exited"] : undefined;
      const list = await get((c) => c.containerList({ all: true, ...(status ? { filters: { status } } : {}) }));
      return list.flatMap((s) => (s.Names ?? []).map((n) => n.replace(/^\//, "")));
    },
    images: async () => (await get((c) => c.imageList())).flatMap((i) => (i.RepoTags ?? []).filter((t) => t !== "<none>:<none>")),
    networks: async () => (await get((c) => c.json<{ Name: string }[]>("GET", "/networks"))).map((n) => n.Name),
    volumes: async () => (await get(async (c) => (await c.volumeList()).Volumes ?? [])).map((v) => v.Name),
    contexts: async () => listContexts(env).map((m) => m.Name),
  };
}

/** The script for a shell; it runs `cove __complete`. */
export function completionScript(shell: string): string {
  switch (shell) {
    case "bash":
      return `# bash completion for cove: source <(cove completion bash)
# (or save it as /etc/bash_completion.d/cove). The answers come from \`cove __complete\`.
_cove() {
  local words=() i w
  # bash splits "busybox:latest" and "--network=x" at ':' and '=' (COMP_WORDBREAKS): glue them back
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if (( \${#words[@]} > 0 )) && [[ $w == [:=] || \${COMP_WORDS[i-1]} == [:=] ]]; then
      words[-1]+=$w
    else
      words+=("$w")
    fi
  done
  (( \${#words[@]} == 0 )) && words=("")
  # bash replaces only its own current word: strip what comes before it from each answer
  local cur=\${COMP_WORDS[COMP_CWORD]} full=\${words[-1]} prefix line
  prefix=\${full%"$cur"}
  COMPREPLY=()
  while IFS= read -r line; do
    line=\${line%%$'\\t'*}
    [[ -n $line ]] && COMPREPLY+=("\${line#"$prefix"}")
  done < <("\${COMP_WORDS[0]}" __complete "\${words[@]}" 2>/dev/null)
}
complete -o default -F _cove cove
`;
    case "zsh":
      return `#compdef cove
# zsh completion for cove: source <(cove completion zsh), or save it as _cove in a directory of
# $fpath. The answers come from \`cove __complete\`.
_cove() {
  local -a lines items
  local line word desc
  lines=("\${(@f)$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for line in "\${lines[@]}"; do
    [[ -z $line ]] && continue
    word=\${line%%$'\\t'*}
    desc=\${line#*$'\\t'}
    items+=("\${word//:/\\\\:}\${desc:+:$desc}")
  done
  if (( \${#items} )); then
    _describe -t cove 'cove' items
  else
    _files
  fi
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _cove "$@"
else
  compdef _cove cove
fi
`;
    case "fish":
      return `# fish completion for cove: cove completion fish | source
# (or save it as ~/.config/fish/completions/cove.fish). The answers come from \`cove __complete\`.
function __cove_complete
    set -l args (commandline -opc) (commandline -ct)
    set -e args[1]
    cove __complete $args 2>/dev/null
end
complete -c cove -e
complete -c cove -f -a '(__cove_complete)'
`;
    default:
      throw new UsageError(`unsupported shell "${shell}": cove completes bash, zsh and fish`, "completion");
  }
}

const completionCommand = command(
  {
    name: "completion",
    usage: "cove completion bash|zsh|fish",
    summary: "Print the shell completion script: source <(cove completion bash); cove completion fish | source",
    flags: {},
    args: { min: 1, max: 1 },
  },
  async ({ args }, run) => {
    run.out(completionScript(args[0]!));
    return 0;
  },
);

/** `cove __complete WORD... CURRENT`: what the shell scripts ask. Hidden: no --help of its own, every word is the command line's. */
const completeCommand: Command = async (argv, ctx) => {
  const { commandTable, ENGINE_COMMANDS } = await import("./table.js");
  const out = ctx.io?.stdout ?? process.stdout;
  const lines = await completions(argv.length ? argv : [""], await commandTable(), ENGINE_COMMANDS, daemonNames(ctx.env ?? process.env));
  out.write(lines.map((l) => l + "\n").join(""));
  return 0;
};

export const completionCommands: Record<string, Command> = {
  completion: completionCommand,
};

/** The hidden command the scripts call; main.ts dispatches it before anything else, so no flag of it is ever parsed. */
export const completeWords = completeCommand;

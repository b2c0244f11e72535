// The raw Dockerfile parse, as BuildKit's parser does it (frontend/dockerfile/parser): parser
// directives (syntax, escape, check) at the top, comments, line continuations with the escape
// character, heredocs on ADD/COPY/RUN (<<EOF, <<-EOF, quoted delimiters, several on one line),
// builder flags (--from=, --mount=, ...), and per instruction the split of its arguments (JSON
// exec form, shell form, whitespace-separated words, key=value pairs). Nothing is expanded or
// unquoted here; instructions.ts turns nodes into typed instructions.
//
// dumpNode/dumpAst print the tree in the notation of BuildKit's parser test data
// (../shared/specs/dockerfile/parser-testfiles/*/result).

import { DockerfileError } from "./errors.js";
import { NO_ENV, ShellLex, ShellLexError, isSpace } from "./shell-lex.js";

export interface Heredoc {
  /** The delimiter word with its quotes removed. */
  name: string;
  /** The file descriptor written before `<<` (`3<<EOF`), 0 when none. */
  fileDescriptor: number;
  /** Whether variables in the content expand: false when the delimiter was quoted. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the content and the terminator. */
  chomp: boolean;
  /** The lines between the instruction and the terminator, line endings kept. */
  content: string;
}

export interface Node {
  /** The instruction keyword as written (`FROM`, `run`). */
  value: string;
  /** Builder flags as written (`--from=build`), without the `--` end-of-flags marker. */
  flags: string[];
  /** The arguments, split as the instruction's line parser does (see dumpNode). */
  args: string[];
  /** ONBUILD's trigger instruction. */
  trigger?: Node;
  /** The arguments were written in JSON (exec) form. */
  json: boolean;
  heredocs: Heredoc[];
  /** The instruction's text with continuations joined, before splitting. */
  original: string;
  /** 1-based first and last source line (heredoc bodies included). */
  startLine: number;
  endLine: number;
  /** Comment lines directly above the instruction. */
  comments: string[];
}

export interface Directive {
  name: "syntax" | "escape" | "check";
  value: string;
  line: number;
}

export interface ParseResult {
  nodes: Node[];
  /** The escape character in effect (`\` or `` ` ``). */
  escape: string;
  directives: Directive[];
  /** Warnings such as empty continuation lines (BuildKit still accepts them). */
  warnings: { message: string; line: number }[];
  /** The source split into lines, without line endings, for error excerpts. */
  lines: string[];
  file: string;
}

/** Instructions the parser splits; anything else parses to one empty argument and fails later as unknown. */
export const INSTRUCTIONS = ["add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir"] as const;

const HEREDOC_INSTRUCTIONS = new Set(["add", "copy", "run"]);
const WHITESPACE = /[\t\v\f\r ]+/;
const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

class ParseFailure extends Error {}

/** Go's strings.TrimSpace. */
function trimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s.charCodeAt(a))) a++;
  while (b > a && isSpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

const trimLeft = (s: string) => {
  let a = 0;
  while (a < s.length && isSpace(s.charCodeAt(a))) a++;
  return s.slice(a);
};
const trimNewline = (s: string) => s.replace(/[\r\n]+$/, "");
const isComment = (s: string) => trimLeft(s).startsWith("#");

/** Parser directives at the top of the file: `# name=value` lines before anything else. */
class DirectiveParser {
  private done = false;
  private readonly seen = new Set<string>();

  parseLine(line: string): { name: Directive["name"]; value: string } | undefined {
    if (this.done) return undefined;
    if (!line.startsWith("#")) {
      this.done = true;
      return undefined;
    }
    const m = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/s.exec(trimLeft(line.slice(1)));
    const name = m?.[1]!.toLowerCase();
    if (!m || (name !== "syntax" && name !== "escape" && name !== "check")) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(name)) throw new ParseFailure(`only one ${name} parser directive can be used`);
    this.seen.add(name);
    return { name, value: m[2]! };
  }
}

/** Parse state that directives change. */
class Directives {
  escape = "\\";
  private continuation!: RegExp;
  readonly parser = new DirectiveParser();

  constructor() {
    this.setEscape("\\");
  }

  setEscape(s: string): void {
    if (s !== "`" && s !== "\\") throw new ParseFailure(`invalid escape token '${s}' does not match \` or \\`);
    this.escape = s;
    const e = "\\" + s;
    this.continuation = new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`, "s");
  }

  /** The line without its continuation character, and whether the instruction ends here. */
  trimContinuation(line: string): [string, boolean] {
    if (this.continuation.test(line)) return [line.replace(this.continuation, "$1"), false];
    return [line, true];
  }
}

/**
 * A Dockerfile's bytes as text. Valid UTF-8 decodes as usual; each byte that is not part of a
 * valid sequence becomes a lone surrogate U+DC80..U+DCFF (Python's "surrogateescape"), so the
 * parse keeps it and goQuote prints it as `\xNN`, as BuildKit (which works on bytes) does.
 */
export function decodeDockerfile(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  const n = bytes.length;
  const cont = (k: number) => k < n && (bytes[k]! & 0xc0) === 0x80;
  while (i < n) {
    const b = bytes[i]!;
    let cp = -1;
    let len = 1;
    if (b < 0x80) cp = b;
    else if (b >= 0xc2 && b <= 0xdf && cont(i + 1)) [cp, len] = [((b & 0x1f) << 6) | (bytes[i + 1]! & 0x3f), 2];
    else if (b >= 0xe0 && b <= 0xef && cont(i + 1) && cont(i + 2)) {
      const v = ((b & 0x0f) << 12) | ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f);
      if (v >= 0x800 && (v < 0xd800 || v > 0xdfff)) [cp, len] = [v, 3];
    } else if (b >= 0xf0 && b <= 0xf4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      const v = ((b & 0x07) << 18) | ((bytes[i + 1]! & 0x3f) << 12) | ((bytes[i + 2]! & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
      if (v >= 0x10000 && v <= 0x10ffff) [cp, len] = [v, 4];
    }
    if (cp < 0) {
      out += String.fromCharCode(0xdc00 + b);
      i += 1;
    } else {
      out += String.fromCodePoint(cp);
      i += len;
    }
  }
  return out;
}

/** The bytes of text from decodeDockerfile (escaped bytes restored) as a binary string, one char per byte. */
function toBinary(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    out += c >= 0xdc80 && c <= 0xdcff ? String.fromCharCode(c - 0xdc00) : Buffer.from(ch, "utf8").toString("latin1");
  }
  return out;
}

/** A binary string's bytes as text (decodeDockerfile). */
const fromBinary = (bin: string) => decodeDockerfile(Buffer.from(bin, "latin1"));

/** A character as Go's utf8.DecodeRune yields it: a byte that is not UTF-8 becomes U+FFFD. */
const goRune = (ch: string) => (ch.length === 1 && ch.charCodeAt(0) >= 0xdc80 && ch.charCodeAt(0) <= 0xdcff ? "\ufffd" : ch);

/**
 * Go's strings.ToLower: each character on its own (no final-sigma rule, U+0130 to "i"), and a
 * byte that is not UTF-8 becomes U+FFFD.
 */
export function goLower(s: string): string {
  return Array.from(s, (ch) => (ch === "\u0130" ? "i" : goRune(ch.toLowerCase()))).join("");
}

/** Go's strconv.Quote (a lone surrogate U+DC80..U+DCFF from decodeDockerfile is the byte it stands for). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (c === 0x20 || (c > 0x20 && c !== 0x7f && /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch))) out += ch;
    else if (c === 0x07) out += "\\a";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0b) out += "\\v";
    else if (c < 0x80) out += "\\x" + c.toString(16).padStart(2, "0");
    else if (c >= 0xdc80 && c <= 0xdcff) out += "\\x" + (c - 0xdc00).toString(16).padStart(2, "0");
    else if (c >= 0xd800 && c <= 0xdfff) out += "\\ufffd";
    else if (c < 0x10000) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += "\\U" + c.toString(16).padStart(8, "0");
  }
  return out + '"';
}

/** One instruction in the test data's notation, e.g. `(copy ["--from=a"] "x" "/y")`. */
export function dumpNode(node: Node): string {
  let s = goLower(node.value);
  if (node.flags.length > 0) s += ` [${node.flags.map(goQuote).join(" ")}]`;
  for (const a of node.args) s += " " + goQuote(a);
  if (node.trigger) s += " (" + dumpNode(node.trigger) + ")";
  return trimSpace(s);
}

/** The whole parse, one line per instruction, ending in a newline (the `result` files' format). */
export function dumpAst(nodes: readonly Node[]): string {
  return trimSpace(nodes.map((n) => `(${dumpNode(n)})\n`).join("")) + "\n";
}

/**
 * Splits `--flags` off the front of an instruction's arguments (BuildKit's extractBuilderFlags).
 * BuildKit walks this part byte by byte, each byte taken for a character (so a non-ASCII flag
 * value reads as Latin-1, and the bytes 0x85 and 0xA0 count as spaces): so does this, for the
 * same result on every input.
 */
function extractFlags(text: string, escape: string): [string, string[]] {
  const [rest, words] = extractFlagsBinary(toBinary(text), escape);
  return [fromBinary(rest), words];
}

function extractFlagsBinary(line: string, escape: string): [string, string[]] {
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let buf = "";
  let quote = "";
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    let ch = pos < line.length ? line[pos]! : "";
    if (phase === "spaces") {
      if (pos === line.length) break;
      if (isSpace(ch.charCodeAt(0))) continue;
      if (ch !== "-" || pos + 1 === line.length || line[pos + 1] !== "-") return [line.slice(pos), words];
      phase = "word";
    }
    if (pos === line.length) {
      if (buf !== "--" && (blankOK || buf.length > 0)) words.push(buf);
      break;
    }
    if (phase === "word") {
      if (isSpace(ch.charCodeAt(0))) {
        phase = "spaces";
        if (buf === "--") return [line.slice(pos), words];
        if (blankOK || buf.length > 0) words.push(buf);
        buf = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos]!;
      }
      buf += ch;
      continue;
    }
    // in quotes
    if (ch === quote) {
      phase = "word";
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === line.length) {
        phase = "word";
        continue;
      }
      pos++;
      ch = line[pos]!;
    }
    buf += ch;
  }
  return ["", words];
}

/** Words as written, quotes and escapes kept (BuildKit's parseWords, for ENV, LABEL and ARG). */
function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  // decoded as Go decodes runes: a byte that is not UTF-8 is U+FFFD in the words
  const chars = Array.from(rest, goRune);
  let phase: "spaces" | "word" | "quote" = "spaces";
  let quote = "";
  let blankOK = false;
  let buf = "";
  for (let i = 0; i <= chars.length; i++) {
    let ch = i < chars.length ? chars[i]! : "";
    if (phase === "spaces") {
      if (i === chars.length) break;
      if (isSpace(ch.codePointAt(0)!)) continue;
      phase = "word";
    }
    if (i === chars.length) {
      if (blankOK || buf.length > 0) words.push(buf);
      break;
    }
    if (phase === "word") {
      if (isSpace(ch.codePointAt(0)!)) {
        phase = "spaces";
        if (blankOK || buf.length > 0) words.push(buf);
        buf = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
      }
      if (ch === escape) {
        if (i + 1 === chars.length) continue;
        buf += ch;
        i++;
        ch = chars[i]!;
      }
      buf += ch;
      continue;
    }
    if (ch === quote) phase = "word";
    if (ch === escape && quote !== "'") {
      if (i + 1 === chars.length) {
        phase = "word";
        continue;
      }
      i++;
      buf += ch;
      ch = chars[i]!;
    }
    buf += ch;
  }
  return words;
}

interface Split {
  args: string[];
  json?: boolean;
  trigger?: Node;
}

function parseNameVal(rest: string, key: string, escape: string): Split {
  const words = parseWords(rest, escape);
  if (words.length === 0) return { args: [] };
  if (!words[0]!.includes("=")) {
    const m = WHITESPACE.exec(rest);
    if (!m) throw new ParseFailure(`${key} must have two arguments`);
    return { args: [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ""] };
  }
  const args: string[] = [];
  for (const word of words) {
    const i = word.indexOf("=");
    if (i < 0) throw new ParseFailure(`Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
    args.push(word.slice(0, i), word.slice(i + 1), "=");
  }
  return { args };
}

const splitWhitespace = (rest: string): Split => ({ args: rest === "" ? [] : rest.split(WHITESPACE) });

function parseJSON(rest: string): Split | "not-json" {
  const text = trimLeft(rest);
  if (!text.startsWith("[")) return "not-json";
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not valid JSON: the shell form, as BuildKit falls back to it
    return "not-json";
  }
  if (!Array.isArray(parsed)) return "not-json";
  if (!parsed.every((e): e is string => typeof e === "string")) throw new ParseFailure("when using JSON array syntax, arrays must be comprised of strings only");
  // Go's JSON decoder turns bytes that are not UTF-8 into U+FFFD
  return { args: parsed.map((e) => e.replace(/[\udc80-\udcff]/gu, "\ufffd")), json: true };
}

function parseMaybeJSON(rest: string): Split {
  if (rest === "") return { args: [] };
  const j = parseJSON(rest);
  return j === "not-json" ? { args: [rest] } : j;
}

function parseMaybeJSONToList(rest: string): Split {
  const j = parseJSON(rest);
  return j === "not-json" ? splitWhitespace(rest) : j;
}

/** HEALTHCHECK's type word and command; BuildKit finds the split byte by byte (as extractFlags). */
function parseHealthConfig(text: string): Split {
  const rest = toBinary(text);
  let sep = 0;
  while (sep < rest.length && !isSpace(rest.charCodeAt(sep))) sep++;
  let next = sep;
  while (next < rest.length && isSpace(rest.charCodeAt(next))) next++;
  if (sep === 0) return { args: [] };
  const cmd = parseMaybeJSON(fromBinary(rest.slice(next)));
  return { args: [fromBinary(rest.slice(0, sep)), ...cmd.args], ...(cmd.json ? { json: true } : {}) };
}

function splitArgs(cmd: string, rest: string, d: Directives): Split {
  switch (goLower(cmd)) {
    case "add":
    case "copy":
    case "volume":
      return parseMaybeJSONToList(rest);
    case "cmd":
    case "entrypoint":
    case "run":
    case "shell":
      return parseMaybeJSON(rest);
    case "arg":
      return { args: parseWords(rest, d.escape) };
    case "env":
      return parseNameVal(rest, "ENV", d.escape);
    case "label":
      return parseNameVal(rest, "LABEL", d.escape);
    case "expose":
    case "from":
      return splitWhitespace(rest);
    case "healthcheck":
      return parseHealthConfig(rest);
    case "maintainer":
    case "stopsignal":
    case "user":
    case "workdir":
      return { args: rest === "" ? [] : [rest] };
    case "onbuild":
      return rest === "" ? { args: [] } : { args: [], trigger: nodeFromLine(rest, d, []) };
    default:
      // unknown instructions parse; instructions.ts reports them with a suggestion
      return { args: [""] };
  }
}

function nodeFromLine(line: string, d: Directives, comments: string[]): Node {
  const trimmed = trimSpace(line);
  const m = WHITESPACE.exec(trimmed);
  const cmd = m ? trimmed.slice(0, m.index) : trimmed;
  let rest = "";
  let flags: string[] = [];
  if (m) [rest, flags] = extractFlags(trimmed.slice(m.index + m[0].length), d.escape);
  const split = splitArgs(cmd, trimSpace(rest), d);
  const node: Node = { value: cmd, flags, args: split.args, json: split.json ?? false, heredocs: [], original: line, startLine: 0, endLine: 0, comments };
  if (split.trigger) node.trigger = split.trigger;
  return node;
}

function setLines(node: Node, start: number, end: number): void {
  node.startLine = start;
  node.endLine = end;
  if (node.trigger) setLines(node.trigger, start, end);
}

function canContainHeredoc(node: Node): boolean {
  const target = goLower(node.value) === "onbuild" && node.trigger ? node.trigger : node;
  return HEREDOC_INSTRUCTIONS.has(goLower(target.value)) && !target.json;
}

/** A heredoc introduced by one word of an instruction (`<<EOF`, `<<-"EOF"`, `3<<EOF`), or undefined. */
export function parseHeredocWord(word: string): Omit<Heredoc, "content"> | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m || m[3] === "") return undefined;
  const rest = m[3]!;
  const words = new ShellLex({ skipUnset: true }).processWords(rest, NO_ENV);
  if (words.length !== 1) return undefined;
  const raw = new ShellLex({ skipUnset: true, rawQuotes: true }).processWords(rest, NO_ENV);
  if (raw.length !== words.length) throw new ParseFailure(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
  return { name: words[0]!, expand: quotes(words[0]!) === quotes(raw[0]!), chomp: m[2] === "-", fileDescriptor: m[1] ? Number(m[1]) : 0 };
}

/** The heredocs an instruction line introduces, in order. */
export function heredocsFromLine(line: string): Omit<Heredoc, "content">[] {
  let words: string[];
  try {
    words = new ShellLex({ rawQuotes: true, rawEscapes: true, skipUnset: true }).processWords(line, NO_ENV);
  } catch {
    // BuildKit ignores lexing errors here: an unbalanced quote is no heredoc
    words = [];
  }
  return words.map(parseHeredocWord).filter((h): h is Omit<Heredoc, "content"> => h !== undefined);
}

/** parseHeredocWord, with a malformed delimiter (`<<'EOF`) read as no heredoc (BuildKit's MustParseHeredoc). */
export function heredocWordOrUndefined(word: string): Omit<Heredoc, "content"> | undefined {
  try {
    return parseHeredocWord(word);
  } catch (err) {
    if (err instanceof ShellLexError || err instanceof ParseFailure) return undefined;
    throw err;
  }
}

/** Removes leading tabs from every line of a `<<-` heredoc's content. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, "");
}

/** Column (1-based) of the first non-blank character of a line. */
function firstColumn(text: string): number {
  const m = /^[\t ]*/.exec(text);
  return (m ? m[0].length : 0) + 1;
}

/**
 * Parses a Dockerfile. Throws DockerfileError (file, line, column, line text) on a syntax error,
 * e.g. a file without instructions, an unterminated heredoc, a JSON array of non-strings.
 */
export function parseDockerfile(text: string, file = "Dockerfile"): ParseResult {
  const scanned = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines.length > 0 && lines[0]!.startsWith("\uFEFF")) lines[0] = lines[0]!.slice(1);
  const fail = (reason: string, line: number, column?: number, endLine?: number): never => {
    const lineText = lines[line - 1] ?? "";
    throw new DockerfileError(reason, { file, line, column: column ?? firstColumn(lineText), lineText, endLine: endLine ?? line });
  };
  const d = new Directives();
  const directives: Directive[] = [];
  const warnings: ParseResult["warnings"] = [];
  const nodes: Node[] = [];
  let comments: string[] = [];
  let current = 0;
  let i = 0;
  const processLine = (token: string, stripLeft: boolean): [string, boolean] => {
    token = trimNewline(token);
    if (stripLeft) token = trimLeft(token);
    const directive = d.parser.parseLine(token);
    if (directive) {
      if (directive.name === "escape") d.setEscape(directive.value);
      directives.push({ ...directive, line: current + 1 });
    }
    return [isComment(token) ? "" : token, directive !== undefined];
  };
  while (i < scanned.length) {
    let raw = scanned[i++]!;
    if (current === 0 && raw.startsWith("\uFEFF")) raw = raw.slice(1);
    if (isComment(raw)) {
      // as BuildKit: the line's first character dropped, then spaces trimmed
      const comment = trimSpace(raw.slice(1));
      if (comment === "") comments = [];
      else comments.push(comment);
    }
    let bytes: string;
    let directiveOk: boolean;
    try {
      [bytes, directiveOk] = processLine(raw, true);
    } catch (err) {
      if (err instanceof ParseFailure) fail(err.message, current + 1);
      throw err;
    }
    if (directiveOk) comments.pop();
    current++;
    const startLine = current;
    let isEnd: boolean;
    [bytes, isEnd] = d.trimContinuation(bytes);
    if (isEnd && bytes.length === 0) continue;
    let buf = bytes;
    let emptyContinuation = false;
    while (!isEnd && i < scanned.length) {
      const next = scanned[i++]!;
      let part: string;
      try {
        [part] = processLine(next, false);
      } catch (err) {
        if (err instanceof ParseFailure) fail(err.message, current + 1);
        throw err;
      }
      current++;
      if (isComment(next)) continue;
      if (trimLeft(trimNewline(part)).length === 0) {
        emptyContinuation = true;
        continue;
      }
      [part, isEnd] = d.trimContinuation(part);
      buf += part;
    }
    if (emptyContinuation) warnings.push({ message: `Empty continuation line found in: ${buf}`, line: current });
    let node: Node;
    try {
      node = nodeFromLine(buf, d, comments);
    } catch (err) {
      if (err instanceof ParseFailure) fail(err.message, startLine, undefined, current);
      throw err;
    }
    if (canContainHeredoc(node) && buf.includes("<<")) {
      let docs: Omit<Heredoc, "content">[];
      try {
        docs = heredocsFromLine(buf);
      } catch (err) {
        if (err instanceof ParseFailure || err instanceof ShellLexError) fail(err.message, startLine, undefined, current);
        throw err;
      }
      for (const doc of docs) {
        let terminated = false;
        let content = "";
        while (i < scanned.length) {
          const line = scanned[i++]!;
          current++;
          let candidate = trimNewline(line);
          if (doc.chomp) candidate = candidate.replace(/^\t+/, "");
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          content += line;
        }
        if (!terminated) fail(`unterminated heredoc ${doc.name}: no line reads ${goQuote(doc.name)} before the end of the file`, startLine, undefined, current);
        node.heredocs.push({ ...doc, content });
      }
    }
    setLines(node, startLine, current);
    nodes.push(node);
    comments = [];
  }
  if (nodes.length === 0) fail("file with no instructions", Math.max(1, current), 1);
  return { nodes, escape: d.escape, directives, warnings, lines, file };
}

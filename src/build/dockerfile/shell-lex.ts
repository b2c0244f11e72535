// Variable substitution in Dockerfile words, as BuildKit's shell lexer does it
// (frontend/dockerfile/shell/lex.go): $VAR and ${VAR}, the modifiers :- - :+ + :? ? # ## % %%
// / and //, single and double quotes, the escape character (backslash, or backtick under the
// escape directive), and splitting into words for the instructions that take word lists.
// The builder expands ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR
// (and ONBUILD triggers of those when they run); RUN, CMD and ENTRYPOINT are left to the shell.
//
// Pure functions over strings; no state outside the lexer object.

/** Instructions whose arguments the builder expands (reference.md, "Environment replacement"), plus ARG, whose defaults BuildKit expands too. */
export const EXPANDING_INSTRUCTIONS: ReadonlySet<string> = new Set(["add", "copy", "env", "expose", "from", "label", "stopsignal", "user", "volume", "workdir", "arg"]);

/** Where variables come from. */
export interface EnvGetter {
  get(name: string): string | undefined;
}

/** An EnvGetter over `KEY=value` strings; a later entry wins, `KEY` alone is set and empty. */
export function envFromList(list: readonly string[]): EnvGetter {
  const map = new Map<string, string>();
  for (const e of list) {
    const i = e.indexOf("=");
    map.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  return { get: (name) => map.get(name) };
}

/** An EnvGetter over a plain record. */
export function envFromRecord(rec: Readonly<Record<string, string>>): EnvGetter {
  return { get: (name) => (Object.prototype.hasOwnProperty.call(rec, name) ? rec[name] : undefined) };
}

export const NO_ENV: EnvGetter = { get: () => undefined };

/** A substitution error (bad syntax, `${X:?msg}` with X unset); the caller adds the instruction's position. */
export class ShellLexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShellLexError";
  }
}

export interface LexOptions {
  /** The escape character: `\` (default) or `` ` ``. */
  escape?: string;
  /** Keep quote characters in the result (BuildKit's RawQuotes). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result (BuildKit's RawEscapes). */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written (BuildKit's SkipUnsetEnv). */
  skipUnset?: boolean;
  /** Treat quotes as plain characters (BuildKit's SkipProcessQuotes). */
  skipQuotes?: boolean;
}

const EOF = -1;

/** Go's unicode.IsSpace. */
export function isSpace(c: number): boolean {
  if (c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0) return true;
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

const isLetter = (c: number) => /\p{L}/u.test(String.fromCodePoint(c));
const isDigit = (c: number) => /\p{Nd}/u.test(String.fromCodePoint(c));

/**
 * Words being split. The buffer of the current word is shared by every level of one lexer run,
 * as in BuildKit, where a nested `${VAR...}` operand resets it: characters of the current word
 * before such an operand are dropped from the split words (not from the expanded word).
 */
class Words {
  words: string[] = [];
  inWord = false;
  constructor(private readonly shared: { buf: string }) {}
  get buf(): string {
    return this.shared.buf;
  }
  set buf(v: string) {
    this.shared.buf = v;
  }
  addChar(c: number): void {
    if (isSpace(c) && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = "";
        this.inWord = false;
      }
    } else if (!isSpace(c)) this.addRawChar(c);
  }
  addRawChar(c: number): void {
    this.buf += String.fromCodePoint(c);
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch.codePointAt(0)!);
  }
  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  get(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = "";
      this.inWord = false;
    }
    return this.words;
  }
}

/** One run of the lexer over one word. */
class ShellWord {
  private readonly chars: number[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly escape: number;
  private readonly wordBuffer = { buf: "" };

  constructor(
    source: string,
    private readonly env: EnvGetter,
    private readonly opts: LexOptions,
  ) {
    this.chars = Array.from(source, (c) => c.codePointAt(0)!);
    this.rawEscapes = opts.rawEscapes ?? false;
    this.escape = (opts.escape ?? "\\").codePointAt(0)!;
  }

  private peek(): number {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }
  private next(): number {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  process(stop: number, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.processStopOn(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processStopOn(stop: number): { result: string; words: string[] } {
    let result = "";
    this.wordBuffer.buf = "";
    const words = new Words(this.wordBuffer);
    while (this.peek() !== EOF) {
      let ch = this.peek();
      if (stop !== EOF && ch === stop) {
        this.next();
        return { result, words: words.get() };
      }
      const special = ch === 0x24 /* $ */ ? () => this.processDollar() : ch === 0x3c /* < */ ? () => this.processPossibleHeredoc() : !this.opts.skipQuotes && ch === 0x27 ? () => this.processSingleQuote() : !this.opts.skipQuotes && ch === 0x22 ? () => this.processDoubleQuote() : undefined;
      if (special) {
        const tmp = special();
        result += tmp;
        if (ch === 0x24) words.addString(tmp);
        else words.addRawString(tmp);
        continue;
      }
      ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) {
          words.addRawChar(ch);
          result += String.fromCodePoint(ch);
        }
        ch = this.next();
        if (ch === EOF) break;
        words.addRawChar(ch);
      } else words.addChar(ch);
      result += String.fromCodePoint(ch);
    }
    if (stop !== EOF) throw new ShellLexError(`unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`);
    return { result, words: words.get() };
  }

  private processSingleQuote(): string {
    let result = "";
    let ch = this.next();
    if (this.opts.rawQuotes) result += String.fromCodePoint(ch);
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new ShellLexError("unexpected end of statement while looking for matching single-quote");
      if (ch === 0x27) {
        if (this.opts.rawQuotes) result += "'";
        return result;
      }
      result += String.fromCodePoint(ch);
    }
  }

  private processDoubleQuote(): string {
    let result = "";
    const open = this.next();
    if (this.opts.rawQuotes) result += String.fromCodePoint(open);
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new ShellLexError("unexpected end of statement while looking for matching double-quote");
      if (p === 0x22) {
        this.next();
        if (this.opts.rawQuotes) result += '"';
        return result;
      }
      if (p === 0x24) {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result += String.fromCodePoint(ch);
        const n = this.peek();
        if (n === EOF) continue;
        if (n === 0x22 || n === 0x24 || n === this.escape) ch = this.next();
      }
      result += String.fromCodePoint(ch);
    }
  }

  private lookup(name: string): string | undefined {
    return this.env.get(name);
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== 0x7b /* { */) {
      const name = this.processName();
      if (name === "") return "$";
      const value = this.lookup(name);
      if (value === undefined && this.opts.skipUnset) return "$" + name;
      return value ?? "";
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new ShellLexError("syntax error: missing '}'");
    if (first === 0x7b || first === 0x7d || first === 0x3a) throw new ShellLexError("syntax error: bad substitution");
    const name = this.processName();
    let ch = this.next();
    let chs = ch === EOF ? "" : String.fromCodePoint(ch);
    let nullIsUnset = false;
    switch (ch) {
      case 0x7d: {
        const value = this.lookup(name);
        if (value === undefined && this.opts.skipUnset) return `\${${name}}`;
        return value ?? "";
      }
      case 0x3a: // ':'
      case 0x2b: // '+'
      case 0x2d: // '-'
      case 0x3f: // '?'
      case 0x23: // '#'
      case 0x25: {
        // '%'
        if (ch === 0x3a) {
          nullIsUnset = true;
          ch = this.next();
          chs += ch === EOF ? "" : String.fromCodePoint(ch);
        }
        const raw = ch === 0x23 || ch === 0x25;
        if (nullIsUnset && raw) throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
        let word: string;
        try {
          word = this.process(0x7d, raw).result;
        } catch (err) {
          if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '}'");
          throw err;
        }
        const value = this.lookup(name);
        const set = value !== undefined;
        if (this.opts.skipUnset && !set) return `\${${name}${chs}${word}}`;
        switch (ch) {
          case 0x2d:
            return !set || (nullIsUnset && value === "") ? word : value!;
          case 0x2b:
            return !set || (nullIsUnset && value === "") ? "" : word;
          case 0x3f:
            if (!set) throw new ShellLexError(`${name}: ${word !== "" ? word : "is not allowed to be unset"}`);
            if (nullIsUnset && value === "") throw new ShellLexError(`${name}: ${word !== "" ? word : "is not allowed to be empty"}`);
            return value!;
          case 0x25:
          case 0x23: {
            let greedy = false;
            if (word.length > 0 && word.codePointAt(0) === ch) {
              greedy = true;
              word = word.slice(1);
            }
            return ch === 0x25 ? trimSuffix(word, value ?? "", greedy) : trimPrefix(word, value ?? "", greedy);
          }
          default:
            throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
        }
      }
      case 0x2f: {
        // '/'
        const all = this.peek() === 0x2f;
        if (all) this.next();
        let pattern: string;
        try {
          pattern = this.process(0x2f, true).result;
        } catch (err) {
          if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '/' in ${}");
          throw err;
        }
        let replacement: string;
        try {
          replacement = this.process(0x7d, true).result;
        } catch (err) {
          if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '}'");
          throw err;
        }
        const value = this.lookup(name);
        if (this.opts.skipUnset && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
        const re = patternToRegex(pattern, true, false, all);
        return (value ?? "").replace(re, () => replacement);
      }
      default:
        throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processName(): string {
    let name = "";
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += String.fromCodePoint(this.next());
        return name;
      }
      if (name.length === 0 && "@*#?-$!0".includes(String.fromCodePoint(ch))) return String.fromCodePoint(this.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== 0x3c) return "<";
    this.next();
    let space = "";
    while (this.peek() === 0x09 || this.peek() === 0x0d || this.peek() === 0x20) space += String.fromCodePoint(this.next());
    return "<<" + space;
  }
}

/**
 * A shell glob pattern (`*`, `?`, `\*`, `\?`, `\\`) as a regular expression, as BuildKit's
 * convertShellPatternToRegex; `\}` and `\/` stand for themselves.
 */
export function patternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? "^" : "";
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i]!;
    if (tok === "*") {
      out += greedy ? ".*" : ".*?";
      continue;
    }
    if (tok === "?") {
      out += ".";
      continue;
    }
    if (tok === "\\") {
      const n = chars[i + 1];
      if (n === "}" || n === "/") continue;
      i++;
      if (n !== "*" && n !== "?" && n !== "\\") throw new ShellLexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ""}'`);
      out += "\\" + n;
      continue;
    }
    out += /[[\]{}.+()|^$]/.test(tok) ? "\\" + tok : tok;
  }
  return new RegExp(out, global ? "gu" : "u");
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = patternToRegex(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverses a pattern keeping each escape before the character it escapes. */
function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out = new Array<string>(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = runes[i]!;
    const o = last - i;
    if (tok === "\\" && i !== last) {
      out[o - 1] = tok;
      out[o] = runes[i + 1]!;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join("");
}

const reverseString = (s: string) => Array.from(s).reverse().join("");

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** The shell lexer with its options (BuildKit's shell.Lex). */
export class ShellLex {
  constructor(readonly opts: LexOptions = {}) {}

  /** Expands one word: quotes removed, variables substituted, no splitting. */
  processWord(word: string, env: EnvGetter = NO_ENV): string {
    return this.run(word, env).result;
  }

  /** Expands and splits into words, as for instructions taking word lists. */
  processWords(word: string, env: EnvGetter = NO_ENV): string[] {
    return this.run(word, env).words;
  }

  private run(word: string, env: EnvGetter): { result: string; words: string[] } {
    try {
      return new ShellWord(word, env, this.opts).process(EOF, this.opts.rawEscapes ?? false);
    } catch (err) {
      if (err instanceof ShellLexError) throw new ShellLexError(`failed to process ${JSON.stringify(word)}: ${err.message}`);
      throw err;
    }
  }
}

/** Expands one word with the given escape character (the common case for the builder). */
export function expandWord(word: string, env: EnvGetter, escape = "\\"): string {
  return new ShellLex({ escape }).processWord(word, env);
}

/** Expands and splits words with the given escape character. */
export function expandWords(word: string, env: EnvGetter, escape = "\\"): string[] {
  return new ShellLex({ escape }).processWords(word, env);
}

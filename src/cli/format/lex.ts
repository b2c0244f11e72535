// Lexer for Go's text/template syntax: splits a template into text and the tokens of the
// actions between "{{" and "}}", with Go's trim markers ("{{- " and " -}}") and comments.
// Positions are byte-free JS string offsets; the parser turns them into "line:col" as Go does.

import { invalid } from "../../common/errors.js";

export type TokenType =
  | "text"
  | "left" // {{
  | "right" // }}
  | "space"
  | "ident" // function name
  | "keyword" // if, range, end, ...
  | "field" // .Name
  | "variable" // $x or $
  | "dot" // .
  | "string" // "..." (value is the unquoted string)
  | "rawString" // `...`
  | "char" // 'a' (value is the code point as a decimal string)
  | "number"
  | "bool"
  | "nil"
  | "pipe"
  | "leftParen"
  | "rightParen"
  | "declare" // :=
  | "assign" // =
  | "comma"
  | "eof";

export interface Token {
  type: TokenType;
  /** The token's text; for strings and chars, the decoded value. */
  value: string;
  /** Offset in the template text. */
  pos: number;
  /** Original source text of the token (quoted strings keep their quotes). */
  raw: string;
}

export const KEYWORDS = new Set(["block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"]);

const LEFT = "{{";
const RIGHT = "}}";
const COMMENT_OPEN = "/*";
const COMMENT_CLOSE = "*/";

function isSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\r" || c === "\n";
}

function isAlnum(c: string | undefined): boolean {
  return c !== undefined && (c === "_" || /[\p{L}\p{Nd}]/u.test(c));
}

/** Line number (1-based) of an offset. */
export function lineOf(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text[i] === "\n") line++;
  return line;
}

export function lexError(name: string, text: string, pos: number, message: string): Error {
  return invalid(`template: ${name}:${lineOf(text, pos)}: ${message}`, { code: "template.parse" });
}

/** Decodes the escapes of a Go interpreted string or char literal body. */
export function unquoteGo(body: string, quote: string, fail: (m: string) => Error): string {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++i];
    switch (e) {
      case "a": out += "\x07"; break;
      case "b": out += "\b"; break;
      case "f": out += "\f"; break;
      case "n": out += "\n"; break;
      case "r": out += "\r"; break;
      case "t": out += "\t"; break;
      case "v": out += "\v"; break;
      case "\\": out += "\\"; break;
      case "'":
      case '"':
        if (e !== quote) throw fail("invalid syntax");
        out += e;
        break;
      case "x":
      case "u":
      case "U": {
        const n = e === "x" ? 2 : e === "u" ? 4 : 8;
        const hex = body.slice(i + 1, i + 1 + n);
        if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex)) throw fail("invalid syntax");
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) throw fail("invalid syntax");
        out += String.fromCodePoint(cp);
        i += n;
        break;
      }
      default: {
        if (e !== undefined && e >= "0" && e <= "7") {
          const oct = body.slice(i, i + 3);
          if (!/^[0-7]{3}$/.test(oct)) throw fail("invalid syntax");
          out += String.fromCharCode(parseInt(oct, 8));
          i += 2;
          break;
        }
        throw fail("invalid syntax");
      }
    }
  }
  return out;
}

/** Splits the template into tokens. Throws a CoveError with Go's message on a lexical error. */
export function lex(name: string, text: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  const fail = (at: number, message: string) => lexError(name, text, at, message);

  while (pos <= text.length) {
    // Text up to the next "{{".
    const open = text.indexOf(LEFT, pos);
    const end = open < 0 ? text.length : open;
    let trimLeft = false;
    let afterLeft = end + LEFT.length;
    if (open >= 0 && text[afterLeft] === "-" && isSpace(text[afterLeft + 1])) {
      trimLeft = true;
    }
    let chunk = text.slice(pos, end);
    if (trimLeft) chunk = chunk.replace(/[ \t\r\n]+$/, "");
    if (chunk.length > 0) tokens.push({ type: "text", value: chunk, pos, raw: chunk });
    if (open < 0) break;

    // An action, or a comment.
    tokens.push({ type: "left", value: LEFT, pos: open, raw: LEFT });
    if (trimLeft) afterLeft += 2;
    pos = afterLeft;
    if (text.startsWith(COMMENT_OPEN, pos)) {
      const close = text.indexOf(COMMENT_CLOSE, pos + 2);
      if (close < 0) throw fail(open, "unclosed comment");
      let p = close + 2;
      let trimRight = false;
      if (isSpace(text[p]) && text[p + 1] === "-" && text.startsWith(RIGHT, p + 2)) {
        trimRight = true;
        p += 2;
      }
      if (!text.startsWith(RIGHT, p)) throw fail(open, "comment ends before closing delimiter");
      tokens.pop(); // comments leave no tokens behind
      pos = p + 2;
      if (trimRight) pos = skipSpaces(text, pos);
      continue;
    }
    pos = lexAction(name, text, pos, tokens);
  }
  tokens.push({ type: "eof", value: "", pos: text.length, raw: "" });
  return tokens;
}

function skipSpaces(text: string, pos: number): number {
  while (isSpace(text[pos])) pos++;
  return pos;
}

/** Lexes the inside of one action; returns the offset just after its "}}" (and trimmed space). */
function lexAction(name: string, text: string, start: number, tokens: Token[]): number {
  let pos = start;
  let parenDepth = 0;
  const fail = (at: number, message: string) => lexError(name, text, at, message);
  const push = (type: TokenType, from: number, to: number, value?: string) =>
    tokens.push({ type, value: value ?? text.slice(from, to), pos: from, raw: text.slice(from, to) });

  for (;;) {
    // The closing delimiter, with an optional trim marker " -}}".
    if (isSpace(text[pos])) {
      let p = pos;
      while (isSpace(text[p])) p++;
      if (text[p] === "-" && text.startsWith(RIGHT, p + 1)) {
        if (parenDepth > 0) throw fail(pos, "unclosed left paren");
        push("right", p + 1, p + 3);
        return skipSpaces(text, p + 3);
      }
    }
    if (text.startsWith(RIGHT, pos)) {
      if (parenDepth > 0) throw fail(pos, "unclosed left paren");
      push("right", pos, pos + 2);
      return pos + 2;
    }
    const c = text[pos];
    if (c === undefined) throw fail(pos, "unclosed action");
    if (isSpace(c)) {
      const from = pos;
      while (isSpace(text[pos])) pos++;
      push("space", from, pos);
      continue;
    }
    if (c === "=") {
      push("assign", pos, pos + 1);
      pos++;
      continue;
    }
    if (c === ":") {
      if (text[pos + 1] !== "=") throw fail(pos, "expected :=");
      push("declare", pos, pos + 2);
      pos += 2;
      continue;
    }
    if (c === "|") {
      push("pipe", pos, pos + 1);
      pos++;
      continue;
    }
    if (c === ",") {
      push("comma", pos, pos + 1);
      pos++;
      continue;
    }
    if (c === "(") {
      parenDepth++;
      push("leftParen", pos, pos + 1);
      pos++;
      continue;
    }
    if (c === ")") {
      parenDepth--;
      if (parenDepth < 0) throw fail(pos, `unexpected right paren`);
      push("rightParen", pos, pos + 1);
      pos++;
      continue;
    }
    if (c === '"') {
      const from = pos;
      pos++;
      while (text[pos] !== '"') {
        if (text[pos] === "\\") pos++;
        if (pos >= text.length || text[pos] === "\n") throw fail(from, "unterminated quoted string");
        pos++;
      }
      pos++;
      const body = text.slice(from + 1, pos - 1);
      push("string", from, pos, unquoteGo(body, '"', () => fail(from, `invalid syntax`)));
      continue;
    }
    if (c === "`") {
      const close = text.indexOf("`", pos + 1);
      if (close < 0) throw fail(pos, "unterminated raw quoted string");
      push("rawString", pos, close + 1, text.slice(pos + 1, close).replace(/\r/g, ""));
      pos = close + 1;
      continue;
    }
    if (c === "'") {
      const from = pos;
      pos++;
      while (text[pos] !== "'") {
        if (text[pos] === "\\") pos++;
        if (pos >= text.length || text[pos] === "\n") throw fail(from, "unterminated character constant");
        pos++;
      }
      pos++;
      const decoded = unquoteGo(text.slice(from + 1, pos - 1), "'", () => fail(from, "invalid syntax"));
      const cps = [...decoded];
      if (cps.length !== 1) throw fail(from, `malformed character constant: ${text.slice(from, pos)}`);
      push("char", from, pos, String(cps[0]!.codePointAt(0)));
      continue;
    }
    if (c === "$") {
      const from = pos;
      pos++;
      while (isAlnum(text[pos])) pos++;
      push("variable", from, pos);
      continue;
    }
    if (c === "." && !(text[pos + 1] !== undefined && text[pos + 1]! >= "0" && text[pos + 1]! <= "9")) {
      const from = pos;
      pos++;
      if (!isAlnum(text[pos])) {
        push("dot", from, pos);
        continue;
      }
      while (isAlnum(text[pos])) pos++;
      push("field", from, pos);
      continue;
    }
    if (c === "+" || c === "-" || c === "." || (c >= "0" && c <= "9")) {
      const from = pos;
      const m = /^[+-]?(0[xX][0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?([pP][+-]?[0-9_]+)?|0[bB][01_]+|0[oO][0-7_]+|[0-9_]*\.?[0-9_]*([eE][+-]?[0-9_]+)?)i?/.exec(
        text.slice(pos),
      );
      const lit = m?.[0] ?? "";
      if (lit === "" || lit === "+" || lit === "-" || isAlnum(text[pos + lit.length])) {
        throw fail(from, `bad number syntax: "${text.slice(from, pos + Math.max(lit.length, 1) + (isAlnum(text[pos + lit.length]) ? 1 : 0))}"`);
      }
      pos += lit.length;
      push("number", from, pos);
      continue;
    }
    if (isAlnum(c)) {
      const from = pos;
      while (isAlnum(text[pos])) pos++;
      const word = text.slice(from, pos);
      if (KEYWORDS.has(word)) push("keyword", from, pos);
      else if (word === "true" || word === "false") push("bool", from, pos);
      else if (word === "nil") push("nil", from, pos);
      else push("ident", from, pos);
      continue;
    }
    throw fail(pos, `unrecognized character in action: ${JSON.stringify(c)}`);
  }
}

// Parser for Go's text/template: tokens → a tree of list, text, action, if/with/range, template
// and break/continue nodes, with pipelines of commands. The grammar and the error texts follow
// Go's text/template/parse so users see the messages they know from docker.

import { lex, lexError, type Token, type TokenType } from "./lex.js";

export type Arg =
  | { kind: "field"; pos: number; idents: string[] }
  | { kind: "variable"; pos: number; name: string; idents: string[] }
  | { kind: "chain"; pos: number; node: Arg; idents: string[] }
  | { kind: "ident"; pos: number; name: string }
  | { kind: "dot"; pos: number }
  | { kind: "nil"; pos: number }
  | { kind: "bool"; pos: number; value: boolean }
  | { kind: "number"; pos: number; value: number; isInt: boolean; text: string }
  | { kind: "string"; pos: number; value: string; quoted: string }
  | { kind: "pipe"; pos: number; pipe: Pipe };

export interface Command {
  pos: number;
  args: Arg[];
}

export interface Pipe {
  pos: number;
  decl: string[];
  isAssign: boolean;
  cmds: Command[];
}

export type Node =
  | { kind: "text"; pos: number; text: string }
  | { kind: "action"; pos: number; pipe: Pipe }
  | { kind: "if" | "with" | "range"; pos: number; pipe: Pipe; list: Node[]; elseList?: Node[] }
  | { kind: "template"; pos: number; name: string; pipe?: Pipe }
  | { kind: "break" | "continue"; pos: number };

export interface ParsedTemplate {
  name: string;
  text: string;
  root: Node[];
  /** Templates defined with {{define}} or {{block}}. */
  defs: Map<string, Node[]>;
}

/** Function names the parser accepts; the evaluator supplies the implementations. */
export type FuncNames = ReadonlySet<string>;

class Parser {
  private i = 0;
  private vars: string[] = ["$"];
  private rangeDepth = 0;
  readonly defs = new Map<string, Node[]>();

  constructor(
    private readonly name: string,
    private readonly text: string,
    private readonly tokens: Token[],
    private readonly funcs: FuncNames,
  ) {}

  private fail(message: string, pos?: number): Error {
    return lexError(this.name, this.text, pos ?? this.peekRaw().pos, message);
  }

  private peekRaw(): Token {
    return this.tokens[this.i]!;
  }

  private nextRaw(): Token {
    const t = this.tokens[this.i]!;
    if (t.type !== "eof") this.i++;
    return t;
  }

  /** The next non-space token. */
  private next(): Token {
    let t = this.nextRaw();
    while (t.type === "space") t = this.nextRaw();
    return t;
  }

  private peek(): Token {
    const save = this.i;
    const t = this.next();
    this.i = save;
    return t;
  }

  private expect(type: TokenType, context: string): Token {
    const t = this.next();
    if (t.type !== type) throw this.unexpected(t, context);
    return t;
  }

  private unexpected(t: Token, context: string): Error {
    if (t.type === "eof") return this.fail("unexpected EOF", t.pos);
    if (t.type === "right" && context === "operand") return this.fail(`unexpected "}" in operand`, t.pos);
    return this.fail(`unexpected ${describe(t)} in ${context}`, t.pos);
  }

  parse(): Node[] {
    const root: Node[] = [];
    for (;;) {
      const t = this.peekRaw();
      if (t.type === "eof") return root;
      if (t.type === "left") {
        // {{define}} at top level
        const save = this.i;
        this.nextRaw();
        const k = this.peek();
        if (k.type === "keyword" && k.value === "define") {
          this.next();
          this.parseDefinition(k.pos);
          continue;
        }
        this.i = save;
      }
      const n = this.textOrAction();
      if (n.kind === "end" || n.kind === "else") throw this.fail(`unexpected {{${n.kind}}}`, n.pos);
      root.push(n.node!);
    }
  }

  private parseDefinition(pos: number): void {
    const nameTok = this.next();
    if (nameTok.type !== "string" && nameTok.type !== "rawString") throw this.unexpected(nameTok, "define clause");
    this.expect("right", "define clause");
    const savedVars = this.vars;
    this.vars = ["$"];
    const [list, end] = this.itemList();
    this.vars = savedVars;
    if (end !== "end") throw this.fail("unexpected {{else}}", pos);
    this.defs.set(nameTok.value, list);
  }

  /** Items up to {{end}} or {{else}}; returns which one ended the list. */
  private itemList(): [Node[], "end" | "else", number] {
    const list: Node[] = [];
    for (;;) {
      const t = this.peekRaw();
      if (t.type === "eof") throw this.fail("unexpected EOF", t.pos);
      const n = this.textOrAction();
      if (n.kind === "end" || n.kind === "else") return [list, n.kind, n.pos];
      list.push(n.node!);
    }
  }

  private textOrAction(): { kind: "node" | "end" | "else"; node?: Node; pos: number } {
    const t = this.nextRaw();
    if (t.type === "text") return { kind: "node", node: { kind: "text", pos: t.pos, text: t.value }, pos: t.pos };
    if (t.type !== "left") throw this.unexpected(t, "input");
    return this.action();
  }

  private action(): { kind: "node" | "end" | "else"; node?: Node; pos: number } {
    const t = this.peek();
    if (t.type === "keyword") {
      this.next();
      switch (t.value) {
        case "end":
          this.expect("right", "end");
          return { kind: "end", pos: t.pos };
        case "else":
          // "{{else}}", "{{else if ...}}", "{{else with ...}}": the caller handles the chain.
          return { kind: "else", pos: t.pos };
        case "if":
        case "with":
        case "range":
          return { kind: "node", node: this.control(t.value, t.pos), pos: t.pos };
        case "template":
          return { kind: "node", node: this.templateAction(t.pos), pos: t.pos };
        case "block": {
          const node = this.templateAction(t.pos, true);
          return { kind: "node", node, pos: t.pos };
        }
        case "break":
        case "continue":
          if (this.rangeDepth === 0) throw this.fail(`{{${t.value}}} outside {{range}}`, t.pos);
          this.expect("right", t.value);
          return { kind: "node", node: { kind: t.value, pos: t.pos }, pos: t.pos };
        case "define":
          throw this.fail("unexpected <define> in command", t.pos);
      }
    }
    const pipe = this.pipeline("command", "right");
    return { kind: "node", node: { kind: "action", pos: t.pos, pipe }, pos: t.pos };
  }

  private templateAction(pos: number, isBlock = false): Node {
    const context = isBlock ? "block clause" : "template clause";
    const nameTok = this.next();
    if (nameTok.type !== "string" && nameTok.type !== "rawString") throw this.unexpected(nameTok, context);
    let pipe: Pipe | undefined;
    if (this.peek().type !== "right") pipe = this.pipeline(context, "right");
    else this.next();
    if (isBlock) {
      const savedVars = this.vars;
      const savedRange = this.rangeDepth;
      this.vars = ["$"];
      this.rangeDepth = 0;
      const [list, end] = this.itemList();
      this.vars = savedVars;
      this.rangeDepth = savedRange;
      if (end !== "end") throw this.fail("unexpected {{else}}", pos);
      this.defs.set(nameTok.value, list);
    }
    return pipe ? { kind: "template", pos, name: nameTok.value, pipe } : { kind: "template", pos, name: nameTok.value };
  }

  private control(kind: "if" | "with" | "range", pos: number): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(kind, "right");
    if (pipe.cmds.length === 0) throw this.fail(`missing value for ${kind}`, pos);
    if (kind === "range") this.rangeDepth++;
    let [list, end] = this.itemList();
    if (kind === "range") this.rangeDepth--;
    let elseList: Node[] | undefined;
    if (end === "else") {
      const t = this.peek();
      if ((kind === "if" || kind === "with") && t.type === "keyword" && t.value === kind) {
        // {{else if}} / {{else with}}: a nested control as the else branch, sharing our {{end}}.
        this.next();
        elseList = [this.control(kind, t.pos)];
      } else {
        this.expect("right", "else");
        [elseList, end] = this.itemList();
        if (end !== "end") throw this.fail("expected end; found {{else}}", pos);
      }
    }
    this.vars.length = mark;
    list = list ?? [];
    return elseList ? { kind, pos, pipe, list, elseList } : { kind, pos, pipe, list };
  }

  /** A pipeline, optionally with a variable declaration, up to `end` (right delim or paren). */
  private pipeline(context: string, end: "right" | "rightParen"): Pipe {
    const start = this.peek();
    const pipe: Pipe = { pos: start.pos, decl: [], isAssign: false, cmds: [] };
    // Declarations: "$x :=", "$x =", "$i, $e :=" (range only).
    const save = this.i;
    const v = this.next();
    if (v.type === "variable") {
      const op = this.next();
      if (op.type === "declare" || op.type === "assign") {
        pipe.decl.push(v.value);
        pipe.isAssign = op.type === "assign";
        if (op.type === "declare") this.vars.push(v.value);
        else if (!this.vars.includes(v.value)) throw this.fail(`undefined variable "${v.value}"`, v.pos);
      } else if (op.type === "comma" && context === "range") {
        const v2 = this.next();
        if (v2.type !== "variable") throw this.fail(`range can only initialize variables`, v2.pos);
        const op2 = this.next();
        if (op2.type !== "declare" && op2.type !== "assign") throw this.unexpected(op2, "range");
        pipe.decl.push(v.value, v2.value);
        pipe.isAssign = op2.type === "assign";
        if (op2.type === "declare") this.vars.push(v.value, v2.value);
      } else {
        this.i = save;
      }
    } else {
      this.i = save;
    }
    for (;;) {
      const t = this.peek();
      if (t.type === end) {
        this.next();
        if (pipe.cmds.length === 0 && pipe.decl.length > 0) throw this.fail(`missing value for ${context}`, t.pos);
        if (pipe.cmds.length === 0 && context === "command") throw this.fail(`missing value for command`, t.pos);
        return pipe;
      }
      if (t.type === "eof" || (t.type === "right" && end === "rightParen")) {
        throw this.fail(end === "rightParen" ? "unclosed left paren" : "unclosed action", t.pos);
      }
      pipe.cmds.push(this.command(end));
      const sep = this.peek();
      if (sep.type === "pipe") {
        this.next();
        if (this.peek().type === end) throw this.fail("missing command after pipe", sep.pos);
      }
    }
  }

  private command(end: "right" | "rightParen"): Command {
    const cmd: Command = { pos: this.peek().pos, args: [] };
    for (;;) {
      // operands are separated by spaces; a field right after a term without a space is a chain
      while (this.peekRaw().type === "space") this.nextRaw();
      const t = this.peekRaw();
      if (t.type === end || t.type === "pipe") break;
      const operand = this.operand();
      if (!operand) throw this.unexpected(this.peekRaw(), "operand");
      cmd.args.push(operand);
      const after = this.peekRaw();
      if (after.type === "space" || after.type === end || after.type === "pipe") continue;
      throw this.unexpected(after, "operand");
    }
    if (cmd.args.length === 0) throw this.fail("empty command", cmd.pos);
    return cmd;
  }

  private operand(): Arg | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peekRaw().type !== "field") return node;
    const idents: string[] = [];
    while (this.peekRaw().type === "field") idents.push(this.nextRaw().value.slice(1));
    switch (node.kind) {
      case "field":
        return { kind: "field", pos: node.pos, idents: [...node.idents, ...idents] };
      case "variable":
        return { kind: "variable", pos: node.pos, name: node.name, idents: [...node.idents, ...idents] };
      case "bool":
      case "string":
      case "number":
      case "nil":
      case "dot":
        throw this.fail(`unexpected . after term "${argString(node)}"`, node.pos);
      default:
        return { kind: "chain", pos: node.pos, node, idents };
    }
  }

  private term(): Arg | undefined {
    const t = this.nextRaw();
    switch (t.type) {
      case "ident":
        if (!this.funcs.has(t.value)) throw this.fail(`function "${t.value}" not defined`, t.pos);
        return { kind: "ident", pos: t.pos, name: t.value };
      case "dot":
        return { kind: "dot", pos: t.pos };
      case "nil":
        return { kind: "nil", pos: t.pos };
      case "variable":
        if (!this.vars.includes(t.value)) throw this.fail(`undefined variable "${t.value}"`, t.pos);
        return { kind: "variable", pos: t.pos, name: t.value, idents: [] };
      case "field":
        return { kind: "field", pos: t.pos, idents: [t.value.slice(1)] };
      case "bool":
        return { kind: "bool", pos: t.pos, value: t.value === "true" };
      case "char":
        return { kind: "number", pos: t.pos, value: Number(t.value), isInt: true, text: t.raw };
      case "number":
        return this.number(t);
      case "string":
      case "rawString":
        return { kind: "string", pos: t.pos, value: t.value, quoted: t.raw };
      case "leftParen": {
        const pipe = this.pipeline("parenthesized pipeline", "rightParen");
        return { kind: "pipe", pos: t.pos, pipe };
      }
      default:
        this.i--;
        return undefined;
    }
  }

  private number(t: Token): Arg {
    const text = t.value;
    if (text.endsWith("i")) throw this.fail(`complex numbers are not supported: ${text}`, t.pos);
    const clean = text.replace(/_/g, "");
    let sign = 1;
    let body = clean;
    if (body.startsWith("-") || body.startsWith("+")) {
      sign = body.startsWith("-") ? -1 : 1;
      body = body.slice(1);
    }
    let value: number;
    let isInt = true;
    if (/^0[xX][0-9a-fA-F]+$/.test(body)) value = parseInt(body.slice(2), 16);
    else if (/^0[bB][01]+$/.test(body)) value = parseInt(body.slice(2), 2);
    else if (/^0[oO][0-7]+$/.test(body)) value = parseInt(body.slice(2), 8);
    else if (/^0[0-7]+$/.test(body)) value = parseInt(body.slice(1), 8);
    else if (/^[0-9]+$/.test(body)) value = parseInt(body, 10);
    else if (/^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(body)) {
      value = parseFloat(body);
      isInt = false;
    } else throw this.fail(`illegal number syntax: "${text}"`, t.pos);
    if (!Number.isFinite(value)) throw this.fail(`illegal number syntax: "${text}"`, t.pos);
    return { kind: "number", pos: t.pos, value: sign * value, isInt, text };
  }
}

function describe(t: Token): string {
  switch (t.type) {
    case "right":
      return `"}}"`;
    case "left":
      return `"{{"`;
    case "keyword":
      return `<${t.value}>`;
    case "eof":
      return "EOF";
    default:
      return JSON.stringify(t.raw);
  }
}

/** Go's String() of an argument node, used in "executing ... at <...>" messages. */
export function argString(a: Arg): string {
  switch (a.kind) {
    case "field":
      return a.idents.map((i) => "." + i).join("");
    case "variable":
      return a.name + a.idents.map((i) => "." + i).join("");
    case "chain": {
      const inner = a.node.kind === "pipe" ? `(${pipeString(a.node.pipe)})` : argString(a.node);
      return inner + a.idents.map((i) => "." + i).join("");
    }
    case "ident":
      return a.name;
    case "dot":
      return ".";
    case "nil":
      return "nil";
    case "bool":
      return String(a.value);
    case "number":
      return a.text;
    case "string":
      return a.quoted;
    case "pipe":
      return `(${pipeString(a.pipe)})`;
  }
}

export function commandString(c: Command): string {
  return c.args.map((a) => argString(a)).join(" ");
}

export function pipeString(p: Pipe): string {
  const decl = p.decl.length > 0 ? `${p.decl.join(", ")} ${p.isAssign ? "=" : ":="} ` : "";
  return decl + p.cmds.map(commandString).join(" | ");
}

export function parse(name: string, text: string, funcs: FuncNames): ParsedTemplate {
  const parser = new Parser(name, text, lex(name, text), funcs);
  const root = parser.parse();
  return { name, text, root, defs: parser.defs };
}

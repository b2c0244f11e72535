// Evaluation of a parsed Go template over plain JS values, and the function map: Go's builtins
// (and, or, not, len, index, slice, print, printf, println, eq, ne, lt, le, gt, ge, html, js,
// urlquery, call) plus docker/cli's (json, split, join, title, lower, upper, pad, truncate).

import { CoveError, invalid } from "../../common/errors.js";
import { lineOf } from "./lex.js";
import { argString, pipeString, type Arg, type Command, type Node, type ParsedTemplate, type Pipe } from "./parse.js";
import {
  formatValue,
  isGoMap,
  isRecord,
  isTrue,
  mapEntries,
  marshalJSON,
  sprint,
  sprintf,
  sprintln,
  typeName,
  type EvalOptions,
} from "./values.js";

/** A template function: receives evaluated arguments, returns a value or throws. */
export type TemplateFunc = (...args: unknown[]) => unknown;

/** Raised by a function for a bad argument; reported as Go reports it. */
export class FuncError extends Error {}

class BreakSignal {}
class ContinueSignal {}

/** Thrown by evaluation; the executor turns it into Go's "executing ... at <node>" message. */
class ExecError extends Error {
  constructor(
    message: string,
    readonly pos: number,
    readonly at: string,
  ) {
    super(message);
  }
}

interface Variable {
  name: string;
  value: unknown;
}

const LAZY = new Set(["and", "or"]);

export class State {
  private vars: Variable[] = [];
  private out: string[] = [];
  private depth = 0;

  constructor(
    private readonly tmpl: ParsedTemplate,
    private readonly funcs: Record<string, TemplateFunc>,
    private readonly opts: EvalOptions,
  ) {}

  run(data: unknown): string {
    this.vars = [{ name: "$", value: data }];
    try {
      this.walkList(data, this.tmpl.root);
    } catch (err) {
      if (err instanceof ExecError) {
        const { text, name } = this.tmpl;
        const line = lineOf(text, err.pos);
        const lineStart = text.lastIndexOf("\n", err.pos - 1) + 1;
        const col = err.pos - lineStart;
        throw invalid(`template: ${name}:${line}:${col}: executing "${name}" at <${err.at}>: ${err.message}`, {
          code: "template.exec",
        });
      }
      throw err;
    }
    return this.out.join("");
  }

  private fail(pos: number, at: string, message: string): never {
    throw new ExecError(message, pos, at);
  }

  private walkList(dot: unknown, list: Node[]): void {
    for (const n of list) this.walk(dot, n);
  }

  private walk(dot: unknown, node: Node): void {
    switch (node.kind) {
      case "text":
        this.out.push(node.text);
        return;
      case "action": {
        const v = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.out.push(this.printable(v, node.pos, pipeString(node.pipe)));
        return;
      }
      case "if":
      case "with": {
        const mark = this.vars.length;
        const v = this.evalPipeline(dot, node.pipe);
        if (isTrue(v, this.opts)) this.walkList(node.kind === "with" ? v : dot, node.list);
        else if (node.elseList) this.walkList(dot, node.elseList);
        this.vars.length = mark;
        return;
      }
      case "range":
        this.walkRange(dot, node);
        return;
      case "break":
        throw new BreakSignal();
      case "continue":
        throw new ContinueSignal();
      case "template": {
        const list = this.tmpl.defs.get(node.name);
        if (!list) this.fail(node.pos, `{{template "${node.name}"}}`, `template "${node.name}" not defined`);
        const v = node.pipe ? this.evalPipeline(dot, node.pipe) : undefined;
        if (++this.depth > 100000) this.fail(node.pos, `{{template "${node.name}"}}`, "exceeded maximum template depth (100000)");
        const saved = this.vars;
        this.vars = [{ name: "$", value: v }];
        try {
          this.walkList(v, list);
        } finally {
          this.vars = saved;
          this.depth--;
        }
        return;
      }
    }
  }

  private printable(v: unknown, pos: number, at: string): string {
    if (typeof v === "function") this.fail(pos, at, `can't print ${at} of type func`);
    return formatValue(v, this.opts, true);
  }

  private walkRange(dot: unknown, node: Extract<Node, { kind: "if" | "with" | "range" }>): void {
    const mark = this.vars.length;
    const v = this.evalPipeline(dot, node.pipe);
    const at = pipeString(node.pipe);
    // evalPipeline declared the variables; the loop sets them per element.
    const one = (key: unknown, elem: unknown): boolean => {
      if (node.pipe.decl.length === 1) this.setTop(1, elem);
      if (node.pipe.decl.length === 2) {
        this.setTop(2, key);
        this.setTop(1, elem);
      }
      const inner = this.vars.length;
      try {
        this.walkList(elem, node.list);
      } catch (err) {
        if (err instanceof BreakSignal) return false;
        if (!(err instanceof ContinueSignal)) throw err;
      } finally {
        this.vars.length = inner;
      }
      return true;
    };
    let ran = false;
    if (Array.isArray(v) || v instanceof Uint8Array) {
      for (let i = 0; i < v.length; i++) {
        ran = true;
        if (!one(i, v[i])) break;
      }
    } else if (isGoMap(v, this.opts)) {
      for (const [k, e] of mapEntries(v)) {
        ran = true;
        if (!one(k, e)) break;
      }
    } else if (typeof v === "number" && Number.isInteger(v)) {
      if (node.pipe.decl.length > 1) this.fail(node.pos, at, `can't use ${v} to iterate over more than one variable`);
      for (let i = 0; i < v; i++) {
        ran = true;
        if (!one(i, i)) break;
      }
    } else if (v !== undefined && v !== null) {
      this.fail(node.pos, at, `range can't iterate over ${formatValue(v, this.opts, false)}`);
    }
    if (!ran && node.elseList) this.walkList(dot, node.elseList);
    this.vars.length = mark;
  }

  /** Sets the n-th variable from the top of the stack. */
  private setTop(n: number, value: unknown): void {
    this.vars[this.vars.length - n]!.value = value;
  }

  private lookupVar(name: string, pos: number): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    return this.fail(pos, name, `undefined variable: ${name}`);
  }

  private assignVar(name: string, value: unknown, pos: number): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.fail(pos, name, `undefined variable: ${name}`);
  }

  private evalPipeline(dot: unknown, pipe: Pipe): unknown {
    let value: unknown = NO_FINAL;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    if (value === NO_FINAL) value = undefined;
    if (pipe.isAssign) {
      for (const name of pipe.decl) this.assignVar(name, value, pipe.pos);
    } else {
      for (const name of pipe.decl) this.vars.push({ name, value });
    }
    return value;
  }

  private evalCommand(dot: unknown, cmd: Command, final: unknown): unknown {
    const first = cmd.args[0]!;
    const rest = cmd.args.slice(1);
    switch (first.kind) {
      case "field":
        return this.evalFields(dot, dot, first.idents, rest, final, first);
      case "chain": {
        const base = this.evalArg(dot, first.node);
        return this.evalFields(dot, base, first.idents, rest, final, first);
      }
      case "variable": {
        const base = this.lookupVar(first.name, first.pos);
        if (first.idents.length === 0) {
          this.notAFunction(first, rest, final);
          return base;
        }
        return this.evalFields(dot, base, first.idents, rest, final, first);
      }
      case "ident":
        return this.evalFunction(dot, first, rest, final);
      default: {
        this.notAFunction(first, rest, final);
        return this.evalArg(dot, first);
      }
    }
  }

  private notAFunction(node: Arg, rest: Arg[], final: unknown): void {
    if (rest.length > 0 || final !== NO_FINAL) this.fail(node.pos, argString(node), `can't give argument to non-function ${argString(node)}`);
  }

  /** Evaluates an argument (no arguments of its own). */
  private evalArg(dot: unknown, arg: Arg): unknown {
    switch (arg.kind) {
      case "dot":
        return dot;
      case "nil":
        return null;
      case "bool":
      case "number":
      case "string":
        return arg.value;
      case "field":
        return this.evalFields(dot, dot, arg.idents, [], NO_FINAL, arg);
      case "variable": {
        const base = this.lookupVar(arg.name, arg.pos);
        return arg.idents.length === 0 ? base : this.evalFields(dot, base, arg.idents, [], NO_FINAL, arg);
      }
      case "chain":
        return this.evalFields(dot, this.evalArg(dot, arg.node), arg.idents, [], NO_FINAL, arg);
      case "pipe": {
        const mark = this.vars.length;
        const v = this.evalPipeline(dot, arg.pipe);
        this.vars.length = mark;
        return v;
      }
      case "ident":
        return this.evalFunction(dot, arg, [], NO_FINAL);
    }
  }

  /** Walks a chain of field names from `receiver`; the last one may be a method taking args. */
  private evalFields(dot: unknown, receiver: unknown, idents: string[], args: Arg[], final: unknown, node: Arg): unknown {
    const at = argString(node);
    let v = receiver;
    for (let i = 0; i < idents.length; i++) {
      const last = i === idents.length - 1;
      v = this.evalField(dot, v, idents[i]!, last ? args : [], last ? final : NO_FINAL, node.pos, at);
    }
    return v;
  }

  private evalField(dot: unknown, receiver: unknown, name: string, args: Arg[], final: unknown, pos: number, at: string): unknown {
    const hasArgs = args.length > 0 || final !== NO_FINAL;
    if (receiver === undefined || receiver === null) return undefined; // a missing map entry: zero value
    if (isGoMap(receiver, this.opts)) {
      if (hasArgs) this.fail(pos, at, `${name} is not a method but has arguments`);
      if (receiver instanceof Map) return receiver.get(name);
      return Object.prototype.hasOwnProperty.call(receiver, name) ? (receiver as Record<string, unknown>)[name] : undefined;
    }
    if (isRecord(receiver) && name in receiver) {
      const v = (receiver as Record<string, unknown>)[name];
      if (typeof v === "function") {
        const argv = args.map((a) => this.evalArg(dot, a));
        if (final !== NO_FINAL) argv.push(final);
        try {
          return (v as TemplateFunc).apply(receiver, argv);
        } catch (err) {
          return this.fail(pos, at, `error calling ${name}: ${(err as Error).message}`);
        }
      }
      if (hasArgs) this.fail(pos, at, `${name} has arguments but cannot be invoked as function`);
      return v;
    }
    return this.fail(pos, at, `can't evaluate field ${name} in type ${typeName(receiver, this.opts)}`);
  }

  private evalFunction(dot: unknown, node: Extract<Arg, { kind: "ident" }>, args: Arg[], final: unknown): unknown {
    const name = node.name;
    const fn = this.funcs[name];
    if (!fn) return this.fail(node.pos, name, `"${name}" is not a defined function`);
    if (LAZY.has(name)) {
      // and/or evaluate their arguments lazily and return the deciding one.
      if (args.length === 0 && final === NO_FINAL) this.fail(node.pos, name, `wrong number of args for ${name}: want at least 1 got 0`);
      let v: unknown;
      const all: (() => unknown)[] = args.map((a) => () => this.evalArg(dot, a));
      if (final !== NO_FINAL) all.push(() => final);
      for (const get of all) {
        v = get();
        if (isTrue(v, this.opts) === (name === "or")) return v;
      }
      return v;
    }
    const argv = args.map((a) => this.evalArg(dot, a));
    if (final !== NO_FINAL) argv.push(final);
    try {
      return fn(...argv);
    } catch (err) {
      if (err instanceof FuncError) return this.fail(node.pos, name, err.message);
      if (err instanceof CoveError || err instanceof ExecError) throw err;
      return this.fail(node.pos, name, `error calling ${name}: ${(err as Error).message}`);
    }
  }
}

const NO_FINAL = Symbol("no final");

// ---- the function map -------------------------------------------------------------------------

function arity(name: string, args: unknown[], want: number): void {
  if (args.length !== want) throw new FuncError(`wrong number of args for ${name}: want ${want} got ${args.length}`);
}

function wantString(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === undefined) throw new FuncError("invalid value; expected string");
  throw new FuncError(`wrong type for value; expected string; got ${typeName(v)}`);
}

function wantInt(v: unknown): number {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (v === undefined) throw new FuncError("invalid value; expected int");
  throw new FuncError(`wrong type for value; expected int; got ${typeName(v)}`);
}

function wantStrings(v: unknown): string[] {
  if (Array.isArray(v) && v.every((e) => typeof e === "string")) return v as string[];
  if (v === undefined || v === null) return [];
  throw new FuncError(`wrong type for value; expected []string; got ${typeName(v)}`);
}

type Kind = "bool" | "number" | "string" | "nil" | "other";

function basicKind(v: unknown): Kind {
  if (v === undefined || v === null) return "nil";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number" || typeof v === "bigint") return "number";
  if (typeof v === "string") return "string";
  return "other";
}

function eq(name: string, ...args: unknown[]): boolean {
  if (args.length < 2) throw new FuncError(`wrong number of args for ${name}: want at least 2 got ${args.length}`);
  const [a, ...rest] = args;
  const ka = basicKind(a);
  for (const b of rest) {
    const kb = basicKind(b);
    if (ka === "other" || kb === "other") {
      if (a === b) return true;
      throw new FuncError(`error calling ${name}: non-comparable type ${formatValue(ka === "other" ? a : b, {}, false)}: ${typeName(ka === "other" ? a : b)}`);
    }
    if (ka === "nil" || kb === "nil") {
      if (ka === kb) return true;
      continue;
    }
    if (ka !== kb) throw new FuncError(`error calling ${name}: incompatible types for comparison`);
    // eslint-disable-next-line eqeqeq -- number vs bigint compare by value
    if (a == b) return true;
  }
  return false;
}

function lt(name: string, args: unknown[]): boolean {
  arity(name, args, 2);
  const [a, b] = args;
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka !== "number" && ka !== "string") throw new FuncError(`error calling ${name}: invalid type for comparison`);
  if (kb !== "number" && kb !== "string") throw new FuncError(`error calling ${name}: invalid type for comparison`);
  if (ka !== kb) throw new FuncError(`error calling ${name}: incompatible types for comparison`);
  return (a as number | string) < (b as number | string);
}

function length(v: unknown): number {
  if (typeof v === "string") return Buffer.byteLength(v, "utf8");
  if (Array.isArray(v) || v instanceof Uint8Array) return v.length;
  if (v instanceof Map) return v.size;
  if (isRecord(v)) return Object.keys(v).length;
  if (v === undefined || v === null) throw new FuncError("error calling len: len of nil pointer");
  throw new FuncError(`error calling len: len of type ${typeName(v)}`);
}

function indexArg(v: unknown, cap: number): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new FuncError(`error calling index: cannot index slice/array with type ${typeName(v)}`);
  if (v < 0 || v >= cap) throw new FuncError(`error calling index: index out of range: ${v}`);
  return v;
}

function index(item: unknown, ...keys: unknown[]): unknown {
  let v = item;
  for (const k of keys) {
    if (typeof v === "string") v = Buffer.from(v, "utf8")[indexArg(k, Buffer.byteLength(v))];
    else if (Array.isArray(v)) v = v[indexArg(k, v.length)];
    else if (v instanceof Map) v = v.has(k) ? v.get(k) : undefined;
    else if (isRecord(v)) {
      if (typeof k !== "string") throw new FuncError(`error calling index: value has type ${typeName(k)}; should be string`);
      if (Object.prototype.hasOwnProperty.call(v, k)) v = v[k];
      else {
        // Go returns the map's zero value: "" for a map of strings (labels), nil otherwise.
        const values = Object.values(v);
        v = values.every((e) => typeof e === "string") ? "" : null;
      }
    } else if (v === undefined || v === null) throw new FuncError("error calling index: index of untyped nil");
    else throw new FuncError(`error calling index: can't index item of type ${typeName(v)}`);
  }
  return v;
}

function slice(item: unknown, ...idx: unknown[]): unknown {
  if (idx.length > 3) throw new FuncError(`error calling slice: too many slice indexes: ${idx.length}`);
  let len: number;
  if (typeof item === "string") len = Buffer.byteLength(item);
  else if (Array.isArray(item)) len = item.length;
  else if (item === undefined || item === null) throw new FuncError("error calling slice: slice of untyped nil");
  else throw new FuncError(`error calling slice: can't slice item of type ${typeName(item)}`);
  if (typeof item === "string" && idx.length === 3) throw new FuncError("error calling slice: cannot 3-index slice a string");
  const nums = idx.map((i) => {
    if (typeof i !== "number" || !Number.isInteger(i)) throw new FuncError(`error calling slice: cannot index slice/array with type ${typeName(i)}`);
    if (i < 0 || i > len) throw new FuncError(`error calling slice: index out of range: ${i}`);
    return i;
  });
  const start = nums[0] ?? 0;
  const end = nums[1] ?? len;
  if (start > end) throw new FuncError(`error calling slice: invalid slice index: ${start} > ${end}`);
  if (typeof item === "string") return Buffer.from(item, "utf8").subarray(start, end).toString("utf8");
  return (item as unknown[]).slice(start, end);
}

function argsString(args: unknown[]): string {
  return args.length === 1 && typeof args[0] === "string" ? args[0] : sprint(args);
}

function htmlEscape(...args: unknown[]): string {
  return argsString(args).replace(/[<>&'"\0]/g, (c) =>
    c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : c === "'" ? "&#39;" : c === '"' ? "&#34;" : "\uFFFD",
  );
}

function jsEscape(...args: unknown[]): string {
  let out = "";
  for (const ch of argsString(args)) {
    const cp = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === "'") out += "\\'";
    else if (ch === '"') out += '\\"';
    else if (ch === "<") out += "\\u003C";
    else if (ch === ">") out += "\\u003E";
    else if (ch === "&") out += "\\u0026";
    else if (ch === "=") out += "\\u003D";
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) out += "\\u" + cp.toString(16).toUpperCase().padStart(4, "0");
    else out += ch;
  }
  return out;
}

function urlQueryEscape(...args: unknown[]): string {
  return [...Buffer.from(argsString(args), "utf8")]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-_.~]/.test(c)) return c;
      if (c === " ") return "+";
      return "%" + b.toString(16).toUpperCase().padStart(2, "0");
    })
    .join("");
}

/** Go's strings.Title: upper-cases the first letter of each word. */
function title(s: string): string {
  let prev = " ";
  let out = "";
  for (const ch of s) {
    const sep = isSeparator(prev);
    out += sep ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

function isSeparator(ch: string): boolean {
  if (/^[A-Za-z0-9_]$/.test(ch)) return false;
  if (ch.charCodeAt(0) < 0x80) return true;
  if (/\p{L}|\p{Nd}/u.test(ch)) return false;
  return /\s/u.test(ch);
}

function split(s: unknown, sep: unknown): string[] {
  const str = wantString(s);
  const separator = wantString(sep);
  if (separator === "") return [...str];
  return str.split(separator);
}

/** Go's text/template builtins plus docker/cli's function map. */
export function builtinFuncs(opts: EvalOptions): Record<string, TemplateFunc> {
  return {
    and: () => undefined, // evaluated lazily by the executor
    or: () => undefined,
    not: (...a) => {
      arity("not", a, 1);
      return !isTrue(a[0], opts);
    },
    len: (...a) => {
      arity("len", a, 1);
      return length(a[0]);
    },
    index: (item, ...keys) => index(item, ...keys),
    slice: (item, ...idx) => slice(item, ...idx),
    print: (...a) => sprint(a, opts),
    println: (...a) => sprintln(a, opts),
    printf: (f, ...a) => sprintf(wantString(f), a),
    eq: (...a) => eq("eq", ...a),
    ne: (...a) => {
      arity("ne", a, 2);
      return !eq("ne", ...a);
    },
    lt: (...a) => lt("lt", a),
    le: (...a) => lt("le", a) || eq("le", ...a),
    gt: (...a) => {
      arity("gt", a, 2);
      return !lt("gt", a) && !eq("gt", ...a);
    },
    ge: (...a) => !lt("ge", a),
    html: htmlEscape,
    js: jsEscape,
    urlquery: urlQueryEscape,
    call: (fn, ...a) => {
      if (typeof fn !== "function") throw new FuncError(`error calling call: non-function of type ${typeName(fn)}`);
      return (fn as TemplateFunc)(...a);
    },
    // docker/cli templates.basicFunctions
    json: (...a) => {
      arity("json", a, 1);
      return marshalJSON(a[0], { escapeHTML: false });
    },
    split: (...a) => {
      arity("split", a, 2);
      return split(a[0], a[1]);
    },
    join: (...a) => {
      arity("join", a, 2);
      return wantStrings(a[0]).join(wantString(a[1]));
    },
    title: (...a) => {
      arity("title", a, 1);
      return title(wantString(a[0]));
    },
    lower: (...a) => {
      arity("lower", a, 1);
      return wantString(a[0]).toLowerCase();
    },
    upper: (...a) => {
      arity("upper", a, 1);
      return wantString(a[0]).toUpperCase();
    },
    pad: (...a) => {
      arity("pad", a, 3);
      const s = wantString(a[0]);
      const pre = wantInt(a[1]);
      const post = wantInt(a[2]);
      if (pre < 0 || post < 0) throw new FuncError("error calling pad: strings: negative Repeat count");
      return s === "" ? s : " ".repeat(pre) + s + " ".repeat(post);
    },
    truncate: (...a) => {
      arity("truncate", a, 2);
      const s = wantString(a[0]);
      const n = wantInt(a[1]);
      const cps = [...s];
      if (cps.length < n) return s;
      if (n < 0) throw new FuncError(`error calling truncate: runtime error: slice bounds out of range [:${n}]`);
      return cps.slice(0, n).join("");
    },
  };
}

/** docker/cli's HeaderFunctions: header rows keep the column names intact. */
export function headerFuncs(opts: EvalOptions): Record<string, TemplateFunc> {
  const identity1 = (...a: unknown[]) => a[0];
  return {
    ...builtinFuncs(opts),
    json: identity1,
    split: identity1,
    join: identity1,
    title: identity1,
    lower: identity1,
    upper: identity1,
    truncate: identity1,
  };
}

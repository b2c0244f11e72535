import { test } from "node:test";
import assert from "node:assert/strict";
import { helpText, parseFilters, parseFlags, UsageError, type CommandSpec } from "./flags.js";

const FLAGS = {
  all: { type: "bool", short: "a" },
  quiet: { type: "bool", short: "q" },
  filter: { type: "list", short: "f" },
  format: { type: "string" },
  publish: { type: "list", short: "p" },
  tail: { type: "int", short: "n" },
  name: { type: "string", default: "x" },
  human: { type: "bool", short: "H", default: true },
} as const;

const spec: CommandSpec<typeof FLAGS> = { name: "images", flags: FLAGS };

function usageError(fn: () => unknown, message: string, status = 125): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.equal(err.message, message);
    assert.equal(err.status, status);
    return true;
  });
}

test("defaults: bools false (or their default), lists empty, strings undefined", () => {
  const p = parseFlags([], spec);
  assert.deepEqual(p.flags, { all: false, quiet: false, filter: [], format: undefined, publish: [], tail: undefined, name: "x", human: true });
  assert.deepEqual(p.args, []);
  assert.equal(p.set.size, 0);
});

test("long and short bools, explicit values, combined shorts", () => {
  assert.equal(parseFlags(["--all"], spec).flags.all, true);
  assert.equal(parseFlags(["-a"], spec).flags.all, true);
  assert.equal(parseFlags(["--all=true"], spec).flags.all, true);
  assert.equal(parseFlags(["--all=false"], spec).flags.all, false);
  assert.equal(parseFlags(["--human=false"], spec).flags.human, false);
  assert.equal(parseFlags(["-H=false"], spec).flags.human, false);
  assert.equal(parseFlags(["--all=0"], spec).flags.all, false);
  const p = parseFlags(["-aq"], spec);
  assert.equal(p.flags.all, true);
  assert.equal(p.flags.quiet, true);
  assert.deepEqual([...p.set].sort(), ["all", "quiet"]);
});

test("string, int and list values in every form", () => {
  assert.equal(parseFlags(["--format", "{{.ID}}"], spec).flags.format, "{{.ID}}");
  assert.equal(parseFlags(["--format={{.ID}} x=y"], spec).flags.format, "{{.ID}} x=y");
  assert.equal(parseFlags(["--format="], spec).flags.format, "");
  assert.equal(parseFlags(["-n", "5"], spec).flags.tail, 5);
  assert.equal(parseFlags(["--tail=-1"], spec).flags.tail, -1);
  assert.deepEqual(parseFlags(["--filter", "a=b", "-f", "c=d", "--filter=e=f", "-fg=h"], spec).flags.filter, ["a=b", "c=d", "e=f", "g=h"]);
  assert.deepEqual(parseFlags(["-p8080:80", "-p=9090:90", "-p", "1:1"], spec).flags.publish, ["8080:80", "9090:90", "1:1"]);
  // a value flag at the end of a group takes the next argument; inside it takes the rest
  const p = parseFlags(["-aqf", "dangling=true", "-qfx=y"], spec);
  assert.deepEqual(p.flags.filter, ["dangling=true", "x=y"]);
  assert.equal(p.flags.all, true);
});

test("positionals: interspersed, '-', and '--'", () => {
  assert.deepEqual(parseFlags(["busybox", "-a", "-"], spec).args, ["busybox", "-"]);
  const p = parseFlags(["-a", "--", "-q", "--format"], spec);
  assert.deepEqual(p.args, ["-q", "--format"]);
  assert.equal(p.flags.quiet, false);
});

test("stop at the first positional, for run IMAGE CMD...", () => {
  const run = parseFlags(["-a", "debian", "ls", "-la", "--all"], { ...spec, stopAtFirstPositional: true });
  assert.deepEqual(run.args, ["debian", "ls", "-la", "--all"]);
  assert.equal(run.flags.all, true);
});

test("errors use pflag's wording, exit status 125 and the help hint", () => {
  usageError(() => parseFlags(["--foo"], spec), "unknown flag: --foo");
  usageError(() => parseFlags(["-x"], spec), "unknown shorthand flag: 'x' in -x");
  usageError(() => parseFlags(["-ax"], spec), "unknown shorthand flag: 'x' in -ax");
  usageError(() => parseFlags(["--format"], spec), "flag needs an argument: --format");
  usageError(() => parseFlags(["-f"], spec), "flag needs an argument: 'f' in -f");
  usageError(() => parseFlags(["--all=maybe"], spec), `invalid argument "maybe" for "-a, --all" flag: strconv.ParseBool: parsing "maybe": invalid syntax`);
  usageError(() => parseFlags(["-n", "x"], spec), `invalid argument "x" for "-n, --tail" flag: strconv.ParseInt: parsing "x": invalid syntax`);
  const err = new UsageError("unknown flag: --foo", "images");
  assert.equal(err.describe(), "unknown flag: --foo\nSee 'cove images --help'.");
});

test("argument counts as cobra reports them, with exit status 1", () => {
  const tag = { name: "tag", flags: {}, args: { min: 2, max: 2 } };
  usageError(() => parseFlags(["a"], tag), `"cove tag" requires exactly 2 arguments.`, 1);
  usageError(() => parseFlags([], { name: "rmi", flags: {}, args: { min: 1 } }), `"cove rmi" requires at least 1 argument.`, 1);
  usageError(() => parseFlags(["x"], { name: "image prune", flags: {}, args: { max: 0 } }), `"cove image prune" accepts no arguments.`, 1);
  assert.deepEqual(parseFlags(["a", "b"], tag).args, ["a", "b"]);
});

test("--help and -h are recognized and skip argument checks", () => {
  assert.equal(parseFlags(["--help"], { name: "tag", flags: {}, args: { min: 2 } }).help, true);
  assert.equal(parseFlags(["-h"], spec).help, true);
  const help = helpText({ name: "images", usage: "cove images [OPTIONS]", flags: { all: { type: "bool", short: "a", description: "Show all" } } });
  assert.match(help, /^Usage: {2}cove images \[OPTIONS\]/);
  assert.match(help, /-a, --all +Show all/);
});

test("filters become Docker's filter map", () => {
  assert.deepEqual(parseFilters(["dangling=true", "label=a=b", "label=c"], "images"), { dangling: ["true"], label: ["a=b", "c"] });
  assert.throws(() => parseFilters(["nokey"], "images"), /bad format of filter/);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { CoveError } from "../../common/errors.js";
import { goMap, GO_TYPE, marshalJSON, parseTemplate, sprintf } from "./index.js";
import { formatFloat } from "./values.js";

const run = (src: string, data: unknown = {}) => parseTemplate(src).execute(data);

function fails(src: string, data: unknown, pattern: RegExp | string): void {
  assert.throws(
    () => run(src, data),
    (err: unknown) => {
      assert.ok(err instanceof CoveError, `expected CoveError, got ${String(err)}`);
      if (typeof pattern === "string") assert.equal(err.message, pattern);
      else assert.match(err.message, pattern);
      return true;
    },
  );
}

test("fields, nested fields, dot and root variable", () => {
  const data = { Name: "web", State: { Status: "running", Pid: 42 }, List: ["a"] };
  assert.equal(run("{{.Name}}", data), "web");
  assert.equal(run("{{.State.Status}}/{{.State.Pid}}", data), "running/42");
  assert.equal(run("{{with .State}}{{.Status}} {{$.Name}}{{end}}", data), "running web");
  assert.equal(run("plain text only"), "plain text only");
  assert.equal(run("{{.}}", "str"), "str");
});

test("a missing struct field is an error with Go's position and message", () => {
  fails("{{.Nmae}}", { Name: "x" }, `template: :1:2: executing "" at <.Nmae>: can't evaluate field Nmae in type struct`);
  const row = { ID: "1", [GO_TYPE]: "*formatter.imageContext" };
  fails("x\n  {{.Nmae}}", row, `template: :2:4: executing "" at <.Nmae>: can't evaluate field Nmae in type *formatter.imageContext`);
  fails("{{.Name.Len}}", { Name: "x" }, /can't evaluate field Len in type string/);
});

test("a missing map key prints <no value>; index on a string map gives an empty string", () => {
  const data = { Labels: goMap({ a: "1" }) };
  assert.equal(run("{{.Labels.b}}", data), "<no value>");
  assert.equal(run("{{.Labels.a}}", data), "1");
  assert.equal(run('{{index .Labels "b"}}|{{index .Labels "a"}}', data), "|1");
  assert.equal(run("{{.Missing.Deeper}}", new Map()), "<no value>");
  // objectsAsMaps: docker inspect's raw-JSON fallback
  assert.equal(parseTemplate("{{.Nope}}").execute({ A: 1 }, undefined, { objectsAsMaps: true }), "<no value>");
});

test("Go printing: integers, floats, bools, nil, slices, maps", () => {
  assert.equal(run("{{.}}", 7796000), "7796000");
  assert.equal(run("{{.}}", 2.5), "2.5");
  assert.equal(run("{{.}}", 1234567.5), "1.2345675e+06");
  assert.equal(run("{{.}}", 0.00001), "1e-05");
  assert.equal(run("{{.}}", true), "true");
  assert.equal(run("{{.X}}", { X: null }), "<nil>");
  assert.equal(run("{{.}}", ["a", "b", 3]), "[a b 3]");
  assert.equal(run("{{.}}", []), "[]");
  assert.equal(run("{{.}}", goMap({ b: "2", a: "1" })), "map[a:1 b:2]");
  assert.equal(run("{{.}}", new Map([["k", ["x", "y"]]])), "map[k:[x y]]");
  assert.equal(formatFloat(1e21), "1e+21");
  assert.equal(formatFloat(100000.5), "100000.5");
});

test("literals: numbers, chars, strings with escapes, raw strings, nil", () => {
  assert.equal(run("{{1}} {{-3}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}"), "1 -3 31 15 15 5 1000");
  assert.equal(run("{{'a'}} {{'\\n'}}"), "97 10");
  assert.equal(run('{{"a\\tb\\u00e9\\x41"}}'), "a\tbéA");
  assert.equal(run("{{`raw\\n`}}"), "raw\\n");
  assert.equal(run("{{1.5}} {{true}} {{false}}"), "1.5 true false");
  assert.equal(run("{{nil | print}}"), "<nil>");
});

test("if / else if / else, with / else, and truth", () => {
  const t = '{{if eq .S "running"}}up{{else if eq .S "paused"}}paused{{else}}down{{end}}';
  assert.equal(run(t, { S: "running" }), "up");
  assert.equal(run(t, { S: "paused" }), "paused");
  assert.equal(run(t, { S: "exited" }), "down");
  assert.equal(run("{{with .X}}has {{.}}{{else}}none{{end}}", { X: "" }), "none");
  assert.equal(run("{{with .X}}has {{.}}{{else}}none{{end}}", { X: "v" }), "has v");
  assert.equal(run("{{if .L}}y{{else}}n{{end}}", { L: [] }), "n");
  assert.equal(run("{{if .M}}y{{else}}n{{end}}", { M: goMap({}) }), "n");
  assert.equal(run("{{if .N}}y{{else}}n{{end}}", { N: 0 }), "n");
  assert.equal(run("{{if .S}}y{{else}}n{{end}}", { S: {} }), "y"); // structs are always true
});

test("range over slices, maps and integers, with variables, else, break and continue", () => {
  const data = { Mounts: [{ Source: "/a" }, { Source: "/b" }], Env: goMap({ B: "2", A: "1" }), L: [1, 2, 3, 4, 5] };
  assert.equal(run("{{range .Mounts}}{{.Source}} {{end}}", data), "/a /b ");
  assert.equal(run("{{range $i, $e := .Mounts}}{{$i}}={{$e.Source}},{{end}}", data), "0=/a,1=/b,");
  assert.equal(run("{{range $e := .Mounts}}{{$e.Source}}{{end}}", data), "/a/b");
  assert.equal(run("{{range $k, $v := .Env}}{{$k}}:{{$v}} {{end}}", data), "A:1 B:2 ");
  assert.equal(run("{{range .None}}x{{else}}empty{{end}}", { None: [] }), "empty");
  assert.equal(run("{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}", data), "13");
  assert.equal(run("{{range 3}}{{.}}{{end}}"), "012");
  fails("{{range .S}}{{end}}", { S: 5.5 }, /range can't iterate over 5.5/);
});

test("variables: declare, assign, scope", () => {
  assert.equal(run("{{$v := .X}}{{$v}}{{$v = 2}}{{$v}}", { X: 1 }), "12");
  assert.equal(run("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}"), "2");
  assert.throws(() => parseTemplate("{{if true}}{{$y := 1}}{{end}}{{$y}}"), /undefined variable "\$y"/);
  assert.throws(() => parseTemplate("{{$nope}}"), /template: :1: undefined variable "\$nope"/);
});

test("pipelines and parenthesized arguments", () => {
  const data = { Name: "web", Ports: [{ HostPort: "8080" }], Args: ["-c", "echo hi"] };
  assert.equal(run("{{.Name | upper}}", data), "WEB");
  assert.equal(run('{{.Name | printf "%s!" | upper}}', data), "WEB!");
  assert.equal(run("{{(index .Ports 0).HostPort}}", data), "8080");
  assert.equal(run('{{join .Args " "}}', data), "-c echo hi");
  assert.equal(run("{{len (split .Name \"e\")}}", data), "2");
});

test("whitespace trimming and comments", () => {
  assert.equal(run("a  {{- .X -}}  b", { X: 1 }), "a1b");
  assert.equal(run("a\n\t{{- .X}}\n", { X: 1 }), "a1\n");
  assert.equal(run("x {{/* a comment */}} y"), "x  y");
  assert.equal(run("x {{- /* trimmed */ -}} y"), "xy");
  // "-3" is a number, not a trim marker
  assert.equal(run("{{-3}}"), "-3");
});

test("comparison and logic functions", () => {
  assert.equal(run("{{eq 1 1}} {{eq 1 2 3 1}} {{ne \"a\" \"b\"}} {{lt 1 2}} {{le 2 2}} {{gt 3 2}} {{ge 1 2}}"), "true true true true true true false");
  assert.equal(run('{{lt "a" "b"}} {{eq .X nil}}', { X: null }), "true true");
  assert.equal(run("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"z\"}} {{or 0 \"\"}} {{not 0}}"), "0 2 z  true");
  // and/or short-circuit: the failing call is never evaluated
  assert.equal(run("{{or 1 (index .L 9)}}", { L: [] }), "1");
  fails('{{eq 1 "1"}}', {}, /error calling eq: incompatible types for comparison/);
  fails("{{lt .L .L}}", { L: [1] }, /invalid type for comparison/);
});

test("len, index, slice", () => {
  const data = { L: ["a", "b", "c"], S: "héllo", M: goMap({ k: "v" }) };
  assert.equal(run("{{len .L}} {{len .S}} {{len .M}}", data), "3 6 1");
  assert.equal(run("{{index .L 1}} {{index .S 0}}", data), "b 104");
  assert.equal(run("{{slice .L 1}} {{slice .L 1 2}} {{slice .S 0 1}}", data), "[b c] [b] h");
  fails("{{index .L 5}}", data, `template: :1:2: executing "" at <index>: error calling index: index out of range: 5`);
  fails("{{len 3}}", {}, /len of type int/);
});

test("print, printf, println", () => {
  assert.equal(run('{{print "a" 1 2 "b"}}'), "a1 2b");
  assert.equal(run('{{println "a" 1}}'), "a 1\n");
  assert.equal(run('{{printf "%s:%d" .A .B}}', { A: "x", B: 5 }), "x:5");
  assert.equal(sprintf("%5s|%-5s|%05d|%x|%X|%o|%b|%.2f|%t|%q|%v|%%", ["a", "b", 42, 255, 255, 8, 5, 3.14159, true, "q\"", [1, 2]]), "    a|b    |00042|ff|FF|10|101|3.14|true|\"q\\\"\"|[1 2]|%");
  assert.equal(sprintf("%d %s", ["x"]), "%!d(string=x) %!s(MISSING)");
  assert.equal(sprintf("%d", [1, 2]), "1%!(EXTRA int=2)");
  assert.equal(sprintf("%+d % d %e %g", [5, 5, 1234.5, 0.000012]), "+5  5 1.234500e+03 1.2e-05");
});

test("docker's functions: json, split, join, title, lower, upper, pad, truncate", () => {
  const data = { Config: { Env: ["A=1"], Labels: goMap({ b: "<2>", a: "&" }) }, Name: "hello world" };
  assert.equal(run("{{json .Config}}", data), '{"Env":["A=1"],"Labels":{"a":"&","b":"<2>"}}');
  assert.equal(run("{{json .Name}}", data), '"hello world"');
  assert.equal(run('{{split "a:b:c" ":"}} {{index (split "a:b" ":") 1}}'), "[a b c] b");
  assert.equal(run('{{join (split "a:b" ":") "-"}}'), "a-b");
  assert.equal(run("{{title .Name}} {{upper .Name}} {{lower \"ABC\"}}", data), "Hello World HELLO WORLD abc");
  assert.equal(run('[{{pad "x" 2 1}}][{{pad "" 2 1}}]'), "[  x ][]");
  assert.equal(run('{{truncate "abcdef" 3}} {{truncate "ab" 3}}'), "abc ab");
  fails("{{upper .N}}", { N: 1 }, /wrong type for value; expected string; got int/);
  fails('{{upper "a" "b"}}', {}, /wrong number of args for upper: want 1 got 2/);
});

test("html, js, urlquery escaping", () => {
  assert.equal(run('{{html "<a href=\'x\'>&</a>"}}'), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
  assert.equal(run('{{js "it\'s <b>"}}'), "it\\'s \\u003Cb\\u003E");
  assert.equal(run('{{urlquery "a b&c/é"}}'), "a+b%26c%2F%C3%A9");
});

test("define, template and block", () => {
  assert.equal(run('{{define "item"}}<{{.}}>{{end}}{{range .L}}{{template "item" .}}{{end}}', { L: [1, 2] }), "<1><2>");
  assert.equal(run('{{block "b" .X}}[{{.}}]{{end}}', { X: "v" }), "[v]");
  fails('{{template "nope"}}', {}, /template "nope" not defined/);
});

test("methods on objects are called, with arguments", () => {
  const data = {
    prefix: "p-",
    Name() {
      return "n";
    },
    Join(this: { prefix: string }, a: string, b: string) {
      return this.prefix + a + b;
    },
  };
  assert.equal(run('{{.Name}} {{.Join "x" "y"}} {{"z" | .Join "w"}}', data), "n p-xy p-wz");
  fails('{{.prefix "x"}}', data, /prefix has arguments but cannot be invoked as function/);
});

test("parse errors carry Go's messages and line numbers", () => {
  const bad: [string, RegExp][] = [
    ["{{.A", /^template: :1: unclosed action/],
    ["{{foo}}", /^template: :1: function "foo" not defined/],
    ["{{if .A}}x", /^template: :1: unexpected EOF/],
    ["a\n{{end}}", /^template: :2: unexpected \{\{end\}\}/],
    ["{{}}", /missing value for command/],
    ["{{.A | }}", /missing command after pipe/],
    ["{{(.A}}", /unclosed left paren/],
    ['{{"abc}}', /unterminated quoted string/],
    ["{{break}}", /\{\{break\}\} outside \{\{range\}\}/],
    ["{{/* x }}", /unclosed comment/],
    ["{{.A .B)}}", /unexpected right paren/],
  ];
  for (const [src, re] of bad) {
    assert.throws(
      () => parseTemplate(src),
      (err: unknown) => err instanceof CoveError && re.test(err.message),
      src,
    );
  }
});

test("marshalJSON follows Go: HTML escaping, sorted maps, indentation, empty collections", () => {
  assert.equal(marshalJSON({ a: "<&>" }), '{"a":"\\u003c\\u0026\\u003e"}');
  assert.equal(marshalJSON({ a: "<&>" }, { escapeHTML: false }), '{"a":"<&>"}');
  assert.equal(marshalJSON(goMap({ z: 1, a: 2 })), '{"a":2,"z":1}');
  assert.equal(marshalJSON({ z: 1, a: 2 }), '{"z":1,"a":2}');
  assert.equal(marshalJSON({ a: [], b: {}, c: null, d: "\u2028" }), '{"a":[],"b":{},"c":null,"d":"\\u2028"}');
  assert.equal(marshalJSON([{ a: [1] }], { indent: "    " }), '[\n    {\n        "a": [\n            1\n        ]\n    }\n]');
});

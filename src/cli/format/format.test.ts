import { test } from "node:test";
import assert from "node:assert/strict";
import { formatRows, goMap, MARSHAL_JSON, marshalJSON, tabwrite } from "./index.js";

const HEADERS = { ID: "IMAGE ID", Repository: "REPOSITORY", Tag: "TAG", CreatedSince: "CREATED", Size: "SIZE" };
const DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

const rows = [
  { Repository: "busybox", Tag: "latest", ID: "e7d168d7db45", CreatedSince: "2 weeks ago", Size: "4.26MB" },
  { Repository: "<none>", Tag: "<none>", ID: "1b2c3d4e5f60", CreatedSince: "3 months ago", Size: "120MB" },
];

test("the default table matches docker images' layout (minwidth 10, padding 3)", () => {
  const out = formatRows(undefined, rows, DEFAULT, HEADERS);
  assert.equal(
    out,
    [
      "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE",
      "busybox      latest    e7d168d7db45   2 weeks ago    4.26MB",
      "<none>       <none>    1b2c3d4e5f60   3 months ago   120MB",
      "",
    ].join("\n"),
  );
  // "table" alone and "" also select the default
  assert.equal(formatRows("table", rows, DEFAULT, HEADERS), out);
  assert.equal(formatRows("", rows, DEFAULT, HEADERS), out);
});

test("an empty table still prints its header", () => {
  assert.equal(formatRows(undefined, [], DEFAULT, HEADERS), "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n");
});

test("custom table formats: literal \\t unescaped, header functions keep names, pad still applies", () => {
  const out = formatRows("table {{.ID}}\\t{{upper .Repository}}", rows, DEFAULT, HEADERS);
  assert.equal(out, "IMAGE ID       REPOSITORY\ne7d168d7db45   BUSYBOX\n1b2c3d4e5f60   <NONE>\n");
  const json = formatRows("table {{.ID}}\t{{json .Tag}}", rows.slice(0, 1), DEFAULT, HEADERS);
  assert.equal(json, 'IMAGE ID       TAG\ne7d168d7db45   "latest"\n');
});

test("plain templates print one line per row without a header", () => {
  assert.equal(formatRows("{{.Repository}}:{{.Tag}}", rows, DEFAULT, HEADERS), "busybox:latest\n<none>:<none>\n");
  assert.equal(formatRows("{{.ID}}\\t{{.Size}}", rows.slice(0, 1), DEFAULT, HEADERS), "e7d168d7db45\t4.26MB\n");
});

test("json prints {{json .}} per row; rows may marshal themselves like docker's contexts", () => {
  assert.equal(formatRows("json", [{ b: "<x>", a: 1 }], DEFAULT, HEADERS), '{"b":"<x>","a":1}\n');
  const row = {
    Digest: "<none>",
    [MARSHAL_JSON]() {
      return marshalJSON({ ID: "x", Digest: "<none>" }, { sortKeys: true, escapeHTML: true });
    },
  };
  assert.equal(formatRows("json", [row], DEFAULT, HEADERS), '{"Digest":"\\u003cnone\\u003e","ID":"x"}\n');
});

test("template errors are reported as docker reports them", () => {
  assert.throws(() => formatRows("{{.Nope}}", rows, DEFAULT, HEADERS), /CoveError: template parsing error: template: :1:2: executing "" at <.Nope>: can't evaluate field Nope/);
  assert.throws(() => formatRows("{{.ID", rows, DEFAULT, HEADERS), /CoveError: template parsing error: template: :1: unclosed action/);
});

test("tabwriter: columns are blocks of consecutive lines (Go's elastic tabstops)", () => {
  // from Go's text/tabwriter documentation: the b and c columns are distinct
  const text = "aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n";
  assert.equal(tabwrite(text, { minwidth: 0, padding: 1 }), "aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n");
  // minwidth applies, the last cell is never padded
  assert.equal(tabwrite("a\tb\nccc\td\n", { minwidth: 5, padding: 1 }), "a    b\nccc  d\n");
  // wide characters count twice
  assert.equal(tabwrite("日本\tx\nab\ty\n", { minwidth: 0, padding: 1 }), "日本 x\nab   y\n");
});

test("header data is a map: an unknown header field prints <no value>", () => {
  assert.equal(formatRows("table {{.Other}}", [], DEFAULT, goMap({})), "<no value>\n");
});

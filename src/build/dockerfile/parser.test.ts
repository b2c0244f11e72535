import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DockerfileError } from "./errors.js";
import { dumpAst, goQuote, parseDockerfile } from "./parser.js";

/** ../shared/specs/dockerfile beside the repository (dist/src/build/dockerfile is four levels down). */
function specsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.resolve(here, "../../../../../shared/specs/dockerfile"), "/work/shared/specs/dockerfile"]) {
    if (existsSync(path.join(dir, "parser-testfiles"))) return dir;
  }
  throw new Error("BuildKit's parser test data is missing: expected ../shared/specs/dockerfile/parser-testfiles beside the repository");
}

const SPECS = specsDir();
const POSITIVE = readdirSync(path.join(SPECS, "parser-testfiles")).sort();
const NEGATIVE = readdirSync(path.join(SPECS, "parser-testfiles-negative")).sort();

/** The error a parse throws, asserting it is a DockerfileError. */
function parseError(text: string, file = "Dockerfile"): DockerfileError {
  try {
    parseDockerfile(text, file);
  } catch (err) {
    assert.ok(err instanceof DockerfileError, `expected a DockerfileError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(text)} not to parse`);
}

describe("BuildKit's parser test data", () => {
  it("has cases to run", () => {
    assert.ok(POSITIVE.length >= 17, `only ${POSITIVE.length} positive cases`);
    assert.ok(NEGATIVE.length >= 2, `only ${NEGATIVE.length} negative cases`);
  });
  for (const name of POSITIVE) {
    it(`parses ${name} to its result byte for byte`, () => {
      const dir = path.join(SPECS, "parser-testfiles", name);
      const got = dumpAst(parseDockerfile(readFileSync(path.join(dir, "Dockerfile"), "utf8")).nodes);
      assert.equal(got, readFileSync(path.join(dir, "result"), "utf8"));
    });
  }
  for (const name of NEGATIVE) {
    it(`refuses ${name}`, () => {
      const err = parseError(readFileSync(path.join(SPECS, "parser-testfiles-negative", name, "Dockerfile"), "utf8"));
      assert.match(err.message, /^Dockerfile:\d+:\d+: /);
    });
  }
});

const dump = (text: string) => dumpAst(parseDockerfile(text).nodes);

describe("parser", () => {
  it("splits arguments per instruction", () => {
    assert.equal(
      dump('FROM --platform=linux/arm64 busybox AS build\nRUN echo "a  b" \\\n  && true\nCMD ["sh", "-c", "x"]\nENV a=1 b="2 3"\nENV legacy value with spaces\nLABEL "k"=v\nARG foo bar=baz\nHEALTHCHECK --interval=5s CMD curl -f x\nHEALTHCHECK NONE\nONBUILD RUN echo hi\nUSER  me:grp \nEXPOSE 80/tcp 443\n'),
      [
        '(from ["--platform=linux/arm64"] "busybox" "AS" "build")',
        '(run "echo \\"a  b\\"   && true")',
        '(cmd "sh" "-c" "x")',
        '(env "a" "1" "=" "b" "\\"2 3\\"" "=")',
        '(env "legacy" "value with spaces" "")',
        '(label "\\"k\\"" "v" "=")',
        '(arg "foo" "bar=baz")',
        '(healthcheck ["--interval=5s"] "CMD" "curl -f x")',
        '(healthcheck "NONE")',
        '(onbuild (run "echo hi"))',
        '(user "me:grp")',
        '(expose "80/tcp" "443")',
        "",
      ].join("\n"),
    );
  });

  it("keeps an unknown instruction for the typed pass to reject", () => {
    assert.equal(dump("FORM busybox\n"), '(form "")\n');
  });

  it("records lines, flags, JSON form and comments on each node", () => {
    const { nodes } = parseDockerfile("# the base\nFROM busybox\n\n# copy it\nCOPY --from=build --chown=1:1 \\\n  a \\\n  b /dst/\nRUN [\"ls\"]\n");
    assert.deepEqual(
      nodes.map((n) => [n.value, n.startLine, n.endLine, n.json, n.flags, n.comments]),
      [
        ["FROM", 2, 2, false, [], ["the base"]],
        ["COPY", 5, 7, false, ["--from=build", "--chown=1:1"], ["copy it"]],
        ["RUN", 8, 8, true, [], []],
      ],
    );
    assert.equal(nodes[1]!.original, "COPY --from=build --chown=1:1   a   b /dst/");
  });

  it("reads parser directives only at the top", () => {
    const r = parseDockerfile("# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all\nFROM busybox\nRUN echo a `\n  b\n# escape=\\\nRUN x\n");
    assert.equal(r.escape, "`");
    assert.deepEqual(
      r.directives.map((d) => [d.name, d.value, d.line]),
      [
        ["syntax", "docker/dockerfile:1", 1],
        ["escape", "`", 2],
        ["check", "skip=all", 3],
      ],
    );
    assert.equal(dumpAst(r.nodes), '(from "busybox")\n(run "echo a   b")\n(run "x")\n');
    // after a blank line or any comment, `# escape=` is a comment
    assert.equal(parseDockerfile("\n# escape=`\nFROM a\n").escape, "\\");
    assert.equal(parseDockerfile("# hello\n# escape=`\nFROM a\n").escape, "\\");
  });

  it("refuses a repeated or invalid directive at its line", () => {
    const dup = parseError("# escape=`\n# escape=\\\nFROM a\n");
    assert.equal(dup.message, "Dockerfile:2:1: only one escape parser directive can be used");
    const bad = parseError("# escape=x\nFROM a\n");
    assert.equal(bad.message, "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\");
  });

  it("skips comments and empty lines inside continuations, with a warning for the empty ones", () => {
    const r = parseDockerfile("FROM a\nRUN one \\\n# a comment\n\n  two\n");
    assert.equal(dumpAst(r.nodes), '(from "a")\n(run "one   two")\n');
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!.message, /Empty continuation line/);
  });

  it("strips a byte-order mark and handles CRLF line endings", () => {
    assert.equal(dump("\uFEFFFROM a\r\nRUN b \\\r\n c\r\n"), '(from "a")\n(run "b  c")\n');
  });

  it("reads heredocs, several on a line, with quoted delimiters and <<-", () => {
    const { nodes } = parseDockerfile('FROM a\nRUN <<EOF\necho $HOME\nEOF\nCOPY <<one <<"two" /dst/\nfirst\none\nsecond $X\ntwo\nRUN 3<<-\'END\' cat\n\t\tindented\n\tEND\nRUN ["x", "<<EOF"]\n');
    const [, run, copy, chomp, json] = nodes;
    assert.deepEqual(run!.heredocs, [{ name: "EOF", fileDescriptor: 0, expand: true, chomp: false, content: "echo $HOME\n" }]);
    assert.deepEqual([run!.startLine, run!.endLine], [2, 4]);
    assert.deepEqual(
      copy!.heredocs.map((h) => [h.name, h.expand, h.content]),
      [
        ["one", true, "first\n"],
        ["two", false, "second $X\n"],
      ],
    );
    assert.deepEqual(chomp!.heredocs, [{ name: "END", fileDescriptor: 3, expand: false, chomp: true, content: "\t\tindented\n" }]);
    assert.deepEqual([json!.heredocs, json!.startLine], [[], 13]);
    assert.equal(dumpAst(nodes), '(from "a")\n(run "<<EOF")\n(copy "<<one" "<<\\"two\\"" "/dst/")\n(run "3<<-\'END\' cat")\n(run "x" "<<EOF")\n');
  });

  it("reads heredocs in an ONBUILD trigger", () => {
    const { nodes } = parseDockerfile("FROM a\nONBUILD RUN <<EOF\nls\nEOF\n");
    assert.deepEqual(nodes[1]!.heredocs.map((h) => h.content), ["ls\n"]);
  });

  it("refuses an unterminated heredoc at the instruction's line", () => {
    const err = parseError("FROM a\n  RUN <<EOF\necho\n");
    assert.equal(err.line, 2);
    assert.equal(err.column, 3);
    assert.equal(err.lineText, "  RUN <<EOF");
    assert.equal(err.endLine, 3);
    assert.match(err.reason, /^unterminated heredoc EOF/);
  });

  it("refuses a JSON array that holds anything but strings", () => {
    const err = parseError('FROM a\nCMD ["a", 1]\n', "app/Dockerfile");
    assert.equal(err.message, "app/Dockerfile:2:1: when using JSON array syntax, arrays must be comprised of strings only");
    assert.equal(err.describe(), `${err.message}\n   2 | CMD ["a", 1]\n     | ^`);
  });

  it("refuses the legacy ENV form without a value", () => {
    assert.equal(parseError("FROM a\nENV single\n").message, "Dockerfile:2:1: ENV must have two arguments");
  });

  it("refuses a file without instructions", () => {
    for (const text of ["", "\n\n", "# just a comment\n", "# escape=`\n"]) assert.match(parseError(text).reason, /^file with no instructions$/);
  });

  it("keeps an escape character at the end of the file as a continuation", () => {
    assert.equal(dump("FROM a\nRUN echo \\"), '(from "a")\n(run "echo")\n');
  });
});

describe("goQuote", () => {
  it("quotes as Go's strconv.Quote", () => {
    assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(goQuote("\t\n\r\x00\x7f\u00a0é한🚀"), '"\\t\\n\\r\\x00\\x7f\\u00a0é한🚀"');
  });
});

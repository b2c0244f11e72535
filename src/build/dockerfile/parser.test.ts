import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DockerfileError } from "./errors.js";
import { chompHeredocContent, decodeDockerfile, dumpAst, goLower, goQuote, heredocsFromLine, parseDockerfile, parseHeredocWord } from "./parser.js";

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
      const got = dumpAst(parseDockerfile(decodeDockerfile(readFileSync(path.join(dir, "Dockerfile")))).nodes);
      assert.equal(got, readFileSync(path.join(dir, "result"), "utf8"));
    });
  }
  for (const name of NEGATIVE) {
    it(`refuses ${name}`, () => {
      const err = parseError(decodeDockerfile(readFileSync(path.join(SPECS, "parser-testfiles-negative", name, "Dockerfile"))));
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

describe("decodeDockerfile", () => {
  it("keeps bytes that are not UTF-8, and goQuote prints them as Go does", () => {
    const text = decodeDockerfile(Buffer.from([0x46, 0x52, 0x4f, 0x4d, 0x20, 0x61, 0xe9, 0x62, 0x20, 0xc3, 0xa9, 0xf0, 0x9f, 0x9a, 0x80, 0xc3, 0x0a]));
    assert.equal(dump(text), '(from "a\\xe9b" "é🚀\\xc3")\n');
    // in JSON form Go's decoder makes them U+FFFD
    assert.equal(dump(decodeDockerfile(Buffer.from([0x43, 0x4d, 0x44, 0x20, 0x5b, 0x22, 0xff, 0x22, 0x5d]))), '(cmd "\ufffd")\n');
  });
});

describe("goLower", () => {
  it("lowers as Go's strings.ToLower, one character at a time", () => {
    assert.equal(goLower("ΑΣ"), "ασ");
    assert.equal(goLower("MAİNTAİNER"), "maintainer");
    assert.equal(dump("MAİNTAİNER me\n"), '(maintainer "me")\n');
  });
});

describe("goQuote", () => {
  it("quotes as Go's strconv.Quote", () => {
    assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(goQuote("\t\n\r\x00\x7f\u00a0é한🚀"), '"\\t\\n\\r\\x00\\x7f\\u00a0é한🚀"');
  });
});

// Facts from BuildKit's parser unit tests (frontend/dockerfile/parser/parser_heredoc_test.go and
// parser_test.go), carried over as data.
describe("BuildKit's parser unit-test facts", () => {
  it("extracts heredocs (TestParseExtractsHeredoc)", () => {
    const dockerfile = `
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
	foo
	bar
INDENT

RUN <<-UNINDENT
	baz
	quux
UNINDENT

RUN <<-UNINDENT2
	baz
	quux
	UNINDENT2

RUN <<-EXPAND
	expand $NAME
EXPAND

RUN <<-'NOEXPAND'
	don't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
	`;
    type H = [name: string, content: string, expand: boolean, chomp?: boolean, fd?: number];
    const want: (H[] | null)[] = [
      null, // ENV
      null, // RUN ls
      null, // USER <<INVALID
      null, // INVALID
      [["EMPTY", "", true]],
      [["EMPTY2", "", true, false, 3]],
      null, // RUN "<<NOHEREDOC"
      [["INDENT", "\tfoo\n\tbar\n", true]],
      [["UNINDENT", "\tbaz\n\tquux\n", true, true]],
      [["UNINDENT2", "\tbaz\n\tquux\n", true, true]],
      [["EXPAND", "\texpand $NAME\n", true, true]],
      [["NOEXPAND", "\tdon't expand $NAME\n", false, true]],
      [["COPY", "echo hello world\necho foo bar\n", true]],
      [["COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n", true]],
      [["MOUNT", "echo hello\n", true]],
      [
        ["FILE1", "content 1\n", true],
        ["FILE2", "content 2\n", true],
      ],
      [["EOF", "\"foo\"\n'bar'\n", true]],
      [
        ["X", "Y\n", true],
        ["Y", "X\n", true],
      ],
      [["COMPLEX", "print('hello world')\n", true]],
      [["file.txt", "hello world\n", true]],
      [["eof", "echo foo\n", false]],
      [["eo'f", "echo foo\n", true]],
      [["eo'f", "echo foo\n", false]],
      [["one two", "echo bar\n", false]],
      [["$EOF", "", true]],
      [["EOF", "", true]],
      [["EOF", "", true]],
    ];
    const { nodes } = parseDockerfile(dockerfile);
    assert.equal(nodes.length, want.length + 1);
    want.forEach((docs, i) => {
      const expected = (docs ?? []).map(([name, content, expand, chomp, fd]) => ({ name, content, expand, chomp: chomp ?? false, fileDescriptor: fd ?? 0 }));
      assert.deepEqual(
        nodes[i + 1]!.heredocs.map((h) => ({ name: h.name, content: h.content, expand: h.expand, chomp: h.chomp, fileDescriptor: h.fileDescriptor })),
        expected,
        nodes[i + 1]!.original,
      );
    });
  });

  it("reads no heredocs in JSON form (TestParseJSONHeredoc)", () => {
    const { nodes } = parseDockerfile('\nFROM alpine:3.6\n\nRUN ["whoami"]\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n\t');
    assert.equal(nodes.length, 4);
    for (const n of nodes.slice(1)) assert.deepEqual(n.heredocs, []);
  });

  it("chomps leading tabs (TestHeredocChomp)", () => {
    assert.equal(chompHeredocContent("\thello\n\tworld\n"), "hello\nworld\n");
  });

  it("tells heredoc words apart (TestParseHeredocHelpers)", () => {
    for (const src of ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"]) assert.equal(parseHeredocWord(src), undefined, src);
    for (const src of ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'", '<<-"EOF"', '<<EO"F"', "<< EOF", "<<- EOF"]) assert.equal(parseHeredocWord(src)?.name, "EOF", src);
    for (const src of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) assert.throws(() => parseHeredocWord(src), src);
  });

  it("finds the heredocs of a line (TestHeredocsFromLine)", () => {
    const cases: [string, string[]][] = [
      ["RUN <<EOF", ["EOF"]],
      ["RUN <<-EOF", ["EOF"]],
      // the line's lexer splits `<<-` from `EOF`, so no heredoc (BuildKit's test only checks the
      // names it finds, and finds none here either)
      ["RUN <<- EOF", []],
      ["RUN << -EOF", ["-EOF"]],
      ["RUN <<'EOF'", ["EOF"]],
      ["RUN 4<<EOF", ["EOF"]],
      ["RUN <<EOF <<EOF2", ["EOF", "EOF2"]],
      ["RUN '<<EOF'", []],
      ['RUN "<<EOF"', []],
    ];
    for (const [line, names] of cases) assert.deepEqual(heredocsFromLine(line).map((h) => h.name), names, line);
  });

  it("splits words keeping quotes and escapes (TestParseWords, through ARG)", () => {
    const cases: [string, string[]][] = [
      ["foo", ["foo"]],
      ["foo bar", ["foo", "bar"]],
      ["foo\\ bar", ["foo\\ bar"]],
      ["foo=bar", ["foo=bar"]],
      ["foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]],
      ['foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']],
      ["àöû", ["àöû"]],
      ['föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']],
    ];
    for (const [input, words] of cases) assert.deepEqual(parseDockerfile(`ARG ${input}\n`).nodes[0]!.args, words, input);
  });

  it("numbers lines (TestParseIncludesLineNumbers)", () => {
    const text = [
      "# ESCAPE=\\",
      "",
      "",
      "",
      "FROM brimstone/ubuntu:14.04",
      "",
      "",
      "# TORUN -v /var/run/docker.sock:/var/run/docker.sock",
      "",
      "",
      "ENV GOPATH \\",
      "/go",
      "",
      "",
      "",
      "# Install the packages we need, clean up after them and us",
      "RUN apt-get update \\",
      "\t&& dpkg -l | awk '/^ii/ {print $2}' > /tmp/dpkg.clean \\",
      "",
      "",
      "    && apt-get --no-install-recommends install -y git golang ca-certificates \\",
      "    && apt-get clean \\",
      "    && rm -rf /var/lib/apt/lists \\",
      "",
      "\t&& go get -v github.com/brimstone/consuldock \\",
      "    && mv $GOPATH/bin/consuldock /usr/local/bin/consuldock \\",
      "",
      "\t&& dpkg -l | awk '/^ii/ {print $2}' > /tmp/dpkg.dirty \\",
      "\t&& apt-get remove --purge -y $(diff /tmp/dpkg.clean /tmp/dpkg.dirty | awk '/^>/ {print $2}') \\",
      "\t&& rm /tmp/dpkg.* \\",
      "\t&& rm -rf $GOPATH",
      "",
      "",
      "",
      "",
    ].join("\n");
    assert.deepEqual(
      parseDockerfile(text).nodes.map((n) => [n.startLine, n.endLine]),
      [
        [5, 5],
        [11, 12],
        [17, 31],
      ],
    );
  });

  it("warns about empty continuation lines (TestParseWarnsOnEmptyContinutationLine)", () => {
    const text = "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t";
    const { warnings } = parseDockerfile(text);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!.message, /^Empty continuation line found in: RUN something {5}following {5}more/);
    assert.match(warnings[1]!.message, /RUN another {5}thing/);
  });
});

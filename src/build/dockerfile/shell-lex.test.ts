import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ShellLex, ShellLexError, envFromList, envFromRecord, expandWord, patternToRegex } from "./shell-lex.js";

// BuildKit's lexer test data, kept in the source tree (dist/src/build/dockerfile → src/build/dockerfile/testdata)
const TESTDATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../src/build/dockerfile/testdata");
const read = (name: string) => readFileSync(path.join(TESTDATA, name), "utf8");

/** The outcome of a lexer call: its value, or "error". */
function outcome<T>(fn: () => T): T | "error" {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ShellLexError) return "error";
    throw err;
  }
}

describe("BuildKit's envVarTest", () => {
  const env = envFromList(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]);
  const lex = new ShellLex();
  const lines = read("envVarTest").split("\n");
  let cases = 0;
  lines.forEach((raw, i) => {
    if (raw.startsWith("#") || raw.trim() === "") return;
    const parts = raw.trim().split("|");
    assert.equal(parts.length, 3, `line ${i + 1} of envVarTest: ${raw}`);
    const [platform, source, expected] = parts.map((p) => p.trim()) as [string, string, string];
    if (platform === "W") return; // Windows only
    cases++;
    it(`line ${i + 1}: ${source} → ${expected}`, () => {
      assert.equal(
        outcome(() => lex.processWord(source, env)),
        expected,
      );
    });
  });
  it("has the cases", () => assert.ok(cases > 200, `only ${cases} cases`));
});

describe("BuildKit's wordsTest", () => {
  const lex = new ShellLex();
  const env: string[] = [];
  let cases = 0;
  read("wordsTest")
    .split("\n")
    .forEach((line, i) => {
      if (line.startsWith("#") || line === "") return;
      if (line.startsWith("ENV ")) {
        env.push(line.slice(3).replace(/^ +/, ""));
        return;
      }
      const parts = line.split("|");
      assert.equal(parts.length, 2, `line ${i + 1} of wordsTest: ${line}`);
      const input = parts[0]!.trim();
      const expected = parts[1]!.replace(/^ +/, "").split(",");
      const envNow = envFromList([...env]);
      cases++;
      it(`line ${i + 1}: ${input} → ${expected.join(",")}`, () => {
        const got = outcome(() => lex.processWords(input, envNow));
        assert.deepEqual(got === "error" ? ["error"] : got, expected);
      });
    });
  it("has the cases", () => assert.ok(cases > 20, `only ${cases} cases`));
});

describe("substitution", () => {
  const env = envFromRecord({ str: "foobarbaz", empty: "", path: "/usr/local/bin", spaced: "a  b" });
  const cases: [string, string | "error"][] = [
    ["$str", "foobarbaz"],
    ["${str}", "foobarbaz"],
    ["${unset:-word}", "word"],
    ["${empty:-word}", "word"],
    ["${empty-word}", ""],
    ["${unset-word}", "word"],
    ["${str:+set}", "set"],
    ["${empty:+set}", ""],
    ["${empty+set}", "set"],
    ["${unset+set}", ""],
    ["${str:?must be set}", "foobarbaz"],
    ["${unset:?must be set}", "error"],
    ["${empty:?}", "error"],
    ["${empty?}", ""],
    ["${unset?}", "error"],
    ["${str#f*b}", "arbaz"],
    ["${str##f*b}", "az"],
    ["${str%b*}", "foobar"],
    ["${str%%b*}", "foo"],
    ["${str/ba/fo}", "fooforbaz"],
    ["${str//ba/fo}", "fooforfoz"],
    ["${path//\\//:}", ":usr:local:bin"],
    ["${str/o?/X}", "fXbarbaz"],
    ["${str#\\*}", "foobarbaz"],
    ["${unset:-${str}}", "foobarbaz"],
    ["'$str'", "$str"],
    ['"$str"', "foobarbaz"],
    ["\\$str", "$str"],
    ["${str", "error"],
    ["${str:#x}", "error"],
    ["${str^x}", "error"],
  ];
  for (const [word, want] of cases) {
    it(`${word} → ${want}`, () => assert.equal(outcome(() => expandWord(word, env)), want));
  }

  it("uses the escape directive's character", () => {
    const env2 = envFromRecord({ A: "x" });
    assert.equal(expandWord("`$A $A", env2, "`"), "$A x");
    assert.equal(expandWord("C:\\dir\\$A", env2, "`"), "C:\\dir\\x");
  });

  it("keeps unset variables and quotes when asked (heredoc detection)", () => {
    const lex = new ShellLex({ skipUnset: true, rawQuotes: true });
    assert.deepEqual(lex.processWords("<<'EOF' ${X:-y} $Y", envFromRecord({})), ["<<'EOF'", "${X:-y}", "$Y"]);
  });

  it("splits words only outside quotes, the value of a variable included", () => {
    assert.deepEqual(new ShellLex().processWords('a "$spaced" $spaced', env), ["a", "a  b", "a", "b"]);
  });

  it("drops what precedes a ${VAR#...} operand from the split word, as BuildKit does", () => {
    // BuildKit's lexer shares one word buffer with the nested operand, which resets it
    const env2 = envFromRecord({ A: "hello" });
    assert.deepEqual(new ShellLex().processWords("pre${A#h}post and ${A:-x}", env2), ["ellopost", "and", "hello"]);
    assert.equal(new ShellLex().processWord("pre${A#h}post and ${A:-x}", env2), "preellopost and hello");
  });

  it("names what it failed on", () => {
    assert.throws(() => expandWord("${unset:?needed here}", env), { message: 'failed to process "${unset:?needed here}": unset: needed here' });
  });
});

describe("patternToRegex", () => {
  it("translates globs as BuildKit does", () => {
    assert.equal(patternToRegex("*", true, true).source, "^.*");
    assert.equal(patternToRegex("?", true, true).source, "^.");
    assert.equal(patternToRegex("\\*", true, true).source, "^\\*");
    assert.equal(patternToRegex("(()[]{\\}^$.\\*\\?|\\\\", true, true).source, "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\");
  });
  it("refuses bad escapes", () => {
    for (const p of ["\\", "\\x", "\\\\\\"]) assert.throws(() => patternToRegex(p, true, true), ShellLexError);
  });
});

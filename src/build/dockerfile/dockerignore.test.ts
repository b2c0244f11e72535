import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DockerIgnore, cleanPath, readDockerignore } from "./dockerignore.js";
import { DockerfileError } from "./errors.js";

describe("readDockerignore", () => {
  it("normalises lines as Docker does", () => {
    // moby/patternmatcher's ignorefile test
    const content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    assert.deepEqual(readDockerignore(content), ["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!"]);
  });

  it("cleans paths and strips a byte-order mark and CRLF", () => {
    assert.deepEqual(readDockerignore("\uFEFF./node_modules/\r\n  dist//x/../y  \r\n#c\r\n !./keep\r\n"), ["node_modules", "dist/y", "!keep"]);
  });
});

describe("cleanPath", () => {
  it("cleans lexically as Go's path.Clean", () => {
    for (const [i, o] of [
      ["", "."],
      ["a/./b/", "a/b"],
      ["../a", "../a"],
      ["a/../../b", "../b"],
      ["/../a", "/a"],
      ["//a//b", "/a/b"],
    ]) assert.equal(cleanPath(i!), o, i);
  });
});

describe("matching (moby/patternmatcher's cases)", () => {
  const single: [string, string, boolean][] = [
    ["**", "file", true],
    ["**", "file/", true],
    ["**/", "file", true],
    ["**/", "file/", true],
    ["**", "/", true],
    ["**/", "/", true],
    ["**", "dir/file", true],
    ["**/", "dir/file", true],
    ["**", "dir/file/", true],
    ["**/", "dir/file/", true],
    ["**/**", "dir/file", true],
    ["**/**", "dir/file/", true],
    ["dir/**", "dir/file", true],
    ["dir/**", "dir/file/", true],
    ["dir/**", "dir/dir2/file", true],
    ["dir/**", "dir/dir2/file/", true],
    ["**/dir", "dir", true],
    ["**/dir", "dir/file", true],
    ["**/dir2/*", "dir/dir2/file", true],
    ["**/dir2/*", "dir/dir2/file/", true],
    ["**/dir2/**", "dir/dir2/dir3/file", true],
    ["**/dir2/**", "dir/dir2/dir3/file/", true],
    ["**file", "file", true],
    ["**file", "dir/file", true],
    ["**/file", "dir/file", true],
    ["**file", "dir/dir/file", true],
    ["**/file", "dir/dir/file", true],
    ["**/file*", "dir/dir/file", true],
    ["**/file*", "dir/dir/file.txt", true],
    ["**/file*txt", "dir/dir/file.txt", true],
    ["**/file*.txt", "dir/dir/file.txt", true],
    ["**/file*.txt*", "dir/dir/file.txt", true],
    ["**/**/*.txt", "dir/dir/file.txt", true],
    ["**/**/*.txt2", "dir/dir/file.txt", false],
    ["**/*.txt", "file.txt", true],
    ["**/**/*.txt", "file.txt", true],
    ["a**/*.txt", "a/file.txt", true],
    ["a**/*.txt", "a/dir/file.txt", true],
    ["a**/*.txt", "a/dir/dir/file.txt", true],
    ["a/*.txt", "a/dir/file.txt", false],
    ["a/*.txt", "a/file.txt", true],
    ["a/*.txt**", "a/file.txt", true],
    ["a[b-d]e", "ae", false],
    ["a[b-d]e", "ace", true],
    ["a[b-d]e", "aae", false],
    ["a[^b-d]e", "aze", true],
    [".*", ".foo", true],
    [".*", "foo", false],
    ["abc.def", "abcdef", false],
    ["abc.def", "abc.def", true],
    ["abc.def", "abcZdef", false],
    ["abc?def", "abcZdef", true],
    ["abc?def", "abcdef", false],
    ["a\\\\", "a\\", true],
    ["**/foo/bar", "foo/bar", true],
    ["**/foo/bar", "dir/foo/bar", true],
    ["**/foo/bar", "dir/dir2/foo/bar", true],
    ["abc/**", "abc", false],
    ["abc/**", "abc/def", true],
    ["abc/**", "abc/def/ghi", true],
    ["**/.foo", ".foo", true],
    ["**/.foo", "bar.foo", false],
    ["a(b)c/def", "a(b)c/def", true],
    ["a(b)c/def", "a(b)c/xyz", false],
    ["a.|)$(}+{bc", "a.|)$(}+{bc", true],
    ["dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
    ["dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
    ["a\\*b", "a*b", true],
  ];
  for (const [pattern, path, want] of single) {
    it(`${pattern} ${want ? "matches" : "does not match"} ${path}`, () => assert.equal(new DockerIgnore([pattern]).excludes(path), want));
  }

  const multi: [string[], string, boolean][] = [
    [["**", "!util/docker/web"], "util/docker/web/foo", false],
    [["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true],
    [["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
    [["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
    // the last matching pattern wins
    [["*.md", "!README.md"], "README.md", false],
    [["*.md", "!README.md"], "CHANGES.md", true],
    [["!README.md", "*.md"], "README.md", true],
    // a parent directory's match excludes what is under it
    [["node_modules"], "node_modules/x/index.js", true],
    [["docs"], "src/docs/a", false],
    [["*/docs"], "src/docs/a", true],
  ];
  for (const [patterns, path, want] of multi) {
    it(`${patterns.join(" ")} ${want ? "excludes" : "keeps"} ${path}`, () => assert.equal(new DockerIgnore(patterns).excludes(path), want));
  }

  it("passes Go's regexp escapes through, as patternmatcher does", () => {
    assert.equal(new DockerIgnore(["log\\d"]).excludes("log5"), true);
    assert.equal(new DockerIgnore(["log\\d"]).excludes("logd"), false);
    assert.equal(new DockerIgnore(["a\\.b"]).excludes("a.b"), true);
    assert.throws(() => new DockerIgnore(["a\\é"]), DockerfileError);
    assert.throws(() => new DockerIgnore(["a\\q"]), DockerfileError);
  });

  it("reports whether there are exclusions", () => {
    assert.equal(new DockerIgnore(["a"]).hasExclusions(), false);
    assert.equal(new DockerIgnore(["a", "!a/b"]).hasExclusions(), true);
  });
});

describe("DockerIgnore.parse", () => {
  it("matches what a .dockerignore file says", () => {
    const ig = DockerIgnore.parse("# build outputs\n/dist\n**/*.log\n!important.log\n./tmp/\n");
    assert.equal(ig.excludes("dist/app.js"), true);
    assert.equal(ig.excludes("src/dist/app.js"), false);
    assert.equal(ig.excludes("logs/a.log"), true);
    assert.equal(ig.excludes("important.log"), false);
    assert.equal(ig.excludes("tmp/x"), true);
    assert.equal(ig.excludes("src/main.ts"), false);
  });

  it("always sends the Dockerfile and .dockerignore, but COPY does not see them when excluded", () => {
    const ig = DockerIgnore.parse("*\n!src\n");
    assert.equal(ig.sentWithContext("Dockerfile"), true);
    assert.equal(ig.sentWithContext(".dockerignore"), true);
    assert.equal(ig.sentWithContext("build/Dockerfile.prod", "build/Dockerfile.prod"), true);
    assert.equal(ig.sentWithContext("build/Dockerfile.prod"), false);
    assert.equal(ig.sentWithContext("src/a.ts"), true);
    assert.equal(ig.copiedByAddCopy("Dockerfile"), false);
    assert.equal(ig.copiedByAddCopy("src/a.ts"), true);
    assert.equal(DockerIgnore.parse("node_modules\n").copiedByAddCopy("Dockerfile"), true);
  });

  it("refuses a malformed pattern at its line", () => {
    for (const [text, line, lineText] of [
      ["a\n\n[\n", 3, "["],
      ["ok\n!\n", 2, "!"],
      ["a[b-\n", 1, "a[b-"],
      ["x[]\n", 1, "x[]"],
      ["trailing\\\n", 1, "trailing\\"],
    ] as const) {
      assert.throws(
        () => DockerIgnore.parse(text),
        (err: unknown) => err instanceof DockerfileError && err.file === ".dockerignore" && err.line === line && err.lineText === lineText && err.message.startsWith(`.dockerignore:${line}:1: `),
        text,
      );
    }
  });
});

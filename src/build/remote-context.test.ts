import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isGitUrl, parseGitUrl } from "./remote-context.js";

describe("git context URLs", () => {
  it("are told apart from other URLs as dockerd does", () => {
    for (const u of ["https://host/r.git", "http://host/r.git#main:sub", "git://host/r", "git@host:r.git", "github.com/o/r"]) assert.equal(isGitUrl(u), true, u);
    for (const u of ["https://host/ctx.tar.gz", "https://host/r.git/x", "file:///r.git", "r.git"]) assert.equal(isGitUrl(u), false, u);
  });

  it("split into remote, ref and subdirectory; a ref that looks like an option is refused", () => {
    assert.deepEqual(parseGitUrl("https://host/r.git#v1:app/x"), { remote: "https://host/r.git", ref: "v1", subdir: "app/x" });
    assert.deepEqual(parseGitUrl("git://host/r#:app"), { remote: "git://host/r", subdir: "app" });
    assert.deepEqual(parseGitUrl("git@host:o/r.git#dev"), { remote: "git@host:o/r.git", ref: "dev" });
    assert.deepEqual(parseGitUrl("github.com/o/r"), { remote: "https://github.com/o/r" });
    assert.throws(() => parseGitUrl("git://host/r#--upload-pack=x"), /invalid refspec: --upload-pack=x/);
  });
});

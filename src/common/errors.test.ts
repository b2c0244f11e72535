import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoveError, diskFull, fromErrno, invalid } from "./errors.js";

const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

describe("diskFull", () => {
  it("turns a raw ENOSPC into an error that says what was done and where to make room", () => {
    const err = diskFull(enospc(), "POST /commit", "/var/lib/cove");
    assert.ok(err instanceof CoveError);
    assert.equal(err.code, "disk.full");
    assert.equal(err.errno, "ENOSPC");
    assert.equal(err.message, "POST /commit: no space left on device");
    assert.match(err.describe(), /hint: free space on the file system of \/var\/lib\/cove/);
  });

  it("keeps the message of an ENOSPC already wrapped, adding the hint", () => {
    const err = diskFull(fromErrno(enospc(), "write the record of container x"), "POST /containers/create", "/r");
    assert.ok(err instanceof CoveError);
    assert.match(err.message, /^write the record of container x: ENOSPC/);
    assert.match(err.hint ?? "", /free space on the file system of \/r/);
  });

  it("leaves other errors, and ENOSPC errors that already say what to do, as they are", () => {
    const other = invalid("bad");
    assert.equal(diskFull(other, "POST /x"), other);
    const plain = new Error("boom");
    assert.equal(diskFull(plain, "POST /x"), plain);
    const hinted = fromErrno(enospc(), "stage the archive", "free disk space under the state root");
    assert.equal(diskFull(hinted, "POST /images/load"), hinted);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoveError } from "../../common/errors.js";
import { fileMode } from "../../compose/index.js";
import { envFlags, intFlag, table, takeFlags } from "./common.js";
import { combinedStatus } from "./info.js";

describe("compose flags", () => {
  const valued = { "-e": "env", "--env": "env", "-u": "user", "--index": "index" };
  const bools = { "-T": "notty", "-d": "detach" };

  it("takes --x v, --x=v, -x v, a glued -xVALUE and booleans, and stops at the first operand", () => {
    const f = takeFlags(["-e", "A=1", "--env=B=2", "-eC=3", "-u1000", "-T", "--index", "2", "web", "sh", "-c", "-d"], valued, bools);
    assert.deepEqual(f.values, { env: ["A=1", "B=2", "C=3"], user: ["1000"], index: ["2"] });
    assert.deepEqual([...f.set], ["notty"]);
    assert.deepEqual(f.rest, ["web", "sh", "-c", "-d"]);
    assert.deepEqual(takeFlags(["--", "-T"], valued, bools).rest, ["-T"]);
  });

  it("rejects an unknown flag, a missing value and a value given to a boolean", () => {
    assert.throws(() => takeFlags(["--nope"], valued, bools), (e: unknown) => e instanceof CoveError && /unknown flag: --nope/.test(e.message));
    assert.throws(() => takeFlags(["--index"], valued, bools), /flag needs an argument: --index/);
    assert.throws(() => takeFlags(["-d=1"], valued, bools), /flag -d takes no value \(got "1"\)/);
  });

  it("reads whole numbers with a minimum", () => {
    assert.equal(intFlag(takeFlags(["--index", "3"], valued, bools), "index", "--index", 1), 3);
    assert.equal(intFlag(takeFlags([], valued, bools), "index", "--index", 1), undefined);
    assert.throws(() => intFlag(takeFlags(["--index", "0"], valued, bools), "index", "--index", 1), /invalid argument "0" for "--index" flag/);
    assert.throws(() => intFlag(takeFlags(["--index", "two"], valued, bools), "index", "--index", 1), /invalid argument "two"/);
  });

  it("takes -e NAME from the environment, and leaves it out when unset", () => {
    assert.deepEqual(envFlags(["A=1", "HOME", "UNSET"], { HOME: "/root" }), ["A=1", "HOME=/root"]);
    assert.throws(() => envFlags(["=x"], {}), /invalid environment variable: =x/);
  });
});

describe("compose output", () => {
  it("pads columns to the widest cell plus three spaces, the last unpadded", () => {
    assert.equal(table([["NAME", "STATUS"], ["p-web-1", "running"]]), "NAME      STATUS\np-web-1   running\n");
  });

  it("combines states as docker compose ls does: sorted, each with its count", () => {
    assert.equal(combinedStatus(["running", "exited", "running"]), "exited(1), running(2)");
    assert.equal(combinedStatus([]), "");
  });

  it("reads file modes in octal, a YAML number's digits as octal", () => {
    assert.equal(fileMode("0440", "m"), 0o440);
    assert.equal(fileMode("0o400", "m"), 0o400);
    assert.equal(fileMode(440, "m"), 0o440);
    assert.equal(fileMode(288, "m"), 288);
    assert.throws(() => fileMode("rw-r--r--", "m"), /not an octal file mode/);
  });
});

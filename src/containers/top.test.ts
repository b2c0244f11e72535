import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePs } from "./top.js";

describe("top (ps output)", () => {
  it("keeps the container's rows and joins the last column's words", () => {
    const out = "UID          PID    PPID  C STIME TTY          TIME CMD\nroot           1       0  0 08:00 ?        00:00:01 /sbin/init splash\nroot         42       1  0 08:01 ?        00:00:00 sleep 1000\nroot         43      42  0 08:01 pts/0    00:00:00 sh -c echo hi there\n";
    const r = parsePs(out, [42, 43]);
    assert.deepEqual(r.Titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    assert.deepEqual(r.Processes, [
      ["root", "42", "1", "0", "08:01", "?", "00:00:00", "sleep 1000"],
      ["root", "43", "42", "0", "08:01", "pts/0", "00:00:00", "sh -c echo hi there"],
    ]);
  });

  it("needs a PID column", () => {
    assert.throws(() => parsePs("USER COMMAND\nroot sleep\n", [1]), /Couldn't find PID field in ps output/);
  });
});

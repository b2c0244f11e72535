import { test } from "node:test";
import assert from "node:assert/strict";
import { createdSince, ellipsis, truncateID } from "./units.js";

test("createdSince and IDs", () => {
  const now = Date.UTC(2024, 0, 10);
  assert.equal(createdSince(now / 1000 - 2 * 3600, now), "2 hours ago");
  assert.equal(createdSince(0, now), "N/A");
  assert.equal(truncateID("sha256:8f670f112d616574f74eb9dc859409693b78ffaec5a344942b69bb683c538451"), "8f670f112d61");
  assert.equal(truncateID("<missing>"), "<missing>");
  assert.equal(ellipsis("/bin/sh -c #(nop) ADD file:0c4555f363c2672e350001f1293e689875a3760afe7b3f9146886afe67121cba in / ", 45), "/bin/sh -c #(nop) ADD file:0c4555f363c2672e3…");
  assert.equal(ellipsis("short", 45), "short");
});

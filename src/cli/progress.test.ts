import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProgressMessage } from "../client/stream.js";
import { displayJSONMessages, progressString } from "./progress.js";

async function* from(msgs: ProgressMessage[]): AsyncGenerator<ProgressMessage> {
  for (const m of msgs) yield m;
}

const PULL: ProgressMessage[] = [
  { status: "Pulling from busybox", id: "1" },
  { status: "Pulling fs layer", progressDetail: {}, id: "aaa" },
  { status: "Pulling fs layer", progressDetail: {}, id: "bbb" },
  { status: "Downloading", progressDetail: { current: 500, total: 1000 }, progress: "[x]", id: "aaa" },
  { status: "Verifying Checksum", progressDetail: {}, id: "aaa" },
  { status: "Download complete", progressDetail: {}, id: "aaa" },
  { status: "Pull complete", progressDetail: {}, id: "bbb" },
  { status: "Digest: sha256:abc" },
  { status: "Status: Downloaded newer image for busybox:1" },
];

describe("displayJSONMessages", () => {
  it("off a terminal: status lines, no progress bars", async () => {
    let out = "";
    await displayJSONMessages(from(PULL), (s) => (out += s), { terminal: false });
    assert.equal(
      out,
      [
        "1: Pulling from busybox",
        "aaa: Pulling fs layer",
        "bbb: Pulling fs layer",
        "aaa: Verifying Checksum",
        "aaa: Download complete",
        "bbb: Pull complete",
        "Digest: sha256:abc",
        "Status: Downloaded newer image for busybox:1",
        "",
      ].join("\n"),
    );
  });

  it("on a terminal: one line per layer, redrawn in place", async () => {
    let out = "";
    await displayJSONMessages(from(PULL.slice(0, 4)), (s) => (out += s), { terminal: true, width: 120 });
    const bar = progressString({ current: 500, total: 1000 }, 120);
    assert.equal(bar, "[=========================>                         ]     500B/1kB");
    assert.equal(
      out,
      "1: Pulling from busybox\n" +
        "\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B" +
        "\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B" +
        `\x1b[2A\x1b[2K\raaa: Downloading ${bar}\r\x1b[2B`,
    );
  });

  it("an error message ends the display with that error", async () => {
    await assert.rejects(displayJSONMessages(from([{ status: "x" }, { errorDetail: { message: "boom" }, error: "boom" }]), () => undefined, { terminal: false }), { message: "boom" });
  });

  it("progress strings: narrow terminals get no bar, an unknown total only the count", () => {
    assert.equal(progressString({ current: 1500, total: 3000 }, 80), "   1.5kB/3kB");
    assert.equal(progressString({ current: 1500 }, 200), "   1.5kB");
    assert.equal(progressString({}, 200), "");
  });
});

describe("progressString as dockerd sends it", () => {
  it("a finished layer on dockerd's 200-column line", () => {
    assert.equal(progressString({ current: 117, total: 117 }), "[==================================================>]     117B/117B");
  });
});

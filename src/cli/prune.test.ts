import assert from "node:assert/strict";
import { test } from "node:test";
import { naturalLess } from "./input.js";
import { systemPruneWarning } from "./prune.js";

test("system prune's warning lists what goes, as the docker CLI words it", () => {
  assert.equal(
    systemPruneWarning({ all: false, volumes: false, filters: {} }),
    "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue?",
  );
  assert.equal(
    systemPruneWarning({ all: true, volumes: true, filters: { until: ["10m"], label: ["b=2", "a=1"], "label!": ["x"], dangling: ["true"] } }),
    "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n" +
      "  - all images without at least one container associated to them\n  - all build cache\n\n" +
      "  Items to be pruned will be filtered with:\n  - label!=x\n  - label=a=1\n  - label=b=2\n  - until=10m\n\nAre you sure you want to continue?",
  );
});

test("filters sort in the docker CLI's natural order", () => {
  assert.deepEqual(["until=10m", "label=Z", "label=a", "label=k9", "label=k10", "label!=x"].sort(naturalLess), ["label!=x", "label=Z", "label=a", "label=k9", "label=k10", "until=10m"]);
});

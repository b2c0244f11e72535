import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoveError } from "../common/errors.js";
import { withHostConfigDefaults } from "./spec.js";
import { planUpdate } from "./update.js";

const base = () => withHostConfigDefaults({ Memory: 64 * 1024 * 1024, MemorySwap: 128 * 1024 * 1024 }, 1);

describe("update plan", () => {
  it("changes only the fields given non-zero values", () => {
    const p = planUpdate(base(), { CpuShares: 512, Memory: 0, PidsLimit: 50 }, "id");
    assert.equal(p.hostConfig.CpuShares, 512);
    assert.equal(p.hostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(p.hostConfig.PidsLimit, 50);
    assert.equal(p.resourcesChanged, true);
    assert.deepEqual(p.warnings, []);
  });

  it("has dockerd's errors", () => {
    assert.throws(() => planUpdate(base(), { Memory: 1000 }, "id"), /^Error: Minimum memory limit allowed is 6MB$|Minimum memory limit allowed is 6MB/);
    assert.throws(() => planUpdate(base(), { Memory: 256 * 1024 * 1024 }, "id"), /Cannot update container id: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time/);
    assert.throws(() => planUpdate(base(), { MemoryReservation: 100 * 1024 * 1024 }, "id"), /Minimum memory limit can not be less than memory reservation limit, see usage$/);
    assert.throws(() => planUpdate(base(), { RestartPolicy: { Name: "sometimes" } }, "id"), /invalid restart policy 'sometimes'/);
    const auto = withHostConfigDefaults({ AutoRemove: true }, 1);
    // a conflict (409) named after the container, as dockerd's errCannotUpdate
    assert.throws(
      () => planUpdate(auto, { RestartPolicy: { Name: "always" } }, "id"),
      (err: unknown) => err instanceof CoveError && err.kind === "conflict" && err.message === "Cannot update container id: Restart policy cannot be updated because AutoRemove is enabled for the container",
    );
  });

  it("warns about kernel memory and does not apply it", () => {
    const p = planUpdate(base(), { KernelMemory: 10 * 1024 * 1024 }, "id");
    assert.deepEqual(p.warnings, ["Specifying a kernel memory limit is deprecated and will be removed in a future release."]);
    assert.equal(p.resourcesChanged, false);
  });

  it("changes the restart policy alone", () => {
    const p = planUpdate(base(), { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 } }, "id");
    assert.deepEqual(p.hostConfig.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 3 });
    assert.equal(p.resourcesChanged, false);
  });
});

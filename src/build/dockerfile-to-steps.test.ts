import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dockerfileToSteps, unusedArgsWarning } from "./dockerfile-to-steps.js";
import { parseStages } from "./dockerfile/instructions.js";
import type { Step } from "./steps.js";

const DF = `ARG BASE=busybox
ARG TAG=\${BASE}-1
FROM \${BASE}:\${TAG} AS one
ARG TAG
ARG X=\${TAG}-x
ENV A=a B="\${A} b"
COPY --chown=\${A} src/\${X} /dst/
RUN echo $A \${X}
FROM one
LABEL k=$A
EXPOSE \${P:-80} 53/udp
FROM scratch AS last
`;

const vars = (rec: Record<string, string>) => (name: string) => rec[name];

describe("dockerfileToSteps", () => {
  it("expands global ARGs in FROM (build args win), maps stage names and scratch, keeps the text as written", () => {
    const plan = dockerfileToSteps(parseStages(DF), { buildArgs: { TAG: "t" } });
    assert.deepEqual(
      plan.stages.map((s) => s.base),
      [{ image: "busybox:t" }, { stage: "one" }, { scratch: true }],
    );
    assert.deepEqual(plan.preamble, ["ARG BASE=busybox", "ARG TAG=${BASE}-1"]);
    assert.equal(plan.stages[0]!.text, "FROM ${BASE}:${TAG} AS one");
    assert.equal(plan.stages[0]!.steps[3]!.text, "COPY --chown=${A} src/${X} /dst/");
    const defaults = dockerfileToSteps(parseStages(DF));
    assert.deepEqual(defaults.stages[0]!.base, { image: "busybox:busybox-1" });
  });

  it("expands words when the step runs, with the variables of that moment; RUN is left to the shell", () => {
    const plan = dockerfileToSteps(parseStages(DF));
    const st = plan.stages[0]!;
    const resolve = (s: Step, v: Record<string, string>) => st.resolve!(s, vars(v));
    // ARG TAG without a default takes the global ARG's value
    assert.deepEqual(resolve(st.steps[0]!, {}), { kind: "arg", text: "ARG TAG", name: "TAG", inherited: "busybox-1" });
    assert.deepEqual(resolve(st.steps[1]!, { TAG: "t" }), { kind: "arg", text: "ARG X=${TAG}-x", name: "X", default: "t-x" });
    // every pair of one ENV sees the environment from before it
    assert.deepEqual((resolve(st.steps[2]!, {}) as Step & { kind: "env" }).vars, [["A", "a"], ["B", " b"]]);
    const copy = resolve(st.steps[3]!, { A: "1", X: "y" }) as Step & { kind: "copy" };
    assert.deepEqual([copy.chown, copy.sources, copy.dest], ["1", ["src/y"], "/dst/"]);
    assert.deepEqual(resolve(st.steps[4]!, { A: "1", X: "y" }), st.steps[4]);
    const second = plan.stages[1]!;
    assert.deepEqual((second.resolve!(second.steps[1]!, vars({})) as Step & { kind: "expose" }).ports, ["80", "53/udp"]);
    assert.deepEqual((second.resolve!(second.steps[0]!, vars({ A: "z" })) as Step & { kind: "label" }).labels, [["k", "z"]]);
  });

  it("reports the build args no ARG declared, proxies aside, in dockerd's words", () => {
    const plan = dockerfileToSteps(parseStages(DF), { buildArgs: { X: "1", NOPE: "2", HTTP_PROXY: "p", BASE: "b" } });
    const st = plan.stages[0]!;
    for (const s of st.steps) st.resolve!(s, vars({}));
    // BASE is only a global ARG (used in FROM): dockerd counts it as not consumed
    assert.deepEqual(plan.unusedArgs(), ["BASE", "NOPE"]);
    assert.equal(unusedArgsWarning(plan.unusedArgs()), "[Warning] One or more build-args [BASE NOPE] were not consumed\n");
  });

  it("--target keeps the stages up to the target; an unknown one is refused", () => {
    assert.equal(dockerfileToSteps(parseStages(DF), { target: "one" }).stages.length, 1);
    assert.equal(dockerfileToSteps(parseStages(DF), { target: "LAST" }).stages.length, 3);
    assert.throws(() => dockerfileToSteps(parseStages(DF), { target: "nope" }), /failed to reach build target nope in Dockerfile/);
  });

  it("parses ONBUILD triggers into steps, refusing what cannot be a trigger", () => {
    const st = dockerfileToSteps(parseStages("FROM busybox\n")).stages[0]!;
    assert.deepEqual(st.triggers!(["RUN echo hi", "COPY a /b"]), [
      { kind: "run", text: "RUN echo hi", command: "echo hi" },
      { kind: "copy", text: "COPY a /b", sources: ["a"], dest: "/b" },
    ]);
    assert.throws(() => st.triggers!(["MAINTAINER me"]), /isn't allowed as an ONBUILD trigger/);
  });

  it("refuses what the legacy builder cannot do, at the instruction's line", () => {
    assert.throws(() => dockerfileToSteps(parseStages("FROM busybox\nRUN --mount=type=cache,target=/c true\n")), /Dockerfile:2:1: RUN --mount needs BuildKit/);
    assert.throws(() => dockerfileToSteps(parseStages("FROM busybox\nARG A B\n")), /Dockerfile:2:1: ARG with more than one name/);
    assert.throws(() => dockerfileToSteps(parseStages("FROM ${NOTHING}\n")), /base name \(\$\{NOTHING\}\) should not be blank/);
  });
});

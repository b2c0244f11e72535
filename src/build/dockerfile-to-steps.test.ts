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

  it("--target keeps the target and the stages it needs (FROM, COPY --from, RUN --mount from=, global ARGs expanded); an unknown one is refused", () => {
    assert.equal(dockerfileToSteps(parseStages(DF), { target: "one" }).stages.length, 1);
    assert.deepEqual(
      dockerfileToSteps(parseStages(DF), { target: "LAST" }).stages.map((s) => s.index),
      [2],
    );
    assert.equal(dockerfileToSteps(parseStages(DF)).stages.length, 3, "without a target every stage is built, as dockerd's legacy builder");
    const multi = parseStages(`ARG SRC=b
FROM busybox AS a
RUN false
FROM busybox AS b
RUN true
FROM busybox AS c
FROM c AS d
FROM busybox AS e
COPY --from=\${SRC} /x /x
RUN --mount=type=bind,from=d,target=/d true
COPY --from=1 /y /y
FROM busybox AS unused
`);
    const plan = dockerfileToSteps(multi, { target: "e" });
    assert.deepEqual(
      plan.stages.map((s) => [s.index, s.name]),
      [
        [1, "b"],
        [2, "c"],
        [3, "d"],
        [4, "e"],
      ],
    );
    assert.deepEqual(plan.stages[3]!.uses, ["b", "d", "1"]);
    assert.throws(() => dockerfileToSteps(parseStages(DF), { target: "nope" }), /failed to reach build target nope in Dockerfile/);
    assert.throws(
      () => dockerfileToSteps(parseStages("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /x\n")),
      /stage a uses stage b, which comes after it: a stage can use only the stages before it \(circular dependency\)/,
    );
    assert.throws(() => dockerfileToSteps(parseStages("FROM busybox AS a\nCOPY --from=a /x /x\n")), /stage a uses stage a, which is itself/);
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
    assert.throws(() => dockerfileToSteps(parseStages("FROM busybox\nRUN --security=insecure true\n")), /Dockerfile:2:1: RUN --security=insecure needs BuildKit/);
    assert.throws(() => dockerfileToSteps(parseStages("FROM busybox\nADD --unpack=true https://x/y.tgz /y\n")), /Dockerfile:2:1: ADD --unpack needs BuildKit/);
    assert.throws(() => dockerfileToSteps(parseStages("FROM busybox\nARG A B\n")), /Dockerfile:2:1: ARG with more than one name/);
    assert.throws(() => dockerfileToSteps(parseStages("FROM ${NOTHING}\n")), /base name \(\$\{NOTHING\}\) should not be blank/);
  });

  const only = (text: string): Step => {
    const st = dockerfileToSteps(parseStages(`FROM busybox\n${text}`)).stages[0]!;
    return st.resolve!(st.steps[0]!, vars({ V: "val", T: "/t" }));
  };

  it("runs a RUN heredoc as the reference says: its content through the shell, a #! script from /dev/pipes, several put back for the shell", () => {
    assert.deepEqual(only("RUN <<EOF\necho a\necho b\nEOF\n"), { kind: "run", text: "RUN <<EOF", command: "echo a\necho b\n" });
    // <<- strips leading tabs of the content
    assert.equal((only("RUN <<-EOF\n\techo a\n\t\techo b\n\tEOF\n") as Step & { kind: "run" }).command, "echo a\necho b\n");
    assert.deepEqual(only("RUN <<EOF\n#!/bin/sh -e\necho $V\nEOF\n"), {
      kind: "run",
      text: "RUN <<EOF",
      command: "/dev/pipes/EOF",
      files: [{ name: "EOF", data: "#!/bin/sh -e\necho $V\n", mode: 0o755 }],
    });
    // a heredoc feeding commands: the shell gets the line and the documents with their terminators
    assert.equal((only("RUN <<A cat > /f1 && <<'B' cat > /f2\na $V\nA\nb $V\nB\n") as Step & { kind: "run" }).command, "<<A cat > /f1 && <<'B' cat > /f2\na $V\nA\nb $V\nB");
  });

  it("makes COPY heredocs sources with their content, $VARS expanded unless the delimiter is quoted, quotes kept", () => {
    const copy = only(`COPY <<a.txt <<"b.txt" /dir/\nhello "$V"\na.txt\nraw $V\nb.txt\n`) as Step & { kind: "copy" };
    assert.deepEqual(copy.sources, []);
    assert.equal(copy.dest, "/dir/");
    assert.deepEqual(copy.contents, [
      { name: "a.txt", data: 'hello "val"\n', expand: true },
      { name: "b.txt", data: "raw $V\n", expand: false },
    ]);
    const chomped = only("COPY <<-EOF /f\n\tx\n\tEOF\n") as Step & { kind: "copy" };
    assert.deepEqual(chomped.contents, [{ name: "EOF", data: "x\n", expand: true }]);
  });

  it("gives RUN --mount values their expanded words, numbers and BuildKit's defaults; refuses bad ones at the line", () => {
    const run = only("RUN --mount=type=cache,target=$T/c,sharing=locked,mode=0700,uid=1,gid=2 --mount=type=secret,id=tok --mount=type=secret,id=e,env=TOKEN --mount=type=tmpfs,target=/tmp,size=1m --mount=type=bind,from=busybox,source=/etc,target=/b --mount=type=ssh --network=none true\n") as Step & { kind: "run" };
    assert.deepEqual(run.mounts, [
      { type: "cache", readonly: false, target: "/t/c", id: "/t/c", sharing: "locked", mode: 0o700, uid: 1, gid: 2 },
      { type: "secret", readonly: true, id: "tok", target: "/run/secrets/tok" },
      { type: "secret", readonly: true, id: "e", env: "TOKEN" },
      { type: "tmpfs", readonly: false, target: "/tmp", size: 1 << 20 },
      { type: "bind", readonly: true, target: "/b", source: "/etc", from: "busybox" },
      { type: "ssh", readonly: true, id: "default" },
    ]);
    assert.equal(run.network, "none");
    assert.throws(() => only("RUN --mount=type=cache true\n"), /Dockerfile:2:1: RUN --mount=type=cache: a target is required/);
    assert.throws(() => only("RUN --mount=type=tmpfs,target=/t,size=lots true\n"), /invalid value for size: lots/);
    assert.throws(() => only("RUN --mount=type=cache,target=/c,mode=999 true\n"), /invalid value 999 for mode/);
  });

  it("takes MAINTAINER and ADD --checksum for one URL, refusing a malformed checksum or another source", () => {
    assert.deepEqual(only("MAINTAINER Jane <jane@example.com>\n"), { kind: "maintainer", text: "MAINTAINER Jane <jane@example.com>", maintainer: "Jane <jane@example.com>" });
    const sum = `sha256:${"a".repeat(64)}`;
    assert.equal((only(`ADD --checksum=${sum} https://example.com/f /f\n`) as Step & { kind: "add" }).checksum, sum);
    assert.throws(() => only("ADD --checksum=md5:abc https://example.com/f /f\n"), /Dockerfile:2:1: invalid checksum "md5:abc"/);
    assert.throws(() => only(`ADD --checksum=${sum} local.txt /f\n`), /checksum can't be specified for multiple sources or non-HTTP\(S\) sources/);
  });
});

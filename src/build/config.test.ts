// The executor's pure rules: config changes of each step and dockerd's history lines, Go's
// duration text, port specs, and the glob matching of COPY sources and --exclude.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyConfigStep, beginStage, declareArg, DEFAULT_PATH, goDuration, exposedPorts, runArgs, runHistory } from "./config.js";
import { matchPath } from "./context.js";
import { stepText } from "./steps.js";

describe("build config steps", () => {
  it("add dockerd's default PATH at FROM only when the base has none", () => {
    assert.deepEqual(beginStage({}).config.Env, [DEFAULT_PATH]);
    assert.deepEqual(beginStage({ Env: ["PATH=/x", "A=1"] }).config.Env, ["PATH=/x", "A=1"]);
    // an inspect view's empty fields are dropped
    assert.deepEqual(beginStage({ User: "", Cmd: null, Env: ["PATH=/x"], Tty: false, Labels: {} }).config, { Env: ["PATH=/x"] });
  });

  it("record dockerd's history lines", () => {
    const s = beginStage({ Env: ["PATH=/bin"], Cmd: ["sh"] });
    assert.equal(applyConfigStep(s, { kind: "env", vars: [["A", "b"], ["C", "d e"]] }), "/bin/sh -c #(nop)  ENV A=b C=d e");
    assert.equal(applyConfigStep(s, { kind: "env", vars: [["A", "z"]] }), "/bin/sh -c #(nop)  ENV A=z");
    assert.deepEqual(s.config.Env, ["PATH=/bin", "A=z", "C=d e"], "ENV replaces a name in place");
    assert.equal(applyConfigStep(s, { kind: "expose", ports: ["80", "53/udp", "8000-8001"] }), "/bin/sh -c #(nop)  EXPOSE 53/udp 80 8000-8001");
    assert.deepEqual(Object.keys(s.config.ExposedPorts ?? {}), ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]);
    assert.equal(applyConfigStep(s, { kind: "volume", paths: ["/a", "/b"] }), "/bin/sh -c #(nop)  VOLUME [/a /b]");
    assert.equal(applyConfigStep(s, { kind: "workdir", path: "/app" }), "/bin/sh -c #(nop) WORKDIR /app");
    assert.equal(applyConfigStep(s, { kind: "workdir", path: "sub/../x" }), "/bin/sh -c #(nop) WORKDIR /app/x");
    assert.equal(applyConfigStep(s, { kind: "cmd", command: "echo hi" }), '/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo hi"]');
    assert.equal(
      applyConfigStep(s, { kind: "healthcheck", healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 5e9, Timeout: 90e9, Retries: 3 } }),
      `/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "1m30s" "0s" '\\x03'}`,
    );
    assert.equal(applyConfigStep(s, { kind: "shell", shell: ["/bin/bash", "-ec"] }), "/bin/bash -ec #(nop)  SHELL [/bin/bash -ec]");
    assert.equal(applyConfigStep(s, { kind: "arg", name: "V" }), "/bin/bash -ec #(nop)  ARG V");
    assert.throws(() => applyConfigStep(s, { kind: "healthcheck", healthcheck: { Test: ["BOGUS"] } }), /HEALTHCHECK needs a test/);
    assert.throws(() => applyConfigStep(s, { kind: "expose", ports: ["http"] }), /invalid containerPort: http/);
  });

  it("reset a CMD the stage did not set when an ENTRYPOINT comes, and keep one it set", () => {
    const inherited = beginStage({ Cmd: ["sh"] });
    applyConfigStep(inherited, { kind: "entrypoint", command: ["/init"] });
    assert.equal(inherited.config.Cmd, undefined);
    const own = beginStage({ Cmd: ["sh"] });
    applyConfigStep(own, { kind: "cmd", command: ["-x"] });
    applyConfigStep(own, { kind: "entrypoint", command: "run me" });
    assert.deepEqual(own.config.Cmd, ["-x"]);
    assert.deepEqual(own.config.Entrypoint, ["/bin/sh", "-c", "run me"]);
  });

  it("put build arguments in RUN's history and env, not the image's, unless ENV overrides them", () => {
    const s = beginStage({ Env: ["PATH=/bin"] });
    declareArg(s, "B", "2", {});
    declareArg(s, "A", undefined, { A: "1", Z: "unused" });
    declareArg(s, "NONE", undefined, {});
    assert.deepEqual(runArgs(s), [
      ["A", "1"],
      ["B", "2"],
    ]);
    assert.equal(runHistory(["/bin/sh", "-c", "make"], runArgs(s)), "|2 A=1 B=2 /bin/sh -c make");
    applyConfigStep(s, { kind: "env", vars: [["B", "3"]] });
    assert.deepEqual(runArgs(s), [["A", "1"]]);
    assert.equal(runHistory(["make"], []), "make");
    assert.throws(() => declareArg(s, "1bad", undefined, {}), /invalid build argument name/);
  });

  it("print Go durations and port specs", () => {
    assert.deepEqual([0, 1, 1500, 2e6, 1.5e9, 60e9, 3600e9 + 1e9].map(goDuration), ["0s", "1ns", "1.5µs", "2ms", "1.5s", "1m0s", "1h0m1s"]);
    assert.deepEqual(exposedPorts(["8080/TCP"]), ["8080/tcp"]);
    assert.throws(() => exposedPorts(["9-1"]), /invalid range/);
  });

  it("show a step as written, else canonically", () => {
    assert.equal(stepText({ kind: "run", command: "make", text: "RUN   make" }), "RUN   make");
    assert.equal(stepText({ kind: "copy", sources: ["a", "b"], dest: "/d/", chown: "1:2" }), "COPY --chown=1:2 a b /d/");
    assert.equal(stepText({ kind: "cmd", command: ["a", "b c"] }), 'CMD ["a", "b c"]');
  });
});

describe("COPY source globs", () => {
  it("match as Go's filepath.Match per segment, ** across segments", () => {
    assert.equal(matchPath("*.txt", "a.txt"), true);
    assert.equal(matchPath("*.txt", "d/a.txt"), false);
    assert.equal(matchPath("d/?.txt", "d/a.txt"), true);
    assert.equal(matchPath("[a-c].txt", "b.txt"), true);
    assert.equal(matchPath("[^a-c].txt", "b.txt"), false);
    assert.equal(matchPath("\\*.txt", "*.txt"), true);
    assert.equal(matchPath("\\*.txt", "a.txt"), false);
    assert.equal(matchPath("**/*.log", "a/b/c.log"), true);
    assert.equal(matchPath("**/*.log", "c.log"), true);
    assert.throws(() => matchPath("[ab", "a"), /syntax error in pattern/);
  });
});

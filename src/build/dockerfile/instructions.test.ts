import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DockerfileError } from "./errors.js";
import { globalArgValues, parseGoDuration, parseMount, parseStages, stageBase, toInstruction, type Instruction } from "./instructions.js";
import { parseDockerfile } from "./parser.js";

/** The error parseStages throws, asserting it is a DockerfileError. */
function stageError(text: string): DockerfileError {
  try {
    parseStages(text);
  } catch (err) {
    assert.ok(err instanceof DockerfileError, `expected a DockerfileError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be refused`);
}

/** The single instruction of a one-stage Dockerfile after FROM. */
function only(text: string): Instruction {
  const df = parseStages(`FROM scratch\n${text}\n`);
  assert.equal(df.stages[0]!.instructions.length, 1);
  return df.stages[0]!.instructions[0]!;
}

/** An instruction without its position fields, for comparison. */
function shape(i: Instruction): Record<string, unknown> {
  const { line: _l, endLine: _e, original: _o, ...rest } = i;
  return rest;
}

describe("stages", () => {
  it("collects global ARGs and named stages", () => {
    const df = parseStages("ARG BASE=busybox\nARG VERSION\nFROM --platform=$BUILDPLATFORM ${BASE} AS Build\nRUN make\nFROM scratch\nCOPY --from=build /out /\n");
    assert.deepEqual(
      df.globalArgs.map((a) => a.args),
      [[{ name: "BASE", default: "busybox" }], [{ name: "VERSION" }]],
    );
    assert.equal(df.stages.length, 2);
    assert.deepEqual(shape(df.stages[0]!.from), { kind: "from", image: "${BASE}", platform: "$BUILDPLATFORM", stageName: "build" });
    assert.equal(df.stages[0]!.name, "build");
    assert.equal(df.stages[1]!.name, undefined);
    assert.deepEqual(
      df.stages.map((s) => s.instructions.map((i) => [i.kind, i.line])),
      [[["run", 4]], [["copy", 6]]],
    );
  });

  it("refuses an instruction before the first FROM", () => {
    assert.equal(stageError("RUN x\nFROM a\n").message, "Dockerfile:1:1: RUN before the first FROM: only ARG instructions may come before FROM");
  });

  it("refuses duplicate and malformed stage names", () => {
    assert.equal(stageError("FROM a AS x\nFROM b AS X\n").message, 'Dockerfile:2:11: duplicate stage name "x" (first defined on line 1)');
    assert.equal(stageError("FROM a AS 1st\n").message, 'Dockerfile:1:11: invalid name for build stage: "1st", name can\'t start with a number or contain symbols');
    assert.equal(stageError("FROM a b\n").reason, "FROM requires either one or three arguments");
  });
});

describe("instructions", () => {
  it("RUN in shell and exec form, with mounts, network and security", () => {
    assert.deepEqual(shape(only("RUN echo $HOME && ls")), { kind: "run", cmd: { form: "shell", command: "echo $HOME && ls" }, mounts: [], heredocs: [] });
    const run = only('RUN --mount=type=cache,target=/root/.cache,sharing=locked --mount=type=secret,id=tok,required --network=none --security=insecure ["make", "all"]');
    assert.deepEqual(shape(run), {
      kind: "run",
      cmd: { form: "exec", args: ["make", "all"] },
      mounts: [
        { type: "cache", target: "/root/.cache", sharing: "locked", readonly: false },
        { type: "secret", id: "tok", required: true, readonly: true },
      ],
      network: "none",
      security: "insecure",
      heredocs: [],
    });
  });

  it("RUN with a heredoc", () => {
    const run = only("RUN <<EOF\nset -e\necho hi\nEOF");
    assert.deepEqual(shape(run), { kind: "run", cmd: { form: "shell", command: "<<EOF" }, mounts: [], heredocs: [{ name: "EOF", data: "set -e\necho hi\n", expand: true, chomp: false }] });
  });

  it("COPY and ADD with their flags and inline files", () => {
    assert.deepEqual(shape(only("COPY --from=build --chown=app:app --chmod=0644 --link --parents --exclude=*.md --exclude=tmp a b /dst/")), {
      kind: "copy",
      sources: ["a", "b"],
      contents: [],
      dest: "/dst/",
      chown: "app:app",
      chmod: "0644",
      link: true,
      exclude: ["*.md", "tmp"],
      from: "build",
      parents: true,
    });
    assert.deepEqual(shape(only('COPY ["a b", "/c d/"]')), { kind: "copy", sources: ["a b"], contents: [], dest: "/c d/", link: false, exclude: [], parents: false });
    assert.deepEqual(shape(only("ADD --checksum=sha256:abc --keep-git-dir=false --unpack https://x/y.tgz /y")), { kind: "add", sources: ["https://x/y.tgz"], contents: [], dest: "/y", link: false, exclude: [], checksum: "sha256:abc", keepGitDir: false, unpack: true });
    const inline = only("COPY <<-EOF /etc/motd\n\thello $USER\n\tEOF");
    assert.deepEqual((inline as { contents: unknown }).contents, [{ name: "EOF", data: "hello $USER\n", expand: true, chomp: true }]);
  });

  it("ENV and LABEL pairs, the legacy form too", () => {
    assert.deepEqual(shape(only('ENV A=1 B="two words"')), {
      kind: "env",
      pairs: [
        { key: "A", value: "1", legacy: false },
        { key: "B", value: '"two words"', legacy: false },
      ],
    });
    assert.deepEqual(shape(only("ENV PATH /usr/bin:/bin")), { kind: "env", pairs: [{ key: "PATH", value: "/usr/bin:/bin", legacy: true }] });
    assert.deepEqual(shape(only('LABEL org.opencontainers.image.title="cove" version=1')), {
      kind: "label",
      pairs: [
        { key: "org.opencontainers.image.title", value: '"cove"', legacy: false },
        { key: "version", value: "1", legacy: false },
      ],
    });
  });

  it("the single-value and list instructions", () => {
    assert.deepEqual(shape(only("EXPOSE 80 443/udp")), { kind: "expose", ports: ["80", "443/udp"] });
    assert.deepEqual(shape(only('VOLUME ["/data", "/logs"]')), { kind: "volume", paths: ["/data", "/logs"] });
    assert.deepEqual(shape(only("VOLUME /a /b")), { kind: "volume", paths: ["/a", "/b"] });
    assert.deepEqual(shape(only("USER app:app")), { kind: "user", user: "app:app" });
    assert.deepEqual(shape(only("WORKDIR /src/my app")), { kind: "workdir", path: "/src/my app" });
    assert.deepEqual(shape(only("STOPSIGNAL SIGTERM")), { kind: "stopsignal", signal: "SIGTERM" });
    assert.deepEqual(shape(only("MAINTAINER someone <a@b.c>")), { kind: "maintainer", maintainer: "someone <a@b.c>" });
    assert.deepEqual(shape(only('SHELL ["/bin/bash", "-c"]')), { kind: "shell", shell: ["/bin/bash", "-c"] });
    assert.deepEqual(shape(only('CMD ["nginx", "-g", "daemon off;"]')), { kind: "cmd", cmd: { form: "exec", args: ["nginx", "-g", "daemon off;"] } });
    assert.deepEqual(shape(only("ENTRYPOINT exec top -b")), { kind: "entrypoint", cmd: { form: "shell", command: "exec top -b" } });
    assert.deepEqual(shape(only("ENTRYPOINT []")), { kind: "entrypoint", cmd: undefined });
    assert.deepEqual(shape(only("ARG a b=2 c=")), { kind: "arg", args: [{ name: "a" }, { name: "b", default: "2" }, { name: "c", default: "" }] });
  });

  it("HEALTHCHECK NONE and CMD with its options", () => {
    assert.deepEqual(shape(only("HEALTHCHECK NONE")), { kind: "healthcheck", test: ["NONE"], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 });
    assert.deepEqual(shape(only("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=1.5s --retries=3 CMD curl -f http://localhost/")), {
      kind: "healthcheck",
      test: ["CMD-SHELL", "curl -f http://localhost/"],
      interval: 30e9,
      timeout: 90e9,
      startPeriod: 500e6,
      startInterval: 1.5e9,
      retries: 3,
    });
    assert.deepEqual((only('HEALTHCHECK CMD ["/bin/check", "-q"]') as { test: string[] }).test, ["CMD", "/bin/check", "-q"]);
  });

  it("ONBUILD with its trigger", () => {
    const ob = only("ONBUILD COPY . /app");
    assert.equal(ob.kind, "onbuild");
    if (ob.kind !== "onbuild") return;
    assert.equal(ob.expression, "COPY . /app");
    assert.equal(ob.trigger.kind, "copy");
  });
});

describe("instruction errors", () => {
  const cases: [string, string][] = [
    ["FORM busybox", "Dockerfile:2:1: unknown instruction: FORM (did you mean FROM?)"],
    ["  RUNN make", "Dockerfile:2:3: unknown instruction: RUNN (did you mean RUN?)"],
    ["FLURB x", "Dockerfile:2:1: unknown instruction: FLURB"],
    ["COPY --form=build a /b", "Dockerfile:2:6: unknown flag: --form (did you mean from?)"],
    ["COPY --keep-git-dir a /b", "Dockerfile:2:6: unknown flag: --keep-git-dir"],
    ["ENV --x=1 A=b", "Dockerfile:2:5: unknown flag: --x (this instruction takes no flags)"],
    ["COPY --link=maybe a /b", "Dockerfile:2:6: expecting boolean value for flag --link, not: maybe"],
    ["COPY --from a /b", "Dockerfile:2:6: missing a value on flag: --from"],
    ["COPY --from=a --from=b a /b", "Dockerfile:2:15: duplicate flag specified: --from"],
    ["COPY onlyone", "Dockerfile:2:1: COPY requires at least two arguments, but only one was provided. Destination could not be determined"],
    ["ADD x", "Dockerfile:2:1: ADD requires at least two arguments, but only one was provided. Destination could not be determined"],
    ["COPY a <<EOF\nx\nEOF", "Dockerfile:2:8: COPY cannot accept a heredoc as a destination"],
    ["USER", "Dockerfile:2:1: USER requires exactly one argument"],
    ["WORKDIR", "Dockerfile:2:1: WORKDIR requires exactly one argument"],
    ["STOPSIGNAL", "Dockerfile:2:1: STOPSIGNAL requires exactly one argument"],
    ["EXPOSE", "Dockerfile:2:1: EXPOSE requires at least one argument"],
    ["ENV", "Dockerfile:2:1: ENV requires at least one argument"],
    ["LABEL =x", "Dockerfile:2:1: LABEL names can not be blank"],
    ["ARG =x", "Dockerfile:2:5: ARG names can not be blank"],
    ["ARG", "Dockerfile:2:1: ARG requires at least one argument"],
    ["RUN", "Dockerfile:2:1: RUN requires at least one argument"],
    ["SHELL /bin/sh -c", 'Dockerfile:2:1: SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]'],
    ["VOLUME [\"\"]", "Dockerfile:2:1: VOLUME specified can not be an empty string"],
    ["HEALTHCHECK NONE x", "Dockerfile:2:18: HEALTHCHECK NONE takes no arguments"],
    ["HEALTHCHECK CMD", "Dockerfile:2:1: Missing command after HEALTHCHECK CMD"],
    ["HEALTHCHECK EXEC x", 'Dockerfile:2:13: Unknown type "EXEC" in HEALTHCHECK (try CMD)'],
    ["HEALTHCHECK --interval=1us CMD x", 'Dockerfile:2:13: Interval "interval" cannot be less than 1ms'],
    ["HEALTHCHECK --timeout=soon CMD x", 'Dockerfile:2:13: time: invalid duration "soon" for --timeout'],
    ["HEALTHCHECK --retries=-1 CMD x", "Dockerfile:2:13: --retries cannot be negative (-1)"],
    ["ONBUILD ONBUILD RUN x", "Dockerfile:2:9: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
    ["ONBUILD FROM x", "Dockerfile:2:9: FROM isn't allowed as an ONBUILD trigger"],
    ["ONBUILD", "Dockerfile:2:1: ONBUILD requires at least one argument"],
    ["RUN --network=bridge x", 'Dockerfile:2:5: invalid network mode "bridge"'],
    ["RUN --security=open x", 'Dockerfile:2:5: security "open" is not valid'],
    ["RUN --mount=type=cahce,target=/c x", 'Dockerfile:2:13: unsupported mount type "cahce" (did you mean cache?)'],
    ["RUN --mount=type=bind,targte=/c x", "Dockerfile:2:23: unexpected key 'targte' in 'targte=/c' (did you mean target?)"],
    ["RUN --mount=type=bind,mode=0600,target=/c x", 'Dockerfile:2:13: mode not allowed for "bind" type mounts'],
    ["RUN --mount=type=secret x", "Dockerfile:2:13: invalid secret mount. one of source, target required"],
    ["RUN --mount=type=cache,target=/c,uid=abc x", "Dockerfile:2:34: invalid value abc for uid"],
    ["RUN --mount=type=bind,from=$STAGE,target=/c x", "Dockerfile:2:23: 'from' doesn't support variable expansion, define alias stage instead"],
  ];
  for (const [line, want] of cases) {
    it(want, () => {
      const err = stageError(`FROM scratch\n${line}\n`);
      assert.equal(err.message, want);
      assert.equal(err.line, 2);
      assert.equal(err.lineText, line.split("\n")[0]);
    });
  }

  it("shows the offending line with a caret", () => {
    const err = stageError("FROM scratch\n\tCOPY --form=a x /y\n");
    assert.equal(err.describe(), "Dockerfile:2:7: unknown flag: --form (did you mean from?)\n   2 | \tCOPY --form=a x /y\n     | \t     ^");
  });

  it("leaves values with variables to be checked once expanded", () => {
    assert.deepEqual(parseMount("type=cache,target=/c,uid=$UID,mode=${MODE}"), { type: "cache", target: "/c", uid: "$UID", mode: "${MODE}", readonly: false });
  });

  it("reads quoted CSV fields in --mount", () => {
    assert.deepEqual(parseMount('type=bind,"source=a,b",target=/t,ro=false'), { type: "bind", source: "a,b", target: "/t", readonly: false });
  });
});

// Facts from BuildKit's instruction tests (frontend/dockerfile/instructions/parse_test.go).
describe("BuildKit's instruction-test facts", () => {
  /** The reason the single instruction of `text` is refused for (typed pass, no stage rules). */
  function reason(text: string): string {
    const parsed = parseDockerfile(text);
    try {
      toInstruction(parsed.nodes[0]!, parsed);
    } catch (err) {
      assert.ok(err instanceof DockerfileError, String(err));
      return err.reason;
    }
    return assert.fail(`${JSON.stringify(text)} was accepted`);
  }

  it("exactly one argument (TestCommandsExactlyOneArgument)", () => {
    for (const cmd of ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"]) assert.equal(reason(cmd), `${cmd} requires exactly one argument`);
  });
  it("at least one argument (TestCommandsAtLeastOneArgument)", () => {
    for (const cmd of ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME"]) assert.equal(reason(cmd), `${cmd} requires at least one argument`);
  });
  it("no destination (TestCommandsNoDestinationArgument)", () => {
    for (const cmd of ["ADD", "COPY"]) assert.equal(reason(`${cmd} arg1`), `${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`);
  });
  it("HEALTHCHECK CMD in shell form (TestHealthCheckCmd)", () => {
    const parsed = parseDockerfile("HEALTHCHECK CMD hello world\n");
    assert.deepEqual((toInstruction(parsed.nodes[0]!, parsed) as { test: string[] }).test, ["CMD-SHELL", "hello world"]);
  });
  it("intervals of at least 1ms (TestParseOptInterval)", () => {
    assert.match(reason("HEALTHCHECK --interval=50ns CMD x"), /cannot be less than 1ms/);
    for (const ok of ["0ms", "1ms"]) {
      const parsed = parseDockerfile(`HEALTHCHECK --interval=${ok} CMD x\n`);
      assert.equal(toInstruction(parsed.nodes[0]!, parsed).kind, "healthcheck");
    }
  });
  it("error cases (TestErrorCases)", () => {
    const cases: [string, string][] = [
      ["COPY\t\n\t\tquux \\\n      bar", "COPY requires at least two arguments"],
      ["ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"],
      ["MAINTAINER --boo joe@example.com", "unknown flag: --boo"],
      ["ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
      ["FOO bar", "unknown instruction: FOO"],
      ["foo bar", "unknown instruction: foo"],
    ];
    for (const [text, want] of cases) assert.ok(reason(text).includes(want), `${text}: ${reason(text)}`);
  });
  it("checks arguments before flags, as BuildKit does", () => {
    assert.equal(reason("COPY --bad x"), "COPY requires at least two arguments, but only one was provided. Destination could not be determined");
    assert.equal(reason("USER --bad"), "USER requires exactly one argument");
  });
});

describe("global ARGs in FROM lines", () => {
  const df = parseStages("ARG BASE=busybox\nARG TAG=${BASE}-1\nARG PLAT\nFROM --platform=${PLAT:-linux/amd64} ${BASE}:${TAG} AS one\nFROM ${NOPE}\n");

  it("expands defaults in order, build arguments first", () => {
    const values = globalArgValues(df);
    assert.deepEqual(values, { BASE: "busybox", TAG: "busybox-1" });
    assert.deepEqual(stageBase(df, df.stages[0]!, values), { image: "busybox:busybox-1", platform: "linux/amd64" });
    const given = globalArgValues(df, { BASE: "alpine", PLAT: "linux/arm64" });
    assert.deepEqual(stageBase(df, df.stages[0]!, given), { image: "alpine:alpine-1", platform: "linux/arm64" });
  });

  it("sees built-in arguments", () => {
    const values = globalArgValues(df, {}, { PLAT: "linux/riscv64" });
    assert.equal(stageBase(df, df.stages[0]!, values).platform, "linux/riscv64");
  });

  it("refuses a base that expands to nothing, at its line", () => {
    assert.throws(
      () => stageBase(df, df.stages[1]!, globalArgValues(df)),
      (err: unknown) => err instanceof DockerfileError && err.message === "Dockerfile:5:6: base name (${NOPE}) should not be blank" && err.lineText === "FROM ${NOPE}",
    );
  });

  it("refuses a bad substitution in a default, at its ARG", () => {
    const bad = parseStages("ARG A=${B:?}\nFROM x\n");
    assert.throws(() => globalArgValues(bad), (err: unknown) => err instanceof DockerfileError && err.line === 1 && err.column === 5 && /B: is not allowed to be unset/.test(err.reason));
  });
});

describe("parseGoDuration", () => {
  it("reads Go durations in nanoseconds", () => {
    assert.equal(parseGoDuration("0"), 0);
    assert.equal(parseGoDuration("1h2m3.5s"), 3723.5e9);
    assert.equal(parseGoDuration("250us"), 250e3);
    assert.equal(parseGoDuration("-1s"), -1e9);
    for (const bad of ["", "1", "s", "1x", "1s2", "."]) assert.equal(parseGoDuration(bad), undefined, bad);
  });
});

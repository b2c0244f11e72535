// cove's Dockerfile parser beside dockerd's builder (Debian's docker.io, the legacy builder, which
// parses with the same BuildKit parser): broken Dockerfiles are refused by both, at the same line
// and for the same reason, and a valid one gives dockerd an image config that matches what cove's
// typed instructions and variable substitution say it should be. Builds use FROM scratch and no
// RUN, so nothing needs a network or a base image.

import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DockerfileError } from "../../src/build/dockerfile/errors.js";
import { parseStages, type Dockerfile } from "../../src/build/dockerfile/instructions.js";
import { envFromRecord, expandWord, expandWords } from "../../src/build/dockerfile/shell-lex.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const skip = dockerdAvailable();

/** What dockerd's image config should hold after building `df`'s last stage (the fields these tests use). */
function expectedConfig(df: Dockerfile): Record<string, unknown> {
  const globals: Record<string, string> = {};
  for (const a of df.globalArgs) for (const arg of a.args) if (arg.default !== undefined) globals[arg.name] = expandWord(arg.default, envFromRecord(globals), df.escape);
  const args: Record<string, string> = {};
  // a Linux image built from scratch gets the default PATH first, as Docker's builders set it
  const env: Record<string, string> = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
  const config: Record<string, unknown> = { Env: [] as string[], Labels: {} as Record<string, string>, ExposedPorts: {} as Record<string, object>, Volumes: {} as Record<string, object>, OnBuild: [] as string[] };
  const ex = (w: string) => expandWord(w, envFromRecord({ ...args, ...env }), df.escape);
  for (const i of df.stages.at(-1)!.instructions) {
    switch (i.kind) {
      case "arg":
        for (const a of i.args) {
          const v = a.default !== undefined ? ex(a.default) : globals[a.name];
          if (v !== undefined) args[a.name] = v;
        }
        break;
      case "env": {
        // every pair sees the environment from before the instruction
        const pairs = i.pairs.map((p) => [ex(p.key), ex(p.value)] as const);
        for (const [k, v] of pairs) env[k] = v;
        config.Env = Object.entries(env).map(([k, v]) => `${k}=${v}`);
        break;
      }
      case "label":
        for (const p of i.pairs) (config.Labels as Record<string, string>)[ex(p.key)] = ex(p.value);
        break;
      case "expose":
        for (const p of i.ports.flatMap((w) => expandWords(w, envFromRecord({ ...args, ...env }), df.escape))) (config.ExposedPorts as Record<string, object>)[p.includes("/") ? p : `${p}/tcp`] = {};
        break;
      case "volume":
        for (const p of i.paths) (config.Volumes as Record<string, object>)[ex(p)] = {};
        break;
      case "user":
        config.User = ex(i.user);
        break;
      case "stopsignal":
        config.StopSignal = ex(i.signal);
        break;
      case "onbuild":
        (config.OnBuild as string[]).push(i.expression);
        break;
      case "healthcheck": {
        const h: Record<string, unknown> = { Test: i.test };
        if (i.interval) h.Interval = i.interval;
        if (i.timeout) h.Timeout = i.timeout;
        if (i.startPeriod) h.StartPeriod = i.startPeriod;
        if (i.retries) h.Retries = i.retries;
        config.Healthcheck = h;
        break;
      }
      case "cmd":
        config.Cmd = i.cmd.form === "exec" ? i.cmd.args : ["/bin/sh", "-c", i.cmd.command];
        break;
      case "entrypoint":
        config.Entrypoint = i.cmd === undefined ? null : i.cmd.form === "exec" ? i.cmd.args : ["/bin/sh", "-c", i.cmd.command];
        break;
      default:
        throw new Error(`the peer test does not evaluate ${i.kind}`);
    }
  }
  return config;
}

const VALID = [
  "# syntax=docker/dockerfile:1",
  "ARG BASE=scratch",
  "ARG V=1",
  "FROM ${BASE}",
  "ARG V",
  "# the environment",
  `ENV A=$V B="x y" C=\${V:-z} D=\${U:-dflt} E=\${V:+set} F='$V' G=\\$V H="\${B}" I=pre-\${A}-post`,
  "ENV legacy a value \\",
  "  with continuation",
  `LABEL l1="$A" "l 2"=\${B} l3=plain l4="a \\"quoted\\" word"`,
  "EXPOSE 80 443/udp $V",
  "USER me:${V}",
  "STOPSIGNAL SIGINT",
  "HEALTHCHECK --interval=5s --timeout=1m30s --start-period=250ms --retries=2 \\",
  "  CMD check --it",
  "ONBUILD RUN echo $A",
  "ONBUILD COPY . /app",
  'CMD echo hi "there"',
  'ENTRYPOINT ["/bin/e", "$A"]',
  "VOLUME /data ${A}",
  "",
].join("\n");

const BROKEN: Record<string, string> = {
  "unknown instruction": "FROM scratch\nLABEL a=b\nFORM x\n",
  "unknown flag": "FROM scratch\nCOPY --form=a x /y\n",
  "no destination": "FROM scratch\nCOPY x\n",
  "ENV without a value": "FROM scratch\nENV single\n",
  "mixed ENV forms": "FROM scratch\nENV A=1 B\n",
  "nested JSON": 'FROM scratch\nCMD ["a", ["b"]]\n',
  "ONBUILD ONBUILD": "FROM scratch\nONBUILD ONBUILD RUN x\n",
  "ONBUILD FROM": "FROM scratch\nONBUILD FROM x\n",
  "short interval": "FROM scratch\nHEALTHCHECK --interval=1us CMD x\n",
  "negative retries": "FROM scratch\nHEALTHCHECK --retries=-1 CMD x\n",
  "HEALTHCHECK NONE with arguments": "FROM scratch\nHEALTHCHECK NONE x\n",
  "bad stage name": "FROM scratch AS 1st\n",
  "FROM with two words": "FROM scratch x\n",
  "instruction before FROM": "LABEL a=b\nFROM scratch\n",
  "SHELL in shell form": "FROM scratch\nSHELL /bin/sh -c\n",
  "USER without argument": "FROM scratch\nUSER\n",
  "empty file": "",
  "only comments": "# nothing\n# here\n",
  "repeated escape directive": "# escape=\\\n# escape=`\nFROM scratch\n",
  "boolean flag with a bad value": "FROM scratch\nCOPY --link=maybe a /b\n",
};

/**
 * Cases where dockerd 20.10's parser (an older BuildKit) words the error differently from the
 * BuildKit release whose messages cove follows ("Unknown flag: form" for "unknown flag: --form",
 * "--retries must be at least 1" for "--retries cannot be negative", no --link flag at all).
 */
const OLDER_WORDING = new Set(["unknown flag", "negative retries", "boolean flag with a bad value"]);

describe("the Dockerfile parser beside dockerd's builder", { skip }, () => {
  let dir = "";
  let dockerd: Dockerd | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-dfpeer-"));
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
    // the classic builder: dockerd 20.10's BuildKit needs the buildx plugin the CLI lacks here
    dockerd.env.DOCKER_BUILDKIT = "0";
  });
  after(async () => {
    await dockerd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Builds `text` with dockerd; its exit code and error line. */
  async function dockerBuild(name: string, text: string, tag?: string): Promise<{ code: number; error: string }> {
    const ctx = path.join(dir, name.replace(/[^a-z0-9]+/gi, "-"));
    await mkdir(ctx, { recursive: true });
    await writeFile(path.join(ctx, "Dockerfile"), text);
    const r = await dockerd!.docker(["build", "-q", ...(tag ? ["-t", tag] : []), ctx]);
    const error = r.stderr.split("\n").find((l) => l.startsWith("Error response from daemon: ")) ?? "";
    return { code: r.code, error: error.slice("Error response from daemon: ".length) };
  }

  for (const [name, text] of Object.entries(BROKEN)) {
    it(`both refuse: ${name}`, async () => {
      let coveErr: DockerfileError | undefined;
      try {
        parseStages(text);
      } catch (err) {
        assert.ok(err instanceof DockerfileError, String(err));
        coveErr = err;
      }
      const peer = await dockerBuild(name, text);
      assert.notEqual(peer.code, 0, `dockerd built ${JSON.stringify(text)}`);
      assert.ok(coveErr, `cove accepted ${JSON.stringify(text)}; dockerd said: ${peer.error}`);
      // dockerd names the line as "dockerfile parse error line N: reason" for instruction errors
      const m = /^dockerfile parse error line (\d+): (.*)$/.exec(peer.error);
      if (m) assert.equal(coveErr.line, Number(m[1]), `line of ${peer.error}`);
      const reason = m?.[2] ?? /^failed to parse Dockerfile: (.*)$/.exec(peer.error)?.[1];
      if (reason !== undefined && !OLDER_WORDING.has(name)) assert.ok(coveErr.reason.startsWith(reason), `cove: ${coveErr.reason}\ndockerd: ${reason}`);
    });
  }

  it("a valid Dockerfile gives the image config cove's parse predicts", async () => {
    const peer = await dockerBuild("valid", VALID, "cove-dfpeer:valid");
    assert.equal(peer.code, 0, peer.error);
    const inspect = await dockerd!.docker(["image", "inspect", "--format", "{{json .Config}}", "cove-dfpeer:valid"]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const got = JSON.parse(inspect.stdout) as Record<string, unknown>;
    const want = expectedConfig(parseStages(VALID));
    assert.deepEqual(
      Object.fromEntries(Object.keys(want).map((k) => [k, got[k]])),
      want,
    );
  });
});

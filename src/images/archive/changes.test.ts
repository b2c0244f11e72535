import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoveError } from "../../common/errors.js";
import { applyChanges } from "./changes.js";

describe("applyChanges (docker import --change)", () => {
  it("parses exec and shell forms of CMD and ENTRYPOINT", () => {
    const c = applyChanges({}, ['CMD ["sh", "-c", "echo hi"]', "ENTRYPOINT /bin/entry --flag"]);
    assert.deepEqual(c.Cmd, ["sh", "-c", "echo hi"]);
    assert.deepEqual(c.Entrypoint, ["/bin/sh", "-c", "/bin/entry --flag"]);
  });

  it("sets ENV and LABEL pairs, with quotes and the legacy KEY value form", () => {
    const c = applyChanges({ Env: ["PATH=/bin"] }, ['ENV A=1 B="two words"', "ENV PATH /usr/bin:/bin", "LABEL org.x=y 'k k'=v"]);
    assert.deepEqual(c.Env, ["PATH=/usr/bin:/bin", "A=1", "B=two words"]);
    assert.deepEqual(c.Labels, { "org.x": "y", "k k": "v" });
  });

  it("sets EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL and ONBUILD", () => {
    const c = applyChanges({}, ["EXPOSE 80 53/udp", 'VOLUME ["/data", "/logs"]', "VOLUME /cache", "USER nobody", "WORKDIR /srv", "WORKDIR app", "STOPSIGNAL SIGTERM", "ONBUILD RUN true"]);
    assert.deepEqual(c.ExposedPorts, { "80/tcp": {}, "53/udp": {} });
    assert.deepEqual(c.Volumes, { "/data": {}, "/logs": {}, "/cache": {} });
    assert.equal(c.User, "nobody");
    assert.equal(c.WorkingDir, "/srv/app");
    assert.equal(c.StopSignal, "SIGTERM");
    assert.deepEqual(c.OnBuild, ["RUN true"]);
  });

  it("refuses instructions docker import does not accept", () => {
    assert.throws(
      () => applyChanges({}, ["RUN rm -rf /"]),
      (e: unknown) => e instanceof CoveError && e.kind === "invalid" && /RUN is not a valid change command/.test(e.message),
    );
    assert.throws(() => applyChanges({}, ["EXPOSE http"]), /invalid port/);
  });

  it("does not modify the config it is given", () => {
    const base = { Env: ["A=1"] };
    applyChanges(base, ["ENV A=2"]);
    assert.deepEqual(base, { Env: ["A=1"] });
  });
});

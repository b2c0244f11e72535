import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { linkEnv, parseLink } from "./links.js";

describe("legacy links", () => {
  it("parses name, name:alias, /name:alias and a full link name as alias", () => {
    assert.deepEqual(parseLink("db"), { target: "db", alias: "db" });
    assert.deepEqual(parseLink("srv:db"), { target: "srv", alias: "db" });
    assert.deepEqual(parseLink("/srv:db"), { target: "srv", alias: "db" });
    assert.deepEqual(parseLink("/srv:/cli/db"), { target: "srv", alias: "db" });
  });

  it("gives moby's variables: first port, each port, name, the linked env without HOME and PATH", () => {
    const env = linkEnv("/cli/my-db", "10.0.0.2", ["PATH=/bin", "HOME=/root", "FOO=a=b", "BARE"], { "9090/tcp": {}, "8080/tcp": {} });
    assert.deepEqual(env, [
      "MY_DB_PORT=tcp://10.0.0.2:8080",
      "MY_DB_PORT_8080_TCP=tcp://10.0.0.2:8080",
      "MY_DB_PORT_8080_TCP_ADDR=10.0.0.2",
      "MY_DB_PORT_8080_TCP_PORT=8080",
      "MY_DB_PORT_8080_TCP_PROTO=tcp",
      "MY_DB_PORT_9090_TCP=tcp://10.0.0.2:9090",
      "MY_DB_PORT_9090_TCP_ADDR=10.0.0.2",
      "MY_DB_PORT_9090_TCP_PORT=9090",
      "MY_DB_PORT_9090_TCP_PROTO=tcp",
      "MY_DB_NAME=/cli/my-db",
      "MY_DB_ENV_FOO=a=b",
    ]);
  });

  it("puts TCP first (Docker 28) and describes a contiguous run with _START and _END", () => {
    const env = linkEnv("/p/a", "ip", null, { "53/udp": {}, "7001/tcp": {}, "7000/tcp": {}, "7002/tcp": {} });
    assert.equal(env[0], "A_PORT=tcp://ip:7000");
    const ranges = env.filter((e) => /_START=|_END=/.test(e));
    assert.deepEqual(ranges, ["A_PORT_7000_TCP_START=tcp://ip:7000", "A_PORT_7000_TCP_PORT_START=7000", "A_PORT_7000_TCP_END=tcp://ip:7002", "A_PORT_7000_TCP_PORT_END=7002"]);
    assert.ok(env.includes("A_PORT_53_UDP=udp://ip:53"));
    assert.equal(env.indexOf("A_PORT_53_UDP=udp://ip:53") > env.indexOf("A_PORT_7002_TCP=tcp://ip:7002"), true);
    assert.deepEqual(linkEnv("/p/b", "ip", [], {}), ["B_NAME=/p/b"]);
  });
});

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { CoveError } from "../common/errors.js";
import { configHash, createBody } from "./convert.js";
import { interpolate, parseEnvFile } from "./interpolate.js";
import { loadProject, type LoadOptions } from "./loader.js";
import { parsePorts, parseVolumes, shellSplit } from "./normalize.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "cove-compose-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A fresh project directory (named `dirName`) holding `files`. */
function project(files: Record<string, string>, dirName = `proj${n++}`): string {
  const dir = path.join(tmp, dirName);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

const load = (dir: string, opts: LoadOptions = {}) => loadProject({ cwd: dir, env: {}, ...opts });

function fails(fn: () => unknown, re: RegExp): CoveError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CoveError, String(err));
    assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected an error matching ${re}`);
}

const o = { path: "x", file: "f.yaml" };

describe("interpolation", () => {
  const env = { SET: "v", EMPTY: "" };
  it("substitutes $VAR and ${VAR}, and $$ is a literal $", () => {
    assert.equal(interpolate("a $SET ${SET}b $$SET $$", env, o), "a v vb $SET $");
  });
  it("takes defaults with :- (unset or empty) and - (unset only)", () => {
    assert.equal(interpolate("${UNSET:-d} ${EMPTY:-d} ${UNSET-d} ${EMPTY-d}", env, o), "d d d ");
    assert.equal(interpolate("${UNSET:-${SET}x}", env, o), "vx");
  });
  it("takes alternatives with :+ and +", () => {
    assert.equal(interpolate("[${SET:+alt}] [${EMPTY:+alt}] [${EMPTY+alt}] [${UNSET+alt}]", env, o), "[alt] [] [alt] []");
  });
  it("fails on ${VAR:?msg} when unset or empty, naming the variable and the message", () => {
    fails(() => interpolate("${EMPTY:?must be set}", env, o), /required variable EMPTY is missing a value: must be set/);
    fails(() => interpolate("${UNSET?}", env, o), /required variable UNSET/);
    assert.equal(interpolate("${EMPTY?no}", env, o), "");
  });
  it("warns of an unset variable and makes it empty", () => {
    const warnings: string[] = [];
    assert.equal(interpolate("x${NOPE}y", env, o, (w) => warnings.push(w)), "xy");
    assert.match(warnings[0]!, /"NOPE" variable is not set/);
  });
  it("rejects a malformed reference", () => {
    fails(() => interpolate("${SET", env, o), /no closing brace/);
    fails(() => interpolate("${1BAD}", env, o), /not a variable reference/);
  });
});

describe("env files", () => {
  it("reads KEY=VALUE lines with export, quotes, comments and references", () => {
    const vars = parseEnvFile(`# comment\nexport A=1\nB="two words\\n" \nC='lit $A'\nD=$A-x # trailing\nE=\nF="multi\nline"\n`, ".env", {});
    assert.deepEqual(vars, { A: "1", B: "two words\n", C: "lit $A", D: "1-x", E: "", F: "multi\nline" });
  });
  it("names the file and line of a bad variable name", () => {
    fails(() => parseEnvFile("OK=1\nbad name=2\n", "my.env"), /my\.env:2: invalid variable name/);
  });
});

describe("short syntaxes", () => {
  it("splits command strings as a shell does", () => {
    assert.deepEqual(shellSplit(`sh -c "echo 'a b' \\"c\\"" d\\ e`, "x"), ["sh", "-c", `echo 'a b' "c"`, "d e"]);
  });
  it("expands ports", () => {
    assert.deepEqual(parsePorts(["80", "8080:80", "127.0.0.1:53:53/udp", "9000-9001:90-91", { target: 443, published: 8443 }], "s"), [
      { target: 80, protocol: "tcp", mode: "ingress" },
      { target: 80, protocol: "tcp", mode: "ingress", published: "8080" },
      { target: 53, protocol: "udp", mode: "ingress", published: "53", host_ip: "127.0.0.1" },
      { target: 90, protocol: "tcp", mode: "ingress", published: "9000" },
      { target: 91, protocol: "tcp", mode: "ingress", published: "9001" },
      { target: 443, protocol: "tcp", published: "8443" },
    ]);
    fails(() => parsePorts(["80:abc"], "services.web"), /services\.web\.ports\[0\]: invalid port "80:abc"/);
  });
  it("expands volumes, binds made absolute", () => {
    assert.deepEqual(parseVolumes(["data:/d:ro", "./src:/s", "/anon"], "/p", "s"), [
      { type: "volume", source: "data", target: "/d", volume: {}, read_only: true },
      { type: "bind", source: "/p/src", target: "/s", bind: { create_host_path: true } },
      { type: "volume", target: "/anon" },
    ]);
    fails(() => parseVolumes(["a:/b:bogus"], "/p", "services.x"), /services\.x\.volumes\[0\]: invalid mode "bogus"/);
  });
});

describe("loading a project", () => {
  it("interpolates from .env under the process environment, and --env-file replaces .env", () => {
    const dir = project({ "compose.yaml": "services:\n  web:\n    image: busybox:${TAG:-latest}\n    environment:\n      X: ${X}\n", ".env": "TAG=dotenv\nX=fromfile\n", "other.env": "TAG=other\n" });
    const p = load(dir, { env: { X: "fromenv" } });
    assert.equal(p.services.web!.image, "busybox:dotenv");
    assert.deepEqual(p.services.web!.environment, { X: "fromenv" });
    assert.equal(load(dir, { envFiles: ["other.env"] }).services.web!.image, "busybox:other");
  });

  it("merges several files by the spec's rules", () => {
    const dir = project({
      "a.yaml": "services:\n  web:\n    image: a\n    command: [one, two]\n    environment: [A=1, B=1]\n    ports: ['80']\n    volumes: ['d:/data', '/x']\n    labels: {l1: a}\nvolumes: {d: {}}\n",
      "b.yaml": "services:\n  web:\n    image: b\n    command: three\n    environment: {B: 2, C: 3}\n    ports: ['81']\n    volumes: ['./h:/data']\n    labels: [l2=b]\n",
    });
    const web = load(dir, { files: ["a.yaml", "b.yaml"] }).services.web!;
    assert.equal(web.image, "b");
    assert.deepEqual(web.command, ["three"]);
    assert.deepEqual(web.environment, { A: "1", B: "2", C: "3" });
    assert.deepEqual(web.ports?.map((p) => p.target), [80, 81]);
    assert.deepEqual(web.volumes?.map((v) => `${v.type}:${v.source ?? ""}:${v.target}`), [`bind:${dir}/h:/data`, "volume::/x"]);
    assert.deepEqual(web.labels, { l1: "a", l2: "b" });
  });

  it("resolves extends, in the same file and from another", () => {
    const dir = project({
      "compose.yaml": "services:\n  base:\n    image: busybox\n    environment: {A: '1'}\n  web:\n    extends: base\n    environment: {B: '2'}\n  other:\n    extends: {file: common.yaml, service: common}\n    user: '1000'\n",
      "common.yaml": "services:\n  common:\n    image: common\n    working_dir: /w\n",
    });
    const p = load(dir);
    assert.deepEqual(p.services.web!.environment, { A: "1", B: "2" });
    assert.equal(p.services.web!.image, "busybox");
    assert.equal(p.services.other!.image, "common");
    assert.equal(p.services.other!.working_dir, "/w");
    assert.equal(p.services.other!.user, "1000");
    const loop = project({ "compose.yaml": "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n" });
    fails(() => load(loop), /circular reference/);
  });

  it("includes other files' services, networks and volumes", () => {
    const dir = project({ "compose.yaml": "include: [sub/inc.yaml]\nservices:\n  web:\n    image: busybox\n    depends_on: [db]\n", "sub/inc.yaml": "services:\n  db:\n    image: db\n    volumes: ['./data:/d', 'v:/v']\nvolumes: {v: {}}\n" });
    const p = load(dir);
    assert.deepEqual(Object.keys(p.services).sort(), ["db", "web"]);
    assert.equal(p.services.db!.volumes?.[0]?.source, path.join(dir, "sub/data"));
    assert.equal(p.volumes.v?.name, `${path.basename(dir)}_v`);
  });

  it("applies profiles from --profile and COMPOSE_PROFILES", () => {
    const dir = project({ "compose.yaml": "services:\n  web:\n    image: x\n  debug:\n    image: x\n    profiles: [dev]\n  tool:\n    image: x\n    profiles: [tools]\n" });
    assert.deepEqual(Object.keys(load(dir).services), ["web"]);
    assert.deepEqual(Object.keys(load(dir, { profiles: ["dev"] }).services).sort(), ["debug", "web"]);
    assert.deepEqual(Object.keys(load(dir, { env: { COMPOSE_PROFILES: "dev,tools" } }).services).sort(), ["debug", "tool", "web"]);
    const needs = project({ "compose.yaml": "services:\n  web:\n    image: x\n    depends_on: [debug]\n  debug:\n    image: x\n    profiles: [dev]\n" });
    fails(() => load(needs), /depends on service "debug", which its profiles leave out/);
  });

  it("names the project by -p, COMPOSE_PROJECT_NAME, name:, then the directory", () => {
    const dir = project({ "compose.yaml": "name: fromfile\nservices:\n  web:\n    image: x\n" }, "My.Dir_1");
    assert.equal(load(dir, { projectName: "flag", env: { COMPOSE_PROJECT_NAME: "envname" } }).name, "flag");
    assert.equal(load(dir, { env: { COMPOSE_PROJECT_NAME: "envname" } }).name, "envname");
    assert.equal(load(dir).name, "fromfile");
    const plain = project({ "compose.yaml": "services:\n  web:\n    image: x\n" }, "_My.Dir-2");
    assert.equal(load(plain).name, "mydir-2");
    assert.equal(load(plain).networks.default?.name, "mydir-2_default");
    fails(() => load(plain, { projectName: "Bad Name" }), /invalid project name "Bad Name"/);
  });

  it("reports a schema violation with its path and line", () => {
    const dir = project({ "compose.yaml": "services:\n  web:\n    image: x\n    restart: always\n    bogus: 1\n" });
    const err = fails(() => load(dir), /compose\.yaml:5: services\.web\.bogus: additional property bogus is not allowed/);
    assert.equal(err.kind, "invalid");
    const typed = project({ "compose.yaml": "services:\n  web:\n    image: x\n    privileged: [1]\n" });
    fails(() => load(typed), /compose\.yaml:4: services\.web\.privileged: must be boolean/);
  });

  it("names the file of a short syntax that does not parse", () => {
    const dir = project({ "compose.yaml": "services:\n  web:\n    image: x\n    ports: ['80:abc']\n" });
    const err = fails(() => load(dir), /compose\.yaml: services\.web\.ports\[0\]: invalid port "80:abc"/);
    assert.equal(err.code, "compose.schema");
  });

  it("reports a YAML error with file, line and column", () => {
    const dir = project({ "compose.yaml": "services:\n  web:\n    image: x\n   bad: [\n" });
    fails(() => load(dir), /compose\.yaml:4:\d+: /);
  });

  it("reports an unset required variable before anything else", () => {
    const dir = project({ "compose.yaml": "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n" });
    fails(() => load(dir), /required variable IMAGE is missing a value: set IMAGE to the image to run \(services\.web\.image in /);
  });

  it("reports a dependency cycle and an undefined dependency", () => {
    const dir = project({ "compose.yaml": "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n" });
    fails(() => load(dir), /dependency cycle detected: a -> b -> c -> a/);
    const missing = project({ "compose.yaml": "services:\n  a:\n    image: x\n    depends_on: [nope]\n" });
    fails(() => load(missing), /service "a" depends on undefined service "nope"/);
  });

  it("reports undefined volumes and networks, and warns of unsupported fields by name", () => {
    fails(() => load(project({ "compose.yaml": "services:\n  a:\n    image: x\n    volumes: ['data:/d']\n" })), /refers to undefined volume data/);
    fails(() => load(project({ "compose.yaml": "services:\n  a:\n    image: x\n    networks: [back]\n" })), /refers to undefined network back/);
    const p = load(project({ "compose.yaml": "services:\n  a:\n    image: x\n    build: .\n    gpus: all\n    deploy: {replicas: 2, placement: {}, resources: {reservations: {cpus: 1}}}\n" }));
    assert.deepEqual(p.warnings, [
      "services.a.gpus: not supported by cove compose yet; ignored",
      "services.a.deploy.placement: not supported by cove compose yet; ignored",
      "services.a.deploy.resources.reservations.cpus: not supported by cove compose yet; ignored",
    ]);
    assert.equal(p.services.a!.scale, 2);
  });

  it("names external resources by their own names", () => {
    const p = load(project({ "compose.yaml": "services:\n  a:\n    image: x\n    networks: [ext]\n    volumes: ['v:/v']\nnetworks:\n  ext: {external: true, name: shared}\nvolumes:\n  v: {external: true}\n" }, "extproj"));
    assert.equal(p.networks.ext?.name, "shared");
    assert.equal(p.volumes.v?.name, "v");
    assert.equal(p.networks.default, undefined);
  });
});

describe("configs and secrets", () => {
  it("expands short and long syntax: default targets, relative secret targets under /run/secrets, octal modes", () => {
    const dir = project({
      "compose.yaml":
        "services:\n  a:\n    image: x\n    configs:\n      - app\n      - {source: inline, target: /etc/inline.conf, uid: '10', gid: '20', mode: 0440}\n    secrets:\n      - token\n      - {source: token, target: renamed, mode: '0o400'}\nconfigs:\n  app: {file: ./conf/app.conf}\n  inline: {content: 'k=v'}\nsecrets:\n  token: {environment: TOKEN}\n",
    }, "grants");
    const p = load(dir);
    assert.deepEqual(p.services.a!.configs, [
      { source: "app", target: "/app" },
      { source: "inline", target: "/etc/inline.conf", uid: "10", gid: "20", mode: 0o440 },
    ]);
    assert.deepEqual(p.services.a!.secrets, [
      { source: "token", target: "/run/secrets/token" },
      { source: "token", target: "/run/secrets/renamed", mode: 0o400 },
    ]);
    assert.deepEqual(p.configs, { app: { name: "grants_app", file: path.join(dir, "conf/app.conf") }, inline: { name: "grants_inline", content: "k=v" } });
    assert.deepEqual(p.secrets, { token: { name: "grants_token", environment: "TOKEN" } });
    assert.deepEqual(p.warnings, []);
    // a file with nothing to own or mode is bind-mounted read-only, as Docker Compose does
    const body = createBody(p, "a", 1, "sha256:abc") as { HostConfig: { Mounts: unknown[] } };
    assert.deepEqual(body.HostConfig.Mounts, [{ Type: "bind", Source: path.join(dir, "conf/app.conf"), Target: "/app", ReadOnly: true }]);
  });

  it("rejects an undefined source, a bad mode, a secret with content (by the schema), and not exactly one source", () => {
    fails(() => load(project({ "compose.yaml": "services:\n  a:\n    image: x\n    secrets: [nope]\n" })), /service "a" refers to undefined secret nope/);
    fails(() => load(project({ "compose.yaml": "services:\n  a:\n    image: x\n    configs: [{source: c, mode: '0999'}]\nconfigs:\n  c: {content: x}\n" })), /mode "0999" is not an octal file mode/);
    fails(() => load(project({ "compose.yaml": "services:\n  a:\n    image: x\nsecrets:\n  s: {content: x}\n" })), /secrets\.s\.content: additional property content is not allowed/);
    fails(() => load(project({ "compose.yaml": "services:\n  a:\n    image: x\nconfigs:\n  c: {file: ./f, content: x}\n" })), /configs\.c: give exactly one of file, environment, content or external/);
  });
});

describe("the engine's view", () => {
  const dir = project({ "compose.yaml": "services:\n  web:\n    image: x\n    ports: ['127.0.0.1:8080:80']\n    environment: {A: '1'}\n    volumes: ['d:/data']\n    networks: {default: {aliases: [www]}}\n    healthcheck: {test: 'true', interval: 2s}\nvolumes: {d: {}}\n" }, "engineview");
  it("carries Docker Compose's labels, names and the config hash", () => {
    const p = load(dir);
    const body = createBody(p, "web", 1, "sha256:abc") as { Labels: Record<string, string>; HostConfig: Record<string, unknown>; NetworkingConfig: unknown; Healthcheck: unknown };
    assert.equal(body.Labels["com.docker.compose.project"], "engineview");
    assert.equal(body.Labels["com.docker.compose.service"], "web");
    assert.equal(body.Labels["com.docker.compose.container-number"], "1");
    assert.equal(body.Labels["com.docker.compose.oneoff"], "False");
    assert.equal(body.Labels["com.docker.compose.config-hash"], configHash(p.services.web!));
    assert.equal(body.Labels["com.docker.compose.project.config_files"], path.join(dir, "compose.yaml"));
    assert.deepEqual(body.HostConfig.PortBindings, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }] });
    assert.deepEqual(body.HostConfig.Mounts, [{ Type: "volume", Source: "engineview_d", Target: "/data", ReadOnly: false }]);
    assert.equal(body.HostConfig.NetworkMode, "engineview_default");
    assert.deepEqual(body.NetworkingConfig, { EndpointsConfig: { engineview_default: { Aliases: ["engineview-web-1", "web", "www"] } } });
    assert.deepEqual(body.Healthcheck, { Test: ["CMD-SHELL", "true"], Interval: 2e9, Timeout: undefined, Retries: undefined, StartPeriod: undefined, StartInterval: undefined });
  });
  it("changes the hash when the service changes, not when only its scale does", () => {
    const a = load(dir).services.web!;
    assert.equal(configHash({ ...a, scale: 3 }), configHash(a));
    assert.notEqual(configHash({ ...a, environment: { A: "2" } }), configHash(a));
  });
});

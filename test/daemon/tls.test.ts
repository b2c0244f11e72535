// The daemon on TCP: TLS with client certificates required. Certificates are made in the test with
// openssl (a CA, a server certificate for 127.0.0.1, a client certificate); the docker CLI talks to
// the daemon with --tlsverify, and a client without a certificate is refused.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";

const run = promisify(execFile);
const DOCKER = "/usr/local/bin/docker";
const OPENSSL = ["/usr/bin/openssl", "/bin/openssl"].find((p) => existsSync(p));
const skip = !existsSync(DOCKER) ? `${DOCKER} is missing` : !OPENSSL ? "openssl is missing (apt-get install -y openssl)" : process.getuid?.() !== 0 ? "needs root" : false;

describe("daemon on TCP with TLS client certificates", { skip }, () => {
  let dir: string;
  let daemon: Daemon;

  const ssl = (...args: string[]) => run(OPENSSL as string, args, { cwd: dir });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    await ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1", "-subj", "/CN=cove test CA");
    await writeFile(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    await writeFile(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    for (const who of ["server", "client"]) {
      await ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${who}-key.pem`, "-out", `${who}.csr`, "-subj", `/CN=${who}`);
      await ssl("x509", "-req", "-in", `${who}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", `${who}-cert.pem`, "-days", "1", "-extfile", `${who}.ext`);
    }
    // the docker CLI's --tlsverify layout: ca.pem, cert.pem, key.pem in DOCKER_CERT_PATH
    await run("cp", [path.join(dir, "client-cert.pem"), path.join(dir, "cert.pem")]);
    await run("cp", [path.join(dir, "client-key.pem"), path.join(dir, "key.pem")]);
    daemon = await startDaemon({
      root: path.join(dir, "root"),
      socket: path.join(dir, "cove.sock"),
      tcp: { host: "127.0.0.1", port: 0, tlsCert: path.join(dir, "server-cert.pem"), tlsKey: path.join(dir, "server-key.pem"), tlsCa: path.join(dir, "ca.pem") },
      log: () => undefined,
    });
  });

  after(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves docker version to a client with a certificate", async () => {
    const { stdout } = await run(DOCKER, ["version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "cfg"), DOCKER_HOST: `tcp://127.0.0.1:${daemon.tcp?.port}`, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: dir },
    });
    assert.equal(stdout.trim(), "0.1.0 1.47");
  });

  it("refuses a client without a certificate", async () => {
    const { readFile } = await import("node:fs/promises");
    const ca = await readFile(path.join(dir, "ca.pem"));
    const outcome = await new Promise<string>((resolve) => {
      const req = https.request({ host: "127.0.0.1", port: daemon.tcp?.port, path: "/_ping", ca }, (res) => {
        res.resume();
        resolve(`status ${res.statusCode}`);
      });
      req.on("error", (err) => resolve(`error ${err.message}`));
      req.end();
    });
    assert.match(outcome, /^error /, `expected the TLS handshake to fail, got ${outcome}`);
  });
});

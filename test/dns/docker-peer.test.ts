// Differential test: the answers of Docker's embedded DNS (Debian's dockerd, on an internal
// user-defined network, so nothing is forwarded anywhere) against cove's DnsServer serving the
// same names, both asked by the same busybox nslookup. cove's backend here is what the network
// subsystem will give it: the container's name, alias, short ID and address, and its
// name.network for reverse lookups.
//
// Where they differ on purpose: a name the internal network lacks. dockerd 20.10 sends no answer
// at all (the client waits out its timeout); current moby and cove answer SERVFAIL at once.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { promisify } from "node:util";
import { DnsServer, type DnsBackend } from "../../src/dns/index.js";
import { busyboxRootfsTar, findBusybox, tempDir } from "../images/fixtures.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";

const run = promisify(execFile);
const BUSYBOX = await findBusybox();
const skip = dockerdAvailable() ?? (BUSYBOX ? undefined : "busybox-static is not installed (apt-get install -y busybox-static)");

const NETWORK = `covedns-${process.pid}`;
const SUBNET = "10.213.7.0/24";
const LISTEN = `127.53.${20 + (process.pid % 200)}.9`;

/**
 * nslookup's output without the Server/Address lines (they name the server asked), its answer
 * blocks sorted: it sends the A and AAAA queries together and prints them as they arrive.
 */
function normalize(out: string): string {
  const text = out
    .split("\n")
    .filter((l) => !/^(Server|Address):\s+127\./.test(l))
    .join("\n");
  return text
    .split(/\n(?=Non-authoritative answer:|\*\* )/)
    .map((block) => block.trim())
    .filter(Boolean)
    .sort()
    .join("\n\n");
}

test("cove answers busybox nslookup as Docker's embedded DNS does on an internal network", { skip, timeout: 300_000 }, async () => {
  const dir = await tempDir();
  // Its own temp directory: the private dockerd names its cgroup parent after the directory.
  const dockerdDir = await tempDir();
  const dockerd = await startDockerd({ dir: dockerdDir }).catch(async (err: unknown) => {
    await rm(dockerdDir, { recursive: true, force: true });
    throw err;
  });
  // cove serves the names compare() finds on Docker's network.
  const known = { ip: "", names: new Set<string>() };
  const backend: DnsBackend = {
    scope: () => ({ forward: false, upstreams: [] }),
    lookup: (name, type) => (known.names.has(name) ? { addresses: type === "A" ? [known.ip] : [] } : "unknown"),
    reverse: (address) => (address === known.ip ? `web.${NETWORK}` : "unknown"),
  };
  const server = new DnsServer({ backend });
  try {
    await compare(dir, dockerd, server, known);
  } finally {
    await server.close();
    await dockerd.docker(["rm", "-f", "web"]);
    await dockerd.docker(["network", "rm", NETWORK]);
    await dockerd.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

async function compare(dir: string, dockerd: Dockerd, server: DnsServer, known: { ip: string; names: Set<string> }): Promise<void> {
  const docker = async (...args: string[]) => {
    const r = await dockerd.docker(args, { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const tar = await busyboxRootfsTar(dir);
  const imported = await dockerd.docker(["import", "-c", 'CMD ["sh"]', "-", "covedns/busybox"], { input: await readFile(tar) });
  assert.equal(imported.code, 0, imported.stderr);
  await docker("network", "create", "--internal", "--subnet", SUBNET, NETWORK);
  const id = await docker("run", "-d", "--name", "web", "--network", NETWORK, "--network-alias", "webalias", "covedns/busybox", "sleep", "600");
  const ip = await docker("inspect", "-f", `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`, "web");
  const shortId = id.slice(0, 12);

  known.ip = ip;
  known.names = new Set(["web", "webalias", shortId, `web.${NETWORK}`]);
  const at = await server.listen(LISTEN, 0);

  const viaDocker = async (...args: string[]) => (await dockerd.docker(["run", "--rm", "--network", NETWORK, "covedns/busybox", "nslookup", ...args, "127.0.0.11"], { timeoutMs: 60_000 })).stdout;
  const viaCove = async (...args: string[]) => (await run(BUSYBOX!, ["nslookup", ...args, `${at.address}:${at.port}`]).catch((e: { stdout: string }) => e)).stdout;

  const cases: string[][] = [["web"], ["-type=a", "webalias"], ["-type=a", shortId], ["-type=a", `web.${NETWORK}`], ["-type=aaaa", "web"], ["-type=mx", "web"], [ip]];
  for (const args of cases) {
    const expected = normalize(await viaDocker(...args));
    assert.notEqual(expected, "", `dockerd answered nslookup ${args.join(" ")}`);
    assert.equal(normalize(await viaCove(...args)), expected, `nslookup ${args.join(" ")}`);
  }
  assert.match(await viaCove("-type=a", "nope"), /server can't find nope: SERVFAIL/);
}

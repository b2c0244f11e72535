// The web dashboard in headless Chromium: a private cove daemon with its dashboard on a free
// loopback port, the page opened at the address `cove dashboard` prints, and a container started
// afterwards through the docker CLI. The page must show it within a second of its first event
// (and of the CLI's return), plot its memory as it grows, follow its logs, run a shell in the
// terminal, and stop it from its stop button, without a single error in the page. Screenshots
// of each step are kept under test-artifacts/dashboard/.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { startDashboard, type Dashboard } from "../../src/dashboard/index.js";
import { until } from "../containers/harness.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { api, dockerCliSkip, run } from "../support/docker-api.js";
import { tearDownDaemon } from "../support/teardown.js";
import { findChromium, launchChromium, type Chromium } from "./chromium.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The package root (this file runs from dist/test/dashboard). */
const ROOT = path.resolve(HERE, "..", "..", "..");
const ARTIFACTS = path.join(ROOT, "test-artifacts", "dashboard");
const COVE = path.join(ROOT, "dist", "src", "cli", "main.js");

const chromium = findChromium();
const skip = (await dockerCliSkip()) || (chromium ? false : "Debian's chromium is not installed (apt-get install -y chromium; scripts/setup.sh installs it)");

/**
 * The container: 1 MiB more in its /dev/shm (a tmpfs charged to its memory) every 0.3 s, a log
 * line each time, and whatever the test leaves in /tmp/say printed once; SIGTERM ends it at once.
 */
const SCRIPT = [
  "trap 'exit 0' TERM",
  "i=0",
  "while true; do",
  "  i=$((i+1))",
  "  dd if=/dev/zero of=/dev/shm/m$i bs=1M count=1 2>/dev/null",
  '  echo "tick $i"',
  "  if [ -f /tmp/say ]; then cat /tmp/say; rm -f /tmp/say; fi",
  "  if [ $i -ge 40 ]; then rm -f /dev/shm/m*; i=0; fi",
  "  sleep 0.3",
  "done",
].join("\n");

function cove(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [COVE, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe("the web dashboard in headless Chromium", { skip }, () => {
  let dir: string | undefined;
  let daemon: Daemon | undefined;
  let dashboard: Dashboard | undefined;
  let browser: Chromium | undefined;
  let socket = "";
  let env: NodeJS.ProcessEnv = {};
  const runtimeRoot = `/run/cove-dash-${process.pid}`;
  const daemonLog: string[] = [];
  const name = `dash-${process.pid}-${randomBytes(3).toString("hex")}`;
  let id = "";

  const shot = (file: string) => browser!.screenshot(path.join(ARTIFACTS, file));
  /** Waits for a condition in the page (an expression), with a generous bound. */
  const pageUntil = (what: string, expression: string, timeoutMs = 60_000) => until(what, async () => !!(await browser!.evaluate<unknown>(expression)), timeoutMs);
  /**
   * No error in the page, and no failed request but the one this daemon explains: it runs without
   * networking, so it has no /networks routes (the page says so in its networks table).
   */
  const noPageErrors = () => {
    assert.deepEqual(browser!.errors, [], `the page reported errors:\n${browser!.errors.join("\n")}`);
    const unexpected = browser!.failedLoads.filter((l) => !/^404 http:\/\/127\.0\.0\.1:\d+\/api\/networks$/.test(l));
    assert.deepEqual(unexpected, [], `requests of the page failed:\n${unexpected.join("\n")}`);
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-dash-"));
    socket = path.join(dir, "cove.sock");
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: (l) => daemonLog.push(l) });
    env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    const imported = await run(env, ["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    assert.equal(imported.code, 0, imported.stderr);
    browser = await launchChromium(chromium as string, path.join(dir, "chromium"));
  });

  after(async () => {
    // each step runs whatever an earlier one did; the first failure is reported
    const failures: unknown[] = [];
    for (const step of [() => browser?.close(), () => dashboard?.close(), () => tearDownDaemon(daemon, dir), () => rm(runtimeRoot, { recursive: true, force: true })]) {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) throw failures[0];
  });

  it("`cove dashboard` says how to turn the dashboard on, then prints its address with the token; without the token the page stays locked", async () => {
    const off = await cove(env, ["dashboard"]);
    assert.equal(off.code, 1);
    assert.match(off.stderr, /serves no dashboard: it is off unless the daemon starts with it\n.*hint: start the daemon with `cove daemon --dashboard 127\.0\.0\.1:9123`/);
    dashboard = await startDashboard(daemon!, { host: "127.0.0.1", port: 0 });
    const r = await cove(env, ["dashboard", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), dashboard!.url);
    assert.match(dashboard!.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
    await browser!.navigate(dashboard!.url.replace(/\?token=.*/, ""));
    assert.match(await browser!.evaluate<string>("document.body.innerText"), /needs the dashboard's token/);
    // the locked page's 401 is its only failure
    assert.deepEqual(browser!.errors, []);
    assert.deepEqual(browser!.failedLoads, [`401 ${dashboard!.url.replace(/\?token=.*/, "")}`]);
    browser!.failedLoads.length = 0;
  });

  it("loads the page: engine, tables, the event stream live, no errors", async () => {
    await browser!.navigate(dashboard!.url);
    assert.equal(await browser!.evaluate<string>("location.search"), "", "the token leaves the address bar");
    await pageUntil("the event stream to be live", `document.querySelector("#live").textContent === "live"`);
    await pageUntil("the busybox image in the images table", `[...document.querySelectorAll("#images tbody td")].some((td) => td.textContent === "busybox:latest")`);
    assert.match(await browser!.evaluate<string>(`document.querySelector("#engine").textContent`), /API 1\.\d+/);
    assert.match(await browser!.evaluate<string>(`document.querySelector("#containers tbody").textContent`), /no containers/);
    await shot("01-loaded.png");
    noPageErrors();
  });

  it("shows a container started from the docker CLI within a second", async (ctx) => {
    const started = await run(env, ["run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c", SCRIPT]);
    const returned = Date.now();
    assert.equal(started.code, 0, started.stderr);
    id = started.stdout.trim();
    await pageUntil("the container's row", `!!document.querySelector('#containers tr[data-id="${id}"]')`);
    const t = await browser!.evaluate<{ event: number; row: number }>(`({ event: coveDashboard.firstEvent["${id}"], row: coveDashboard.firstRow["${id}"] })`);
    // the page's own clock: when its first event for the container arrived, when the row was drawn
    assert.ok(typeof t.event === "number" && typeof t.row === "number", JSON.stringify(t));
    ctx.diagnostic(`row drawn ${t.row - t.event} ms after the container's first event, ${t.row - returned} ms after docker run returned`);
    assert.ok(t.row - t.event < 1000, `the row came ${t.row - t.event} ms after the container's first event`);
    assert.ok(t.row - returned < 1000, `the row came ${t.row - returned} ms after docker run returned`);
    const row = await browser!.evaluate<string>(`document.querySelector('#containers tr[data-id="${id}"]').textContent`);
    assert.ok(row.includes(name) && row.includes("busybox"), row);
    await pageUntil("the row to show it running", `document.querySelector('#containers tr[data-id="${id}"]').dataset.state === "running"`);
    await shot("02-container.png");
    noPageErrors();
  });

  it("plots the container's memory as it grows and follows its logs", async () => {
    await browser!.evaluate(`document.querySelector('#containers tr[data-id="${id}"] a.name').click()`);
    await pageUntil("two memory samples plotted", `coveDashboard.plots.memory?.drawn[0]?.length >= 2`);
    const first = await browser!.evaluate<{ values: number[]; drawn: number[] }>(`({ values: [...coveDashboard.plots.memory.series[0].values], drawn: [...coveDashboard.plots.memory.drawn[0]] })`);
    const base = Math.min(...first.values);
    // the container adds 1 MiB every 0.3 s: the plot must show at least 2 MiB more than its lowest point
    await pageUntil(
      "the memory plot to rise by 2 MiB over two more samples",
      `Math.max(...coveDashboard.plots.memory.series[0].values) >= ${base + 2 * 1024 * 1024} && coveDashboard.plots.memory.drawn[0].length >= ${first.drawn.length + 2}`,
    );
    const later = await browser!.evaluate<number[]>(`[...coveDashboard.plots.memory.drawn[0]]`);
    assert.notDeepEqual(later.slice(0, first.drawn.length), first.drawn, "the points drawn moved (the scale follows the growing maximum)");
    assert.ok(new Set(later).size > 1, `the line is not flat: ${later.join(",")}`);
    assert.match(await browser!.evaluate<string>(`document.querySelector("#memory-now").textContent`), /iB/);

    await pageUntil("the logs to show a tick", `/tick \\d+/.test(document.querySelector("#logs").textContent)`);
    const marker = `said-after-the-page-opened-${randomBytes(4).toString("hex")}`;
    const said = await run(env, ["exec", name, "sh", "-c", `echo ${marker} > /tmp/say`]);
    assert.equal(said.code, 0, said.stderr);
    await pageUntil("the line echoed after the page opened", `document.querySelector("#logs").textContent.includes(${JSON.stringify(marker)})`);
    await shot("03-stats-logs.png");
    noPageErrors();
  });

  it("runs a shell in the terminal (an exec with a TTY over the dashboard's WebSocket)", async () => {
    await browser!.evaluate(`document.querySelector("#terminal-open").click()`);
    await pageUntil("the terminal's shell to answer", `!!coveDashboard.terminal && /[#$] $/m.test(coveDashboard.terminal.text())`);
    await browser!.evaluate(`coveDashboard.terminal.send("echo product=$((6*7))\\r")`);
    await pageUntil("the shell's answer in the terminal", `coveDashboard.terminal.text().includes("product=42")`);
    await browser!.evaluate(`document.querySelector("#terminal").scrollIntoView()`);
    await shot("04-terminal.png");
    noPageErrors();
  });

  it("stops the container from its stop button", async () => {
    await browser!.evaluate(`document.querySelector('#containers tr[data-id="${id}"] button[data-action="stop"]').click()`);
    await until("the container to stop", async () => {
      const r = await api(socket, "GET", `/containers/${id}/json`);
      return r.status === 200 && (JSON.parse(r.body) as { State: { Running: boolean } }).State.Running === false;
    });
    await pageUntil("the row to show it exited", `document.querySelector('#containers tr[data-id="${id}"]').dataset.state === "exited"`);
    await pageUntil("the logs to end", `document.querySelector("#logs").textContent.includes("the log ends here")`);
    await browser!.evaluate("window.scrollTo(0, 0)");
    await shot("05-stopped.png");
    noPageErrors();
  });

  it("follows a TTY container's logs (not multiplexed) and removes it with its remove button", async () => {
    const started = await run(env, ["run", "-d", "-t", "--name", `${name}-tty`, "--network", "none", "busybox", "sh", "-c", "echo tty-says-hello; exec sleep 1000"]);
    assert.equal(started.code, 0, started.stderr);
    const ttyId = started.stdout.trim();
    await pageUntil("the TTY container's row", `document.querySelector('#containers tr[data-id="${ttyId}"]')?.dataset.state === "running"`);
    await browser!.evaluate(`document.querySelector('#containers tr[data-id="${ttyId}"] a.name').click()`);
    await pageUntil("the TTY container's log line", `document.querySelector("#logs").textContent.includes("tty-says-hello")`);
    // a TTY's output is raw: no frame header bytes may show
    const text = await browser!.evaluate<string>(`document.querySelector("#logs").textContent`);
    assert.ok(![...text].some((ch) => ch.charCodeAt(0) < 9), JSON.stringify(text));
    // the page asks before removing: the test answers yes
    await browser!.evaluate(`window.confirm = () => true; document.querySelector('#containers tr[data-id="${ttyId}"] button[data-action="remove"]').click()`);
    await until("the container to be removed", async () => (await api(socket, "GET", `/containers/${ttyId}/json`)).status === 404);
    await pageUntil("its row to go", `!document.querySelector('#containers tr[data-id="${ttyId}"]')`);
    await pageUntil("its details to close", `document.querySelector("#detail").hidden`);
    await shot("06-removed.png");
    noPageErrors();
  });
});

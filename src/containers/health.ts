// Healthchecks: the probe schedule and results, with Docker's states and events.

import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { readLogs } from "./logs.js";
import type { Health } from "./types.js";
import { Live, NS, nowIso } from "./core.js";
import type { ContainerCore } from "./core.js";

/**
 * A container label asking for an action when its healthcheck turns unhealthy: "restart" (as the
 * kubelet restarts a container whose liveness probe fails; podman's --health-on-failure=restart),
 * set by kube play for liveness probes. Without it an unhealthy container keeps running, as
 * Docker's.
 */
export const HEALTH_ON_FAILURE_LABEL = "io.cove.health.on-failure";

export class HealthChecks {
  constructor(private readonly core: ContainerCore) {}

  scheduleHealth(c: Live, first: boolean): void {
    const hc = c.rec.Config.Healthcheck;
    if (!hc?.Test?.length || hc.Test[0] === "NONE" || this.core.closed || !c.rec.State.Running) return;
    const interval = (hc.Interval || 30 * NS) / 1e6;
    const startInterval = (hc.StartInterval || 5 * NS) / 1e6;
    const inStart = hc.StartPeriod && Date.now() - (c.runStartedAt ?? 0) < hc.StartPeriod / 1e6;
    const delay = first ? Math.min(interval, inStart && hc.StartInterval ? startInterval : interval) : inStart && hc.StartInterval ? startInterval : interval;
    if (c.healthTimer) clearTimeout(c.healthTimer);
    c.healthTimer = setTimeout(() => {
      c.healthTimer = undefined;
      void this.probe(c).finally(() => this.scheduleHealth(c, false));
    }, delay);
  }

  async probe(c: Live): Promise<void> {
    const hc = c.rec.Config.Healthcheck!;
    const test = hc.Test!;
    if (!c.rec.State.Running || c.rec.State.Paused) return;
    const cmd = test[0] === "CMD-SHELL" ? [...(c.rec.Config.Shell?.length ? c.rec.Config.Shell : ["/bin/sh", "-c"]), test.slice(1).join(" ")] : test[0] === "CMD" ? test.slice(1) : test;
    const timeoutMs = (hc.Timeout || 30 * NS) / 1e6;
    const start = nowIso();
    const tag = randomBytes(4).toString("hex");
    const log = path.join(this.core.runtimeRoot, c.rec.ID, `h${tag}.log`);
    let code: number;
    let output = "";
    try {
      const proc = await this.core.m.exec.execProcess(c, { Cmd: cmd });
      const handle = await this.core.runtimeOf(c).exec(c.rec.ID, { process: proc, stdio: "ignore", io: { log: { path: log, maxSize: 1 << 20, maxFiles: 1 }, pipes: { openStdin: false, stdinOnce: false } } });
      let timer: NodeJS.Timeout | undefined;
      const res = await Promise.race([handle.exited.then((x) => x.code), new Promise<number>((r) => (timer = setTimeout(() => r(-1), timeoutMs)))]);
      clearTimeout(timer);
      if (res === -1) {
        handle.kill("SIGKILL");
        output = `Health check exceeded timeout (${Math.round(timeoutMs / 1000)}s)`;
      } else {
        for await (const e of readLogs(log, {})) output += e.line.toString();
      }
      code = res;
    } catch (err) {
      code = -1;
      output = (err as Error).message;
    } finally {
      await this.core.bestEffort(`remove the health check log ${log} of container ${c.rec.ID}`, rm(log, { force: true }));
    }
    if (!c.rec.State.Running || this.core.closed) return;
    const h: Health = c.rec.State.Health ?? { Status: "starting", FailingStreak: 0, Log: [] };
    h.Log.push({ Start: start, End: nowIso(), ExitCode: code, Output: output.slice(0, 4096) });
    if (h.Log.length > 5) h.Log.splice(0, h.Log.length - 5);
    const before = h.Status;
    if (code === 0) {
      h.FailingStreak = 0;
      h.Status = "healthy";
    } else {
      const inStart = hc.StartPeriod && Date.now() - (c.runStartedAt ?? 0) < hc.StartPeriod / 1e6;
      if (!(inStart && h.Status === "starting")) {
        h.FailingStreak++;
        if (h.FailingStreak >= (hc.Retries || 3)) h.Status = "unhealthy";
      }
    }
    c.rec.State.Health = h;
    await this.core.bestEffort(`save the health of container ${c.rec.ID}`, this.core.save(c));
    if (h.Status !== before) this.core.event(c, `health_status: ${h.Status}`);
    if (h.Status === "unhealthy" && before !== "unhealthy" && c.rec.Config.Labels?.[HEALTH_ON_FAILURE_LABEL] === "restart") {
      // the restart clears the health (starting again) and counts as one of the container's restarts
      c.rec.RestartCount++;
      await this.core.bestEffort(`restart the unhealthy container ${c.rec.ID}`, this.core.m.control.restart(c.rec.ID, { timeout: c.rec.Config.StopTimeout ?? 10 }));
    }
  }
}

// `cove dashboard`: the address of the running daemon's web dashboard, with its token (the
// daemon answers GET /cove/dashboard while its dashboard is on), or how to turn it on.

import { EngineError } from "../client/engine.js";
import { CliError, command, type Command } from "./command.js";

interface DashboardAnswer {
  URL: string;
  Address: string;
  TLS: boolean;
}

export const dashboardCommand: Command = command(
  {
    name: "dashboard",
    usage: "cove dashboard [OPTIONS]",
    summary: "Print the address of the daemon's web dashboard (containers, images, volumes, networks, live stats, logs, a terminal)",
    flags: { quiet: { type: "bool", short: "q", description: "Print the address only" } },
    args: { max: 0 },
  },
  async ({ flags }, run) => {
    const client = await run.client();
    let answer: DashboardAnswer;
    try {
      answer = await client.json<DashboardAnswer>("GET", "/cove/dashboard");
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) {
        throw new CliError(
          `the daemon at unix://${client.socket} serves no dashboard: it is off unless the daemon starts with it\n` +
            `  hint: start the daemon with \`cove daemon --dashboard 127.0.0.1:9123\`, or put "dashboard": {"enabled": true, "addr": "127.0.0.1:9123"} in /etc/cove/daemon.json and restart it`,
        );
      }
      throw err;
    }
    if (flags.quiet) run.out(answer.URL + "\n");
    else run.out(`Open ${answer.URL}\n(the address carries the dashboard's token: whoever has it controls this daemon's containers${answer.TLS ? "; the browser also needs a client certificate signed by the dashboard's CA" : ""})\n`);
    return 0;
  },
);

// Signals as Docker and runc name them: `docker kill -s KILL`, `--stop-signal SIGUSR1`, an image's
// StopSignal, `runc kill ID 9`. Names are case-insensitive with or without the SIG prefix.

import { constants as osConstants } from "node:os";
import { invalid } from "../common/errors.js";

/** A signal's number from its name ("TERM", "sigterm", "SIGTERM") or number ("15"). */
export function parseSignal(sig: NodeJS.Signals | number | string): number {
  if (typeof sig === "number") return sig;
  if (/^\d+$/.test(sig)) return Number(sig);
  const upper = sig.toUpperCase();
  const n = (osConstants.signals as Record<string, number>)[upper.startsWith("SIG") ? upper : `SIG${upper}`];
  if (n === undefined) throw invalid(`unknown signal "${sig}"`, { code: "signal.invalid", hint: "use a name such as SIGTERM or KILL, or a number" });
  return n;
}

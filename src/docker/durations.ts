// Durations the Docker way: Go's time.ParseDuration for what users type ("1h30m", "500ms": health
// check intervals, `logs --since 42m`), and go-units HumanDuration for what Docker prints
// ("About a minute", "3 hours": `Up 3 hours` in ps, `2 hours ago` in the CLI's tables).

import { invalid } from "../common/errors.js";

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds, with Go's error texts. */
export function parseGoDuration(s: string): number {
  const bad = () => invalid(`time: invalid duration "${s}"`, { code: "duration.invalid" });
  let rest = s;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw bad();
  let total = 0;
  while (rest.length > 0) {
    const m = /^(\d*(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!m || m[1] === "" || m[1] === ".") {
      if (/^\d/.test(rest) && !/[a-zµμ]/.test(rest)) throw invalid(`time: missing unit in duration "${s}"`, { code: "duration.invalid" });
      throw bad();
    }
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(sign * total);
}

/** go-units HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

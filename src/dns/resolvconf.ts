// The host's resolver configuration (resolv.conf(5)), parsed the way glibc reads it: keyword
// lines, `domain` and `search` replacing each other (the last one wins), `options` lines adding
// up. Which of these a container may use (a loopback resolver is unreachable from a container's
// namespace) is for the caller to decide; this only reports what the file says.

import { readFile } from "node:fs/promises";
import { canonicalIp } from "./ip.js";
import { fromErrno } from "../common/errors.js";

export const RESOLV_CONF = "/etc/resolv.conf";

export interface ResolvConf {
  /** Nameserver addresses in file order, canonical text; an IPv6 zone (%eth0) is kept. */
  nameservers: string[];
  /** `nameserver` values that are not IP addresses (glibc ignores them). */
  invalidNameservers: string[];
  /** The search list from the last `search` or `domain` line. */
  search: string[];
  /** Every option from every `options` line, in order ("ndots:2", "edns0", ...). */
  options: string[];
  /** ndots from the last `options ndots:n`, capped at 15 like glibc; undefined when not set. */
  ndots?: number;
  /** `sortlist` entries, as written. */
  sortlist: string[];
}

/** Parses resolv.conf text. Never throws: lines it does not understand are skipped, as glibc does. */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], invalidNameservers: [], search: [], options: [], sortlist: [] };
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const [keyword, ...args] = line.split(/\s+/);
    switch (keyword) {
      case "nameserver": {
        const value = args[0];
        if (value === undefined) break;
        const [address, zone] = value.split("%", 2) as [string, string | undefined];
        const canonical = canonicalIp(address);
        if (canonical === undefined || (zone !== undefined && (zone === "" || !canonical.includes(":")))) conf.invalidNameservers.push(value);
        else conf.nameservers.push(zone !== undefined ? `${canonical}%${zone}` : canonical);
        break;
      }
      case "domain":
        conf.search = args.length > 0 ? [args[0]!] : [];
        break;
      case "search":
        conf.search = args;
        break;
      case "options":
        for (const option of args) {
          conf.options.push(option);
          const ndots = /^ndots:([0-9]+)$/.exec(option);
          if (ndots) conf.ndots = Math.min(Number(ndots[1]), 15);
        }
        break;
      case "sortlist":
        conf.sortlist.push(...args);
        break;
      default:
        break;
    }
  }
  return conf;
}

/** Reads and parses a resolv.conf file (the host's by default). */
export async function readResolvConf(file: string = RESOLV_CONF): Promise<ResolvConf> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw fromErrno(err, `reading resolver configuration ${file}`, "check that the file exists and is readable");
  }
  return parseResolvConf(text);
}

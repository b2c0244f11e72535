// Legacy container links (--link name[:alias] on the default bridge): the parsing of a link and
// the environment variables the linking container gets, as moby's daemon/links does (Docker 28:
// TCP ports before others, contiguous runs of one protocol also as _START/_END variables).

export interface LinkSpec {
  /** The linked container's name or ID, without a leading "/". */
  target: string;
  /** The alias in the linking container (the target's name when none was given). */
  alias: string;
}

/** "name:alias", "/name:alias" or "name": the linked container and the alias it gets. */
export function parseLink(link: string): LinkSpec {
  const colon = link.indexOf(":");
  const target = (colon < 0 ? link : link.slice(0, colon)).replace(/^\/+/, "");
  const aliasPart = colon < 0 ? target : link.slice(colon + 1);
  // an alias given as a full link name (/parent/alias) keeps its last part
  const alias = aliasPart.split("/").filter(Boolean).pop() ?? target;
  return { target, alias };
}

interface Port {
  port: number;
  proto: string;
}

function parsePort(key: string): Port | undefined {
  const [num = "", proto = "tcp"] = key.split("/");
  const port = Number(num);
  if (!/^\d+$/.test(num) || port < 0 || port > 65535) return undefined;
  return { port, proto: proto.toLowerCase() };
}

/** moby's withTCPPriority: TCP first, then the other protocols by name; by number within one. */
function byTcpPriority(a: Port, b: Port): number {
  if (a.proto === b.proto) return a.port - b.port;
  if (a.proto === "tcp") return -1;
  if (b.proto === "tcp") return 1;
  return a.proto < b.proto ? -1 : 1;
}

/**
 * The variables a link gives the linking container: ALIAS_PORT (the first port), for each exposed
 * port ALIAS_PORT_<n>_<PROTO> with _ADDR, _PORT and _PROTO, for a contiguous run _START, _PORT_START,
 * _END and _PORT_END, then ALIAS_NAME (the link's full name, /parent/alias) and ALIAS_ENV_<VAR> for
 * each variable of the linked container's config but HOME and PATH. The alias is upper-cased with
 * "-" as "_".
 */
export function linkEnv(linkName: string, childIp: string, childEnv: readonly string[] | null | undefined, exposedPorts: Record<string, unknown> | null | undefined): string[] {
  const alias = (linkName.split("/").pop() ?? linkName).toUpperCase().replaceAll("-", "_");
  const ports = Object.keys(exposedPorts ?? {})
    .map(parsePort)
    .filter((p): p is Port => p !== undefined)
    .sort(byTcpPriority);
  const env: string[] = [];
  let start: Port | undefined;
  let end: Port | undefined;
  ports.forEach((p, i) => {
    if (i === 0) {
      start = end = p;
      env.push(`${alias}_PORT=${p.proto}://${childIp}:${p.port}`);
    }
    const prefix = `${alias}_PORT_${p.port}_${p.proto.toUpperCase()}`;
    env.push(`${prefix}=${p.proto}://${childIp}:${p.port}`, `${prefix}_ADDR=${childIp}`, `${prefix}_PORT=${p.port}`, `${prefix}_PROTO=${p.proto}`);
    if (p.port === end!.port + 1 && p.proto === start!.proto) {
      end = p;
      if (i < ports.length - 1) return;
    }
    if (end !== start) {
      const s = start!;
      const e = end!;
      const rangePrefix = `${alias}_PORT_${s.port}_${s.proto.toUpperCase()}`;
      env.push(`${rangePrefix}_START=${s.proto}://${childIp}:${s.port}`, `${rangePrefix}_PORT_START=${s.port}`, `${rangePrefix}_END=${e.proto}://${childIp}:${e.port}`, `${rangePrefix}_PORT_END=${e.port}`);
    }
    start = end = p;
  });
  env.push(`${alias}_NAME=${linkName}`);
  for (const v of childEnv ?? []) {
    const eq = v.indexOf("=");
    if (eq < 0) continue;
    const name = v.slice(0, eq);
    if (name === "HOME" || name === "PATH") continue;
    env.push(`${alias}_ENV_${name}=${v.slice(eq + 1)}`);
  }
  return env;
}

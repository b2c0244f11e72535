// IP address bytes and reverse-lookup names (in-addr.arpa, ip6.arpa), without going through the
// resolver. Addresses are kept in their canonical text form (RFC 5952 for IPv6) so a caller's map
// lookups agree with what the server passes it.

import { isIPv4, isIPv6 } from "node:net";

/** The 4 bytes of a dotted-quad IPv4 address, or undefined when the text is not one. */
export function ipv4Bytes(text: string): Buffer | undefined {
  if (!isIPv4(text)) return undefined;
  return Buffer.from(text.split(".").map(Number));
}

/** The 16 bytes of an IPv6 address (a zone suffix such as %eth0 is ignored), or undefined. */
export function ipv6Bytes(text: string): Buffer | undefined {
  const bare = text.replace(/%.*$/, "");
  if (!isIPv6(bare)) return undefined;
  let head = bare;
  let tail = "";
  const gap = bare.indexOf("::");
  if (gap >= 0) {
    head = bare.slice(0, gap);
    tail = bare.slice(gap + 2);
  }
  const groups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const piece of part.split(":")) {
      if (piece.includes(".")) {
        const v4 = ipv4Bytes(piece)!;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const front = groups(head);
  const back = groups(tail);
  const all = gap >= 0 ? [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back] : front;
  const bytes = Buffer.alloc(16);
  all.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return bytes;
}

/** Canonical text of 4 or 16 address bytes (RFC 5952 for IPv6: lowercase, longest zero run as ::). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // The longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** The canonical form of an IPv4 or IPv6 address, or undefined when the text is not one. */
export function canonicalIp(text: string): string | undefined {
  const bytes = ipv4Bytes(text) ?? ipv6Bytes(text);
  return bytes ? formatIp(bytes) : undefined;
}

/**
 * The address a reverse-lookup name stands for ("4.3.2.1.in-addr.arpa" → "1.2.3.4", 32 nibbles
 * under ip6.arpa → an IPv6 address), or undefined when the name is not a complete one (a partial
 * name such as "2.1.in-addr.arpa" names a zone, not an address). Case and a trailing dot are ignored.
 */
export function reverseNameToIp(name: string): string | undefined {
  const lower = name.toLowerCase().replace(/\.$/, "");
  if (lower.endsWith(".in-addr.arpa")) {
    const parts = lower.slice(0, -".in-addr.arpa".length).split(".");
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
    return parts.reverse().join(".");
  }
  if (lower.endsWith(".ip6.arpa")) {
    const nibbles = lower.slice(0, -".ip6.arpa".length).split(".");
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const hex = nibbles.reverse().join("");
    return formatIp(Buffer.from(hex, "hex"));
  }
  return undefined;
}

/** The reverse-lookup name of an address (no trailing dot), or undefined when it is not an address. */
export function ipToReverseName(ip: string): string | undefined {
  const v4 = ipv4Bytes(ip);
  if (v4) return `${Array.from(v4).reverse().join(".")}.in-addr.arpa`;
  const v6 = ipv6Bytes(ip);
  if (!v6) return undefined;
  return `${v6.toString("hex").split("").reverse().join(".")}.ip6.arpa`;
}

// Public entry of cove's embedded DNS: the server containers on user-defined networks query
// (names from the network, everything else forwarded upstream), the wire codec it speaks, and
// the host's resolver configuration.

export {
  DnsServer,
  LOCAL_TTL,
  type Awaitable,
  type DnsBackend,
  type DnsClient,
  type DnsScope,
  type DnsServerOptions,
  type DnsServerStats,
  type ListenAddress,
  type NameAnswer,
  type ServiceTarget,
} from "./server.js";
export type { Upstream } from "./forward.js";
export {
  CLASSIC_UDP_SIZE,
  DnsFormatError,
  MAX_MESSAGE_SIZE,
  Opcode,
  RRClass,
  RRType,
  Rcode,
  decodeMessage,
  encodeMessage,
  makeQuery,
  makeReply,
  typeName,
  type DnsMessage,
  type Edns,
  type EdnsOption,
  type Question,
  type RecordData,
  type ResourceRecord,
} from "./codec.js";
export { canonicalIp, ipToReverseName, reverseNameToIp } from "./ip.js";
export { RESOLV_CONF, parseResolvConf, readResolvConf, type ResolvConf } from "./resolvconf.js";

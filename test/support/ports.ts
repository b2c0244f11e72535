// A TCP port free on the host at the moment of asking (a test publishes it next).

import net from "node:net";

/** A port nothing listens on at host (all addresses unless told), found by binding port 0. */
export async function freePort(host = "0.0.0.0"): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

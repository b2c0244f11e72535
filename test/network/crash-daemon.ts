// A cove daemon in its own process for the crash test: argv root socket runtimeRoot netnsDir bridge subnet tag.
import path from "node:path";
import { startDaemon } from "../../src/daemon/index.js";

const [root, socket, runtimeRoot, netnsDir, bridge, subnet, tag] = process.argv.slice(2) as [string, string, string, string, string, string, string];
await startDaemon({ root, socket, execRoot: path.dirname(netnsDir), runtimeRoot, log: () => undefined, network: { defaultBridge: { name: bridge, subnet }, netnsDir, tag } });

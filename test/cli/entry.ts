// A test-only entry for the container commands until src/cli/main.ts dispatches them:
// `node dist/test/cli/entry.js [--socket PATH] COMMAND [ARGS...]` runs containerCommands against
// the Engine API daemon on PATH (default $COVE_SOCKET, then /run/cove/cove.sock).

import { containerCommands } from "../../src/cli/containers.js";
import { EngineClient } from "../../src/client/index.js";

async function main(argv: string[]): Promise<number> {
  let socket = process.env.COVE_SOCKET ?? "/run/cove/cove.sock";
  if (argv[0] === "--socket") {
    socket = argv[1] ?? socket;
    argv = argv.slice(2);
  }
  const two = `${argv[0] ?? ""} ${argv[1] ?? ""}`;
  const client = new EngineClient({ socket });
  if (containerCommands[two]) return containerCommands[two](argv.slice(2), { client });
  const one = containerCommands[argv[0] ?? ""];
  if (one) return one(argv.slice(1), { client });
  process.stderr.write(`cove: '${argv[0] ?? ""}' is not a cove command.\n`);
  return 125;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // a paused stdin or a finished attach must not keep the process alive
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`cove: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(125);
  },
);

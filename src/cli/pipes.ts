// A reader that stops early (`cove logs -f web | head -1`) ends the command quietly, as SIGPIPE
// ends the docker CLI and runc.

const quiet = new WeakSet<NodeJS.WriteStream>();

/**
 * Makes EPIPE on `stream` end the process with status 0; returns the stream. Called where a
 * command first writes, not at start-up: touching process.stdout creates the stream (and loads
 * the stream modules), which `cove runtime start` or `kill`, one process per call and silent,
 * need not pay for.
 */
export function quietOnBrokenPipe(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  if (!quiet.has(stream)) {
    quiet.add(stream);
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0);
      throw err;
    });
  }
  return stream;
}

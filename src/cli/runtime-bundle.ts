// The entry of cove-runtime's one-file forms (scripts/build-runtime.js): esbuild bundles it with
// everything it imports into dist/runtime/cove-runtime.cjs, which node loads without resolving
// and reading a module file per import, and node --build-snapshot runs that file once to make
// dist/runtime/cove-runtime.blob, a heap with all of it already loaded, which node starts from.
// Run as a script, it runs the command; while a snapshot is being built, it only registers the
// command as what the snapshot runs when it starts.

import v8 from "node:v8";
import { setTraceFile } from "../common/trace.js";
import { runRuntimeCommand } from "./runtime-run.js";

if (v8.startupSnapshot.isBuildingSnapshot()) {
  v8.startupSnapshot.setDeserializeMainFunction(() => {
    // module state read from the environment at load time was read while building the snapshot
    setTraceFile(process.env.COVE_TRACE);
    // the launcher runs `node --snapshot-blob FILE -- ARGS...`: argv[1] is the first argument
    runRuntimeCommand(process.argv.slice(1));
  });
} else {
  runRuntimeCommand(process.argv.slice(2));
}

// Generates src/native/shim/protocol.h from src/native/protocol.ts, the one source of the contract
// between cove's TypeScript side and its shim (op numbers, report lines, attach frames, state
// files). scripts/build-native.sh runs it before compiling the shim, so it works before the
// TypeScript build: it transpiles the two modules it needs (protocol.ts has no imports, and
// protocol-header.ts imports only protocol.ts) with the typescript package and renders them.
// The header is rewritten only when its text changes.
//
// Without node_modules (the typescript package missing) the committed header is used as it is;
// src/native/protocol.test.ts fails whenever the committed header differs from protocol.ts.
//
// Run: node scripts/gen-native-protocol.js

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sources = ["src/native/protocol.ts", "src/native/protocol-header.ts"];
const header = "src/native/shim/protocol.h";

let ts;
try {
  ts = (await import("typescript")).default;
} catch {
  console.error(`gen-native-protocol: the typescript package is not installed; using the committed ${header}`);
  process.exit(0);
}

const out = path.join(root, "build", "protocol-gen");
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, "package.json"), '{ "type": "module" }\n');
for (const src of sources) {
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(path.join(root, src), "utf8"), {
    fileName: src,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  if (diagnostics?.length) {
    console.error(ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n" }));
    process.exit(1);
  }
  writeFileSync(path.join(out, path.basename(src).replace(/\.ts$/, ".js")), outputText);
}
// a fresh URL each run: the same process never sees a stale module
const { renderProtocolHeader } = await import(`${pathToFileURL(path.join(out, "protocol-header.js")).href}?t=${Date.now()}`);
const text = renderProtocolHeader();
const target = path.join(root, header);
let old;
try {
  old = readFileSync(target, "utf8");
} catch {
  old = undefined;
}
if (old !== text) {
  writeFileSync(target, text);
  console.log(`generated ${header}`);
}

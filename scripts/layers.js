// The layers of cove's source tree, top to bottom, and the lint rule that keeps its imports
// pointing downward. eslint.config.js turns the rule on as "cove/layers" for everything under
// src (tests included), so `npx eslint src test bench` fails on a violation; src/layers.test.ts
// proves that it does.
//
// A module under src may import from its own folder and from folders of lower layers, nothing
// else: not from a higher layer, not from another folder of its own layer, not from outside
// src (only tests may reach test/ fixtures). So no service imports the HTTP layer, the library
// (src/engine) runs without the daemon, and the runtime knows nothing of containers or images.
// A new folder under src lints only once it has a place below.

import path from "node:path";
import { fileURLToPath } from "node:url";

/** The files directly in src (index.ts, the package's entry) count as one folder of this name. */
export const PACKAGE_ENTRY = "(src/*.ts)";

export const LAYERS = [
  { name: "the command line", folders: ["cli"] },
  { name: "servers beside the daemon's socket: the web dashboard, the Kubernetes CRI", folders: ["dashboard", "cri"] },
  { name: "the daemon: HTTP server, Docker API routes", folders: ["daemon"] },
  { name: "the package entry", folders: [PACKAGE_ENTRY] },
  { name: "the library and the API client", folders: ["engine", "client"] },
  { name: "Kubernetes: kube generate and kube play's planner, on pods", folders: ["kube"] },
  { name: "services built on the container service: build, compose, pods", folders: ["build", "compose", "pods"] },
  { name: "services", folders: ["containers"] },
  { name: "images, networks and volumes", folders: ["images", "network", "volumes"] },
  { name: "the registry client and server (they keep blobs in the content store)", folders: ["registry"] },
  { name: "stores, DNS and the event bus", folders: ["snapshots", "content", "dns", "events"] },
  { name: "the OCI runtime", folders: ["runtime"] },
  { name: "confined file access", folders: ["fsroot"] },
  { name: "the native parts", folders: ["native"] },
  { name: "Docker compatibility: Engine API shapes, units, signals, detach keys", folders: ["docker"] },
  { name: "rootless: the launcher of a user's daemon in its own namespaces, and its port driver", folders: ["rootless"] },
  { name: "common errors and file helpers", folders: ["common"] },
];

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "src");
const RANK = new Map(LAYERS.flatMap((layer, rank) => layer.folders.map((folder) => [folder, rank])));

/** Where a file sits: its folder under src and that folder's layer (rank undefined when it has none); undefined outside src. */
function place(file) {
  const rel = path.relative(SRC, file);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return undefined;
  const parts = rel.split(path.sep);
  const folder = parts.length === 1 ? PACKAGE_ENTRY : parts[0];
  return { folder, rank: RANK.get(folder), label: parts.length === 1 ? `src/${parts[0]}` : `src/${folder}` };
}

const isTest = (file) => /\.test\.[cm]?[jt]s$/.test(file);

/** Why `file` may not import `specifier`, or undefined when it may. */
export function importViolation(file, specifier) {
  if (!specifier.startsWith(".")) return undefined; // packages and node: builtins
  const from = place(file);
  if (!from || from.rank === undefined) return undefined; // outside src, or reported once per file
  const target = path.resolve(path.dirname(file), specifier);
  const to = place(target);
  if (!to) return isTest(file) ? undefined : `${from.label} imports ${path.relative(path.dirname(SRC), target)}: code under src imports only from src`;
  if (to.folder === from.folder) return undefined;
  if (to.rank === undefined) return `${to.label} is in no layer: give it one in scripts/layers.js`;
  if (to.rank > from.rank) return undefined;
  const rule = "imports point down the layers of scripts/layers.js";
  if (to.rank === from.rank) return `${from.label} may not import ${to.label}: both are in the layer of ${LAYERS[from.rank].name}, and ${rule}; move what they share to a lower layer`;
  return `${from.label} (${LAYERS[from.rank].name}) may not import ${to.label} (${LAYERS[to.rank].name}): ${rule}`;
}

/** Why a file may not be where it is (a folder in no layer), or undefined. */
export function placeViolation(file) {
  const at = place(file);
  return at && at.rank === undefined ? `${at.label} is in no layer: give it one in scripts/layers.js` : undefined;
}

/** The ESLint rule: every import, export-from, import() and import("...") type is checked. */
export const layersRule = {
  meta: {
    type: "problem",
    docs: { description: "imports under src point down cove's layers (scripts/layers.js)" },
    schema: [],
    messages: { violation: "{{why}}" },
  },
  create(context) {
    const file = context.filename;
    const check = (source) => {
      if (!source || typeof source.value !== "string") return;
      const why = importViolation(file, source.value);
      if (why) context.report({ node: source, messageId: "violation", data: { why } });
    };
    return {
      Program(node) {
        const why = placeViolation(file);
        if (why) context.report({ node, messageId: "violation", data: { why } });
      },
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      TSImportType: (node) => check(node.source ?? node.argument?.literal),
    };
  },
};

export const plugin = { rules: { layers: layersRule } };

// `cove build`. For now only `cove build --print-ast FILE`: parse a Dockerfile and print its
// syntax tree in the notation of BuildKit's parser test data, or the error with its position.
// Building images is not available yet, and says so instead of pretending.

import { readFile } from "node:fs/promises";
import { DockerfileError } from "../build/dockerfile/errors.js";
import { decodeDockerfile, dumpAst, parseDockerfile } from "../build/dockerfile/parser.js";

export const BUILD_USAGE = `usage: cove build --print-ast FILE

  --print-ast FILE   parse FILE (a Dockerfile, or - for standard input) and print its syntax
                     tree, one instruction per line, as BuildKit's parser test data writes it;
                     exits 1 with the error's position when the Dockerfile does not parse

Building images is not available in cove yet.`;

async function readInput(file: string): Promise<string> {
  if (file !== "-") return decodeDockerfile(await readFile(file));
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return decodeDockerfile(Buffer.concat(chunks));
}

export async function buildMain(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(BUILD_USAGE + "\n");
    return 0;
  }
  let file: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--print-ast") {
      if (args[i + 1] === undefined) {
        process.stderr.write(`cove build: --print-ast needs a file (a Dockerfile, or - for standard input)\n${BUILD_USAGE}\n`);
        return 125;
      }
      file = args[++i]!;
    } else if (a.startsWith("--print-ast=")) file = a.slice("--print-ast=".length);
    else rest.push(a);
  }
  if (file === undefined) {
    process.stderr.write("cove build: building images is not available in cove yet; only `cove build --print-ast FILE` (parse a Dockerfile) works\n");
    return 125;
  }
  if (rest.length > 0) {
    process.stderr.write(`cove build: --print-ast takes no other arguments (got ${rest.join(" ")})\n`);
    return 125;
  }
  let text: string;
  try {
    text = await readInput(file);
  } catch (err) {
    process.stderr.write(`cove build: cannot read ${file}: ${(err as Error).message}\n`);
    return 125;
  }
  const name = file === "-" ? "Dockerfile" : file;
  try {
    // the raw parse only, as BuildKit's parser test data is: an unknown instruction still
    // dumps (as `(form "")`); the build itself will reject it
    const parsed = parseDockerfile(text, name);
    process.stdout.write(dumpAst(parsed.nodes));
    for (const w of parsed.warnings) process.stderr.write(`${name}:${w.line}: warning: ${w.message}\n`);
    return 0;
  } catch (err) {
    if (err instanceof DockerfileError) {
      process.stderr.write(err.describe() + "\n");
      return 1;
    }
    throw err;
  }
}

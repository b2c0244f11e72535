// The CRI's service definitions (runtime.v1, Kubernetes' api.proto, copied unchanged into this
// folder), loaded with proto-loader. Field names stay as the proto spells them (keepCase), 64-bit
// integers arrive and leave as strings or numbers (longs: String on decode), enums as their names.

import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** src/cri/api.proto, found from dist/src/cri (built) or src/cri (source). */
export function protoPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromDist = path.resolve(here, "../../../src/cri/api.proto");
  return here.includes(`${path.sep}dist${path.sep}`) ? fromDist : path.join(here, "api.proto");
}

export interface CriServices {
  RuntimeService: grpc.ServiceDefinition;
  ImageService: grpc.ServiceDefinition;
}

let loaded: CriServices | undefined;

export function criServices(): CriServices {
  if (!loaded) {
    const def = protoLoader.loadSync(protoPath(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: Record<string, { service: grpc.ServiceDefinition }> } };
    const v1 = pkg.runtime.v1;
    loaded = { RuntimeService: v1.RuntimeService!.service, ImageService: v1.ImageService!.service };
  }
  return loaded;
}

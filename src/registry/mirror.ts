// Pulls from Docker Hub through its mirrors ("registry-mirrors"): each request goes to the
// mirrors in order and then to Docker Hub itself, the first answer winning, as dockerd falls back
// from a mirror that fails (cannot be reached, does not have the image, errs) to the next
// endpoint. Other registries are pulled from directly.

import { DOCKER_HUB_DOMAIN, RepositoryClient, type BlobSink, type BlobTarget, type FetchBlobOptions, type FetchedManifest, type RepositoryClientOptions } from "./client.js";

/** What a pull reads from a repository. */
export interface PullSource {
  getManifest(reference: string, expectedSize?: number): Promise<FetchedManifest>;
  fetchBlob(sink: BlobSink, blob: BlobTarget, options?: FetchBlobOptions): Promise<void>;
  listTags(): Promise<string[]>;
}

/** Tries each endpoint in order; the last one's failure is the one reported. */
export class MirroredRepository implements PullSource {
  constructor(
    private readonly endpoints: RepositoryClient[],
    private readonly signal?: AbortSignal,
  ) {
    if (endpoints.length === 0) throw new RangeError("a mirrored repository needs at least one endpoint");
  }

  private async first<T>(fn: (c: RepositoryClient) => Promise<T>): Promise<T> {
    let last: unknown;
    for (const c of this.endpoints) {
      try {
        return await fn(c);
      } catch (err) {
        if (this.signal?.aborted) throw err;
        last = err;
      }
    }
    throw last;
  }

  getManifest(reference: string, expectedSize?: number): Promise<FetchedManifest> {
    return this.first((c) => c.getManifest(reference, expectedSize));
  }

  fetchBlob(sink: BlobSink, blob: BlobTarget, options?: FetchBlobOptions): Promise<void> {
    return this.first((c) => c.fetchBlob(sink, blob, options));
  }

  listTags(): Promise<string[]> {
    return this.first((c) => c.listTags());
  }
}

/** The source a pull of domain/repository reads: Docker Hub's mirrors then Docker Hub, or the registry itself. */
export function pullSource(domain: string, repository: string, options: RepositoryClientOptions): PullSource {
  const mirrors = options.mirrors ?? [];
  const origin = new RepositoryClient(domain, repository, options);
  if (domain !== DOCKER_HUB_DOMAIN || mirrors.length === 0) return origin;
  const viaMirrors = mirrors.map((m) => new RepositoryClient(domain, repository, { ...options, endpoint: m }));
  return new MirroredRepository([...viaMirrors, origin], options.signal);
}

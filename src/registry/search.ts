// `docker search`: repositories of a registry that match a term, in Docker's JSON shape
// (GET /images/search). As dockerd does it (moby daemon/pkg/registry/search.go):
//
//  - the term names the registry when its first path component looks like a host (has a "." or a
//    ":", or is "localhost"): "127.0.0.1:5000/bus" searches 127.0.0.1:5000 for "bus"; anything
//    else searches Docker Hub (index.docker.io), where "library/x" is searched as "x".
//  - the v1 search API: GET /v1/search?q=<term>&n=<limit> with X-Docker-Token: true (and Basic
//    credentials when given), answering {num_results, query, results: [{name, description,
//    star_count, is_official, is_automated}]}.
//  - limit 1..100 (0: 25); filters is-official and is-automated (booleans), stars (an integer,
//    the least stars); is-automated=true matches nothing and is_automated is always false (Docker
//    deprecated it); any other filter is an error.
//
// Beyond dockerd, as podman does: a registry that speaks only the v2 API (distribution's
// registry answers /v1/search with 404) is searched through its catalog (GET /v2/_catalog, every
// page), each repository whose name contains the term answering as "<registry>/<repository>"
// with no description and no stars. dockerd answers such a registry "Unexpected status code 404".

import { CoveError, invalid } from "../common/errors.js";
import type { ImageSearchResult } from "../docker/index.js";
import { basicAuthorization, type AuthConfig } from "./auth.js";
import { RepositoryClient, type RegistryOptions } from "./client.js";

/** One result, as Docker's API answers it. */
export type SearchResult = ImageSearchResult;

export interface SearchOptions extends RegistryOptions {
  /** At most this many results, 1..100; 0 or undefined: 25. */
  limit?: number;
  /** Docker's filters: is-official, is-automated, stars. */
  filters?: Record<string, string[]>;
  auth?: AuthConfig;
  signal?: AbortSignal;
  /** Where Docker Hub's v1 search is served (default https://index.docker.io). */
  hubIndex?: string;
}

export const DEFAULT_SEARCH_LIMIT = 25;
const HUB_INDEX = "https://index.docker.io";
const HUB_NAMES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
const FILTERS = new Set(["is-automated", "is-official", "stars"]);
/** Catalog pages read at most (each of up to 1000 names): a bound on a huge registry. */
const MAX_CATALOG_PAGES = 100;

/** The registry and the term within it (moby's splitReposSearchTerm). */
export function splitSearchTerm(term: string): { index: string; remote: string } {
  const slash = term.indexOf("/");
  const first = slash === -1 ? term : term.slice(0, slash);
  if (slash === -1 || (!first.includes(".") && !first.includes(":") && first !== "localhost")) return { index: "docker.io", remote: term };
  return { index: first, remote: term.slice(slash + 1) };
}

/** A boolean filter: "true"/"1" or "false"/"0", else Docker's error. */
function boolFilter(filters: Record<string, string[]>, key: string): boolean | undefined {
  const values = filters[key];
  if (values === undefined) return undefined;
  const isTrue = values.some((v) => v === "true" || v === "1");
  const isFalse = values.some((v) => v === "false" || v === "0");
  // moby's invalidFilter prints the values as Go prints a []string: [a b]
  if (isTrue === isFalse) throw invalid(`invalid filter '${key}=[${values.join(" ")}]'`, { code: "filter.invalid", field: "filters" });
  return isTrue;
}

/** Checks the filters and the limit as dockerd does, before any request. */
export function checkSearchOptions(opts: Pick<SearchOptions, "filters" | "limit">): { limit: number; official: boolean | undefined; automated: boolean | undefined; stars: number | undefined } {
  const filters = opts.filters ?? {};
  for (const key of Object.keys(filters)) {
    if (!FILTERS.has(key)) throw invalid(`invalid filter '${key}'`, { code: "filter.invalid", field: "filters" });
  }
  const automated = boolFilter(filters, "is-automated");
  const official = boolFilter(filters, "is-official");
  let stars: number | undefined;
  for (const v of filters.stars ?? []) {
    if (!/^[+-]?\d+$/.test(v)) throw invalid(`invalid filter 'stars=${v}'`, { code: "filter.invalid", field: "filters" });
    stars = Math.max(stars ?? 0, Number(v));
  }
  if (filters.stars !== undefined && stars === undefined) stars = 0;
  const limit = opts.limit === undefined || opts.limit === 0 ? DEFAULT_SEARCH_LIMIT : opts.limit;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid(`limit ${limit} is outside the range of [1, 100]`, { code: "search.limit", field: "limit" });
  return { limit, official, automated, stars };
}

/** A v1 search answer's results, each checked and given Docker's fields. */
function parseV1Results(body: string, where: string): SearchResult[] {
  let o: { results?: unknown };
  try {
    o = JSON.parse(body) as { results?: unknown };
  } catch {
    throw new CoveError("system", `error decoding registry search results: the answer of ${where} is not JSON`, { code: "search.bad-answer" });
  }
  if (!o || typeof o !== "object" || !Array.isArray(o.results)) {
    throw new CoveError("system", `error decoding registry search results: the answer of ${where} has no results list`, { code: "search.bad-answer" });
  }
  const out: SearchResult[] = [];
  for (const r of o.results as unknown[]) {
    if (!r || typeof r !== "object") continue;
    const e = r as Record<string, unknown>;
    if (typeof e.name !== "string") continue;
    out.push({
      star_count: typeof e.star_count === "number" && Number.isFinite(e.star_count) ? Math.trunc(e.star_count) : 0,
      is_official: e.is_official === true,
      name: e.name,
      is_automated: false,
      description: typeof e.description === "string" ? e.description : "",
    });
  }
  return out;
}

/** Repositories of a v2 registry's catalog whose name contains `term`, at most `limit`. */
async function searchCatalog(client: RepositoryClient, index: string, term: string, limit: number): Promise<SearchResult[]> {
  const out: SearchResult[] = [];
  const needle = term.toLowerCase();
  let next: string | undefined = "/v2/_catalog?n=1000";
  for (let page = 0; next !== undefined && page < MAX_CATALOG_PAGES && out.length < limit; page++) {
    const res = await client.getPath(next);
    if (res.status !== 200) {
      if (res.status === 401 || res.status === 403) {
        throw new CoveError(res.status === 401 ? "unauthorized" : "forbidden", `searching ${index}: the registry refused to list its repositories (status ${res.status})`, {
          code: "search.denied",
          hint: `log in to ${index} (docker login ${index}) with an account allowed to list the catalog`,
        });
      }
      throw new CoveError("system", `searching ${index}: the registry offers neither the v1 search API nor a v2 catalog (status ${res.status})`, { code: "search.unsupported-registry" });
    }
    let o: { repositories?: unknown };
    try {
      o = JSON.parse(res.body) as { repositories?: unknown };
    } catch {
      throw new CoveError("system", `searching ${index}: the registry's catalog is not JSON`, { code: "search.bad-answer" });
    }
    if (!o || !Array.isArray(o.repositories)) throw new CoveError("system", `searching ${index}: the registry's catalog has no repositories list`, { code: "search.bad-answer" });
    for (const repo of o.repositories as unknown[]) {
      if (typeof repo !== "string" || !repo.toLowerCase().includes(needle)) continue;
      out.push({ star_count: 0, is_official: false, name: `${index}/${repo}`, is_automated: false, description: "" });
      if (out.length >= limit) break;
    }
    next = res.next;
  }
  return out;
}

/** Searches the registry the term names; see the top of this file. */
export async function searchRegistry(term: string, opts: SearchOptions = {}): Promise<SearchResult[]> {
  const { limit, official, automated, stars } = checkSearchOptions(opts);
  if (term.includes("://")) throw invalid(`invalid repository name: repository name (${term}) should not have a scheme`, { code: "search.term", field: "term" });
  const { index, remote: raw } = splitSearchTerm(term);
  const hub = HUB_NAMES.has(index);
  const remote = hub ? raw.replace(/^library\//, "") : raw;
  // moby: filtering for is-automated=true yields nothing (the field is deprecated)
  if (automated === true) return [];

  const clientOpts = {
    ...opts,
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(hub ? { endpoint: opts.hubIndex ?? HUB_INDEX } : {}),
    scopes: ["registry:catalog:*"],
  };
  const client = new RepositoryClient(hub ? "docker.io" : index, "", clientOpts);
  const headers: Record<string, string> = { "X-Docker-Token": "true" };
  if (opts.auth?.username) headers.Authorization = basicAuthorization(opts.auth.username, opts.auth.password ?? "");
  const v1Path = `/v1/search?q=${encodeURIComponent(remote)}&n=${limit}`;
  let results: SearchResult[];
  const v1 = await client.getPath(v1Path, headers);
  if (v1.status === 200) {
    results = parseV1Results(v1.body, `${await client.baseUrl()}/v1/search`);
  } else if (!hub && [401, 403, 404, 405].includes(v1.status)) {
    // no v1 search here (a registry behind auth may refuse an unknown path before routing it)
    results = await searchCatalog(client, index, remote, limit);
  } else {
    // dockerd's words (moby searchRepositories), a 500 as there
    throw new CoveError("system", `Unexpected status code ${v1.status}`, { code: "search.status", hint: `${await client.baseUrl()}${v1Path} answered ${v1.status}` });
  }
  return results.filter((r) => (official === undefined || r.is_official === official) && (stars === undefined || r.star_count >= stars)).slice(0, limit);
}

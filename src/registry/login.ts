// `docker login` on the daemon's side (POST /auth): the credentials are checked against the
// registry's own challenge flow, as dockerd's loginV2 does: GET /v2/; a 401 names Basic (the
// credentials are sent as they are) or Bearer (a token is asked from the challenge's realm with
// the credentials, offline_token=true so a refresh token can come back as the identity token);
// then GET /v2/ again with them. Anything but a 200 at the end is dockerd's
// "login attempt to <url>/v2/ failed with status: 401 Unauthorized"; a token server's refusal
// reads `Get "<url>/v2/": unauthorized`, Basic without credentials `Get "<url>/v2/": no basic
// auth credentials`. dockerd 20.10 answers all of these with a 500, and so does cove ("upstream").

import { STATUS_CODES } from "node:http";
import { CoveError, invalid } from "../common/errors.js";
import { basicAuthorization, parseChallenges, type AuthConfig } from "./auth.js";
import { DOCKER_HUB_DOMAIN, registryBaseUrl, type RegistryOptions } from "./client.js";
import { tokenErrorText } from "./errors.js";
import { httpRequest, type HttpResponse } from "./http.js";

export interface LoginResult {
  /** "Login Succeeded". */
  Status: string;
  /** A refresh token the registry gave for these credentials ("" when none). */
  IdentityToken: string;
}

/**
 * The registry a login names, as dockerd's ConvertToHostname reads serveraddress: the scheme and
 * any path dropped; Docker Hub's addresses (https://index.docker.io/v1/, index.docker.io, "") are docker.io.
 */
export function loginDomain(serverAddress: string | undefined): string {
  let s = (serverAddress ?? "").trim();
  s = s.replace(/^https?:\/\//, "");
  s = s.split("/")[0] ?? "";
  if (s === "" || s === "index.docker.io" || s === "registry-1.docker.io" || s === DOCKER_HUB_DOMAIN) return DOCKER_HUB_DOMAIN;
  return s;
}

/** Checks the credentials against the registry; throws dockerd's wording when it refuses them. */
export async function login(auth: AuthConfig, options: RegistryOptions & { signal?: AbortSignal } = {}): Promise<LoginResult> {
  const domain = loginDomain(auth.serveraddress);
  if (!/^[A-Za-z0-9.[\]:-]+$/.test(domain)) throw invalid(`invalid registry address "${auth.serveraddress}"`, { code: "login.address", field: "serveraddress" });
  const base = await registryBaseUrl(domain, options);
  const url = `${base}/v2/`;
  const userAgent = options.userAgent ?? "cove";
  const get = async (headers: Record<string, string>): Promise<HttpResponse> => {
    try {
      const res = await httpRequest(url, { headers: { "User-Agent": userAgent, ...headers }, ...(options.signal ? { signal: options.signal } : {}) });
      res.discard();
      return res;
    } catch (err) {
      if (options.signal?.aborted) throw err;
      // worded as dockerd's: Get "http://127.0.0.1:5000/v2/": <what the connection said>
      throw new CoveError("unavailable", `Get "${url}": ${connectionError(err)}`, { code: "registry.unreachable", cause: err, hint: `check that the registry ${domain} runs and that its address is right` });
    }
  };
  const failed = (status: number) =>
    new CoveError("upstream", `login attempt to ${url} failed with status: ${status} ${STATUS_CODES[status] ?? ""}`.trimEnd(), {
      code: "login.failed", // no hint: the docker CLI prints dockerd's message, and cove's is the same
    });

  let res = await get({});
  if (res.status === 200) return { Status: "Login Succeeded", IdentityToken: "" };
  if (res.status !== 401) throw failed(res.status);
  const challenges = parseChallenges(res.header("www-authenticate"));
  const bearer = challenges.find((c) => c.scheme === "bearer");
  const basic = challenges.find((c) => c.scheme === "basic");
  const user = auth.username ?? "";
  const password = auth.password ?? "";
  let identityToken = "";
  if (bearer) {
    const token = await fetchLoginToken(bearer.params, auth, userAgent, options.signal, url);
    identityToken = token.refresh;
    res = await get({ Authorization: `Bearer ${token.access}` });
  } else if (basic) {
    if (auth.username === undefined && auth.password === undefined) {
      throw new CoveError("upstream", `Get "${url}": no basic auth credentials`, { code: "login.no-credentials" });
    }
    res = await get({ Authorization: basicAuthorization(user, password) });
  }
  if (res.status !== 200) throw failed(res.status);
  return { Status: "Login Succeeded", IdentityToken: identityToken };
}

/** A connection's failure as Go's net package words it where the two agree ("dial tcp 127.0.0.1:1: connect: connection refused"). */
function connectionError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code === "ECONNREFUSED" && e.address !== undefined && e.port !== undefined) {
    return `dial tcp ${e.address.includes(":") ? `[${e.address}]` : e.address}:${e.port}: connect: connection refused`;
  }
  return e.message;
}

/** A token for the login's credentials; a refusal names the GET of /v2/ that needed it, as dockerd's does. */
async function fetchLoginToken(params: Record<string, string>, auth: AuthConfig, userAgent: string, signal: AbortSignal | undefined, v2Url: string): Promise<{ access: string; refresh: string }> {
  let realm: URL;
  try {
    realm = new URL(params.realm ?? "");
  } catch {
    throw invalid(`the registry asked for a bearer token without a valid realm ("${params.realm ?? ""}")`, { code: "registry.bad-challenge" });
  }
  const headers: Record<string, string> = { "User-Agent": userAgent, Accept: "application/json" };
  let res: HttpResponse;
  if (auth.identitytoken) {
    const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: auth.identitytoken, client_id: "cove", access_type: "offline" });
    if (params.service) form.set("service", params.service);
    res = await httpRequest(realm, { method: "POST", headers: { ...headers, "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString(), ...(signal ? { signal } : {}) });
  } else {
    if (params.service) realm.searchParams.set("service", params.service);
    realm.searchParams.set("offline_token", "true");
    realm.searchParams.set("client_id", "cove");
    if (auth.username !== undefined || auth.password !== undefined) {
      headers.Authorization = basicAuthorization(auth.username ?? "", auth.password ?? "");
      realm.searchParams.set("account", auth.username ?? "");
    }
    res = await httpRequest(realm, { headers, ...(signal ? { signal } : {}) });
  }
  const text = (await res.bytes(1024 * 1024, () => invalid(`the token server ${realm.origin} answered with more than 1 MiB`, { code: "registry.bad-token" }))).toString("utf8");
  if (!res.ok) {
    throw new CoveError("upstream", `Get "${v2Url}": ${tokenErrorText(res.status, text)}`, {
      code: "login.token",
    });
  }
  let o: { token?: unknown; access_token?: unknown; refresh_token?: unknown };
  try {
    o = JSON.parse(text) as typeof o;
  } catch {
    throw invalid(`the token server ${realm.origin} answered with something that is not JSON`, { code: "registry.bad-token" });
  }
  const access = typeof o.token === "string" && o.token !== "" ? o.token : typeof o.access_token === "string" ? o.access_token : "";
  if (access === "") throw invalid(`the token server ${realm.origin} answered without a token`, { code: "registry.bad-token" });
  return { access, refresh: typeof o.refresh_token === "string" ? o.refresh_token : "" };
}

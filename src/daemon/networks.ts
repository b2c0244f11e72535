// Network routes: Docker's /networks API translated to NetworkService calls (moby's
// api/server/router/network): list with filters, inspect, create (201), delete (204), prune,
// connect and disconnect (200). Connect/disconnect name a container, resolved by the container
// service.

import { invalid } from "../common/errors.js";
import type { ContainerService } from "../containers/index.js";
import type { EndpointSettings, NetworkCreateRequest, NetworkService } from "../network/index.js";
import { readJSON, sendEmpty, sendJSON, type Router } from "./router.js";

export interface NetworksContext {
  networks: NetworkService;
  containers: ContainerService;
}

function objectBody(body: unknown, what: string): Record<string, unknown> {
  if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) throw invalid(`${what}: the request body must be a JSON object`, { code: "network.invalid" });
  return body as Record<string, unknown>;
}

export function networkRoutes(router: Router, ctx: NetworksContext): void {
  const svc = ctx.networks;

  router.get("/networks", async (c) => {
    // the list leaves out who is attached (moby, API 1.28 and later): inspect a network for that
    sendJSON(
      c.res,
      200,
      svc.list(c.query.filters()).map((n) => ({ ...n, Containers: {} })),
    );
  });

  router.post("/networks/create", async (c) => {
    const body = objectBody(await readJSON(c.req, "NetworkCreate"), "network create") as unknown as NetworkCreateRequest;
    if (typeof body.Name !== "string") throw invalid("network name must be a string", { code: "network.name" });
    sendJSON(c.res, 201, await svc.create(body));
  });

  router.post("/networks/prune", async (c) => {
    const deleted = await svc.prune(c.query.filters());
    sendJSON(c.res, 200, { NetworksDeleted: deleted });
  });

  router.get("/networks/{id}", async (c) => {
    sendJSON(c.res, 200, svc.inspect(c.params.id!));
  });

  router.delete("/networks/{id}", async (c) => {
    await svc.remove(c.params.id!);
    sendEmpty(c.res, 204);
  });

  router.post("/networks/{id}/connect", async (c) => {
    const body = objectBody(await readJSON(c.req, "NetworkConnect"), "network connect");
    const ref = body.Container;
    if (typeof ref !== "string" || ref === "") throw invalid("no container specified: Container is empty", { code: "network.container" });
    const network = svc.find(c.params.id!);
    const ctr = await ctx.containers.inspect(ref);
    await svc.connect(network.Id, { id: ctr.Id, name: ctr.Name, running: ctr.State.Running, mode: ctr.HostConfig.NetworkMode ?? "bridge", hostsPath: ctr.HostsPath, hostname: ctr.Config.Hostname ?? "" }, (body.EndpointConfig ?? {}) as Partial<EndpointSettings>);
    // a container that came from the default bridge resolves the names of its new network, as Docker's does
    await ctx.containers.useEmbeddedDns(ctr.Id);
    sendEmpty(c.res, 200);
  });

  router.post("/networks/{id}/disconnect", async (c) => {
    const body = objectBody(await readJSON(c.req, "NetworkDisconnect"), "network disconnect");
    const ref = body.Container;
    if (typeof ref !== "string" || ref === "") throw invalid("no container specified: Container is empty", { code: "network.container" });
    const network = svc.find(c.params.id!);
    const ctr = await ctx.containers.inspect(ref);
    await svc.disconnect(network.Id, { id: ctr.Id, name: ctr.Name, hostsPath: ctr.HostsPath, hostname: ctr.Config.Hostname ?? "" }, body.Force === true);
    sendEmpty(c.res, 200);
  });
}

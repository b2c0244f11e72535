// The CRI's ImageService over cove's image store: the same images `docker images` lists. Names
// are given and shown fully qualified ("docker.io/library/busybox:latest"), as kubelets expect.

import * as grpc from "@grpc/grpc-js";
import { CoveError } from "../common/errors.js";
import type { ImageInspect } from "../docker/index.js";
import { normalizeReference, type ImageService } from "../images/index.js";
import type { AuthConfig } from "../registry/index.js";
import { StatusError, unary } from "./status.js";

interface ImageSpec {
  image: string;
  annotations?: Record<string, string>;
  user_specified_image?: string;
  runtime_handler?: string;
}

/** runtime.v1.Image, as proto-loader encodes it (64-bit integers as strings). */
export interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  uid: { value: string } | null;
  username: string;
  spec: ImageSpec | null;
  pinned: boolean;
}

interface AuthMessage {
  username?: string;
  password?: string;
  auth?: string;
  server_address?: string;
  identity_token?: string;
  registry_token?: string;
}

export interface ImageHandlerDeps {
  images: ImageService;
  /** The root whose filesystem holds the images (ImageFsInfo's mountpoint). */
  root: string;
  /** The running container that uses the image, if one does (such an image is not removed). */
  inUse: (imageId: string) => string | undefined;
}

function qualified(names: string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    try {
      out.push(normalizeReference(n));
    } catch {
      out.push(n); // a name the store holds is valid; shown as stored should parsing ever disagree
    }
  }
  return out;
}

/** The image's user: a numeric user is uid, a name is username (the group part is not the CRI's). */
function userOf(user: string): { uid: { value: string } | null; username: string } {
  const name = user.split(":")[0] ?? "";
  if (name === "") return { uid: null, username: "" };
  if (/^\d+$/.test(name)) return { uid: { value: name }, username: "" };
  return { uid: null, username: name };
}

function criImage(i: ImageInspect): CriImage {
  return {
    id: i.Id,
    repo_tags: qualified(i.RepoTags ?? []),
    repo_digests: qualified(i.RepoDigests ?? []),
    size: String(i.Size),
    ...userOf(i.Config?.User ?? ""),
    spec: { image: i.Id, annotations: {} },
    pinned: false,
  };
}

async function inspectOrNone(images: ImageService, ref: string): Promise<ImageInspect | undefined> {
  try {
    return await images.inspect(ref);
  } catch (err) {
    if (err instanceof CoveError && err.kind === "not-found") return undefined;
    throw err;
  }
}

function imageRef(spec: ImageSpec | null | undefined, rpc: string): string {
  const ref = spec?.image ?? "";
  if (ref === "") throw new StatusError(grpc.status.INVALID_ARGUMENT, `${rpc}: image.image is empty: name the image by reference or ID`);
  return ref;
}

function authConfig(a: AuthMessage | null | undefined): AuthConfig | undefined {
  if (!a) return undefined;
  const out: AuthConfig = {};
  if (a.username) out.username = a.username;
  if (a.password) out.password = a.password;
  if (a.auth) out.auth = a.auth;
  if (a.server_address) out.serveraddress = a.server_address;
  if (a.identity_token) out.identitytoken = a.identity_token;
  if (a.registry_token) out.registrytoken = a.registry_token;
  if (out.auth && !out.username) {
    const [user, ...pass] = Buffer.from(out.auth, "base64").toString().split(":");
    out.username = user ?? "";
    out.password = pass.join(":");
  }
  return Object.keys(out).length ? out : undefined;
}

export function imageHandlers(deps: ImageHandlerDeps): grpc.UntypedServiceImplementation {
  const { images } = deps;
  return {
    ListImages: unary(async (req: { filter?: { image?: ImageSpec | null } | null }) => {
      const wanted = req.filter?.image?.image;
      if (wanted) {
        const one = await inspectOrNone(images, wanted);
        return { images: one ? [criImage(one)] : [] };
      }
      const list = await images.list({ all: false });
      const out: CriImage[] = [];
      for (const s of list) {
        const one = await inspectOrNone(images, s.Id);
        if (one) out.push(criImage(one)); // removed meanwhile otherwise
      }
      return { images: out };
    }),

    ImageStatus: unary(async (req: { image?: ImageSpec | null; verbose?: boolean }) => {
      const one = await inspectOrNone(images, imageRef(req.image, "ImageStatus"));
      if (!one) return { image: null, info: {} };
      const info: Record<string, string> = req.verbose ? { info: JSON.stringify({ imageSpec: { config: one.Config, architecture: one.Architecture, os: one.Os } }) } : {};
      return { image: criImage(one), info };
    }),

    PullImage: unary(async (req: { image?: ImageSpec | null; auth?: AuthMessage | null }) => {
      const ref = imageRef(req.image, "PullImage");
      const auth = authConfig(req.auth);
      const r = await images.pull(ref, auth ? { auth } : {});
      return { image_ref: r.id };
    }),

    RemoveImage: unary(async (req: { image?: ImageSpec | null }) => {
      const one = await inspectOrNone(images, imageRef(req.image, "RemoveImage"));
      // removing what is not there succeeds: the kubelet retries removals
      if (!one) return {};
      const user = deps.inUse(one.Id);
      if (user) throw new StatusError(grpc.status.FAILED_PRECONDITION, `image ${one.Id} is in use by the running container ${user}: stop and remove it first`);
      try {
        await images.remove(one.Id, { force: true });
      } catch (err) {
        if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
      }
      return {};
    }),

    ImageFsInfo: unary(async () => {
      const { LayersSize } = await images.df();
      const now = String(BigInt(Date.now()) * 1_000_000n);
      // inodes_used stays unset: the store does not count its layers' inodes, and the filesystem's
      // whole count would overstate them
      const usage = { timestamp: now, fs_id: { mountpoint: deps.root }, used_bytes: { value: String(LayersSize) }, inodes_used: null };
      return { image_filesystems: [usage], container_filesystems: [] };
    }),
  };
}

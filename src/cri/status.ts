// cove's errors as gRPC statuses, the codes a kubelet acts on: a missing object is NOT_FOUND, a bad
// argument INVALID_ARGUMENT, an object in the wrong state FAILED_PRECONDITION, and so on.

import * as grpc from "@grpc/grpc-js";
import { CoveError, type ErrorKind } from "../common/errors.js";

const CODES: Record<ErrorKind, grpc.status> = {
  invalid: grpc.status.INVALID_ARGUMENT,
  "not-found": grpc.status.NOT_FOUND,
  conflict: grpc.status.FAILED_PRECONDITION,
  unauthorized: grpc.status.UNAUTHENTICATED,
  forbidden: grpc.status.PERMISSION_DENIED,
  unsupported: grpc.status.UNIMPLEMENTED,
  unavailable: grpc.status.UNAVAILABLE,
  upstream: grpc.status.UNKNOWN,
  system: grpc.status.INTERNAL,
  "too-large": grpc.status.RESOURCE_EXHAUSTED,
  timeout: grpc.status.DEADLINE_EXCEEDED,
};

/** A gRPC error for err: its code from the error's kind, its message with cove's hint. */
export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof CoveError) return { code: CODES[err.kind], details: err.describe() };
  if (err instanceof Error) return { code: grpc.status.INTERNAL, details: err.message };
  return { code: grpc.status.INTERNAL, details: String(err) };
}

/** An error the caller made, with the field it concerns. */
export function badArgument(message: string): Partial<grpc.StatusObject> {
  return { code: grpc.status.INVALID_ARGUMENT, details: message };
}

/** A unary handler from an async function: its result answers, its error becomes a status. */
export function unary<Req, Res>(fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(isStatus(err) ? err : toStatus(err)),
    );
  };
}

/** Thrown by a handler to answer with exactly this status. */
export class StatusError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}

function isStatus(err: unknown): err is StatusError {
  return err instanceof StatusError;
}

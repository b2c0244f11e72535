// How a registry's errors read: as Docker's client prints them (distribution's errcode decoding and
// HandleErrorResponse), since dockerd's messages are what users and tools match on. No root.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { entryText, parseErrorBody, RegistryError, tokenErrorText } from "./errors.js";

describe("registry error text", () => {
  it("an entry without detail whose message is its code's own reads as the code alone", () => {
    assert.equal(entryText({ code: "UNAUTHORIZED", message: "authentication required" }), "unauthorized");
    assert.equal(entryText({ code: "UNAUTHORIZED", message: "" }), "unauthorized");
    assert.equal(entryText({ code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: null }), "manifest unknown");
    assert.equal(entryText({ code: "DENIED", message: "requested access to the resource is denied" }), "denied");
  });

  it("an entry with a detail or its own message reads as code: message", () => {
    // docker-registry (distribution 2.8) sends the access or the tag as the detail
    assert.equal(entryText({ code: "UNAUTHORIZED", message: "authentication required", detail: [{ Type: "repository", Name: "x", Action: "pull" }] }), "unauthorized: authentication required");
    assert.equal(entryText({ code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: { Tag: "nope" } }), "manifest unknown: manifest unknown");
    assert.equal(entryText({ code: "DENIED", message: "you shall not pass" }), "denied: you shall not pass");
  });

  it("a code Docker does not know reads as unknown", () => {
    assert.equal(entryText({ code: "SOMETHING_ELSE", message: "odd" }), "unknown: odd");
    assert.equal(entryText({ code: "SOMETHING_ELSE", message: "unknown error" }), "unknown");
  });

  it("a RegistryError's message is its first entry's text", () => {
    const body = JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required", detail: null }] });
    const err = new RegistryError(401, parseErrorBody(body), "http://r/v2/");
    assert.equal(err.message, "unauthorized");
    assert.equal(err.kind, "forbidden");
  });

  it("a refused token request reads as distribution's HandleErrorResponse words it", () => {
    assert.equal(tokenErrorText(401, JSON.stringify({ details: "incorrect username or password" })), "unauthorized: incorrect username or password");
    assert.equal(tokenErrorText(429, JSON.stringify({ details: "slow down" })), "toomanyrequests: slow down");
    assert.equal(tokenErrorText(403, JSON.stringify({ details: "no" })), "unknown: no");
    assert.equal(tokenErrorText(401, JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] })), "unauthorized");
    assert.equal(
      tokenErrorText(403, JSON.stringify({ errors: [{ code: "DENIED", message: "a" }, { code: "UNAUTHORIZED", message: "b" }] })),
      "errors:\ndenied: a\nunauthorized: b\n",
    );
    assert.equal(tokenErrorText(401, "not json"), "unauthorized: authentication required");
    assert.equal(tokenErrorText(401, JSON.stringify({ errors: [] })), "unauthorized: authentication required");
    assert.equal(tokenErrorText(404, "404 page not found\n"), 'error parsing HTTP 404 response body: "404 page not found\\n"');
    assert.equal(tokenErrorText(502, "bad gateway"), "received unexpected HTTP status: 502 Bad Gateway");
  });
});

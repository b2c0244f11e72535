// The Docker Engine API client: cove's CLI talks to cove's daemon (or any dockerd) through it.
// The shapes it sends and reads are src/docker's.

export { EngineClient, EngineError, CLIENT_API_VERSION, MIN_API_VERSION, compareVersions, decodePathStat, encodeQuery, type EngineClientOptions, type HijackedStream, type Query, type RequestOptions } from "./engine.js";
export { FrameDecoder, copyStream, encodeFrame, jsonLines, type ProgressMessage, type StdStream, type StdSinks } from "./stream.js";

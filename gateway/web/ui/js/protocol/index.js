/**
 * Protocol v1 in the browser, one namespace per module of gateway/crypto/:
 * `import * as protocol from "/static/js/protocol/index.js"` then `protocol.envelope.seal(...)`.
 */
export * as directory from "./directory.js";
export * as encoding from "./encoding.js";
export * as envelope from "./envelope.js";
export * as errors from "./errors.js";
export * as hashing from "./hashing.js";
export * as kdf from "./kdf.js";
export * as keybundle from "./keybundle.js";
export * as keys from "./keys.js";
export * as message from "./message.js";
export * as padding from "./padding.js";
export * as pickup from "./pickup.js";
export * as pow from "./pow.js";
export * as shape from "./shape.js";
export * as stream from "./stream.js";
export * as tasks from "./tasks.js";
export { sodium } from "./sodium.js";

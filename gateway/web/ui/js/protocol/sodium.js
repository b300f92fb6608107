/**
 * libsodium.js, loaded once and ready: every primitive of protocol v1 comes from here.
 *
 * The gateway serves the npm build at /static/vendor/ (see gateway/web/static.py); top-level
 * await means that any module importing this one runs only once the WebAssembly is ready.
 */
import libsodium from "../../vendor/libsodium-wrappers.mjs";

await libsodium.ready;

export const sodium = libsodium;

/** libsodium's CSPRNG (crypto.getRandomValues underneath); the default `randomBytes` everywhere. */
export function systemRandom(size) {
  return sodium.randombytes_buf(size);
}

/**
 * What every page checks before it loads the cryptography: that WebAssembly runs (Tor Browser
 * turns it off at its "Safer" and "Safest" levels, and libsodium.js needs it), then loading the
 * page's own module, with a plain explanation when either fails.
 */
import { byId, show } from "./dom.js";

// The smallest valid WebAssembly module: the magic number and version 1.
const EMPTY_MODULE = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);

export function webAssemblyWorks() {
  try {
    if (typeof WebAssembly !== "object" || WebAssembly === null) return false;
    return new WebAssembly.Module(EMPTY_MODULE) instanceof WebAssembly.Module;
  } catch {
    return false;
  }
}

/**
 * Show the page's JavaScript-only parts, or the WebAssembly notice; then import `load()` (the
 * page module, which pulls in libsodium.js) and run its `start()`.
 */
export async function boot(load) {
  if (!webAssemblyWorks()) {
    show(byId("needs-wasm"));
    return;
  }
  let module;
  try {
    module = await load();
  } catch (error) {
    console.error("tipline: the page's modules did not load", error);
    show(byId("load-failed"));
    return;
  }
  await module.start();
}

/** The landing page works without scripts; with them, it warns early when WebAssembly is off. */
import { webAssemblyWorks } from "../ui/boot.js";
import { byId, show } from "../ui/dom.js";

if (!webAssemblyWorks()) show(byId("needs-wasm"));

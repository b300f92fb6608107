/** Entry of /return: check WebAssembly, then load the pickup page (which loads libsodium.js). */
import { boot } from "../ui/boot.js";

boot(() => import("./return-page.js"));

/** Entry of /staff: check WebAssembly, then load the investigators' app (which loads libsodium.js). */
import { boot } from "../ui/boot.js";

boot(() => import("./staff-page.js"));

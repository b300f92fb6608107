/** Entry of /report: check WebAssembly, then load the tip form (which loads libsodium.js). */
import { boot } from "../ui/boot.js";

boot(() => import("./report-page.js"));

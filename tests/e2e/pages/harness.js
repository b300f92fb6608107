/**
 * Test page (served only by the e2e fixture): exposes the protocol modules as window.protocol so
 * that Python tests can drive them with page.evaluate, plus small helpers for bytes in and out.
 */
import * as protocol from "/static/js/protocol/index.js";

window.protocol = protocol;
window.b64 = protocol.encoding.b64encode;
window.unb64 = (text) => protocol.encoding.b64decode(text, { what: "test input" });
window.harnessReady = true;
document.getElementById("status").textContent = "ready";

/** Test page script: proves that a same-origin module script runs under the gateway's CSP. */
window.externalScriptRan = true;

/**
 * Building the page from data without ever parsing data as HTML: elements come from
 * createElement, text from text nodes. Tips, questions, names and file names reach the page only
 * through here (or textContent), so markup in them stays text.
 */

// Attributes callers may set; nothing that runs code or loads a URL (no on*, href, src, style).
const ATTRIBUTES = new Set([
  "id", "class", "type", "name", "value", "for", "role", "lang", "dir", "hidden", "disabled",
  "checked", "selected", "tabindex", "max", "min", "datetime", "autocomplete", "inputmode",
  "aria-label", "aria-live", "aria-describedby", "aria-labelledby", "aria-current", "aria-busy",
  "aria-invalid", "aria-hidden", "data-case", "data-kind", "data-seq", "download",
]);

/** h("p", {class: "x"}, "text", child, [more]) -> an element; strings become text nodes. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (!ATTRIBUTES.has(name)) throw new Error(`dom.h: attribute ${name} is not allowed`);
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.append(child);
    else element.append(document.createTextNode(String(child)));
  }
}

export function byId(id) {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`no element #${id}`);
  return element;
}

/** Replace the children of `element` (none given: empty it). */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function show(element, visible = true) {
  element.hidden = !visible;
}

/** Show one message in a status or error element, or hide it when `text` is empty. */
export function say(element, text) {
  element.textContent = text;
  element.hidden = text === "";
}

/** Move focus to a heading or section so keyboard and screen-reader users follow the flow. */
export function focus(element) {
  if (!element.hasAttribute("tabindex")) element.setAttribute("tabindex", "-1");
  element.focus();
}

export function meta(name) {
  const element = document.querySelector(`meta[name="${name}"]`);
  return element === null ? "" : element.getAttribute("content");
}

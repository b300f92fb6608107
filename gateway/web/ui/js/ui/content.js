/**
 * The parts of a decrypted message both apps show the same way: the form answers and the list of
 * attachments, built as DOM with every value from the message in a text node.
 */
import { h } from "./dom.js";
import { formatSize, has, t } from "./i18n.js";

const FIELD_ORDER = ["about", "location", "when"];

/** The form answers of a message (about, where, when, and any other field) as a list. */
export function fieldList(fields) {
  const names = [...FIELD_ORDER.filter((name) => Object.hasOwn(fields, name)), ...Object.keys(fields).filter((name) => !FIELD_ORDER.includes(name)).sort()];
  if (names.length === 0) return null;
  return h(
    "dl",
    { class: "message-fields" },
    names.map((name) => {
      const value = fields[name];
      const label = has(`field.${name}`) ? t(`field.${name}`) : name;
      const shown = name === "about" && has(`field.about.${value}`) ? t(`field.about.${value}`) : value;
      return [h("dt", {}, label), h("dd", {}, shown)];
    }),
  );
}

export function attachmentList(refs, action = null) {
  if (refs.length === 0) return null;
  return h(
    "ul",
    { class: "file-list", "aria-label": t("thread.attachments") },
    refs.map((ref) => h("li", {}, h("span", { class: "file-name" }, ref.name), " ", h("span", { class: "file-size" }, `(${formatSize(ref.size)})`), action ? [" ", action(ref)] : null)),
  );
}

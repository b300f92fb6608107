/**
 * A case's messages as its reporter sees them, built as DOM from decrypted content: every text
 * from a tip, a question or an answer lands in a text node, never in markup.
 */
import { attachmentList, fieldList } from "../ui/content.js";
import { fill, h } from "../ui/dom.js";
import { formatTime, t } from "../ui/i18n.js";

function messageItem(message) {
  const mine = message.author === null;
  const label = t(`thread.kind.${message.kind}`);
  const from = mine ? t("thread.from_you") : t("thread.from_hotline", { name: message.author });
  return h(
    "li",
    { class: mine ? "message mine" : "message", "data-kind": message.kind, "data-seq": message.seq },
    h("div", { class: "message-meta" }, h("span", { class: "kind" }, label), h("span", {}, from), h("time", {}, formatTime(message.created))),
    message.content.body ? h("p", { class: "message-body" }, message.content.body) : null,
    fieldList(message.content.fields),
    attachmentList(message.content.attachments),
  );
}

export function renderThread(list, messages) {
  fill(list, messages.map(messageItem));
}

/**
 * The attachment picker of the reporter's forms: files chosen (in one go or several), each with a
 * remove button before sending and an encryption and upload progress bar while sending. Only the
 * File objects the person chose are kept, in memory, until the form is sent or the page left.
 */
import { fill, h, say } from "../ui/dom.js";
import { formatSize, t } from "../ui/i18n.js";

export class FilePicker {
  constructor({ input, list, error, tooLarge }) {
    this.input = input;
    this.list = list;
    this.error = error;
    this.tooLarge = tooLarge;
    this.files = [];
    this.rows = [];
    input.addEventListener("change", () => this.#add());
  }

  #add() {
    const refused = [];
    for (const file of this.input.files) {
      if (this.tooLarge(file)) refused.push(file.name);
      else this.files.push(file);
    }
    // Cleared so that the same file can be chosen again after removing it.
    this.input.value = "";
    say(this.error, refused.length ? t("files.too_large", { names: refused.join(", ") }) : "");
    this.render();
  }

  render({ sending = false } = {}) {
    this.rows = this.files.map((file, index) => {
      const progress = h("progress", { max: 1, value: 0, "aria-label": t("files.progress", { name: file.name }), hidden: !sending });
      const phase = h("span", { class: "file-size" });
      const remove = sending
        ? null
        : h("button", { type: "button", class: "link", "aria-label": t("files.remove_named", { name: file.name }) }, t("files.remove"));
      remove?.addEventListener("click", () => {
        this.files.splice(index, 1);
        this.render();
        this.input.focus();
      });
      const row = h("li", {}, h("span", { class: "file-name" }, file.name), " ", h("span", { class: "file-size" }, `(${formatSize(file.size)})`), " ", remove, " ", phase, progress);
      return { row, progress, phase };
    });
    fill(this.list, this.rows.map((item) => item.row));
  }

  /** Progress of file `index`: phase "encrypt", "upload" or "done", `done` of `total` bytes. */
  progress(index, phase, done, total) {
    const item = this.rows[index];
    if (!item) return;
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    item.progress.value = phase === "done" ? 1 : fraction;
    item.phase.textContent = t(`files.phase.${phase}`, { percent: Math.round(fraction * 100) });
  }

  clear() {
    this.files = [];
    this.rows = [];
    this.input.value = "";
    fill(this.list);
    say(this.error, "");
  }
}

/**
 * The tip form (/report): what it is about, what happened, where and when, attachments with
 * progress, the emergency choice; then the pickup code, shown once. Leaving the page wipes the
 * form and the code from the page; nothing was ever written to storage.
 */
import { TRIAGE } from "../protocol/directory.js";
import { byId, fill, focus, h, meta, say, show } from "../ui/dom.js";
import { describe } from "../ui/errors.js";
import { language, t } from "../ui/i18n.js";
import { ReporterClient } from "./client.js";
import { FilePicker } from "./files.js";

const ABOUT = ["victim", "pimp", "client", "other"];

export async function start() {
  const client = new ReporterClient(meta("tipline-org-key"), {
    maxAttachmentBytes: Number(meta("tipline-max-attachment-bytes")),
  });
  const form = byId("tip-form");
  const body = byId("tip-body");
  const location = byId("tip-location");
  const when = byId("tip-when");
  const urgent = byId("tip-urgent");
  const submit = byId("tip-submit");
  const status = byId("tip-status");
  const failure = byId("tip-error");
  const aboutError = byId("about-error");
  const bodyError = byId("tip-body-error");
  const picker = new FilePicker({
    input: byId("tip-files"),
    list: byId("tip-file-list"),
    error: byId("tip-files-error"),
    tooLarge: (file) => client.tooLarge(file),
  });
  let shownCode = null;

  show(byId("tip-section"));

  const controls = () => form.querySelectorAll("input, textarea, button, select");
  const setBusy = (busy) => {
    for (const control of controls()) control.disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
  };

  const chosenAbout = () => ABOUT.find((value) => byId(`about-${value}`).checked) ?? null;

  function validate() {
    const about = chosenAbout();
    say(aboutError, about === null ? t("report.about.missing") : "");
    const blank = body.value.trim() === "";
    say(bodyError, blank ? t("report.body.missing") : "");
    body.setAttribute("aria-invalid", blank ? "true" : "false");
    if (about === null) byId("about-victim").focus();
    else if (blank) body.focus();
    return about !== null && !blank;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(failure, "");
    if (!validate()) return;
    const fields = { about: chosenAbout() };
    if (location.value.trim()) fields.location = location.value.trim();
    if (when.value.trim()) fields.when = when.value.trim();
    const files = [...picker.files];
    setBusy(true);
    picker.render({ sending: true });
    try {
      const code = await client.submit(
        { body: body.value, fields, files, urgent: urgent.checked },
        {
          onStage: (stage) => say(status, t(`report.stage.${stage}`)),
          onUpload: (index, phase, done, total) => picker.progress(index, phase, done, total),
        },
      );
      shownCode = code;
      wipeForm();
      showCode(code);
    } catch (error) {
      setBusy(false);
      picker.render();
      say(status, "");
      say(failure, describe(error));
      failure.focus();
    }
  });

  function wipeForm() {
    form.reset();
    picker.clear();
    say(status, "");
    setBusy(false);
  }

  function showCode(code) {
    show(byId("tip-section"), false);
    const groups = code.display().split("-");
    fill(
      byId("pickup-code"),
      groups.map((group, index) => h("span", {}, index < groups.length - 1 ? `${group}-` : group)),
    );
    show(byId("code-section"));
    focus(byId("code-heading"));
  }

  byId("copy-code").addEventListener("click", async () => {
    const copyStatus = byId("copy-status");
    if (shownCode === null) return;
    try {
      await navigator.clipboard.writeText(shownCode.display());
      say(copyStatus, t("report.code.copied"));
    } catch {
      // No clipboard access (an older browser, a denied permission): select it for the person.
      const range = document.createRange();
      range.selectNodeContents(byId("pickup-code"));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      say(copyStatus, t("report.code.copy_failed"));
    }
  });

  const saved = byId("code-saved");
  const done = byId("code-done");
  saved.addEventListener("change", () => {
    done.disabled = !saved.checked;
  });
  done.addEventListener("click", () => {
    wipeCode();
    // replace(): the history entry of the form goes, so "back" does not lead to it.
    window.location.replace(`/?lang=${language}`);
  });

  function wipeCode() {
    shownCode = null;
    fill(byId("pickup-code"));
    say(byId("copy-status"), "");
    show(byId("code-section"), false);
  }

  // Leaving (another page, closing, the back button): nothing of the report stays in the page.
  window.addEventListener("pagehide", () => {
    wipeCode();
    wipeForm();
  });
  // Restored from the back-forward cache after all: start over with an empty page.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) window.location.reload();
  });

  // Said before anyone types: a hotline that cannot receive reports, or a key that does not verify.
  try {
    const directory = await client.directory();
    if (client.vetted(directory).withRole(TRIAGE).length === 0) say(failure, t("error.no_recipients"));
  } catch (error) {
    say(failure, describe(error));
  }
}

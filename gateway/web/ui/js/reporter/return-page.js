/**
 * The pickup page (/return): the code opens the case, its messages are decrypted here (questions
 * only after their signature verified against the directory), answers go back encrypted, and the
 * case can be withdrawn. Closing or leaving wipes the case and the keys from the page.
 */
import { BadPickupCode } from "../protocol/errors.js";
import { PickupCode } from "../protocol/pickup.js";
import { byId, fill, focus, h, meta, say, show } from "../ui/dom.js";
import { describe, pickupCodeProblem } from "../ui/errors.js";
import { t } from "../ui/i18n.js";
import { ReporterClient } from "./client.js";
import { FilePicker } from "./files.js";
import { renderThread } from "./thread.js";

export async function start() {
  const client = new ReporterClient(meta("tipline-org-key"), {
    maxAttachmentBytes: Number(meta("tipline-max-attachment-bytes")),
  });
  const codeForm = byId("code-form");
  const codeInput = byId("code-input");
  const codeError = byId("code-error");
  const codeStatus = byId("code-status");
  const replyForm = byId("reply-form");
  const replyBody = byId("reply-body");
  const replyStatus = byId("reply-status");
  const replyError = byId("reply-error");
  const replyBodyError = byId("reply-body-error");
  const picker = new FilePicker({
    input: byId("reply-files"),
    list: byId("reply-file-list"),
    error: byId("reply-files-error"),
    tooLarge: (file) => client.tooLarge(file),
  });
  // The open case (with its keys) lives here and nowhere else.
  let thread = null;

  show(byId("code-form-section"));

  const setBusy = (formElement, busy) => {
    for (const control of formElement.querySelectorAll("input, textarea, button")) control.disabled = busy;
    formElement.setAttribute("aria-busy", busy ? "true" : "false");
  };

  codeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(codeError, "");
    let code;
    try {
      code = PickupCode.parse(codeInput.value);
    } catch (error) {
      if (!(error instanceof BadPickupCode)) throw error;
      say(codeError, pickupCodeProblem(error, codeInput.value));
      codeInput.setAttribute("aria-invalid", "true");
      codeInput.focus();
      return;
    }
    codeInput.setAttribute("aria-invalid", "false");
    setBusy(codeForm, true);
    try {
      thread = await client.openCase(code, { onStage: (stage) => say(codeStatus, t(`return.stage.${stage}`)) });
      codeForm.reset();
      showCase();
    } catch (error) {
      say(codeError, describe(error));
      codeInput.focus();
    } finally {
      setBusy(codeForm, false);
      say(codeStatus, "");
    }
  });

  function showCase() {
    show(byId("code-form-section"), false);
    show(byId("withdrawn-section"), false);
    say(byId("case-status"), t(`return.status.${thread.status}`));
    say(byId("case-status-explain"), t(`return.status.${thread.status}.explain`));
    renderThread(byId("thread"), thread.messages);
    const withheld = byId("withheld");
    if (thread.withheld.length) {
      fill(withheld, h("p", {}, t("return.withheld", { n: thread.withheld.length })));
      show(withheld);
    } else {
      fill(withheld);
      show(withheld, false);
    }
    const ended = thread.status === "closed";
    show(byId("reply-closed"), ended);
    show(replyForm, !ended);
    show(byId("case-section"));
    focus(byId("case-heading"));
  }

  replyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(replyError, "");
    const blank = replyBody.value.trim() === "";
    say(replyBodyError, blank ? t("return.reply.missing") : "");
    replyBody.setAttribute("aria-invalid", blank ? "true" : "false");
    if (blank) {
      replyBody.focus();
      return;
    }
    setBusy(replyForm, true);
    picker.render({ sending: true });
    try {
      await client.reply(thread, replyBody.value, [...picker.files], {
        onStage: (stage) => say(replyStatus, t(`report.stage.${stage}`)),
        onUpload: (index, phase, done, total) => picker.progress(index, phase, done, total),
      });
      replyForm.reset();
      picker.clear();
      thread = await client.read(thread.keys);
      showCase();
      say(replyStatus, t("return.reply.sent"));
    } catch (error) {
      picker.render();
      say(replyStatus, "");
      say(replyError, describe(error));
      replyError.focus();
    } finally {
      setBusy(replyForm, false);
    }
  });

  const confirmBox = byId("withdraw-confirm");
  byId("withdraw-start").addEventListener("click", () => {
    show(confirmBox);
    byId("withdraw-no").focus();
  });
  byId("withdraw-no").addEventListener("click", () => {
    show(confirmBox, false);
    byId("withdraw-start").focus();
  });
  byId("withdraw-yes").addEventListener("click", async () => {
    const withdrawStatus = byId("withdraw-status");
    setBusy(confirmBox, true);
    say(withdrawStatus, t("return.withdraw.working"));
    try {
      await client.withdraw(thread);
      wipe();
      show(byId("withdrawn-section"));
      focus(byId("withdrawn-heading"));
    } catch (error) {
      say(withdrawStatus, describe(error));
    } finally {
      setBusy(confirmBox, false);
    }
  });

  byId("case-close").addEventListener("click", () => {
    wipe();
    show(byId("code-form-section"));
    codeInput.focus();
  });

  function wipe() {
    thread = null;
    fill(byId("thread"));
    fill(byId("withheld"));
    replyForm.reset();
    codeForm.reset();
    picker.clear();
    say(replyStatus, "");
    say(replyError, "");
    say(byId("withdraw-status"), "");
    say(byId("case-status"), "");
    say(byId("case-status-explain"), "");
    show(confirmBox, false);
    show(byId("case-section"), false);
  }

  window.addEventListener("pagehide", wipe);
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) window.location.reload();
  });
}

/**
 * The investigators' app (/staff): log in or unlock, the inbox with live updates, a case with its
 * decrypted and verified thread, follow-up questions and internal notes, status, assignment and
 * acknowledging emergencies. Everything shown from a case is built as DOM text.
 */
import { attachmentList, fieldList } from "../ui/content.js";
import { byId, fill, focus, h, meta, say, show } from "../ui/dom.js";
import { describe } from "../ui/errors.js";
import { ApiError } from "../ui/http.js";
import { formatTime, t } from "../ui/i18n.js";
import { InvestigatorClient, MOVES } from "./client.js";
import { LiveEvents } from "./live.js";

const REFRESH_DELAY_MS = 150;
const ALARM_TOPICS = new Set(["case.emergency", "case.escalated"]);

const shortId = (caseId) => String(caseId).slice(0, 8);

export async function start() {
  const client = new InvestigatorClient(meta("tipline-org-key"));
  const colleagues = new Map();
  const inbox = { items: [], cursor: null };
  let current = null;
  let refreshTimer = null;

  const live = new LiveEvents({
    onEvent: (event) => {
      if (event.topic === "ready") {
        refreshInbox();
        return;
      }
      if (ALARM_TOPICS.has(event.topic)) raiseAlarm(event);
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => {
        refreshInbox();
        if (current !== null && event.case_id === current.case_id) refreshCase();
      }, REFRESH_DELAY_MS);
    },
    onState: async (state) => {
      const indicator = byId("live-state");
      indicator.textContent = t(`staff.live.${state}`);
      indicator.classList.toggle("connected", state === "connected");
      if (state === "ended") sessionEnded();
      else if (state === "reconnecting" && (await client.me().catch(() => undefined)) === null) sessionEnded();
    },
  });

  const setBusy = (form, busy) => {
    for (const control of form.querySelectorAll("input, textarea, button, select")) control.disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
  };

  /** Run `work`; a session that ended sends the person back to the login. */
  async function guarded(work, errorElement) {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        sessionEnded();
        return undefined;
      }
      if (errorElement) say(errorElement, describe(error));
      else throw error;
      return undefined;
    }
  }

  // ------------------------------------------------------------------ login and unlock

  function showOnly(section) {
    for (const id of ["login-section", "unlock-section", "app-section"]) show(byId(id), id === section);
  }

  function showLogin(notice = "") {
    showOnly("login-section");
    say(byId("login-notice"), notice);
    focus(byId("login-heading"));
  }

  function sessionEnded() {
    live.stop();
    client.forget();
    wipeApp();
    showLogin(t("staff.session_ended"));
  }

  byId("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = byId("login-form");
    const status = byId("login-status");
    const failure = byId("login-error");
    say(failure, "");
    const username = byId("login-username").value.trim();
    const passphrase = byId("login-passphrase").value;
    const totp = byId("login-totp").value.replace(/\s/g, "");
    if (!username || !passphrase || !totp) {
      say(failure, t("staff.login.missing"));
      return;
    }
    setBusy(form, true);
    say(status, t("staff.login.working"));
    try {
      await client.login(username, passphrase, totp);
      form.reset();
      await enterApp();
    } catch (error) {
      say(failure, describe(error));
      failure.focus();
    } finally {
      setBusy(form, false);
      say(status, "");
    }
  });

  byId("unlock-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = byId("unlock-form");
    const failure = byId("unlock-error");
    say(failure, "");
    setBusy(form, true);
    say(byId("unlock-status"), t("staff.login.working"));
    try {
      await client.unlock(byId("unlock-username").textContent, byId("unlock-passphrase").value);
      form.reset();
      await enterApp();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) showLogin(t("staff.session_ended"));
      else {
        say(failure, describe(error));
        failure.focus();
      }
    } finally {
      setBusy(form, false);
      say(byId("unlock-status"), "");
    }
  });

  async function logout() {
    live.stop();
    wipeApp();
    try {
      await client.logout();
    } catch {
      // The session is gone either way once it expires; the keys are gone from the page now.
    }
    showLogin(t("staff.logged_out"));
  }
  byId("logout").addEventListener("click", logout);
  byId("unlock-logout").addEventListener("click", logout);

  // ------------------------------------------------------------------ the app

  async function enterApp() {
    byId("me-name").textContent = client.identity.displayName;
    showOnly("app-section");
    const people = await guarded(() => client.colleagues(), byId("inbox-error"));
    colleagues.clear();
    for (const person of people ?? []) colleagues.set(person.investigator_id, person.display_name);
    const duty = await guarded(() => client.duty(), byId("inbox-error"));
    if (duty) byId("duty-toggle").checked = duty.on_duty;
    await refreshInbox();
    live.start();
    await route();
    focus(byId("inbox-heading"));
  }

  function wipeApp() {
    current = null;
    inbox.items = [];
    inbox.cursor = null;
    fill(byId("inbox"));
    fill(byId("alerts"));
    clearCase();
    showCaseView(false);
  }

  byId("duty-toggle").addEventListener("change", async (event) => {
    const answer = await guarded(() => client.setDuty(event.target.checked), byId("inbox-error"));
    if (answer) event.target.checked = answer.on_duty;
  });

  function raiseAlarm(event) {
    const open = h("button", { type: "button", class: "danger" }, t("staff.alarm.open"));
    open.addEventListener("click", () => openCase(event.case_id));
    const dismiss = h("button", { type: "button", class: "secondary" }, t("staff.alarm.dismiss"));
    const box = h(
      "div",
      { class: "notice danger", role: "alert" },
      h("p", { class: "title" }, t(event.topic === "case.escalated" ? "staff.alarm.escalated" : "staff.alarm.emergency")),
      h("p", {}, t("staff.alarm.case", { id: shortId(event.case_id) })),
      h("div", { class: "actions" }, open, dismiss),
    );
    dismiss.addEventListener("click", () => box.remove());
    byId("alerts").append(box);
  }

  // ------------------------------------------------------------------ inbox

  const filters = () => ({
    status: byId("filter-status").value,
    urgent: byId("filter-urgent").checked,
    mine: byId("filter-mine").checked,
  });
  for (const id of ["filter-status", "filter-urgent", "filter-mine"]) byId(id).addEventListener("change", () => refreshInbox());

  async function refreshInbox() {
    if (client.identity === null) return;
    const page = await guarded(() => client.inbox(filters()), byId("inbox-error"));
    if (page === undefined) return;
    say(byId("inbox-error"), "");
    inbox.items = page.cases;
    inbox.cursor = page.next_cursor;
    renderInbox();
  }

  byId("inbox-more").addEventListener("click", async () => {
    const page = await guarded(() => client.inbox({ ...filters(), cursor: inbox.cursor }), byId("inbox-error"));
    if (page === undefined) return;
    inbox.items = [...inbox.items, ...page.cases];
    inbox.cursor = page.next_cursor;
    renderInbox();
  });

  function badges(item) {
    return [
      item.urgent
        ? h("span", { class: "badge urgent" }, item.acknowledged_at ? t("staff.badge.urgent_acknowledged") : t("staff.badge.urgent"))
        : null,
      h("span", { class: item.status === "closed" ? "badge done" : "badge" }, t(`staff.status.${item.status}`)),
    ];
  }

  function renderInbox() {
    fill(
      byId("inbox"),
      inbox.items.map((item) => {
        const button = h(
          "button",
          { type: "button", class: "case-link", "data-case": item.case_id, "aria-current": current?.case_id === item.case_id ? "true" : null },
          h("span", { class: "case-title" }, t("staff.case.title", { id: shortId(item.case_id) })),
          h(
            "span",
            { class: "case-meta" },
            badges(item),
            item.unread ? h("span", { class: "badge unread" }, t("staff.badge.unread")) : null,
            h("span", {}, item.assignee_id ? t("staff.inbox.assigned_to", { name: colleagues.get(item.assignee_id) ?? shortId(item.assignee_id) }) : t("staff.inbox.unassigned")),
            h("time", {}, t("staff.inbox.activity", { time: formatTime(item.last_activity_at) })),
          ),
        );
        button.addEventListener("click", () => openCase(item.case_id));
        return h("li", {}, button);
      }),
    );
    show(byId("inbox-empty"), inbox.items.length === 0);
    show(byId("inbox-more"), inbox.cursor !== null);
  }

  // ------------------------------------------------------------------ a case

  function openCase(caseId) {
    const target = `#case/${caseId}`;
    if (window.location.hash === target) route();
    else window.location.hash = target;
  }

  async function route() {
    const match = /^#case\/([0-9a-f-]{36})$/.exec(window.location.hash);
    if (client.identity === null) return;
    if (match === null) {
      current = null;
      clearCase();
      showCaseView(false);
      renderInbox();
      return;
    }
    await showCase(match[1], { moveFocus: true });
  }
  window.addEventListener("hashchange", route);

  byId("case-back").addEventListener("click", () => {
    window.location.hash = "";
    current = null;
    clearCase();
    showCaseView(false);
    renderInbox();
    focus(byId("inbox-heading"));
  });

  function clearCase() {
    say(byId("case-heading"), "");
    fill(byId("case-flags"));
    fill(byId("case-thread"));
    fill(byId("case-people"));
    say(byId("case-error"), "");
    byId("compose-form").reset();
    say(byId("compose-error"), "");
    say(byId("compose-status"), "");
  }

  /** On a phone the case replaces the inbox; on a wide screen they stand side by side. */
  function showCaseView(visible) {
    show(byId("case-view"), visible);
    byId("staff-layout").classList.toggle("case-open", visible);
  }

  async function showCase(caseId, { moveFocus = false } = {}) {
    showCaseView(true);
    let view;
    try {
      view = await client.openCase(caseId);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      clearCase();
      current = null;
      say(byId("case-heading"), t("staff.case.title", { id: shortId(caseId) }));
      say(byId("case-error"), error instanceof ApiError && error.status === 404 ? t("staff.case.gone") : describe(error));
      show(byId("case-ack"), false);
      show(byId("compose-form"), false);
      return undefined;
    }
    current = view;
    renderCase(view);
    renderInbox();
    if (moveFocus) focus(byId("case-heading"));
    // Opening marks the case read: the inbox shows it.
    refreshInbox();
    return undefined;
  }

  async function refreshCase() {
    if (current !== null) await showCase(current.case_id);
  }

  function renderCase(view) {
    say(byId("case-error"), "");
    say(byId("case-heading"), t("staff.case.title", { id: shortId(view.case_id) }));
    fill(
      byId("case-flags"),
      badges(view),
      " ",
      view.acknowledged_at ? t("staff.case.acknowledged_at", { time: formatTime(view.acknowledged_at) }) : null,
    );
    show(byId("case-ack"), view.urgent && !view.acknowledged_at && view.status !== "closed");
    renderStatus(view);
    renderAssignee(view);
    fill(byId("case-people"), t("staff.case.people", { names: view.investigators.map((person) => person.display_name).join(", ") }));
    fill(byId("case-thread"), view.messages.map((message) => messageItem(view.case_id, message)));
    show(byId("compose-form"), view.status !== "closed");
  }

  function renderStatus(view) {
    const mayReopen = client.identity.roles.has("triage") || view.assignee_id === client.identity.investigatorId;
    const moves = (MOVES[view.status] ?? []).filter((status) => view.status !== "closed" || mayReopen);
    fill(
      byId("status-select"),
      h("option", { value: view.status, selected: true }, t(`staff.status.${view.status}`)),
      moves.map((status) => h("option", { value: status }, t("staff.case.move_to", { status: t(`staff.status.${status}`) }))),
    );
  }

  function renderAssignee(view) {
    const options = [h("option", { value: "", selected: view.assignee_id === null }, t("staff.case.nobody"))];
    for (const [id, name] of colleagues) options.push(h("option", { value: id, selected: view.assignee_id === id }, name));
    fill(byId("assignee-select"), options);
  }

  byId("status-select").addEventListener("change", async (event) => {
    if (current === null || event.target.value === current.status) return;
    const changed = await guarded(() => client.setStatus(current.case_id, event.target.value), byId("case-error"));
    await refreshCase();
    if (changed === undefined) event.target.focus();
  });

  byId("assignee-select").addEventListener("change", async (event) => {
    if (current === null) return;
    await guarded(() => client.assign(current.case_id, event.target.value || null), byId("case-error"));
    await refreshCase();
  });

  byId("ack-button").addEventListener("click", async () => {
    if (current === null) return;
    const done = await guarded(() => client.acknowledge(current.case_id), byId("case-error"));
    await refreshCase();
    if (done !== undefined) focus(byId("case-heading"));
  });

  function messageItem(caseId, message) {
    const classes = ["message"];
    if (message.kind === "note") classes.push("note");
    if (message.problem !== null) classes.push("problem");
    let author = t("thread.from_reporter");
    if (message.author !== null) author = message.stillVetted ? message.author : t("staff.thread.no_longer_vetted", { name: message.author });
    const content = message.content;
    return h(
      "li",
      { class: classes.join(" "), "data-kind": message.kind, "data-seq": message.seq },
      h(
        "div",
        { class: "message-meta" },
        h("span", { class: "kind" }, t(`staff.kind.${message.kind}`)),
        h("span", {}, author),
        h("time", {}, formatTime(message.createdAt)),
        message.visibleToReporter ? null : h("span", {}, t("staff.thread.colleagues_only")),
      ),
      message.problem !== null ? h("p", {}, t(`staff.problem.${message.problem}`)) : null,
      content?.body ? h("p", { class: "message-body" }, content.body) : null,
      content ? fieldList(content.fields) : null,
      content ? attachmentList(content.attachments, (ref) => downloadButton(caseId, ref)) : null,
    );
  }

  function downloadButton(caseId, ref) {
    const button = h("button", { type: "button", class: "secondary", "aria-label": t("staff.download_named", { name: ref.name }) }, t("staff.download"));
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = t("staff.downloading");
      try {
        const blob = await client.downloadAttachment(caseId, ref);
        const url = URL.createObjectURL(blob);
        const link = document.createElement("a");
        link.href = url;
        link.download = ref.name;
        link.hidden = true;
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
        button.textContent = t("staff.download");
      } catch (error) {
        button.textContent = describe(error);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  byId("compose-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (current === null) return;
    const form = byId("compose-form");
    const body = byId("compose-body");
    const failure = byId("compose-error");
    say(failure, "");
    if (body.value.trim() === "") {
      say(failure, t("staff.compose.missing"));
      body.focus();
      return;
    }
    const kind = byId("compose-note").checked ? "note" : "followup";
    setBusy(form, true);
    say(byId("compose-status"), t("staff.compose.sending"));
    const sent = await guarded(() => client.write(current.case_id, kind, body.value), failure);
    setBusy(form, false);
    say(byId("compose-status"), "");
    if (sent !== undefined) {
      form.reset();
      await refreshCase();
      say(byId("compose-status"), t(kind === "note" ? "staff.compose.sent_note" : "staff.compose.sent_followup"));
    }
  });

  window.addEventListener("pagehide", () => {
    live.stop();
    client.forget();
    wipeApp();
  });

  // ------------------------------------------------------------------ start

  const profile = await client.me().catch(() => null);
  if (profile === null) {
    showLogin();
  } else {
    byId("unlock-username").textContent = profile.username;
    // For password managers: the passphrase belongs to this username.
    byId("unlock-username-field").value = profile.username;
    showOnly("unlock-section");
    focus(byId("unlock-heading"));
  }
}

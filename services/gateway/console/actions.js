// The lifecycle actions: one click, or a short form for the fields the API requires.
import { api, problemText } from "./api.js";
import { clear, el, toast } from "./dom.js";
import { t } from "./i18n.js";

// action -> the fields its command needs (name, kind, required); none: one click.
const FIELDS = {
  acknowledge: [],
  start: [],
  hold: [["reason", "text", true], ["until", "datetime-local", false]],
  resolve: [["resolution", "text", true]],
  reject: [["reason", "text", true]],
  notes: [["text", "text", true]],
  reassign: [["to_enterprise", "enterprise", true], ["reason", "text", true]],
};

// What each task status lets its primary dispatcher do, in the order the buttons show.
const BY_STATUS = {
  open: ["acknowledge", "start", "resolve", "reject", "notes"],
  acknowledged: ["start", "hold", "resolve", "reject", "notes"],
  in_progress: ["hold", "resolve", "reject", "notes"],
  held: ["start", "resolve", "reject", "notes"],
  resolved: ["notes"],
};

export function actionsFor(task, session) {
  if (session.role === "auditor") return [];
  if (session.role === "supervisor") return ["open", "acknowledged", "in_progress", "held"].includes(task.status) ? ["reassign", "notes"] : [];
  if (task.role !== "primary") return ["open", "acknowledged", "in_progress", "held"].includes(task.status) ? ["notes"] : [];
  return BY_STATUS[task.status] || [];
}

export function actionButtons(task, session, context) {
  return el("div", { class: "actions" }, actionsFor(task, session).map((action) =>
    el("button", {
      type: "button", "data-action": action, class: `act act-${action}`,
      text: t(`action.${action}`),
      onclick: () => perform(action, task.incident_id, context),
    })));
}

// context: { session, dispatcher() -> name, enterprises -> [{id, name, kind}] }
export async function perform(action, incidentId, context) {
  const fields = FIELDS[action];
  const body = fields.length ? await ask(action, fields, context) : {};
  if (body === null) return;
  const name = context.dispatcher();
  if (name) body.dispatcher = name;
  await send(action, incidentId, body);
}

async function send(action, incidentId, body) {
  const answer = await api("POST", `/v1/incidents/${encodeURIComponent(incidentId)}/${action}`, body);
  const outcome = answer.data && answer.data.outcome;
  if (answer.status === 200 && outcome === "accepted") toast(t("answer.accepted", { action: t(`action.${action}`) }), "ok");
  else if (outcome === "rejected") toast(t("answer.rejected", { reason: problemText(answer.data.error) }), "bad");
  else if (outcome === "pending") toast(t("answer.pending"), "info");
  else toast(t("answer.failed", { reason: problemText(answer.data) }), "bad");
  return answer;
}

// The dialog for an action's fields; null when cancelled.
function ask(action, fields, context) {
  const dialog = document.getElementById("action-dialog");
  const box = clear(document.getElementById("action-fields"));
  document.getElementById("action-title").textContent = t(`action.${action}`);
  document.getElementById("action-error").textContent = "";
  for (const [name, kind, required] of fields) {
    const id = `field-${name}`;
    let input;
    if (kind === "enterprise") {
      input = el("select", { id, name, required },
        context.enterprises.filter((e) => e.kind !== "supervisor").map((e) => el("option", { value: e.id, text: e.name })));
    } else {
      input = el("input", { id, name, type: kind, required, maxlength: kind === "text" ? 1000 : undefined });
    }
    box.append(el("label", { for: id, text: t(`field.${name}`) + (required ? " *" : "") }), input);
  }
  return new Promise((resolve) => {
    const form = document.getElementById("action-form");
    const done = (value) => { form.onsubmit = null; cancel.onclick = null; dialog.close(); resolve(value); };
    const cancel = document.getElementById("action-cancel");
    cancel.onclick = () => done(null);
    dialog.oncancel = () => done(null);
    form.onsubmit = (event) => {
      event.preventDefault();
      const body = {};
      for (const [name, kind] of fields) {
        const value = form.elements[name].value.trim();
        if (!value) continue;
        body[name] = kind === "datetime-local" ? new Date(value).toISOString() : value;
      }
      done(body);
    };
    dialog.showModal();
    const first = box.querySelector("input, select");
    if (first) first.focus();
  });
}

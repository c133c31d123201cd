// The dispatcher's view: the enterprise's tasks, most urgent first, with their clocks.
import { now } from "./api.js";
import { actionButtons } from "./actions.js";
import { clear, el } from "./dom.js";
import { ACTIVE } from "./feed.js";
import { t, span } from "./i18n.js";

const SHOWN_AT_MOST = 300;

export function renderTasks(root, context) {
  const { feed, session } = context;
  const showAll = context.showClosed;
  const wanted = (task) => (showAll || ACTIVE.has(task.status)) && (session.role !== "supervisor" || task.role === "primary");
  const tasks = feed.list(wanted);
  const toggle = el("label", { class: "toggle" },
    el("input", { type: "checkbox", id: "show-closed", checked: showAll, onchange: (e) => { context.showClosed = e.target.checked; context.rerender(); } }),
    t("tasks.show_closed"));
  const heading = el("h1", { text: t("tasks.title", { enterprise: context.name(session.enterprise) }) });
  const count = el("p", { class: "count", id: "task-count", text: t("tasks.count", { n: tasks.length }) });
  const list = el("div", { id: "tasks", class: "tasks", role: "list" },
    tasks.slice(0, SHOWN_AT_MOST).map((task) => taskCard(task, context)));
  if (!tasks.length) list.append(el("p", { class: "empty", text: t("tasks.none") }));
  if (tasks.length > SHOWN_AT_MOST) list.append(el("p", { text: t("tasks.more", { n: tasks.length - SHOWN_AT_MOST }) }));
  clear(root).append(heading, toggle, count, list);
  tickClocks(root);
}

export function taskCard(task, context) {
  const fresh = context.feed.isFreshP1(task);
  return el("article", {
    class: `task ${task.priority}${fresh ? " fresh" : ""} status-${task.status}`,
    role: "listitem", "data-task-id": task.task_id, "data-incident-id": task.incident_id, "data-incident-key": task.incident_key,
    "data-status": task.status, "data-priority": task.priority,
  },
  el("div", { class: "task-head" },
    el("span", { class: `prio ${task.priority}`, text: task.priority.toUpperCase() }),
    el("a", { class: "summary", href: `#/incident/${encodeURIComponent(task.incident_id)}`, text: task.summary })),
  el("div", { class: "meta" },
    el("span", { text: context.name(task.district) }), " · ",
    el("span", { text: t(`kind.${task.kind}`) }), " · ",
    el("span", { text: t(`role.${task.role}`) }), " · ",
    el("span", { class: "status", text: t(`status.${task.status}`) }),
    context.session.role === "dispatcher" ? null : [" · ", el("span", { text: context.name(task.enterprise) })]),
  onDuty(task),
  el("div", { class: "clocks" }, clock(task, "ack"), clock(task, "resolve")),
  actionButtons(task, context.session, context));
}

// Whom the task was issued to: the person on duty and the shift lead, from the roster.
function onDuty(task) {
  const duty = task.on_duty;
  if (!duty) return null;
  return el("div", { class: "on-duty", "data-person": duty.person.id },
    t("duty.person", { person: duty.person.name, lead: duty.lead.name, team: duty.team_name }));
}

// A deadline's countdown; it is met (or no longer counts) once the task has moved past it.
function clock(task, which) {
  const due = which === "ack" ? task.ack_due_at : task.resolve_due_at;
  if (!due) return null;
  const done = which === "ack" ? task.status !== "open" : !ACTIVE.has(task.status);
  return el("span", { class: `clock ${which}`, "data-due": due, "data-done": done ? "1" : "0", "data-label": t(`clock.${which}`) });
}

// Every second: each visible countdown's text, and whether it has run out.
export function tickClocks(root) {
  for (const element of root.querySelectorAll(".clock")) {
    const label = element.dataset.label;
    if (element.dataset.done === "1") {
      element.textContent = `${label}: ${t("clock.stopped")}`;
      element.classList.remove("overdue");
      continue;
    }
    const left = Date.parse(element.dataset.due) - now();
    element.classList.toggle("overdue", left < 0);
    element.textContent = left < 0 ? `${label}: ${t("clock.overdue", { span: span(left) })}` : `${label}: ${t("clock.left", { span: span(left) })}`;
  }
}

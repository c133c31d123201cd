// An incident's page: its clocks against their deadlines, escalations, who was told, why it
// was routed where it was, and the recorded timeline with its hash chain.
import { api, problemText } from "./api.js";
import { actionButtons } from "./actions.js";
import { clear, el } from "./dom.js";
import { seconds, t, when } from "./i18n.js";

const DETAIL_FIELDS = ["summary", "reason", "resolution", "note", "text", "to_enterprise", "deadline", "due_at", "until", "level"];

export async function renderIncident(root, id, context) {
  clear(root).append(el("p", { text: t("incident.loading") }));
  let answer = await api("GET", `/v1/incidents/${encodeURIComponent(id)}`);
  // Just opened: the recorder writes it within a moment of the incident manager.
  for (let tries = 0; answer.status === 404 && tries < 10 && context.current() === `incident/${id}`; tries++) {
    await new Promise((done) => setTimeout(done, 500));
    answer = await api("GET", `/v1/incidents/${encodeURIComponent(id)}`);
  }
  if (context.current() !== `incident/${id}`) return;
  if (!answer.ok) {
    clear(root).append(el("h1", { text: t("incident.title") }), el("p", { class: "error", role: "alert", text: problemText(answer.data) }));
    return;
  }
  const data = answer.data;
  const events = data.events || [];
  const opened = events.find((e) => e.type === "incident_opened");
  const myTasks = context.feed.list((task) => task.incident_id === data.incident);
  clear(root).append(
    el("p", {}, el("a", { href: context.back(), text: t("incident.back") })),
    el("h1", { id: "incident-title", text: opened ? opened.event.summary : data.incident }),
    el("p", { class: "meta" }, `${t("incident.id")}: ${data.incident}`, " · ", `${t("incident.key")}: ${events.length ? events[0].incident_key : ""}`),
    el("p", { id: "chain", "data-chain": data.chain === "intact" ? "intact" : "broken", class: data.chain === "intact" ? "chain ok" : "chain bad", text: `${t("incident.chain")}: ${data.chain === "intact" ? t("chain.intact") : data.chain}` }),
    ...myTasks.map((task) => el("div", { class: "incident-actions" }, el("strong", { text: `${context.name(task.enterprise)} · ${t(`status.${task.status}`)}` }), actionButtons(task, context.session, context))),
    section("incident.clocks", clocks(data, context)),
    section("incident.escalations", escalations(data, context)),
    section("incident.told", told(data, context)),
    section("incident.routing", routing(data, context)),
    section("incident.timeline", timeline(events, context)),
  );
}

function section(key, ...body) {
  return el("section", { class: "panel", "data-section": key }, el("h2", { text: t(key) }), ...body);
}

function clocks(data, context) {
  if (!data.clocks) return el("p", { text: t("incident.no_data") });
  const overall = data.clocks.overall || data.clocks;
  const rows = (data.clocks.deadlines || data.clocks.tasks || []).map((c) =>
    el("tr", { "data-deadline": c.deadline, "data-state": c.state },
      el("td", { text: t(`deadline.${c.deadline}`) }), el("td", { text: context.name(c.enterprise) }),
      el("td", { text: when(c.due_at) }), el("td", { text: when(c.met_at) }),
      el("td", { class: `state ${c.state}`, text: t(`clockstate.${c.state}`) })));
  return [
    el("p", {}, `${t("clock.to_ack")}: ${seconds(overall.time_to_acknowledge_s)}`, " · ", `${t("clock.to_resolve")}: ${seconds(overall.time_to_resolve_s)}`),
    table(["col.deadline", "col.enterprise", "col.due", "col.met_at", "col.state"], rows),
  ];
}

function escalations(data, context) {
  const list = data.escalations || [];
  if (!list.length) return el("p", { text: t("incident.none") });
  return table(["col.level", "col.deadline", "col.at", "col.notified", "col.reason"], list.map((e) =>
    el("tr", {}, el("td", { text: String(e.level) }), el("td", { text: t(`deadline.${e.deadline}`) }),
      el("td", { text: when(e.at) }), el("td", { text: (e.notified || []).map(context.name).join(", ") }), el("td", { text: e.reason }))));
}

function told(data, context) {
  const list = data.told || [];
  if (!list.length) return el("p", { text: t("incident.none") });
  return table(["col.enterprise", "col.role", "col.at"], list.map((x) =>
    el("tr", {}, el("td", { text: context.name(x.enterprise) }), el("td", { text: t(`role.${x.role}`) }), el("td", { text: when(x.at) }))));
}

function routing(data, context) {
  const decision = data.routing;
  if (!decision) return el("p", { text: t("incident.not_routed") });
  const parts = [
    el("p", { id: "rule" }, `${t("routing.rule")}: `, el("code", { text: decision.rule_id }), ` · ${t("routing.primary")}: ${context.name(decision.primary)} · ${(decision.priority || "").toUpperCase()}`),
    el("ul", {}, (decision.reasons || []).map((reason) => el("li", { text: reason }))),
  ];
  const explained = data.explanation;
  if (explained && explained.rules) {
    parts.push(el("h3", { text: t("routing.tried") }), table(["col.rule", "col.outcome", "col.why_not"], explained.rules.map((r) =>
      el("tr", { class: `outcome-${r.outcome}` }, el("td", {}, el("code", { text: r.id })), el("td", { text: t(`outcome.${r.outcome.replace(" ", "_")}`) }), el("td", { text: (r.why_not || []).join("; ") })))));
  } else if (data.explanation_unavailable) {
    parts.push(el("p", { class: "muted", text: `${t("routing.unexplained")}: ${data.explanation_unavailable}` }));
  }
  return parts;
}

function timeline(events, context) {
  return table(["col.seq", "col.event", "col.occurred", "col.recorded", "col.actor", "col.detail"], events.map((e) => {
    const body = e.event || {};
    const detail = DETAIL_FIELDS.filter((f) => body[f] !== undefined && body[f] !== "").map((f) => `${t(`field.${f}`)}: ${shown(f, body[f])}`);
    if (body.notified) detail.push(`${t("col.notified")}: ${body.notified.join(", ")}`);
    if (body.error) detail.push(problemText(body.error));
    const actor = body.actor ? [body.actor.id, body.actor.person].filter(Boolean).join(" ") : "";
    return el("tr", { "data-type": e.type },
      el("td", { text: String(e.sequence) }), el("td", { text: t(`event.${e.type}`) }),
      el("td", { text: when(e.occurred_at) }), el("td", { text: when(e.recorded_at) }),
      el("td", { text: actor }), el("td", { text: detail.join(" · ") }));
  }));
}

// A field's value as people read it: instants in the province's time, deadlines by name.
function shown(field, value) {
  if (field === "due_at" || field === "until") return when(value);
  if (field === "deadline") return t(`deadline.${value}`);
  return value;
}

export function table(headers, rows) {
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: t(h) })))),
    el("tbody", {}, rows)));
}

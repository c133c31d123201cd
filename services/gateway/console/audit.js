// The auditor's view, read-only: SLA compliance, MTTA and MTTR by enterprise, district and kind
// (the figures and charts of `signalpost report`), and each incident's hash-chain status.
import { api, problemText } from "./api.js";
import { clear, el } from "./dom.js";
import { seconds, share, t, when } from "./i18n.js";
import { table } from "./incident.js";

const DIMENSIONS = ["enterprise", "district", "kind"];

export async function renderAudit(root, context) {
  clear(root).append(el("h1", { text: t("audit.title") }), el("p", { text: t("incident.loading") }));
  const [report, incidents] = await Promise.all([api("GET", "/v1/report"), api("GET", "/v1/incidents?limit=200")]);
  if (context.current() !== "audit") return;
  const parts = [el("h1", { text: t("audit.title") })];
  if (report.ok) parts.push(...figures(report.data, context));
  else parts.push(el("p", { class: "error", role: "alert", text: problemText(report.data) }));
  parts.push(el("h2", { text: t("audit.incidents") }));
  if (incidents.ok) parts.push(chainTable(incidents.data.incidents || [], context));
  else parts.push(el("p", { class: "error", role: "alert", text: problemText(incidents.data) }));
  clear(root).append(...parts);
}

function figures(data, context) {
  const rows = data.rows || [];
  const all = rows.find((r) => r.dimension === "all");
  const out = [];
  if (all) out.push(el("p", { id: "audit-summary", class: "count" }, t("audit.summary", {
    n: all.incidents, ack: share(all.ack_met_share), resolve: share(all.resolve_met_share),
    mtta: seconds(all.mtta_p50_s), mttr: seconds(all.mttr_p50_s),
  })));
  for (const dimension of DIMENSIONS) {
    out.push(el("h2", { text: t(`audit.by_${dimension}`) }));
    out.push(table(["col.value", "col.incidents", "col.ack_met", "col.resolve_met", "col.mtta_p50", "col.mtta_p90", "col.mttr_p50", "col.mttr_p90"],
      rows.filter((r) => r.dimension === dimension).map((r) => el("tr", { "data-dimension": dimension, "data-value": r.value },
        el("th", { scope: "row", text: dimension === "kind" ? t(`kind.${r.value}`) : r.label || context.name(r.value) }),
        el("td", { text: String(r.incidents) }), el("td", { text: share(r.ack_met_share) }), el("td", { text: share(r.resolve_met_share) }),
        el("td", { text: seconds(r.mtta_p50_s) }), el("td", { text: seconds(r.mtta_p90_s) }),
        el("td", { text: seconds(r.mttr_p50_s) }), el("td", { text: seconds(r.mttr_p90_s) })))));
  }
  // The charts are the auditor's own SVG, made by the gateway with every label escaped.
  for (const [name, svg] of Object.entries(data.charts || {}).filter(([, svg]) => svg)) {
    const figure = el("figure", { class: "chart", "data-chart": name });
    figure.innerHTML = svg;
    out.push(el("h2", { text: t(`chart.${name}`) }), figure);
  }
  return out;
}

function chainTable(list, context) {
  return table(["col.incident", "col.district", "col.enterprise", "col.status", "col.opened", "col.chain"], list.map((i) =>
    el("tr", { "data-incident-id": i.incident_id, "data-chain": i.chain === "intact" ? "intact" : "broken" },
      el("td", {}, el("a", { href: `#/incident/${encodeURIComponent(i.incident_id)}`, text: i.summary || i.incident_id })),
      el("td", { text: context.name(i.district) }), el("td", { text: context.name(i.primary) }),
      el("td", { text: t(`status.${i.status}`) }), el("td", { text: when(i.opened_at) }),
      el("td", { class: i.chain === "intact" ? "chain ok" : "chain bad", text: i.chain === "intact" ? t("chain.intact") : i.chain }))));
}

// The Department's province board: every district as a tile, coloured by its open incidents,
// their worst priority and the deadlines they missed; the escalations waiting; a district's list.
import { now } from "./api.js";
import { clear, el } from "./dom.js";
import { ACTIVE } from "./feed.js";
import { t } from "./i18n.js";
import { taskCard } from "./tasks.js";

// Where each district sits, roughly as on the map (column, row; west to east, north to south).
const PLACES = {
  "tay-giang": [1, 1], "dong-giang": [2, 1], "dai-loc": [3, 1], "dien-ban": [4, 1], "hoi-an": [5, 1],
  "nam-giang": [1, 2], "que-son": [3, 2], "duy-xuyen": [4, 2], "thang-binh": [5, 2],
  "phuoc-son": [1, 3], "hiep-duc": [2, 3], "tien-phuoc": [3, 3], "phu-ninh": [4, 3], "tam-ky": [5, 3],
  "nam-tra-my": [2, 4], "bac-tra-my": [3, 4], "nui-thanh": [5, 4],
};

// The incidents open now, one each: the task of whoever must handle it.
export function openIncidents(feed) {
  const byIncident = new Map();
  for (const task of feed.list((x) => x.role === "primary" && ACTIVE.has(x.status))) {
    if (!byIncident.has(task.incident_id)) byIncident.set(task.incident_id, task);
  }
  return [...byIncident.values()];
}

export function missed(task) {
  const due = task.status === "open" ? task.ack_due_at : task.resolve_due_at;
  return Boolean(due) && Date.parse(due) < now();
}

export function districtState(tasks) {
  if (!tasks.length) return "calm";
  const worst = tasks.map((x) => x.priority).sort()[0];
  return `open-${worst}`;
}

export function renderBoard(root, context, district) {
  if (district) return renderDistrict(root, context, district);
  const open = openIncidents(context.feed);
  const byDistrict = new Map(context.session.districts.map((d) => [d.id, []]));
  for (const task of open) (byDistrict.get(task.district) || byDistrict.set(task.district, []).get(task.district)).push(task);
  const tiles = context.session.districts.map((d) => {
    const tasks = byDistrict.get(d.id) || [];
    const late = tasks.filter(missed).length;
    const tile = el("a", {
      class: `tile ${districtState(tasks)}${late ? " missed" : ""}`, href: `#/board/${d.id}`,
      "data-district": d.id, "data-state": districtState(tasks), "data-open": String(tasks.length), "data-missed": String(late),
      "aria-label": `${d.name}: ${t("board.open", { n: tasks.length })}, ${t("board.missed", { n: late })}`,
    },
    el("strong", { text: d.name }),
    el("span", { text: t("board.open", { n: tasks.length }) }),
    late ? el("span", { class: "late", text: t("board.missed", { n: late }) }) : null);
    const place = PLACES[d.id];
    if (place) { tile.style.setProperty("--col", place[0]); tile.style.setProperty("--row", place[1]); }
    return tile;
  });
  const legend = el("p", { class: "legend" }, ["calm", "open-p4", "open-p3", "open-p2", "open-p1"].map((s) => el("span", { class: `swatch ${s}`, text: t(`board.${s}`) })),
    el("span", { class: "swatch missed", text: t("board.late") }));
  clear(root).append(
    el("h1", { text: t("board.title", { province: context.session.province }) }),
    el("p", { class: "count", id: "board-total", text: t("board.total", { n: open.length, late: open.filter(missed).length }) }),
    el("div", { id: "board", class: "board" }, tiles), legend,
    el("h2", { text: t("board.queue") }), escalationQueue(context));
}

// What waits on the Department: escalations it was told of, and deadlines already missed.
function escalationQueue(context) {
  const mine = context.session.enterprise;
  const told = context.feed.list((x) => x.enterprise === mine && x.role === "notify" && ACTIVE.has(x.status));
  const openIds = new Set(openIncidents(context.feed).map((x) => x.incident_id));
  const late = openIncidents(context.feed).filter(missed);
  const seen = new Set();
  const rows = [];
  for (const task of [...told.filter((x) => openIds.has(x.incident_id)), ...late]) {
    if (seen.has(task.incident_id)) continue;
    seen.add(task.incident_id);
    const primary = openIncidents(context.feed).find((x) => x.incident_id === task.incident_id) || task;
    rows.push(taskCard(primary, context));
  }
  return el("div", { id: "escalations", class: "tasks" }, rows.length ? rows : el("p", { class: "empty", text: t("board.queue_empty") }));
}

function renderDistrict(root, context, district) {
  const name = context.name(district);
  const tasks = openIncidents(context.feed).filter((x) => x.district === district);
  clear(root).append(
    el("p", {}, el("a", { href: "#/board", text: t("board.back") })),
    el("h1", { text: t("board.district", { district: name }) }),
    el("div", { id: "district-incidents", class: "tasks" }, tasks.length ? tasks.map((x) => taskCard(x, context)) : el("p", { class: "empty", text: t("board.district_calm") })));
}

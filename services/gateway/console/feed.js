// The caller's tasks, live: one server-sent event stream, resumed after a drop with nothing
// missed (the browser sends Last-Event-ID; a stream made anew names it in `after`).
import { api } from "./api.js";

export const ACTIVE = new Set(["open", "acknowledged", "in_progress", "held"]);
const PRIORITY_ORDER = { p1: 1, p2: 2, p3: 3, p4: 4 };

export class TaskFeed {
  constructor({ onChange, onLive, onRevoked }) {
    this.tasks = new Map(); // task_id -> latest version
    this.arrived = new Map(); // task_id -> when first seen here (ms)
    this.opened = Date.now();
    this.lastId = null;
    this.source = null;
    this.onChange = onChange;
    this.onLive = onLive;
    this.onRevoked = onRevoked;
    this.stopped = false;
  }

  start() {
    const query = this.lastId ? `?after=${encodeURIComponent(this.lastId)}` : "?start=beginning";
    const source = new EventSource(`/v1/tasks/stream${query}`);
    this.source = source;
    source.onopen = () => this.onLive("live");
    source.addEventListener("task", (event) => {
      this.lastId = event.lastEventId || this.lastId;
      this.take(JSON.parse(event.data));
    });
    source.addEventListener("message", (event) => { this.lastId = event.lastEventId || this.lastId; });
    source.addEventListener("revoked", () => { this.stop(); this.onRevoked(); });
    source.onerror = () => {
      if (this.stopped) return;
      this.onLive("reconnecting");
      if (source.readyState === EventSource.CLOSED) this.retry();
    };
  }

  // The browser gives up on an answer that is not a stream (a 401, a 503): ask why, then resume.
  async retry() {
    const session = await api("GET", "/v1/session");
    if (session.status === 401) { this.stop(); this.onRevoked(); return; }
    setTimeout(() => { if (!this.stopped) this.start(); }, 2000);
  }

  take(task) {
    const known = this.tasks.get(task.task_id);
    if (known && known.version >= task.version) return;
    if (!known) this.arrived.set(task.task_id, Date.now());
    this.tasks.set(task.task_id, task);
    this.onChange(task, !known);
  }

  stop() {
    this.stopped = true;
    if (this.source) this.source.close();
  }

  // A new P1 arrived live (not in the replay of the history when the page opened).
  isFreshP1(task) {
    const arrived = this.arrived.get(task.task_id) || 0;
    return task.priority === "p1" && task.status === "open" && task.role === "primary" && arrived - this.opened > 1500;
  }

  list(filter = () => true) {
    return [...this.tasks.values()].filter(filter).sort(byUrgency);
  }
}

// Priority first, then the nearest deadline that still counts for the task's status.
export function nextDue(task) {
  const due = task.status === "open" ? task.ack_due_at || task.resolve_due_at : task.resolve_due_at;
  return due ? Date.parse(due) : Infinity;
}

export function byUrgency(a, b) {
  return (PRIORITY_ORDER[a.priority] - PRIORITY_ORDER[b.priority]) || (nextDue(a) - nextDue(b))
    || a.task_id.localeCompare(b.task_id);
}

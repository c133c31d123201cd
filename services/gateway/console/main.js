// The console: sign in, follow the caller's tasks live, and draw the view the address names.
import { api, problemText, useSession } from "./api.js";
import { renderAudit } from "./audit.js";
import { renderBoard } from "./board.js";
import { clear, el } from "./dom.js";
import { TaskFeed } from "./feed.js";
import { renderIncident } from "./incident.js";
import { language, loadLabels, setLanguage, setZone, t, translate } from "./i18n.js";
import { renderTasks, tickClocks } from "./tasks.js";

const HOME = { dispatcher: "tasks", supervisor: "board", auditor: "audit" };
const VIEWS = { dispatcher: ["tasks"], supervisor: ["tasks", "board", "audit"], auditor: ["audit"] };
let context = null;

function $(id) {
  return document.getElementById(id);
}

async function boot() {
  await loadLabels();
  translate(document);
  setLanguageButton();
  $("lang").addEventListener("click", () => { setLanguage(language() === "vi" ? "en" : "vi"); setLanguageButton(); if (context) draw(); });
  $("signin").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("sound").addEventListener("click", toggleSound);
  window.addEventListener("hashchange", () => context && draw());
  const session = await api("GET", "/v1/session");
  if (session.ok && session.data.csrf_token) start(session.data);
  else showSignIn();
}

function setLanguageButton() {
  const other = language() === "vi" ? "en" : "vi";
  $("lang").textContent = t(`lang.${other}`);
  $("lang").setAttribute("lang", other);
}

function showSignIn(reason) {
  if (context) context.feed.stop();
  context = null;
  useSession(null);
  for (const id of ["nav", "signout", "sound", "duty-label", "live"]) $(id).hidden = true;
  $("who").textContent = "";
  $("p1-alert").hidden = true;
  clear($("content"));
  $("signin").hidden = false;
  $("signin-error").textContent = reason || "";
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  const answer = await api("POST", "/v1/session", { token });
  $("token").value = "";
  if (!answer.ok) {
    $("signin-error").textContent = `${t("signin.failed")}: ${problemText(answer.data)}`;
    return;
  }
  start(answer.data);
}

async function signOut() {
  await api("DELETE", "/v1/session");
  location.hash = "";
  showSignIn(t("signin.signed_out"));
}

function start(session) {
  useSession(session, () => showSignIn(t("signin.expired")));
  setZone(session.timezone);
  const names = new Map([...session.districts, ...session.enterprises].map((p) => [p.id, p.name]));
  context = {
    session,
    showClosed: false,
    enterprises: session.enterprises,
    name: (id) => names.get(id) || id || "–",
    dispatcher: () => $("on-duty").value.trim(),
    current: () => location.hash.replace(/^#\/?/, "") || HOME[session.role],
    back: () => (session.role === "supervisor" ? "#/board" : session.role === "auditor" ? "#/audit" : "#/tasks"),
    rerender: () => draw(),
    sound: localStorage.getItem("signalpost.sound") === "on",
  };
  context.feed = new TaskFeed({
    onChange: (task, first) => { if (first && context.feed.isFreshP1(task)) alertP1(task); scheduleDraw(); },
    onLive: (state) => { $("live").hidden = false; $("live").dataset.state = state; showLive(); },
    onRevoked: () => showSignIn(t("signin.expired")),
  });
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("signout").hidden = false;
  $("sound").hidden = session.role === "auditor";
  $("duty-label").hidden = session.role !== "dispatcher";
  $("on-duty").value = localStorage.getItem("signalpost.dispatcher") || "";
  $("on-duty").onchange = () => localStorage.setItem("signalpost.dispatcher", $("on-duty").value.trim());
  $("who").textContent = `${context.name(session.enterprise)} · ${t(`role.${session.role}`)}`;
  for (const link of document.querySelectorAll("#nav a")) link.hidden = !VIEWS[session.role].includes(link.dataset.view);
  setSoundButton();
  if (session.role !== "auditor") context.feed.start();
  draw();
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  setTimeout(() => { drawPending = false; const view = context && context.current(); if (view && !view.startsWith("incident/") && view !== "audit") draw(); }, 100);
}

function showLive() {
  const state = $("live").dataset.state;
  if (state) $("live").textContent = t(`live.${state}`);
}

function draw() {
  if (!context) return;
  translate(document);
  setSoundButton();
  showLive();
  if (context.alerted && !$("p1-alert").hidden) alertP1(context.alerted, { quiet: true });
  $("who").textContent = `${context.name(context.session.enterprise)} · ${t(`role.${context.session.role}`)}`;
  const view = context.current();
  const [name, arg] = [view.split("/")[0], view.split("/").slice(1).join("/")];
  const allowed = VIEWS[context.session.role];
  for (const link of document.querySelectorAll("#nav a")) link.setAttribute("aria-current", link.dataset.view === name ? "page" : "false");
  const root = $("content");
  if (name === "incident" && arg) renderIncident(root, decodeURIComponent(arg), context);
  else if (name === "board" && allowed.includes("board")) renderBoard(root, context, arg ? decodeURIComponent(arg) : null);
  else if (name === "audit" && allowed.includes("audit")) renderAudit(root, context);
  else if (allowed.includes("tasks")) renderTasks(root, context);
  else renderAudit(root, context);
}

function alertP1(task, { quiet = false } = {}) {
  context.alerted = task;
  const box = $("p1-alert");
  box.hidden = false;
  clear(box).append(el("strong", { text: t("p1.new") }), " ", el("a", { href: `#/incident/${encodeURIComponent(task.incident_id)}`, text: task.summary }),
    " ", el("button", { type: "button", text: t("p1.dismiss"), onclick: () => { box.hidden = true; } }));
  if (context.sound && !quiet) beep();
}

// A short two-tone alarm, made in the page: no sound file to fetch.
function beep() {
  try {
    const audio = new AudioContext();
    for (const [at, pitch] of [[0, 880], [0.25, 660], [0.5, 880]]) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = pitch;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + at);
      tone.stop(audio.currentTime + at + 0.2);
    }
  } catch { /* no audio device: the banner still shows */ }
}

function toggleSound() {
  context.sound = !context.sound;
  localStorage.setItem("signalpost.sound", context.sound ? "on" : "off");
  setSoundButton();
  if (context.sound) beep();
}

function setSoundButton() {
  if (!context) return;
  $("sound").setAttribute("aria-pressed", String(context.sound));
  $("sound").textContent = t(context.sound ? "sound.on" : "sound.off");
}

setInterval(() => { if (context) tickClocks($("content")); }, 1000);
boot();

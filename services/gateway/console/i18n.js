// Every label in Vietnamese (the default) and English, from labels.json.
let labels = { vi: {}, en: {} };
let lang = localStorage.getItem("signalpost.lang") === "en" ? "en" : "vi";
let zone = "Asia/Ho_Chi_Minh";

export async function loadLabels() {
  const answer = await fetch("/console/static/labels.json", { cache: "no-cache" });
  labels = await answer.json();
  document.documentElement.lang = lang;
}

export function t(key, params = {}) {
  let text = labels[lang][key] ?? labels.vi[key] ?? key;
  for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

export function language() {
  return lang;
}

export function setLanguage(wanted) {
  lang = wanted === "en" ? "en" : "vi";
  localStorage.setItem("signalpost.lang", lang);
  document.documentElement.lang = lang;
  translate(document);
}

export function translate(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
}

export function setZone(timezone) {
  zone = timezone;
}

// An instant in the province's time zone.
export function when(iso) {
  if (!iso) return "–";
  const at = new Date(iso);
  return at.toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

// A span as h:mm:ss (or m:ss), always positive.
export function span(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function seconds(value) {
  return value === null || value === undefined ? "–" : span(value * 1000);
}

export function share(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
}

// Rendering helpers: DOM shortcuts, and turning the API's values (times, waits, addresses) into
// what the page shows.

export const $ = (id) => document.getElementById(id);

export function show(el, visible = true) {
  el.hidden = !visible;
}

export function reportError(error, target = $("page-error")) {
  target.textContent = error instanceof Error ? error.message : String(error);
}

export function clearErrors() {
  for (const id of ["page-error", "goal-error", "project-error", "gate-error"]) $(id).textContent = "";
}

// Screen readers hear `text` once (the live region is emptied first so a repeat is spoken too).
export function announce(text) {
  const el = $("announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}

// Times arrive as epoch seconds (number or numeric string) or ISO strings.
export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = typeof value === "number" ? value : Number(value);
  if (Number.isFinite(n)) return new Date(n > 1e12 ? n : n * 1000);
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t);
}

export function formatWhen(date) {
  if (!date) return "";
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = new Date();
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (date.toDateString() === today.toDateString()) return `today at ${time}`;
  if (date.toDateString() === tomorrow.toDateString()) return `tomorrow at ${time}`;
  const day = date.toLocaleDateString([], { weekday: "long", month: "short", day: "numeric" });
  return `${day} at ${time}`;
}

export function utcTime(date) {
  return `${String(date.getUTCHours()).padStart(2, "0")}:${String(date.getUTCMinutes()).padStart(2, "0")} UTC`;
}

export function formatEta(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s) || s < 0) return "";
  if (s < 60) return "under a minute";
  const minutes = Math.round(s / 60);
  return minutes === 1 ? "about a minute" : `about ${minutes} minutes`;
}

export function ordinal(n) {
  return `#${n}`;
}

// Only http(s) addresses are linked or framed.
export function safeUrl(value) {
  if (!value) return "";
  try {
    const url = new URL(value, window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? String(value) : "";
  } catch {
    return "";
  }
}

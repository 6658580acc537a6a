// The project's line: its versions, what the next build starts from, previews and downloads.

import { api, ApiError } from "./api.js";
import { state } from "./state.js";
import { $, reportError, show } from "./ui.js";

const DECISION_BADGES = {
  iterate: ["Iterated", "info"],
  solidify: ["Solidified", "ok"],
  abandon: ["Abandoned", "muted"],
};

let onOpen = () => {};

// What "Open preview" on a version does: set once by the page (it shows that build).
export function setVersionOpener(handler) {
  onOpen = handler;
}

export async function loadVersions(projectId = state.projectId) {
  if (!projectId) return;
  try {
    const line = await api("GET", `/api/projects/${encodeURIComponent(projectId)}/versions`);
    if (state.projectId !== projectId) return;
    state.line = line;
    $("versions-error").textContent = "";
  } catch (error) {
    if (state.projectId === projectId && error.status !== 401) reportError(error, $("versions-error"));
    return;
  }
  renderVersions();
}

function badge(text, tone) {
  const el = document.createElement("span");
  el.className = "badge";
  el.textContent = text;
  if (tone) el.dataset.tone = tone;
  return el;
}

function smallButton(text, onClick, quiet = false) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `btn btn-small${quiet ? " btn-quiet" : ""}`;
  button.textContent = text;
  button.addEventListener("click", onClick);
  return button;
}

export function renderVersions() {
  const line = state.line;
  const versions = line?.versions || [];
  show($("versions-card"), versions.length > 0);
  const next = line?.next_based_on || null;
  // A project with a version to build on takes a change request; otherwise a whole goal.
  $("goal-label").textContent = next ? `Describe a change to ${next}` : "Describe your app";
  $("goal-input").placeholder = next ? "Add due dates" : "A todo app with due dates";
  $("versions-next").textContent = next
    ? `Your next build starts from ${next}${line.foundation === next ? ", the foundation" : ""} and applies your change.`
    : versions.length ? "Your next build starts fresh from its goal." : "";
  const items = versions.slice().reverse().map((version) => versionItem(version, next));
  $("versions-list").replaceChildren(...items);
}

function versionItem(version, next) {
  const li = document.createElement("li");
  li.className = "version";
  li.dataset.version = version.build_version;
  li.dataset.current = String(version.build_version === next);
  const head = document.createElement("div");
  head.className = "version-head";
  const name = document.createElement("span");
  name.className = "version-name";
  name.textContent = version.build_version;
  head.append(name);
  if (version.foundation) head.append(badge("Foundation", "ok"));
  else if (DECISION_BADGES[version.decision]) head.append(badge(...DECISION_BADGES[version.decision]));
  if (version.build_version === next) head.append(badge("Next build starts here", "busy"));
  if (version.based_on) {
    const base = document.createElement("span");
    base.className = "version-base";
    base.textContent = `on ${version.based_on}`;
    head.append(base);
  }
  const goal = document.createElement("p");
  goal.className = "version-goal";
  goal.textContent = version.goal;
  const actions = document.createElement("div");
  actions.className = "version-actions";
  const open = smallButton("Open preview", () => onOpen(version));
  open.setAttribute("aria-label", `Open the preview of ${version.build_version}`);
  const download = smallButton("Download .zip", () => downloadVersion(version, download), true);
  download.setAttribute("aria-label", `Download the files of ${version.build_version}`);
  actions.append(open, download);
  li.append(head, goal, actions);
  return li;
}

async function downloadVersion(version, button) {
  button.disabled = true;
  $("versions-error").textContent = "";
  try {
    const response = await fetch(`/api/generation/${encodeURIComponent(version.job_id)}/files.zip`, {
      headers: { Authorization: `Bearer ${state.token}` },
    });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      throw new ApiError(response.status, data?.detail, data?.code);
    }
    const blob = await response.blob();
    const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = named ? named[1] : `${version.build_version}.zip`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    reportError(error.status === 0 || !(error instanceof ApiError)
      ? "The download did not start. Check your connection and try again." : error, $("versions-error"));
  } finally {
    button.disabled = false;
  }
}

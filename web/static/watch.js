// Watching a build: the live event stream (SSE, resumed from the last event id after a drop),
// status polling as a safety net, and the finish once the build reaches a terminal status.

import { api } from "./api.js";
import { isTerminal } from "./pipeline.js";
import { showReady } from "./preview.js";
import { render } from "./progress.js";
import { showFailed, showOnlyResult } from "./results.js";
import { KEY_JOB, state, store } from "./state.js";
import { $, reportError, show } from "./ui.js";
import { loadUsage } from "./usage.js";
import { loadVersions } from "./versions.js";

// The fields of a status body or event that the page keeps for the build on screen.
const UPDATE_FIELDS = [
  "status", "stage_label", "progress", "queue_position", "eta_seconds", "scheduled_for",
  "preview_url", "build_version", "error_message", "error_detail", "debug_id", "cancelled",
  "attempt", "iteration", "files_written", "sandbox_expires_at", "failed_stage", "project_id", "goal",
  "based_on",
];

// Every event carries its stream id; after a dropped connection the browser reconnects with
// Last-Event-ID by itself. If it has not managed within a few seconds (its retry delay can be
// long, and a refused reconnect closes the stream for good), the page reopens the stream itself
// from the last id it saw (`last_event_id`), so nothing is missed or repeated either way.
const BROWSER_RETRY_GRACE_MS = 3000;

const statusPath = (job) => `/api/generation/${encodeURIComponent(job.job_id)}/status`;

export async function resumeJob(saved, { focus = false } = {}) {
  try {
    const status = await api("GET", statusPath(saved));
    watchJob({ goal: saved.goal, ...status }, { focus });
  } catch (error) {
    if (error.status === 404) store(KEY_JOB, null);
    else if (focus && error.status !== 401) reportError(error);
  }
}

export function watchJob(initial, { focus }) {
  stopWatching();
  state.job = { ...initial };
  state.lastEventId = null;
  state.reconnectDelay = 1000;
  state.goal = initial.goal || state.goal || $("goal-input").value;
  state.previewViewedFor = null;
  store(KEY_JOB, JSON.stringify({ job_id: initial.job_id, goal: state.goal }));
  showOnlyResult(null);
  show($("empty-card"), false);
  show($("build-card"), true);
  render();
  if (focus) $("build-title").focus();
  if (isTerminal(state.job.status)) {
    finish();
    return;
  }
  openStream();
  state.pollTimer = setInterval(pollIfDisconnected, 5000);
}

export function stopWatching() {
  if (state.source) {
    state.source.close();
    state.source = null;
  }
  state.sourceOpen = false;
  clearTimeout(state.reconnectTimer);
  clearInterval(state.pollTimer);
  state.reconnectTimer = null;
  state.pollTimer = null;
}

function openStream() {
  const job = state.job;
  const params = new URLSearchParams({ access_token: state.token });
  if (state.lastEventId) params.set("last_event_id", state.lastEventId);
  const source = new EventSource(`/api/generation/${encodeURIComponent(job.job_id)}/events?${params}`);
  state.source = source;
  const current = () => state.source === source && state.job === job;
  const onEvent = (event) => {
    if (!current()) return;
    if (event.lastEventId) state.lastEventId = event.lastEventId;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!data || typeof data !== "object") return;
    applyUpdate(data);
  };
  // The API names its events (snapshot / status / queue); plain messages are accepted too.
  for (const name of ["message", "snapshot", "status", "queue"]) source.addEventListener(name, onEvent);
  source.addEventListener("open", () => {
    if (!current()) return;
    state.sourceOpen = true;
    state.reconnectDelay = 1000;
    clearTimeout(state.reconnectTimer);
    setConnection("");
  });
  source.addEventListener("error", () => {
    if (!current()) return;
    state.sourceOpen = false;
    setConnection("Connection lost. Reconnecting...");
    clearTimeout(state.reconnectTimer);
    if (source.readyState === EventSource.CONNECTING) {
      // The browser is retrying; take over if it has not succeeded after a grace period.
      state.reconnectTimer = setTimeout(() => {
        if (current() && !state.sourceOpen) reopenStream(job);
      }, BROWSER_RETRY_GRACE_MS);
      return;
    }
    reopenStream(job);
  });
}

function reopenStream(job) {
  if (state.source) state.source.close();
  state.source = null;
  state.sourceOpen = false;
  const delay = state.reconnectDelay;
  state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
  pollStatus().finally(() => {
    if (state.job !== job || isTerminal(job.status) || state.source) return;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(() => {
      if (state.job === job && !isTerminal(job.status) && !state.source) openStream();
    }, delay);
  });
}

export function setConnection(text) {
  $("connection").textContent = text;
}

export async function pollStatus() {
  const job = state.job;
  if (!job) return;
  try {
    const status = await api("GET", statusPath(job));
    if (state.job && state.job.job_id === job.job_id) applyUpdate(status);
  } catch (error) {
    if (error.status === 404) {
      stopWatching();
      store(KEY_JOB, null);
      reportError("This build can no longer be found.");
    }
  }
}

function pollIfDisconnected() {
  if (!state.sourceOpen) pollStatus();
}

export function applyUpdate(data) {
  const job = state.job;
  if (!job || job.terminalShown) return;
  if (data.job_id && data.job_id !== job.job_id) return;
  // Events carry `at`, status bodies `updated_at`: never step back to an older state (a
  // resumed stream can replay transitions a status poll has already shown).
  const stamp = Date.parse(data.at || data.updated_at || "");
  if (Number.isFinite(stamp)) {
    if (job.asOf && stamp < job.asOf) return;
    job.asOf = stamp;
  }
  const previous = job.status;
  for (const field of UPDATE_FIELDS) {
    if (data[field] !== undefined && data[field] !== null) job[field] = data[field];
  }
  // A transition event carries only the new status: drop what belonged to the old one.
  if (data.status && data.status !== previous) {
    if (data.stage_label === undefined) delete job.stage_label;
    if (data.progress === undefined) delete job.progress;
    if (data.status === "failed" && !job.failed_stage) {
      const from = typeof data.from === "string" && data.from ? data.from : previous;
      if (from && !isTerminal(from)) job.failed_stage = from;
    }
    if (previous === "checks" && data.status === "scaffold" && data.iteration === undefined) {
      job.iteration = (Number(job.iteration) || 0) + 1;
    }
    if (data.status !== "queued" && data.status !== "scheduled") {
      delete job.queue_position;
      delete job.eta_seconds;
    }
  }
  render();
  if (isTerminal(job.status)) finish();
}

// A terminal status: stop listening, fetch the full record (preview URL, version, debug id).
async function finish() {
  const job = state.job;
  stopWatching();
  setConnection("");
  if (job.finishing) return;
  job.finishing = true;
  try {
    const status = await api("GET", statusPath(job));
    if (state.job !== job) return;
    for (const field of UPDATE_FIELDS) {
      if (status[field] !== undefined && status[field] !== null) job[field] = status[field];
    }
  } catch {
    /* show what we have */
  }
  if (state.job !== job) return;
  const hadFocus = document.activeElement;
  job.terminalShown = true;
  render();
  if (job.status === "ready") showReady(job);
  else showFailed(job);
  loadUsage();
  if (job.project_id && job.project_id === state.projectId) loadVersions(job.project_id);
  // Focus was on the cancel button (now hidden) or nowhere: move it to the result.
  if (!hadFocus || hadFocus === document.body || hadFocus === $("cancel-button") || hadFocus === $("build-title")) {
    (job.status === "ready" ? $("ready-title") : $("failed-title")).focus();
  }
}

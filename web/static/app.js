// Kiln build page: sign in with a token, pick a project, describe an app, watch it build.
// Plain ES module, no dependencies. Talks to the HTTP API described in DESIGN.md.

const STAGE_LABELS = {
  scheduled: "Scheduled",
  queued: "Queued...",
  starting: "Starting...",
  scaffold: "Scaffolding workspace...",
  code: "Writing code...",
  deps: "Installing dependencies...",
  checks: "Running checks...",
  ready: "Build complete!",
  failed: "Build failed",
};
const CANCELLED_LABEL = "Build cancelled";

const PROGRESS = {
  scheduled: 0, queued: 0, starting: 0.1, scaffold: 0.25, code: 0.45,
  deps: 0.65, checks: 0.85, ready: 1, failed: 1,
};

// The steps drawn under the bar, in pipeline order.
const STEPS = [
  { status: "queued", name: "Queued" },
  { status: "starting", name: "Start" },
  { status: "scaffold", name: "Scaffold" },
  { status: "code", name: "Code" },
  { status: "deps", name: "Dependencies" },
  { status: "checks", name: "Checks" },
  { status: "ready", name: "Ready" },
];
const STEP_INDEX = Object.fromEntries(STEPS.map((s, i) => [s.status, i]));
STEP_INDEX.scheduled = 0;

const GATE_PROMPT = "You've seen your MVP. Ready to decide what's next?";
const DECISIONS = [
  { value: "iterate", name: "Keep iterating", text: "Keep building on this version." },
  { value: "solidify", name: "Solidify", text: "Make this version the foundation." },
  { value: "abandon", name: "Abandon", text: "Drop this direction." },
];
const DEFAULT_FAILURE = "Your build failed. Want us to try again?";

const TERMINAL = new Set(["ready", "failed"]);
const DEFAULT_TITLE = document.title;
const KEY_TOKEN = "kiln.token";
const KEY_PROJECT = "kiln.project";
const KEY_JOB = "kiln.job";

// ---------------------------------------------------------------------------------------
// Small helpers

const $ = (id) => document.getElementById(id);

function show(el, visible = true) {
  el.hidden = !visible;
}

function store(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* storage unavailable (private mode): the page still works for this visit */
  }
}

function load(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function randomKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function decodeClaims(token) {
  try {
    const part = token.split(".")[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

// Times arrive as epoch seconds (number or numeric string) or ISO strings.
function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = typeof value === "number" ? value : Number(value);
  if (Number.isFinite(n)) return new Date(n > 1e12 ? n : n * 1000);
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t);
}

function formatWhen(date) {
  if (!date) return "";
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = new Date();
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (date.toDateString() === today.toDateString()) return `today at ${time}`;
  if (date.toDateString() === tomorrow.toDateString()) return `tomorrow at ${time}`;
  const day = date.toLocaleDateString([], { weekday: "long", month: "short", day: "numeric" });
  return `${day} at ${time}`;
}

// Only http(s) addresses are linked or framed.
function safeUrl(value) {
  if (!value) return "";
  try {
    const url = new URL(value, window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? String(value) : "";
  } catch {
    return "";
  }
}

function utcTime(date) {
  return `${String(date.getUTCHours()).padStart(2, "0")}:${String(date.getUTCMinutes()).padStart(2, "0")} UTC`;
}

function formatEta(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s) || s < 0) return "";
  if (s < 60) return "under a minute";
  const minutes = Math.round(s / 60);
  return minutes === 1 ? "about a minute" : `about ${minutes} minutes`;
}

function ordinal(n) {
  return `#${n}`;
}

class ApiError extends Error {
  constructor(status, detail, code, retryAfter) {
    super(detail || `Request failed (${status})`);
    this.status = status;
    this.code = code || "";
    this.retryAfter = retryAfter;
  }
}

// ---------------------------------------------------------------------------------------
// State

const state = {
  token: null,
  claims: null,
  projects: [],
  projectId: null,
  job: null, // the status object of the build on screen, merged from responses and events
  goal: "",
  source: null, // EventSource
  sourceOpen: false,
  reconnectTimer: null,
  reconnectDelay: 1000,
  lastEventId: null,
  pollTimer: null,
  previewViewedFor: null,
  previewObserver: null,
  previewLinkTimer: null,
  gate: null,
  line: null, // the selected project's versions (GET /api/projects/{id}/versions)
};

// ---------------------------------------------------------------------------------------
// API

async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "Kiln can't be reached. Check your connection and try again.", "network");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : "";
    const error = new ApiError(response.status, detail, data?.code, response.headers.get("Retry-After"));
    if (response.status === 401) signOut("Your token was not accepted. It may have expired: paste a new one.");
    throw error;
  }
  return data;
}

function reportError(error, target = $("page-error")) {
  target.textContent = error instanceof Error ? error.message : String(error);
}

function clearErrors() {
  for (const id of ["page-error", "goal-error", "project-error", "gate-error"]) $(id).textContent = "";
}

// ---------------------------------------------------------------------------------------
// Sign in

// The link `bin/token --url` prints carries the token in the fragment (never sent to a server).
// Keep it in localStorage and drop it from the address bar and history.
function readTokenFromHash() {
  const hash = window.location.hash.replace(/^#/, "");
  if (!hash) return null;
  const params = new URLSearchParams(hash);
  const token = params.get("token");
  if (!token) return null;
  store(KEY_TOKEN, token);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? `#${rest}` : ""));
  return token;
}

function signOut(message = "") {
  stopWatching();
  state.token = null;
  state.claims = null;
  store(KEY_TOKEN, null);
  store(KEY_JOB, null);
  show($("account"), false);
  show($("build-form-card"), false);
  showOnlyResult(null);
  show($("empty-card"), true);
  show($("signin-card"), true);
  document.title = DEFAULT_TITLE;
  $("token-error").textContent = message;
  $("token-input").value = "";
}

async function signIn(token) {
  state.token = token;
  state.claims = decodeClaims(token);
  try {
    await loadProjects(); // also checks the token: a 401 signs out with a message
  } catch (error) {
    if (error.status !== 401) {
      // Kiln unreachable or failing: keep the token, say so, let the user retry.
      show($("signin-card"), true);
      $("token-input").value = token;
      $("token-error").textContent = error.message;
    }
    return;
  }
  if (state.token !== token) return;
  show($("signin-card"), false);
  show($("build-form-card"), true);
  show($("account"), true);
  const prefix = document.createElement("span");
  prefix.className = "account-prefix";
  prefix.textContent = state.claims?.sub ? "Signed in as " : "Signed in";
  const tier = state.claims?.tier ? ` · ${state.claims.tier.replace(/_/g, " ")}` : "";
  $("account-who").replaceChildren(prefix, `${state.claims?.sub || ""}${tier}`);
  loadUsage();
  const saved = savedJob();
  if (saved) resumeJob(saved);
}

async function loadUsage() {
  try {
    const usage = await api("GET", "/api/usage");
    if (usage && usage.jobs_remaining !== undefined) {
      const n = usage.jobs_remaining;
      $("account-usage").textContent = `${n} build${n === 1 ? "" : "s"} left today`;
    }
  } catch {
    $("account-usage").textContent = "";
  }
}

// ---------------------------------------------------------------------------------------
// Projects

function projectList(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.projects)) return data.projects;
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

async function loadProjects(selectId = null) {
  const data = await api("GET", "/api/projects");
  state.projects = projectList(data).slice().sort((a, b) => (toDate(b.created_at) ?? 0) - (toDate(a.created_at) ?? 0));
  const select = $("project-select");
  select.replaceChildren();
  if (state.projects.length === 0) {
    const option = new Option("No projects yet: one is created when you build", "");
    select.add(option);
    select.disabled = true;
    state.projectId = null;
    $("project-hint").textContent = "";
    return;
  }
  select.disabled = false;
  for (const project of state.projects) select.add(new Option(project.name || project.project_id, project.project_id));
  const wanted = selectId || load(KEY_PROJECT);
  const chosen = state.projects.find((p) => p.project_id === wanted) || state.projects[0];
  select.value = chosen.project_id;
  selectProject(chosen.project_id);
}

function selectProject(projectId) {
  state.projectId = projectId;
  store(KEY_PROJECT, projectId);
  $("project-hint").textContent = "";
  state.line = null;
  renderVersions();
  if (projectId) {
    checkPendingGate(projectId);
    loadVersions(projectId);
  }
}

async function createProject(name) {
  const project = await api("POST", "/api/projects", { name });
  await loadProjects(project.project_id);
  return project;
}

function projectNameFromGoal(goal) {
  const words = goal.trim().split(/\s+/).slice(0, 6).join(" ");
  return words.length > 60 ? `${words.slice(0, 57)}...` : words || "My app";
}

// A project with a pending gate cannot start a build until the gate is resolved.
async function checkPendingGate(projectId) {
  let gate = null;
  try {
    const project = await api("GET", `/api/projects/${encodeURIComponent(projectId)}`);
    gate = project?.pending_gate || null;
    if (!gate) {
      const gates = await api("GET", `/api/projects/${encodeURIComponent(projectId)}/gates`);
      const list = Array.isArray(gates) ? gates : gates?.gates || [];
      gate = list.find((g) => g.status === "pending") || null;
    }
  } catch {
    return;
  }
  if (state.projectId !== projectId) return;
  if (gate && typeof gate === "object" && (gate.gate_id || gate.id)) {
    $("project-hint").textContent = "This project has a decision waiting before its next build.";
    // Don't cover a build the user is watching; show the gate only on an idle page.
    if (!state.job || TERMINAL.has(state.job.status)) showGate(gate.gate_id || gate.id, gate);
  } else if (state.gate && !state.gate.resolved && state.gate.projectId === projectId) {
    show($("gate-card"), false);
    state.gate = null;
  }
}

// ---------------------------------------------------------------------------------------
// The project's line: its versions, what the next build starts from, previews and exports

const DECISION_BADGES = {
  iterate: ["Iterated", "info"],
  solidify: ["Solidified", "ok"],
  abandon: ["Abandoned", "muted"],
};

async function loadVersions(projectId = state.projectId) {
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

function renderVersions() {
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
  const items = versions.slice().reverse().map((version) => {
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
    const open = smallButton("Open preview", () => openVersion(version));
    open.setAttribute("aria-label", `Open the preview of ${version.build_version}`);
    const download = smallButton("Download .zip", () => downloadVersion(version, download), true);
    download.setAttribute("aria-label", `Download the files of ${version.build_version}`);
    actions.append(open, download);
    li.append(head, goal, actions);
    return li;
  });
  $("versions-list").replaceChildren(...items);
}

// A version's preview opens in the build panel, like a build that just finished.
function openVersion(version) {
  clearErrors();
  resumeJob({ job_id: version.job_id, goal: version.goal }, { focus: true });
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

// ---------------------------------------------------------------------------------------
// Starting a build

async function startBuild(goal, { projectId = state.projectId } = {}) {
  clearErrors();
  const button = $("start-button");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    if (!projectId) {
      const project = await createProject(projectNameFromGoal(goal));
      projectId = project.project_id;
    }
    const started = await api("POST", "/api/generation/start", { project_id: projectId, goal },
      { "Idempotency-Key": randomKey() });
    state.gate = null;
    show($("gate-card"), false);
    watchJob({ ...started, project_id: projectId, goal }, { focus: true });
    loadUsage();
  } catch (error) {
    handleStartError(error, projectId);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function handleStartError(error, projectId) {
  if (error.status === 401) return;
  if (error.status === 409) {
    $("goal-error").textContent = error.message || "This project has a decision waiting. Choose what's next first.";
    if (projectId) checkPendingGate(projectId);
    return;
  }
  if (error.status === 503) {
    const wait = Number(error.retryAfter);
    const when = Number.isFinite(wait) && wait > 0 ? ` Try again in ${formatEta(wait)}.` : " Try again in a moment.";
    $("goal-error").textContent = `Kiln is very busy right now.${when}`;
    return;
  }
  if (error.status === 403) {
    $("goal-error").textContent = error.message || "Your plan doesn't include builds.";
    return;
  }
  if (error.status === 404) {
    $("goal-error").textContent = "That project no longer exists. Pick another one.";
    loadProjects().catch(() => {});
    return;
  }
  $("goal-error").textContent = error.message;
}

// ---------------------------------------------------------------------------------------
// Watching a build: SSE with Last-Event-ID resume, status polling as a safety net

function savedJob() {
  try {
    const saved = JSON.parse(load(KEY_JOB) || "null");
    return saved && typeof saved.job_id === "string" ? saved : null;
  } catch {
    return null;
  }
}

async function resumeJob(saved, { focus = false } = {}) {
  try {
    const status = await api("GET", `/api/generation/${encodeURIComponent(saved.job_id)}/status`);
    watchJob({ goal: saved.goal, ...status }, { focus });
  } catch (error) {
    if (error.status === 404) store(KEY_JOB, null);
    else if (focus && error.status !== 401) reportError(error);
  }
}

function watchJob(initial, { focus }) {
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
  if (TERMINAL.has(state.job.status)) {
    finish();
    return;
  }
  openStream();
  state.pollTimer = setInterval(pollIfDisconnected, 5000);
}

function stopWatching() {
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

// The live event stream. Every event carries its stream id; after a dropped connection the
// browser reconnects with Last-Event-ID by itself. If it has not managed within a few seconds
// (its retry delay can be long, and a refused reconnect closes the stream for good), the page
// reopens the stream itself from the last id it saw (`last_event_id`), so nothing is missed
// or repeated either way.
const BROWSER_RETRY_GRACE_MS = 3000;

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
    if (state.job !== job || TERMINAL.has(job.status) || state.source) return;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(() => {
      if (state.job === job && !TERMINAL.has(job.status) && !state.source) openStream();
    }, delay);
  });
}

function setConnection(text) {
  $("connection").textContent = text;
}

async function pollStatus() {
  const job = state.job;
  if (!job) return;
  try {
    const status = await api("GET", `/api/generation/${encodeURIComponent(job.job_id)}/status`);
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

const UPDATE_FIELDS = [
  "status", "stage_label", "progress", "queue_position", "eta_seconds", "scheduled_for",
  "preview_url", "build_version", "error_message", "error_detail", "debug_id", "cancelled",
  "attempt", "iteration", "files_written", "sandbox_expires_at", "failed_stage", "project_id", "goal",
  "based_on",
];

function applyUpdate(data) {
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
      if (from && !TERMINAL.has(from)) job.failed_stage = from;
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
  if (TERMINAL.has(job.status)) finish();
}

// A terminal status: stop listening, fetch the full record (preview URL, version, debug id).
async function finish() {
  const job = state.job;
  stopWatching();
  setConnection("");
  if (job.finishing) return;
  job.finishing = true;
  try {
    const status = await api("GET", `/api/generation/${encodeURIComponent(job.job_id)}/status`);
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

// ---------------------------------------------------------------------------------------
// Rendering

function isCancelled(job) {
  return job.status === "failed" && (job.cancelled === true || job.cancelled === "1" || job.cancelled === 1);
}

function labelFor(job) {
  if (isCancelled(job)) return CANCELLED_LABEL;
  return job.stage_label || STAGE_LABELS[job.status] || job.status;
}

function failedStageOf(job) {
  if (job.failed_stage && STEP_INDEX[job.failed_stage] !== undefined) return job.failed_stage;
  // Infer from the progress the API reports for a failed job (the failed stage's progress).
  const p = Number(job.progress);
  if (Number.isFinite(p) && p < 1) {
    let best = "queued";
    for (const step of STEPS) if (PROGRESS[step.status] <= p + 1e-9) best = step.status;
    return best;
  }
  return null;
}

function progressOf(job) {
  // A failed build's bar stops where the build stopped.
  let p = job.status === "failed" && job.failed_stage in PROGRESS ? PROGRESS[job.failed_stage] : Number(job.progress);
  if (!Number.isFinite(p)) p = PROGRESS[job.status] ?? 0;
  return Math.round(Math.max(0, Math.min(1, p)) * 100);
}

function badgeFor(job) {
  if (isCancelled(job)) return ["Cancelled", "muted"];
  switch (job.status) {
    case "scheduled": return ["Scheduled", "info"];
    case "queued": return ["In queue", "info"];
    case "ready": return ["Ready", "ok"];
    case "failed": return ["Failed", "bad"];
    default: return ["Building", "busy"];
  }
}

function render() {
  const job = state.job;
  if (!job) return;
  const status = job.status;
  const label = labelFor(job);
  const value = progressOf(job);
  const cancelled = isCancelled(job);

  const goal = job.goal || state.goal || "";
  $("build-goal").textContent = job.based_on ? `Change to ${job.based_on}: ${goal}` : goal;
  const [badge, tone] = badgeFor(job);
  const badgeEl = $("build-badge");
  badgeEl.textContent = badge;
  badgeEl.dataset.tone = tone;

  const labelEl = $("stage-label");
  if (labelEl.textContent !== label) labelEl.textContent = label;
  labelEl.dataset.status = cancelled ? "cancelled" : status;

  const bar = $("progress");
  bar.setAttribute("aria-valuenow", String(value));
  bar.setAttribute("aria-valuetext", `${label} ${value}%`);
  bar.dataset.status = cancelled ? "cancelled" : status;
  $("progress-fill").style.width = `${value}%`;

  renderSteps(job);
  $("build-note").textContent = noteFor(job);
  document.title = `${label} · Kiln`;
  show($("running-actions"), !TERMINAL.has(status));
  $("cancel-button").disabled = false;
}

function renderSteps(job) {
  const list = $("stages");
  if (list.children.length !== STEPS.length) {
    list.replaceChildren(...STEPS.map((step) => {
      const li = document.createElement("li");
      li.className = "step";
      li.dataset.step = step.status;
      const dot = document.createElement("span");
      dot.className = "step-dot";
      dot.setAttribute("aria-hidden", "true");
      const name = document.createElement("span");
      name.className = "step-name";
      name.textContent = step.name;
      const sr = document.createElement("span");
      sr.className = "visually-hidden step-state";
      li.append(dot, name, sr);
      return li;
    }));
  }
  let current;
  let failedAt = -1;
  if (job.status === "failed") {
    const stage = failedStageOf(job);
    failedAt = stage ? STEP_INDEX[stage] : 0;
    current = failedAt;
  } else {
    current = STEP_INDEX[job.status] ?? 0;
  }
  for (const [i, li] of [...list.children].entries()) {
    let st;
    if (job.status === "ready") st = "done";
    else if (i < current) st = "done";
    else if (i === current) st = failedAt === i ? (isCancelled(job) ? "stopped" : "failed") : "current";
    else st = "todo";
    li.dataset.state = st;
    if (i === 0) li.querySelector(".step-name").textContent = job.status === "scheduled" ? "Scheduled" : STEPS[0].name;
    if (st === "current") li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
    li.querySelector(".step-state").textContent = {
      done: ": done", current: ": in progress", todo: "", failed: ": failed", stopped: ": stopped",
    }[st];
  }
}

function noteFor(job) {
  switch (job.status) {
    case "queued": {
      const parts = [];
      const pos = Number(job.queue_position);
      if (Number.isFinite(pos) && pos > 0) parts.push(`You're ${ordinal(pos)} in the queue.`);
      else parts.push("Waiting for a free builder.");
      const eta = formatEta(job.eta_seconds);
      if (eta) parts.push(`Starts in ${eta}.`);
      return parts.join(" ");
    }
    case "scheduled": {
      const when = toDate(job.scheduled_for);
      return when
        ? `Today's build quota is used up. This build starts ${formatWhen(when)} (${utcTime(when)}).`
        : "Today's build quota is used up. This build starts when the quota resets at 00:00 UTC.";
    }
    case "scaffold":
    case "code":
    case "deps":
    case "checks": {
      const round = Number(job.iteration) || 0;
      return round > 0 ? `Fixing what the checks found: round ${round + 1}.` : "";
    }
    default:
      return "";
  }
}

function showOnlyResult(which) {
  for (const id of ["ready-card", "failed-card", "gate-card"]) {
    if (id !== which) show($(id), false);
  }
  if (which) show($(which), true);
  if (which !== "ready-card") {
    const frame = $("preview-frame");
    if (frame.getAttribute("src")) frame.removeAttribute("src");
  }
}

function showReady(job) {
  showOnlyResult("ready-card");
  $("ready-version").textContent = job.build_version || "—";
  const files = Number(job.files_written);
  const knownFiles = job.files_written !== undefined && job.files_written !== null && Number.isFinite(files);
  $("ready-files").textContent = knownFiles ? String(files) : "";
  $("ready-files-row").hidden = !knownFiles;
  $("ready-base").textContent = job.based_on || "";
  $("ready-base-row").hidden = !job.based_on;
  const expires = toDate(job.sandbox_expires_at);
  $("ready-expires").textContent = expires ? formatWhen(expires) : "—";
  $("ready-expires").closest("div").hidden = !expires;
  const url = safeUrl(job.preview_url);
  const expired = Boolean(expires && expires.getTime() <= Date.now());
  const link = $("preview-link");
  link.removeAttribute("href");
  show(link.parentElement, Boolean(url));
  show($("preview-frame").parentElement, Boolean(url) && !expired);
  // An expired preview wakes up when opened (docs/previews.md); it is not framed here, so
  // looking at an old build starts nothing by itself.
  $("ready-note").textContent = expired
    ? "This build's preview is asleep. Opening it starts the app again; that takes a moment."
    : url ? "" : "This build has no preview address.";
  $("preview-url").textContent = url;  // the stable URL; the frame and link carry a signed one
  const frame = $("preview-frame");
  if (!url) return;
  if (expired) return void openPreview(job, null, link);
  watchPreview(frame, job);
  openPreview(job, frame, link);
}

// The preview lives on its own origin and lets in its owner's browser through a signed,
// expiring link (docs/previews.md): following it sets a cookie for that preview only. The
// link is renewed before it expires, so "Open the preview" keeps working on a page left open.
async function openPreview(job, frame, link) {
  clearTimeout(state.previewLinkTimer);
  let minted;
  try {
    minted = await api("POST", `/api/generation/${encodeURIComponent(job.job_id)}/preview-link`);
  } catch (error) {
    if (state.job === job) $("ready-note").textContent = error.message || "The preview could not be opened.";
    return;
  }
  if (state.job !== job) return;
  const signed = safeUrl(minted.url);
  link.href = signed;
  if (frame && signed) frame.src = signed;
  const left = (toDate(minted.expires_at)?.getTime() ?? 0) - Date.now();
  if (left > 0) {
    state.previewLinkTimer = setTimeout(() => {
      if (state.job === job && link.getAttribute("href")) openPreview(job, null, link);
    }, Math.max(left / 2, 1000));
  }
}

// The preview counts as viewed once the iframe has loaded the app and is on screen.
function watchPreview(frame, job) {
  if (state.previewObserver) state.previewObserver.disconnect();
  let loaded = false;
  let visible = false;
  const check = () => {
    if (loaded && visible && state.job === job && frame.getAttribute("src")) {
      if (state.previewObserver) state.previewObserver.disconnect();
      state.previewObserver = null;
      previewViewed(job);
    }
  };
  frame.onload = () => {
    loaded = Boolean(frame.getAttribute("src"));
    check();
  };
  if ("IntersectionObserver" in window) {
    state.previewObserver = new IntersectionObserver((entries) => {
      visible = entries.some((e) => e.isIntersecting);
      check();
    }, { threshold: 0.25 });
    state.previewObserver.observe(frame);
  } else {
    visible = true;
  }
}

async function previewViewed(job) {
  if (state.previewViewedFor === job.job_id) return;
  state.previewViewedFor = job.job_id;
  try {
    const result = await api("POST", `/api/generation/${encodeURIComponent(job.job_id)}/preview-viewed`);
    if (state.job !== job) return;
    if (result?.status === "gate_created" && result.gate_id) {
      showGate(result.gate_id, result);
    } else if (job.project_id) {
      // Created earlier (this page was reloaded): show it only while it is still undecided.
      checkPendingGate(job.project_id);
    }
  } catch (error) {
    state.previewViewedFor = null;
    if (error.status !== 409) reportError(error, $("gate-error"));
  }
}

function showGate(gateId, gate = {}) {
  if (state.gate && state.gate.id === gateId) {
    show($("gate-card"), true);
    return;
  }
  state.gate = { id: gateId, projectId: gate.project_id || state.job?.project_id || state.projectId, resolved: false };
  $("gate-title").textContent = gate.prompt || GATE_PROMPT;
  $("gate-result").textContent = "";
  $("gate-error").textContent = "";
  show($("gate-sub"), true);
  const group = $("gate-decisions");
  group.replaceChildren(...DECISIONS.map((d) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "decision";
    button.dataset.decision = d.value;
    const name = document.createElement("span");
    name.className = "decision-name";
    name.textContent = d.name;
    const text = document.createElement("span");
    text.className = "decision-text";
    text.textContent = d.text;
    button.append(name, text);
    button.addEventListener("click", () => resolveGate(d));
    return button;
  }));
  show($("gate-card"), true);
  announce(`${$("gate-title").textContent} Three choices follow the preview.`);
}

function announce(text) {
  const el = $("announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}

async function resolveGate(decision) {
  const gate = state.gate;
  if (!gate || gate.resolved) return;
  const buttons = [...$("gate-decisions").querySelectorAll("button")];
  for (const b of buttons) b.disabled = true;
  $("gate-error").textContent = "";
  try {
    await api("POST", `/api/gates/${encodeURIComponent(gate.id)}/resolve`, { decision: decision.value });
    gate.resolved = true;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.decision === decision.value));
    show($("gate-sub"), false);
    $("gate-result").textContent = `Decision saved: ${decision.name}. You can start the next build.`;
    $("project-hint").textContent = "";
    if (gate.projectId) loadVersions(gate.projectId);
  } catch (error) {
    if (error.status === 409) {
      gate.resolved = true;
      $("gate-result").textContent = "This decision was already made.";
    } else {
      for (const b of buttons) b.disabled = false;
      reportError(error, $("gate-error"));
    }
  }
}

function showFailed(job) {
  showOnlyResult("failed-card");
  const cancelled = isCancelled(job);
  $("failed-title").textContent = cancelled ? CANCELLED_LABEL : STAGE_LABELS.failed;
  $("failed-card").dataset.kind = cancelled ? "cancelled" : "failed";
  $("failed-message").textContent = cancelled
    ? "You cancelled this build. Nothing of it is still running."
    : job.error_message || DEFAULT_FAILURE;
  $("failed-debug-id").textContent = job.debug_id || "—";
  $("failed-job-id").textContent = job.job_id;
  const stage = failedStageOf(job);
  $("failed-stage").textContent = stage ? STAGE_LABELS[stage].replace(/\.\.\.$/, "") : "";
  $("failed-stage-row").hidden = !stage;
  const detail = $("failed-text");
  detail.textContent = job.error_detail || "";
  detail.hidden = !job.error_detail;
  $("failed-detail").open = false;
  $("retry-button").textContent = cancelled ? "Start again" : "Try again";
}

// ---------------------------------------------------------------------------------------
// Cancel

function askCancel() {
  const dialog = $("cancel-dialog");
  if (!state.job || TERMINAL.has(state.job.status)) return;
  dialog.returnValue = "";
  dialog.showModal();
}

async function cancelBuild() {
  const job = state.job;
  if (!job || TERMINAL.has(job.status)) return;
  const button = $("cancel-button");
  button.disabled = true;
  setConnection("Cancelling...");
  try {
    await api("POST", `/api/generation/${encodeURIComponent(job.job_id)}/cancel`);
    if (state.job !== job) return;
    applyUpdate({ status: "failed", cancelled: true, error_message: "Cancelled by user" });
  } catch (error) {
    button.disabled = false;
    setConnection("");
    if (error.status === 409) {
      // Finished before the cancel arrived: show how it ended.
      pollStatus();
    } else if (error.status !== 401) {
      reportError(error);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Wiring

function wire() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
    if (!token) {
      $("token-error").textContent = "Paste your access token first.";
      $("token-input").focus();
      return;
    }
    $("token-error").textContent = "";
    store(KEY_TOKEN, token);
    signIn(token);
  });

  $("sign-out").addEventListener("click", () => signOut());

  $("project-select").addEventListener("change", (event) => selectProject(event.target.value));

  $("project-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("project-name");
    const name = input.value.trim();
    $("project-error").textContent = "";
    if (!name) {
      $("project-error").textContent = "Give the project a name.";
      input.focus();
      return;
    }
    try {
      await createProject(name);
      input.value = "";
      $("new-project").open = false;
      $("project-select").focus();
    } catch (error) {
      if (error.status !== 401) reportError(error, $("project-error"));
    }
  });

  $("goal-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const goal = $("goal-input").value.trim();
    if (!goal) {
      $("goal-error").textContent = "Describe the app you want first.";
      $("goal-input").focus();
      return;
    }
    startBuild(goal);
  });

  // Ctrl/Cmd+Enter in the goal starts the build.
  $("goal-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("goal-form").requestSubmit();
    }
  });

  $("cancel-button").addEventListener("click", askCancel);
  $("cancel-dialog").addEventListener("close", () => {
    if ($("cancel-dialog").returnValue === "cancel") cancelBuild();
    else $("cancel-button").focus();
  });

  $("retry-button").addEventListener("click", () => {
    const job = state.job;
    const goal = job?.goal || state.goal;
    if (!goal) {
      $("goal-input").focus();
      return;
    }
    startBuild(goal, { projectId: job?.project_id || state.projectId });
  });

  // The token link opened in a tab that already shows the page.
  window.addEventListener("hashchange", () => {
    const token = readTokenFromHash();
    if (token && token !== state.token) signIn(token);
  });

  // Back from another tab: catch up at once rather than waiting for the next event.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.job && !TERMINAL.has(state.job.status)) pollStatus();
  });
}

function main() {
  wire();
  readTokenFromHash();
  const token = load(KEY_TOKEN);
  if (token) signIn(token);
  else signOut();
}

main();

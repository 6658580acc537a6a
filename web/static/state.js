// What the page holds: the state its modules share, and what it remembers across visits
// (localStorage: the token, the project, the build on screen).

export const state = {
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

export const KEY_TOKEN = "kiln.token";
export const KEY_PROJECT = "kiln.project";
export const KEY_JOB = "kiln.job";

export function store(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* storage unavailable (private mode): the page still works for this visit */
  }
}

export function load(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

// The build on screen at the last visit: {job_id, goal}, or null.
export function savedJob() {
  try {
    const saved = JSON.parse(load(KEY_JOB) || "null");
    return saved && typeof saved.job_id === "string" ? saved : null;
  } catch {
    return null;
  }
}

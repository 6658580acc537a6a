// Signing in with a bearer token (pasted, or from the `#token=` link) and out again.

import { loadPipeline } from "./pipeline.js";
import { loadProjects } from "./projects.js";
import { showOnlyResult } from "./results.js";
import { KEY_JOB, KEY_TOKEN, savedJob, state, store } from "./state.js";
import { $, show } from "./ui.js";
import { loadUsage } from "./usage.js";
import { resumeJob, stopWatching } from "./watch.js";

const DEFAULT_TITLE = document.title;

function decodeClaims(token) {
  try {
    const part = token.split(".")[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

// The link `bin/token --url` prints carries the token in the fragment (never sent to a server).
// Keep it in localStorage and drop it from the address bar and history.
export function readTokenFromHash() {
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

export function signOut(message = "") {
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

export async function signIn(token) {
  state.token = token;
  state.claims = decodeClaims(token);
  try {
    // The projects also check the token: a 401 signs out with a message. The pipeline's
    // labels are needed before any build is shown.
    await Promise.all([loadProjects(), loadPipeline()]);
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

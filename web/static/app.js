// Kiln build page: sign in with a token, pick a project, describe an app, watch it build.
// The entry module: wires the page's controls to the modules that do the work. Plain ES
// modules, no dependencies; they talk to the HTTP API described in DESIGN.md and take every
// label, progress value and prompt they show from it.

import { setUnauthorizedHandler } from "./api.js";
import { askCancel, cancelBuild, retryBuild, startBuild } from "./build.js";
import { isTerminal } from "./pipeline.js";
import { createProject, selectProject } from "./projects.js";
import { readTokenFromHash, signIn, signOut } from "./session.js";
import { KEY_TOKEN, load, state, store } from "./state.js";
import { $, clearErrors, reportError } from "./ui.js";
import { setVersionOpener } from "./versions.js";
import { pollStatus, resumeJob } from "./watch.js";

function wireSignIn() {
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
  // The token link opened in a tab that already shows the page.
  window.addEventListener("hashchange", () => {
    const token = readTokenFromHash();
    if (token && token !== state.token) signIn(token);
  });
}

function wireProjects() {
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
}

function wireBuild() {
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
  $("retry-button").addEventListener("click", retryBuild);
  // Back from another tab: catch up at once rather than waiting for the next event.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.job && !isTerminal(state.job.status)) pollStatus();
  });
}

function main() {
  setUnauthorizedHandler(() => signOut("Your token was not accepted. It may have expired: paste a new one."));
  // A version's preview opens in the build panel, like a build that just finished.
  setVersionOpener((version) => {
    clearErrors();
    resumeJob({ job_id: version.job_id, goal: version.goal }, { focus: true });
  });
  wireSignIn();
  wireProjects();
  wireBuild();
  readTokenFromHash();
  const token = load(KEY_TOKEN);
  if (token) signIn(token);
  else signOut();
}

main();

// Starting a build (from a goal, or again after a failure) and cancelling the one on screen.

import { api } from "./api.js";
import { hideGate } from "./gate.js";
import { isTerminal } from "./pipeline.js";
import { checkPendingGate, createProject, loadProjects, projectNameFromGoal } from "./projects.js";
import { state } from "./state.js";
import { $, clearErrors, formatEta, reportError } from "./ui.js";
import { loadUsage } from "./usage.js";
import { applyUpdate, pollStatus, setConnection, watchJob } from "./watch.js";

function randomKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function startBuild(goal, { projectId = state.projectId } = {}) {
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
    hideGate();
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

// "Try again" / "Start again": the same goal once more, as a new build of the same project.
export function retryBuild() {
  const job = state.job;
  const goal = job?.goal || state.goal;
  if (!goal) {
    $("goal-input").focus();
    return;
  }
  startBuild(goal, { projectId: job?.project_id || state.projectId });
}

export function askCancel() {
  const dialog = $("cancel-dialog");
  if (!state.job || isTerminal(state.job.status)) return;
  dialog.returnValue = "";
  dialog.showModal();
}

export async function cancelBuild() {
  const job = state.job;
  if (!job || isTerminal(job.status)) return;
  const button = $("cancel-button");
  button.disabled = true;
  setConnection("Cancelling...");
  try {
    await api("POST", `/api/generation/${encodeURIComponent(job.job_id)}/cancel`);
    if (state.job !== job) return;
    // The finish that follows fetches the cancelled build's record (its message, debug id).
    applyUpdate({ status: "failed", cancelled: true });
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

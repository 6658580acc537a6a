// The project picker: list, select, create; a project with a pending gate says so.

import { api } from "./api.js";
import { hideGate, showGate } from "./gate.js";
import { isTerminal } from "./pipeline.js";
import { KEY_PROJECT, load, state, store } from "./state.js";
import { $, toDate } from "./ui.js";
import { loadVersions, renderVersions } from "./versions.js";

function projectList(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.projects)) return data.projects;
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

export async function loadProjects(selectId = null) {
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

export function selectProject(projectId) {
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

export async function createProject(name) {
  const project = await api("POST", "/api/projects", { name });
  await loadProjects(project.project_id);
  return project;
}

export function projectNameFromGoal(goal) {
  const words = goal.trim().split(/\s+/).slice(0, 6).join(" ");
  return words.length > 60 ? `${words.slice(0, 57)}...` : words || "My app";
}

// A project with a pending gate cannot start a build until the gate is resolved.
export async function checkPendingGate(projectId) {
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
    if (!state.job || isTerminal(state.job.status)) showGate(gate.gate_id || gate.id, gate);
  } else if (state.gate && !state.gate.resolved && state.gate.projectId === projectId) {
    hideGate();
  }
}

// The solidification gate: after the preview has been seen, the project asks what comes next.
// The question is the gate's own (`prompt`); the choices are the API's decisions.

import { api } from "./api.js";
import { state } from "./state.js";
import { $, announce, reportError, show } from "./ui.js";
import { loadVersions } from "./versions.js";

const DECISIONS = [
  { value: "iterate", name: "Keep iterating", text: "Keep building on this version." },
  { value: "solidify", name: "Solidify", text: "Make this version the foundation." },
  { value: "abandon", name: "Abandon", text: "Drop this direction." },
];

function decisionButton(decision) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "decision";
  button.dataset.decision = decision.value;
  const name = document.createElement("span");
  name.className = "decision-name";
  name.textContent = decision.name;
  const text = document.createElement("span");
  text.className = "decision-text";
  text.textContent = decision.text;
  button.append(name, text);
  button.addEventListener("click", () => resolveGate(decision));
  return button;
}

// `gate`: a gate body, or the preview-viewed answer (both carry the gate's prompt).
export function showGate(gateId, gate = {}) {
  if (state.gate && state.gate.id === gateId) {
    show($("gate-card"), true);
    return;
  }
  state.gate = { id: gateId, projectId: gate.project_id || state.job?.project_id || state.projectId, resolved: false };
  $("gate-title").textContent = gate.prompt || "";
  $("gate-result").textContent = "";
  $("gate-error").textContent = "";
  show($("gate-sub"), true);
  $("gate-decisions").replaceChildren(...DECISIONS.map(decisionButton));
  show($("gate-card"), true);
  announce(`${$("gate-title").textContent} Three choices follow the preview.`);
}

export function hideGate() {
  state.gate = null;
  show($("gate-card"), false);
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

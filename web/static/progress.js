// The build panel while a build runs: its label, bar, steps, badge and note. Labels and
// progress are the API's (each status body and event carries them; pipeline.js has the rest).

import { cancelledLabel, isTerminal, labelOf, progressOf as progressOfStatus } from "./pipeline.js";
import { state } from "./state.js";
import { $, formatEta, formatWhen, ordinal, show, toDate, utcTime } from "./ui.js";

// The steps drawn under the bar, in pipeline order, with the page's short names for them.
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

export function isCancelled(job) {
  return job.status === "failed" && (job.cancelled === true || job.cancelled === "1" || job.cancelled === 1);
}

function labelFor(job) {
  if (isCancelled(job)) return cancelledLabel();
  return job.stage_label || labelOf(job.status);
}

// Where a failed build stopped (the API sends it with the failure).
export function failedStageOf(job) {
  return job.failed_stage && STEP_INDEX[job.failed_stage] !== undefined ? job.failed_stage : null;
}

function progressOf(job) {
  let p = Number(job.progress);
  // Only a change the page made itself (a cancel) comes without it: the bar stops where the
  // build stopped.
  if (!Number.isFinite(p)) p = progressOfStatus(job.status === "failed" ? failedStageOf(job) ?? "failed" : job.status);
  if (!Number.isFinite(p)) p = 0;
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

export function render() {
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
  show($("running-actions"), !isTerminal(status));
  $("cancel-button").disabled = false;
}

function stepItem(step) {
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
}

const STEP_STATE_TEXT = { done: ": done", current: ": in progress", todo: "", failed: ": failed", stopped: ": stopped" };

function renderSteps(job) {
  const list = $("stages");
  if (list.children.length !== STEPS.length) list.replaceChildren(...STEPS.map(stepItem));
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
    li.querySelector(".step-state").textContent = STEP_STATE_TEXT[st];
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

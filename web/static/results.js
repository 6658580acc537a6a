// How a build ended: one result card at a time (ready, failed or the gate), and the failure
// card. The ready card and its preview are in preview.js.

import { cancelledLabel, labelOf } from "./pipeline.js";
import { failedStageOf, isCancelled } from "./progress.js";
import { $, show } from "./ui.js";

export function showOnlyResult(which) {
  for (const id of ["ready-card", "failed-card", "gate-card"]) {
    if (id !== which) show($(id), false);
  }
  if (which) show($(which), true);
  if (which !== "ready-card") {
    const frame = $("preview-frame");
    if (frame.getAttribute("src")) frame.removeAttribute("src");
  }
}

export function showFailed(job) {
  showOnlyResult("failed-card");
  const cancelled = isCancelled(job);
  $("failed-title").textContent = cancelled ? cancelledLabel() : labelOf("failed");
  $("failed-card").dataset.kind = cancelled ? "cancelled" : "failed";
  $("failed-message").textContent = cancelled
    ? "You cancelled this build. Nothing of it is still running."
    : job.error_message || "";
  $("failed-debug-id").textContent = job.debug_id || "—";
  $("failed-job-id").textContent = job.job_id;
  const stage = failedStageOf(job);
  $("failed-stage").textContent = stage ? labelOf(stage).replace(/\.\.\.$/, "") : "";
  $("failed-stage-row").hidden = !stage;
  const detail = $("failed-text");
  detail.textContent = job.error_detail || "";
  detail.hidden = !job.error_detail;
  $("failed-detail").open = false;
  $("retry-button").textContent = cancelled ? "Start again" : "Try again";
}

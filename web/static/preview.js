// A READY build: its summary, the preview in a frame and behind a link, and the gate that
// seeing the preview raises.

import { api } from "./api.js";
import { showGate } from "./gate.js";
import { checkPendingGate } from "./projects.js";
import { showOnlyResult } from "./results.js";
import { state } from "./state.js";
import { $, formatWhen, reportError, safeUrl, show, toDate } from "./ui.js";

export function showReady(job) {
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

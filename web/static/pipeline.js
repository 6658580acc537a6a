// The pipeline as the API describes it (GET /api/pipeline): each status's label, progress and
// whether it ends a build, and a cancelled build's label. The page keeps no copy of its own.

import { api } from "./api.js";

let statuses = new Map(); // status -> {label, progress, terminal}
let cancelled = "";
let loading = null;

// Loaded once per visit, before a build is shown; a failed load is tried again next time.
export function loadPipeline() {
  loading ??= api("GET", "/api/pipeline").then((data) => {
    statuses = new Map(data.statuses.map((s) => [s.status, s]));
    cancelled = data.cancelled_label;
  }).catch((error) => {
    loading = null;
    throw error;
  });
  return loading;
}

export function labelOf(status) {
  return statuses.get(status)?.label ?? status;
}

export function progressOf(status) {
  return statuses.get(status)?.progress;
}

export function isTerminal(status) {
  return statuses.get(status)?.terminal === true;
}

export function cancelledLabel() {
  return cancelled;
}

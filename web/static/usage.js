// The account line's "N builds left today" (GET /api/usage).

import { api } from "./api.js";
import { $ } from "./ui.js";

export async function loadUsage() {
  try {
    const usage = await api("GET", "/api/usage");
    if (usage && usage.jobs_remaining !== undefined) {
      const n = usage.jobs_remaining;
      $("account-usage").textContent = `${n} build${n === 1 ? "" : "s"} left today`;
    }
  } catch {
    $("account-usage").textContent = "";
  }
}

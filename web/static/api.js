// The HTTP API client: JSON in and out, the bearer token, errors as ApiError {status, code}.

import { state } from "./state.js";

export class ApiError extends Error {
  constructor(status, detail, code, retryAfter) {
    super(detail || `Request failed (${status})`);
    this.status = status;
    this.code = code || "";
    this.retryAfter = retryAfter;
  }
}

let onUnauthorized = () => {};

// What to do when the API refuses the token (401): set once by the page (it signs out).
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "Kiln can't be reached. Check your connection and try again.", "network");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : "";
    const error = new ApiError(response.status, detail, data?.code, response.headers.get("Retry-After"));
    if (response.status === 401) onUnauthorized();
    throw error;
  }
  return data;
}

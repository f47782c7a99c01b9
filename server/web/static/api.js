// The REST API as the page uses it. The access token lives in localStorage; any 401 clears it
// and tells the app (which shows the login view again).

const TOKEN_KEY = "studyroom.token";
const EXPIRY_KEY = "studyroom.token_expires";

// An error answer: `detail` is for people, `code` (docs/protocol.md, "Error codes") for code.
export class ApiError extends Error {
  constructor(status, detail, code = null) {
    super(describe(detail, status));
    this.status = status;
    this.detail = detail;
    this.code = code;
  }
}

// Details are a string, or a list of {loc, msg} for invalid input.
function describe(detail, status) {
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${d.msg}` : String(d.msg);
      })
      .join("; ");
  }
  if (status === 0) return "the server could not be reached";
  return `request failed (${status})`;
}

const listeners = new Set();

export function onUnauthorized(listener) {
  listeners.add(listener);
}

export function token() {
  const value = localStorage.getItem(TOKEN_KEY);
  const expires = Number(localStorage.getItem(EXPIRY_KEY) || 0);
  if (!value || (expires && Date.now() > expires)) return null;
  return value;
}

export function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(EXPIRY_KEY);
}

function unauthorized() {
  signOut();
  for (const listener of listeners) listener();
}

async function request(method, path, { json, form, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  const headers = { Accept: "application/json" };
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, cache: "no-store" });
  } catch {
    throw new ApiError(0, null);
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401 && path !== "/api/auth/token") unauthorized();
  if (!response.ok) throw new ApiError(response.status, data && data.detail, data && data.code);
  return data;
}

// accounts

export async function register(username, password, displayName) {
  const body = { username, password };
  if (displayName) body.display_name = displayName;
  return request("POST", "/api/users", { json: body });
}

export async function login(username, password) {
  const answer = await request("POST", "/api/auth/token", { form: { username, password } });
  localStorage.setItem(TOKEN_KEY, answer.access_token);
  localStorage.setItem(EXPIRY_KEY, String(Date.now() + answer.expires_in * 1000));
  return answer;
}

export const me = () => request("GET", "/api/users/me");
export const updateMe = (changes) => request("PATCH", "/api/users/me", { json: changes });
export const deleteMe = (password) => request("DELETE", "/api/users/me", { json: { password } });
export const exportMe = () => request("GET", "/api/users/me/export");

// The token stops working on the server too; the page forgets it whatever the answer.
export async function logout() {
  try {
    await request("POST", "/api/auth/logout");
  } catch {
    // Already refused or unreachable: forgetting it here is all that is left to do.
  } finally {
    signOut();
  }
}

// topics and sessions

export const topics = () => request("GET", "/api/topics");
export const topic = (id) => request("GET", `/api/topics/${id}`);
export const updateTopic = (id, changes) => request("PATCH", `/api/topics/${id}`, { json: changes });
export const deleteTopic = (id) => request("DELETE", `/api/topics/${id}`);
export const createTopic = (title, description) =>
  request("POST", "/api/topics", { json: { title, description } });

// The newest session that has not ended, or null; a list, so having none is not an error.
export async function currentSession() {
  const active = await request("GET", "/api/sessions", { query: { status: "active", limit: 1 } });
  return active.length ? active[0] : null;
}

export const createSession = (topicId, title) =>
  request("POST", "/api/sessions", {
    json: title ? { topic_id: topicId, title } : { topic_id: topicId },
  });
export const sessions = (query) => request("GET", "/api/sessions", { query });
export const joinSession = (code) =>
  request("POST", "/api/sessions/join", { json: { join_code: code } });
export const session = (id) => request("GET", `/api/sessions/${id}`);
export const changeTopic = (id, topicId) =>
  request("PUT", `/api/sessions/${id}/topic`, { json: { topic_id: topicId } });
export const endSession = (id) => request("POST", `/api/sessions/${id}/end`);
// hosts
export const updateSession = (id, changes) =>
  request("PATCH", `/api/sessions/${id}`, { json: changes });
export const setRole = (id, userId, role) =>
  request("PUT", `/api/sessions/${id}/members/${userId}`, { json: { role } });
export const rotateJoinCode = (id) => request("POST", `/api/sessions/${id}/join-code`);
// A host removing someone, or a member leaving (userId is their own).
export const removeMember = (id, userId) =>
  request("DELETE", `/api/sessions/${id}/members/${userId}`);
export const connectionDetails = (id) =>
  request("POST", "/api/connection-details", { json: { session_id: id } });
export const messages = (id, afterSeq, limit) =>
  request("GET", `/api/sessions/${id}/messages`, { query: { after_seq: afterSeq, limit } });
export const report = (id) => request("GET", `/api/sessions/${id}/report`);
export const reviewSchedule = (id) => request("GET", `/api/sessions/${id}/review`);

// study data

export const materials = (topicId) => request("GET", `/api/topics/${topicId}/materials`);
export const goals = (topicId) => request("GET", "/api/goals", { query: { topic_id: topicId } });
export const createGoal = (goal) => request("POST", "/api/goals", { json: goal });
export const deleteGoal = (id) => request("DELETE", `/api/goals/${id}`);
export const progress = (topicId) =>
  request("GET", "/api/progress", { query: { topic_id: topicId } });
export const history = (bucket = "day") =>
  request("GET", "/api/metrics/history", { query: { bucket } });

// Offers `blob` as a file download named `filename`.
export function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// The file is fetched with the page's token (a plain link would not carry it), then saved.
export async function downloadMaterial(material) {
  const headers = {};
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  let response;
  try {
    response = await fetch(`/api/materials/${material.id}/content`, { headers, cache: "no-store" });
  } catch {
    throw new ApiError(0, null);
  }
  if (response.status === 401) unauthorized();
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(response.status, data && data.detail, data && data.code);
  }
  save(await response.blob(), material.filename);
}

// fetch() cannot report upload progress; XMLHttpRequest can.
export function upload(topicId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/topics/${topicId}/materials`);
    xhr.responseType = "json";
    const current = token();
    if (current) xhr.setRequestHeader("Authorization", `Bearer ${current}`);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      const data = xhr.response;
      if (xhr.status === 401) unauthorized();
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data && data.detail, data && data.code));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, null)));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "the upload was cancelled")));
    const body = new FormData();
    body.append("file", file, file.name);
    xhr.send(body);
  });
}

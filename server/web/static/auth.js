// Logging in and creating an account.

import * as api from "./api.js";
import { $ } from "./dom.js";

const USERNAME = /^[A-Za-z0-9_.-]{3,64}$/;

export function setUpAuth(signedIn) {
  const login = $("#login-form");
  const register = $("#register-form");
  login.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(login);
    const error = $("#login-error");
    error.textContent = "";
    const username = String(data.get("username")).trim();
    const password = String(data.get("password"));
    if (!username || !password) {
      error.textContent = "Enter your username and password.";
      return;
    }
    await busy(login, async () => {
      try {
        await api.login(username, password);
        login.reset();
        signedIn();
      } catch (failure) {
        error.textContent =
          failure.status === 401 ? "Wrong username or password." : failure.message;
      }
    });
  });
  register.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(register);
    const username = String(data.get("username")).trim();
    const password = String(data.get("password"));
    const name = String(data.get("display_name")).trim();
    const problems = registrationProblems(username, password, name);
    showProblems(problems);
    if (Object.keys(problems).length) {
      focusFirstProblem(problems);
      return;
    }
    await busy(register, async () => {
      try {
        await api.register(username, password, name || undefined);
        await api.login(username, password);
        register.reset();
        signedIn();
      } catch (failure) {
        const answered = serverProblems(failure);
        showProblems(answered);
        if (!Object.keys(answered).length) $("#register-error").textContent = failure.message;
        else focusFirstProblem(answered);
      }
    });
  });
}

// Each field of the sign-up form: its input and where its problem is shown.
const FIELDS = {
  username: "register-username",
  display_name: "register-name",
  password: "register-password",
};

// Every problem with the form at once, by field: the server's rules (server/api/schemas.py).
export function registrationProblems(username, password, name) {
  const problems = {};
  if (!USERNAME.test(username))
    problems.username =
      username.length < 3 || username.length > 64
        ? "The username needs 3 to 64 characters."
        : "The username may only have letters, digits, dots, dashes and underscores.";
  if ([...name].length > 100) problems.display_name = "The display name can have up to 100 characters.";
  if (password.length < 8) problems.password = "The password needs at least 8 characters.";
  else if (password.length > 256) problems.password = "The password can have up to 256 characters.";
  return problems;
}

// A refused sign-up as problems by field: a taken name, or a 422's list of {loc, msg}.
function serverProblems(failure) {
  if (failure.status === 409) return { username: "That username is taken; pick another." };
  const problems = {};
  if (failure.status === 422 && Array.isArray(failure.detail)) {
    for (const item of failure.detail) {
      const field = Array.isArray(item.loc) ? item.loc[item.loc.length - 1] : null;
      if (field in FIELDS) {
        const message = String(item.msg || "is not valid");
        problems[field] = problems[field] ? `${problems[field]} ${message}` : message;
      }
    }
  }
  return problems;
}

function showProblems(problems) {
  $("#register-error").textContent = "";
  for (const [field, id] of Object.entries(FIELDS)) {
    const input = $(`#${id}`);
    const message = problems[field] || "";
    $(`#${id}-error`).textContent = message;
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  const count = Object.keys(problems).length;
  if (count > 1) $("#register-error").textContent = `Fix the ${count} problems above.`;
}

function focusFirstProblem(problems) {
  const first = Object.keys(FIELDS).find((field) => problems[field]);
  if (first) $(`#${FIELDS[first]}`).focus();
}

export async function busy(form, work) {
  const buttons = form.querySelectorAll("button");
  for (const b of buttons) b.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    await work();
  } finally {
    for (const b of buttons) b.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

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
    const error = $("#register-error");
    error.textContent = "";
    const username = String(data.get("username")).trim();
    const password = String(data.get("password"));
    const name = String(data.get("display_name")).trim();
    if (!USERNAME.test(username)) {
      error.textContent =
        "The username needs 3 to 64 letters, digits, dots, dashes or underscores.";
      return;
    }
    if (password.length < 8) {
      error.textContent = "The password needs at least 8 characters.";
      return;
    }
    await busy(register, async () => {
      try {
        await api.register(username, password, name || undefined);
        await api.login(username, password);
        register.reset();
        signedIn();
      } catch (failure) {
        error.textContent =
          failure.status === 409 ? "That username is taken; pick another." : failure.message;
      }
    });
  });
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

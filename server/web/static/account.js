// The account view (#/account): display name, password, a download of one's data, logging out
// and deleting the account.

import * as api from "./api.js";
import { busy } from "./auth.js";
import { $ } from "./dom.js";

let current = null; // the signed-in user, as GET /api/users/me shows it

// actions: renamed(user), logOut(), deleted()
export function setUpAccount(actions) {
  const nameForm = $("#name-form");
  nameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { error, ok } = reset(nameForm, "#name-error", "#name-ok");
    const name = $("#account-name").value.trim();
    if (!name || [...name].length > 100) {
      error.textContent = "The display name needs 1 to 100 characters.";
      return;
    }
    await busy(nameForm, async () => {
      try {
        current = await api.updateMe({ display_name: name });
        $("#account-name").value = current.display_name;
        ok.textContent = "Saved. Rooms you enter from now on show the new name.";
        actions.renamed(current);
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
  });

  const passwordForm = $("#password-form");
  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { error, ok } = reset(passwordForm, "#password-error", "#password-ok");
    const currentPassword = $("#account-current-password").value;
    const password = $("#account-new-password").value;
    const problems = [];
    if (!currentPassword) problems.push("Enter your current password.");
    if (password.length < 8 || password.length > 256)
      problems.push("The new password needs 8 to 256 characters.");
    if (problems.length) {
      error.textContent = problems.join(" ");
      return;
    }
    await busy(passwordForm, async () => {
      try {
        await api.updateMe({ password, current_password: currentPassword });
        passwordForm.reset();
        ok.textContent = "Password changed.";
      } catch (failure) {
        error.textContent =
          failure.status === 403 ? "The current password is wrong." : failure.message;
      }
    });
  });

  const exportButton = $("#export-data");
  exportButton.addEventListener("click", async () => {
    const error = $("#export-error");
    error.textContent = "";
    exportButton.disabled = true;
    try {
      const data = await api.exportMe();
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const day = new Date().toISOString().slice(0, 10);
      api.save(blob, `studyroom-${current?.username ?? "account"}-${day}.json`);
    } catch (failure) {
      error.textContent = `The export failed: ${failure.message}`;
    } finally {
      exportButton.disabled = false;
    }
  });

  $("#account-logout").addEventListener("click", () => actions.logOut());

  const deleteForm = $("#delete-form");
  deleteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { error } = reset(deleteForm, "#delete-error");
    const password = $("#delete-password").value;
    const problems = [];
    if (!password) problems.push("Enter your password.");
    if (!$("#delete-confirm").checked) problems.push("Tick the box to confirm.");
    if (problems.length) {
      error.textContent = problems.join(" ");
      return;
    }
    await busy(deleteForm, async () => {
      try {
        await api.deleteMe(password);
      } catch (failure) {
        error.textContent =
          failure.status === 403
            ? "That password is wrong; nothing was deleted."
            : `The account was not deleted: ${failure.message}`;
        return;
      }
      deleteForm.reset();
      api.signOut();
      current = null;
      actions.deleted();
    });
  });
}

export function showAccount(user) {
  current = user;
  $("#account-username").textContent = user.username;
  $("#account-name").value = user.display_name;
  for (const form of ["#name-form", "#password-form", "#delete-form"]) $(form).reset();
  $("#account-name").value = user.display_name;
  for (const id of ["#name-error", "#name-ok", "#password-error", "#password-ok", "#export-error", "#delete-error"])
    $(id).textContent = "";
}

function reset(form, errorSelector, okSelector = null) {
  const error = $(errorSelector, form);
  error.textContent = "";
  const ok = okSelector ? $(okSelector, form) : null;
  if (ok) ok.textContent = "";
  return { error, ok };
}

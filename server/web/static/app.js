// The page's entry point: which view to show (sign-in, lobby, account, a room) from the token
// and the address (#/, #/account or #/session/<id>).

import { setUpAccount, showAccount } from "./account.js";
import * as api from "./api.js";
import { setUpAuth } from "./auth.js";
import { $, toast } from "./dom.js";
import { setUpLobby, showLobby } from "./lobby.js";
import { RoomPage } from "./room.js";

const VIEWS = ["auth", "lobby", "account", "room"];
let me = null;
let room = null;

function show(name) {
  $("#booting").hidden = true;
  for (const view of VIEWS) $(`#view-${view}`).hidden = view !== name;
  document.body.dataset.view = name;
}

function showUser() {
  $("#whoami").textContent = me ? me.display_name : "";
  $("#logout").hidden = !me;
  $("#account-link").hidden = !me;
}

async function route() {
  if (room) {
    room.close();
    room = null;
  }
  if (!api.token()) {
    me = null;
    showUser();
    show("auth");
    document.title = "studyroom";
    $("#login-username").focus();
    return;
  }
  if (!me) {
    try {
      me = await api.me();
    } catch (error) {
      // A 401 has already sent us back to the login view.
      if (error.status !== 401)
        $("#booting").textContent =
          `Cannot reach the server (${error.message}). Reload to try again.`;
      return;
    }
    showUser();
  }
  if (location.hash === "#/account") {
    show("account");
    document.title = "Account · studyroom";
    showAccount(me);
    return;
  }
  const match = /^#\/session\/(\d+)$/.exec(location.hash);
  if (match) {
    show("room");
    const page = new RoomPage($("#view-room"), { id: me.id, name: me.display_name });
    room = page;
    try {
      await page.open(Number(match[1]));
      document.title = `${page.session.title} · studyroom`;
      $("#composer-text").focus();
    } catch (error) {
      if (room !== page || error.status === 401) return;
      toast(
        error.status === 403 || error.status === 404
          ? "That session is not one of yours."
          : `Cannot open the session: ${error.message}`,
        "error",
      );
      location.hash = "#/";
    }
    return;
  }
  show("lobby");
  document.title = "studyroom";
  await showLobby();
}

setUpAuth(() => route());
setUpLobby();
api.onUnauthorized(() => {
  me = null;
  route();
});
// After logging out or deleting the account: back to the sign-in view, at the top address.
function signedOut() {
  me = null;
  if (location.hash && location.hash !== "#/") location.hash = "#/";
  else route();
}

async function logOut() {
  await api.logout();
  signedOut();
}

setUpAccount({
  renamed: (user) => {
    me = user;
    showUser();
  },
  logOut,
  deleted: () => {
    toast("Your account was deleted.");
    signedOut();
  },
});
$("#logout").addEventListener("click", logOut);
window.addEventListener("hashchange", () => route());
route();

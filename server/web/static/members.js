// The room's member list: who is in the room, who hosts, and (for hosts) what can be done to
// each member.

import { avatar, clear, h } from "./dom.js";

// view: {members: Map id -> {id, name}, roles: Map id -> "host"|"member", online: Set of ids,
// me, ownerId, host (the viewer hosts), ended, setRole(member, role), remove(member)}
export function renderMembers(list, view) {
  const people = [...view.members.values()].sort(
    (a, b) =>
      Number(view.online.has(b.id)) - Number(view.online.has(a.id)) ||
      Number(isHost(view, b)) - Number(isHost(view, a)) ||
      a.name.localeCompare(b.name),
  );
  clear(
    list,
    people.map((m) => memberItem(m, view)),
  );
}

function isHost(view, member) {
  return view.roles.get(member.id) === "host";
}

function memberItem(m, view) {
  // After the end nobody is in the room: no presence to show.
  const here = !view.ended && view.online.has(m.id);
  const host = isHost(view, m);
  const mine = m.id === view.me.id;
  return h(
    "li",
    {
      class: here ? "member online" : "member",
      dataset: { user: String(m.id), role: host ? "host" : "member" },
    },
    avatar(m),
    h(
      "span",
      { class: "member-text" },
      h("span", { class: "member-name" }, mine ? `${m.name} (you)` : m.name),
      h(
        "span",
        { class: "member-line" },
        host ? h("span", { class: "badge role-badge" }, "host") : null,
        view.ended
          ? null
          : h(
              "span",
              { class: "presence", title: here ? "in the room" : "away" },
              here ? "in the room" : "away",
            ),
      ),
    ),
    view.host && !view.ended && !mine && m.id !== view.ownerId ? actions(m, host, view) : null,
  );
}

// The creator always stays a host and cannot be removed; a host does not act on themselves
// here (leaving has its own button).
function actions(m, host, view) {
  return h(
    "span",
    { class: "member-actions" },
    h(
      "button",
      {
        type: "button",
        class: "link-button role-action",
        "aria-label": host ? `Make ${m.name} a member again` : `Make ${m.name} a host`,
        onclick: () => view.setRole(m, host ? "member" : "host"),
      },
      host ? "make member" : "make host",
    ),
    h(
      "button",
      {
        type: "button",
        class: "link-button danger remove-action",
        "aria-label": `Remove ${m.name} from the session`,
        onclick: () => view.remove(m),
      },
      "remove",
    ),
  );
}

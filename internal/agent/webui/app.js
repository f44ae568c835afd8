// cis-agent's loopback page: shows what the agent says, asks what it asks
// (PIN, role, whether a web page may use the login) and sends the answers.
// It long-polls /ui/state; every request is same-origin with the session
// cookie the one-time link set.
"use strict";

const $ = (id) => document.getElementById(id);
let shown = 0; // the question on screen

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const data = await r.json().catch(() => ({}));
  $("error").textContent = r.ok ? "" : (data.error || "The agent refused (" + r.status + ")");
  return data;
}

function render(st) {
  $("message").textContent = st.message || st.state;
  const who = $("who");
  who.hidden = !st.name;
  who.textContent = st.name ? st.name + " (" + st.uid + ")" + (st.locked ? ": session locked" : "") : "";

  const q = (st.questions || [])[0];
  for (const f of ["pin-form", "role-form", "origin-form"]) $(f).hidden = true;
  if (q) {
    const form = $(q.kind + "-form");
    form.hidden = false;
    $(q.kind + "-text").textContent = q.text;
    if (q.id !== shown) {
      shown = q.id;
      if (q.kind === "pin") {
        $("pin").value = "";
        $("final").checked = false;
        $("final-label").hidden = !q.final_try;
        $("pin").focus();
      }
      if (q.kind === "role") {
        const box = $("roles");
        box.replaceChildren();
        q.roles.forEach((r, i) => {
          const l = document.createElement("label");
          const input = document.createElement("input");
          input.type = "radio";
          input.name = "role";
          input.value = r.id;
          input.checked = i === 0;
          l.append(input, " " + r.job_role + " at " + r.org_code + " " + r.org_name + " (" + r.id + ")");
          box.append(l);
        });
      }
    }
  }

  const authenticated = st.state === "authenticated";
  $("session").hidden = !authenticated;
  if (authenticated) {
    const sel = $("switch-role");
    sel.replaceChildren();
    for (const r of st.roles) {
      const o = document.createElement("option");
      o.value = r.id;
      o.textContent = r.job_role + " at " + r.org_code + " " + r.org_name;
      o.selected = r.id === st.selected_role_id;
      sel.append(o);
    }
  }
  $("login").hidden = st.state !== "card-inserted" || !!q;
}

async function poll() {
  let wait = "";
  for (;;) {
    try {
      const r = await fetch("/ui/state" + wait);
      if (r.status === 401) {
        $("message").textContent = "This page's link has expired: run cis-agent ui for a new one.";
        return;
      }
      const st = await r.json();
      render(st);
      wait = "?wait=" + st.version;
    } catch (e) {
      $("message").textContent = "The agent is not answering.";
      await new Promise((res) => setTimeout(res, 2000));
    }
  }
}

$("pin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const pin = $("pin").value;
  $("pin").value = "";
  await post("/ui/answer", { id: shown, pin: pin, confirm_final_try: $("final").checked });
});
$("pin-cancel").addEventListener("click", () => post("/ui/answer", { id: shown, cancel: true }));
$("role-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const r = document.querySelector("input[name=role]:checked");
  if (r) post("/ui/answer", { id: shown, role_id: r.value });
});
$("origin-allow").addEventListener("click", () => post("/ui/answer", { id: shown, allow: true }));
$("origin-deny").addEventListener("click", () => post("/ui/answer", { id: shown, allow: false }));
$("switch-role").addEventListener("change", (e) => post("/ui/role", { role_id: e.target.value }));
$("logout").addEventListener("click", () => post("/ui/logout"));
$("login").addEventListener("click", () => post("/ui/login"));
poll();

// Every page with a session asks /cis/session now and then whether the
// session is still alive. The middleware checks it with the NHS identity
// service when due; once the smartcard session has ended (card pulled,
// logout at the workstation, timeout) the answer is 401, and the page
// hides what it showed and says the person is logged out.
"use strict";
(() => {
  const body = document.body;
  const every = Number(body.dataset.sessionCheck);
  const role = body.dataset.role;
  if (!(every > 0)) return;
  const el = id => document.getElementById(id);
  const show = (id, on) => { const e = el(id); if (e) e.hidden = !on; };

  function ended() {
    for (const id of ["main", "who", "nav", "logout", "role-changed", "session-unconfirmed"]) {
      const e = el(id);
      if (e) e.hidden = true;
    }
    show("session-ended", true);
  }

  // check returns whether to keep checking.
  async function check() {
    let r;
    try {
      r = await fetch("/cis/session", {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}});
    } catch (e) {
      return true; // the app is unreachable for now
    }
    if (r.status === 401) {
      ended();
      return false;
    }
    show("session-unconfirmed", r.status === 503);
    if (r.ok) {
      try {
        const s = await r.json();
        show("role-changed", Boolean(role && s.role && s.role.id !== role));
      } catch (e) { /* keep checking */ }
    }
    return true;
  }

  async function loop() {
    if (await check()) setTimeout(loop, every);
  }
  setTimeout(loop, every);
})();

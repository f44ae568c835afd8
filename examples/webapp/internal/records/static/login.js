// The login page: ask the workstation agent's local Ticket API for the SSO
// ticket of the smartcard session, then post it to /cis/login in the form
// (a same-origin form post: the middleware's CSRF check passes it). The
// ticket goes only into the form's body: never into a URL, the page's
// text or a log.
"use strict";
(() => {
  const form = document.getElementById("login");
  const agent = form.dataset.agent;
  const status = document.getElementById("agent-status");
  const ask = document.getElementById("agent-ask");
  if (!agent) return;

  // The agent answers JSON {"ticket": …} (cis-agent) or the bare ticket
  // as text; errors as JSON {"error": …}.
  async function ticketFromAgent() {
    let r;
    try {
      r = await fetch(agent + "/ticket", {credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer"});
    } catch (e) {
      throw new Error("it is not running at " + agent);
    }
    const body = (await r.text()).trim();
    let ticket = body, problem = "";
    if (body.startsWith("{")) {
      let j;
      try { j = JSON.parse(body); } catch (e) { throw new Error("it answered something that is not a ticket"); }
      ticket = typeof j.ticket === "string" ? j.ticket.trim() : "";
      problem = typeof j.error === "string" ? j.error : "";
    }
    if (!r.ok) throw new Error(problem || "it answered HTTP " + r.status);
    if (!ticket) throw new Error(problem || "it has no smartcard session");
    return ticket;
  }

  async function logIn() {
    ask.disabled = true;
    status.className = "";
    status.textContent = "Asking the smartcard agent for your session…";
    try {
      const ticket = await ticketFromAgent();
      document.getElementById("ticket").value = ticket;
      status.textContent = "Logging in…";
      form.submit();
    } catch (e) {
      status.className = "warning";
      status.textContent = "The smartcard agent did not give a session: " + e.message +
        ". Insert your card and unlock it, then try again, or paste a ticket below.";
      ask.disabled = false;
    }
  }

  ask.addEventListener("click", logIn);
  if (form.dataset.auto === "1") logIn();
})();

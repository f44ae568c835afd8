// cis-proxy's login page: ask the workstation agent's local Ticket API for
// the smartcard session's ticket, put it in the form and post the form to
// /cis/login (same origin, so the middleware's CSRF check passes it). The
// ticket goes only into the form's body: never into a URL, the page or a log.
"use strict";
(() => {
  const form = document.getElementById("login");
  const status = document.getElementById("status");
  const button = document.getElementById("card");
  const agent = form.dataset.agent;
  if (!agent || !button) return;

  async function ask() {
    let r;
    try {
      r = await fetch(agent + "/ticket", {credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer"});
    } catch (e) {
      throw new Error("the smartcard agent is not running at " + agent);
    }
    const body = (await r.text()).trim();
    let ticket = body, problem = "";
    if (body.startsWith("{")) {
      try {
        const j = JSON.parse(body);
        ticket = typeof j.ticket === "string" ? j.ticket.trim() : "";
        problem = typeof j.error === "string" ? j.error : "";
      } catch (e) {
        throw new Error("the smartcard agent answered something that is not a ticket");
      }
    }
    if (!r.ok) throw new Error(problem || "the smartcard agent answered HTTP " + r.status);
    if (!ticket) throw new Error(problem || "the smartcard agent has no session");
    return ticket;
  }

  async function logIn() {
    button.disabled = true;
    status.textContent = "Asking the smartcard agent for your session…";
    try {
      document.getElementById("ticket").value = await ask();
      status.textContent = "Logging in…";
      form.submit();
    } catch (e) {
      status.textContent = "No smartcard session: " + e.message +
        ". Insert your card and unlock it, then try again, or paste a ticket.";
      // Offer the paste field at once: closed, it is easy to miss.
      const paste = form.querySelector("details");
      if (paste) paste.open = true;
      button.disabled = false;
    }
  }

  button.addEventListener("click", logIn);
  if (form.dataset.auto === "1") logIn();
})();

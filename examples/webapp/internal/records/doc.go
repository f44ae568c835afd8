// Package records is the example supplier application of examples/webapp:
// a small patient-records site behind the CIS middleware, showing how a
// supplier puts NHS smartcard logins and CIS role checks in front of its
// pages.
//
//   - /login gets the SSO ticket from the workstation agent's local
//     Ticket API in the browser (GET {agent}/ticket, CORS), or takes a
//     pasted one, and posts it to the middleware's /cis/login;
//   - / shows who is logged in, in which selected role (organisation, job
//     role) and what that role may do here;
//   - /patients (activity B0360 or B0264) lists patients, /patients/{nhs}
//     (activity B0264) shows one record, /admin (job role R8000) shows
//     who opened which record; a refusal says in plain words what the
//     selected role lacks and which of the person's other roles would do;
//   - /role lists the person's roles and picks up a role switched at the
//     workstation (POST /cis/refresh);
//   - every page checks its session in the background and hides its
//     content when the smartcard session has ended.
//
// Pages are html/template (everything escaped) with a strict
// Content-Security-Policy: scripts and styles come only from the app's own
// /static/ files, fetches go only to the app and the agent, forms post
// only to the app, nothing may frame it. No ticket is put in a URL, a log
// or a page.
//
// It is an example, not a product: the patients are fictional and live in
// memory, and the access audit is kept in memory.
package records

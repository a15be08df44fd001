// Call-out pages: a started call-out opens its report page; a running call-out's report
// reloads every data-poll-seconds (not while a dialog is open or a form is being used).
"use strict";

(function () {
  document.addEventListener("linja:answer", (event) => {
    const form = event.target;
    const report = form && form.dataset && form.dataset.report;
    const { status, body } = event.detail || {};
    if (!report || status !== 201 || !body || !body.id) return;
    window.location.assign(report + encodeURIComponent(body.id) + (form.dataset.reportQs || ""));
  });

  const poll = document.querySelector("[data-poll-seconds]");
  if (!poll) return;
  const seconds = Number(poll.dataset.pollSeconds) || 5;
  const busy = () => document.querySelector("dialog[open]") !== null ||
    (document.activeElement && document.activeElement.closest("form") !== null);
  const tick = () => {
    if (busy()) window.setTimeout(tick, seconds * 1000);
    else window.location.reload();
  };
  window.setTimeout(tick, seconds * 1000);
})();

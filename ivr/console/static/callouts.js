// Call-out pages: a started call-out opens its report page; a running call-out's report
// reloads every data-poll-seconds (not while a dialog is open or a form is being used).
"use strict";

(function () {
  // (the answer event does not bubble: each form is listened to; this script is deferred)
  for (const form of document.querySelectorAll("form[data-report]")) {
    form.addEventListener("linja:answer", (event) => {
      const { status, body } = event.detail || {};
      if (status !== 201 || !body || !body.id) return;
      const qs = form.dataset.reportQs || "";
      window.location.assign(form.dataset.report + encodeURIComponent(body.id) + qs);
    });
  }

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

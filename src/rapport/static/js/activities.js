// Quick forms on record pages: show field errors (answered with 400/403) in place, Ctrl+Enter saves,
// "Close" hides the form without leaving the page.
(function () {
  "use strict";
  if (window.rapportActivities) return;
  window.rapportActivities = true;

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var elt = event.detail.elt;
    if ((status === 400 || status === 403) && elt && elt.closest && elt.closest(".quicklog")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    var form = event.detail.target && event.detail.target.closest ? document.getElementById("quicklog-form") : null;
    if (!form) return;
    var invalid = form.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.closest && target.closest(".quicklog")) {
      event.preventDefault();
      target.closest("form").requestSubmit();
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-quicklog-close]") : null;
    var slot = document.getElementById("quicklog-slot");
    if (link && slot && slot.contains(link)) {
      event.preventDefault();
      slot.innerHTML = "";
    }
  });
})();

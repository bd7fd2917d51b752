// The rule editor: show only the trigger settings of the chosen trigger (without script, all are shown, labelled).
(function () {
  "use strict";
  var select = document.querySelector("[data-trigger-select]");
  if (!select) return;
  function sync() {
    document.querySelectorAll("[data-for-trigger]").forEach(function (el) {
      el.hidden = el.getAttribute("data-for-trigger") !== select.value;
    });
  }
  select.addEventListener("change", sync);
  sync();
})();

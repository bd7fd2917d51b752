/* The user menu in the header: a disclosure button that shows a panel of links.
   Enter, Space or ArrowDown opens it (ArrowDown/ArrowUp then move between the links, Home/End jump),
   Escape closes it and returns to the button, and so do a click outside and Tab out of it. */
(function () {
  "use strict";

  var root = document.querySelector("[data-user-menu]");
  if (!root) return;
  var button = root.querySelector(".user-menu-button");
  var panel = root.querySelector(".user-menu-panel");

  function items() {
    return Array.prototype.slice.call(panel.querySelectorAll("a, button"));
  }
  function isOpen() {
    return button.getAttribute("aria-expanded") === "true";
  }
  function open(focusIndex) {
    button.setAttribute("aria-expanded", "true");
    panel.hidden = false;
    if (typeof focusIndex === "number") {
      var list = items();
      if (list.length) list[(focusIndex + list.length) % list.length].focus();
    }
  }
  function close(refocus) {
    if (!isOpen()) return;
    button.setAttribute("aria-expanded", "false");
    panel.hidden = true;
    if (refocus) button.focus();
  }

  button.addEventListener("click", function () {
    if (isOpen()) close(false); else open();
  });
  button.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") { event.preventDefault(); open(0); }
    else if (event.key === "ArrowUp") { event.preventDefault(); open(-1); }
  });
  root.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) {
      event.preventDefault();
      event.stopPropagation();
      close(true);
      return;
    }
    if (!panel.contains(event.target)) return;
    var list = items();
    var at = list.indexOf(event.target);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      list[(at + (event.key === "ArrowDown" ? 1 : -1) + list.length) % list.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      list[event.key === "Home" ? 0 : list.length - 1].focus();
    }
  });
  root.addEventListener("focusout", function (event) {
    if (event.relatedTarget && !root.contains(event.relatedTarget)) close(false);
  });
  document.addEventListener("click", function (event) {
    if (!root.contains(event.target)) close(false);
  });
})();

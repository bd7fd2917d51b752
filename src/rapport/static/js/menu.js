/* The main menu on narrow screens: the menu button opens and closes the navigation under the header.
   Escape or a click elsewhere closes it (Escape gives focus back to the button). Wide screens show the
   navigation inline and hide the button, so the open state does nothing there. */
(function () {
  "use strict";

  var button = document.querySelector("[data-menu-toggle]");
  if (!button) return;
  var bar = button.closest("[data-topbar]");

  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    bar.classList.toggle("menu-open", open);
  }
  function isOpen() {
    return button.getAttribute("aria-expanded") === "true";
  }

  // Between the phone layout (CSS, below 1100 px) and a window wide enough for every link, the links
  // that do not fit would hide in a scrolling strip: fold the navigation behind the button there too.
  var nav = document.getElementById("main-nav");
  function fit() {
    bar.classList.remove("nav-overflow");
    if (window.getComputedStyle(button).display !== "none") return;
    if (nav.scrollWidth > nav.clientWidth + 1) bar.classList.add("nav-overflow");
  }
  fit();
  window.addEventListener("resize", fit);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (nav.contains(event.target)) fit();
  });

  button.addEventListener("click", function () {
    setOpen(!isOpen());
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) {
      setOpen(false);
      button.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (isOpen() && !event.target.closest("#main-nav") && !button.contains(event.target)) setOpen(false);
  });
  // Keyboard users leaving the open menu with Tab close it behind them.
  document.addEventListener("focusin", function (event) {
    if (isOpen() && !event.target.closest("#main-nav") && !button.contains(event.target)) setOpen(false);
  });
})();

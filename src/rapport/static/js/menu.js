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

  // Between the phone layout (CSS, below 1100 px) and a window wide enough for every link: the links
  // that fit stay in the bar and the rest move, last first, behind a "More" button next to them
  // (priority+). The folded links stay in the navigation, hidden; the panel lists copies of them.
  var nav = document.getElementById("main-nav");
  var links = Array.prototype.slice.call(nav.querySelectorAll(":scope > a"));
  var more = document.createElement("div");
  more.className = "nav-more";
  more.hidden = true;
  more.innerHTML =
    '<button type="button" class="nav-more-button" aria-expanded="false" aria-controls="nav-more-panel">' +
    'More<svg width="12" height="12" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.5" ' +
    'aria-hidden="true"><path d="M6 9l6 6 6-6"/></svg></button>' +
    '<div class="nav-more-panel" id="nav-more-panel" hidden></div>';
  nav.parentNode.insertBefore(more, nav.nextSibling);
  var moreButton = more.querySelector("button");
  var panel = more.querySelector(".nav-more-panel");

  function setMoreOpen(open) {
    moreButton.setAttribute("aria-expanded", open ? "true" : "false");
    panel.hidden = !open;
  }
  function overflowing() {
    return nav.scrollWidth > nav.clientWidth + 1;
  }
  function fit() {
    setMoreOpen(false);
    links.forEach(function (a) { a.classList.remove("is-folded"); });
    more.hidden = true;
    panel.textContent = "";
    moreButton.classList.remove("current");
    if (window.getComputedStyle(button).display !== "none") return; // the phone layout: all behind Menu
    if (!overflowing()) return;
    more.hidden = false;
    for (var i = links.length - 1; i > 0 && overflowing(); i--) links[i].classList.add("is-folded");
    links.forEach(function (a) {
      if (!a.classList.contains("is-folded")) return;
      var copy = a.cloneNode(true);
      copy.removeAttribute("id");
      ["hx-get", "hx-trigger", "hx-swap"].forEach(function (name) { copy.removeAttribute(name); });
      panel.appendChild(copy);
      if (a.classList.contains("current")) moreButton.classList.add("current");
    });
  }
  fit();
  window.addEventListener("resize", fit);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (nav.contains(event.target)) fit();
  });
  moreButton.addEventListener("click", function () {
    setMoreOpen(panel.hidden);
    if (!panel.hidden) {
      var first = panel.querySelector("a");
      if (first) first.focus();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) {
      setMoreOpen(false);
      moreButton.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (!panel.hidden && !more.contains(event.target)) setMoreOpen(false);
  });
  document.addEventListener("focusin", function (event) {
    if (!panel.hidden && !more.contains(event.target)) setMoreOpen(false);
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

/* The one link picker of every form (templates web/_record_input.html and web/_picker_links.html): an
   ARIA combobox (a text box with a listbox popup). Type a name: matches come from /autocomplete/ (only
   records you may view); ↓ ↑ move through them, Enter chooses, Esc closes (or, closed, puts the chosen
   name back), Tab leaves. One link: the hidden input holds the id and the box shows the name; leaving the
   box with a half-typed name keeps the previous choice, emptying it clears the link. Many links: each
   choice becomes a chip with its own inputs (a contact's role) and a remove button.
   Wired by event delegation on the document, so pickers added later (htmx) work too. No inline script. */
(function () {
  "use strict";

  var DELAY = 150;

  function boxOf(el) { return el && el.closest ? el.closest("[data-picker]") : null; }

  var uid = 0;
  // Pickers repeated in rows (line items) have no ids in the markup: give each listbox its own.
  function ensureIds(box) {
    var input = box.querySelector("[data-picker-input]");
    var list = box.querySelector("[role=listbox]");
    if (!list.id) {
      uid += 1;
      list.id = "picker-" + uid + "-options";
    }
    input.setAttribute("aria-controls", list.id);
  }

  function parts(box) {
    return {
      input: box.querySelector("[data-picker-input]"),
      list: box.querySelector("[role=listbox]"),
      status: box.querySelector("[data-picker-status]"),
      value: box.querySelector("[data-picker-value]"),
      chips: box.querySelector("[data-chips]")
    };
  }

  function multiple(box) { return box.hasAttribute("data-multiple"); }

  function announce(box, text) {
    var status = parts(box).status;
    if (status) status.textContent = text;
  }

  function isOpen(box) { return !parts(box).list.hidden; }

  function close(box) {
    var p = parts(box);
    p.list.hidden = true;
    p.list.textContent = "";
    p.input.setAttribute("aria-expanded", "false");
    p.input.removeAttribute("aria-activedescendant");
    box._results = [];
    box._active = -1;
  }

  function chosenKeys(box) {
    var keys = {};
    box.querySelectorAll("[data-chip]").forEach(function (chip) { keys[chip.dataset.key] = true; });
    return keys;
  }

  function setActive(box, index) {
    var p = parts(box);
    var options = p.list.querySelectorAll("[role=option]:not([aria-disabled=true])");
    if (!options.length) return;
    if (index < 0) index = options.length - 1;
    if (index >= options.length) index = 0;
    options.forEach(function (o, i) { o.setAttribute("aria-selected", i === index ? "true" : "false"); });
    box._active = index;
    p.input.setAttribute("aria-activedescendant", options[index].id);
    options[index].scrollIntoView({ block: "nearest" });
  }

  function show(box, results, query) {
    var p = parts(box);
    var taken = multiple(box) ? chosenKeys(box) : {};
    var types = (box.dataset.type || "").split(",");
    var found = results.length;
    results = results.filter(function (r) { return !taken[r.type + ":" + r.id]; });
    box._results = results;
    box._active = -1;
    p.list.textContent = "";
    p.input.removeAttribute("aria-activedescendant");
    results.forEach(function (r, i) {
      var li = document.createElement("li");
      li.id = p.list.id + "-" + i;
      li.className = "picker-option";
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.index = String(i);
      if (types.length > 1) {
        var kind = document.createElement("span");
        kind.className = "picker-kind";
        kind.textContent = r.type_label;
        li.appendChild(kind);
      }
      var name = document.createElement("span");
      name.className = "picker-name";
      name.textContent = r.label;
      li.appendChild(name);
      var note = r.data && r.data.note ? r.data.note : r.detail;
      if (note) {
        var detail = document.createElement("span");
        detail.className = "picker-detail";
        detail.textContent = note;
        li.appendChild(detail);
      }
      p.list.appendChild(li);
    });
    if (!results.length) {
      if (!query) { close(box); return; }
      var none = document.createElement("li");
      none.className = "picker-empty";
      none.setAttribute("role", "option");
      none.setAttribute("aria-disabled", "true");
      none.id = p.list.id + "-none";
      none.textContent = found ? "Everything matching “" + query + "” is chosen already." : "Nothing matches “" + query + "”.";
      p.list.appendChild(none);
      announce(box, none.textContent);
    } else {
      announce(box, results.length + (results.length === 1 ? " match" : " matches") + ". Up and down arrows to move, Enter to choose.");
    }
    p.list.hidden = false;
    p.input.setAttribute("aria-expanded", "true");
  }

  function search(box, now) {
    var p = parts(box);
    var query = p.input.value.trim();
    clearTimeout(box._timer);
    var run = function () {
      var wanted = (box._seq || 0) + 1;
      box._seq = wanted;
      if (!query && box.dataset.type !== "users") { close(box); return; }
      var url = "/autocomplete/?type=" + encodeURIComponent(box.dataset.type) + "&q=" + encodeURIComponent(query.slice(0, 100));
      if (box.dataset.query) url += "&" + box.dataset.query;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          if (box._seq !== wanted || document.activeElement !== p.input) return; // a newer search or the user left
          show(box, data.results || [], query);
        })
        .catch(function () { announce(box, "The search did not answer; try again."); });
    };
    if (now) run(); else box._timer = setTimeout(run, DELAY);
  }

  function addChip(box, r) {
    var p = parts(box);
    var template = box.querySelector("template[data-chip-template]");
    var chip = template.content.firstElementChild.cloneNode(true);
    chip.dataset.key = r.type + ":" + r.id;
    chip.querySelectorAll("[data-fill]").forEach(function (el) {
      var what = el.dataset.fill;
      if (what === "label") {
        if ((box.dataset.type || "").split(",").length > 1) {
          var kind = document.createElement("span");
          kind.className = "muted";
          kind.textContent = r.type_label + " ·";
          el.appendChild(kind);
          el.appendChild(document.createTextNode(" "));
        }
        el.appendChild(document.createTextNode(r.label));
      } else {
        el.value = what === "type" ? r.type : String(r.id);
      }
    });
    chip.querySelectorAll("[data-aria-prefix]").forEach(function (el) {
      el.setAttribute("aria-label", el.dataset.ariaPrefix + " " + r.label);
    });
    p.chips.appendChild(chip);
    announce(box, "Added " + r.label + ".");
  }

  function choose(box, index) {
    var r = (box._results || [])[index];
    if (!r) return;
    var p = parts(box);
    if (multiple(box)) {
      addChip(box, r);
      p.input.value = "";
    } else {
      p.value.value = String(r.id);
      Object.keys(r.data || {}).forEach(function (key) { p.value.dataset[key] = r.data[key]; });
      p.input.value = r.label;
      p.input.dataset.label = r.label;
      p.value.dispatchEvent(new Event("change", { bubbles: true }));
      announce(box, r.label + " chosen.");
    }
    close(box);
    p.input.focus();
  }

  // A single picker left with a half-typed name keeps its previous choice; an emptied one is cleared.
  function settle(box) {
    if (multiple(box)) { parts(box).input.value = ""; return; }
    var p = parts(box);
    if (!p.input.value.trim()) {
      p.value.value = "";
      p.input.dataset.label = "";
    } else {
      p.input.value = p.input.dataset.label || "";
    }
  }

  document.addEventListener("input", function (event) {
    var box = boxOf(event.target);
    if (!box || !event.target.matches("[data-picker-input]")) return;
    search(box, false);
  });
  document.addEventListener("focusin", function (event) {
    var box = boxOf(event.target);
    if (box && event.target.matches("[data-picker-input]")) ensureIds(box);
  });

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-picker-input]")) return;
    var box = boxOf(input);
    var open = isOpen(box);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!open) { search(box, true); return; }
      setActive(box, box._active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      if (!open) {
        // A name typed but not chosen yet: show its matches rather than submit the old choice.
        if (!multiple(box) && input.value.trim() && input.value !== (input.dataset.label || "")) {
          event.preventDefault();
          search(box, true);
        } else if (multiple(box) && input.value.trim()) {
          event.preventDefault();
          search(box, true);
        }
        return; // otherwise Enter submits the form, as in any text box
      }
      event.preventDefault();
      choose(box, box._active >= 0 ? box._active : 0);
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        event.stopPropagation();
        close(box);
      } else if (!multiple(box)) {
        input.value = input.dataset.label || "";
      }
    } else if (event.key === "Tab") {
      close(box);
    }
  }, true); // capture: an open list takes Esc before the page's own Esc handlers (dropdowns)

  document.addEventListener("focusout", function (event) {
    var box = boxOf(event.target);
    if (!box || !event.target.matches("[data-picker-input]")) return;
    setTimeout(function () {
      if (box.contains(document.activeElement)) return;
      close(box);
      settle(box);
    }, 0);
  });

  // Submitting settles every picker of the form the same way as leaving it.
  document.addEventListener("submit", function (event) {
    event.target.querySelectorAll("[data-picker]").forEach(settle);
  }, true);

  // Mouse: keep the focus in the box while an option is pressed, choose on click.
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest && event.target.closest(".picker-options")) event.preventDefault();
  });
  document.addEventListener("click", function (event) {
    var option = event.target.closest && event.target.closest(".picker-option");
    if (option) {
      choose(boxOf(option), parseInt(option.dataset.index, 10));
      return;
    }
    var remove = event.target.closest && event.target.closest("[data-chip-remove]");
    if (remove) {
      var box = boxOf(remove);
      var chip = remove.closest("[data-chip]");
      var label = chip.querySelector(".chip-label");
      chip.remove();
      announce(box, "Removed " + (label ? label.textContent.trim() : "") + ".");
      parts(box).input.focus();
    }
  });
})();

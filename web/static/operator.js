// Keyboard shortcuts for the operator's pages, and the phone's action bar.
//
// Queue: j / k select the next / previous draft, Enter opens it.
// Any page: the element marked aria-keyshortcuts="KEY" answers KEY: a button or link is
// clicked (so `a` sends the approve form itself, CSRF token and edited reply included),
// a text box is focused (`e` the reply, `r` the reason: a reject needs one typed first).
// `?` opens the list of shortcuts. Nothing fires while typing or with Ctrl, Alt or Meta.
// A file of its own: the Content-Security-Policy runs no inline script.
(function () {
  "use strict";

  function typing(target) {
    return (
      target instanceof HTMLElement &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
    );
  }

  var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr"));
  var selected = -1;

  function select(index) {
    selected = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, at) {
      row.classList.toggle("selected", at === selected);
    });
    // Focus moves with the selection: a screen reader reads the row, Enter follows its link.
    rows[selected].querySelector("a").focus();
  }

  rows.forEach(function (row, at) {
    row.addEventListener("focusin", function () {
      select(at);
    });
  });

  function press(key) {
    if (rows.length && (key === "j" || key === "k")) {
      select(selected < 0 ? 0 : selected + (key === "j" ? 1 : -1));
      return true;
    }
    if (key === "?") {
      var help = document.querySelector("details.keys");
      if (!help) return false;
      help.open = !help.open;
      return true;
    }
    if (!/^[a-z]$/.test(key)) return false;
    var target = document.querySelector('[aria-keyshortcuts="' + key + '"]');
    if (!target) return false;
    if (typing(target)) {
      target.focus();
    } else {
      target.click();
    }
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing || event.repeat) return;  // a held key acts once
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) return;
    if (event.key === "Enter") {
      // A focused link or button answers Enter itself; else the selected row opens.
      if (selected < 0 || event.target.closest("a, button, summary")) return;
      event.preventDefault();
      rows[selected].querySelector("a").click();
      return;
    }
    if (press(event.key)) event.preventDefault(); // so `e` is not typed into the reply
  });

  // The phone's action bar: "Edit" brings the reply up with the keyboard open.
  document.querySelectorAll('.actions a[href^="#"]').forEach(function (link) {
    link.addEventListener("click", function (event) {
      var box = document.getElementById(link.getAttribute("href").slice(1));
      event.preventDefault();
      box.scrollIntoView({ block: "center" });
      box.focus({ preventScroll: true });
    });
  });
})();

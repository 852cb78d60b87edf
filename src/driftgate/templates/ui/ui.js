// driftgate ui: progressive enhancement only (every page works as plain HTML forms).
// Filter selects submit their form on change; the review page binds its keyboard
// shortcuts (data-key on each button). The page sets body[data-ready="1"] when done, which
// the browser tests wait for.
(function () {
  document.querySelectorAll("form.filters select").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  var keyed = document.querySelectorAll("[data-key]");
  if (keyed.length) {
    document.addEventListener("keydown", function (ev) {
      var t = ev.target;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
        if (ev.key === "Escape") { t.blur(); }
        return;
      }
      if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
      for (var i = 0; i < keyed.length; i++) {
        if (keyed[i].getAttribute("data-key") === ev.key) {
          ev.preventDefault();
          var el = keyed[i];
          if (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT") { el.focus(); }
          else { el.click(); }
          return;
        }
      }
    });
  }
  // Enter in a field with data-enter clicks that button (not the form's first one).
  document.querySelectorAll("[data-enter]").forEach(function (el) {
    el.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        ev.preventDefault();
        document.getElementById(el.getAttribute("data-enter")).click();
      }
    });
  });
  document.body.setAttribute("data-ready", "1");
})();

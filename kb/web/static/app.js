// Keyboard-first search: "/" focuses the box, arrow keys move through results, Enter opens.
(function () {
  "use strict";
  function hits() { return Array.prototype.slice.call(document.querySelectorAll("li.hit")); }
  var current = -1;
  function select(i) {
    var list = hits();
    if (!list.length) { return; }
    current = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (el, j) { el.classList.toggle("selected", j === current); });
    list[current].focus();
    list[current].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (e) {
    var box = document.getElementById("q");
    var typing = e.target && (e.target.tagName === "INPUT" || e.target.tagName === "SELECT" ||
                              e.target.tagName === "TEXTAREA");
    if (e.key === "/" && !typing) {
      e.preventDefault();
      if (box) { box.focus(); box.select(); }
    } else if (e.key === "ArrowDown" && (!typing || e.target === box)) {
      e.preventDefault();
      select(current + 1);
    } else if (e.key === "ArrowUp" && !typing) {
      e.preventDefault();
      select(current - 1);
    } else if (e.key === "Enter" && !typing && current >= 0) {
      var el = hits()[current];
      if (el) { window.location.href = el.getAttribute("data-href"); }
    } else if (e.key === "Escape" && box) {
      box.blur();
    }
  });
  document.addEventListener("click", function (e) {
    var btn = e.target.closest ? e.target.closest("button.copy") : null;
    if (!btn) { return; }
    var text = btn.getAttribute("data-citation");
    var done = function () { btn.textContent = "Copied"; setTimeout(function () { btn.textContent = "Copy citation"; }, 1500); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { btn.textContent = text; });
    } else { btn.textContent = text; }
  });
  var select_version = document.getElementById("version-select");
  if (select_version) {
    select_version.addEventListener("change", function () { select_version.form.submit(); });
  }
  // A filter applies as soon as it is ticked; the page that comes back keeps focus on it.
  var KEY = "kb.filter-focus";
  document.querySelectorAll("#filters input[type=checkbox]").forEach(function (el) {
    el.addEventListener("change", function () {
      try { sessionStorage.setItem(KEY, el.name + "=" + el.value); } catch (err) { /* private mode */ }
      el.form.submit();
    });
  });
  var wanted = null;
  try { wanted = sessionStorage.getItem(KEY); sessionStorage.removeItem(KEY); } catch (err) { /* private mode */ }
  var phone = window.matchMedia && window.matchMedia("(max-width: 800px)").matches;
  var box = document.querySelector("details.filterbox");
  if (box && phone && !wanted) { box.open = false; }
  if (wanted) {
    var eq = wanted.indexOf("=");
    document.querySelectorAll("#filters input[type=checkbox]").forEach(function (el) {
      if (el.name === wanted.slice(0, eq) && el.value === wanted.slice(eq + 1)) { el.focus(); }
    });
  }
  var arrived = document.querySelector(".passage.arrived");
  if (arrived) { arrived.scrollIntoView({ block: "center" }); }
})();

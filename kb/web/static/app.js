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
  // "Add to collection" without leaving the page; without a script the form posts and the
  // page comes back with a message.
  function say(btn, text) {
    var note = btn.nextElementSibling;
    if (!note || !note.classList.contains("added")) {
      note = document.createElement("span");
      note.className = "added";
      note.setAttribute("role", "status");
      btn.insertAdjacentElement("afterend", note);
    }
    note.textContent = text;
  }
  // Forms marked data-fetch (add to a collection, judge a result) post without leaving the
  // page and say how it went beside the button; without a script they post and the page
  // comes back where it was, with a message.
  document.querySelectorAll("form[data-fetch]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      var btn = e.submitter;
      if (!btn || !window.fetch || !window.FormData) { return; }
      e.preventDefault();
      var data = new FormData(form);
      if (btn.name) { data.set(btn.name, btn.value); }
      btn.disabled = true;
      fetch(form.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin",
                                            headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.json(); })
        .then(function (body) { say(btn, body.message || "That did not work."); },
              function () { say(btn, "That did not work: reload the page and try again."); })
        .then(function () { btn.disabled = false; });
    });
  });
  // Moving an item reloads the page: the focus comes back to the same button of that item,
  // so Up or Down can be pressed again. (form.action would be the buttons named "action".)
  var TOOL = "kb.item-tool";
  document.querySelectorAll("form.item-tools").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!e.submitter) { return; }
      try { sessionStorage.setItem(TOOL, form.getAttribute("action") + " " + e.submitter.value); } catch (err) { /* private mode */ }
    });
  });
  var tool = null;
  try { tool = sessionStorage.getItem(TOOL); sessionStorage.removeItem(TOOL); } catch (err) { /* private mode */ }
  if (tool) {
    // After the load: the browser's move to the #item anchor would take the focus back.
    window.addEventListener("load", function () {
      var cut = tool.lastIndexOf(" ");
      document.querySelectorAll("form.item-tools").forEach(function (form) {
        if (form.getAttribute("action") !== tool.slice(0, cut)) { return; }
        var again = form.querySelector("button[value='" + tool.slice(cut + 1) + "']:not([disabled])");
        var other = form.querySelector("button:not([disabled])");
        (again || other).focus();
      });
    });
  }
  var arrived = document.querySelector(".passage.arrived");
  if (arrived) { arrived.scrollIntoView({ block: "center" }); }
})();

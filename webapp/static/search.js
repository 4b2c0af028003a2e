// Progressive enhancement for the search page: everything works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");  // the filters' Apply button is for pages without this file

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("filters-box");   // on a phone, filters start folded above the results
    if (box && window.matchMedia && window.matchMedia("(max-width: 50rem)").matches) box.removeAttribute("open");
  });

  document.addEventListener("change", function (e) {  // a filter applies as soon as it changes
    var el = e.target;
    if (!el.classList || !el.classList.contains("auto") || !el.form) return;
    if (el.tagName === "INPUT" && el.value && !/^\d{4}(-\d{2}(-\d{2})?)?$/.test(el.value.trim())) {
      el.setCustomValidity("Write a year (2023), a month (2023-04) or a day (2023-04-30).");
      el.reportValidity();
      return;
    }
    if (el.setCustomValidity) el.setCustomValidity("");
    var q = document.getElementById("q");
    if (q && q.value.trim()) el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
  });
  function results() { return Array.prototype.slice.call(document.querySelectorAll("li.result")); }
  function typing(el) { return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA"); }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var box = document.getElementById("q");
    if (e.key === "/" && !typing(document.activeElement) && box) {  // "/" focuses the search box
      e.preventDefault(); box.focus(); box.select(); return;
    }
    if (e.key === "Escape" && document.activeElement === box) { box.blur(); return; }
    if (typing(document.activeElement)) return;
    var items = results();
    if (!items.length) return;
    var at = items.indexOf(document.activeElement.closest ? document.activeElement.closest("li.result") : null);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {           // arrows move through results
      e.preventDefault();
      var next = e.key === "ArrowDown" ? Math.min(at + 1, items.length - 1) : Math.max(at - 1, 0);
      items[next].focus();
      items[next].scrollIntoView({block: "nearest"});
    } else if (e.key === "Enter" && document.activeElement.matches && document.activeElement.matches("li.result")) {
      var link = document.activeElement.querySelector("a.open");  // Enter opens the focused result
      if (link) window.location.href = link.href;
    }
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button.copy");
    if (!button) return;
    var text = button.getAttribute("data-citation");
    function done(ok) { button.textContent = ok ? "Copied" : "Select the citation below"; }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else { done(false); }
  });

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains("feedback") || !window.fetch) return;
    e.preventDefault();
    var data = new FormData(form);
    if (e.submitter && e.submitter.name) data.append(e.submitter.name, e.submitter.value);
    fetch(form.action, {method: "POST", body: data, headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function () { form.innerHTML = '<span class="thanks" role="status">Thank you for the feedback.</span>'; })
      .catch(function () { form.insertAdjacentHTML("beforeend", '<span class="error" role="alert"> Not saved; try again.</span>'); });
  });
})();

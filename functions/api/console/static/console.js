// OnCall Hub console: the few things HTML cannot do alone. Everything works without it but live updates and copy.
"use strict";
(function () {
  // Live lists: refetch the rows every few seconds and swap them in when they changed. Polling, not SSE: behind
  // API Gateway's HTTP API a Lambda answer cannot stream, and a 3 s poll is one cheap request.
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var last = el.innerHTML;
    setInterval(function () {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
        if (r.headers.get("X-Console-Fragment") !== "incident-rows") {
          if (r.redirected || r.status === 401) window.location.reload(); // the session ended: show sign-in
          return null;
        }
        return r.text();
      }).then(function (html) {
        if (html !== null && html !== undefined && html !== last) { el.innerHTML = html; last = html; }
      }).catch(function () { /* offline for a moment: the next tick tries again */ });
    }, 3000);
  }
  document.querySelectorAll("[data-poll]").forEach(poll);
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.getAttribute("data-copy")).textContent;
      navigator.clipboard.writeText(text).then(function () { button.textContent = "Copied"; });
    });
  });
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();

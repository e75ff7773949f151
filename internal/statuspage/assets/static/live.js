// Refreshes every element with data-live from that URL, every data-every
// ms, without reloading the page. Without this script the page is static.
(function () {
  "use strict";
  if (!window.fetch) return;
  var status = document.getElementById("live-status");
  function say(s) { if (status) status.textContent = s; }
  document.querySelectorAll("[data-live]").forEach(function (el) {
    var url = el.getAttribute("data-live");
    var every = parseInt(el.getAttribute("data-every"), 10) || 2000;
    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          return r.text().then(function (t) {
            if (!r.ok) throw new Error(r.status + " " + t.slice(0, 200));
            return t;
          });
        })
        .then(function (t) {
          // The fragment is rendered by html/template: escaped server-side.
          el.innerHTML = t;
          var pre = el.querySelector("pre");
          if (pre) pre.scrollTop = pre.scrollHeight;
          say("live");
        })
        .catch(function (e) { say("stale: " + e.message); })
        .then(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  });
  say("live");
})();

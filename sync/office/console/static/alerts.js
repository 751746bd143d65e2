// The Alerts page, live: server-sent events (the browser reconnects by itself and sends
// Last-Event-ID, so nothing is missed), polling /alerts/rows every 4 s while the stream is down.
(function () {
  "use strict";
  var body = document.getElementById("alert-rows");
  if (!body) return;
  var gone = document.getElementById("withdrawn-rows");
  var goneSection = document.getElementById("withdrawn");
  // Withdrawals since this time (the server's clock) are asked for again on every poll and
  // reconnect: a row already shown as withdrawn is left as it is.
  var since = body.getAttribute("data-since") || "0";
  var state = document.getElementById("live-state");
  var empty = document.getElementById("no-alerts");
  var after = parseInt(body.getAttribute("data-after") || "0", 10);
  var live = false;

  function add(html) {
    var t = document.createElement("tbody");
    t.innerHTML = html;
    var rows = Array.prototype.slice.call(t.querySelectorAll("tr[data-id]"));
    rows.sort(function (a, b) { return a.getAttribute("data-id") - b.getAttribute("data-id"); });
    rows.forEach(function (row) {
      var id = parseInt(row.getAttribute("data-id"), 10);
      var shown = document.getElementById(row.id);
      if (id > after) after = id;
      if (row.classList.contains("withdrawn")) {
        // The office withdrew it: out of the standing alerts, into the withdrawn ones (greyed).
        if (shown && shown.classList.contains("withdrawn")) return;
        if (shown) shown.parentNode.removeChild(shown);
        if (gone) {
          gone.insertBefore(row, gone.firstChild);
          if (goneSection) goneSection.hidden = false;
        }
        return;
      }
      if (shown) return;  // already shown (the stream and the poll)
      body.insertBefore(row, body.firstChild);
      if (window.htmx) window.htmx.process(row);  // its acknowledge form
    });
    if (empty) empty.hidden = !!body.querySelector("tr");
  }

  function say(on) {
    live = on;
    if (state) state.textContent = state.getAttribute(on ? "data-live" : "data-polling");
  }

  function poll() {
    if (live) return;
    var xhr = new XMLHttpRequest();
    xhr.open("GET", "/alerts/rows?after=" + after + "&since=" + since);
    xhr.setRequestHeader("HX-Request", "true");
    xhr.onload = function () { if (xhr.status === 200) add(xhr.responseText); };
    xhr.send();
  }
  setInterval(poll, 4000);

  if (window.EventSource) {
    var source = new EventSource("/alerts/stream?after=" + after + "&since=" + since);
    source.addEventListener("open", function () { say(true); });
    source.addEventListener("error", function () { say(false); });
    source.addEventListener("alert", function (e) { add(e.data); });
  }
})();

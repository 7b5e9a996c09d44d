// Live updates: the server says what changed ("alarms" or "fleet"); the page fetches its rows
// again. No framework, no CDN: a control room may be offline.
(function () {
  "use strict";
  function refresh(table) {
    var url = table.getAttribute("data-rows");
    fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { if (r.status === 200) { return r.text(); } throw new Error(r.status); })
      .then(function (html) { table.tBodies[0].innerHTML = html; })
      .catch(function () { /* the next event retries */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var alarms = document.querySelector("table.alarms[data-rows]");
    var fleet = document.querySelector("table.fleet[data-rows]");
    if (!alarms && !fleet) { return; }
    var es = new EventSource("/events");
    es.addEventListener("alarms", function () { if (alarms) { refresh(alarms); } });
    es.addEventListener("fleet", function () {
      if (fleet) { refresh(fleet); }
      if (alarms) { refresh(alarms); }
    });
  });
})();

/* topicmap facet page: the server owns selection in both sunbursts (as topicmap.js does for #chart).
 * Plotly's own zoom on click is cancelled and the click passed on as plotly_click, which dcc.Graph
 * sends to the server as clickData. Matches nothing on the single-tree explorer. */
(function () {
  "use strict";
  var CHARTS = ["#facet-chart", "#facet-cross"];

  function bind() {
    CHARTS.forEach(function (selector) {
      var gd = document.querySelector(selector + " .js-plotly-plot");
      if (!gd || typeof gd.on !== "function" || gd.__topicmapFacetBound) {
        return;
      }
      gd.__topicmapFacetBound = true;
      gd.on("plotly_sunburstclick", function (data) {
        gd.emit("plotly_click", { points: data.points, event: data.event });
        return false;
      });
    });
  }

  new MutationObserver(bind).observe(document.documentElement, { childList: true, subtree: true });
})();

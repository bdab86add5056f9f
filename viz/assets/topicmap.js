/* topicmap: the server owns drill-down in the hierarchy chart.
 *
 * Plotly zooms a sunburst/treemap/icicle by itself on click, with a 750 ms animation; the server
 * answers the same click with a new figure, and a figure arriving mid-animation leaves the chart
 * half-drawn. So cancel plotly's own zoom (return false from its *click event) and pass the click
 * on as an ordinary plotly_click, which dcc.Graph turns into clickData for the server.
 */
(function () {
  "use strict";
  var EVENTS = ["plotly_sunburstclick", "plotly_treemapclick", "plotly_icicleclick"];

  function bind() {
    var gd = document.querySelector("#chart .js-plotly-plot");
    if (!gd || typeof gd.on !== "function" || gd.__topicmapBound) {
      return;
    }
    gd.__topicmapBound = true;
    EVENTS.forEach(function (name) {
      gd.on(name, function (data) {
        gd.emit("plotly_click", { points: data.points, event: data.event });
        return false;
      });
    });
  }

  new MutationObserver(bind).observe(document.documentElement, { childList: true, subtree: true });
})();

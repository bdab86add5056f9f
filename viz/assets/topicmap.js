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

/* topicmap: the document map's topic names.
 *
 * A click on a name (a plotly annotation named by its node id) is passed to the server through the
 * `map-label` store, which selects that topic everywhere. After a zoom, a pan or a resize, what the
 * map shows (axis ranges, plot size in px, and the view it was drawn for) goes to the `map-frame`
 * store, and the server places the names for it; an unchanged frame is not sent again.
 */
(function () {
  "use strict";
  var lastFrame = "";

  function frameOf(gd) {
    var full = gd._fullLayout;
    if (!full || !full.xaxis || !full.yaxis || !full._size) {
      return null;
    }
    var meta = (gd.layout && gd.layout.meta) || {};
    return {
      view: meta.view,
      x: [full.xaxis.range[0], full.xaxis.range[1]],
      y: [full.yaxis.range[0], full.yaxis.range[1]],
      w: full._size.w,
      h: full._size.h
    };
  }

  function report(gd) {
    var frame = frameOf(gd);
    var api = window.dash_clientside;
    if (!frame || frame.view === undefined || !api || typeof api.set_props !== "function") {
      return;
    }
    var key = JSON.stringify(frame);
    if (key === lastFrame) {
      return;
    }
    lastFrame = key;
    api.set_props("map-frame", { data: frame });
  }

  function bind() {
    var gd = document.querySelector("#doc-map .js-plotly-plot");
    if (!gd || typeof gd.on !== "function" || gd.__topicmapMapBound) {
      return;
    }
    gd.__topicmapMapBound = true;
    gd.on("plotly_clickannotation", function (data) {
      var node = data && data.annotation && data.annotation.name;
      if (node && window.dash_clientside && window.dash_clientside.set_props) {
        window.dash_clientside.set_props("map-label", { data: { node: node, at: Date.now() } });
      }
    });
    gd.on("plotly_relayout", function () { report(gd); });
    gd.on("plotly_afterplot", function () { report(gd); });
  }

  new MutationObserver(bind).observe(document.documentElement, { childList: true, subtree: true });
})();

'use strict';
// The trace types topicmap's dashboard draws (viz/figures.py, viz/trend_figures.py,
// viz/facet_figures.py); scatter comes with plotly.js's core. Add a type here before a figure uses it.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/sunburst'),
    require('plotly.js/lib/treemap'),
    require('plotly.js/lib/icicle'),
    require('plotly.js/lib/scattergl'),
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/heatmap'),
]);

module.exports = Plotly;

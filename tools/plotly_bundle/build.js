// Bundles entry.js the way plotly.js bundles its own partial builds (its esbuild-config.js: IIFE
// named Plotly, GLSL shaders inlined, regl resolved to plotly's fork), minified, licences kept.
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const version = require('plotly.js/package.json').version;
const outfile = path.resolve(__dirname, '..', '..', 'viz', 'assets', 'vendor', 'plotly-topicmap.min.js');
const banner = [
    '/**',
    `* plotly.js v${version}, partial bundle for topicmap (traces: scatter, sunburst, treemap, icicle, scattergl, bar, heatmap)`,
    '* Copyright 2012-2026, Plotly, Inc.',
    '* All rights reserved.',
    '* Licensed under the MIT license',
    '* Built by tools/plotly_bundle/build.js',
    '*/',
].join('\n');

esbuild
    .build({
        entryPoints: [path.join(__dirname, 'entry.js')],
        outfile,
        format: 'iife',
        globalName: 'Plotly',
        bundle: true,
        minify: true,
        sourcemap: false,
        legalComments: 'eof',
        banner: { js: banner },
        plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
        alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
        define: { global: 'window', 'define.amd': 'false' },
        target: 'es2016',
        logLevel: 'info',
    })
    .then(() => {
        fs.copyFileSync(require.resolve('plotly.js/LICENSE'), path.join(path.dirname(outfile), 'plotly.js-LICENSE.txt'));
        console.log(`plotly.js ${version} -> ${outfile} (${fs.statSync(outfile).size} bytes)`);
    })
    .catch(() => process.exit(1));

/* geoequity map runtime: builds the data layers of a geoequity map from compact JSON.
 *
 * Every piece of text that comes from data (school names, district names, attribute values)
 * is put into the page with textContent, never innerHTML, so markup in data shows as text
 * and runs nothing. Geometry arrives quantised (integer units of 1/q degree) and
 * delta-encoded per ring to keep large maps small.
 */
(function () {
  "use strict";
  var GE = (window.GE = window.GE || {});
  GE.counts = GE.counts || {};
  // words of the runtime itself, in the map's language (GE.i18n, from Python)
  GE.text = GE.text || { fold: "click to fold or unfold the legend", yes: "yes", no: "no" };
  GE.i18n = function (map, texts) { Object.assign(GE.text, texts); };

  // kind "coord": degrees of longitude/latitude, 6 decimals (about 0.1 m); "plain": as is
  function fmt(v, kind) {
    if (v === null || v === undefined) return "\u2013";
    if (typeof v === "number") {
      if (!isFinite(v)) return "\u2013";
      if (kind === "coord") return v.toFixed(6);
      if (kind === "plain") return String(v);   // years: 2028, not 2,028
      if (Number.isInteger(v)) return v.toLocaleString("en-US");
      var a = Math.abs(v);
      var digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
      return v.toLocaleString("en-US", { maximumFractionDigits: digits });
    }
    if (typeof v === "boolean") return v ? GE.text.yes : GE.text.no;
    return String(v);
  }
  GE.fmt = fmt;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // A popup: a title line and a two-column table, all text nodes. The column shown as the
  // title (index skip) is not repeated as a row; formats[i] is passed to fmt.
  function table(title, fields, values, skip, formats) {
    var root = el("div", "ge-popup");
    if (title !== null && title !== undefined) root.appendChild(el("div", "ge-popup-title", title));
    var t = el("table");
    for (var i = 0; i < fields.length; i++) {
      if (i === skip) continue;
      var tr = t.insertRow();
      tr.appendChild(el("th", null, fields[i]));
      tr.appendChild(el("td", null, fmt(values[i], formats ? formats[i] : null)));
    }
    root.appendChild(t);
    return root;
  }
  GE.table = table;

  function ring(a, q) {
    var out = new Array(a.length / 2);
    var lat = 0, lng = 0;
    for (var i = 0; i < a.length; i += 2) {
      lat += a[i];
      lng += a[i + 1];
      out[i / 2] = [lat / q, lng / q];
    }
    return out;
  }

  function decode(g, q) {
    // g: list of polygons, each a list of rings (flat delta-encoded integer arrays)
    var polys = g.map(function (p) {
      return p.map(function (r) { return ring(r, q); });
    });
    return polys.length === 1 ? polys[0] : polys;
  }

  GE.panes = function (map) {
    // ge-district-areas: invisible district fills under the cells, so a click anywhere in a
    // district (where no cell or school takes it) opens the district's popup
    var z = { "ge-district-areas": 405, "ge-cells": 410, "ge-areas": 420, "ge-districts": 430,
      "ge-proposals": 440, "ge-schools": 450, "ge-sites": 620 };
    Object.keys(z).forEach(function (name) {
      if (!map.getPane(name)) map.createPane(name).style.zIndex = z[name];
    });
  };

  // d: {kind, cls, pane, q, style, palette, colors, radius, fields, rows, title, tooltip,
  //     canvas, labels}; geoms: shared geometry array (cell layers) or d.geoms
  GE.vector = function (map, d, geoms) {
    GE.panes(map);
    geoms = geoms || d.geoms;
    var q = d.q || 1e5;
    var n = geoms.length;
    var rows = d.rows;
    var group = L.featureGroup();
    // many features: one canvas instead of thousands of SVG paths (clicks still work)
    var renderer = d.canvas ? L.canvas({ pane: d.pane, padding: 0.2 }) : null;
    var base = Object.assign({}, d.style, { className: d.cls, pane: d.pane });
    if (renderer) base.renderer = renderer;
    function populate() {
      // decoded lat/lng arrays are shared by the layers drawing the same geometry
      if (d.kind === "polygon" && !geoms._decoded) {
        geoms._decoded = geoms.map(function (g) { return decode(g, q); });
      }
      for (var i = 0; i < n; i++) {
        var g = geoms[i];
        var opts = Object.assign({}, base);
        if (d.colors) {
          var c = d.palette[d.colors[i]];
          opts.fillColor = c;
          if (d.strokeFromPalette) opts.color = c;
        }
        var lyr;
        if (d.kind === "point") {
          opts.radius = d.radius ? d.radius[i] : d.style.radius || 5;
          lyr = L.circleMarker([g[0] / q, g[1] / q], opts);
        } else if (d.kind === "site") {
          var icon = el("div", "ge-site-badge", d.labels ? d.labels[i] : "");
          lyr = L.marker([g[0] / q, g[1] / q], {
            pane: d.pane,
            icon: L.divIcon({ className: d.cls, html: icon, iconSize: [24, 24], iconAnchor: [12, 12] }),
          });
        } else {
          lyr = L.polygon(geoms._decoded[i], opts);
          if (d.hitPane) {
            var hit = L.polygon(geoms._decoded[i], { pane: d.hitPane, stroke: false, fill: true,
              fillOpacity: 0, className: d.cls + "-area" });
            hit._geRow = i;
            group.addLayer(hit);
          }
        }
        lyr._geRow = i;
        group.addLayer(lyr);
      }
      GE.counts[d.cls] = (GE.counts[d.cls] || 0) + n;
      if (d.zoomRadius) scaleRadius();
    }
    // circles sized for the zoom the map opens with; they grow as one zooms in (up to 3x)
    // and shrink as one zooms out, so at city scale they never bury the cells
    function scaleRadius() {
      var f = Math.pow(2, (map.getZoom() - (GE.baseZoom || map.getZoom())) / 2);
      f = Math.min(3, Math.max(0.5, f));
      group.eachLayer(function (l) { if (l.setRadius) l.setRadius(d.radius[l._geRow] * f); });
    }
    if (d.zoomRadius) map.on("zoomend", scaleRadius);
    // layers hidden at first are built when first switched on
    if (d.lazy) group.once("add", populate);
    else populate();
    // one popup and one tooltip binding for the whole layer, built on demand
    if (rows) {
      group.bindPopup(function (lyr) {
        var row = rows[lyr._geRow];
        var title = d.title === null || d.title === undefined ? null : row[d.title];
        if (d.titlePrefix) title = d.titlePrefix + " " + fmt(title);
        return table(title, d.fields, row, d.title, d.formats);
      }, { maxWidth: 420 });
      if (d.tooltip !== null && d.tooltip !== undefined) {
        group.bindTooltip(function (lyr) {
          return el("span", null, fmt(rows[lyr._geRow][d.tooltip]));
        }, { sticky: d.kind === "polygon" });
      }
    }
    return group;
  };

  // Chromium refuses data: URLs over 2 MB in <img>: large images go through a Blob URL.
  function imageUrl(url) {
    if (url.length < 1000000 || url.slice(0, 5) !== "data:") return url;
    var comma = url.indexOf(",");
    var bin = atob(url.slice(comma + 1));
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var type = url.slice(5, url.indexOf(";"));
    return URL.createObjectURL(new Blob([bytes], { type: type }));
  }
  GE.imageUrl = imageUrl;

  // Dense grids: one PNG (palette indices painted in Web Mercator) stretched over its bounds.
  GE.image = function (map, d) {
    GE.panes(map);
    var ov = L.imageOverlay(imageUrl(d.url), d.bounds, {
      opacity: d.opacity, className: d.cls + " ge-raster", pane: "ge-cells", interactive: false,
    });
    ov.once("add", function () { GE.counts[d.cls] = (GE.counts[d.cls] || 0) + d.n; });
    return ov;
  };

  // Popups on image cells: the click's Web Mercator position gives a pixel of the position
  // raster (24-bit RGB PNG), whose colour is the cell id + 1; the attributes come from columns.
  GE.rasterClick = function (map, d, layers) {
    var ctx = null;
    function withPixels(cb) {
      if (ctx) return cb();
      var img = new Image();
      img.onload = function () {
        var c = document.createElement("canvas");
        c.width = d.w;
        c.height = d.h;
        ctx = c.getContext("2d", { willReadFrequently: true });
        ctx.drawImage(img, 0, 0);
        cb();
      };
      img.src = imageUrl(d.url);
    }
    map.on("click", function (e) {
      if (!layers.some(function (l) { return map.hasLayer(l); })) return;
      var p = L.CRS.EPSG3857.project(e.latlng);
      var col = Math.floor((p.x - d.xmin) / d.res);
      var row = Math.floor((d.ymax - p.y) / d.res);
      if (col < 0 || row < 0 || col >= d.w || row >= d.h) return;
      withPixels(function () {
        var px = ctx.getImageData(col, row, 1, 1).data;
        var id = px[0] * 65536 + px[1] * 256 + px[2];
        if (!id) return;
        var values = d.cols.map(function (c) { return c[id - 1]; });
        var title = d.titlePrefix + " " + fmt(values[d.title]);
        L.popup({ maxWidth: 420 }).setLatLng(e.latlng)
          .setContent(table(title, d.fields, values, d.title, d.formats)).openOn(map);
      });
    });
  };

  function legendUpdate(map) {
    var first = true;
    map._geLegend.entries.forEach(function (e) {
      var on = map.hasLayer(e.layer);
      e.el.style.display = on ? "" : "none";
      e.el.classList.toggle("ge-first", on && first);   // no rule above the top section
      if (on) first = false;
    });
  }

  // spec: {title, note, shape: "fill"|"circle"|"line", items: [[color, label], ...]}
  GE.legend = function (map, layer, spec) {
    if (!map._geLegend) {
      var ctl = L.control({ position: "bottomright" });
      var box = el("div", "ge-legend leaflet-control");
      box.title = GE.text.fold;
      box.appendChild(el("div", "ge-legend-toggle", "\u2261"));
      // small screens start folded (titles only); a click toggles
      if (map.getSize().y < 600) box.classList.add("ge-folded");
      L.DomEvent.on(box, "click", function () { box.classList.toggle("ge-folded"); });
      ctl.onAdd = function () {
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      };
      ctl.addTo(map);
      map._geLegend = { box: box, entries: [] };
      map.on("layeradd layerremove", function () { legendUpdate(map); });
    }
    var sec = el("div", "ge-legend-section");
    sec.appendChild(el("div", "ge-legend-title", spec.title));
    if (spec.note) sec.appendChild(el("div", "ge-legend-note", spec.note));
    (spec.items || []).forEach(function (it) {
      var row = el("div", "ge-legend-item");
      var sw = el("span", "ge-swatch ge-swatch-" + (spec.shape || "fill"));
      if ((spec.shape || "fill") === "line") sw.style.borderColor = it[0];
      else sw.style.background = it[0];
      row.appendChild(sw);
      row.appendChild(el("span", "ge-legend-label", it[1]));
      sec.appendChild(row);
    });
    map._geLegend.box.appendChild(sec);
    map._geLegend.entries.push({ layer: layer, el: sec });
    legendUpdate(map);
  };

  // note: a warning line (e.g. seats fall short across the whole area)
  GE.title = function (map, text, subtitle, note) {
    var box = el("div", "ge-title");
    box.appendChild(el("div", "ge-title-main", text));
    if (subtitle) box.appendChild(el("div", "ge-title-sub", subtitle));
    if (note) box.appendChild(el("div", "ge-title-note", note));
    map.getContainer().appendChild(box);
  };

  // The title stands centred in the width the top corners' controls leave free (zoom and
  // year switch on the left; the layer control, which can be wide, on the right), so no
  // control covers it; where that width is too narrow it keeps its place in the middle.
  function placeTitle(map) {
    var box = map.getContainer().querySelector(".ge-title");
    if (!box) return;
    var c = map.getContainer().getBoundingClientRect();
    var left = 0, right = c.width;
    map.getContainer().querySelectorAll(".leaflet-top.leaflet-left > *").forEach(function (e) {
      left = Math.max(left, e.getBoundingClientRect().right - c.left);
    });
    map.getContainer().querySelectorAll(".leaflet-top.leaflet-right > *").forEach(function (e) {
      right = Math.min(right, e.getBoundingClientRect().left - c.left);
    });
    var free = right - left - 20 - 30;   // 10 px from each control; the box's own padding
    if (free < 240) {
      box.style.left = ""; box.style.maxWidth = "";
      return;
    }
    box.style.left = ((left + right) / 2) + "px";
    box.style.maxWidth = free + "px";
  }

  // Fit the data's bounds into the part of the map that the title, the layer control and
  // the legend leave free: the legend and the layer control stand in a column on the right,
  // so the data are placed left of that column and under the title. On a narrow map (less
  // than 2.5 legend widths) the legend starts folded and the data use the whole width.
  function fitBesideControls(map, bounds) {
    var size = map.getSize();
    var lg = map._geLegend ? map._geLegend.box : null;
    var right = 0;
    if (lg && !lg.classList.contains("ge-folded") && size.x < 2.5 * lg.offsetWidth + 40) {
      lg.classList.add("ge-folded");
    }
    var ctl = map.getContainer().querySelector(".leaflet-control-layers");
    [lg, ctl].forEach(function (e) { if (e) right = Math.max(right, e.offsetWidth + 20); });
    if (size.x - right < 0.45 * size.x) right = 0;
    var title = map.getContainer().querySelector(".ge-title");
    var top = title ? title.offsetTop + title.offsetHeight + 8 : 10;
    if (lg && ctl) {   // legend and layer control share the right column: never overlap
      // the legend's bottom stays where it is (above the attribution); its top stops 10 px
      // under the layer control (the legend box is border-box)
      var gap = lg.getBoundingClientRect().bottom - ctl.getBoundingClientRect().bottom - 10;
      lg.style.maxHeight = Math.max(80, gap) + "px";
    }
    map.options.zoomSnap = 0.25;   // quarter zoom steps: the data fill the free space
    map.fitBounds(bounds, { paddingTopLeft: [50, top], paddingBottomRight: [right + 10, 30],
      maxZoom: 17, animate: false });
  }
  GE.fitBesideControls = fitBesideControls;

  GE.attribution = function (map, texts) {
    // Fixed strings chosen by geoequity (not data), e.g. the OpenStreetMap notice.
    texts.forEach(function (t) { map.attributionControl.addAttribution(t); });
  };

  GE.ready = function (map, bounds) {
    GE.map = map;
    placeTitle(map);
    map.on("resize", function () { placeTitle(map); });
    if (bounds) GE.bounds = bounds;
    function finish() {
      if (bounds) fitBesideControls(map, bounds);
      GE.baseZoom = map.getZoom();
      map.fire("zoomend");   // circles sized for the fitted zoom
      document.body.setAttribute("data-ge-ready", "1");
    }
    // the first fit may still be animating its zoom: a fit now would be dropped by Leaflet
    // (the data then ran under the legend), so fit once it has ended
    if (bounds && map._animatingZoom) map.once("zoomend", finish);
    else finish();
  };
})();

// The attention explorer's script (embedded into the page by attn at build time). It reads the
// JSON of <script id="attn-data">, decodes the 8-bit weights, and draws the head view (SVG) and
// the model view (canvases). window.attnExplorer is a small hook for tests (docs/EXPLORER.md).
"use strict";
(function () {
  // Okabe-Ito: categorical colours that stay distinct for colour-blind readers. From the ninth
  // head on, the colours repeat with a dash pattern.
  const HEAD_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
    "#F0E442", "#000000"];
  const HEAD_DASHES = ["", "7 3", "2 3", "9 3 2 3"];
  // Viridis (perceptually uniform, colour-blind safe) at nine evenly spaced points.
  const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
    [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
  const SVG_NS = "http://www.w3.org/2000/svg";
  const LABEL_CHARS = 18;  // longer token labels are cut (the full text is in their tooltip)

  const data = JSON.parse(document.getElementById("attn-data").textContent);
  const maps = data.maps.map(decodeMap);
  const state = { map: 0, view: "head", layer: 0, heads: [], side: "query", token: 0 };
  let layout = null;  // of the head view, set by drawHeadView

  // ------------------------------------------------------------------ data

  function decodeMap(m) {
    const raw = atob(m.codes);
    const codes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; ++i) codes[i] = raw.charCodeAt(i);
    const top = m.scales.reduce((a, b) => Math.max(a, b), 0) || 1;
    return Object.assign({}, m, { codes, Q: m.queries.length, K: m.keys.length, top });
  }

  // The stored weight of query q on key k in (layer, head) of map m.
  function weight(m, layer, head, q, k) {
    const slice = layer * m.heads + head;
    return (m.codes[(slice * m.Q + q) * m.K + k] / 255) * m.scales[slice];
  }

  function range(n) {
    return Array.from({ length: n }, (_, i) => i);
  }

  function shortLabel(text) {
    const chars = Array.from(text.replace(/\n/g, "\\n").replace(/\t/g, "\\t"));
    const shown = chars.length > LABEL_CHARS ? chars.slice(0, LABEL_CHARS - 1).join("") + "\u2026"
      : chars.join("");
    return shown.trim() === "" ? "\u2423" : shown;  // a blank token shows as an open box
  }

  function headColour(h) {
    return HEAD_COLOURS[h % HEAD_COLOURS.length];
  }

  function headDash(h) {
    return HEAD_DASHES[Math.floor(h / HEAD_COLOURS.length) % HEAD_DASHES.length];
  }

  function viridis(t) {
    const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
    return VIRIDIS[i].map((c, j) => Math.round(c + (VIRIDIS[i + 1][j] - c) * f));
  }

  // ------------------------------------------------------------------ DOM helpers

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attributes || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgEl(tag, attributes, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attributes || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  // ------------------------------------------------------------------ controls

  function buildHeader() {
    byId("title").textContent = data.title || "Attention explorer";
    byId("notes").replaceChildren(...data.notes.map((n) => el("li", {}, n)));
    const select = byId("map-select");
    select.replaceChildren(...maps.map((m, i) => el("option", { value: i }, m.name)));
    byId("map-label").hidden = maps.length < 2;
    select.addEventListener("change", () => setMap(Number(select.value)));
    byId("layer-select").addEventListener("change", (e) => setLayer(Number(e.target.value)));
    byId("tab-head").addEventListener("click", () => setView("head"));
    byId("tab-model").addEventListener("click", () => setView("model"));
  }

  function buildLayerAndHeadControls() {
    const m = maps[state.map];
    byId("layer-select").replaceChildren(
      ...range(m.layers).map((l) => el("option", { value: l }, String(l))));
    byId("layer-select").value = String(state.layer);
    byId("head-list").replaceChildren(...range(m.heads).map(headToggle));
  }

  function headToggle(h) {
    const box = el("input", { type: "checkbox", value: h });
    box.checked = state.heads.includes(h);
    box.addEventListener("change", () => {
      const others = state.heads.filter((x) => x !== h);
      setHeads(box.checked ? others.concat([h]) : others);
    });
    const swatch = svgEl("svg", { class: "swatch", viewBox: "0 0 26 14", "aria-hidden": "true" });
    swatch.append(svgEl("line", { x1: 1, y1: 7, x2: 25, y2: 7, stroke: headColour(h),
      "stroke-width": 4, "stroke-dasharray": headDash(h) }));
    const label = el("label", { title: `head ${h}` });
    label.append(box, swatch, document.createTextNode(`head ${h}`));
    return label;
  }

  // ------------------------------------------------------------------ head view

  function headLayout(m) {
    const n = Math.max(m.Q, m.K);
    const row = n <= 32 ? 22 : Math.max(15, Math.floor(720 / n));  // more rows scroll
    const font = Math.round(row * 0.7);
    const chars = m.queries.concat(m.keys).reduce((a, t) => Math.max(a, shortLabel(t).length), 4);
    const titles = Math.max(m.query_axis.length, m.key_axis.length);  // in a 14 px font
    const labelWidth = Math.max(Math.ceil(chars * font * 0.62), Math.ceil(titles * 14 * 0.6)) + 16;
    const gap = 260, top = 34;
    return { row, font, top, queryX: labelWidth, keyX: labelWidth + gap,
      width: 2 * labelWidth + gap, height: top + n * row + 8 };
  }

  function tokenY(i) {
    return layout.top + (i + 0.5) * layout.row;
  }

  function drawHeadView() {
    const m = maps[state.map], svg = byId("head-svg");
    layout = headLayout(m);
    svg.setAttribute("width", layout.width);
    svg.setAttribute("height", layout.height);
    svg.setAttribute("font-size", layout.font);
    svg.replaceChildren(
      svgEl("text", { class: "column-title", x: layout.queryX - 8, y: 18, "text-anchor": "end" },
        m.query_axis),
      svgEl("text", { class: "column-title", x: layout.keyX + 8, y: 18 }, m.key_axis),
      svgEl("g", { id: "lines" }),
      tokenColumn(m.queries, "query"),
      tokenColumn(m.keys, "key"));
    drawSelection();
  }

  function tokenColumn(tokens, side) {
    const g = svgEl("g", { class: `tokens ${side}` });
    const right = side === "query";
    tokens.forEach((t, i) => {
      const x = right ? 0 : layout.keyX, w = right ? layout.queryX : layout.width - layout.keyX;
      const cell = svgEl("g", { id: `token-${side}-${i}`, "data-side": side, "data-index": i,
        role: "option" });
      cell.append(svgEl("rect", { x, y: layout.top + i * layout.row, width: w, height: layout.row,
        fill: "transparent" }));
      cell.append(svgEl("text", { x: right ? layout.queryX - 8 : layout.keyX + 8, y: tokenY(i),
        "dominant-baseline": "middle", "text-anchor": right ? "end" : "start" }, shortLabel(t)));
      cell.append(svgEl("title", {}, `${side} ${i}: ${t}`));
      cell.addEventListener("mouseenter", () => select(side, i));
      g.append(cell);
    });
    return g;
  }

  // Marks the selected token and shades each token of the other side by its largest weight
  // over the shown heads.
  function markTokens(m) {
    for (const cell of document.querySelectorAll("#head-svg g[data-side]")) {
      const i = Number(cell.dataset.index), side = cell.dataset.side;
      const on = side === state.side && i === state.token;
      cell.querySelector("rect").setAttribute("class", on ? "selected" : "");
      cell.querySelector("text").setAttribute("class", on ? "selected" : "");
      cell.setAttribute("aria-selected", on ? "true" : "false");
      const [q, k] = state.side === "query" ? [state.token, i] : [i, state.token];
      const top = side === state.side ? 0
        : state.heads.reduce((a, h) => Math.max(a, weight(m, state.layer, h, q, k)), 0);
      cell.querySelector("rect").style.fill = on ? "" : `rgba(0, 0, 0, ${(0.18 * top).toFixed(3)})`;
    }
    byId("head-scroll").setAttribute("aria-activedescendant", `token-${state.side}-${state.token}`);
  }

  // Draws the lines of the selected token: one per shown head and token pair with a non-zero
  // stored weight, opacity and width growing with the weight.
  function drawSelection() {
    const m = maps[state.map], lines = byId("lines");
    markTokens(m);
    const pairs = state.side === "query" ? range(m.K).map((k) => [state.token, k])
      : range(m.Q).map((q) => [q, state.token]);
    const drawn = [];
    for (const h of state.heads) {
      for (const [q, k] of pairs) {
        const w = weight(m, state.layer, h, q, k);
        if (w > 0) drawn.push(line(h, q, k, w));
      }
    }
    lines.replaceChildren(...drawn);
    describeSelection(m);
  }

  // Each head's lines start and end a little apart within the rows, so heads that agree stay
  // distinguishable.
  function headOffset(h) {
    const heads = maps[state.map].heads;
    return heads < 2 ? 0 : (h / (heads - 1) - 0.5) * layout.row * 0.5;
  }

  function line(h, q, k, w) {
    const dy = headOffset(h);
    return svgEl("line", { x1: layout.queryX, y1: tokenY(q) + dy, x2: layout.keyX,
      y2: tokenY(k) + dy, stroke: headColour(h), "stroke-dasharray": headDash(h),
      "stroke-opacity": Math.min(1, w).toFixed(4), "stroke-width": (1 + 3 * w).toFixed(2),
      "data-head": h, "data-query": q, "data-key": k, "data-weight": w.toPrecision(6) });
  }

  // One line of text for screen readers and for anyone: the strongest link of each head.
  function describeSelection(m) {
    const tokens = state.side === "query" ? m.queries : m.keys;
    const others = state.side === "query" ? m.keys : m.queries;
    const parts = state.heads.map((h) => {
      let best = 0, bestW = -1;
      for (let j = 0; j < others.length; ++j) {
        const w = state.side === "query" ? weight(m, state.layer, h, state.token, j)
          : weight(m, state.layer, h, j, state.token);
        if (w > bestW) { best = j; bestW = w; }
      }
      return `head ${h}: ${shortLabel(others[best])} (${bestW.toFixed(3)})`;
    });
    const other = state.side === "query" ? "key" : "query";
    byId("head-readout").textContent = `Layer ${state.layer}, ${state.side} ` +
      `"${shortLabel(tokens[state.token])}" - strongest ${other} per head: ` +
      (parts.join("; ") || "no head shown");
  }

  function onHeadKey(e) {
    const m = maps[state.map], count = state.side === "query" ? m.Q : m.K;
    const moves = { ArrowUp: -1, ArrowDown: 1, PageUp: -10, PageDown: 10 };
    if (e.key in moves) {
      select(state.side, Math.min(count - 1, Math.max(0, state.token + moves[e.key])));
    } else if (e.key === "Home" || e.key === "End") {
      select(state.side, e.key === "Home" ? 0 : count - 1);
    } else if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      const side = e.key === "ArrowLeft" ? "query" : "key";
      select(side, Math.min(state.token, (side === "query" ? m.Q : m.K) - 1));
    } else {
      return;
    }
    e.preventDefault();
    const cell = document.querySelector(
      `#head-svg g[data-side="${state.side}"][data-index="${state.token}"]`);
    if (cell) cell.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  // ------------------------------------------------------------------ model view

  function drawModelView() {
    byId("grids").replaceChildren(...maps.map(mapSection));
  }

  function mapSection(m, mi) {
    const section = el("section", { "aria-label": m.name });
    section.append(el("h2", {}, `${m.name} (${m.query_axis} down, ${m.key_axis} across)`));
    section.append(colourBar(m));
    const grid = el("div", { class: "grid" });
    grid.style.gridTemplateColumns = `auto repeat(${m.heads}, auto)`;
    grid.append(el("span"), ...range(m.heads).map((h) => el("span", { class: "col-label" },
      `head ${h}`)));
    for (let l = 0; l < m.layers; ++l) {
      grid.append(el("span", { class: "row-label" }, `layer ${l}`));
      for (let h = 0; h < m.heads; ++h) grid.append(thumb(m, mi, l, h));
    }
    section.append(grid);
    return section;
  }

  // The legend of the heat maps: viridis from 0 to the largest weight of the map.
  function colourBar(m) {
    const bar = el("div", { class: "colorbar", role: "img",
      "aria-label": `colour scale from 0 to ${m.top.toFixed(3)}` });
    const canvas = el("canvas", { width: 160, height: 12 });
    const ctx = canvas.getContext("2d");
    for (let x = 0; x < 160; ++x) {
      ctx.fillStyle = `rgb(${viridis(x / 159).join(",")})`;
      ctx.fillRect(x, 0, 1, 12);
    }
    bar.append(el("span", {}, "weight 0"), canvas, el("span", {}, m.top.toFixed(3)));
    return bar;
  }

  // A heat map of (layer, head): one canvas pixel per weight, scaled up without smoothing.
  function paintCells(canvas, m, layer, head) {
    canvas.width = m.K;
    canvas.height = m.Q;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(m.K, m.Q);
    for (let q = 0; q < m.Q; ++q) {
      for (let k = 0; k < m.K; ++k) {
        const [r, g, b] = viridis(weight(m, layer, head, q, k) / m.top), at = 4 * (q * m.K + k);
        image.data.set([r, g, b, 255], at);
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  function thumb(m, mi, layer, head) {
    const button = el("button", { type: "button", class: "thumb",
      "aria-label": `${m.name}, layer ${layer}, head ${head}: open large`,
      "data-map": mi, "data-layer": layer, "data-head": head });
    const canvas = el("canvas");
    paintCells(canvas, m, layer, head);
    const s = 96 / Math.max(m.Q, m.K);
    canvas.style.width = `${Math.max(12, Math.round(m.K * s))}px`;
    canvas.style.height = `${Math.max(12, Math.round(m.Q * s))}px`;
    button.append(canvas);
    button.addEventListener("click", () => openDetail(mi, layer, head));
    return button;
  }

  // ------------------------------------------------------------------ the large heat map

  const detail = { map: 0, layer: 0, head: 0, q: 0, k: 0, cell: 1, left: 0, top: 0, step: 1 };

  // Labels every step-th token so that labels are at least 10 pixels apart: 1, 2, 5, 10, ...
  function labelStep(cell) {
    for (const s of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]) if (s * cell >= 10) return s;
    return 1000;
  }

  function openDetail(mi, layer, head) {
    const m = maps[mi];
    Object.assign(detail, { map: mi, layer, head, q: 0, k: 0 });
    detail.cell = Math.min(28, Math.max(3, Math.floor(640 / Math.max(m.Q, m.K))));
    detail.step = labelStep(detail.cell);
    detail.font = Math.min(13, Math.max(9, detail.cell - 2));
    const chars = m.queries.concat(m.keys).reduce((a, t) => Math.max(a, shortLabel(t).length), 1);
    detail.left = Math.ceil(chars * detail.font * 0.62) + 10;
    detail.top = detail.left;
    byId("detail-title").textContent = `${m.name}: layer ${layer}, head ${head}`;
    paintDetail();
    const dialog = byId("detail");
    if (!dialog.open) dialog.showModal();
    byId("detail-wrap").focus();
  }

  function paintDetail() {
    const m = maps[detail.map], c = detail.cell, canvas = byId("detail-canvas");
    canvas.width = detail.left + m.K * c + 4;
    canvas.height = detail.top + m.Q * c + 4;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const cells = el("canvas");
    paintCells(cells, m, detail.layer, detail.head);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cells, detail.left, detail.top, m.K * c, m.Q * c);
    paintLabels(ctx, m);
    ctx.strokeStyle = "#ff00ff";
    ctx.lineWidth = 2;
    ctx.strokeRect(detail.left + detail.k * c, detail.top + detail.q * c, c, c);
    describeCell();
  }

  function paintLabels(ctx, m) {
    const c = detail.cell;
    ctx.fillStyle = "#1b1b1b";
    ctx.font = `${detail.font}px "DejaVu Sans Mono", monospace`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let q = 0; q < m.Q; q += detail.step) {
      ctx.fillText(shortLabel(m.queries[q]), detail.left - 4, detail.top + (q + 0.5) * c);
    }
    for (let k = 0; k < m.K; k += detail.step) {
      ctx.save();
      ctx.translate(detail.left + (k + 0.5) * c, detail.top - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "left";
      ctx.fillText(shortLabel(m.keys[k]), 0, 0);
      ctx.restore();
    }
  }

  function describeCell() {
    const m = maps[detail.map];
    const w = weight(m, detail.layer, detail.head, detail.q, detail.k);
    byId("detail-readout").textContent = `${m.query_axis} ${detail.q} "${shortLabel(
      m.queries[detail.q])}" \u2192 ${m.key_axis} ${detail.k} "${shortLabel(m.keys[detail.k])}"` +
      `: weight ${w.toFixed(4)}`;
  }

  function onDetailPointer(e) {
    const m = maps[detail.map], rect = byId("detail-canvas").getBoundingClientRect();
    const k = Math.floor((e.clientX - rect.left - detail.left) / detail.cell);
    const q = Math.floor((e.clientY - rect.top - detail.top) / detail.cell);
    if (q < 0 || k < 0 || q >= m.Q || k >= m.K) return;
    Object.assign(detail, { q, k });
    paintDetail();
  }

  function onDetailKey(e) {
    const m = maps[detail.map];
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (!(e.key in moves)) return;
    e.preventDefault();
    detail.q = Math.min(m.Q - 1, Math.max(0, detail.q + moves[e.key][0]));
    detail.k = Math.min(m.K - 1, Math.max(0, detail.k + moves[e.key][1]));
    paintDetail();
  }

  // ------------------------------------------------------------------ state changes

  function select(side, token) {
    state.side = side;
    state.token = token;
    drawSelection();
  }

  function setLayer(layer) {
    state.layer = Math.min(maps[state.map].layers - 1, Math.max(0, layer));
    byId("layer-select").value = String(state.layer);
    drawSelection();
  }

  function setHeads(heads) {
    state.heads = heads.filter((h) => h >= 0 && h < maps[state.map].heads).sort((a, b) => a - b);
    for (const box of document.querySelectorAll("#head-list input")) {
      box.checked = state.heads.includes(Number(box.value));
    }
    drawSelection();
  }

  function setMap(index) {
    state.map = index;
    const m = maps[index];
    state.layer = Math.min(state.layer, m.layers - 1);
    state.heads = range(m.heads);
    state.side = "query";
    state.token = 0;
    byId("map-select").value = String(index);
    buildLayerAndHeadControls();
    drawHeadView();
  }

  function setView(view) {
    state.view = view;
    byId("head-view").hidden = view !== "head";
    byId("model-view").hidden = view !== "model";
    byId("tab-head").setAttribute("aria-selected", String(view === "head"));
    byId("tab-model").setAttribute("aria-selected", String(view === "model"));
    for (const id of ["map-label", "layer-label", "heads"]) {
      byId(id).style.visibility = view === "head" ? "visible" : "hidden";
    }
  }

  // ------------------------------------------------------------------ start

  buildHeader();
  setMap(0);
  drawModelView();
  setView("head");
  byId("head-scroll").addEventListener("keydown", onHeadKey);
  byId("detail-canvas").addEventListener("mousemove", onDetailPointer);
  byId("detail-wrap").addEventListener("keydown", onDetailKey);
  byId("detail-close").addEventListener("click", () => byId("detail").close());

  // The test hook: the state, the stored weights and the lines drawn, and the state changes.
  window.attnExplorer = {
    state: () => Object.assign({}, state, { heads: state.heads.slice() }),
    detail: () => Object.assign({}, detail),
    weight: (mi, layer, head, q, k) => weight(maps[mi], layer, head, q, k),
    lines: () => Array.from(document.querySelectorAll("#lines line"), (l) => ({
      head: Number(l.dataset.head), query: Number(l.dataset.query), key: Number(l.dataset.key),
      weight: Number(l.dataset.weight), opacity: Number(l.getAttribute("stroke-opacity")) })),
    select, setLayer, setHeads, setMap, setView, openDetail,
  };
})();

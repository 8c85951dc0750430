// src/dom.js
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== void 0) node.textContent = text;
  return node;
}
function usd(value) {
  const v = Number(value || 0);
  if (!v) return "$0";
  if (Math.abs(v) >= 1) return "$" + v.toFixed(2);
  const decimals = Math.min(12, 2 - Math.floor(Math.log10(Math.abs(v))));
  return "$" + v.toFixed(decimals).replace(/0+$/, "").replace(/\.$/, "");
}
function listen(model, handlers) {
  const pairs = Object.entries(handlers).map(([field, handler]) => [`change:${field}`, handler]);
  for (const [event, handler] of pairs) model.on(event, handler);
  return () => {
    for (const [event, handler] of pairs) model.off(event, handler);
  };
}

// src/run_view.js
var ACTIVE = /* @__PURE__ */ new Set(["running", "retrying"]);
var STREAM_CHARS = 160;
var SYMBOL = {
  pending: "",
  running: "▶",
  retrying: "↻",
  succeeded: "✓",
  cached: "✓",
  failed: "✗",
  cancelled: "■",
  interrupted: "⏸",
  skipped: "–"
};
function seconds(value) {
  return `${Number(value || 0).toFixed(1)}s`;
}
function nodeCaption(n, extra) {
  if (!n) return "";
  if (ACTIVE.has(n.state)) {
    const took = seconds((n.elapsed_s || 0) + extra);
    if (n.state === "retrying") return `↻ attempt ${n.attempt} · ${n.retry || took}`;
    if (n.tool) return `calling ${n.tool}… · ${took}`;
    const many = n.active > 1 && !n.items ? ` · ${n.active} at once` : "";
    return `▶ ${took}${many}`;
  }
  if (n.state === "pending" || n.state === "skipped") return n.state === "skipped" ? "not reached" : "";
  const runs = n.runs > 1 && !n.items ? ` · ×${n.runs}` : "";
  const tools = n.tool_calls ? ` · ${n.tool_calls} tool call${n.tool_calls > 1 ? "s" : ""}` : "";
  return `${SYMBOL[n.state] || ""} ${seconds((n.duration_ms || 0) / 1e3)} · ${usd(n.total_cost ?? n.cost)}${runs}${tools}`;
}
function itemsCaption(n) {
  const c = n && n.items;
  if (!c) return "";
  const parts = [`× ${c.total}: ${c.done} ✓`];
  if (c.running) parts.push(`${c.running} running`);
  if (c.retrying) parts.push(`${c.retrying} retrying`);
  if (c.failed) parts.push(`${c.failed} ✗`);
  if (c.cancelled) parts.push(`${c.cancelled} ■`);
  return parts.join(" ");
}
function toolLine(c) {
  const outcome = c.error ? `✗ ${c.error}` : `→ ${c.result}`;
  return `${c.step} · ${c.tool}(${c.arguments}) ${outcome} (${Math.round(c.duration_ms)} ms)`;
}
function render({ model, el: host }) {
  const root = el("div", "am-run");
  const header = el("div", "am-run-header");
  const badge = el("span", "am-run-status");
  const name = el("b", "am-run-name");
  const numbers = el("span", "am-run-numbers");
  const stop = el("button", "am-run-stop", "Stop");
  stop.type = "button";
  stop.title = "Cancel the run (like interrupting the kernel)";
  header.append(badge, name, numbers, stop);
  const error = el("div", "am-run-error");
  const body = el("div", "am-run-body");
  const graph = el("div", "am-run-graph");
  const detail = el("div", "am-run-detail");
  detail.hidden = true;
  body.append(graph, detail);
  const stream = el("div", "am-run-stream");
  stream.setAttribute("aria-live", "off");
  const costs = el("details", "am-run-costs");
  const costsBody = el("div", "am-costs-body");
  costs.append(el("summary", "", "Cost breakdown"), costsBody);
  root.append(header, error, body, stream, costs);
  host.appendChild(root);
  let received = performance.now();
  let selected = model.get("_selected") || null;
  let requests = 0;
  function drawGraph() {
    graph.innerHTML = model.get("graph");
    for (const g of graph.querySelectorAll("g.am-node[data-node]")) {
      const rect = g.querySelector("rect");
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "button");
      const caption = document.createElementNS("http://www.w3.org/2000/svg", "text");
      caption.setAttribute("class", "am-node-caption");
      caption.setAttribute("text-anchor", "middle");
      const x = Number(rect.getAttribute("x")) + Number(rect.getAttribute("width")) / 2;
      const y = Number(rect.getAttribute("y")) + Number(rect.getAttribute("height")) + 12;
      caption.setAttribute("x", String(x));
      caption.setAttribute("y", String(y));
      g.appendChild(caption);
      const items = caption.cloneNode();
      items.setAttribute("class", "am-node-items");
      items.setAttribute("y", String(y + 13));
      g.appendChild(items);
      const open = () => {
        selected = g.dataset.node;
        model.set("_selected", selected);
        drawDetail();
      };
      g.addEventListener("click", open);
      g.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          open();
        }
      });
    }
    drawNodes();
  }
  function drawNodes() {
    const nodes = model.get("nodes") || {};
    const extra = (performance.now() - received) / 1e3;
    for (const g of graph.querySelectorAll("g.am-node[data-node]")) {
      const n = nodes[g.dataset.node];
      const state = n ? n.state : "pending";
      g.dataset.state = state;
      g.querySelector(".am-node-caption").textContent = nodeCaption(n, extra);
      const items = itemsCaption(n);
      g.querySelector(".am-node-items").textContent = items;
      g.setAttribute("aria-label", `${g.dataset.node}: ${state}${items ? " " + items : ""}`);
    }
  }
  function drawStream() {
    const live = Object.entries(model.get("nodes") || {}).filter(([, n]) => ACTIVE.has(n.state) && n.text);
    stream.replaceChildren(...live.map(([name2, n]) => {
      const line = el("div", "am-stream-line");
      line.dataset.node = name2;
      line.append(el("b", "", `${n.stream || name2} `), el("span", "am-stream-text", n.text.slice(-STREAM_CHARS)));
      return line;
    }));
    stream.hidden = !live.length;
  }
  function drawHeader() {
    const status = model.get("status");
    const t = model.get("totals") || {};
    const running = status === "running" || status === "starting";
    const extra = status === "running" ? (performance.now() - received) / 1e3 : 0;
    root.dataset.status = status;
    badge.textContent = status;
    name.textContent = model.get("workflow");
    const parts = [
      seconds((t.elapsed_s || 0) + extra),
      `${t.done || 0}/${t.total || 0} nodes`,
      `${t.tokens || 0} tokens`,
      usd(t.cost)
    ];
    if (t.budget) parts.push(`${Math.round(100 * (t.cost || 0) / t.budget)}% of budget`);
    if (running && t.in_flight) parts.push(`${t.in_flight} calls in flight`);
    numbers.textContent = parts.join(" · ");
    stop.disabled = !running;
    stop.hidden = !running;
    error.textContent = t.error || "";
    error.hidden = !t.error;
  }
  function bars(title, entries, format) {
    const box = el("div", "am-costs-group");
    box.append(el("div", "am-detail-title", title));
    const top = Math.max(...entries.map(([, v]) => v), 0) || 1;
    for (const [label, value] of entries.sort((a, b) => b[1] - a[1])) {
      const row = el("div", "am-bar-row");
      const bar = el("div", "am-bar");
      const fill = el("span", "am-bar-fill");
      fill.style.width = `${100 * value / top}%`;
      bar.append(fill);
      row.append(el("span", "am-bar-label", label), bar, el("span", "am-bar-value", format(value)));
      box.append(row);
    }
    return box;
  }
  function drawCosts() {
    const used = Object.entries(model.get("nodes") || {}).filter(([, n]) => n.total_tokens || n.total_cost);
    const byCost = used.some(([, n]) => n.total_cost > 0);
    const value = (n) => byCost ? n.total_cost || 0 : n.total_tokens || 0;
    const format = (v) => byCost ? usd(v) : `${v} tokens`;
    const perModel = {};
    for (const [, n] of used) perModel[n.model || "?"] = (perModel[n.model || "?"] || 0) + value(n);
    costsBody.replaceChildren(...used.length ? [
      bars("per node", used.map(([k, n]) => [k, value(n)]), format),
      bars("per provider/model", Object.entries(perModel), format)
    ] : [el("div", "am-detail-empty", "Nothing spent yet.")]);
  }
  function section(title, text) {
    const box = el("div", "am-detail-section");
    box.append(el("div", "am-detail-title", title), el("pre", "am-detail-text", text));
    return box;
  }
  function toolCalls(calls) {
    const box = el("div", "am-detail-section am-detail-tools");
    box.append(el("div", "am-detail-title", `tool calls (${calls.length})`));
    for (const c of calls) {
      const line = el("div", c.error ? "am-tool-call am-tool-failed" : "am-tool-call", toolLine(c));
      line.dataset.tool = c.tool;
      box.append(line);
    }
    return box;
  }
  function texts(d) {
    const parts = [];
    if (d.error) parts.push(section("error", d.error));
    if (d.prompt) parts.push(section("prompt", d.prompt));
    if (d.tool_calls && d.tool_calls.length) parts.push(toolCalls(d.tool_calls));
    if (d.response) parts.push(section("response", d.response));
    if (d.outputs) parts.push(section("outputs", d.outputs));
    return parts;
  }
  function itemList(items) {
    const box = el("div", "am-detail-items");
    for (const it of items) {
      const entry = el("details", "am-detail-item");
      entry.dataset.item = it.label;
      entry.dataset.state = it.state;
      entry.open = it.state === "failed";
      entry.append(el("summary", "", `${SYMBOL[it.state] || ""} ${it.label} · ${it.state}`), ...texts(it));
      box.append(entry);
    }
    return box;
  }
  function drawDetail() {
    detail.hidden = selected === null;
    if (selected === null) return;
    const n = (model.get("nodes") || {})[selected] || { state: "pending" };
    const d = (model.get("details") || {})[selected] || {};
    detail.dataset.node = selected;
    const close = el("button", "am-detail-close", "×");
    close.type = "button";
    close.title = "Close";
    close.addEventListener("click", () => {
      selected = null;
      model.set("_selected", null);
      drawDetail();
    });
    const head = el("div", "am-detail-head");
    const facts = [
      n.state,
      itemsCaption(n),
      n.model,
      n.total_tokens || n.tokens ? `${n.total_tokens || n.tokens} tokens` : "",
      n.iteration > 1 && !n.items ? `iteration ${n.iteration}` : "",
      n.tool ? `calling ${n.tool}…` : ""
    ];
    head.append(el("b", "", selected), el("span", "", " " + facts.filter(Boolean).join(" · ")), close);
    const parts = [head];
    if (n.reason) parts.push(section("retrying", n.reason));
    if (n.error && !d.items) parts.push(section("error", n.error));
    parts.push(...texts({ ...d, error: n.error ? "" : d.error }));
    if (ACTIVE.has(n.state) && n.text) parts.push(section(`streaming ${n.stream || ""}`.trim(), n.text));
    if (d.items && d.items.length) parts.push(itemList(d.items));
    if (parts.length === 1) parts.push(el("div", "am-detail-empty", "Nothing recorded yet."));
    detail.replaceChildren(...parts);
  }
  stop.addEventListener("click", () => {
    stop.disabled = true;
    const kernel = model.widget_manager && model.widget_manager.kernel;
    if (kernel && typeof kernel.interrupt === "function") kernel.interrupt();
    model.send({ type: "cancel", id: `cancel-${++requests}` });
  });
  const onNodes = () => {
    received = performance.now();
    drawNodes();
    drawHeader();
    drawStream();
    drawDetail();
    drawCosts();
  };
  const unlisten = listen(model, {
    graph: drawGraph,
    nodes: onNodes,
    totals: onNodes,
    status: drawHeader,
    details: drawDetail
  });
  drawGraph();
  drawHeader();
  drawCosts();
  drawStream();
  drawDetail();
  const timer = setInterval(() => {
    const status = model.get("status");
    if (status === "running") {
      drawNodes();
      drawHeader();
    }
  }, 250);
  return () => {
    clearInterval(timer);
    unlisten();
  };
}
var run_view_default = { render };
export {
  run_view_default as default
};

// The runs browser (anywidget ESM; esbuild bundles it into agents_magic/display/static/): a
// filterable, sortable table of stored runs; clicking rows selects one or two, whose run views
// (child widgets) and comparison appear below.
import { el, listen, usd } from "./dom.js";
const COLUMNS = [
  ["workflow", "workflow"], ["status", "status"], ["started", "started"],
  ["duration_s", "time (s)"], ["tokens", "tokens"], ["cost", "cost"],
];


function render({ model, el: host }) {
  const root = el("div", "am-run am-runs");
  const filters = el("div", "am-runs-filters");
  const byWorkflow = el("input", "am-runs-filter");
  byWorkflow.placeholder = "workflow";
  byWorkflow.setAttribute("aria-label", "filter by workflow");
  const byStatus = el("select", "am-runs-status");
  byStatus.setAttribute("aria-label", "filter by status");
  filters.append(byWorkflow, byStatus, el("span", "am-run-numbers", "click one run to see it, two to compare"));
  const table = el("table", "am-runs-table");
  const views = el("div", "am-runs-views");
  const diff = el("div", "am-runs-diff");
  const spread = el("div", "am-runs-percentiles");
  root.append(filters, table, views, diff, spread);
  host.appendChild(root);
  let sortKey = "started";
  let ascending = false;
  let shown = [];

  function drawTable() {
    const runs = model.get("runs") || [];
    const statuses = ["", ...new Set(runs.map((r) => r.status))];
    if (byStatus.options.length !== statuses.length) {
      byStatus.replaceChildren(...statuses.map((s) => { const o = el("option", "", s || "any status"); o.value = s; return o; }));
    }
    const selected = new Set(model.get("selected") || []);
    const text = byWorkflow.value.toLowerCase();
    const rows = runs
      .filter((r) => r.workflow.toLowerCase().includes(text) && (!byStatus.value || r.status === byStatus.value))
      .sort((a, b) => (a[sortKey] < b[sortKey] ? -1 : a[sortKey] > b[sortKey] ? 1 : 0) * (ascending ? 1 : -1));
    const head = el("tr");
    for (const [key, label] of COLUMNS) {
      const th = el("th", "", label + (key === sortKey ? (ascending ? " ▲" : " ▼") : ""));
      th.tabIndex = 0;
      const sort = () => { ascending = key === sortKey ? !ascending : true; sortKey = key; drawTable(); };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") sort(); });
      head.append(th);
    }
    const body = rows.map((r) => {
      const tr = el("tr", selected.has(r.run_id) ? "am-runs-selected" : "");
      tr.dataset.run = r.run_id;
      tr.tabIndex = 0;
      const cell = { cost: usd, duration_s: (v) => v.toFixed(2) };
      for (const [key] of COLUMNS) tr.append(el("td", "", cell[key] ? cell[key](r[key]) : String(r[key])));
      const pick = () => {
        const now = (model.get("selected") || []).filter((id) => id !== r.run_id);
        if (!selected.has(r.run_id)) now.push(r.run_id);
        model.set("selected", now.slice(-2));
        model.save_changes();
      };
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); }
      });
      return tr;
    });
    table.replaceChildren(head, ...body);
  }

  async function drawViews() {
    for (const view of shown) view.remove();
    shown = [];
    views.replaceChildren();
    for (const ref of model.get("views") || []) {
      const child = await model.widget_manager.get_model(ref.slice("IPY_MODEL_".length));
      const view = await model.widget_manager.create_view(child);
      const box = el("div", "am-runs-view");
      box.append(view.el);
      views.append(box);
      shown.push(view);
    }
  }

  function textCell(row, key) {
    const td = el("td");
    if (!row.changed.includes(key)) {
      td.append(el("span", "am-detail-empty", row.a[key] ? "same" : ""));
      return td;
    }
    td.className = "am-runs-changed";
    const box = el("details");
    const texts = el("div", "am-runs-texts");
    texts.append(el("pre", "am-detail-text", row.a[key] || "—"), el("pre", "am-detail-text", row.b[key] || "—"));
    box.append(el("summary", "", "differs"), texts);
    td.append(box);
    return td;
  }

  function drawDiff() {
    const rows = model.get("diff") || [];
    if (!rows.length) { diff.replaceChildren(); return; }
    const head = el("tr");
    for (const label of ["node", "state", "time (s)", "tokens", "cost", "outputs", "prompt", "response"]) {
      head.append(el("th", "", label));
    }
    const fmt = { state: (v) => v ?? "", duration_ms: (v) => ((v || 0) / 1000).toFixed(2),
      tokens: (v) => String(v ?? 0), total_cost: usd };
    const body = rows.map((row) => {
      const tr = el("tr");
      tr.dataset.node = row.node;
      tr.append(el("td", "", row.node));
      for (const key of Object.keys(fmt)) {
        const changed = row.changed.includes(key);
        tr.append(el("td", changed ? "am-runs-changed" : "", changed
          ? `${fmt[key](row.a[key])} → ${fmt[key](row.b[key])}` : fmt[key](row.a[key])));
      }
      for (const key of ["outputs", "prompt", "response"]) tr.append(textCell(row, key));
      return tr;
    });
    const table = el("table", "am-runs-table");
    table.replaceChildren(head, ...body);
    diff.replaceChildren(el("div", "am-detail-title", "differences (first → second)"), table);
  }

  function drawPercentiles() {
    const rows = model.get("percentiles") || [];
    if (!rows.length) { spread.replaceChildren(); return; }
    const top = Math.max(...rows.map((r) => r.p99_ms), 0) || 1;
    const table = el("table", "am-runs-table");
    const head = el("tr");
    for (const label of ["node", "runs", "p50 (ms)", "p95 (ms)", "p99 (ms)", ""]) head.append(el("th", "", label));
    table.append(head);
    for (const r of rows) {
      const tr = el("tr");
      tr.dataset.node = r.node_id;
      tr.append(el("td", "", r.node_id), el("td", "", String(r.executions)));
      for (const key of ["p50_ms", "p95_ms", "p99_ms"]) tr.append(el("td", "", r[key].toFixed(1)));
      // p50 to p99 as one bar: a plot of the spread, scaled to the slowest p99
      const bar = el("div", "am-bar am-spread");
      const range = el("span", "am-bar-fill");
      range.style.marginLeft = `${(100 * r.p50_ms) / top}%`;
      range.style.width = `${Math.max(1, (100 * (r.p99_ms - r.p50_ms)) / top)}%`;
      bar.append(range);
      const cell = el("td");
      cell.append(bar);
      tr.append(cell);
      table.append(tr);
    }
    spread.replaceChildren(el("div", "am-detail-title", "time per node across this workflow's runs (p50 → p99)"), table);
  }

  byWorkflow.addEventListener("input", drawTable);
  byStatus.addEventListener("change", drawTable);
  const onViews = () => { drawTable(); drawViews(); };
  const unlisten = listen(model, {
    runs: drawTable, selected: drawTable, views: onViews, diff: drawDiff, percentiles: drawPercentiles,
  });
  drawTable();
  drawViews();
  drawDiff();
  drawPercentiles();
  return () => {
    for (const view of shown) view.remove();
    unlisten();
  };
}

export default { render };

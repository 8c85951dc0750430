// Helpers shared by the views.

/** A new element with an optional class and text. */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Dollars as people read them: $0, $0.000013, $0.0139, $0.25, $1234.50 (three significant
 * digits below a dollar, so single LLM calls stay visible); as `usd` in display/_html.py. */
export function usd(value) {
  const v = Number(value || 0);
  if (!v) return "$0";
  if (Math.abs(v) >= 1) return "$" + v.toFixed(2);
  const decimals = Math.min(12, 2 - Math.floor(Math.log10(Math.abs(v))));
  return "$" + v.toFixed(decimals).replace(/0+$/, "").replace(/\.$/, "");
}

/** Runs each handler when its model field changes (`{ graph: f }` on "change:graph"); returns
 * the function that stops them. */
export function listen(model, handlers) {
  const pairs = Object.entries(handlers).map(([field, handler]) => [`change:${field}`, handler]);
  for (const [event, handler] of pairs) model.on(event, handler);
  return () => { for (const [event, handler] of pairs) model.off(event, handler); };
}

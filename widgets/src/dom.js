// Helpers shared by the views.

/** A new element with an optional class and text. */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Dollars with enough decimals for the tiny amounts of single LLM calls. */
export function usd(value) {
  const v = Number(value || 0);
  return "$" + (v < 0.01 ? v.toFixed(6) : v.toFixed(4));
}

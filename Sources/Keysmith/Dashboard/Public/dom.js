// DOM helpers. Everything that comes from the API is rendered with textContent and
// attributes, never parsed as HTML (the CSP forbids inline script; this keeps it moot).

export const $ = (id) => document.getElementById(id);

/** Create an element. `text` sets textContent; `on…` functions become listeners; other attrs are attributes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = String(v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function show(node, visible = true) {
  if (node) node.hidden = !visible;
}

export function badge(text, kind, testid, title) {
  return el("span", { class: `badge badge-${kind}`, "data-testid": testid, title }, text);
}

let toastTimer = 0;
export function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    t.hidden = true;
    t.textContent = "";
  }, 4000);
}

/** Disable a button while its action runs, showing `busyText`; the label comes back afterwards. */
export function setBusy(button, busy, busyText) {
  if (!button) return;
  if (busy) {
    button.dataset.label = button.textContent;
    button.textContent = busyText;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  } else {
    if (button.dataset.label !== undefined) button.textContent = button.dataset.label;
    delete button.dataset.label;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

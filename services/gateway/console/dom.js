// Elements built from data with textContent only: nothing from the API becomes markup.
export function el(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name.startsWith("data-") || name.startsWith("aria-") || ["href", "type", "id", "role", "for", "lang", "title", "name", "value", "hidden", "tabindex", "colspan", "scope", "maxlength", "placeholder"].includes(name))
      element.setAttribute(name, value === true ? "" : value);
    else element[name] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function toast(text, kind = "info") {
  const box = document.getElementById("toast");
  box.className = `toast ${kind}`;
  box.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.textContent = ""; box.className = "toast"; }, 8000);
}

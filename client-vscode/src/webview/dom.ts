/// <reference lib="dom" />
// Element helpers for the panel's page: text goes in through textContent, never as markup.

type Props = Partial<Record<"class" | "text" | "title" | "id" | "type" | "href" | "role", string>>;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Node[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") {
      node.textContent = value;
    } else if (key === "class") {
      node.className = value;
    } else {
      node.setAttribute(key, value);
    }
  }
  node.append(...children);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag: string, attributes: Record<string, string | number> = {}, text?: string): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, String(value));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A labelled <select>; `emptyLabel` names the "" option. */
export function select(label: string, values: string[], current: string, onChange: (value: string) => void, emptyLabel = ""): HTMLElement {
  const box = el("select");
  box.setAttribute("aria-label", label);
  for (const value of values) {
    const option = el("option", { text: value || emptyLabel });
    option.value = value;
    option.selected = value === current;
    box.append(option);
  }
  box.addEventListener("change", () => onChange(box.value));
  return el("label", { class: "field" }, document.createTextNode(`${label} `), box);
}

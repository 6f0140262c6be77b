// @ts-check
/**
 * The meeting page's small DOM helpers, shared by room.js, chat.js and
 * participant-list.js: h makes an element, find and optional look one up.
 * @module meeting/dom
 */

/**
 * h makes an element with attributes (a `class`, `text` or others) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | boolean | undefined>} [attributes]
 * @param {(Node | string | null | undefined | false)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = String(value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/**
 * find returns the element matching selector inside root, or throws.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {new () => T} type
 * @returns {T}
 */
export function find(root, selector, type) {
  const found = root.querySelector(selector);
  if (!(found instanceof type)) throw new Error(`${selector} is missing from the meeting page`);
  return found;
}

/**
 * optional returns the element matching selector inside root, if it is of type.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {new () => T} type
 * @returns {T | null}
 */
export function optional(root, selector, type) {
  const found = root.querySelector(selector);
  return found instanceof type ? found : null;
}

// @ts-check
/**
 * Small enhancements for the staff pages; every page works without them
 * except the "Välj mötestyp" dialog, which needs showModal().
 *
 * - a button with data-opens="<dialog id>" opens that dialog;
 *   one with data-closes="<dialog id>" closes it;
 * - a button with data-copies="<input or textarea id>" copies that field's value;
 * - a form with data-confirm="<question>" asks before it is sent.
 * @module pages
 */

/**
 * wire connects the behaviours above inside root.
 * @param {ParentNode} root
 */
export function wire(root) {
  for (const button of root.querySelectorAll("[data-opens]")) {
    button.addEventListener("click", () => {
      const dialog = document.getElementById(button.getAttribute("data-opens") ?? "");
      if (dialog instanceof HTMLDialogElement) dialog.showModal();
    });
  }
  for (const button of root.querySelectorAll("[data-closes]")) {
    button.addEventListener("click", () => {
      const dialog = document.getElementById(button.getAttribute("data-closes") ?? "");
      if (dialog instanceof HTMLDialogElement) dialog.close();
    });
  }
  for (const button of root.querySelectorAll("[data-copies]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.getAttribute("data-copies") ?? "");
      if (!(field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement)) return;
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Kopierad";
      } catch {
        button.textContent = "Markerad – kopiera med Ctrl+C";
      }
    });
  }
  for (const form of root.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.getAttribute("data-confirm") ?? "")) event.preventDefault();
    });
  }
  const summary = document.getElementById("fel-sammanfattning");
  if (summary) summary.focus();
}

wire(document);

// SecretInput (the config form's API key box): the key goes to the kernel once, in a custom
// message {kind: "secret"}, and the box is cleared; the key never becomes a synced trait.

function render({ model, el }) {
  const input = document.createElement("input");
  input.type = "password";
  input.autocomplete = "off";
  input.spellcheck = false;
  input.className = "widget-input";
  input.setAttribute("aria-label", model.get("label"));
  // ipywidgets' own classes for a labelled text row: the label column and gap of the rows above.
  const label = document.createElement("label");
  label.className = "widget-label jupyter-widget-label";
  label.style.width = "150px";
  label.textContent = model.get("label");
  const send = () => {
    if (!input.value) return;
    model.send({ kind: "secret", value: input.value });
    input.value = "";
  };
  const show = () => {
    input.placeholder = model.get("has_value") ? "•••••• (set; type to replace)" : model.get("placeholder");
  };
  input.addEventListener("change", send);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") send(); });
  model.on("change:has_value", show);
  show();
  el.classList.add("jupyter-widgets", "widget-inline-hbox", "jupyter-widget-inline-hbox", "widget-text", "jupyter-widget-text");
  el.style.width = "420px";
  el.append(label, input);
  return () => model.off("change:has_value", show);
}
export default { render };

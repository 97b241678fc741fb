// Warbler dashboard: swaps in the content the server pushes, and runs an
// operation after the user confirmed it. No framework, no build step.
"use strict";
(function () {
  const main = document.getElementById("live");
  const state = document.getElementById("live-state");
  const token = document.querySelector('meta[name="warbler-token"]').content;
  const result = document.getElementById("action-result");
  const dialog = document.getElementById("confirm");
  let pending = null;

  if (main.dataset.live) {
    const events = new EventSource(main.dataset.live);
    events.addEventListener("open", () => { state.textContent = "live"; state.className = "live-state on"; });
    events.addEventListener("error", () => { state.textContent = "reconnecting…"; state.className = "live-state off"; });
    events.addEventListener("update", (e) => {
      main.innerHTML = e.data;
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    });
  }

  document.addEventListener("change", (e) => {
    if (e.target.id === "namespace-filter") e.target.form.submit();
  });

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    pending = { url: button.dataset.url, action: button.dataset.action };
    document.getElementById("confirm-text").textContent = button.dataset.confirm;
    dialog.showModal();
  });

  // The answer is read from the form's submit event, which fires while the
  // click that gave it is handled. The dialog's "close" event is only
  // queued: after a quick Cancel it can arrive once the dialog is open again
  // for the next operation, and must not decide anything.
  dialog.querySelector("form").addEventListener("submit", (e) => {
    const op = pending;
    pending = null;
    if (!op || !e.submitter || e.submitter.value !== "ok") return;
    show("running", op.action + "…");
    fetch(op.url, { method: "POST", headers: { "X-Warbler-Token": token }, credentials: "same-origin" })
      .then((r) => r.json())
      .then((res) => show(res.ok ? "ok" : "bad", res.ok ? res.output : res.status + ": " + (res.error || "") + (res.output ? "\n" + res.output : "")))
      .catch((err) => show("bad", op.action + " failed: " + err));
  });

  function show(kind, text) {
    result.hidden = false;
    result.className = "action-result " + kind;
    result.dataset.kind = kind;
    result.textContent = text.trim();
  }
})();

// The audit's progress, polled while it runs (the page without JavaScript reloads itself instead).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const job = document.getElementById("job");
  if (!job) return;
  const $ = (id) => document.getElementById(id);
  async function poll() {
    let s;
    try { s = await (await fetch("/audit/verify/" + job.dataset.job + "/progress", {credentials: "same-origin"})).json(); }
    catch (e) { setTimeout(poll, 1000); return; }
    $("job-progress").max = s.total || 1; $("job-progress").value = s.done;
    $("job-counts").textContent = s.done + " of " + (s.total === null ? "?" : s.total) + " entries, " + s.checkpoints + " checkpoints checked (" + s.seconds + " s)";
    $("job-status").textContent = s.status; $("job-status").className = "badge " + s.status;
    job.dataset.status = s.status;
    const leaves = s.queries.map((q) => q.leaf_index).join(", ");
    $("job-queries").textContent = s.queries.length + " ledger_entries queries so far" + (leaves ? " (leaves " + leaves + ")" : "") + ".";
    if (s.failure) { $("job-failure").hidden = false; $("job-failure").textContent = s.failure; }
    if (s.root) { $("job-root").hidden = false; $("job-root").textContent = "Verified: every entry, every signature and every checkpoint up to " + s.total + " entries; root " + s.root; }
    const warnings = $("job-warnings");
    if (warnings.children.length !== s.warnings.length) {
      warnings.replaceChildren(...s.warnings.map((w) => { const p = document.createElement("p"); p.className = "notice"; p.textContent = w; return p; }));
    }
    if (s.status === "running") setTimeout(poll, 500);
  }
  if (job.dataset.status === "running") poll();
});

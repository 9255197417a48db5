// Boomerang dashboard: small enhancements. Every page works without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  enableCopyButtons();
  enableSelectAll();
  followLive();
  followInbox();
});

// Copy buttons copy the text of the element named in data-copy.
function enableCopyButtons() {
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        flashLabel(button, "Copied");
      } catch {
        flashLabel(button, "Select and copy the text instead");
      }
    });
  }
}

function flashLabel(button, text) {
  const label = button.textContent;
  button.textContent = text;
  setTimeout(() => { button.textContent = label; }, 1500);
}

// The dead-letter table's header checkbox selects every row.
function enableSelectAll() {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.hidden = false;
  all.addEventListener("change", () => {
    for (const box of document.querySelectorAll('#dead-form input[name="id"]')) box.checked = all.checked;
  });
}

// Live updates: the tasks list shows new tasks and status changes as they
// happen; a task's page refreshes when the task changes.
function followLive() {
  const table = document.querySelector("table#tasks[data-live]");
  const taskPage = document.querySelector("[data-task-page]");
  if (!table && !taskPage) return;
  // Resume after the last event the page was rendered with, so that a
  // change between rendering and subscribing is not missed.
  const from = document.body.dataset.liveFrom;
  const source = new EventSource(from ? `/live?lastEventId=${encodeURIComponent(from)}` : "/live");
  let pending = Promise.resolve();
  const onEvent = (e) => {
    const data = JSON.parse(e.data);
    if (table) pending = pending.then(() => refreshRow(table, data)).catch(() => {});
    else if (taskPage && data.taskId === taskPage.dataset.taskPage) pending = pending.then(refreshMain).catch(() => {});
  };
  for (const type of ["created", "started", "attempt", "succeeded", "failed", "canceled", "delivery", "delivered", "dead", "redeliver"]) {
    source.addEventListener(type, onEvent);
  }
  window.addEventListener("pagehide", () => source.close());
}

async function fetchHTML(url) {
  const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  if (!response.ok) throw new Error(response.status);
  return response.text();
}

async function refreshRow(table, event) {
  const html = await fetchHTML(`/tasks/${encodeURIComponent(event.taskId)}/row`);
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  const row = template.content.firstElementChild;
  if (!row) return;
  const existing = document.getElementById(row.id);
  if (existing) {
    existing.replaceWith(row);
  } else if (event.type === "created") {
    const body = table.tBodies[0];
    body.querySelector("tr.empty")?.remove();
    row.classList.add("fresh");
    body.prepend(row);
  }
}

async function refreshMain() {
  const html = await fetchHTML(location.pathname);
  const doc = new DOMParser().parseFromString(html, "text/html");
  const fresh = doc.querySelector("main");
  if (!fresh) return;
  // Keep each disclosure as the user left it, by its index among all of
  // them; ones that are new (a new attempt) keep the server's default.
  const before = [...document.querySelectorAll("main details")];
  // The confirmation of what the user just did ("Task created.") came with
  // the page's address, which the refresh leaves out: keep it.
  const flash = document.querySelector("main > .flash");
  document.querySelector("main").replaceWith(fresh);
  if (flash && !fresh.querySelector(":scope > .flash")) fresh.prepend(flash);
  fresh.querySelectorAll("details").forEach((d, i) => { if (i < before.length) d.open = before[i].open; });
  enableCopyButtons();
}

// The webhook inbox (serve --dev): each webhook it receives is added at
// the top as it arrives, the oldest beyond what the node keeps dropped.
function followInbox() {
  const list = document.querySelector("ol#inbox[data-inbox-from]");
  if (!list) return;
  const from = list.dataset.inboxFrom;
  const keep = Number(list.dataset.inboxSize) || 100;
  const source = new EventSource(`/inbox/live?lastEventId=${encodeURIComponent(from)}`);
  let pending = Promise.resolve();
  source.addEventListener("received", (e) => {
    const { seq } = JSON.parse(e.data);
    pending = pending.then(async () => {
      const html = await fetchHTML(`/inbox/${encodeURIComponent(seq)}`);
      const template = document.createElement("template");
      template.innerHTML = html.trim();
      const item = template.content.firstElementChild;
      if (!item) return;
      const existing = document.getElementById(item.id);
      if (existing) return existing.replaceWith(item);
      list.querySelector("li.empty")?.remove();
      item.classList.add("fresh");
      list.prepend(item);
      while (list.children.length > keep) list.lastElementChild.remove();
    }).catch(() => {});
  });
  window.addEventListener("pagehide", () => source.close());
}

// Live deployment pages over WebSocket v1 (/api/websocket/ documents the protocol).
// The detail page (#deployment[data-live]) and the list (#deployment-rows[data-live]) update
// in place; after a reconnect the page refetches its state over HTTP once, because messages
// sent while the socket was down are not replayed. Close code 4401 means the session ended.
(() => {
  "use strict";

  const detail = document.querySelector("#deployment[data-live]");
  const rows = document.querySelector("#deployment-rows[data-live]");
  if (!detail && !rows) return;

  const deploymentId = detail ? detail.dataset.deploymentId : null;
  const root = detail || rows;
  let attempts = 0;
  let everConnected = false;

  const valueAt = (object, path) =>
    path.split(".").reduce((value, key) => (value == null ? value : value[key]), object);

  function setStatus(badge, status) {
    badge.textContent = status;
    badge.dataset.status = status;
    badge.className = badge.className.replace(/badge-status-[A-Z]+/g, "").trim() + ` badge-status-${status}`;
  }

  function applyDetail(deployment) {
    if (deployment.id !== deploymentId) return;
    detail.querySelectorAll("[data-field]").forEach((element) => {
      if (element.closest("#deployment-events, template")) return;
      const field = element.dataset.field;
      if (field === "status") return setStatus(element, deployment.status);
      if (field === "outputs") return (element.hidden = !deployment.outputs);
      if (field === "progress") {
        const progress = deployment.progress;
        if (progress && progress.total) {
          element.max = progress.total;
          element.value = progress.complete;
          element.dataset.complete = progress.complete;
          element.dataset.total = progress.total;
        }
        return;
      }
      const value = valueAt(deployment, field);
      if (value !== undefined) element.textContent = value == null ? "" : String(value);
    });
    detail.querySelectorAll("[data-show-for-status]").forEach((element) => {
      const shown = element.dataset.showForStatus.split(/\s+/).includes(deployment.status);
      element.hidden = !shown || (element.dataset.field === "outputs" && !deployment.outputs);
    });
  }

  function appendEvent(event) {
    const body = document.getElementById("deployment-events");
    const template = document.getElementById("deployment-event-template");
    if (!body || !template || body.querySelector(`tr[data-event-id="${CSS.escape(event.id)}"]`)) return;
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.eventId = event.id;
    const time = row.querySelector('[data-field="occurred_at"]');
    time.dateTime = event.occurred_at;
    time.textContent = event.occurred_at.replace("T", " ").replace(/\.\d+/, "").replace("Z", "");
    row.querySelector('[data-field="resource_name"]').textContent = event.resource_name;
    row.querySelector('[data-field="resource_status"]').textContent = event.resource_status;
    row.querySelector('[data-field="reason"]').textContent = event.reason;
    body.appendChild(row);
    const empty = document.getElementById("deployment-events-empty");
    if (empty) empty.hidden = true;
  }

  function applyRow(deployment) {
    const row = rows.querySelector(`tr[data-deployment-id="${CSS.escape(deployment.id)}"]`);
    if (!row) return; // another page of the list, or created elsewhere: shown on the next load
    const badge = row.querySelector('[data-field="status"]');
    if (badge) setStatus(badge, deployment.status);
  }

  async function refetch() {
    const get = async (url) => (await fetch(url, { credentials: "same-origin" })).json();
    if (detail) {
      applyDetail(await get(`/api/v1/deployments/${deploymentId}`));
      let url = `/api/v1/deployments/${deploymentId}/events`;
      while (url) {
        const page = await get(url);
        page.results.forEach(appendEvent);
        url = page.next;
      }
    } else {
      (await get("/api/v1/deployments?limit=200")).results.forEach(applyRow);
    }
  }

  // The header's balance and runway (templates/base.html).
  function applyBalance(balance) {
    const amount = document.querySelector("[data-balance]");
    if (amount) {
      const posted = Number(balance.posted);
      const cents = Math.abs(posted).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      amount.textContent = `${posted < 0 ? "\u2212" : ""}$${cents}`;
    }
    const runway = document.querySelector("[data-runway]");
    if (runway) {
      runway.hidden = balance.runway_hours === null;
      runway.querySelector("[data-runway-hours]").textContent = balance.runway_hours ?? "";
    }
  }

  function setConnection(state) {
    root.dataset.liveState = state; // "connected" | "reconnecting" | "ended"
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/v1/`);
    socket.addEventListener("open", () => {
      const subscription = detail
        ? { type: "subscribe", topic: "deployment", id: deploymentId }
        : { type: "subscribe", topic: "deployments" };
      socket.send(JSON.stringify(subscription));
      socket.send(JSON.stringify({ type: "subscribe", topic: "balance" }));
      if (everConnected) refetch().catch(() => {});
      everConnected = true;
      attempts = 0;
      setConnection("connected");
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "deployment.updated") (detail ? applyDetail : applyRow)(data.deployment);
      else if (data.type === "deployment.event" && detail && data.deployment_id === deploymentId)
        appendEvent(data.event);
      else if (data.type === "balance.updated") applyBalance(data.balance);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) return setConnection("ended");
      setConnection("reconnecting");
      attempts += 1;
      const delay = Math.min(30000, 1000 * 2 ** Math.min(attempts - 1, 5)) * (0.75 + Math.random() / 2);
      setTimeout(connect, delay);
    });
  }

  connect();
})();

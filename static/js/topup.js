// The top-up return page (#topup[data-live]): follows the top-up's status by polling the
// API until it is no longer waiting, then refreshes the balance in the page header.
(() => {
  "use strict";

  const root = document.querySelector("#topup[data-live]");
  if (!root) return;
  const topupId = root.dataset.topupId;
  const waiting = new Set(["created", "pending", "processing", "failed"]);
  const labels = { succeeded: "Paid", failed: "Failed", expired: "Expired", canceled: "Canceled",
    processing: "Processing", pending: "Waiting for payment", needs_review: "Needs review" };
  let polls = 0;

  const get = async (url) => {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  };

  async function refreshBalance() {
    const balance = await get("/api/v1/billing/balance");
    const dollars = Number(balance.posted).toLocaleString("en-US", { style: "currency", currency: "USD" });
    document.querySelectorAll("[data-balance]").forEach((element) => (element.textContent = dollars));
  }

  function show(topup) {
    const badge = root.querySelector('[data-field="status"]');
    badge.textContent = labels[topup.status] || topup.status;
    badge.dataset.status = topup.status;
    root.querySelectorAll("[data-show-for]").forEach((element) => {
      element.hidden = !element.dataset.showFor.split(/\s+/).includes(topup.status);
    });
    const failure = root.querySelector('[data-field="failure_message"]');
    if (failure) failure.textContent = topup.status === "failed" ? topup.failure_message : "";
  }

  async function poll() {
    polls += 1;
    try {
      const topup = await get(`/api/v1/billing/top-ups/${encodeURIComponent(topupId)}`);
      show(topup);
      if (!waiting.has(topup.status) || (topup.status === "failed" && polls > 20)) {
        await refreshBalance();
        return;
      }
    } catch (error) {
      // A blip: try again below.
    }
    if (polls < 400) setTimeout(poll, polls < 40 ? 1000 : 5000);
  }

  poll();
})();

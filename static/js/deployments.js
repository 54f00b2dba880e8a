// The launch page: offer only what the chosen region offers, and keep the price live by
// POSTing the choices to the quote endpoint (session cookie + X-CSRFToken). The page
// works without it: the server renders the price of the submitted or initial choices.
(() => {
  "use strict";

  // The quote's field names → the form's.
  const QUOTE_FIELDS = {
    region: "region",
    instance_type: "instance_type",
    image: "image",
    storage_profile: "storage_profile",
    size_gb: "volume_size_gb",
  };
  const REGIONAL_SELECTS = ["instance_type", "image", "storage_profile"];
  const DEBOUNCE_MS = 250;

  function csrfToken(form) {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // "2.817397" → "2.82": half up on the decimal string, as the server rounds; no floats.
  function cents(value) {
    if (value === null || value === undefined) return "—";
    const [whole, fraction = ""] = String(value).split(".");
    const digits = (fraction + "000").slice(0, 3);
    const total =
      Number(whole) * 100 + Number(digits.slice(0, 2)) + (Number(digits[2]) >= 5 ? 1 : 0);
    return `${Math.floor(total / 100)}.${String(total % 100).padStart(2, "0")}`;
  }

  function fieldContainer(form, name) {
    const element = form.elements[name];
    return element ? element.closest(".field") : null;
  }

  // Hide (and disable) the options the region does not offer; keep a valid selection.
  // Returns whether a selection had to change.
  function filterByRegion(form) {
    let changed = false;
    const region = form.elements.region ? form.elements.region.value : "";
    for (const name of REGIONAL_SELECTS) {
      const select = form.elements[name];
      if (!select) continue;
      for (const option of select.options) {
        const regions = option.dataset.regions;
        const offered = !regions || regions.split(" ").includes(region);
        option.hidden = !offered;
        option.disabled = !offered;
      }
      const selected = select.options[select.selectedIndex];
      if (!selected || selected.disabled) {
        const first = Array.from(select.options).find((option) => !option.disabled);
        if (first) {
          select.value = first.value;
          changed = true;
        }
      }
    }
    return changed;
  }

  // The size field follows the storage profile: its limits, its default, or nothing.
  function syncVolumeSize(form) {
    const select = form.elements.storage_profile;
    const size = form.elements.volume_size_gb;
    if (!select || !size) return;
    const option = select.options[select.selectedIndex];
    const hasVolume = Boolean(select.value);
    size.disabled = !hasVolume;
    if (hasVolume && option) {
      size.min = option.dataset.minSize || "1";
      size.max = option.dataset.maxSize || "";
      size.placeholder = option.dataset.defaultSize ? `${option.dataset.defaultSize} (default)` : "";
    } else {
      size.placeholder = "No data volume";
    }
  }

  function quoteBody(form) {
    const elements = form.elements;
    const storageProfile = elements.storage_profile ? elements.storage_profile.value : "";
    const size = elements.volume_size_gb ? elements.volume_size_gb.value.trim() : "";
    let sizeGb = null;
    if (storageProfile && size) sizeGb = /^\d+$/.test(size) ? Number(size) : size;
    return {
      region: elements.region.value,
      instance_type: elements.instance_type.value,
      image: elements.image.value,
      storage_profile: storageProfile || null,
      size_gb: sizeGb,
    };
  }

  function clearQuoteErrors(form) {
    form.querySelectorAll("[data-quote-error]").forEach((element) => element.remove());
  }

  // Per-field messages under their fields; anything else in the price box.
  function showQuoteErrors(form, errors) {
    const unplaced = [];
    for (const [field, messages] of Object.entries(errors || {})) {
      const container = fieldContainer(form, QUOTE_FIELDS[field] || field);
      for (const message of [].concat(messages)) {
        if (!container) {
          unplaced.push(message);
          continue;
        }
        const paragraph = document.createElement("p");
        paragraph.className = "field-error";
        paragraph.dataset.quoteError = field;
        paragraph.textContent = message;
        container.appendChild(paragraph);
      }
    }
    return unplaced;
  }

  // "Storage: 100 GB system disk + 250 GB data": what the storage price is made of.
  function showStorageSizes(box, storage) {
    const systemDisk = box.querySelector('[data-storage="system_disk_gb"]');
    if (systemDisk) systemDisk.textContent = String(storage.system_disk_gb);
    const data = box.querySelector('[data-storage="data"]');
    const dataSize = box.querySelector('[data-storage="data_volume_gb"]');
    if (dataSize) dataSize.textContent = String(storage.data_volume_gb);
    if (data) data.hidden = !storage.data_volume_gb;
  }

  function showPrice(box, quote, message) {
    const values = quote
      ? {
          hourly_price: quote.hourly_price,
          monthly_price: quote.monthly_price,
          compute_hourly: quote.breakdown.compute.hourly_price,
          compute_monthly: quote.breakdown.compute.monthly_price,
          storage_hourly: quote.breakdown.storage.hourly_price,
          storage_monthly: quote.breakdown.storage.monthly_price,
        }
      : {};
    box.querySelectorAll("[data-price]").forEach((element) => {
      const key = element.dataset.price;
      if (key === "currency") {
        if (quote) element.textContent = quote.currency;
      } else {
        element.textContent = quote ? cents(values[key]) : "—";
      }
    });
    if (quote) showStorageSizes(box, quote.breakdown.storage);
    const note = box.querySelector("[data-price-message]");
    if (note) {
      note.hidden = Boolean(quote);
      if (message) note.textContent = message;
    }
    box.dataset.state = quote ? "ready" : "error";
  }

  function setUp(form, box) {
    const url = form.dataset.quoteUrl;
    let sequence = 0;
    let controller = null;
    let timer = null;

    async function quote() {
      const current = ++sequence;
      if (controller) controller.abort();
      controller = new AbortController();
      box.dataset.state = "loading";
      let response;
      let body = null;
      try {
        response = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "X-CSRFToken": csrfToken(form),
          },
          body: JSON.stringify(quoteBody(form)),
          signal: controller.signal,
        });
        body = await response.json().catch(() => null);
      } catch (error) {
        if (error.name === "AbortError" || current !== sequence) return;
        // Offline or the server is unreachable: keep the last price, marked as not current.
        box.dataset.state = "stale";
        const note = box.querySelector("[data-price-message]");
        if (note) {
          note.hidden = false;
          note.textContent = "The price could not be updated; it may not match your choices.";
        }
        return;
      }
      if (current !== sequence) return; // a newer request is under way
      clearQuoteErrors(form);
      if (response.ok && body) {
        showPrice(box, body);
        return;
      }
      const unplaced = body && body.errors ? showQuoteErrors(form, body.errors) : [];
      const message =
        unplaced.join(" ") ||
        (body && body.errors ? "This configuration is not offered." : "") ||
        (body && body.detail) ||
        "The price is unavailable right now.";
      showPrice(box, null, message);
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(quote, DEBOUNCE_MS);
    }

    function changed(event) {
      const name = event.target.name;
      if (!Object.values(QUOTE_FIELDS).includes(name)) return;
      // The user acted on the field: the server's earlier verdict on it is stale.
      const container = fieldContainer(form, name);
      if (container) {
        container
          .querySelectorAll(".field-error:not([data-quote-error])")
          .forEach((element) => element.remove());
      }
      if (name === "region") filterByRegion(form);
      if (name === "region" || name === "storage_profile") syncVolumeSize(form);
      schedule();
    }

    form.addEventListener("change", changed);
    form.addEventListener("input", (event) => {
      if (event.target.name === "volume_size_gb") changed(event);
    });
    const selectionChanged = filterByRegion(form);
    syncVolumeSize(form);
    // The server rendered the price of the initial choices; ask again only if it could not.
    if (selectionChanged || box.dataset.state !== "ready") quote();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("deployment-form");
    const box = document.getElementById("price-box");
    if (form && box && form.dataset.quoteUrl && window.fetch) setUp(form, box);
  });
})();

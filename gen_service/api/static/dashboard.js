// tracegen dashboard: plain JS, no build step, nothing loaded from outside the coordinator.
//
// /dashboard lists the jobs; /dashboard/jobs/{id} follows one job over server-sent events
// (GET /v1/jobs/{id}/events), read with fetch so that a bearer token can be sent: open the page
// as /dashboard#token=... once and the token is kept for the tab (sessionStorage), never logged.
// The DOM is built once and updated in place on each snapshot, so nothing jumps under the cursor.
"use strict";

(() => {
  const TOKEN_KEY = "tracegen.dashboard.token";
  const SVG_NS = "http://www.w3.org/2000/svg";

  const fragment = location.hash.match(/token=([^&]+)/);
  if (fragment) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(fragment[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function authHeaders() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { Authorization: "Bearer " + token } : {};
  }

  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  // ---- formatting --------------------------------------------------------------------------

  const intFormat = new Intl.NumberFormat("en-US");
  const fmtInt = (n) => intFormat.format(Math.round(n));
  const fmtPct = (x) => (x * 100).toFixed(1) + "%";
  const fmtRate = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)) + "/s";
  const fmtMs = (x) => (x === null || x === undefined ? "–" : x >= 1000 ? (x / 1000).toFixed(2) + " s" : x.toFixed(0) + " ms");

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds === 0) return "done";
    const s = Math.round(seconds);
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m " + String(s % 60).padStart(2, "0") + "s";
    const h = Math.floor(m / 60);
    if (h < 48) return h + "h " + String(m % 60).padStart(2, "0") + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }

  function fmtCost(x) {
    if (x === null || x === undefined) return "–";
    if (x === 0) return "0";
    if (Math.abs(x) >= 100) return x.toFixed(0);
    return x.toPrecision(3);
  }

  function fmtTokens(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(2) + "G";
    if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return fmtInt(n);
  }

  function setBar(bar, value, max) {
    const pct = max > 0 ? Math.min(100, (100 * value) / max) : 0;
    bar.setAttribute("aria-valuenow", String(value));
    bar.setAttribute("aria-valuemax", String(max));
    bar.dataset.full = String(max > 0 && value >= max);
    bar.firstElementChild.style.width = pct.toFixed(2) + "%";
  }

  function makeBar(label) {
    return el("div", { class: "bar", role: "progressbar", "aria-label": label, "aria-valuemin": "0" }, el("div", { class: "fill" }));
  }

  function setLive(state, text) {
    const live = $("live");
    live.dataset.state = state;
    setText(live, text || state);
  }

  function showProblem(text) {
    const problem = $("problem");
    problem.hidden = !text;
    setText(problem, text || "");
  }

  // ---- server-sent events over fetch ---------------------------------------------------------

  async function follow(url, onEvent) {
    let backoff = 250;
    for (;;) {
      try {
        const response = await fetch(url, { headers: authHeaders(), cache: "no-store" });
        if (response.status === 401 || response.status === 403) {
          setLive("stopped", "not authorised");
          showProblem("Not authorised: open this page as /dashboard#token=<viewer token>.");
          return;
        }
        if (response.status === 404) {
          setLive("stopped", "no such job");
          showProblem("No such job.");
          return;
        }
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let name = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) name = line.slice(6).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
            }
            if (data.length) {
              onEvent(name, data.join("\n"));
              backoff = 250;
            }
          }
        }
        // The server ends each stream after a while; reconnect at once.
        await sleep(50);
      } catch (error) {
        setLive("reconnecting", "reconnecting…");
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  // ---- one job ----------------------------------------------------------------------------

  const state = { behaviourKey: "", behaviourRows: new Map(), layerRows: new Map(), rejectKey: "", rejectCells: new Map() };

  function renderJob(snap) {
    const job = snap.job;
    document.title = "tracegen · " + job.name;
    setText($("job-title"), "· " + job.name);
    const status = $("job-status");
    status.hidden = false;
    status.dataset.status = job.status;
    setText(status, job.status);
    setText($("updated"), "updated " + new Date(snap.generated_at).toLocaleTimeString() + " · " + snap.server_ms.toFixed(1) + " ms");

    setText($("job-accepted"), fmtInt(job.accepted));
    setText($("job-target"), fmtInt(job.target));
    setBar($("job-progress"), job.accepted, job.target);
    setText($("job-deficit"), fmtInt(Math.ceil(job.deficit)));
    setText($("job-remaining"), fmtInt(job.remaining));
    setText($("job-in-flight"), fmtInt(job.in_flight));
    setText($("job-pass-rate"), job.completed ? fmtPct(job.pass_rate) : "–");
    setText($("job-rejected"), fmtInt(job.rejected));
    setText($("job-surplus"), fmtInt(job.surplus));
    setText($("job-rate"), fmtRate(job.rate_per_s));
    setText($("job-results-rate"), job.results_per_s.toFixed(2));
    setText($("job-eta"), fmtDuration(job.eta_s));

    setText($("lat-p50"), fmtMs(snap.latency.p50_ms));
    setText($("lat-p95"), fmtMs(snap.latency.p95_ms));
    setText($("lat-calls"), fmtInt(snap.latency.calls));
    setText($("tok-in"), fmtTokens(snap.tokens.prompt));
    setText($("tok-out"), fmtTokens(snap.tokens.completion));

    const cost = snap.cost;
    setText($("cost-per"), fmtCost(cost.per_accepted));
    setText($("cost-spent"), fmtCost(cost.spent));
    setText($("cost-projected"), fmtCost(cost.projected_remaining));
    let note = "";
    if (!cost.teacher_known) note = "teacher " + job.teacher + " is not in this coordinator's teachers config";
    else if (cost.cost_per_1k_input === 0 && cost.cost_per_1k_output === 0) note = "teacher " + job.teacher + " has no price set (cost 0)";
    else note = cost.cost_per_1k_input + " in / " + cost.cost_per_1k_output + " out per 1k tokens";
    setText($("cost-note"), note);

    renderBehaviours(snap.layers);
    renderChart(snap.throughput);
    renderRejects(snap.rejects);
  }

  function renderBehaviours(layers) {
    const table = $("behaviours");
    const key = layers.map((l) => l.layer + ":" + l.behaviours.map((b) => b.behaviour).join(",")).join("|");
    if (key !== state.behaviourKey) {
      state.behaviourKey = key;
      state.behaviourRows.clear();
      state.layerRows.clear();
      for (const body of table.querySelectorAll("tbody")) body.remove();
      for (const layer of layers) {
        const body = el("tbody", { "data-layer": layer.layer });
        const layerCount = el("span");
        body.append(el("tr", { class: "layer" }, el("td", { colspan: "7" }, layer.layer + " ", el("span", { class: "muted small" }, layerCount))));
        state.layerRows.set(layer.layer, layerCount);
        for (const b of layer.behaviours) {
          const cells = {
            bar: makeBar(b.behaviour + " progress"),
            count: el("span", { class: "count" }),
            deficit: el("td"),
            inFlight: el("td"),
            passRate: el("td"),
            rate: el("td"),
            eta: el("td"),
          };
          const row = el(
            "tr",
            { "data-behaviour": b.behaviour },
            el("td", { class: "name" }, b.behaviour),
            el("td", {}, el("div", { class: "progress-cell" }, cells.bar, cells.count)),
            cells.deficit,
            cells.inFlight,
            cells.passRate,
            cells.rate,
            cells.eta,
          );
          cells.row = row;
          state.behaviourRows.set(b.behaviour, cells);
          body.append(row);
        }
        table.append(body);
      }
    }
    for (const layer of layers) {
      setText(state.layerRows.get(layer.layer), fmtInt(layer.accepted) + " / " + fmtInt(layer.target));
      for (const b of layer.behaviours) {
        const cells = state.behaviourRows.get(b.behaviour);
        setBar(cells.bar, b.accepted, b.target);
        setText(cells.count, fmtInt(b.accepted) + " / " + fmtInt(b.target));
        cells.row.classList.toggle("full", b.remaining === 0);
        setText(cells.deficit, b.deficit.toFixed(1));
        setText(cells.inFlight, fmtInt(b.in_flight));
        setText(cells.passRate, fmtPct(b.pass_rate));
        setText(cells.rate, fmtRate(b.rate_per_s));
        setText(cells.eta, fmtDuration(b.eta_s));
      }
    }
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
    return 10 * power;
  }

  function renderChart(throughput) {
    const svg = $("chart");
    const width = 900, height = 170, left = 40, bottom = 18, top = 6;
    const points = throughput.points;
    const max = niceMax(Math.max(0, ...points.map((p) => p.per_s)));
    const plotW = width - left - 4, plotH = height - top - bottom;
    const step = plotW / Math.max(1, points.length);
    const parts = [];
    const line = (x1, y1, x2, y2) => `<line class="axis" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"/>`;
    parts.push(line(left, top + plotH, width, top + plotH));
    parts.push(line(left, top, width, top));
    parts.push(`<text x="${left - 4}" y="${top + 10}" text-anchor="end">${max}</text>`);
    parts.push(`<text x="${left - 4}" y="${top + plotH}" text-anchor="end">0</text>`);
    points.forEach((p, i) => {
      const h = (p.per_s / max) * plotH;
      const x = left + i * step;
      const when = new Date(p.t * 1000).toLocaleTimeString();
      parts.push(
        `<rect class="bar-rect" x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${Math.max(1, step - 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${when}: ${p.results} results (${p.per_s.toFixed(2)}/s)</title></rect>`,
      );
    });
    const minutes = throughput.window_s / 60;
    for (let m = minutes; m >= 0; m -= 5) {
      const x = left + plotW * (1 - m / minutes);
      parts.push(`<text x="${x.toFixed(1)}" y="${height - 4}" text-anchor="${m === 0 ? "end" : m === minutes ? "start" : "middle"}">${m === 0 ? "now" : "−" + m + " min"}</text>`);
    }
    svg.innerHTML = parts.join("");
    const last = points.length > 1 ? points[points.length - 2] : points[points.length - 1];
    setText($("chart-caption"), `teacher results (accepted or rejected) per ${throughput.bucket_s} s, last ${minutes} min` + (last ? ` · last full bucket ${last.per_s.toFixed(2)}/s` : ""));
  }

  function renderRejects(rejects) {
    const table = $("rejects");
    $("rejects-empty").hidden = rejects.cells.length > 0;
    setText($("rejects-total"), rejects.total ? fmtInt(rejects.total) + " rejections" : "");
    const key = rejects.reasons.join(",") + "|" + rejects.behaviours.join(",");
    if (key !== state.rejectKey) {
      state.rejectKey = key;
      state.rejectCells.clear();
      table.replaceChildren();
      if (!rejects.cells.length) return;
      const head = el("tr", {}, el("th", { text: "Behaviour" }));
      for (const reason of rejects.reasons) head.append(el("th", { text: reason }));
      table.append(el("thead", {}, head));
      const body = el("tbody");
      for (const behaviour of rejects.behaviours) {
        const row = el("tr", {}, el("td", { class: "name", text: behaviour }));
        for (const reason of rejects.reasons) {
          const td = el("td", { class: "empty", "data-behaviour": behaviour, "data-reason": reason }, "·");
          state.rejectCells.set(behaviour + "\u0000" + reason, { td, leases: null });
          row.append(td);
        }
        body.append(row);
      }
      table.append(body);
    }
    for (const cell of rejects.cells) {
      const entry = state.rejectCells.get(cell.behaviour + "\u0000" + cell.reason);
      if (!entry) continue;
      const leases = cell.count + ":" + cell.excerpts.map((e) => e.reject_id).join(",");
      if (entry.leases === leases) continue;
      entry.leases = leases;
      const list = el("ul");
      for (const excerpt of cell.excerpts) {
        const text = excerpt.detail.length > 70 ? excerpt.detail.slice(0, 70) + "…" : excerpt.detail;
        list.append(el("li", {}, el("a", { href: "#", class: "excerpt", "data-lease": excerpt.lease_id, title: excerpt.detail }, text || "(no detail)")));
      }
      entry.td.className = "";
      entry.td.replaceChildren(el("span", { class: "count", text: fmtInt(cell.count) }), list);
    }
  }

  async function openDetail(jobId, leaseId) {
    const panel = $("detail");
    setText($("detail-title"), "Reject · lease " + leaseId);
    $("detail-meta").replaceChildren();
    $("detail-reasons").replaceChildren(el("li", { class: "muted", text: "loading…" }));
    setText($("detail-raw"), "");
    setText($("detail-raw-note"), "");
    panel.hidden = false;
    try {
      const response = await fetch(`/v1/jobs/${jobId}/rejects/${encodeURIComponent(leaseId)}`, { headers: authHeaders() });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const found = await response.json();
      const raw = found.raw;
      const meta = $("detail-meta");
      for (const [label, value] of [
        ["behaviour", raw.behaviour],
        ["scenario", raw.scenario],
        ["seed", raw.seed],
        ["teacher", raw.teacher],
        ["outcome", raw.outcome],
        ["finish reason", raw.finish_reason],
        ["latency", fmtMs(raw.latency_ms)],
        ["tokens in / out", raw.prompt_tokens + " / " + raw.completion_tokens],
        ["recorded", new Date(raw.created_at).toLocaleString()],
      ]) {
        meta.append(el("dt", { text: label }), el("dd", { text: String(value) }));
      }
      const reasons = $("detail-reasons");
      reasons.replaceChildren();
      for (const r of found.rejections) {
        reasons.append(el("li", {}, el("span", { class: "reason", text: r.reason }), ": ", el("span", { class: "reason-detail", text: r.detail })));
      }
      setText($("detail-raw"), raw.text || "(empty)");
      setText($("detail-raw-note"), found.truncated ? `first ${raw.text.length} of ${fmtInt(raw.text_chars)} characters` : `${fmtInt(raw.text_chars)} characters`);
    } catch (error) {
      $("detail-reasons").replaceChildren(el("li", { text: "could not load this reject: " + error.message }));
    }
  }

  function startJob(jobId) {
    $("job-view").hidden = false;
    $("rejects").addEventListener("click", (event) => {
      const link = event.target.closest("a.excerpt");
      if (!link) return;
      event.preventDefault();
      openDetail(jobId, link.dataset.lease);
    });
    $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
    document.addEventListener("keydown", (event) => { if (event.key === "Escape") $("detail").hidden = true; });
    follow(`/v1/jobs/${jobId}/events`, (name, data) => {
      if (name === "snapshot") {
        setLive("live", "live");
        showProblem("");
        renderJob(JSON.parse(data));
      } else if (name === "problem") {
        showProblem(JSON.parse(data).detail);
      }
    });
  }

  // ---- the job list -------------------------------------------------------------------------

  async function startList() {
    $("jobs-view").hidden = false;
    for (;;) {
      try {
        const response = await fetch("/v1/jobs", { headers: authHeaders(), cache: "no-store" });
        if (response.status === 401 || response.status === 403) {
          setLive("stopped", "not authorised");
          showProblem("Not authorised: open this page as /dashboard#token=<viewer token>.");
          return;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        const jobs = await response.json();
        const body = $("jobs-table").tBodies[0];
        body.replaceChildren();
        for (const job of jobs.slice().reverse()) {
          const bar = makeBar(job.name + " progress");
          setBar(bar, job.accepted, job.target);
          body.append(
            el(
              "tr",
              {},
              el("td", {}, el("a", { href: "/dashboard/jobs/" + job.id }, job.name)),
              el("td", {}, el("span", { class: "status", "data-status": job.status, text: job.status })),
              el("td", { text: job.teacher }),
              el("td", {}, el("div", { class: "progress-cell" }, bar, el("span", { class: "count", text: fmtInt(job.accepted) + " / " + fmtInt(job.target) }))),
              el("td", { text: fmtInt(job.in_flight) }),
            ),
          );
        }
        $("jobs-empty").hidden = jobs.length > 0;
        setLive("live", "live");
        showProblem("");
      } catch (error) {
        setLive("reconnecting", "reconnecting…");
      }
      await sleep(3000);
    }
  }

  const match = location.pathname.match(/\/dashboard\/jobs\/(\d+)\/?$/);
  if (match) startJob(match[1]);
  else startList();
})();

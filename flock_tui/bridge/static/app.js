// flock-tui dashboard: one card per agent, all streaming at once, fed by /ws.
// Event data is untrusted LLM text: it only ever reaches the page through textContent
// and text nodes, never innerHTML. No external URLs: the page works offline.
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const $ = (id) => document.getElementById(id);
  const agents = new Map(); // name -> agent view
  let lastSeq = 0;
  let bridgeId = null;
  let ended = false;
  let finished = null; // the run_finished event's data, once the run is over
  let refused = null; // why the bridge refuses this page (no retry then)
  let backoff = 250;
  let socket = null;
  let artifactCount = 0;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- batched appends: one text node per stream per animation frame -------------
  const pending = new Map(); // <pre> -> [strings]
  let flushScheduled = false;
  function appendText(pre, text) {
    if (!text) return;
    let parts = pending.get(pre);
    if (!parts) pending.set(pre, (parts = []));
    parts.push(text);
    if (!flushScheduled) {
      flushScheduled = true;
      requestAnimationFrame(flush);
    }
  }
  const MAX_CHARS = 256 * 1024; // per stream: a long run must not grow the page forever
  const lengths = new WeakMap(); // <pre> -> characters shown
  function flush() {
    flushScheduled = false;
    for (const [pre, parts] of pending) {
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      const text = parts.join("");
      pre.appendChild(document.createTextNode(text));
      let length = (lengths.get(pre) || 0) + text.length;
      if (length > MAX_CHARS) {
        pre.textContent = "…" + pre.textContent.slice(-MAX_CHARS / 2);
        length = pre.textContent.length;
      } else if (pre.childNodes.length > 200) {
        pre.normalize();
      }
      lengths.set(pre, length);
      if (stick) pre.scrollTop = pre.scrollHeight;
    }
    pending.clear();
  }

  // ---- agents --------------------------------------------------------------------
  function agentView(name) {
    let view = agents.get(name);
    if (view) return view;
    const card = el("article", "card");
    card.dataset.agent = name;
    const head = el("div", "card-head");
    const title = el("span", "card-name", name);
    const badge = el("span", "badge", "idle");
    badge.dataset.state = "idle";
    const iteration = el("span", "muted");
    const tokens = el("span", "tokens muted", "0 tok");
    head.append(title, badge, iteration, tokens);
    const description = el("div", "muted");
    const runs = el("div", "fields"); // one block per run, newest first
    const error = el("div", "error-text");
    card.append(head, description, runs, error);
    $("agents").appendChild(card);
    view = {
      card, badge, iteration, tokens, description, runsEl: runs, error, runs: new Map(), count: 0,
      runTokens: new Map(), // run id -> tokens counted for it (bounded)
    };
    agents.set(name, view);
    $("agent-count").textContent = `(${agents.size})`;
    return view;
  }
  function setState(view, state) {
    view.badge.textContent = state;
    view.badge.dataset.state = state;
  }
  // The card's badge from its runs, as the TUI: running while any run streams, queued
  // while one waits (announced, no text yet: it may wait for a concurrency slot), else
  // how the latest run ended.
  function refreshBadge(view) {
    const states = [...view.runs.values()].map((r) => r.block.dataset.state || "running");
    if (!states.length) return;
    if (states.includes("running")) setState(view, "running");
    else if (states.includes("queued")) setState(view, "queued");
    else setState(view, states[states.length - 1]);
  }
  function setTokens(view, count) {
    view.count = count;
    view.tokens.textContent = `${count} tok`;
  }
  // Tokens are counted as the TUI counts them: chunks that carry text (an empty chunk only
  // marks the end of a field), replaced by the engine's own count when a run completes.
  const MAX_RUN_COUNTS = 200;
  function addRunTokens(view, runId, n) {
    const key = String(runId ?? "");
    const before = view.runTokens.get(key);
    view.runTokens.delete(key); // re-insert: the map's order is least recently used first
    view.runTokens.set(key, (before || 0) + n);
    while (view.runTokens.size > MAX_RUN_COUNTS) view.runTokens.delete(view.runTokens.keys().next().value);
    if (n) setTokens(view, view.count + n);
  }
  function reportedTokens(metrics) {
    if (!metrics || typeof metrics !== "object") return null;
    for (const key of ["tokens", "output_tokens", "completion_tokens", "total_tokens"]) {
      if (typeof metrics[key] === "number" && Number.isFinite(metrics[key])) return Math.trunc(metrics[key]);
    }
    return null;
  }
  // Each run of an agent keeps its own text, keyed by (run_id, field): two runs at
  // once never mix, and a new run does not wipe an older one (the last MAX_RUNS stay).
  const MAX_RUNS = 5;
  function runView(view, runId) {
    const key = runId === undefined || runId === null ? "" : String(runId);
    let run = view.runs.get(key);
    if (run) return run;
    const block = el("section", "run");
    block.dataset.run = key;
    const head = el("div", "run-head muted");
    const state = el("span", "run-state");
    const id = el("span", "run-id", key ? `run ${key.slice(0, 8)}` : "run");
    if (key) id.title = key; // the full id on hover
    head.append(id, document.createTextNode(" "), state);
    const fieldsEl = el("div", "run-fields");
    const error = el("div", "error-text");
    block.append(head, fieldsEl, error);
    view.runsEl.prepend(block);
    // fields: field -> its current <pre>; step: how many status blocks so far; last: the
    // newest block (a field's or a status block)
    run = { block, state, fieldsEl, error, fields: new Map(), step: 0, last: null };
    view.runs.set(key, run);
    while (view.runs.size > MAX_RUNS) {
      const [oldKey, old] = view.runs.entries().next().value; // Map keeps insertion order
      for (const pre of old.fieldsEl.querySelectorAll("pre")) pending.delete(pre);
      old.block.remove();
      view.runs.delete(oldKey);
    }
    return run;
  }
  function setRunState(run, state) {
    run.state.textContent = state;
    run.block.dataset.state = state;
  }
  // A run's text in event order, as the TUI shows it: a field streams into its block
  // until status lines (a tool call, its result) come after it; then the field streaming
  // again (a ReAct agent's next thought) starts a new block below them.
  const MAX_BLOCKS = 200; // per run: the oldest blocks go
  function addBlock(run, label, pre) {
    const wrap = el("div", "field");
    wrap.append(el("div", "field-name", label), pre);
    run.fieldsEl.append(wrap);
    run.last = pre;
    while (run.fieldsEl.childNodes.length > MAX_BLOCKS) {
      const old = run.fieldsEl.firstChild;
      for (const gone of old.querySelectorAll("pre")) pending.delete(gone);
      old.remove();
    }
    return pre;
  }
  function fieldPre(run, field) {
    const key = field || "output";
    let pre = run.fields.get(key);
    if (pre && pre.isConnected && Number(pre.dataset.step) === run.step) {
      run.last = pre;
      return pre;
    }
    pre = el("pre", "stream");
    pre.dataset.field = key;
    pre.dataset.step = String(run.step);
    run.fields.set(key, pre);
    return addBlock(run, key, pre);
  }
  function statusPre(run, kind) {
    if (run.last && run.last.dataset.status === kind) return run.last; // consecutive lines
    run.step += 1;
    const pre = el("pre", "stream status");
    pre.dataset.status = kind;
    return addBlock(run, kind, pre);
  }

  // ---- artifacts and console -----------------------------------------------------
  function addArtifact(data) {
    const item = el("div", "artifact");
    const head = el("div");
    head.append(el("span", "artifact-type", data.artifact_type), document.createTextNode(" "),
      el("span", "muted", `by ${data.produced_by}`));
    item.dataset.type = String(data.artifact_type);
    item.append(head);
    const payload = data.payload && typeof data.payload === "object" ? data.payload : { value: data.payload };
    for (const [key, value] of Object.entries(payload)) {
      item.append(el("div", "field-name", key));
      item.append(el("pre", "payload", valueText(value)));
    }
    const feed = $("artifacts");
    feed.prepend(item);
    while (feed.childNodes.length > 300) feed.lastChild.remove();
    artifactCount += 1;
    $("artifact-count").textContent = `(${artifactCount})`;
  }
  // A value as readable text, like the TUI's tables: a list one item a line, an object
  // as `key: value` lines, nested values as compact JSON. Shown with textContent only.
  function compact(value) {
    if (typeof value === "string") return value;
    try {
      return JSON.stringify(value) ?? String(value);
    } catch (err) {
      return String(value);
    }
  }
  function valueText(value) {
    if (typeof value === "string") return value;
    if (Array.isArray(value)) return value.length ? value.map((v) => `• ${compact(v)}`).join("\n") : "(none)";
    if (value && typeof value === "object") {
      const entries = Object.entries(value);
      return entries.length ? entries.map(([k, v]) => `${k}: ${compact(v)}`).join("\n") : "{}";
    }
    return compact(value);
  }
  const knownTypes = new Set();
  function learnTypes(types) {
    for (const type of types || []) {
      if (knownTypes.has(type)) continue;
      knownTypes.add(type);
      const option = document.createElement("option");
      option.value = String(type);
      $("types").append(option);
    }
  }
  function addConsole(text) {
    appendText($("console"), text.endsWith("\n") ? text : text + "\n");
  }

  // ---- events --------------------------------------------------------------------
  // A merged token frame (the bridge folds a stream's tokens together for a page that
  // reads slowly) has its first token's seq and lists the later ones in merged_seqs.
  // Those above lastSeq are kept here, a min-heap, and skipped when a resume replays
  // them; the ones lastSeq passes are pruned, so this holds only what is in flight.
  const absorbed = [];
  function heapPush(heap, value) {
    let i = heap.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= value) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = value;
  }
  function heapPop(heap) {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= heap.length) break;
        if (child + 1 < heap.length && heap[child + 1] < heap[child]) child += 1;
        if (heap[child] >= last) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
  function applyEvent(env) {
    if (typeof env.seq !== "number" || env.seq <= lastSeq) return; // duplicate or old
    let seen = false;
    while (absorbed.length && absorbed[0] <= env.seq) seen = heapPop(absorbed) === env.seq || seen;
    lastSeq = env.seq;
    if (seen) return; // shown before inside a merged frame
    if (Array.isArray(env.merged_seqs)) {
      for (const later of env.merged_seqs) if (Number.isInteger(later) && later > lastSeq) heapPush(absorbed, later);
    }
    const d = env.data || {};
    switch (env.event_type) {
      case "run_started":
        $("run").textContent = [d.script, d.runtime_mode, d.model].filter(Boolean).join(" · ");
        break;
      case "agent_registered": {
        const view = agentView(d.name);
        view.description.textContent = d.description || "";
        learnTypes(d.consumes);
        break;
      }
      case "agent_activated": {
        // Announced when scheduled: "queued" until its first text (it may be waiting
        // for a max_concurrency slot), then "running".
        const view = agentView(d.agent_name);
        const run = runView(view, d.run_id);
        if (!run.block.dataset.state) setRunState(run, "queued");
        addRunTokens(view, d.run_id, 0);
        refreshBadge(view);
        view.iteration.textContent = d.iteration > 1 ? `run #${d.iteration}` : "";
        break;
      }
      case "streaming_output": {
        const view = agentView(d.agent_name);
        const run = runView(view, d.run_id);
        const state = run.block.dataset.state;
        if (!state || (state === "queued" && d.content)) setRunState(run, "running");
        const type = d.output_type || "llm_token";
        if (type === "llm_token") {
          appendText(fieldPre(run, d.field), d.content || "");
          const n = typeof env.merged_tokens === "number" ? env.merged_tokens : d.content ? 1 : 0;
          addRunTokens(view, d.run_id, n);
        } else if (d.content) {
          appendText(statusPre(run, type), d.content.replace(/\n$/, "") + "\n");
        }
        refreshBadge(view);
        break;
      }
      case "message_published":
        addArtifact(d);
        break;
      case "agent_completed": {
        const view = agentView(d.agent_name);
        if (d.run_id) setRunState(runView(view, d.run_id), "done");
        const reported = reportedTokens(d.metrics);
        const counted = view.runTokens.get(String(d.run_id ?? ""));
        if (reported !== null && counted !== undefined) addRunTokens(view, d.run_id, reported - counted);
        // another run of this agent may still stream: the card stays "running" until none does
        refreshBadge(view);
        break;
      }
      case "agent_error": {
        const view = agentView(d.agent_name);
        const text = `${d.error_type}: ${d.error_message}`;
        if (d.run_id) {
          const run = runView(view, d.run_id);
          setRunState(run, "error");
          run.error.textContent = text;
          refreshBadge(view);
        } else {
          view.error.textContent = text; // the agent's, not a run's (circuit breaker, where=)
        }
        break;
      }
      case "console_output":
        addConsole(`[${d.stream}] ${d.text}`);
        break;
      case "notice":
        addConsole(`[${d.level}] ${d.text}`);
        break;
      case "run_finished":
        $("run").textContent += ` · finished${d.exit_code !== null && d.exit_code !== undefined ? ` (exit ${d.exit_code})` : ""}`;
        finished = d;
        if (!ended) setConn(finishState(d), finishText(d));
        break;
      default:
        break; // unknown event types are allowed by the protocol
    }
  }

  function applySnapshot(snap) {
    pending.clear();
    absorbed.length = 0; // the snapshot holds everything up to its seq
    agents.clear();
    $("agents").replaceChildren();
    $("artifacts").replaceChildren();
    $("console").replaceChildren();
    artifactCount = 0;
    if (snap.run) $("run").textContent = [snap.run.script, snap.run.runtime_mode, snap.run.model].filter(Boolean).join(" · ");
    for (const a of snap.agents || []) {
      const view = agentView(a.name);
      view.description.textContent = a.description || "";
      learnTypes(a.consumes);
      setState(view, a.state || "idle");
      setTokens(view, a.tokens || 0);
      const runs = Array.isArray(a.recent) ? a.recent : a.current ? [a.current] : [];
      for (const r of runs) { // oldest first: each new block goes on top
        const run = runView(view, r.run_id);
        view.runTokens.set(String(r.run_id ?? ""), r.tokens || 0);
        setRunState(run, r.state || "");
        for (const [field, text] of Object.entries(r.fields || {})) appendText(fieldPre(run, field), text);
        if (r.error) run.error.textContent = r.error;
      }
    }
    for (const art of snap.artifacts || []) addArtifact(art);
    for (const line of snap.console || []) addConsole(`[${line.stream}] ${line.text}`);
    lastSeq = snap.seq || 0;
    finished = snap.finished || null;
    if (finished && !ended) setConn(finishState(finished), finishText(finished));
  }

  function onControl(msg) {
    switch (msg.type) {
      case "hello":
        bridgeId = msg.bridge_id;
        break;
      case "reset":
        applySnapshot(msg.snapshot || {});
        lastSeq = msg.seq || lastSeq;
        break;
      case "stats":
        $("stats").textContent = `merged ${msg.merges} · dropped ${msg.drops}`;
        break;
      case "end":
        ended = true;
        finished = msg.finished || finished;
        setConn("ended", endText(msg.reason));
        break;
      case "error":
        console.warn("bridge:", msg.message);
        break;
      default:
        break;
    }
  }

  // ---- connection with resume ----------------------------------------------------
  function setConn(state, text) {
    const node = $("conn");
    node.dataset.state = state;
    node.dataset.outcome = finished ? finishState(finished) : "";
    node.textContent = text || state;
  }
  // How the run ended, as the script's exit says (the bridge's close reason, "stopped"
  // when the TUI quits after the run, says nothing about the run itself).
  function finishState(f) {
    return f.exit_code === 0 || f.exit_code === null || f.exit_code === undefined ? "finished" : "failed";
  }
  function finishText(f) {
    const code = f.exit_code;
    if (code === 0) return "run finished (exit 0)";
    if (code === null || code === undefined) return f.reason ? `run finished: ${f.reason}` : "run finished";
    const reason = f.reason || "failed";
    return reason.includes(String(code)) ? `run ${reason}` : `run ${reason} (exit ${code})`;
  }
  function endText(reason) {
    if (finished) return finishText(finished);
    return !reason || reason === "run ended" ? "run ended" : `ended: ${reason}`;
  }
  // A socket that never opened: ask /health why. A 401 or 403 will not change by
  // retrying, so the page says what is wrong and stops.
  async function whyRefused() {
    try {
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const response = await fetch("/health", { headers, cache: "no-store" });
      if (response.status === 401) {
        return token
          ? "token rejected: open the URL printed by flock-tui"
          : "token required: open the URL printed by flock-tui";
      }
      if (response.status === 403) {
        const body = await response.json().catch(() => ({}));
        return `refused: ${body.error || "forbidden"}`;
      }
    } catch (err) {
      // the server is away: keep retrying
    }
    return null;
  }
  function wsUrl() {
    const q = new URLSearchParams({ since: String(lastSeq) });
    if (bridgeId) q.set("bridge_id", bridgeId);
    if (token) q.set("token", token);
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws?${q}`;
  }
  function connect() {
    setConn(lastSeq ? "reconnecting" : "connecting");
    const ws = new WebSocket(wsUrl());
    socket = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      backoff = 250;
      if (finished) setConn(finishState(finished), finishText(finished));
      else setConn("live");
    };
    ws.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (err) {
        console.warn("bridge: bad frame", err);
        return;
      }
      if (msg && typeof msg.type === "string") onControl(msg);
      else if (msg && typeof msg === "object") applyEvent(msg);
    };
    ws.onclose = async (event) => {
      if (socket !== ws) return;
      if (ended || event.code === 1000) {
        ended = true;
        if ($("conn").dataset.state !== "ended") setConn("ended", endText(event.reason));
        return;
      }
      const wait = Math.min(backoff, 10000);
      backoff = Math.min(backoff * 2, 10000);
      setConn("reconnecting", `reconnecting in ${(wait / 1000).toFixed(1)}s`);
      if (!opened) {
        refused = await whyRefused();
        if (refused) {
          setConn("error", refused);
          return;
        }
      }
      setTimeout(connect, wait + Math.random() * 100);
    };
  }

  // ---- publish form --------------------------------------------------------------
  function setupPublish() {
    const form = $("publish-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = $("publish-result");
      let content;
      try {
        content = JSON.parse($("publish-content").value || "{}");
      } catch (err) {
        out.textContent = `content is not JSON: ${err.message}`;
        return;
      }
      const headers = { "Content-Type": "application/json" };
      if (token) headers.Authorization = `Bearer ${token}`;
      try {
        const response = await fetch("/api/control/publish", {
          method: "POST", headers, body: JSON.stringify({ artifact_type: $("publish-type").value, content }),
        });
        const body = await response.json();
        out.textContent = response.ok ? "published" : `${response.status}: ${body.error}`;
      } catch (err) {
        out.textContent = `publish failed: ${err.message}`;
      }
    });
  }

  window.__flockDashboard = {
    lastSeq: () => lastSeq, ended: () => ended, refused: () => refused, absorbed: () => absorbed.length,
  };
  setupPublish();
  connect();
})();

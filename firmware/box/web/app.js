"use strict";
// The box's control page: status arrives by server-sent events (no
// reload), actions are POSTs to the control API.
const $ = (id) => document.getElementById(id);
let status = null;

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
}

function showMessage(text, blocking) {
  const m = $("message");
  m.hidden = !text;
  m.textContent = text || "";
  m.dataset.blocking = blocking ? "true" : "false";
}

function render(s) {
  status = s;
  $("room").textContent = s.room ? `(${s.room})` : "";
  const list = $("servers");
  list.replaceChildren(...(s.servers || []).map((sv) => {
    const li = document.createElement("li");
    li.className = "server";
    li.dataset.name = sv.name;
    li.dataset.state = sv.state;
    li.dataset.green = String(!!sv.green);
    li.title = `${sv.name} server (${sv.addr}): ${sv.icon}`;
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "icon";
    label.textContent = `${sv.name}: ${sv.icon}`;
    li.append(dot, label);
    return li;
  }));

  const loggedIn = !!s.user;
  $("login").hidden = loggedIn;
  $("session").hidden = !loggedIn;
  $("user").textContent = s.user || "";

  const phase = s.phase || "idle";
  $("phase").dataset.phase = phase;
  $("phase").textContent = phase[0].toUpperCase() + phase.slice(1);
  $("elapsed").textContent = clock(s.recording_id ? s.elapsed_seconds : 0);
  $("recording-id").textContent = s.recording_id || "";
  const recording = phase === "recording";
  $("start").disabled = !loggedIn || phase !== "idle";
  $("stop").disabled = !recording;
  $("cancel").disabled = !recording;

  // A blocking mismatch outranks everything; then the box's own message;
  // then the count of non-blocking differences.
  const mm = s.mismatch || {};
  if (mm.blocking && mm.blocking.length) {
    showMessage(`The servers' settings do not match: ${mm.blocking.join(", ")}. Interviews cannot start until they do.`, true);
  } else if (s.message) {
    showMessage(s.message, false);
  } else if (mm.non_blocking) {
    showMessage(`${mm.non_blocking} setting${mm.non_blocking === 1 ? "" : "s"} differ between the servers (not blocking; see the box's log).`, false);
  } else {
    showMessage("", false);
  }
}

async function call(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const reply = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(reply.error || `${path}: HTTP ${r.status}`);
  return reply;
}

async function act(path) {
  try {
    await call(path);
  } catch (e) {
    showMessage(e.message, true);
  }
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    render(await call("/api/login", { username: f.get("username"), password: f.get("password") }));
    ev.target.reset();
  } catch (e) {
    showMessage(e.message, true);
  }
});
$("logout").addEventListener("click", async () => render(await call("/api/logout")));
$("start").addEventListener("click", () => act("/api/start"));
$("stop").addEventListener("click", () => act("/api/stop"));
$("cancel").addEventListener("click", () => $("confirm-cancel").showModal());
$("confirm-cancel").addEventListener("close", () => {
  if ($("confirm-cancel").returnValue === "cancel") act("/api/cancel");
});

function connect() {
  const es = new EventSource("/api/events");
  es.onmessage = (ev) => render(JSON.parse(ev.data));
  es.onerror = () => {
    showMessage("Lost contact with the box; reconnecting…", true);
  };
}

// The live picture: the newest frame, a few times a second, while an
// interview is captured.
async function refreshPicture() {
  const img = $("live");
  if (status && status.recording_id) {
    try {
      const r = await fetch(`/api/preview.jpg?t=${Date.now()}`, { cache: "no-store" });
      if (r.ok) {
        const url = URL.createObjectURL(await r.blob());
        const old = img.src;
        img.src = url;
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
        img.hidden = false;
        $("no-picture").hidden = true;
      }
    } catch (e) { /* the next round tries again */ }
  } else {
    img.hidden = true;
    $("no-picture").hidden = false;
  }
  setTimeout(refreshPicture, 500);
}

connect();
refreshPicture();

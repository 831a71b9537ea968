"""The two-factor clearance page: a static form that POSTs a code to /authentication/2fa.

Nothing in it comes from the request, so there is nothing to escape. After a session
opens it returns to ``?next=`` when that is a path on this site (never another site).
"""

from __future__ import annotations

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

TWO_FACTOR_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Two-factor authentication - certkit</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; background: #f4f6f8; margin: 0; }
  main { max-width: 24rem; margin: 12vh auto; background: #fff; padding: 2rem;
         border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
  h1 { font-size: 1.25rem; margin-top: 0; }
  label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
  input[type=text], select { width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }
  .row { display: flex; gap: .5rem; align-items: center; margin-top: 1rem; }
  button { margin-top: 1.5rem; width: 100%; padding: .6rem; font-size: 1rem; border: 0;
           border-radius: 4px; background: #1565c0; color: #fff; cursor: pointer; }
  .ck-2fa-message { margin-top: 1rem; min-height: 1.5em; color: #b71c1c; }
</style>
</head>
<body>
<main>
  <h1>Two-factor authentication</h1>
  <p>Your client certificate requires a code from your authenticator app.</p>
  <form class="ck-2fa-form" id="form">
    <label for="code">Code</label>
    <input class="ck-2fa-code" id="code" type="text" inputmode="numeric"
           autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required autofocus>
    <label for="minutes">Session length</label>
    <select class="ck-2fa-duration" id="minutes">
      <option value="30">30 minutes</option>
      <option value="120" selected>2 hours</option>
      <option value="480">8 hours</option>
      <option value="1440">24 hours</option>
    </select>
    <div class="row">
      <input class="ck-2fa-browser-only" id="browser" type="checkbox" checked>
      <label for="browser" style="margin:0;font-weight:normal">This browser only
        (otherwise every client with this certificate)</label>
    </div>
    <button class="ck-2fa-submit" type="submit">Continue</button>
    <div class="ck-2fa-message" id="message" role="alert"></div>
  </form>
</main>
<script>
document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = document.getElementById("message");
  message.textContent = "";
  const body = {
    code: document.getElementById("code").value.replace(/\\s/g, ""),
    duration_minutes: Number(document.getElementById("minutes").value),
    browser_only: document.getElementById("browser").checked,
  };
  try {
    const response = await fetch("/authentication/2fa", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body), credentials: "same-origin",
    });
    if (response.ok) {
      const next = new URLSearchParams(location.search).get("next") || "/";
      location.assign(/^\\/(?![\\/\\\\])/.test(next) ? next : "/");
      return;
    }
    const answer = await response.json().catch(() => ({}));
    message.textContent = answer.error || ("Refused (" + response.status + ").");
  } catch (error) {
    message.textContent = "The server could not be reached.";
  }
});
</script>
</body>
</html>
"""

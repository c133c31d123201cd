// Calls to the gateway's own API with the session cookie; every change carries the CSRF token.
let csrf = null;
let skewMs = 0;
let onSignedOut = () => {};

export function useSession(session, signedOut) {
  csrf = session ? session.csrf_token : null;
  if (signedOut) onSignedOut = signedOut;
}

// The gateway's clock, from its Date header: deadlines are its clock's, not the browser's.
export function now() {
  return Date.now() + skewMs;
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let answer;
  try {
    answer = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (error) {
    return { status: 0, ok: false, data: { error: "network", problems: [{ field: "", reason: String(error) }] } };
  }
  const date = Date.parse(answer.headers.get("date") || "");
  // The header has whole seconds: only a larger difference is a skew worth correcting.
  if (!Number.isNaN(date) && Math.abs(date - Date.now()) > 2000) skewMs = date - Date.now();
  const text = await answer.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: "bad_answer", problems: [{ field: "", reason: text.slice(0, 200) }] };
  }
  if (answer.status === 401 && path !== "/v1/session") onSignedOut(data);
  return { status: answer.status, ok: answer.ok, data };
}

// An error body in words: each problem's field and reason.
export function problemText(data) {
  const problems = (data && data.problems) || [];
  const text = problems.map((p) => (p.field ? `${p.field}: ${p.reason}` : p.reason)).filter(Boolean);
  return text.join("; ") || (data && data.error) || "";
}

// The sign-in page of a server that requires signing in: a local account's name and
// password, or the organisation's OpenID Connect provider.

import { useState } from "preact/hooks";
import { api, type AuthConfig } from "../api";

export function SignIn({ config, onSignedIn }: { config: AuthConfig; onSignedIn: () => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const back = encodeURIComponent(location.pathname + location.search);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(user, password);
      onSignedIn();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="signin" id="signin">
      <h1>Sign in to Cairn</h1>
      <p class="muted">This server keeps a team's experiments; sign in to see them.</p>
      {config.oidc && (
        <p>
          <a class="btn" id="signin-sso" href={`${config.oidc.login_url}?return_to=${back}`}>
            Sign in with your organisation ({new URL(config.oidc.issuer).host})
          </a>
        </p>
      )}
      {config.password && (
        <form onSubmit={submit}>
          <label>
            User name
            <input id="signin-user" name="username" autocomplete="username" value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} required />
          </label>
          <label>
            Password
            <input id="signin-password" name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} required />
          </label>
          <button type="submit" id="signin-submit" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
          {error && (
            <p class="error" role="alert" id="signin-error">
              {error}
            </p>
          )}
        </form>
      )}
    </div>
  );
}

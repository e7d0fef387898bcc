// Asks for credentials when the server answers 401 (or needs a tenant named): user and password,
// or a bearer token, and the tenant (X-Scope-OrgID). They are kept for this browser tab only.
import { useState } from "preact/hooks";
import type { ApiError, Credentials } from "../api.ts";

interface Props {
  problem: ApiError;
  initial: Credentials;
  onSubmit: (c: Credentials) => void;
}

export function AuthDialog({ problem, initial, onSubmit }: Props) {
  const [kind, setKind] = useState<"basic" | "bearer" | "none">(initial.kind === "none" ? "basic" : initial.kind);
  const [user, setUser] = useState(initial.user ?? "");
  const [password, setPassword] = useState("");
  const [token, setToken] = useState("");
  const [tenant, setTenant] = useState(initial.tenant ?? "");
  const submit = (e: Event) => {
    e.preventDefault();
    onSubmit({ kind, user, password, token, tenant: tenant.trim() || undefined });
  };
  return (
    <div class="modal-backdrop">
      <form class="modal auth" onSubmit={submit} aria-label="sign in">
        <h2>Sign in</h2>
        <p class="problem">
          {problem.message}: {problem.detail}
        </p>
        <div class="tabs" role="radiogroup">
          {(
            [
              ["basic", "User and password"],
              ["bearer", "Token"],
              ["none", "Tenant only"],
            ] as const
          ).map(([k, label]) => (
            <label key={k}>
              <input type="radio" name="kind" checked={kind === k} onChange={() => setKind(k)} /> {label}
            </label>
          ))}
        </div>
        {kind === "basic" && (
          <>
            <label>
              User
              <input name="user" autocomplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} autoFocus />
            </label>
            <label>
              Password
              <input
                name="password"
                type="password"
                autocomplete="current-password"
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        )}
        {kind === "bearer" && (
          <label>
            Token
            <input name="token" type="password" value={token} onInput={(e) => setToken(e.currentTarget.value)} autoFocus />
          </label>
        )}
        <label>
          Tenant (X-Scope-OrgID, when the server keeps tenants apart)
          <input name="tenant" value={tenant} onInput={(e) => setTenant(e.currentTarget.value)} placeholder="optional" />
        </label>
        <p class="hint">Kept for this browser tab only (session storage).</p>
        <button type="submit">Sign in</button>
      </form>
    </div>
  );
}

// Tenant ids as clients send them: Loki's X-Scope-OrgID header (Fluent Bit's loki output sets it
// from `tenant_id`, its http output from `Header X-Scope-OrgID ...`, Alloy from `tenant_id`).
// The default tenant (no tenancy) has the empty id, which no header can name.

export const TENANT_HEADER = "x-scope-orgid";

/** Letters, digits, '.', '_', '-', starting with a letter or digit, at most 150 characters. */
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,149}$/;

/** Why `id` is not a tenant id, or undefined when it is one. */
export function tenantIdProblem(id: string): string | undefined {
  if (TENANT_ID.test(id)) return undefined;
  if (id.includes("|")) return `"${clip(id)}" names several tenants; a request is for one tenant`;
  return `"${clip(id)}" is not a tenant id: 1-150 letters, digits, '.', '_' or '-', starting with a letter or digit`;
}

function clip(s: string): string {
  const shown = s.length > 60 ? `${s.slice(0, 60)}…` : s;
  return shown.replace(/[\u0000-\u001f\u007f]/g, "?");
}

/** A tenant as metrics and logs name it: the default tenant has no id. */
export function tenantLabel(tenant: string): string {
  return tenant === "" ? "(default)" : tenant;
}

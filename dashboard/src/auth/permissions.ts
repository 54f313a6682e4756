// What each role may press. The server decides (`GET /v1/auth/me` lists the permissions); the
// role table is the fallback while that endpoint is missing and mirrors src/fraudwatch/api/auth.py.
import type { Role } from "../api/types";

export type Permission = "read" | "edit_rules" | "publish_rules" | "edit_lists" | "resolve_cases" | "thresholds" | "users";

const BY_ROLE: Record<Role, Permission[]> = {
  admin: ["read", "edit_rules", "publish_rules", "edit_lists", "resolve_cases", "thresholds", "users"],
  analyst: ["read", "edit_rules", "edit_lists", "resolve_cases"],
  viewer: ["read"],
  service: ["read"],
};

export function permissionsOf(role: Role, fromServer?: string[] | null): Set<Permission> {
  const known = new Set<Permission>(BY_ROLE[role] ?? []);
  if (!fromServer || fromServer.length === 0) return known;
  // Server names may differ; map the ones we understand and keep the role table for the rest.
  const aliases: Record<string, Permission> = {
    read: "read",
    edit_rules: "edit_rules",
    publish_rules: "publish_rules",
    edit_lists: "edit_lists",
    resolve_cases: "resolve_cases",
    cases: "resolve_cases",
    thresholds: "thresholds",
    users: "users",
    admin: "users",
  };
  const mapped = fromServer.map((p) => aliases[p]).filter((p): p is Permission => p !== undefined);
  return mapped.length > 0 ? new Set(mapped) : known;
}

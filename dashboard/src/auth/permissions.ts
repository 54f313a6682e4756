// What each role may press. The server says (`GET /v1/auth/me` → `permissions`, the names of
// src/fraudwatch/security/access.py); the role table below mirrors it for servers without /me.
import type { Role } from "../api/types";

export type Permission = "read" | "cases.read" | "cases.act" | "rules.edit" | "rules.publish" | "policy.edit" | "lists.edit" | "users.admin";

const BY_ROLE: Record<Role, Permission[]> = {
  admin: ["read", "cases.read", "cases.act", "rules.edit", "rules.publish", "policy.edit", "lists.edit", "users.admin"],
  analyst: ["read", "cases.read", "cases.act", "rules.edit", "lists.edit"],
  viewer: ["read", "cases.read"],
  service: ["read", "cases.read"],
};

export function permissionsOf(role: Role, fromServer?: string[] | null): Set<Permission> {
  if (fromServer) return new Set(fromServer as Permission[]);
  return new Set<Permission>(BY_ROLE[role] ?? []);
}

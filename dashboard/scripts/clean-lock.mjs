// package-lock.json pins versions and integrity hashes; it must name no address (no download
// URL: `.npmrc` sets omit-lockfile-registry-resolved; no funding URL: removed here). Run after
// `npm install` changes the lock: `node scripts/clean-lock.mjs`.
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
for (const entry of Object.values(lock.packages ?? {})) {
  delete entry.funding;
  delete entry.resolved;
}
writeFileSync(path, JSON.stringify(lock, null, 2) + "\n");

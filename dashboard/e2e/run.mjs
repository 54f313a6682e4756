// The dashboard end to end, as analysts, an admin and a viewer use it, in Debian's Chromium
// (playwright-core: no browser download). Driven by tests/dashboard/test_e2e.py, which starts a
// demo deployment and passes, in the environment:
//   E2E_BASE_URL     the served dashboard and API
//   E2E_USERS        JSON [{username, role, password}] (admin and analyst have TOTP)
//   E2E_TOTP_URL     GET <url>/<username> answers the user's current TOTP code (pyotp)
//   E2E_SCREENSHOTS  where to save a PNG of every page
//   E2E_RESULTS      a JSON file for the test to check against the store afterwards
//   E2E_CHROMIUM     the browser (default /usr/bin/chromium)
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.E2E_BASE_URL;
const users = JSON.parse(process.env.E2E_USERS ?? "[]");
const totpUrl = process.env.E2E_TOTP_URL;
const shots = process.env.E2E_SCREENSHOTS ?? "e2e/screenshots";
const resultsFile = process.env.E2E_RESULTS;
assert.ok(base && totpUrl && users.length, "E2E_BASE_URL, E2E_USERS and E2E_TOTP_URL are required");
mkdirSync(shots, { recursive: true });

const user = (role) => users.find((u) => u.role === role) ?? assert.fail(`no ${role} user`);
const results = {};
const ruleName = `large_amount_review_${Date.now() % 100000}`;
const TIMEOUT = 20_000;

/** How long a page takes from navigation until its data is on screen, in ms (the report). */
async function timed(name, action) {
  const started = performance.now();
  await action();
  const ms = Math.round(performance.now() - started);
  (results.page_ms ??= {})[name] = ms;
  console.log(`  ${name}: ${ms} ms`);
}

function step(name) {
  console.log(`• ${name}`);
}

async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0)); // the fixed sidebar is drawn at the scroll position
  await page.waitForTimeout(400); // let charts finish their layout
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function totp(username) {
  const response = await fetch(`${totpUrl}/${username}`);
  assert.equal(response.status, 200, "the TOTP helper answers");
  return (await response.text()).trim();
}

/** Call the API with the page's own session (as the app does). */
async function apiCall(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const session = JSON.parse(sessionStorage.getItem("fraudwatch.session") ?? "null");
      const response = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${session?.token}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let json = null;
      try {
        json = await response.json();
      } catch {
        json = null;
      }
      return { status: response.status, json };
    },
    { method, path, body },
  );
}

async function login(browser, who, { screenshots = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (error) => console.error(`page error (${who.username}): ${error.message}`));
  await page.goto(`${base}/live`);
  await page.waitForURL(/\/login$/);
  await page.getByLabel("Username").fill(who.username);
  await page.getByLabel("Password").fill(who.password);
  if (screenshots) await shot(page, "01-login");
  await page.getByRole("button", { name: "Continue" }).click();
  if (who.role !== "viewer") {
    await page.getByLabel("Code").waitFor();
    if (screenshots) await shot(page, "02-second-factor");
    await page.getByLabel("Code").fill(await totp(who.username));
    await page.getByRole("button", { name: "Verify" }).click();
  }
  await page.waitForURL(/\/live$/);
  await page.getByRole("heading", { name: "Live decisions" }).waitFor();
  return { context, page };
}

async function receivedCount(page) {
  const text = await page.getByTestId("received").textContent();
  return Number((text ?? "0").replace(/[^0-9]/g, ""));
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.E2E_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
  try {
    // -- an analyst logs in with a password and a TOTP code ---------------------------------
    step("analyst logs in with TOTP");
    const analyst = user("analyst");
    const { context: analystContext, page } = await login(browser, analyst, { screenshots: true });

    // -- the live feed moves ---------------------------------------------------------------
    step("the live feed moves");
    await page.getByText("live", { exact: true }).waitFor({ timeout: TIMEOUT });
    await page.getByTestId("decision-row").first().waitFor();
    const before = await receivedCount(page);
    const firstBefore = await page.getByTestId("decision-row").first().textContent();
    await page.waitForFunction(
      (n) => Number((document.querySelector('[data-testid="received"]')?.textContent ?? "0").replace(/[^0-9]/g, "")) > n + 2,
      before,
      { timeout: 30_000 },
    );
    const firstAfter = await page.getByTestId("decision-row").first().textContent();
    assert.notEqual(firstAfter, firstBefore, "a new decision is on top");
    results.live_received = await receivedCount(page);
    await page.locator(".tile-value").first().filter({ hasNotText: "…" }).waitFor();
    await shot(page, "03-live");

    step("pause holds new decisions back");
    await page.getByRole("button", { name: "Pause" }).click();
    const heldTop = await page.getByTestId("decision-row").first().textContent();
    await page.waitForTimeout(2500);
    assert.equal(await page.getByTestId("decision-row").first().textContent(), heldTop, "paused: the list does not move");
    await page.getByRole("button", { name: /Resume/ }).click();

    step("filter by outcome, open a decision");
    await page.getByRole("group", { name: "Outcome" }).getByRole("button", { name: /block/ }).click();
    await page.getByRole("group", { name: "Outcome" }).getByRole("button", { name: /review/ }).click();
    await page.getByTestId("decision-row").first().waitFor();
    const outcomes = await page.locator('[data-testid="decision-row"] .badge').allTextContents();
    assert.ok(outcomes.length > 0 && outcomes.every((o) => o === "block" || o === "review"), `only block and review rows: ${outcomes.slice(0, 5)}`);
    const drawer = page.getByRole("dialog");
    // The newest flagged decision that has joined a case (the writer opens cases just after
    // it stores the decisions): from the live feed to its case, as an analyst would go.
    let opened = false;
    for (let attempt = 0; attempt < 12 && !opened; attempt++) {
      await page.getByTestId("decision-row").nth(attempt % 6).click();
      await drawer.getByRole("heading", { name: "Reasons" }).waitFor();
      await drawer.getByRole("heading", { name: "Features at decision time" }).waitFor();
      if (attempt === 0) await shot(page, "04-decision");
      const link = drawer.getByRole("link", { name: /Case #\d+/ });
      opened = await link.waitFor({ timeout: 3000 }).then(() => true, () => false);
      if (opened) {
        const linked = Number((await link.getAttribute("href")).split("/").pop());
        opened = (await apiCall(page, "GET", `/v1/cases/${linked}`)).json?.status !== "resolved";
      }
      if (!opened) {
        await page.keyboard.press("Escape");
        await drawer.waitFor({ state: "detached" });
        await page.waitForTimeout(1000);
      }
    }
    assert.ok(opened, "a flagged decision of the live feed has a case");

    // -- cases: open one, resolve it as fraud ----------------------------------------------
    step("open its case and resolve it as fraud");
    await drawer.getByRole("link", { name: /Case #\d+/ }).click();
    await page.waitForURL(/\/cases\/\d+$/);
    const caseId = Number(page.url().split("/").pop());
    await page.getByRole("heading", { name: /Transactions in this case/ }).waitFor();
    await page.locator(".case-side .detail").waitFor();
    await page.getByLabel("New note").fill("Cardholder confirmed by phone that they did not make these payments.");
    await page.getByRole("button", { name: "Add note" }).click();
    await page.getByText("Note added.").waitFor();
    await page.locator(".case-main table.grid.compact").nth(1).waitFor();
    await shot(page, "06-case");
    await page.getByRole("group", { name: "Case actions" }).getByRole("button", { name: "Fraud", exact: true }).click();
    await page.getByText(/Resolved as fraud: \d+ labels? recorded/).waitFor();
    const resolved = await apiCall(page, "GET", `/v1/cases/${caseId}`);
    assert.equal(resolved.status, 200);
    assert.equal(resolved.json.status, "resolved");
    assert.equal(resolved.json.disposition, "fraud");
    const txIds = resolved.json.transactions.map((t) => t.transaction_id);
    assert.ok(txIds.length > 0, "the case holds transactions");
    for (const id of txIds) {
      const detail = await apiCall(page, "GET", `/v1/decisions/${encodeURIComponent(id)}/detail`);
      assert.equal(detail.status, 200);
      assert.equal(detail.json.decision.label?.is_fraud, true, `label of ${id} recorded as fraud`);
    }
    results.case_id = caseId;
    results.case_transactions = txIds;
    await page.getByRole("button", { name: "Reopen" }).waitFor();
    await timed("cases", async () => {
      await page.getByRole("link", { name: "← Cases" }).click();
      await page.getByTestId("case-row").first().waitFor();
    });
    await shot(page, "05-cases");

    // -- analytics and models --------------------------------------------------------------
    step("analytics: the map, trends and breakdowns");
    await timed("analytics", async () => {
      await page.getByRole("link", { name: /Analytics/ }).click();
      await page.locator(".map-country").first().waitFor();
      await page.locator(".recharts-bar-rectangle").first().waitFor();
      await page.locator(".breakdown tbody tr").first().waitFor();
    });
    const shaded = await page.locator(".map-country").evaluateAll((paths) => paths.filter((p) => p.getAttribute("fill")?.startsWith("rgb")).length);
    assert.ok(shaded >= 1, "at least one country is shaded");
    await shot(page, "07-analytics");

    step("models and rules");
    await timed("models", async () => {
      await page.getByRole("link", { name: /Models/ }).click();
      await page.getByRole("heading", { name: /Rules: hit rates/ }).waitFor();
      await page.locator(".panel").filter({ hasText: "Rules: hit rates" }).locator("tbody tr").first().waitFor();
    });
    await shot(page, "08-models");

    // -- an analyst drafts a rule; the engine's message shows inline -----------------------
    step("analyst drafts a rule with an inline validation message");
    await page.getByRole("link", { name: /Admin/ }).click();
    await page.getByRole("button", { name: /New draft/ }).click();
    await page.getByText(/Draft version \d+ created/).waitFor();
    const draftVersion = Number((await page.getByText(/Draft version \d+ created/).textContent()).match(/\d+/)[0]);
    await page.getByRole("button", { name: "Add rule" }).click();
    const rule = page.getByTestId("rule").last();
    await rule.getByLabel("Rule name").fill(ruleName);
    const condition = rule.getByLabel(/Condition of/);
    await condition.fill("amount > 2500 and amout_typo > 1");
    await rule.getByRole("alert").waitFor();
    const problem = await rule.getByRole("alert").textContent();
    assert.match(problem, /column \d+/, "the problem names its column");
    assert.match(problem, /amout_typo/, "the problem names the unknown field");
    await shot(page, "09-admin-rule-problem");
    await condition.fill("amount > 2500");
    await rule.getByText("✓ valid").waitFor();
    await rule.getByLabel("Action").selectOption("review");
    await page.getByRole("button", { name: "Save draft" }).click();
    await page.getByText(`Draft ${draftVersion} saved.`).waitFor();
    step("backtest the draft");
    await page.getByRole("button", { name: "Backtest" }).click();
    await page.getByTestId("backtest").or(page.locator(".editor .form-error")).waitFor({ timeout: 120_000 });
    assert.equal(await page.locator(".editor .form-error").count(), 0, `backtest: ${await page.locator(".editor .form-error").allTextContents()}`);
    await page.getByTestId("backtest").getByText("Decisions it would change").waitFor();
    await shot(page, "10-admin-backtest");
    assert.equal(await page.getByRole("button", { name: "Publish", exact: true }).count(), 0, "an analyst cannot publish");
    results.draft_version = draftVersion;
    await analystContext.close();

    // -- an admin publishes it -------------------------------------------------------------
    step("admin publishes the draft");
    const { context: adminContext, page: adminPage } = await login(browser, user("admin"));
    await adminPage.getByRole("link", { name: /Admin/ }).click();
    await adminPage.getByRole("button", { name: new RegExp(`^v${draftVersion}\\b`) }).click();
    await adminPage.getByRole("heading", { name: new RegExp(`Version ${draftVersion}`) }).waitFor();
    await adminPage.getByRole("button", { name: "Publish", exact: true }).click();
    await adminPage.getByRole("status").filter({ hasText: `Version ${draftVersion} published` }).waitFor();
    const active = await apiCall(adminPage, "GET", "/v1/rule-sets/active");
    assert.equal(active.json.version, draftVersion, "the published draft is active");
    assert.ok(active.json.rules.some((r) => r.name === ruleName), "with the new rule");
    await shot(adminPage, "11-admin-published");
    await adminPage.getByRole("tab", { name: "Thresholds" }).click();
    await adminPage.getByRole("button", { name: "Save thresholds" }).waitFor();
    await shot(adminPage, "12-admin-thresholds");
    await adminPage.getByRole("tab", { name: "Users" }).click();
    await adminPage.getByRole("cell", { name: user("viewer").username }).waitFor();
    await shot(adminPage, "13-admin-users");
    results.published_version = draftVersion;
    await adminContext.close();

    // -- a viewer sees and cannot change ---------------------------------------------------
    step("a viewer cannot resolve or edit");
    const { context: viewerContext, page: viewerPage } = await login(browser, user("viewer"));
    await viewerPage.goto(`${base}/cases/${caseId}`);
    await viewerPage.getByRole("heading", { name: /Transactions in this case/ }).waitFor();
    assert.equal(await viewerPage.getByRole("group", { name: "Case actions" }).count(), 0, "no case actions for a viewer");
    assert.equal(await viewerPage.getByRole("button", { name: "Add note" }).count(), 0, "no notes for a viewer");
    await shot(viewerPage, "14-viewer-case");
    const refusedMove = await apiCall(viewerPage, "POST", `/v1/cases/${caseId}/transition`, { to: "open" });
    assert.equal(refusedMove.status, 403, "the API refuses a viewer's case move");
    await viewerPage.getByRole("link", { name: /Admin/ }).click();
    await viewerPage.getByText("read only").waitFor();
    assert.equal(await viewerPage.getByRole("button", { name: /New draft/ }).count(), 0, "no new draft for a viewer");
    assert.equal(await viewerPage.getByRole("button", { name: "Publish", exact: true }).count(), 0, "no publish for a viewer");
    const refusedDraft = await apiCall(viewerPage, "POST", "/v1/rule-sets", { rules: [] });
    assert.equal(refusedDraft.status, 403, "the API refuses a viewer's draft");
    const refusedPublish = await apiCall(viewerPage, "POST", `/v1/rule-sets/${draftVersion}/publish`, { activate: true });
    assert.equal(refusedPublish.status, 403, "the API refuses a viewer's publish");
    await shot(viewerPage, "15-viewer-admin");
    results.viewer_refused = [refusedMove.status, refusedDraft.status, refusedPublish.status];
    await viewerContext.close();
  } finally {
    await browser.close();
    if (resultsFile) writeFileSync(resultsFile, JSON.stringify(results, null, 2));
  }
  console.log("e2e: all steps passed");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

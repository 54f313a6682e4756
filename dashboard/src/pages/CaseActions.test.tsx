import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Role } from "../api/types";
import { SessionProvider } from "../auth/session";
import { CaseActions } from "./CasePage";

function renderAs(role: Role, status = "open") {
  const moves: [string, string | undefined][] = [];
  render(
    <SessionProvider initial={{ token: "fws_test", username: "ana", role, permissions: null }}>
      <CaseActions status={status} busy={false} onMove={(to, d) => moves.push([to, d])} />
    </SessionProvider>,
  );
  return moves;
}

describe("case actions by role", () => {
  it("a viewer sees no resolve buttons", () => {
    renderAs("viewer");
    expect(screen.queryByRole("group", { name: "Case actions" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Fraud" })).toBeNull();
  });

  it("an analyst resolves with a disposition", async () => {
    const moves = renderAs("analyst");
    const group = screen.getByRole("group", { name: "Case actions" });
    expect(within(group).getAllByRole("button").map((b) => b.textContent)).toEqual(["Start investigating", "Fraud", "Friendly fraud", "Legitimate"]);
    await userEvent.setup().click(within(group).getByRole("button", { name: "Fraud" }));
    expect(moves).toEqual([["resolved", "fraud"]]);
  });

  it("a resolved case can only be reopened", () => {
    renderAs("admin", "resolved");
    expect(within(screen.getByRole("group", { name: "Case actions" })).getAllByRole("button").map((b) => b.textContent)).toEqual(["Reopen"]);
  });

  it("the server's permission list wins over the role table", () => {
    render(
      <SessionProvider initial={{ token: "fws_test", username: "ana", role: "analyst", permissions: ["read", "cases.read"] }}>
        <CaseActions status="open" busy={false} onMove={() => undefined} />
      </SessionProvider>,
    );
    expect(screen.queryByRole("group", { name: "Case actions" })).toBeNull();
  });
});

import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ProblemMarker } from "./RuleEditor";

describe("ProblemMarker", () => {
  it("shows the engine's message with a caret under the column it names", () => {
    const condition = "amount > 100 and countri == 'DE'";
    render(<ProblemMarker condition={condition} validation={{ valid: false, problem: "unknown name 'countri'", column: 17 }} />);
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("column 18: unknown name 'countri'");
    const where = alert.querySelector("pre")!.textContent!.split("\n");
    expect(where[0]).toBe(condition);
    expect(where[1].indexOf("^")).toBe(17); // the engine counts from 0
    expect(condition[where[1].indexOf("^")]).toBe("c");
  });

  it("says nothing for a valid condition and no caret when the engine names no column", () => {
    const { container, rerender } = render(<ProblemMarker condition="amount > 1" validation={{ valid: true }} />);
    expect(container).toBeEmptyDOMElement();
    rerender(<ProblemMarker condition="" validation={{ valid: false, problem: "a condition is required", column: null }} />);
    expect(screen.getByRole("alert")).toHaveTextContent(/^a condition is required$/);
    expect(screen.getByRole("alert").querySelector("pre")).toBeNull();
  });
});

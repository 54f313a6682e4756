import { useEffect } from "react";

export function isTyping(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return !!element && (element.tagName === "INPUT" || element.tagName === "TEXTAREA" || element.tagName === "SELECT" || element.isContentEditable);
}

/** Single-key shortcuts, ignored while typing in a field. */
export function useKeys(handlers: Record<string, (event: KeyboardEvent) => void>, enabled = true): void {
  useEffect(() => {
    if (!enabled) return;
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      const handler = handlers[event.key];
      if (handler) {
        event.preventDefault();
        handler(event);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [handlers, enabled]);
}

/** Keeps the keyboard cursor's row (`tr.cursor`) in view as `j` / `k` move it. */
export function useCursorInView(cursor: number): void {
  useEffect(() => {
    document.querySelector("tr.cursor")?.scrollIntoView?.({ block: "nearest" });
  }, [cursor]);
}

import { useEffect, useState } from "react";
import { NavLink, Outlet, useNavigate } from "react-router-dom";
import { useSession } from "../auth/session";
import { isTyping } from "../lib/keys";

const NAV = [
  { to: "/live", label: "Live", key: "l" },
  { to: "/cases", label: "Cases", key: "c" },
  { to: "/analytics", label: "Analytics", key: "a" },
  { to: "/models", label: "Models & rules", key: "m" },
  { to: "/admin", label: "Admin", key: "d" },
];

/** `g` then a letter moves between pages (g l live, g c cases, g a analytics, g m models, g d admin). */
function useGoShortcuts(): void {
  const navigate = useNavigate();
  useEffect(() => {
    let armed = 0;
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "g") {
        armed = Date.now();
        return;
      }
      if (Date.now() - armed < 1200) {
        const target = NAV.find((n) => n.key === event.key);
        if (target) navigate(target.to);
        armed = 0;
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [navigate]);
}

/** Fetch the chart-heavy pages' code once the first page is up, so they open at once later. */
function usePrefetchPages(): void {
  useEffect(() => {
    const timer = setTimeout(() => {
      void import("../pages/Analytics");
      void import("../pages/Models");
      void import("../pages/Admin");
    }, 1500);
    return () => clearTimeout(timer);
  }, []);
}

export function Layout() {
  const { session, signOut } = useSession();
  const [showKeys, setShowKeys] = useState(false);
  useGoShortcuts();
  usePrefetchPages();
  return (
    <div className="shell">
      <nav className="sidebar" aria-label="Main">
        <div className="brand">
          <span className="brand-dot" aria-hidden />
          fraudwatch
        </div>
        {NAV.map((item) => (
          <NavLink key={item.to} to={item.to} className={({ isActive }) => (isActive ? "nav active" : "nav")}>
            <span>{item.label}</span>
            <kbd>g {item.key}</kbd>
          </NavLink>
        ))}
        <div className="sidebar-foot">
          <button type="button" className="link small" onClick={() => setShowKeys((v) => !v)} aria-expanded={showKeys}>
            Keyboard shortcuts
          </button>
          {showKeys && (
            <ul className="keys">
              <li><kbd>g</kbd> then <kbd>l c a m d</kbd> pages</li>
              <li><kbd>j</kbd> <kbd>k</kbd> move in lists, <kbd>Enter</kbd> open</li>
              <li><kbd>p</kbd> pause the live feed</li>
              <li><kbd>/</kbd> search the live feed</li>
              <li><kbd>Esc</kbd> close a panel</li>
            </ul>
          )}
          <div className="whoami">
            <span className="who">{session?.username}</span>
            <span className={`role role-${session?.role}`}>{session?.role}</span>
          </div>
          <button type="button" className="button subtle small" onClick={signOut}>
            Sign out
          </button>
        </div>
      </nav>
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}

// Cairn's web UI: the shell (top bar, theme) and the page for the current path.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./styles.css";
import { setThemePreference, themePreference } from "./hooks";
import { matchRoute, paths, useLocation } from "./router";
import { ComparePage } from "./views/Compare";
import { Dashboard } from "./views/Dashboard";
import { Home } from "./views/Home";
import { InsightsPage } from "./views/Insights";
import { ReviewPage } from "./views/Review";
import { RunPage } from "./views/RunPage";
import { RunsPage } from "./views/RunsPage";
import { AgentsPage, QueuePage, UsagePage } from "./views/Runner";
import { api, SIGN_IN_EVENT, type AuthConfig, type WhoAmI } from "./api";
import { SignIn } from "./views/SignIn";

function Logo() {
  return (
    <svg viewBox="0 0 16 16" aria-hidden="true">
      <ellipse cx="8" cy="13" rx="6" ry="2.5" fill="#6b7a8f" />
      <ellipse cx="8" cy="8.6" rx="4.5" ry="2.2" fill="#8a99ad" />
      <ellipse cx="8" cy="4.6" rx="3" ry="1.8" fill="#a9b6c8" />
    </svg>
  );
}

function ThemeToggle() {
  const [pref, setPref] = useState(themePreference());
  const next = pref === "auto" ? "light" : pref === "light" ? "dark" : "auto";
  return (
    <button
      type="button"
      class="icon-btn"
      id="theme-toggle"
      title={`Theme: ${pref} (click for ${next})`}
      aria-label={`Theme: ${pref}; switch to ${next}`}
      onClick={() => {
        setThemePreference(next);
        setPref(next);
      }}
    >
      {pref === "auto" ? "◐ auto" : pref === "light" ? "☀ light" : "☾ dark"}
    </button>
  );
}

/** The project of the page: from the path, or for a run page from the run. */
function useProject(route: ReturnType<typeof matchRoute>): string | null {
  const [runProject, setRunProject] = useState<{ id: string; project: string } | null>(null);
  const runId = route.page === "run" ? route.run : null;
  useEffect(() => {
    if (!runId || runProject?.id === runId) return;
    const ac = new AbortController();
    api.run(runId, ac.signal).then(
      (r) => setRunProject({ id: runId, project: r.project }),
      () => {},
    );
    return () => ac.abort();
  }, [runId]);
  if ("project" in route) return route.project;
  if (runId && runProject?.id === runId) return runProject.project;
  return null;
}

/** Who the UI is used as; the sign-in page when the server requires it and nobody is. */
function useIdentity(): { me: WhoAmI | null; config: AuthConfig | null; needed: boolean; refresh: () => void } {
  const [me, setMe] = useState<WhoAmI | null>(null);
  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [expired, setExpired] = useState(false);
  const [n, setN] = useState(0);
  useEffect(() => {
    api.whoami().then(
      (w) => {
        setMe(w);
        setExpired(false);
        if (w.auth && !w.user) api.authConfig().then(setConfig, () => {});
      },
      () => setMe(null),
    );
  }, [n]);
  useEffect(() => {
    const on = () => {
      setExpired(true);
      api.authConfig().then(setConfig, () => {});
    };
    window.addEventListener(SIGN_IN_EVENT, on);
    return () => window.removeEventListener(SIGN_IN_EVENT, on);
  }, []);
  const needed = Boolean(me?.auth && (!me.user || expired));
  return { me, config, needed, refresh: () => setN((x) => x + 1) };
}

function Account({ me, onSignedOut }: { me: WhoAmI; onSignedOut: () => void }) {
  if (!me.auth || !me.user) return null;
  return (
    <span class="account" id="account">
      <span title={`organisation role ${me.user.role}; this sign-in may ${me.scope === "read" ? "read only" : "read and write"}`}>{me.user.display_name || me.user.name}</span>
      <button type="button" class="icon-btn" id="sign-out" onClick={() => api.logout().finally(onSignedOut)}>
        Sign out
      </button>
    </span>
  );
}

function App() {
  const identity = useIdentity();
  const loc = useLocation();
  const route = matchRoute(loc.path);
  const project = useProject(route);
  let page;
  switch (route.page) {
    case "home":
      page = <Home />;
      break;
    case "dashboard":
      page = <Dashboard project={route.project} key={route.project} />;
      break;
    case "runs":
      page = <RunsPage project={route.project} key={route.project} />;
      break;
    case "compare":
      page = <ComparePage project={route.project} key={route.project} />;
      break;
    case "insights":
      page = <InsightsPage project={route.project} key={route.project} />;
      break;
    case "review":
      page = <ReviewPage project={route.project} key={route.project} />;
      break;
    case "run":
      page = <RunPage id={route.run} key={route.run} />;
      break;
    case "queue":
      page = <QueuePage />;
      break;
    case "agents":
      page = <AgentsPage />;
      break;
    case "usage":
      page = <UsagePage />;
      break;
    default:
      page = (
        <div class="empty">
          No page at {loc.path}. <a href="/">All projects</a>
        </div>
      );
  }
  if (identity.needed && identity.config) {
    page = <SignIn config={identity.config} onSignedIn={() => location.reload()} />;
  }
  const cur = (p: string) => (route.page === p ? "page" : undefined);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/">
          <Logo /> Cairn
        </a>
        {project && (
          <>
            <nav class="crumbs" aria-label="Project">
              <span class="sep">/</span>
              <a href={paths.dashboard(project)} class="ellipsis" style={{ maxWidth: "260px" }}>
                {project}
              </a>
            </nav>
            <nav class="nav" aria-label="Sections">
              <a href={paths.dashboard(project)} aria-current={cur("dashboard")}>
                Dashboard
              </a>
              <a href={paths.runs(project)} aria-current={cur("runs")}>
                Runs
              </a>
              <a href={paths.compare(project)} aria-current={cur("compare")}>
                Compare
              </a>
              <a href={paths.insights(project)} aria-current={cur("insights")}>
                Insights
              </a>
              <a href={paths.review(project)} aria-current={cur("review")}>
                Weekly review
              </a>
            </nav>
          </>
        )}
        <span class="spacer" />
        <nav class="nav" aria-label="Compute">
          <a href={paths.queue} aria-current={cur("queue")}>
            Queue
          </a>
          <a href={paths.agents} aria-current={cur("agents")}>
            Agents
          </a>
          <a href={paths.usage} aria-current={cur("usage")}>
            Usage
          </a>
        </nav>
        {identity.me && <Account me={identity.me} onSignedOut={() => location.reload()} />}
        <ThemeToggle />
      </header>
      <main id="main">{page}</main>
    </>
  );
}

render(<App />, document.getElementById("app")!);

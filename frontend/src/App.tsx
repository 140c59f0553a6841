// The app: signed out, the sign-in page; signed in, the workspaces and their screens, your
// account and (platform administrators) the audit trail. A single sign-on lands on /signed-in.
import { Center, Loader } from "@mantine/core";
import { lazy, type ReactNode, Suspense } from "react";
import { createBrowserRouter, Navigate, Outlet, RouterProvider } from "react-router-dom";

import { AccountPage } from "./account/AccountPage";
import { AuditPage } from "./audit/AuditPage";
import { SignedInPage } from "./auth/SignedInPage";
import { SignInPage } from "./auth/SignInPage";
import { useCurrentUser } from "./auth/session";
import { PlatformLayout } from "./components/PlatformLayout";
import { RunHistory } from "./runs/RunHistory";
import { WorkflowsList } from "./workflows/WorkflowsList";
import { WorkspaceLayout } from "./workspaces/WorkspaceLayout";
import { WorkspacePicker } from "./workspaces/WorkspacePicker";
import { WorkspaceSettings } from "./workspaces/WorkspaceSettings";

// The two heaviest screens (canvas, forms, result viewers) load when first opened.
const EditorPage = lazy(() => import("./editor/EditorPage").then((m) => ({ default: m.EditorPage })));
const RunMonitor = lazy(() => import("./runs/RunMonitor").then((m) => ({ default: m.RunMonitor })));

const loading = (
  <Center h="50vh">
    <Loader />
  </Center>
);

const later = (screen: ReactNode) => <Suspense fallback={loading}>{screen}</Suspense>;

// A data router: the editor can hold a navigation back while it has unsaved changes.
const router = createBrowserRouter([
  { path: "/signed-in", element: <SignedInPage /> },
  {
    element: <SignedInOnly />,
    children: [
      { path: "/", element: <WorkspacePicker /> },
      {
        path: "/w/:workspaceId",
        element: <WorkspaceLayout />,
        children: [
          { index: true, element: <Navigate to="workflows" replace /> },
          { path: "workflows", element: <WorkflowsList /> },
          { path: "workflows/new", element: later(<EditorPage />) },
          { path: "workflows/:workflowId/edit", element: later(<EditorPage />) },
          { path: "workflows/:workflowId/runs", element: <RunHistory /> },
          { path: "workflows/:workflowId/runs/:runId", element: later(<RunMonitor />) },
          { path: "settings", element: <WorkspaceSettings /> },
        ],
      },
      {
        element: <PlatformLayout />,
        children: [
          { path: "/account", element: <AccountPage /> },
          { path: "/audit", element: <AuditPage /> },
        ],
      },
      // Where a refused single sign-on lands (?error=<code>): signed out, the sign-in page says why.
      { path: "/sign-in", element: <Navigate to="/" replace /> },
      { path: "*", element: <Navigate to="/" replace /> },
    ],
  },
]);

/** The screens of a signed-in user; signed out, the sign-in page at the same address (where the
 * sign-in then lands). */
function SignedInOnly() {
  const user = useCurrentUser();
  if (user.isPending) {
    return (
      <Center h="100vh">
        <Loader />
      </Center>
    );
  }
  if (!user.data) return <SignInPage />;
  return <Outlet />;
}

export function App() {
  return <RouterProvider router={router} />;
}

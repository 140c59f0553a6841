// The app: signed out, the sign-in page; signed in, the workspaces and their screens.
import { Center, Loader } from "@mantine/core";
import { lazy, Suspense } from "react";
import { BrowserRouter, Navigate, Route, Routes } from "react-router-dom";

import { SignInPage } from "./auth/SignInPage";
import { useCurrentUser } from "./auth/session";
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

export function App() {
  const user = useCurrentUser();
  if (user.isPending) {
    return (
      <Center h="100vh">
        <Loader />
      </Center>
    );
  }
  if (!user.data) return <SignInPage />;
  return (
    <BrowserRouter>
      <Suspense fallback={loading}>
        <Routes>
          <Route path="/" element={<WorkspacePicker />} />
          <Route path="/w/:workspaceId" element={<WorkspaceLayout />}>
            <Route index element={<Navigate to="workflows" replace />} />
            <Route path="workflows" element={<WorkflowsList />} />
            <Route path="workflows/new" element={<EditorPage />} />
            <Route path="workflows/:workflowId/edit" element={<EditorPage />} />
            <Route path="workflows/:workflowId/runs" element={<RunHistory />} />
            <Route path="workflows/:workflowId/runs/:runId" element={<RunMonitor />} />
            <Route path="settings" element={<WorkspaceSettings />} />
          </Route>
          <Route path="*" element={<Navigate to="/" replace />} />
        </Routes>
      </Suspense>
    </BrowserRouter>
  );
}

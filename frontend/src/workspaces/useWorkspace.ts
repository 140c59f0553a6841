// The workspace of the current route (/w/:workspaceId/...) and the queries about it.
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router-dom";

import { api, unwrap } from "../api/client";

/** The route's workspace id (the routes only render workspace screens under /w/:workspaceId). */
export function useWorkspaceId(): number {
  const { workspaceId } = useParams();
  return Number(workspaceId);
}

export function useWorkspace(workspaceId: number) {
  return useQuery({
    queryKey: ["workspaces", workspaceId],
    queryFn: async () =>
      unwrap(await api.GET("/api/workspaces/{workspace_id}", { params: { path: { workspace_id: workspaceId } } })),
  });
}

export function useWorkspaces() {
  return useQuery({
    queryKey: ["workspaces"],
    queryFn: async () => unwrap(await api.GET("/api/workspaces")),
  });
}

export const ROLES = ["owner", "admin", "write", "read"] as const;

/** What each tab of the workspace's settings is given: the workspace and the user's role in it. */
export interface SettingsTabProps {
  workspaceId: number;
  role: string | undefined;
}

/** Whether `role` may do what needs `needed` (owner > admin > write > read). */
export function roleAllows(role: string | undefined, needed: (typeof ROLES)[number]): boolean {
  if (!role) return false;
  const rank = (r: string) => ROLES.indexOf(r as (typeof ROLES)[number]);
  return rank(role) !== -1 && rank(role) <= rank(needed);
}

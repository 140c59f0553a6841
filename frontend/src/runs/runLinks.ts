// Where a run's screens live. Run ids contain ':' and '+', so they are encoded in the URL.

export function runHistoryPath(workspaceId: number, workflowId: number): string {
  return `/w/${workspaceId}/workflows/${workflowId}/runs`;
}

export function runMonitorPath(workspaceId: number, workflowId: number, runId: string): string {
  return `${runHistoryPath(workspaceId, workflowId)}/${encodeURIComponent(runId)}`;
}

// The platform's audit trail (platform administrators only), newest first, in pages: each page
// names the event before which the next, older one starts.
import { keepPreviousData, useInfiniteQuery } from "@tanstack/react-query";

import { api, type Schemas, unwrap } from "../api/client";

export type AuditEvent = Schemas["AuditEventOut"];

export interface AuditFilters {
  /** An action, or its prefix ("secret" finds "secret.set"). */
  action: string;
  /** The e-mail of whoever acted. */
  actor: string;
  workspaceId: number | null;
}

export const AUDIT_PAGE_SIZE = 50;

export const auditKey = (filters: AuditFilters) => ["admin", "audit", filters] as const;

export function useAuditTrail(filters: AuditFilters) {
  return useInfiniteQuery({
    queryKey: auditKey(filters),
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET("/api/admin/audit", {
          params: {
            query: {
              action: filters.action || undefined,
              actor: filters.actor || undefined,
              workspace_id: filters.workspaceId ?? undefined,
              before_id: pageParam,
              limit: AUDIT_PAGE_SIZE,
            },
          },
        }),
      ),
    initialPageParam: undefined as number | undefined,
    getNextPageParam: (last) => last.next_before_id ?? undefined,
    placeholderData: keepPreviousData,
  });
}

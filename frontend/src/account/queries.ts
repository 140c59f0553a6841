// Your sessions (where you are signed in) and your personal access tokens, through TanStack Query
// and the generated client. The server refuses both to an access token: only a signed-in session
// manages them.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, type Schemas, unwrap } from "../api/client";

export type AccessToken = Schemas["TokenOut"];
export type NewAccessToken = Schemas["TokenCreate"];
export type UserSession = Schemas["SessionOut"];

export const accountKeys = {
  tokens: ["account", "tokens"] as const,
  sessions: ["account", "sessions"] as const,
};

export function useAccessTokens() {
  return useQuery({
    queryKey: accountKeys.tokens,
    queryFn: async () => unwrap(await api.GET("/api/auth/tokens")),
  });
}

/** Creates a token; its answer holds the token itself, which no later request shows again. */
export function useCreateAccessToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: NewAccessToken) => unwrap(await api.POST("/api/auth/tokens", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: accountKeys.tokens }),
  });
}

export async function revokeAccessToken(tokenId: number): Promise<void> {
  unwrap(await api.DELETE("/api/auth/tokens/{token_id}", { params: { path: { token_id: tokenId } } }));
}

export function useSessions() {
  return useQuery({
    queryKey: accountKeys.sessions,
    queryFn: async () => unwrap(await api.GET("/api/auth/sessions")),
  });
}

export async function endSession(sessionId: number): Promise<void> {
  unwrap(await api.DELETE("/api/auth/sessions/{session_id}", { params: { path: { session_id: sessionId } } }));
}

// Signing in and out: the access token lives in localStorage; the current user is a query.
import { useQuery, useQueryClient } from "@tanstack/react-query";

import { api, tokenStore, unwrap } from "../api/client";

export async function signIn(email: string, password: string): Promise<void> {
  const tokens = unwrap(
    await api.POST("/api/auth/login", {
      body: { username: email, password, grant_type: "password", scope: "" },
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    }),
  );
  tokenStore.set(tokens.access_token);
}

export async function signUp(email: string, password: string, displayName: string): Promise<void> {
  unwrap(
    await api.POST("/api/auth/register", {
      body: { email, password, display_name: displayName },
    }),
  );
  await signIn(email, password);
}

export function useCurrentUser() {
  return useQuery({
    queryKey: ["me"],
    queryFn: async () => (tokenStore.get() ? unwrap(await api.GET("/api/auth/me")) : null),
    retry: false,
  });
}

export function useSignOut(): () => void {
  const client = useQueryClient();
  return () => {
    tokenStore.clear();
    // "me" set to null (not removed) so that the App, which observes it, shows the sign-in page.
    client.setQueryData(["me"], null);
    client.removeQueries({ predicate: (query) => query.queryKey[0] !== "me" });
  };
}

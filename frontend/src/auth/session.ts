// Signing in and out: the access token lives in localStorage; the current user is a query.
// A single sign-on hands the token over in /signed-in's fragment. Signing out ends the session on
// the server too.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";

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

/** Keeps the access token of a single sign-on, which the server hands over in the address's
 * fragment (/signed-in#access_token=...), as a password sign-in keeps it; the fragment is
 * removed from the address bar and the history at once, so that no copy of the tokens stays
 * there. Whether there was a token. */
export function takeSingleSignOnToken(): boolean {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (window.location.hash) {
    window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search);
  }
  const token = fragment.get("access_token");
  if (!token) return false;
  tokenStore.set(token);
  return true;
}

/** How people sign in here (asked before signing in): passwords, a single sign-on provider or
 * both, and what to say for a refused single sign-on (/sign-in?error=<code>). */
export function useSignInMethods() {
  return useQuery({
    queryKey: ["sign-in-methods"],
    queryFn: async () => unwrap(await api.GET("/api/auth/providers")),
    retry: false,
    staleTime: Infinity,
  });
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

/** Forgets this browser's sign-in: back to the start page (where the next sign-in lands), the
 * token and every query dropped. The App, which observes "me", then shows the sign-in page. */
export function useForgetSignIn(): () => void {
  const client = useQueryClient();
  const navigate = useNavigate();
  return () => {
    navigate("/");
    tokenStore.clear();
    // "me" set to null (not removed) so that the App, which observes it, shows the sign-in page.
    client.setQueryData(["me"], null);
    client.removeQueries({ predicate: (query) => query.queryKey[0] !== "me" });
  };
}

/** Signs out: the server ends the session first, so that its tokens stop working even if a copy
 * was taken; this browser forgets them whatever the server answered. */
export function useSignOut(): () => Promise<void> {
  const forget = useForgetSignIn();
  return async () => {
    try {
      await api.POST("/api/auth/logout");
    } catch {
      // The server is unreachable: the session ends when it expires.
    }
    forget();
  };
}

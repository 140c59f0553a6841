// Where a single sign-on lands (/signed-in#access_token=...): the token kept, the fragment gone
// from the address bar, then on to the workspaces.
import { Center, Loader } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { useNavigate } from "react-router-dom";

import { takeSingleSignOnToken } from "./session";

export function SignedInPage() {
  const client = useQueryClient();
  const navigate = useNavigate();
  useEffect(() => {
    // Run twice (React's strict mode), the second finds no fragment and only goes on: without a
    // token the workspaces page shows the sign-in page.
    if (takeSingleSignOnToken()) {
      // A new user: nothing asked before (the signed-out "me" above all) holds for them.
      client.removeQueries();
    }
    navigate("/", { replace: true });
  }, [client, navigate]);
  return (
    <Center h="100vh">
      <Loader aria-label="Signing you in" />
    </Center>
  );
}

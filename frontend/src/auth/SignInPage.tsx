// Sign in: with a password, through the platform's single sign-on provider, or both (as the
// server allows); sign up when the platform allows it. Errors say what to do next.
import {
  Alert,
  Anchor,
  Button,
  Center,
  Divider,
  Loader,
  Paper,
  PasswordInput,
  Stack,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useSearchParams } from "react-router-dom";

import { ApiError, type Schemas } from "../api/client";
import { signIn, signUp, useSignInMethods } from "./session";

// What a server that does not say how people sign in (unreachable) is taken to offer: the
// password form, which tells what is wrong when it is used.
const PASSWORDS_ONLY: Schemas["SignInMethods"] = {
  password: true,
  registration: true,
  single_sign_on: null,
  sign_in_errors: {},
};

export function SignInPage() {
  const methods = useSignInMethods();
  if (methods.isPending) {
    return (
      <Center h="100vh">
        <Loader aria-label="Loading the sign-in page" />
      </Center>
    );
  }
  return <SignInForms methods={methods.data ?? PASSWORDS_ONLY} />;
}

function SignInForms({ methods }: { methods: Schemas["SignInMethods"] }) {
  const client = useQueryClient();
  const [searchParams, setSearchParams] = useSearchParams();
  const [mode, setMode] = useState<"in" | "up">("in");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const provider = methods.single_sign_on;
  // A refused single sign-on comes back as /sign-in?error=<code>.
  const refused = searchParams.get("error");
  const refusal = refused
    ? (methods.sign_in_errors[refused] ?? `The single sign-on did not sign you in (${refused}).`)
    : null;
  const signingUp = mode === "up" && methods.registration;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    if (refused) setSearchParams({}, { replace: true });
    try {
      await (signingUp ? signUp(email, password, name) : signIn(email, password));
      await client.invalidateQueries({ queryKey: ["me"] });
    } catch (caught) {
      setError(describe(caught));
    } finally {
      setBusy(false);
    }
  }

  const shown = error ?? refusal;
  return (
    <Center h="100vh">
      <Paper withBorder shadow="sm" p="xl" w={380}>
        <Stack>
          <Title order={2}>{signingUp ? "Create your account" : "Sign in to FlowUI"}</Title>
          {shown && (
            <Alert color="red" role="alert">
              {shown}
            </Alert>
          )}
          {methods.password && (
            <form onSubmit={submit}>
              <Stack>
                {signingUp && <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} />}
                <TextInput
                  label="E-mail"
                  type="email"
                  required
                  value={email}
                  onChange={(e) => setEmail(e.currentTarget.value)}
                />
                <PasswordInput
                  label="Password"
                  required
                  value={password}
                  onChange={(e) => setPassword(e.currentTarget.value)}
                />
                <Button type="submit" loading={busy}>
                  {signingUp ? "Sign up" : "Sign in"}
                </Button>
                {methods.registration && (
                  <Anchor component="button" type="button" onClick={() => setMode(signingUp ? "in" : "up")}>
                    {signingUp ? "Have an account? Sign in" : "No account yet? Sign up"}
                  </Anchor>
                )}
              </Stack>
            </form>
          )}
          {methods.password && provider && <Divider label="or" labelPosition="center" />}
          {provider && (
            // A navigation, not a request: the provider's pages take over the browser.
            <Button component="a" href={provider.start_url} variant={methods.password ? "default" : "filled"}>
              Sign in with {provider.name}
            </Button>
          )}
          {!methods.password && !provider && (
            <Text c="dimmed">This platform offers no way to sign in: ask its administrator.</Text>
          )}
        </Stack>
      </Paper>
    </Center>
  );
}

function describe(error: unknown): string {
  if (error instanceof ApiError) {
    const details = error.body.details.map((d) => `${d.where}: ${d.message}`).join("; ");
    return details ? `${error.message} (${details})` : error.message;
  }
  return "The server did not answer: is FlowUI running? (`make up`)";
}

// Sign in, or sign up (when the platform allows it); errors say what to do next.
import { Alert, Anchor, Button, Center, Paper, PasswordInput, Stack, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { ApiError } from "../api/client";
import { signIn, signUp } from "./session";

export function SignInPage() {
  const client = useQueryClient();
  const [mode, setMode] = useState<"in" | "up">("in");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await (mode === "in" ? signIn(email, password) : signUp(email, password, name));
      await client.invalidateQueries({ queryKey: ["me"] });
    } catch (caught) {
      setError(describe(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Center h="100vh">
      <Paper withBorder shadow="sm" p="xl" w={380}>
        <form onSubmit={submit}>
          <Stack>
            <Title order={2}>{mode === "in" ? "Sign in to FlowUI" : "Create your account"}</Title>
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            {mode === "up" && <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} />}
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
              {mode === "in" ? "Sign in" : "Sign up"}
            </Button>
            <Anchor component="button" type="button" onClick={() => setMode(mode === "in" ? "up" : "in")}>
              {mode === "in" ? "No account yet? Sign up" : "Have an account? Sign in"}
            </Anchor>
          </Stack>
        </form>
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
